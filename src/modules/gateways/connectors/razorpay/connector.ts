import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type {
  AttemptErrorCode,
  AttemptOutcome,
  ConnectorContext,
  GatewayConnector,
  GatewayEvent,
  InboundWebhook,
  InitiateRequest,
  RefundOutcome,
  RefundStatusOutcome,
  StatusOutcome,
  WebhookVerification,
} from '../connector.ts';
import { callGateway, isRetryable, parseJson, refundUnanswered } from '../http.ts';
import {
  apiErrorCodeOf,
  failureCodeOf,
  paymentLinkStateOf,
  paymentStatusOf,
  refundStatusOf,
} from './mapping.ts';

/**
 * Razorpay (https://razorpay.com/docs/api): HTTP Basic auth with keyId:keySecret, amounts as
 * integers of the currency's smallest unit (paise), JSON bodies, errors as `{ error: { code,
 * description, source, step, reason, metadata } }`.
 *
 * UPI goes through an order (`POST /v1/orders`, our attempt id as its `receipt`) and the S2S UPI
 * payment API (`POST /v1/payments/create/upi`), which sends a collect request or returns an
 * intent link. Card and netbanking need the payer on Razorpay's own page (we never see card
 * numbers, and netbanking needs a bank we do not ask for), so they get a hosted payment link
 * limited to that method. Webhooks are signed with a hex HMAC-SHA256 of the raw body. A refund
 * Razorpay queues (`pending`) is settled by its `refund.processed` / `refund.failed` webhook, or
 * by asking `GET /v1/refunds/:id`.
 */

/** Razorpay caps each `notes` value at 256 characters. */
const NOTE_LENGTH_MAX = 256;
/** How long a UPI collect request stays on the payer's phone (`upi.expiry_time`, minutes). */
const COLLECT_EXPIRY_MINUTES = 10;
/** `X-Razorpay-Signature`: a hex SHA-256 HMAC. */
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/i;
/** What Razorpay accepts as an `X-Refund-Idempotency` key. */
const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{10,}$/;
/**
 * The S2S UPI API marks the payer's `ip`, `referer` and `user_agent` mandatory. The merchant may
 * not have forwarded the payer's user agent: this stands in, as it did before payers were known.
 */
const FALLBACK_USER_AGENT = 'Tijori';
const MISSING_KEYS_MESSAGE = 'razorpay credentials keyId and keySecret are not configured';

interface ApiKeys {
  readonly keyId: string;
  readonly keySecret: string;
}

/** One operation's calls share one deadline, so the whole operation answers within timeoutMs. */
interface Session {
  readonly context: ConnectorContext;
  readonly keys: ApiKeys;
  /** Epoch milliseconds after which no call is started. */
  readonly deadlineMs: number;
}

interface RazorpayCall {
  readonly path: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

type JsonObject = Readonly<Record<string, unknown>>;

type RazorpayReply =
  | { readonly ok: true; readonly body: JsonObject }
  | {
      readonly ok: false;
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
      /** Set when Razorpay created a payment before failing it (a synchronous decline). */
      readonly paymentId?: string;
    };

type Failure = Extract<RazorpayReply, { ok: false }>;

export const razorpayConnector: GatewayConnector = {
  name: 'razorpay',
  // upi_qr is the intent link shown as a QR code: the same UPI deep link, scanned instead of tapped.
  methods: ['upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking'],
  credentialKeys: ['keyId', 'keySecret'],

  async initiate(context, request) {
    const session = sessionOf(context);
    if (session === null) return failed('AUTHENTICATION_FAILED', MISSING_KEYS_MESSAGE);
    const amount = gatewayAmountOf(request.amountMinor);
    if (amount === null) return failed('INVALID_REQUEST', `amount ${request.amountMinor} is out of range`);
    switch (request.method) {
      case 'upi_intent':
      case 'upi_qr':
      case 'upi_collect':
        return initiateUpi(session, request, amount);
      case 'card':
      case 'netbanking':
        return initiatePaymentLink(session, request, amount);
    }
  },

  async fetchStatus(context, request) {
    const session = sessionOf(context);
    if (session === null)
      return { status: 'failed', errorCode: 'AUTHENTICATION_FAILED', errorMessage: MISSING_KEYS_MESSAGE };
    const reference = request.gatewayReference ?? '';
    if (reference.startsWith('pay_')) return statusOfPayment(session, reference);
    if (reference.startsWith('plink_')) return statusOfPaymentLink(session, reference);
    if (reference.startsWith('order_')) return statusOfOrder(session, reference);
    return statusByReceipt(session, request.attemptId);
  },

  async refund(context, request) {
    const session = sessionOf(context);
    if (session === null) return refundFailed('AUTHENTICATION_FAILED', MISSING_KEYS_MESSAGE);
    const amount = gatewayAmountOf(request.amountMinor);
    if (amount === null)
      return refundFailed('INVALID_REQUEST', `amount ${request.amountMinor} is out of range`);
    const payment = await paymentIdForRefund(session, request.gatewayReference);
    if (!payment.ok) return refundFailed(payment.errorCode, payment.errorMessage);
    const reply = await callRazorpay(session, {
      path: `/v1/payments/${encodeURIComponent(payment.paymentId)}/refund`,
      // A retry after a timeout must not refund twice: Razorpay dedupes on this key.
      headers: { 'x-refund-idempotency': idempotencyKeyOf(request.refundId) },
      body: {
        amount,
        receipt: request.refundId,
        notes: notesOf({
          refund_id: request.refundId,
          attempt_id: request.attemptId,
          reason: request.reason,
        }),
      },
    });
    if (!reply.ok) return refundFailed(reply.errorCode, reply.errorMessage);
    return refundOutcomeOf(reply.body);
  },

  async fetchRefundStatus(context, request) {
    const reference = request.refundReference;
    const session = sessionOf(context);
    if (session === null) return refundUnanswered(reference, 'AUTHENTICATION_FAILED', MISSING_KEYS_MESSAGE);
    const reply = await callRazorpay(session, {
      method: 'GET',
      path: `/v1/refunds/${encodeURIComponent(reference)}`,
    });
    if (!reply.ok) return refundUnanswered(reference, reply.errorCode, reply.errorMessage);
    return refundStatusOutcomeOf(reply.body, reference);
  },

  verifyWebhook(context, webhook, toleranceSec) {
    return verifyRazorpayWebhook(context.credentials.webhookSecret, webhook, toleranceSec);
  },

  parseWebhook(_context, webhook) {
    const event = asObject(parseJson(webhook.rawBody.toString('utf8')));
    if (event === null) return null;
    // Razorpay's event id travels in a header, not in the signed body; replays are bounded by the
    // signed created_at. Without the header, the body's digest stands in (a retry is byte-equal).
    const eventId = headerOf(webhook.headers, 'x-razorpay-event-id') ?? digestOf(webhook.rawBody);
    const payload = asObject(event.payload);
    switch (event.event) {
      case 'payment.authorized':
      case 'payment.captured':
      case 'payment.failed':
        return paymentEventOf(eventId, entityOf(payload, 'payment'));
      case 'payment_link.paid':
      case 'payment_link.expired':
      case 'payment_link.cancelled':
        return paymentLinkEventOf(eventId, payload);
      case 'refund.created':
      case 'refund.processed':
      case 'refund.failed':
        return refundEventOf(eventId, entityOf(payload, 'refund'));
      default:
        return null;
    }
  },
};

// --- initiate --------------------------------------------------------------------------------

async function initiateUpi(
  session: Session,
  request: InitiateRequest,
  amount: number,
): Promise<AttemptOutcome> {
  const { email, phone, vpa } = request.customer;
  if (request.method === 'upi_collect' && !vpa)
    return failed('INVALID_REQUEST', 'a UPI collect needs the payer vpa');
  if (!email || !phone) {
    // Only Razorpay's S2S API insists on both, so another gateway may still take this payment.
    return failed('INVALID_REQUEST', 'razorpay needs the payer email and phone for UPI', undefined, true);
  }
  const order = await callRazorpay(session, {
    path: '/v1/orders',
    body: { amount, currency: request.currency, receipt: request.attemptId, notes: attemptNotesOf(request) },
  });
  if (!order.ok) return failed(order.errorCode, order.errorMessage);
  const orderId = textOf(order.body.id);
  if (orderId === undefined) return failed('GATEWAY_ERROR', 'order reply without an id');
  const upi =
    vpa && request.method === 'upi_collect'
      ? { flow: 'collect', vpa, expiry_time: COLLECT_EXPIRY_MINUTES }
      : { flow: 'intent' };
  const payment = await callRazorpay(session, {
    path: '/v1/payments/create/upi',
    body: {
      amount,
      currency: request.currency,
      order_id: orderId,
      method: 'upi',
      email,
      contact: phone,
      description: request.description,
      notes: attemptNotesOf(request),
      ...clientFieldsOf(request),
      upi,
    },
  });
  if (!payment.ok) return upiPaymentFailed(request, payment, orderId);
  return upiPending(request, payment.body);
}

/**
 * The payer's browser as the S2S API asks for it. No address is made up when the merchant did not
 * forward one (Razorpay wants the payer's real one, and ours would mislead its fraud checks), so
 * Razorpay decides; a missing referer or user agent keeps its stand-in.
 */
function clientFieldsOf(request: InitiateRequest): Record<string, string> {
  const payer = request.payer;
  return {
    ...(payer?.ip === undefined ? {} : { ip: payer.ip }),
    referer: payer?.referer ?? request.returnUrl ?? request.notifyUrl,
    user_agent: payer?.userAgent ?? FALLBACK_USER_AGENT,
  };
}

function upiPaymentFailed(request: InitiateRequest, reply: Failure, orderId: string): AttemptOutcome {
  if (reply.errorCode === 'GATEWAY_TIMEOUT' && request.method === 'upi_collect') {
    // The collect request may already be on the payer's phone: another gateway could have them
    // approve a second one. The order id lets fetchStatus and webhooks settle this attempt.
    return failed(reply.errorCode, reply.errorMessage, orderId, false);
  }
  return failed(reply.errorCode, reply.errorMessage, reply.paymentId ?? orderId);
}

function upiPending(request: InitiateRequest, body: JsonObject): AttemptOutcome {
  const paymentId = textOf(body.razorpay_payment_id);
  if (paymentId === undefined) return failed('GATEWAY_ERROR', 'payment reply without razorpay_payment_id');
  if (request.method === 'upi_collect') {
    return {
      status: 'pending',
      gatewayReference: paymentId,
      nextAction: { type: 'upi_collect', vpa: request.customer.vpa ?? '' },
    };
  }
  const link = textOf(body.link);
  if (link === undefined) return failed('GATEWAY_ERROR', 'intent reply without a link', paymentId);
  const type = request.method === 'upi_qr' ? 'upi_qr' : 'upi_intent';
  return { status: 'pending', gatewayReference: paymentId, nextAction: { type, url: link } };
}

async function initiatePaymentLink(
  session: Session,
  request: InitiateRequest,
  amount: number,
): Promise<AttemptOutcome> {
  const { name, email, phone } = request.customer;
  const reply = await callRazorpay(session, {
    path: '/v1/payment_links',
    body: {
      amount,
      currency: request.currency,
      reference_id: request.attemptId,
      description: request.description ?? `Order ${request.orderId}`,
      customer: { name, email, contact: phone },
      // The merchant's page sends the payer to the link; Razorpay need not text or mail it.
      notify: { sms: false, email: false },
      reminder_enable: false,
      notes: attemptNotesOf(request),
      ...(request.returnUrl === undefined ? {} : { callback_url: request.returnUrl, callback_method: 'get' }),
      options: {
        checkout: {
          method: {
            card: request.method === 'card',
            netbanking: request.method === 'netbanking',
            upi: false,
            wallet: false,
          },
        },
      },
    },
  });
  if (!reply.ok) return failed(reply.errorCode, reply.errorMessage);
  const linkId = textOf(reply.body.id);
  const url = textOf(reply.body.short_url);
  if (linkId === undefined || url === undefined)
    return failed('GATEWAY_ERROR', 'payment link reply without id or short_url');
  return { status: 'pending', gatewayReference: linkId, nextAction: { type: 'redirect', url } };
}

// --- status ----------------------------------------------------------------------------------

async function statusOfPayment(session: Session, paymentId: string): Promise<StatusOutcome> {
  const reply = await callRazorpay(session, {
    method: 'GET',
    path: `/v1/payments/${encodeURIComponent(paymentId)}`,
  });
  if (!reply.ok) return statusFailed(reply, paymentId);
  return paymentOutcomeOf(reply.body, paymentId);
}

async function statusOfOrder(session: Session, orderId: string): Promise<StatusOutcome> {
  const reply = await callRazorpay(session, {
    method: 'GET',
    path: `/v1/orders/${encodeURIComponent(orderId)}/payments`,
  });
  if (!reply.ok) return statusFailed(reply, orderId);
  const outcomes = itemsOf(reply.body).map((payment) => paymentOutcomeOf(payment, orderId));
  // An order collects every try: one capture makes it paid; a try still open keeps it pending.
  return (
    outcomes.find((outcome) => outcome.status === 'succeeded') ??
    outcomes.find((outcome) => outcome.status === 'pending') ??
    outcomes[0] ?? { status: 'pending', gatewayReference: orderId }
  );
}

/** Without a reference (initiate gave up before Razorpay answered), the receipt finds the order. */
async function statusByReceipt(session: Session, attemptId: string): Promise<StatusOutcome> {
  const reply = await callRazorpay(session, {
    method: 'GET',
    path: `/v1/orders?receipt=${encodeURIComponent(attemptId)}`,
  });
  if (!reply.ok) return statusFailed(reply);
  const orderId = textOf(itemsOf(reply.body)[0]?.id);
  // No order: nothing the payer could pay. It stays as it is and the expiry job closes it.
  if (orderId === undefined) return { status: 'pending' };
  return statusOfOrder(session, orderId);
}

async function statusOfPaymentLink(session: Session, linkId: string): Promise<StatusOutcome> {
  const reply = await callRazorpay(session, {
    method: 'GET',
    path: `/v1/payment_links/${encodeURIComponent(linkId)}`,
  });
  if (!reply.ok) return statusFailed(reply, linkId);
  const state = paymentLinkStateOf(reply.body.status);
  if (state.status === 'pending') return { status: 'pending', gatewayReference: linkId };
  if (state.status === 'failed') {
    return {
      status: 'failed',
      gatewayReference: linkId,
      errorCode: state.errorCode,
      errorMessage: `payment link ${String(reply.body.status)}`,
    };
  }
  // Refunds need the payment's own id, so that is the reference a paid link reports.
  const payment = capturedLinkPaymentOf(reply.body);
  return {
    status: 'succeeded',
    gatewayReference: textOf(payment?.payment_id) ?? linkId,
    amountMinor: amountOf(reply.body.amount_paid),
  };
}

function paymentOutcomeOf(payment: JsonObject, fallbackReference: string): StatusOutcome {
  const gatewayReference = textOf(payment.id) ?? fallbackReference;
  const status = paymentStatusOf(payment.status);
  if (status === 'succeeded') return { status, gatewayReference, amountMinor: amountOf(payment.amount) };
  if (status === 'pending') return { status, gatewayReference };
  if (status === null) {
    return {
      status: 'failed',
      gatewayReference,
      errorCode: 'UNKNOWN',
      errorMessage: `unknown payment status ${String(payment.status)}`,
    };
  }
  const description = textOf(payment.error_description) ?? 'payment failed';
  const reason = textOf(payment.error_reason);
  return {
    status: 'failed',
    gatewayReference,
    errorCode: failureCodeOf(payment.error_reason),
    errorMessage: reason === undefined ? description : `${description} (${reason})`,
  };
}

function statusFailed(reply: Failure, gatewayReference?: string): StatusOutcome {
  return { status: 'failed', gatewayReference, errorCode: reply.errorCode, errorMessage: reply.errorMessage };
}

// --- refund ----------------------------------------------------------------------------------

type PaymentIdReply = { readonly ok: true; readonly paymentId: string } | Failure;

/** A card or netbanking attempt may still carry its payment link's id; refunds need the payment's. */
async function paymentIdForRefund(session: Session, reference: string): Promise<PaymentIdReply> {
  if (!reference.startsWith('plink_')) return { ok: true, paymentId: reference };
  const reply = await callRazorpay(session, {
    method: 'GET',
    path: `/v1/payment_links/${encodeURIComponent(reference)}`,
  });
  if (!reply.ok) return reply;
  const paymentId = textOf(capturedLinkPaymentOf(reply.body)?.payment_id);
  if (paymentId === undefined)
    return {
      ok: false,
      errorCode: 'INVALID_REQUEST',
      errorMessage: `payment link ${reference} has no captured payment`,
    };
  return { ok: true, paymentId };
}

function refundOutcomeOf(refund: JsonObject): RefundOutcome {
  const refundId = textOf(refund.id);
  if (refundId === undefined) return refundFailed('GATEWAY_ERROR', 'refund reply without an id');
  const status = refundStatusOf(refund.status);
  if (status !== 'failed') return { status, gatewayReference: refundId };
  return {
    status: 'failed',
    errorCode: 'DECLINED',
    errorMessage: `refund ${refundId} failed at razorpay`,
    retryable: false,
  };
}

/** A refund entity (`GET /v1/refunds/:id`) as where the refund stands now. */
function refundStatusOutcomeOf(refund: JsonObject, reference: string): RefundStatusOutcome {
  const gatewayReference = textOf(refund.id) ?? reference;
  const status = refundStatusOf(refund.status);
  const amountMinor = amountOf(refund.amount);
  switch (status) {
    case 'succeeded':
      return { status, gatewayReference, ...(amountMinor === undefined ? {} : { amountMinor }) };
    case 'pending':
      return { status, gatewayReference };
    case 'failed':
      return {
        status,
        gatewayReference,
        errorCode: 'DECLINED',
        errorMessage: `refund ${gatewayReference} failed at razorpay`,
      };
  }
}

function refundFailed(errorCode: AttemptErrorCode, errorMessage: string): RefundOutcome {
  return { status: 'failed', errorCode, errorMessage, retryable: isRetryable(errorCode) };
}

function idempotencyKeyOf(refundId: string): string {
  return IDEMPOTENCY_KEY_PATTERN.test(refundId)
    ? refundId
    : createHash('sha256').update(refundId).digest('hex');
}

// --- webhooks --------------------------------------------------------------------------------

function verifyRazorpayWebhook(
  webhookSecret: string | undefined,
  webhook: InboundWebhook,
  toleranceSec: number,
): WebhookVerification {
  if (!webhookSecret) return { ok: false, reason: 'bad_signature' };
  const signature = headerOf(webhook.headers, 'x-razorpay-signature');
  if (signature === undefined || !SIGNATURE_PATTERN.test(signature))
    return { ok: false, reason: 'bad_signature' };
  const expected = createHmac('sha256', webhookSecret).update(webhook.rawBody).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    return { ok: false, reason: 'bad_signature' };
  const createdAtSec = asObject(parseJson(webhook.rawBody.toString('utf8')))?.created_at;
  if (typeof createdAtSec !== 'number' || !Number.isFinite(createdAtSec))
    return { ok: false, reason: 'malformed' };
  const ageSec = webhook.receivedAt.getTime() / 1000 - createdAtSec;
  if (Math.abs(ageSec) > toleranceSec) return { ok: false, reason: 'stale' };
  return { ok: true };
}

function paymentEventOf(eventId: string, payment: JsonObject | null): GatewayEvent | null {
  if (payment === null) return null;
  const outcome = paymentOutcomeOf(payment, '');
  return {
    eventId,
    kind: 'payment',
    attemptId: textOf(asObject(payment.notes)?.attempt_id),
    gatewayReference: textOf(payment.id),
    status: outcome.status,
    ...(outcome.status === 'failed'
      ? { errorCode: outcome.errorCode, errorMessage: outcome.errorMessage }
      : {}),
    amountMinor: amountOf(payment.amount),
  };
}

function paymentLinkEventOf(eventId: string, payload: JsonObject | null): GatewayEvent | null {
  const link = entityOf(payload, 'payment_link');
  if (link === null) return null;
  const payment = entityOf(payload, 'payment');
  const state = paymentLinkStateOf(link.status);
  return {
    eventId,
    kind: 'payment',
    attemptId: textOf(link.reference_id) ?? textOf(asObject(link.notes)?.attempt_id),
    gatewayReference: textOf(payment?.id) ?? textOf(link.id),
    status: state.status,
    ...(state.status === 'failed'
      ? { errorCode: state.errorCode, errorMessage: `payment link ${String(link.status)}` }
      : {}),
    amountMinor: amountOf(payment?.amount) ?? amountOf(link.amount),
  };
}

function refundEventOf(eventId: string, refund: JsonObject | null): GatewayEvent | null {
  if (refund === null) return null;
  const status = refundStatusOf(refund.status);
  return {
    eventId,
    kind: 'refund',
    attemptId: textOf(asObject(refund.notes)?.attempt_id),
    gatewayReference: textOf(refund.id),
    status,
    ...(status === 'failed'
      ? { errorCode: 'DECLINED' as const, errorMessage: 'refund failed at razorpay' }
      : {}),
    amountMinor: amountOf(refund.amount),
  };
}

// --- HTTP and JSON ---------------------------------------------------------------------------

function sessionOf(context: ConnectorContext): Session | null {
  const { keyId, keySecret } = context.credentials;
  if (!keyId || !keySecret) return null;
  return { context, keys: { keyId, keySecret }, deadlineMs: Date.now() + context.timeoutMs };
}

async function callRazorpay(session: Session, call: RazorpayCall): Promise<RazorpayReply> {
  const { context, keys } = session;
  const timeoutMs = session.deadlineMs - Date.now();
  if (timeoutMs <= 0)
    return {
      ok: false,
      errorCode: 'GATEWAY_TIMEOUT',
      errorMessage: `no reply within ${context.timeoutMs} ms`,
    };
  const credentials = Buffer.from(`${keys.keyId}:${keys.keySecret}`).toString('base64');
  const reply = await callGateway({
    url: `${context.baseUrl.replace(/\/+$/, '')}${call.path}`,
    method: call.method ?? 'POST',
    headers: {
      authorization: `Basic ${credentials}`,
      accept: 'application/json',
      ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...call.headers,
    },
    body: call.body === undefined ? undefined : JSON.stringify(call.body),
    timeoutMs,
  });
  if (!reply.ok) return { ok: false, errorCode: reply.errorCode, errorMessage: reply.errorMessage };
  const body = asObject(parseJson(reply.body));
  if (body === null)
    return { ok: false, errorCode: 'GATEWAY_ERROR', errorMessage: `unreadable reply (HTTP ${reply.status})` };
  if (reply.status >= 200 && reply.status < 300) return { ok: true, body };
  return errorReplyOf(reply.status, body);
}

function errorReplyOf(status: number, body: JsonObject): Failure {
  const error = asObject(body.error);
  if (error === null)
    return { ok: false, errorCode: 'GATEWAY_ERROR', errorMessage: `HTTP ${status} without an error body` };
  const description = textOf(error.description) ?? 'no description';
  const reason = textOf(error.reason);
  return {
    ok: false,
    errorCode: apiErrorCodeOf(error.code, error.reason),
    errorMessage: `${String(error.code)}: ${description}${reason === undefined || reason === 'NA' ? '' : ` (${reason})`}`,
    paymentId: textOf(asObject(error.metadata)?.payment_id),
  };
}

function failed(
  errorCode: AttemptErrorCode,
  errorMessage: string,
  gatewayReference?: string,
  retryable = isRetryable(errorCode),
): AttemptOutcome {
  return { status: 'failed', gatewayReference, errorCode, errorMessage, retryable };
}

/** Razorpay takes integer minor units as a JSON number: exact up to 2^53. */
function gatewayAmountOf(amountMinor: bigint): number | null {
  return amountMinor > 0n && amountMinor <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(amountMinor) : null;
}

function amountOf(value: unknown): bigint | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined;
}

function attemptNotesOf(request: InitiateRequest): Record<string, string> {
  return notesOf({ attempt_id: request.attemptId, payment_id: request.paymentId, order_id: request.orderId });
}

function notesOf(notes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(notes).map(([key, value]) => [key, value.slice(0, NOTE_LENGTH_MAX)]),
  );
}

function capturedLinkPaymentOf(link: JsonObject): JsonObject | undefined {
  return itemsOfArray(link.payments).find((payment) => payment.status === 'captured');
}

function itemsOf(collection: JsonObject): JsonObject[] {
  return itemsOfArray(collection.items);
}

function itemsOfArray(value: unknown): JsonObject[] {
  if (!Array.isArray(value)) return [];
  return value.map(asObject).filter((item): item is JsonObject => item !== null);
}

function entityOf(payload: JsonObject | null, name: string): JsonObject | null {
  return asObject(asObject(payload?.[name])?.entity);
}

/** Razorpay sends an empty `notes` as `[]`, so an array is not an object here. */
function asObject(value: unknown): JsonObject | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : null;
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A repeated header is refused rather than guessed at. */
function headerOf(headers: InboundWebhook['headers'], name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function digestOf(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
}
