import { formatMajorUnits } from '../../../../lib/money.ts';
import type {
  AttemptErrorCode,
  AttemptOutcome,
  ConnectorContext,
  GatewayConnector,
  GatewayEvent,
  InboundWebhook,
  InitiateRequest,
  RefundRequest,
  RefundStatusOutcome,
  StatusOutcome,
  WebhookVerification,
} from '../connector.ts';
import { callGateway, isRetryable, parseJson, refundUnanswered } from '../http.ts';
import { CHECKSUM_FIELD, generateSignature, isUsableMerchantKey, verifyParamsSignature } from './checksum.ts';
import {
  amountMinorOf,
  objectOf,
  type PaytmResultInfo,
  paymentOutcome,
  readResultInfo,
  refundResult,
  refundStatusResult,
  replyBody,
  requestResult,
  statusQueryOutcome,
  stringOf,
  txnDateMs,
} from './mapping.ts';

/**
 * Paytm Payment Gateway (the JSON "v1/v3" APIs). Every call is `{ head, body }`, signed with
 * Paytm's checksum of `JSON.stringify(body)` under the merchant key, except processTransaction,
 * which carries the transaction token initiateTransaction issued. Our attempt id is Paytm's
 * orderId. Paytm assigns its own transaction id (TXNID) once the payer's transaction exists: the
 * UPI intent reply carries it; for the other flows the attempt's reference is the orderId until a
 * status check or webhook reports the TXNID. Refunds Paytm leaves PENDING are asked about with
 * the refund status API (our attempt id and refund id). Paytm's refund webhooks (accept, success)
 * are JSON signed over a body whose exact signed text its documentation does not pin down, and the
 * success one carries no status; they are not taken, so refunds settle by asking.
 */

export const PAYTM_PATHS = {
  initiate: '/theia/api/v1/initiateTransaction',
  process: '/theia/api/v1/processTransaction',
  paymentPage: '/theia/api/v1/showPaymentPage',
  status: '/v3/order/status',
  refund: '/refund/apply',
  refundStatus: '/v2/refund/status',
} as const;

/** The website name Paytm configured for the MID; a gateway record's `config.websiteName` overrides. */
const DEFAULT_WEBSITE_NAME = 'DEFAULT';
/**
 * Paytm's `head.channelId`: WEB for websites, WAP for mobile websites and apps (its page then
 * takes a phone's layout). Its APIs take no payer address or user agent, so this is all of the
 * payer's device Paytm is told.
 */
type ChannelId = 'WEB' | 'WAP';
const DEFAULT_CHANNEL_ID: ChannelId = 'WEB';
/** What browsers on phones put in their user agent, and tablets and desktops do not (per MDN). */
const MOBILE_USER_AGENT_MARK = 'Mobi';
const INDIAN_MOBILE_DIGITS = 10;
/** A Paytm webhook has about fifteen fields; a body with many more is not one. */
const WEBHOOK_FIELDS_MAX = 64;
const MS_PER_SECOND = 1000;

/** Paytm's payment modes for the page a redirect flow opens, so the payer sees only the method. */
const PAGE_PAYMENT_MODES = {
  card: [{ mode: 'CREDIT_CARD' }, { mode: 'DEBIT_CARD' }],
  netbanking: [{ mode: 'NET_BANKING' }],
} as const;

interface PaytmCredentials {
  readonly merchantId: string;
  readonly merchantKey: string;
}

interface Failure {
  readonly status: 'failed';
  readonly errorCode: AttemptErrorCode;
  readonly errorMessage: string;
  readonly retryable: boolean;
}

const MISSING_CREDENTIALS: Failure = {
  status: 'failed',
  errorCode: 'AUTHENTICATION_FAILED',
  errorMessage: 'Paytm credentials missing: merchantId and a 16-character merchantKey are required',
  retryable: true,
};

type PaytmReply =
  | { readonly ok: true; readonly body: Readonly<Record<string, unknown>>; readonly info: PaytmResultInfo }
  | { readonly ok: false; readonly errorCode: AttemptErrorCode; readonly errorMessage: string };

export const paytmConnector: GatewayConnector = {
  name: 'paytm',
  // No upi_qr: Paytm's dynamic QR is a separate (offline) product, not part of these APIs.
  methods: ['upi_intent', 'upi_collect', 'card', 'netbanking'],
  credentialKeys: ['merchantId', 'merchantKey'],

  async initiate(context, request) {
    const credentials = credentialsOf(context);
    if (credentials === null) return MISSING_CREDENTIALS;
    if (!paytmConnector.methods.includes(request.method)) {
      throw new Error(`paytm connector asked for ${request.method}, which it does not declare`);
    }
    if (request.method === 'upi_collect' && !request.customer.vpa) {
      return failure('INVALID_REQUEST', "a UPI collect needs the payer's VPA");
    }
    const deadlineMs = Date.now() + context.timeoutMs;
    const token = await initiateTransaction(context, credentials, request, deadlineMs);
    if (typeof token !== 'string') return token;
    if (request.method === 'upi_intent') return upiIntent(context, credentials, request, token, deadlineMs);
    if (request.method === 'upi_collect') return upiCollect(context, credentials, request, token, deadlineMs);
    return {
      status: 'pending',
      gatewayReference: request.attemptId,
      nextAction: { type: 'redirect', url: paymentPageUrl(context, credentials, request.attemptId, token) },
    };
  },

  async fetchStatus(context, request) {
    const credentials = credentialsOf(context);
    // Without credentials, or without an answer, nothing is known about the payment: pending.
    if (credentials === null) return { status: 'pending', gatewayReference: request.gatewayReference };
    const reply = await queryStatus(context, credentials, request.attemptId, context.timeoutMs);
    if (!reply.ok) return { status: 'pending', gatewayReference: request.gatewayReference };
    return statusFromReply(reply, request.gatewayReference);
  },

  async refund(context, request) {
    const credentials = credentialsOf(context);
    if (credentials === null) return MISSING_CREDENTIALS;
    const deadlineMs = Date.now() + context.timeoutMs;
    const txnId = await paytmTxnId(context, credentials, request, deadlineMs);
    if (typeof txnId !== 'string') return txnId;
    const body = {
      mid: credentials.merchantId,
      txnType: 'REFUND',
      orderId: request.attemptId,
      txnId,
      refId: request.refundId,
      refundAmount: formatMajorUnits(request.amountMinor),
    };
    const reply = await postJson(
      context,
      PAYTM_PATHS.refund,
      {},
      signed(credentials, body),
      remainingMs(deadlineMs),
    );
    if (!reply.ok) return failure(reply.errorCode, reply.errorMessage);
    const result = refundResult(reply.info);
    if (result.status === 'failed') return result;
    return { status: result.status, gatewayReference: stringOf(reply.body.refundId) ?? request.refundId };
  },

  async fetchRefundStatus(context, request) {
    const reference = request.refundReference;
    const credentials = credentialsOf(context);
    if (credentials === null) {
      return refundUnanswered(reference, MISSING_CREDENTIALS.errorCode, MISSING_CREDENTIALS.errorMessage);
    }
    const body = { mid: credentials.merchantId, orderId: request.attemptId, refId: request.refundId };
    const payload = signed(credentials, body);
    const reply = await postJson(context, PAYTM_PATHS.refundStatus, {}, payload, context.timeoutMs);
    if (!reply.ok) return refundUnanswered(reference, reply.errorCode, reply.errorMessage);
    return refundStatusFromReply(reply, reference);
  },

  verifyWebhook(context, webhook, toleranceSec) {
    return verifyPaytmWebhook(context, webhook, toleranceSec);
  },

  parseWebhook(_context, webhook) {
    return parsePaytmWebhook(webhook);
  },
};

function credentialsOf(context: ConnectorContext): PaytmCredentials | null {
  const { merchantId, merchantKey } = context.credentials;
  if (!merchantId || !merchantKey || !isUsableMerchantKey(merchantKey)) return null;
  return { merchantId, merchantKey };
}

function failure(errorCode: AttemptErrorCode, errorMessage: string): Failure {
  return { status: 'failed', errorCode, errorMessage, retryable: isRetryable(errorCode) };
}

/** Two calls (token, then the UPI step) share one timeout, so initiate returns within it. */
function remainingMs(deadlineMs: number): number {
  return Math.max(1, deadlineMs - Date.now());
}

/** WAP when the payer's user agent says it is a phone, else WEB (also when it is unknown). */
function channelIdOf(request: Pick<InitiateRequest, 'payer'>): ChannelId {
  return request.payer?.userAgent?.includes(MOBILE_USER_AGENT_MARK) ? 'WAP' : DEFAULT_CHANNEL_ID;
}

function signed(
  credentials: PaytmCredentials,
  body: Readonly<Record<string, unknown>>,
  channelId: ChannelId = DEFAULT_CHANNEL_ID,
) {
  return {
    head: {
      channelId,
      signature: generateSignature(JSON.stringify(body), credentials.merchantKey),
    },
    body,
  };
}

function endpoint(context: ConnectorContext, path: string, query: Readonly<Record<string, string>>): string {
  const search = new URLSearchParams(query).toString();
  return `${context.baseUrl.replace(/\/+$/, '')}${path}${search === '' ? '' : `?${search}`}`;
}

/** One JSON call; Paytm answers its own errors with HTTP 200 and `body.resultInfo`. */
async function postJson(
  context: ConnectorContext,
  path: string,
  query: Readonly<Record<string, string>>,
  payload: unknown,
  timeoutMs: number,
): Promise<PaytmReply> {
  const reply = await callGateway({
    url: endpoint(context, path, query),
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    timeoutMs,
  });
  if (!reply.ok) return reply;
  const json = parseJson(reply.body);
  const body = replyBody(json);
  const info = readResultInfo(json);
  if (body === null || info === null) {
    return {
      ok: false,
      errorCode: 'GATEWAY_ERROR',
      errorMessage: `unreadable Paytm reply (HTTP ${reply.status})`,
    };
  }
  return { ok: true, body, info };
}

/** The transaction token for our order, or why there is none. */
async function initiateTransaction(
  context: ConnectorContext,
  credentials: PaytmCredentials,
  request: InitiateRequest,
  deadlineMs: number,
): Promise<string | Failure> {
  const query = { mid: credentials.merchantId, orderId: request.attemptId };
  const payload = signed(credentials, initiateBody(context, credentials, request), channelIdOf(request));
  const reply = await postJson(context, PAYTM_PATHS.initiate, query, payload, remainingMs(deadlineMs));
  if (!reply.ok) return failure(reply.errorCode, reply.errorMessage);
  const result = requestResult(reply.info);
  if (!result.accepted) return { status: 'failed', ...result };
  const token = stringOf(reply.body.txnToken);
  return token ?? failure('GATEWAY_ERROR', 'Paytm accepted the order but sent no txnToken');
}

function initiateBody(context: ConnectorContext, credentials: PaytmCredentials, request: InitiateRequest) {
  const websiteName = stringOf(context.config.websiteName) ?? DEFAULT_WEBSITE_NAME;
  const mobile = request.customer.phone?.replace(/\D/g, '').slice(-INDIAN_MOBILE_DIGITS);
  const pageModes =
    request.method === 'card' || request.method === 'netbanking'
      ? PAGE_PAYMENT_MODES[request.method]
      : undefined;
  return {
    requestType: 'Payment',
    mid: credentials.merchantId,
    websiteName,
    orderId: request.attemptId,
    // Where Paytm posts the payer's browser back; the server-to-server webhook URL is set per MID
    // in Paytm's dashboard, not per order, so `notifyUrl` has no field here.
    ...(request.returnUrl === undefined ? {} : { callbackUrl: request.returnUrl }),
    txnAmount: { value: formatMajorUnits(request.amountMinor), currency: request.currency },
    userInfo: {
      custId: request.paymentId,
      firstName: request.customer.name,
      ...(request.customer.email === undefined ? {} : { email: request.customer.email }),
      ...(mobile?.length === INDIAN_MOBILE_DIGITS ? { mobile } : {}),
    },
    ...(pageModes === undefined ? {} : { enablePaymentMode: pageModes }),
  };
}

/** processTransaction is authorised by the token, not by a checksum. */
function processPayload(
  credentials: PaytmCredentials,
  request: InitiateRequest,
  token: string,
  mode: Readonly<Record<string, string>>,
) {
  return {
    head: {
      version: 'v1',
      channelId: channelIdOf(request),
      requestTimestamp: String(Date.now()),
      txnToken: token,
    },
    body: { requestType: 'NATIVE', mid: credentials.merchantId, orderId: request.attemptId, ...mode },
  };
}

async function upiIntent(
  context: ConnectorContext,
  credentials: PaytmCredentials,
  request: InitiateRequest,
  token: string,
  deadlineMs: number,
): Promise<AttemptOutcome> {
  const query = { mid: credentials.merchantId, orderId: request.attemptId };
  const payload = processPayload(credentials, request, token, { paymentMode: 'UPI_INTENT' });
  // Without the deep link the payer cannot pay, so even a timeout here leaves nothing to wait for.
  const reply = await postJson(context, PAYTM_PATHS.process, query, payload, remainingMs(deadlineMs));
  if (!reply.ok) return failure(reply.errorCode, reply.errorMessage);
  const result = requestResult(reply.info);
  if (!result.accepted) return { status: 'failed', ...result };
  const deepLinkInfo = objectOf(reply.body.deepLinkInfo);
  const deepLink = stringOf(deepLinkInfo?.deepLink);
  if (deepLink === undefined) return failure('GATEWAY_ERROR', 'Paytm sent no UPI deep link');
  return {
    status: 'pending',
    gatewayReference: stringOf(deepLinkInfo?.transId) ?? request.attemptId,
    nextAction: { type: 'upi_intent', url: deepLink },
  };
}

async function upiCollect(
  context: ConnectorContext,
  credentials: PaytmCredentials,
  request: InitiateRequest,
  token: string,
  deadlineMs: number,
): Promise<AttemptOutcome> {
  const vpa = request.customer.vpa!;
  const query = { mid: credentials.merchantId, orderId: request.attemptId };
  const mode = { paymentMode: 'UPI', payerAccount: vpa };
  const payload = processPayload(credentials, request, token, mode);
  const reply = await postJson(context, PAYTM_PATHS.process, query, payload, remainingMs(deadlineMs));
  const pending: AttemptOutcome = {
    status: 'pending',
    gatewayReference: request.attemptId,
    nextAction: { type: 'upi_collect', vpa },
  };
  // A timed-out collect may already sit in the payer's UPI app: trying another gateway could
  // charge them twice, so it is pending and the status check settles it.
  if (!reply.ok)
    return reply.errorCode === 'GATEWAY_TIMEOUT' ? pending : failure(reply.errorCode, reply.errorMessage);
  const result = requestResult(reply.info);
  return result.accepted ? pending : { status: 'failed', ...result };
}

function paymentPageUrl(
  context: ConnectorContext,
  credentials: PaytmCredentials,
  orderId: string,
  token: string,
): string {
  return endpoint(context, PAYTM_PATHS.paymentPage, {
    mid: credentials.merchantId,
    orderId,
    txnToken: token,
  });
}

function queryStatus(
  context: ConnectorContext,
  credentials: PaytmCredentials,
  orderId: string,
  timeoutMs: number,
): Promise<PaytmReply> {
  const body = { mid: credentials.merchantId, orderId };
  return postJson(context, PAYTM_PATHS.status, {}, signed(credentials, body), timeoutMs);
}

function statusFromReply(reply: Extract<PaytmReply, { ok: true }>, knownReference?: string): StatusOutcome {
  const outcome = statusQueryOutcome(reply.info);
  const gatewayReference = stringOf(reply.body.txnId) ?? knownReference;
  if (outcome.status === 'failed') return { ...outcome, gatewayReference };
  if (outcome.status === 'pending' || gatewayReference === undefined)
    return { status: 'pending', gatewayReference };
  const amountText = stringOf(reply.body.txnAmount);
  const amountMinor = amountText === undefined ? null : amountMinorOf(amountText);
  // A success whose amount cannot be read is not credited on trust: looked at again instead.
  if (amountMinor === null) return { status: 'pending', gatewayReference };
  return { status: 'succeeded', gatewayReference, amountMinor };
}

function refundStatusFromReply(
  reply: Extract<PaytmReply, { ok: true }>,
  knownReference: string,
): RefundStatusOutcome {
  const result = refundStatusResult(reply.info);
  const gatewayReference = stringOf(reply.body.refundId) ?? knownReference;
  switch (result.status) {
    case 'unanswered':
      return refundUnanswered(knownReference, result.errorCode, result.errorMessage);
    case 'pending':
      return { status: 'pending', gatewayReference };
    case 'failed':
      return { ...result, gatewayReference };
    case 'succeeded': {
      const amountText = stringOf(reply.body.refundAmount);
      const amountMinor = amountText === undefined ? null : amountMinorOf(amountText);
      return { status: 'succeeded', gatewayReference, ...(amountMinor === null ? {} : { amountMinor }) };
    }
  }
}

/**
 * Paytm refunds name both our orderId and its TXNID. When the attempt's reference is still the
 * orderId (no status check or webhook reported the TXNID), the status API supplies it.
 */
async function paytmTxnId(
  context: ConnectorContext,
  credentials: PaytmCredentials,
  request: RefundRequest,
  deadlineMs: number,
): Promise<string | Failure> {
  if (request.gatewayReference !== request.attemptId) return request.gatewayReference;
  const reply = await queryStatus(context, credentials, request.attemptId, remainingMs(deadlineMs));
  if (!reply.ok) return failure(reply.errorCode, reply.errorMessage);
  const status = statusFromReply(reply);
  if (status.status !== 'succeeded') {
    return failure('INVALID_REQUEST', `Paytm reports the payment ${status.status}, so it cannot be refunded`);
  }
  return status.gatewayReference;
}

function verifyPaytmWebhook(
  context: ConnectorContext,
  webhook: InboundWebhook,
  toleranceSec: number,
): WebhookVerification {
  const fields = formFields(webhook.rawBody);
  if (fields === null) return { ok: false, reason: 'malformed' };
  const checksum = fields[CHECKSUM_FIELD];
  const credentials = credentialsOf(context);
  if (!checksum || credentials === null) return { ok: false, reason: 'bad_signature' };
  if (!verifyParamsSignature(fields, credentials.merchantKey, checksum))
    return { ok: false, reason: 'bad_signature' };
  // TXNDATE is among the signed fields: the only signed time Paytm's scheme carries.
  const txnDate = fields.TXNDATE === undefined ? null : txnDateMs(fields.TXNDATE);
  if (txnDate === null) return { ok: false, reason: 'malformed' };
  const ageMs = Math.abs(webhook.receivedAt.getTime() - txnDate);
  if (ageMs > toleranceSec * MS_PER_SECOND) return { ok: false, reason: 'stale' };
  return { ok: true };
}

function parsePaytmWebhook(webhook: InboundWebhook): GatewayEvent | null {
  const fields = formFields(webhook.rawBody);
  const txnId = fields?.TXNID;
  const status = fields?.STATUS;
  if (fields === null || !txnId || !status) return null;
  const outcome = paymentOutcome({
    resultStatus: status,
    resultCode: fields.RESPCODE ?? '',
    resultMsg: fields.RESPMSG ?? '',
  });
  const amountMinor = fields.TXNAMOUNT === undefined ? null : amountMinorOf(fields.TXNAMOUNT);
  return {
    // Paytm sends no event id: a payment's transaction id and the status it reports identify one
    // notification, and a resend of it carries the same pair.
    eventId: `${txnId}:${status}`,
    kind: 'payment',
    attemptId: stringOf(fields.ORDERID),
    gatewayReference: txnId,
    ...outcome,
    ...(amountMinor === null ? {} : { amountMinor }),
  };
}

/** A form-encoded body's fields; null when empty, oversized, or a field repeats. */
function formFields(rawBody: Buffer): Readonly<Record<string, string>> | null {
  const fields: Record<string, string> = Object.create(null);
  let count = 0;
  for (const [name, value] of new URLSearchParams(rawBody.toString('utf8'))) {
    count += 1;
    if (count > WEBHOOK_FIELDS_MAX || Object.hasOwn(fields, name)) return null;
    fields[name] = value;
  }
  return count === 0 ? null : fields;
}
