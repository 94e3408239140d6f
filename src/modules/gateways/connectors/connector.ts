/**
 * One interface in front of every payment gateway (STYLE.md habit 11: a gateway is a folder).
 * A connector speaks its gateway's HTTP API and webhook signature scheme and maps the gateway's
 * statuses and error codes onto ours; it keeps no state and never touches the database. Money
 * crosses this boundary as integer minor units with a currency; a connector converts to whatever
 * the gateway wants (rupees as a decimal string, paise as an integer) itself.
 */

export const PAYMENT_METHODS = ['upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export const CONNECTOR_NAMES = ['sandbox', 'razorpay', 'payu', 'paytm'] as const;
export type ConnectorName = (typeof CONNECTOR_NAMES)[number];

/**
 * Our error codes for a failed attempt. `retryable` on the outcome says whether another gateway may
 * be tried (a gateway error or a timeout before the gateway accepted the payment) or not (the payer
 * declined, the request itself was wrong).
 */
export const ATTEMPT_ERROR_CODES = [
  'GATEWAY_TIMEOUT', // no answer within the timeout: retryable
  'GATEWAY_UNAVAILABLE', // connection refused, 5xx, 429: retryable
  'GATEWAY_ERROR', // the gateway answered with an error of its own: retryable
  'AUTHENTICATION_FAILED', // our credentials were refused (401/403): retryable at another gateway
  'DECLINED', // the payer or their bank declined: not retryable
  'INVALID_REQUEST', // the gateway refused the request as malformed: not retryable
  'INSUFFICIENT_FUNDS', // the payer's account: not retryable
  'EXPIRED', // the payer did not complete in time: not retryable
  'UNKNOWN', // a status or code the mapping does not know: not retryable (fail safe)
] as const;
export type AttemptErrorCode = (typeof ATTEMPT_ERROR_CODES)[number];

/** What a gateway was given to use: decrypted credentials, its record's config, where to call. */
export interface ConnectorContext {
  readonly gatewayId: string;
  /** The gateway's API root, e.g. `https://api.razorpay.com`; a local imitation in tests. */
  readonly baseUrl: string;
  /** As the admin stored them (decrypted here only): e.g. `{ keyId, keySecret, webhookSecret }`. */
  readonly credentials: Readonly<Record<string, string>>;
  /** The gateway record's free-form config (the sandbox's successRate, latencyMs, failureMode). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Every outbound call gives up after this long (an `AbortSignal.timeout`). */
  readonly timeoutMs: number;
}

export interface PaymentCustomer {
  readonly name: string;
  readonly email?: string;
  readonly phone?: string;
  readonly vpa?: string;
}

/**
 * Where the payer is paying from, as the merchant's server saw their browser or app and forwarded
 * it: the gateways' fraud checks want the payer's own address and user agent. Never our caller's
 * (the merchant's server) address, which says nothing about the payer. Each connector sends only
 * the fields its gateway's API names.
 */
export interface PayerDevice {
  /** The payer's IP address (IPv4 or IPv6). */
  readonly ip?: string;
  /** The payer's browser or app `User-Agent`. */
  readonly userAgent?: string;
  /** The page the payer was on when they chose to pay (their browser's `Referer`). */
  readonly referer?: string;
}

export interface InitiateRequest {
  /** Our payment id. */
  readonly paymentId: string;
  /** Our attempt id: the reference the gateway is given (receipt, txnid, orderId) and echoes back. */
  readonly attemptId: string;
  /** The merchant's order id. */
  readonly orderId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly method: PaymentMethod;
  readonly customer: PaymentCustomer;
  readonly description?: string;
  /** Where the payer's browser goes after a redirect flow (the merchant's returnUrl). */
  readonly returnUrl?: string;
  /** Where the gateway posts its webhooks for this payment (our inbound webhook route). */
  readonly notifyUrl: string;
  /** The payer's device, when the merchant forwarded it. */
  readonly payer?: PayerDevice;
}

/** What the payer (or the merchant's page) does next. */
export type NextAction =
  | { readonly type: 'upi_intent'; readonly url: string }
  | { readonly type: 'upi_qr'; readonly url: string }
  | { readonly type: 'upi_collect'; readonly vpa: string }
  | { readonly type: 'redirect'; readonly url: string }
  | { readonly type: 'none' };

/** Attempt statuses a connector reports. `failed` carries why and whether to try elsewhere. */
export type AttemptOutcome =
  | { readonly status: 'succeeded'; readonly gatewayReference: string; readonly nextAction?: NextAction }
  | { readonly status: 'pending'; readonly gatewayReference: string; readonly nextAction: NextAction }
  | {
      readonly status: 'failed';
      readonly gatewayReference?: string;
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
      readonly retryable: boolean;
    };

export interface StatusRequest {
  readonly paymentId: string;
  readonly attemptId: string;
  /** What initiate returned, when it returned one. */
  readonly gatewayReference?: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}

/** The gateway's current view of an attempt. `amountMinor` when the gateway reports one. */
export type StatusOutcome =
  | { readonly status: 'succeeded'; readonly gatewayReference: string; readonly amountMinor?: bigint }
  | { readonly status: 'pending'; readonly gatewayReference?: string }
  | {
      readonly status: 'failed';
      readonly gatewayReference?: string;
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
    };

export interface RefundRequest {
  /** Our refund id: the gateway's idempotency reference for the refund where it takes one. */
  readonly refundId: string;
  readonly paymentId: string;
  readonly attemptId: string;
  /** The succeeded attempt's gateway reference (the gateway's payment id). */
  readonly gatewayReference: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly reason: string;
}

export type RefundOutcome =
  | { readonly status: 'succeeded' | 'pending'; readonly gatewayReference: string }
  | {
      readonly status: 'failed';
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
      readonly retryable: boolean;
    };

/** One refund a gateway left pending (queued), asked about again. */
export interface RefundStatusRequest {
  /** Our refund id: what refund() sent as the gateway's reference for it (receipt, token, refId). */
  readonly refundId: string;
  /** What refund() returned as the gateway's reference for the refund (its refund or request id). */
  readonly refundReference: string;
  readonly paymentId: string;
  /** The refunded payment's attempt (Paytm's orderId). */
  readonly attemptId: string;
  /** That attempt's gateway reference (the gateway's payment id). */
  readonly paymentReference: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}

/** Why a refund's status could not be learned: nothing is known, so it stays as it is. */
export interface RefundStatusUnanswered {
  readonly errorCode: AttemptErrorCode;
  readonly errorMessage: string;
}

/**
 * The gateway's current view of one refund. `failed` only when the gateway says the refund failed
 * (no money reached the payer); `amountMinor` when the gateway reports one.
 */
export type RefundStatusOutcome =
  | { readonly status: 'succeeded'; readonly gatewayReference: string; readonly amountMinor?: bigint }
  | {
      readonly status: 'pending';
      readonly gatewayReference: string;
      /** Set when the gateway did not answer about the refund (see `fetchRefundStatus`). */
      readonly unanswered?: RefundStatusUnanswered;
    }
  | {
      readonly status: 'failed';
      readonly gatewayReference: string;
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
    };

/** An inbound webhook as received: the exact bytes, before any parsing. */
export interface InboundWebhook {
  readonly rawBody: Buffer;
  /** Lower-cased header names, as Node gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly receivedAt: Date;
}

export type WebhookVerification =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** bad_signature: missing or wrong; stale: its timestamp is outside the tolerance; malformed: unreadable. */
      readonly reason: 'bad_signature' | 'stale' | 'malformed';
    };

/** A verified webhook, read. */
export interface GatewayEvent {
  /** The gateway's own id for this event (replay protection keys on it). */
  readonly eventId: string;
  readonly kind: 'payment' | 'refund';
  /** Our attempt id as the gateway echoes it (receipt, txnid, orderId), when it does. */
  readonly attemptId?: string;
  /** The gateway's payment (or refund) id. */
  readonly gatewayReference?: string;
  readonly status: 'succeeded' | 'pending' | 'failed';
  readonly errorCode?: AttemptErrorCode;
  readonly errorMessage?: string;
  readonly amountMinor?: bigint;
}

export interface GatewayConnector {
  readonly name: ConnectorName;
  /** The methods this connector can take at all (a gateway record narrows it further). */
  readonly methods: readonly PaymentMethod[];
  /** The credentials a gateway record must carry for this connector to call its gateway. */
  readonly credentialKeys: readonly string[];
  /**
   * Starts the payment at the gateway. Never throws for the gateway's own failures (an error
   * reply, a timeout, a refused connection): those are `failed` outcomes with a code and
   * `retryable`. Throws only on a bug.
   */
  initiate(context: ConnectorContext, request: InitiateRequest): Promise<AttemptOutcome>;
  fetchStatus(context: ConnectorContext, request: StatusRequest): Promise<StatusOutcome>;
  refund(context: ConnectorContext, request: RefundRequest): Promise<RefundOutcome>;
  /**
   * Asks the gateway where a refund it left pending stands. Never throws for the gateway's own
   * failures: like fetchStatus, a question that got no answer (a timeout, a refused connection, a
   * 5xx or 429, our credentials refused, an unreadable reply, a refund the gateway does not find)
   * says nothing about the refund, so it is `pending` with `unanswered` set. A status the mapping
   * does not know is `pending` too: money is never settled on a guess.
   */
  fetchRefundStatus(context: ConnectorContext, request: RefundStatusRequest): Promise<RefundStatusOutcome>;
  /**
   * Checks the signature over the raw bytes with this gateway's scheme (and its timestamp where
   * the scheme carries one, within `toleranceSec`), before anything is parsed.
   */
  verifyWebhook(
    context: ConnectorContext,
    webhook: InboundWebhook,
    toleranceSec: number,
  ): WebhookVerification;
  /** Reads a verified webhook; null when it is of a kind we do not act on. */
  parseWebhook(context: ConnectorContext, webhook: InboundWebhook): GatewayEvent | null;
}
