import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Written by the database (DEFAULT now()), readable as a Date, settable explicitly. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;

export type Role = 'user' | 'merchant' | 'vendor' | 'admin';
export const ROLES: readonly Role[] = ['user', 'merchant', 'vendor', 'admin'];

export type MerchantStatus = 'active' | 'suspended' | 'closed';
export const MERCHANT_STATUSES: readonly MerchantStatus[] = ['active', 'suspended', 'closed'];

export interface UsersTable {
  id: string;
  name: string;
  email: string;
  passwordHash: string;
  role: Role;
  isVerified: Generated<boolean>;
  isActive: Generated<boolean>;
  lastLoginAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface RefreshTokensTable {
  id: string;
  familyId: string;
  userId: string;
  tokenHash: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
  revokedReason: string | null;
  createdAt: Timestamp;
}

export interface LoginThrottleTable {
  key: string;
  failureCount: number;
  windowStartedAt: Date;
  lockedUntil: Date | null;
}

export interface MerchantsTable {
  id: string;
  userId: string;
  businessName: string;
  contactEmail: string;
  contactPhone: string | null;
  settlementVpa: string | null;
  status: Generated<MerchantStatus>;
  clientKey: string | null;
  clientSecretHash: string | null;
  credentialsIssuedAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface MerchantApiUsageTable {
  merchantId: string;
  day: ColumnType<string, string, string>;
  requestCount: ColumnType<bigint, bigint | number, bigint | number>;
}

export interface AuditLogsTable {
  id: string;
  actorId: string | null;
  actorRole: Role | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Json;
  createdAt: Timestamp;
}

export type QrCategory = 'Retail' | 'Rental' | 'Education' | 'Custom';
export const QR_CATEGORIES: readonly QrCategory[] = ['Retail', 'Rental', 'Education', 'Custom'];
export type QrStatus = 'Active' | 'Inactive';
export const QR_STATUSES: readonly QrStatus[] = ['Active', 'Inactive'];
export type QrPaymentStatus = 'Success' | 'Failed' | 'Pending';
export const QR_PAYMENT_STATUSES: readonly QrPaymentStatus[] = ['Success', 'Failed', 'Pending'];
export type UpiApp = 'GPay' | 'PhonePe' | 'Paytm' | 'BHIM' | 'AmazonPay';
export const UPI_APPS: readonly UpiApp[] = ['GPay', 'PhonePe', 'Paytm', 'BHIM', 'AmazonPay'];
/** How a QR payment came to be recorded. */
export type QrPaymentOrigin = 'manual' | 'simulator' | 'simulate_request' | 'seed';

export interface QrCodesTable {
  id: string;
  qrId: string;
  merchantId: string;
  vpa: string;
  referenceName: string;
  description: string | null;
  maxAmountMinor: ColumnType<bigint, bigint, bigint>;
  category: QrCategory;
  notes: string | null;
  status: QrStatus;
  simulationActive: boolean;
  simulationGenerated: Generated<number>;
  simulationNextRunAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface QrTransactionsTable {
  id: string;
  paymentId: string;
  qrCodeId: string;
  qrId: string;
  merchantId: string;
  amountMinor: ColumnType<bigint, bigint, bigint>;
  currency: Generated<string>;
  status: QrPaymentStatus;
  utr: string;
  occurredAt: Date;
  customerName: string | null;
  customerPhone: string | null;
  customerUpiApp: UpiApp | null;
  origin: QrPaymentOrigin;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface QrTransactionStatusHistoryTable {
  id: string;
  transactionId: string;
  fromStatus: QrPaymentStatus | null;
  toStatus: QrPaymentStatus;
  cause: string;
  actorId: string | null;
  changedAt: Date;
}

type Count = ColumnType<bigint, bigint | number, bigint | number>;

/** Figures kept by the rollup triggers (migration 0002), per bucket or in total. */
export interface QrFigureColumns {
  successCount: Count;
  successAmountMinor: Count;
  failedCount: Count;
  failedAmountMinor: Count;
  pendingCount: Count;
  pendingAmountMinor: Count;
}

export interface QrTransactionRollupsTable extends QrFigureColumns {
  qrCodeId: string;
  bucketStart: Date;
  shard: Generated<number>;
}

export interface QrMerchantRollupsTable extends QrFigureColumns {
  merchantId: string;
  bucketStart: Date;
  shard: Generated<number>;
}

export interface QrTransactionTotalsTable extends QrFigureColumns {
  qrCodeId: string;
  merchantId: string;
  shard: Generated<number>;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  requestFingerprint: string;
  claimToken: string;
  state: 'in_flight' | 'completed';
  responseStatus: number | null;
  responseBody: ColumnType<unknown, string | null, string | null>;
  lockedUntil: Date;
  expiresAt: Date;
  createdAt: Timestamp;
}

export type LedgerOwnerType = 'user' | 'merchant' | 'platform';
export type LedgerPurpose =
  | 'wallet'
  | 'merchant_payable'
  | 'gateway_clearing'
  | 'fees_revenue'
  | 'payouts_in_transit'
  | 'fx'
  | 'suspense'
  | 'external_funding';
export type LedgerEntryType =
  | 'deposit'
  | 'withdrawal'
  | 'transfer'
  | 'qr_payment'
  | 'fee'
  | 'swap'
  | 'hold'
  | 'capture'
  | 'void'
  | 'reversal'
  | 'adjustment'
  | 'payment'
  | 'refund';
export type LedgerAccountStatus = 'open' | 'frozen' | 'closed';
export type LedgerHoldStatus = 'active' | 'captured' | 'voided' | 'expired';
type Minor = ColumnType<bigint, bigint | undefined, bigint>;

export interface LedgerAccountsTable {
  id: string;
  ownerType: LedgerOwnerType;
  ownerId: string | null;
  purpose: LedgerPurpose;
  currency: string;
  shard: Generated<number>;
  normalSide: 'debit' | 'credit';
  allowNegative: boolean;
  debitsMinor: Minor;
  creditsMinor: Minor;
  balanceMinor: Minor;
  heldMinor: Minor;
  status: Generated<LedgerAccountStatus>;
  lowBalanceThresholdMinor: ColumnType<bigint | null, bigint | null | undefined, bigint | null>;
  lowBalanceThresholdSetAt: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface LedgerEntriesTable {
  id: string;
  type: LedgerEntryType;
  description: string;
  metadata: Json;
  idempotencyRef: string;
  reversesEntryId: string | null;
  createdAt: Timestamp;
}

export interface LedgerPostingsTable {
  id: string;
  entryId: string;
  accountId: string;
  amountMinor: ColumnType<bigint, bigint, never>;
  currency: string;
  balanceAfterMinor: ColumnType<bigint, bigint, never>;
  createdAt: Timestamp;
}

export interface LedgerHoldsTable {
  id: string;
  accountId: string;
  amountMinor: ColumnType<bigint, bigint, bigint>;
  capturedMinor: Minor;
  status: Generated<LedgerHoldStatus>;
  reference: string;
  expiresAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface WalletWithdrawalsTable {
  id: string;
  userId: string;
  accountId: string;
  holdId: string;
  amountMinor: ColumnType<bigint, bigint, never>;
  currency: string;
  destination: string;
  status: Generated<'pending' | 'completed' | 'failed'>;
  failureReason: string | null;
  entryId: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface FxRatesTable {
  base: string;
  quote: string;
  rate: ColumnType<string, string, string>;
  updatedBy: string | null;
  updatedAt: Timestamp;
}

export interface FxQuotesTable {
  id: string;
  userId: string;
  fromCurrency: string;
  toCurrency: string;
  amountMinor: ColumnType<bigint, bigint, never>;
  rate: ColumnType<string, string, never>;
  spreadBasisPoints: number;
  receiveMinor: ColumnType<bigint, bigint, never>;
  expiresAt: Date;
  usedAt: Date | null;
  createdAt: Timestamp;
}

export interface EventsTable {
  id: string;
  merchantId: string | null;
  userId: string | null;
  type: string;
  payload: Json;
  createdAt: Timestamp;
  dispatchedAt: Timestamp | null;
}

export interface WebhookEndpointsTable {
  id: string;
  merchantId: string;
  url: string;
  eventTypes: string[];
  enabled: Generated<boolean>;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretExpiresAt: Timestamp | null;
  failingSince: Timestamp | null;
  disabledReason: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveriesTable {
  id: string;
  eventId: string;
  endpointId: string;
  attempt: number;
  status: WebhookDeliveryStatus;
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: Timestamp;
  nextAttemptAt: Timestamp | null;
}

export interface NotificationsTable {
  id: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
  data: Json;
  eventId: string | null;
  readAt: Timestamp | null;
  createdAt: Timestamp;
}

export type SystemAlertKind =
  | 'queue_backlog'
  | 'webhook_endpoint_disabled'
  | 'database_slow'
  | 'late_payment_success'
  | 'refund_amount_mismatch';

export interface SystemAlertsTable {
  id: string;
  kind: SystemAlertKind;
  subject: string;
  message: string;
  details: Json;
  raisedAt: Timestamp;
  clearedAt: Timestamp | null;
}

export interface NotificationChannelsTable {
  userId: string;
  emailEnabled: boolean;
  phone: string | null;
  smsEnabled: boolean;
  whatsappEnabled: boolean;
  slackWebhookUrl: string | null;
  updatedAt: Timestamp;
}

export interface JobTaskPausesTable {
  task: string;
  pausedBy: string | null;
  pausedAt: Timestamp;
}

export interface JobCompletionsTable {
  id: Generated<bigint>;
  task: string;
  jobId: bigint;
  attempts: number;
  completedAt: Timestamp;
}

export interface QueueMetricsTable {
  recordedAt: Timestamp;
  task: string;
  queued: number;
  running: number;
  failed: number;
  completedLastMinute: number;
  oldestWaitingSec: number;
}

export interface SystemHealthReportsTable {
  id: string;
  report: Json;
  createdAt: Timestamp;
}

export type PaymentMethodName = 'upi_intent' | 'upi_collect' | 'upi_qr' | 'card' | 'netbanking';
export type GatewayConnectorName = 'sandbox' | 'razorpay' | 'payu' | 'paytm';
export type PaymentStatus =
  | 'created'
  | 'pending'
  | 'succeeded'
  | 'failed'
  | 'expired'
  | 'partially_refunded'
  | 'refunded';
export type AttemptStatus = 'pending' | 'succeeded' | 'failed';
export type RefundStatus = 'pending' | 'succeeded' | 'failed';
export type RoutingStrategyName = 'priority' | 'weighted' | 'success_rate' | 'lowest_cost';
export type WebhookVerificationOutcome =
  | 'verified'
  | 'bad_signature'
  | 'stale'
  | 'malformed'
  | 'ip_refused'
  | 'replayed'
  | 'unknown_gateway';

export interface GatewaysTable {
  id: string;
  name: string;
  connector: GatewayConnectorName;
  credentialsSealed: string | null;
  credentialsHint: string | null;
  config: ColumnType<Record<string, unknown>, string, string>;
  enabled: Generated<boolean>;
  priority: Generated<number>;
  weight: Generated<number>;
  methods: PaymentMethodName[];
  feePercentBasisPoints: Generated<number>;
  feeFixedMinor: ColumnType<bigint, bigint | undefined, bigint>;
  minAmountMinor: ColumnType<bigint | null, bigint | null | undefined, bigint | null>;
  maxAmountMinor: ColumnType<bigint | null, bigint | null | undefined, bigint | null>;
  webhookIpAllowlist: string[] | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface PlatformSettingsTable {
  key: string;
  value: Json;
  updatedAt: Timestamp;
}

export interface MerchantPaymentSettingsTable {
  merchantId: string;
  routingStrategy: RoutingStrategyName | null;
  preferredGatewayIds: string[] | null;
  paymentMaxAmountMinor: ColumnType<bigint | null, bigint | null | undefined, bigint | null>;
  updatedAt: Timestamp;
}

export interface PaymentOrdersTable {
  id: string;
  merchantId: string;
  orderId: string;
  amountMinor: ColumnType<bigint, bigint, bigint>;
  currency: string;
  createdAt: Timestamp;
}

export interface PaymentsTable {
  id: string;
  merchantId: string;
  orderId: string;
  amountMinor: ColumnType<bigint, bigint, bigint>;
  currency: string;
  method: PaymentMethodName;
  status: PaymentStatus;
  customer: ColumnType<unknown, string, string>;
  description: string | null;
  returnUrl: string | null;
  metadata: ColumnType<unknown, string | undefined, string>;
  gatewayId: string | null;
  feeMinor: ColumnType<bigint, bigint | undefined, bigint>;
  refundedMinor: ColumnType<bigint, bigint | undefined, bigint>;
  nextAction: ColumnType<unknown, string | null | undefined, string | null>;
  errorCode: string | null;
  errorMessage: string | null;
  expiresAt: Date;
  succeededAt: Date | null;
  lateSuccess: Generated<boolean>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface PaymentAttemptsTable {
  id: string;
  paymentId: string;
  gatewayId: string;
  attemptNumber: number;
  status: AttemptStatus;
  gatewayReference: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  retryable: boolean | null;
  latencyMs: number | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface PaymentStatusHistoryTable {
  id: string;
  paymentId: string;
  fromStatus: PaymentStatus | null;
  toStatus: PaymentStatus;
  cause: string;
  attemptId: string | null;
  createdAt: Timestamp;
}

export interface PaymentRefundsTable {
  id: string;
  paymentId: string;
  merchantId: string;
  amountMinor: ColumnType<bigint, bigint, bigint>;
  currency: string;
  reason: string;
  status: RefundStatus;
  gatewayReference: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface GatewayWebhooksTable {
  id: string;
  gatewayId: string | null;
  remoteAddress: string | null;
  headers: Json;
  body: string;
  verification: WebhookVerificationOutcome;
  eventId: string | null;
  paymentId: string | null;
  effect: string | null;
  receivedAt: Timestamp;
}

export interface Database {
  users: UsersTable;
  refreshTokens: RefreshTokensTable;
  loginThrottle: LoginThrottleTable;
  merchants: MerchantsTable;
  merchantApiUsage: MerchantApiUsageTable;
  auditLogs: AuditLogsTable;
  qrCodes: QrCodesTable;
  qrTransactions: QrTransactionsTable;
  qrTransactionStatusHistory: QrTransactionStatusHistoryTable;
  qrTransactionRollups: QrTransactionRollupsTable;
  qrMerchantRollups: QrMerchantRollupsTable;
  qrTransactionTotals: QrTransactionTotalsTable;
  idempotencyKeys: IdempotencyKeysTable;
  ledgerAccounts: LedgerAccountsTable;
  ledgerEntries: LedgerEntriesTable;
  ledgerPostings: LedgerPostingsTable;
  ledgerHolds: LedgerHoldsTable;
  walletWithdrawals: WalletWithdrawalsTable;
  fxRates: FxRatesTable;
  fxQuotes: FxQuotesTable;
  events: EventsTable;
  jobTaskPauses: JobTaskPausesTable;
  jobCompletions: JobCompletionsTable;
  queueMetrics: QueueMetricsTable;
  systemHealthReports: SystemHealthReportsTable;
  webhookEndpoints: WebhookEndpointsTable;
  webhookDeliveries: WebhookDeliveriesTable;
  notifications: NotificationsTable;
  notificationChannels: NotificationChannelsTable;
  systemAlerts: SystemAlertsTable;
  gateways: GatewaysTable;
  platformSettings: PlatformSettingsTable;
  merchantPaymentSettings: MerchantPaymentSettingsTable;
  paymentOrders: PaymentOrdersTable;
  payments: PaymentsTable;
  paymentAttempts: PaymentAttemptsTable;
  paymentStatusHistory: PaymentStatusHistoryTable;
  paymentRefunds: PaymentRefundsTable;
  gatewayWebhooks: GatewayWebhooksTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Merchant = Selectable<MerchantsTable>;
export type AuditLog = Selectable<AuditLogsTable>;
