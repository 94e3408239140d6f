import { Type } from 'typebox';
import { QR_CATEGORIES, QR_PAYMENT_STATUSES, QR_STATUSES, UPI_APPS } from '../../db/types.ts';
import { DateTime, Ok, Pagination, PaginationQuery, StringEnum, Uuid } from '../../http/schemas.ts';
import { GatewayPaymentSchema } from '../payments/index.ts';

export const QR_ID_PATTERN = '^[A-Z0-9]{5}$';
export const VPA_PATTERN = '^[a-zA-Z0-9.\\-_]{2,256}@[a-zA-Z][a-zA-Z0-9.\\-_]{2,64}$';
export const UTR_PATTERN = '^[A-Z0-9]{12}$';
/** Rupees; checked for at most two decimals when converted to paise. */
export const AMOUNT_MAJOR_MAX = 100_000;
export const REFERENCE_NAME_LENGTH_MAX = 100;
export const DESCRIPTION_LENGTH_MAX = 255;
export const NOTES_LENGTH_MAX = 500;
export const CUSTOMER_NAME_LENGTH_MAX = 100;
export const SIMULATE_COUNT_MAX = 100;

const Category = StringEnum(QR_CATEGORIES);
const QrStatus = StringEnum(QR_STATUSES);
const PaymentStatus = StringEnum(QR_PAYMENT_STATUSES);
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

/** A QR code by its UUID or by its 5-character qrId. */
export const QrParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'UUID or qrId' }),
});
export const QrIdParams = Type.Object({ qrId: Type.String({ minLength: 1, maxLength: 64 }) });
/** A transaction by its paymentId or UUID. */
export const TransactionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'paymentId or UUID' }),
});

export const QrCode = Type.Object({
  id: Uuid,
  qrId: Type.String(),
  merchantId: Uuid,
  vpa: Type.String(),
  referenceName: Type.String(),
  description: Nullable(Type.String()),
  maxAmount: Type.Number({ description: 'Rupees; 0 means no limit' }),
  category: Category,
  notes: Nullable(Type.String()),
  status: QrStatus,
  simulationActive: Type.Boolean(),
  upiLink: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
});

const QrEditableFields = {
  vpa: Type.String({ pattern: VPA_PATTERN, maxLength: 323 }),
  referenceName: Type.String({ minLength: 1, maxLength: REFERENCE_NAME_LENGTH_MAX }),
  description: Nullable(Type.String({ maxLength: DESCRIPTION_LENGTH_MAX })),
  maxAmount: Type.Number({
    minimum: 0,
    maximum: AMOUNT_MAJOR_MAX,
    description: 'Rupees, at most two decimals',
  }),
  category: Category,
  notes: Nullable(Type.String({ maxLength: NOTES_LENGTH_MAX })),
  status: QrStatus,
};

export const QrCreateBody = Type.Object(
  {
    qrId: Type.Optional(Type.String({ pattern: QR_ID_PATTERN, description: 'Generated when left out' })),
    vpa: QrEditableFields.vpa,
    referenceName: QrEditableFields.referenceName,
    description: Type.Optional(QrEditableFields.description),
    maxAmount: Type.Optional(QrEditableFields.maxAmount),
    category: Type.Optional(QrEditableFields.category),
    notes: Type.Optional(QrEditableFields.notes),
    status: Type.Optional(QrEditableFields.status),
    simulationActive: Type.Optional(Type.Boolean()),
    merchantId: Type.Optional(Type.String({ format: 'uuid', description: 'Admins: the merchant it is for' })),
  },
  { additionalProperties: false },
);

export const QrUpdateBody = Type.Object(
  {
    qrId: Type.Optional(Type.String({ description: 'Cannot change; accepted only when it is the same' })),
    vpa: Type.Optional(QrEditableFields.vpa),
    referenceName: Type.Optional(QrEditableFields.referenceName),
    description: Type.Optional(QrEditableFields.description),
    maxAmount: Type.Optional(QrEditableFields.maxAmount),
    category: Type.Optional(QrEditableFields.category),
    notes: Type.Optional(QrEditableFields.notes),
    status: Type.Optional(QrEditableFields.status),
  },
  { additionalProperties: false },
);

export const QrStatusBody = Type.Union([
  Type.Object({ status: Type.Optional(QrStatus) }, { additionalProperties: false }),
  Type.Null(),
]);

export const QrListQuery = Type.Object({
  ...PaginationQuery,
  category: Type.Optional(Category),
  status: Type.Optional(QrStatus),
  search: Type.Optional(Type.String({ maxLength: 100 })),
  merchantId: Type.Optional(Type.String({ format: 'uuid', description: 'Admins only' })),
});

export const QrStatistics = Type.Object({
  totalTransactions: Type.Integer(),
  successfulTransactions: Type.Integer(),
  totalAmount: Type.Number({ description: 'Rupees received: successful payments only' }),
  successRate: Type.String({ description: 'Percent with two decimals, e.g. "80.00"' }),
  lastTransactionAt: Nullable(DateTime),
});

export const QrReply = Ok(Type.Object({ qrCode: QrCode }));
export const QrDetailReply = Ok(Type.Object({ qrCode: QrCode, statistics: QrStatistics }));
export const QrListReply = Ok(Type.Object({ qrCodes: Type.Array(QrCode), pagination: Pagination }));
export const QrDeleteReply = Ok(Type.Object({ qrId: Type.String(), deletedTransactions: Type.Integer() }));
export const UpiLinkQuery = Type.Object({
  amount: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: AMOUNT_MAJOR_MAX, description: 'Fixed amount in rupees' }),
  ),
});
export const QrImageQuery = Type.Object({
  ...UpiLinkQuery.properties,
  size: Type.Optional(
    Type.Integer({ minimum: 128, maximum: 2048, default: 512, description: 'Pixels (PNG)' }),
  ),
});
export const UpiLinkReply = Ok(Type.Object({ upiLink: Type.String() }));

// ---- Transactions (payments received through QR codes) ----

export const CustomerInfo = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ maxLength: CUSTOMER_NAME_LENGTH_MAX }))),
    phone: Type.Optional(Nullable(Type.String({ pattern: '^[0-9]{10}$' }))),
    upiApp: Type.Optional(Nullable(StringEnum(UPI_APPS))),
  },
  { additionalProperties: false },
);

export const StatusChange = Type.Object({
  from: Nullable(PaymentStatus),
  to: PaymentStatus,
  cause: Type.String(),
  changedAt: DateTime,
});

export const Transaction = Type.Object({
  id: Uuid,
  paymentId: Type.String(),
  source: Type.Literal('qr'),
  qrId: Type.String(),
  merchantId: Uuid,
  amount: Type.Number({ description: 'Rupees' }),
  currency: Type.String(),
  status: PaymentStatus,
  utr: Type.String(),
  timestamp: DateTime,
  customerInfo: Type.Object({
    name: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    upiApp: Nullable(StringEnum(UPI_APPS)),
  }),
  origin: Type.String({ description: 'manual, simulator, simulate_request or seed' }),
  createdAt: DateTime,
  updatedAt: DateTime,
  statusHistory: Type.Optional(Type.Array(StatusChange)),
});

export const TransactionCreateBody = Type.Object(
  {
    qrId: Type.String({ pattern: QR_ID_PATTERN }),
    amount: Type.Number({
      minimum: 1,
      maximum: AMOUNT_MAJOR_MAX,
      description: 'Rupees, at most two decimals',
    }),
    status: Type.Optional(PaymentStatus),
    utr: Type.Optional(Type.String({ pattern: UTR_PATTERN, description: 'Generated when left out' })),
    timestamp: Type.Optional(Type.String({ format: 'date-time', description: 'Not in the future' })),
    customerInfo: Type.Optional(CustomerInfo),
  },
  { additionalProperties: false },
);

export const TransactionPatchBody = Type.Object(
  { status: StringEnum(['Success', 'Failed'] as const) },
  { additionalProperties: false },
);

const DateOrDateTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})?)?$',
  description: 'YYYY-MM-DD (a whole day in `tz`) or an ISO date-time',
});

export const TransactionFilterQuery = {
  qrId: Type.Optional(Type.String({ pattern: QR_ID_PATTERN })),
  status: Type.Optional(PaymentStatus),
  startDate: Type.Optional(DateOrDateTime),
  endDate: Type.Optional(DateOrDateTime),
  tz: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'IANA time zone for date-only bounds and days; default Asia/Kolkata',
    }),
  ),
  merchantId: Type.Optional(Type.String({ format: 'uuid', description: 'Admins only' })),
};

export const TransactionListQuery = Type.Object({
  ...PaginationQuery,
  ...TransactionFilterQuery,
  source: Type.Optional(
    StringEnum(['qr', 'gateway'], {
      description:
        'qr: QR payments only (also implied by qrId); gateway: gateway payments only; default both',
    }),
  ),
});
export const QrTransactionListQuery = Type.Object({
  ...PaginationQuery,
  status: TransactionFilterQuery.status,
  startDate: TransactionFilterQuery.startDate,
  endDate: TransactionFilterQuery.endDate,
  tz: TransactionFilterQuery.tz,
});
export const TransactionExportQuery = Type.Object(TransactionFilterQuery);
export const TransactionStatsQuery = Type.Object(TransactionFilterQuery);

export const TransactionReply = Ok(Type.Object({ transaction: Transaction }));
/** The transactions resource: QR payments (`source: qr`) and gateway payments (`source: gateway`). */
export const AnyTransaction = Type.Union([Transaction, GatewayPaymentSchema]);
export const AnyTransactionReply = Ok(Type.Object({ transaction: AnyTransaction }));
export const TransactionListReply = Ok(
  Type.Object({ transactions: Type.Array(AnyTransaction), pagination: Pagination }),
);
export const TransactionDeleteReply = Ok(Type.Object({ paymentId: Type.String() }));

export const SimulateBody = Type.Object(
  {
    qrId: Type.String({ pattern: QR_ID_PATTERN }),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: SIMULATE_COUNT_MAX, default: 1 })),
  },
  { additionalProperties: false },
);
export const SimulateReply = Ok(
  Type.Object({ transactions: Type.Array(Transaction), count: Type.Integer() }),
);

export const StatsReply = Ok(
  Type.Object({
    summary: Type.Object({
      totalTransactions: Type.Integer({ description: 'Every status' }),
      totalAmount: Type.Number({ description: 'Rupees received: successful payments only' }),
      successfulTransactions: Type.Integer(),
      failedTransactions: Type.Integer(),
      pendingTransactions: Type.Integer(),
      successRate: Type.String({ description: 'successful / total, percent, two decimals' }),
      averageAmount: Type.Number({ description: 'totalAmount / successfulTransactions, two decimals' }),
    }),
    statusBreakdown: Type.Array(
      Type.Object({ _id: PaymentStatus, count: Type.Integer(), totalAmount: Type.Number() }),
    ),
    dailyStats: Type.Array(
      Type.Object({
        _id: Type.String({ description: 'YYYY-MM-DD in `tz`' }),
        count: Type.Integer({ description: 'Every status' }),
        amount: Type.Number({ description: 'Rupees received that day: successful payments only' }),
      }),
    ),
  }),
);

// ---- Simulator ----

export const SimulationState = Type.Object({
  qrId: Type.String(),
  simulationActive: Type.Boolean(),
  generated: Type.Integer({ description: 'Transactions the background simulator made for this QR code' }),
  nextRunAt: Nullable(DateTime),
});
export const SimulationReply = Ok(Type.Object({ simulation: SimulationState }));
export const SimulationStatusReply = Ok(
  Type.Object({ activeCount: Type.Integer(), simulations: Type.Array(SimulationState) }),
);
export const SimulationStopAllReply = Ok(Type.Object({ stopped: Type.Integer() }));
