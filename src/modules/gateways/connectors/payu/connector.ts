import { createHash, timingSafeEqual } from 'node:crypto';
import { formatMajorUnits } from '../../../../lib/money.ts';
import type {
  AttemptErrorCode,
  AttemptOutcome,
  ConnectorContext,
  GatewayConnector,
  GatewayEvent,
  InboundWebhook,
  InitiateRequest,
  RefundOutcome,
  RefundRequest,
  RefundStatusOutcome,
  RefundStatusRequest,
  StatusOutcome,
  StatusRequest,
  WebhookVerification,
} from '../connector.ts';
import { callGateway, type GatewayReply, isRetryable, parseJson, refundUnanswered } from '../http.ts';
import {
  errorCodeMeaning,
  readPaymentStatus,
  readRefundCode,
  readRefundStatus,
  refineByErrorCode,
} from './mapping.ts';

/**
 * PayU India (docs.payu.in), the classic key-and-salt API: every request is a form post carrying
 * the merchant key and a SHA-512 hash over fixed fields ending in the salt, and every callback
 * carries a "reverse hash" over the same fields in the opposite order, starting with the salt.
 *
 * - UPI intent, QR and collect: a server-to-server `_payment` (`pg=UPI`, `txn_s2s_flow=4`) whose
 *   JSON reply carries the intent deeplink (`result.intentURIData`) or starts the collect request.
 * - Card and netbanking: PayU's hosted page. The page itself is entered by a browser form post to
 *   `_payment`, which a `NextAction` cannot carry (it has a URL only) and whose 302 our HTTP helper
 *   does not expose; so the connector asks `create_invoice` for a payment link, which opens the same
 *   hosted page with a GET, under our txnid.
 * - Status: `verify_payment` by txnid (our attempt id). Refund: `cancel_refund_transaction`,
 *   which PayU queues; where it stands: `check_action_status` by the refund's request_id. PayU's
 *   refund status callback is unsigned JSON, so it is not taken as a webhook: refunds settle by
 *   asking.
 */

const PAYMENT_PATH = '/_payment';
/** `form=2` makes the general API answer JSON rather than a PHP-serialized array. */
const POST_SERVICE_PATH = '/merchant/postservice.php?form=2';
const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
/** The S2S flow whose reply is JSON carrying the UPI intent or collect result. */
const UPI_S2S_FLOW = '4';
const UPI_INTENT_PREFIX = 'upi://pay?';
const SUPPORTED_CURRENCY = 'INR';
/** PayU's field limits; longer values are refused by PayU, so they are cut here. */
const PRODUCT_INFO_CHARACTERS_MAX = 100;
const FIRST_NAME_CHARACTERS_MAX = 60;
const EMAIL_CHARACTERS_MAX = 50;
/** Five user-defined fields take part in every hash; udf6-udf10 are the blank `|||||` stretch. */
const USER_DEFINED_FIELD_COUNT = 5;
const SHA512_HEX_PATTERN = /^[0-9a-f]{128}$/i;
/** PayU amounts: rupees with at most two decimals ("123.45", "10.00", "1"). */
const RUPEES_PATTERN = /^(\d+)(?:\.(\d{1,2}))?$/;
/** The S2S reply can carry PayU's 18-digit payment id as a bare JSON number, beyond a double. */
const PAYMENT_ID_PATTERN = /"paymentId"\s*:\s*"?(\d+)"?/;

interface PayuCredentials {
  readonly merchantKey: string;
  readonly merchantSalt: string;
}

function readCredentials(context: ConnectorContext): PayuCredentials | null {
  const { merchantKey, merchantSalt } = context.credentials;
  if (merchantKey === undefined || merchantKey === '' || merchantSalt === undefined || merchantSalt === '') {
    return null;
  }
  return { merchantKey, merchantSalt };
}

function sha512Hex(text: string): string {
  return createHash('sha512').update(text, 'utf8').digest('hex');
}

/** The fields the payment hash and the reverse hash are computed over, in request order. */
interface HashedFields {
  readonly key: string;
  readonly txnid: string;
  readonly amount: string;
  readonly productinfo: string;
  readonly firstname: string;
  readonly email: string;
  readonly udf: readonly string[];
}

/** sha512(key|txnid|amount|productinfo|firstname|email|udf1|...|udf5||||||SALT). */
function paymentHash(fields: HashedFields, salt: string): string {
  const { key, txnid, amount, productinfo, firstname, email, udf } = fields;
  return sha512Hex(
    [key, txnid, amount, productinfo, firstname, email, ...udf, '', '', '', '', '', salt].join('|'),
  );
}

/**
 * sha512([additional_charges|]SALT|status||||||udf5|...|udf1|email|firstname|productinfo|amount|txnid|key):
 * the callback's hash, with PayU's convenience fee prefixed when it charged one.
 */
function reverseHash(
  fields: HashedFields,
  status: string,
  salt: string,
  additionalCharges: string | null,
): string {
  const { key, txnid, amount, productinfo, firstname, email, udf } = fields;
  const reversed = [...udf].reverse();
  const parts = [
    salt,
    status,
    '',
    '',
    '',
    '',
    '',
    ...reversed,
    email,
    firstname,
    productinfo,
    amount,
    txnid,
    key,
  ];
  return sha512Hex((additionalCharges === null ? parts : [additionalCharges, ...parts]).join('|'));
}

/** sha512(key|command|var1|salt): the general (postservice) API's hash. */
function webServiceHash(credentials: PayuCredentials, command: string, var1: string): string {
  return sha512Hex([credentials.merchantKey, command, var1, credentials.merchantSalt].join('|'));
}

/** PayU's "123.45" to paise; null for anything else (never through a float). */
function parseRupees(text: unknown): bigint | null {
  if (typeof text !== 'string' && typeof text !== 'number') return null;
  const match = RUPEES_PATTERN.exec(String(text).trim());
  if (match === null) return null;
  const [, whole = '0', fraction = ''] = match;
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

/** Pipes would shift the hash's fields; PayU refuses them, so they are dropped with the excess. */
function clean(text: string | undefined, charactersMax: number): string {
  return (text ?? '').replaceAll('|', ' ').trim().slice(0, charactersMax);
}

function endpoint(context: ConnectorContext, path: string): string {
  return `${context.baseUrl.replace(/\/+$/, '')}${path}`;
}

function failedAttempt(
  errorCode: AttemptErrorCode,
  errorMessage: string,
  gatewayReference?: string,
): AttemptOutcome {
  return { status: 'failed', errorCode, errorMessage, retryable: isRetryable(errorCode), gatewayReference };
}

const MISSING_CREDENTIALS_MESSAGE = 'PayU credentials need merchantKey and merchantSalt';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/**
 * The general API refuses a bad key or hash with HTTP 200 and `{ status: 0, msg: "Invalid Hash." }`
 * (or a key message): our credentials, so another gateway may be tried.
 */
function credentialsRefusal(json: Record<string, unknown>): string | null {
  const message = text(json.msg) ?? '';
  return json.status === 0 && /hash|key/i.test(message) ? message : null;
}

function paymentFields(credentials: PayuCredentials, request: InitiateRequest): HashedFields {
  return {
    key: credentials.merchantKey,
    txnid: request.attemptId,
    amount: formatMajorUnits(request.amountMinor),
    productinfo: clean(request.description ?? `Order ${request.orderId}`, PRODUCT_INFO_CHARACTERS_MAX),
    firstname: clean(request.customer.name, FIRST_NAME_CHARACTERS_MAX),
    email: clean(request.customer.email, EMAIL_CHARACTERS_MAX),
    // udf1 carries our payment id back in every callback (it is covered by both hashes).
    udf: [request.paymentId, ...Array<string>(USER_DEFINED_FIELD_COUNT - 1).fill('')],
  };
}

async function initiateUpi(
  context: ConnectorContext,
  credentials: PayuCredentials,
  request: InitiateRequest,
): Promise<AttemptOutcome> {
  const fields = paymentFields(credentials, request);
  const form = new URLSearchParams({
    key: fields.key,
    txnid: fields.txnid,
    amount: fields.amount,
    productinfo: fields.productinfo,
    firstname: fields.firstname,
    email: fields.email,
    phone: request.customer.phone ?? '',
    // The S2S flow posts its final result server to server to surl/furl: our webhook route.
    surl: request.notifyUrl,
    furl: request.notifyUrl,
    pg: 'UPI',
    bankcode: request.method === 'upi_collect' ? 'UPI' : 'INTENT',
    txn_s2s_flow: UPI_S2S_FLOW,
    hash: paymentHash(fields, credentials.merchantSalt),
  });
  fields.udf.forEach((value, index) => {
    form.set(`udf${index + 1}`, value);
  });
  if (request.method === 'upi_collect') form.set('vpa', request.customer.vpa ?? '');
  setPayerDevice(form, request);
  const reply = await callGateway({
    url: endpoint(context, PAYMENT_PATH),
    headers: { 'content-type': FORM_CONTENT_TYPE, accept: 'application/json' },
    body: form.toString(),
    timeoutMs: context.timeoutMs,
  });
  if (!reply.ok && reply.errorCode === 'GATEWAY_TIMEOUT' && request.method === 'upi_collect') {
    // The collect request may already be on the payer's phone: another gateway could have them
    // approve a second one. Our txnid lets verify_payment and PayU's callback settle this attempt.
    return {
      status: 'failed',
      errorCode: reply.errorCode,
      errorMessage: reply.errorMessage,
      retryable: false,
      gatewayReference: request.attemptId,
    };
  }
  if (!reply.ok) return failedAttempt(reply.errorCode, reply.errorMessage);
  return readUpiReply(reply.body, request);
}

/**
 * PayU asks S2S integrations for the payer's address and device (`s2s_client_ip`,
 * `s2s_device_info`, the user agent) for its fraud and chargeback checks. Neither is hashed. Sent
 * only when the merchant forwarded them: no stand-in would tell PayU anything about the payer.
 */
function setPayerDevice(form: URLSearchParams, request: InitiateRequest): void {
  const { ip, userAgent } = request.payer ?? {};
  if (ip !== undefined) form.set('s2s_client_ip', ip);
  if (userAgent !== undefined) form.set('s2s_device_info', userAgent);
}

/** The S2S reply: `{ metaData: { txnStatus, unmappedStatus, statusCode, message }, result }`. */
function readUpiReply(body: string, request: InitiateRequest): AttemptOutcome {
  const json = parseJson(body);
  if (!isRecord(json) || !isRecord(json.metaData)) {
    return failedAttempt('GATEWAY_ERROR', `unreadable PayU reply: ${body.slice(0, 200)}`);
  }
  const meta = json.metaData;
  const statusCode = text(meta.statusCode);
  const message = text(meta.message) ?? `PayU ${text(meta.txnStatus) ?? 'reply'} ${statusCode ?? ''}`.trim();
  const paymentId = PAYMENT_ID_PATTERN.exec(body)?.[1];
  if (paymentId === undefined) {
    // No transaction was created: PayU refused the request itself (hash, parameters, txnid).
    return failedAttempt(errorCodeMeaning(statusCode) ?? 'INVALID_REQUEST', message);
  }
  const reading = refineByErrorCode(
    readPaymentStatus(text(meta.txnStatus), text(meta.unmappedStatus)),
    statusCode,
  );
  if (reading.status === 'failed') {
    return {
      status: 'failed',
      errorCode: reading.errorCode,
      errorMessage: message,
      retryable: reading.retryable,
      gatewayReference: paymentId,
    };
  }
  if (reading.status === 'succeeded') return { status: 'succeeded', gatewayReference: paymentId };
  if (request.method === 'upi_collect') {
    return {
      status: 'pending',
      gatewayReference: paymentId,
      nextAction: { type: 'upi_collect', vpa: request.customer.vpa ?? '' },
    };
  }
  const intent = isRecord(json.result) ? text(json.result.intentURIData) : undefined;
  if (intent === undefined || intent === '') {
    return failedAttempt(
      'GATEWAY_ERROR',
      'PayU accepted the UPI intent but sent no intentURIData',
      paymentId,
    );
  }
  const url = `${UPI_INTENT_PREFIX}${intent}`;
  const type = request.method === 'upi_qr' ? 'upi_qr' : 'upi_intent';
  return { status: 'pending', gatewayReference: paymentId, nextAction: { type, url } };
}

async function callPostService(
  context: ConnectorContext,
  credentials: PayuCredentials,
  command: string,
  variables: readonly string[],
): Promise<GatewayReply> {
  const [var1 = ''] = variables;
  const form = new URLSearchParams({ key: credentials.merchantKey, command });
  variables.forEach((value, index) => {
    form.set(`var${index + 1}`, value);
  });
  form.set('hash', webServiceHash(credentials, command, var1));
  return callGateway({
    url: endpoint(context, POST_SERVICE_PATH),
    headers: { 'content-type': FORM_CONTENT_TYPE, accept: 'application/json' },
    body: form.toString(),
    timeoutMs: context.timeoutMs,
  });
}

/**
 * Card and netbanking: a payment link to PayU's hosted page. PayU assigns its payment id only when
 * the payer pays, so until then the txnid (our attempt id) is the reference; fetchStatus and the
 * callback then report the real one.
 */
async function initiateHostedPage(
  context: ConnectorContext,
  credentials: PayuCredentials,
  request: InitiateRequest,
): Promise<AttemptOutcome> {
  const fields = paymentFields(credentials, request);
  const invoice = JSON.stringify({
    amount: fields.amount,
    txnid: fields.txnid,
    productinfo: fields.productinfo,
    firstname: fields.firstname,
    email: fields.email,
    phone: request.customer.phone ?? '',
    send_email_now: '0',
  });
  const reply = await callPostService(context, credentials, 'create_invoice', [invoice]);
  if (!reply.ok) return failedAttempt(reply.errorCode, reply.errorMessage);
  const json = parseJson(reply.body);
  if (!isRecord(json)) {
    // Refusals come back as a bare sentence: "Invalid amount", "Invoice ... already exists."
    return failedAttempt('INVALID_REQUEST', `PayU refused the payment link: ${reply.body.slice(0, 200)}`);
  }
  const refusal = credentialsRefusal(json);
  if (refusal !== null) return failedAttempt('AUTHENTICATION_FAILED', refusal);
  const url = text(json.URL);
  if (json.Status !== 'Success' || url === undefined) {
    return failedAttempt(
      'GATEWAY_ERROR',
      `PayU did not create the payment link: ${reply.body.slice(0, 200)}`,
    );
  }
  return { status: 'pending', gatewayReference: request.attemptId, nextAction: { type: 'redirect', url } };
}

async function initiate(context: ConnectorContext, request: InitiateRequest): Promise<AttemptOutcome> {
  const credentials = readCredentials(context);
  if (credentials === null) return failedAttempt('AUTHENTICATION_FAILED', MISSING_CREDENTIALS_MESSAGE);
  if (request.currency !== SUPPORTED_CURRENCY) {
    return failedAttempt(
      'INVALID_REQUEST',
      `PayU India takes ${SUPPORTED_CURRENCY} only, not ${request.currency}`,
    );
  }
  switch (request.method) {
    case 'upi_intent':
    case 'upi_qr':
      return initiateUpi(context, credentials, request);
    case 'upi_collect':
      if (request.customer.vpa === undefined || request.customer.vpa === '') {
        return failedAttempt('INVALID_REQUEST', 'a UPI collect needs the payer VPA');
      }
      return initiateUpi(context, credentials, request);
    case 'card':
    case 'netbanking':
      return initiateHostedPage(context, credentials, request);
  }
}

async function fetchStatus(context: ConnectorContext, request: StatusRequest): Promise<StatusOutcome> {
  const credentials = readCredentials(context);
  if (credentials === null) {
    return {
      status: 'failed',
      errorCode: 'AUTHENTICATION_FAILED',
      errorMessage: MISSING_CREDENTIALS_MESSAGE,
    };
  }
  const reply = await callPostService(context, credentials, 'verify_payment', [request.attemptId]);
  if (!reply.ok) return { status: 'failed', errorCode: reply.errorCode, errorMessage: reply.errorMessage };
  return readVerifyReply(reply.body, request);
}

/** `{ status, msg, transaction_details: { <txnid>: { mihpayid, status, unmappedstatus, amt, ... } } }`. */
function readVerifyReply(body: string, request: StatusRequest): StatusOutcome {
  const json = parseJson(body);
  if (!isRecord(json)) {
    return {
      status: 'failed',
      errorCode: 'GATEWAY_ERROR',
      errorMessage: `unreadable PayU reply: ${body.slice(0, 200)}`,
    };
  }
  const refusal = credentialsRefusal(json);
  if (refusal !== null)
    return { status: 'failed', errorCode: 'AUTHENTICATION_FAILED', errorMessage: refusal };
  const details = isRecord(json.transaction_details)
    ? json.transaction_details[request.attemptId]
    : undefined;
  if (!isRecord(details)) {
    return {
      status: 'failed',
      errorCode: 'GATEWAY_ERROR',
      errorMessage: `no transaction_details for ${request.attemptId}`,
    };
  }
  const payuId = text(details.mihpayid);
  const gatewayReference = payuId === undefined || payuId === 'Not Found' ? undefined : payuId;
  const errorCode = text(details.error_code) ?? text(details.error);
  const reading = refineByErrorCode(
    readPaymentStatus(text(details.status), text(details.unmappedstatus)),
    errorCode,
  );
  switch (reading.status) {
    case 'succeeded':
      return {
        status: 'succeeded',
        gatewayReference: gatewayReference ?? request.gatewayReference ?? request.attemptId,
        amountMinor: parseRupees(details.amt) ?? undefined,
      };
    case 'pending':
      return { status: 'pending', gatewayReference };
    case 'failed':
      return {
        status: 'failed',
        gatewayReference,
        errorCode: reading.errorCode,
        errorMessage: failureMessage(details),
      };
  }
}

function failureMessage(details: Record<string, unknown>): string {
  const candidates = [details.error_Message, details.field9, details.unmappedstatus, details.status];
  return (
    candidates.map(text).find((value) => value !== undefined && value !== '') ?? 'PayU reported a failure'
  );
}

async function refund(context: ConnectorContext, request: RefundRequest): Promise<RefundOutcome> {
  const credentials = readCredentials(context);
  if (credentials === null) {
    return {
      status: 'failed',
      errorCode: 'AUTHENTICATION_FAILED',
      errorMessage: MISSING_CREDENTIALS_MESSAGE,
      retryable: true,
    };
  }
  if (request.currency !== SUPPORTED_CURRENCY) {
    return {
      status: 'failed',
      errorCode: 'INVALID_REQUEST',
      errorMessage: `PayU refunds ${SUPPORTED_CURRENCY} only`,
      retryable: false,
    };
  }
  const payuId = await resolvePayuId(context, request);
  if (typeof payuId !== 'string') return payuId;
  const amount = formatMajorUnits(request.amountMinor);
  const reply = await callPostService(context, credentials, 'cancel_refund_transaction', [
    payuId,
    request.refundId,
    amount,
  ]);
  if (!reply.ok) {
    return {
      status: 'failed',
      errorCode: reply.errorCode,
      errorMessage: reply.errorMessage,
      retryable: isRetryable(reply.errorCode),
    };
  }
  return readRefundReply(reply.body, request);
}

/**
 * Refunds name PayU's payment id (mihpayid). A hosted-page attempt was recorded under our txnid
 * before the payer paid; if that is still its reference, verify_payment finds the real one.
 */
async function resolvePayuId(
  context: ConnectorContext,
  request: RefundRequest,
): Promise<string | RefundOutcome> {
  if (request.gatewayReference !== request.attemptId) return request.gatewayReference;
  const status = await fetchStatus(context, request);
  if (status.status === 'succeeded') return status.gatewayReference;
  const errorMessage =
    status.status === 'failed' ? status.errorMessage : 'the payment is not captured at PayU';
  const errorCode: AttemptErrorCode = status.status === 'failed' ? status.errorCode : 'INVALID_REQUEST';
  return { status: 'failed', errorCode, errorMessage, retryable: isRetryable(errorCode) };
}

/** `{ status: 1, msg: "Refund Request Queued", request_id, mihpayid, error_code: 102 }` or a refusal. */
function readRefundReply(body: string, request: RefundRequest): RefundOutcome {
  const json = parseJson(body);
  if (!isRecord(json)) {
    return {
      status: 'failed',
      errorCode: 'GATEWAY_ERROR',
      errorMessage: `unreadable PayU reply: ${body.slice(0, 200)}`,
      retryable: true,
    };
  }
  const refusal = credentialsRefusal(json);
  if (refusal !== null)
    return { status: 'failed', errorCode: 'AUTHENTICATION_FAILED', errorMessage: refusal, retryable: true };
  const reading = readRefundCode(text(json.error_code));
  const message = text(json.msg) ?? `PayU refund code ${text(json.error_code) ?? 'missing'}`;
  switch (reading.status) {
    case 'succeeded':
    case 'pending':
      return { status: reading.status, gatewayReference: text(json.request_id) ?? request.refundId };
    case 'already_requested':
      // PayU gives no request id for a token it has seen; the token (our refund id) names it.
      return { status: 'pending', gatewayReference: request.refundId };
    case 'failed':
      return {
        status: 'failed',
        errorCode: reading.errorCode,
        errorMessage: message,
        retryable: reading.retryable,
      };
  }
}

/**
 * A queued refund, asked about by the request_id cancel_refund_transaction returned. Without one
 * (PayU reported the token as seen before), there is no request id to ask by: it stays pending.
 */
async function fetchRefundStatus(
  context: ConnectorContext,
  request: RefundStatusRequest,
): Promise<RefundStatusOutcome> {
  const reference = request.refundReference;
  const credentials = readCredentials(context);
  if (credentials === null)
    return refundUnanswered(reference, 'AUTHENTICATION_FAILED', MISSING_CREDENTIALS_MESSAGE);
  if (reference === request.refundId) {
    return refundUnanswered(reference, 'INVALID_REQUEST', 'PayU gave no request_id for this refund');
  }
  const reply = await callPostService(context, credentials, 'check_action_status', [reference]);
  if (!reply.ok) return refundUnanswered(reference, reply.errorCode, reply.errorMessage);
  return readActionStatusReply(reply.body, reference);
}

/**
 * `{ status: 1, transaction_details: { <request_id>: { <request_id>: { mihpayid, request_id, amt,
 * action, token, status, ... } } } }`, or `{ status: 0, transaction_details: { <id>: "No action
 * status found" } }`.
 */
function readActionStatusReply(body: string, requestId: string): RefundStatusOutcome {
  const json = parseJson(body);
  if (!isRecord(json)) {
    return refundUnanswered(requestId, 'GATEWAY_ERROR', `unreadable PayU reply: ${body.slice(0, 200)}`);
  }
  const refusal = credentialsRefusal(json);
  if (refusal !== null) return refundUnanswered(requestId, 'AUTHENTICATION_FAILED', refusal);
  const entry = isRecord(json.transaction_details) ? json.transaction_details[requestId] : undefined;
  const details = isRecord(entry) ? entry[requestId] : undefined;
  if (!isRecord(details)) {
    const message = text(entry) ?? text(json.msg) ?? 'no transaction_details';
    return refundUnanswered(requestId, 'INVALID_REQUEST', `PayU refund ${requestId}: ${message}`);
  }
  const status = text(details.status);
  switch (readRefundStatus(status)) {
    case 'succeeded': {
      const amountMinor = parseRupees(details.amt);
      return {
        status: 'succeeded',
        gatewayReference: requestId,
        ...(amountMinor === null ? {} : { amountMinor }),
      };
    }
    case 'pending':
      return { status: 'pending', gatewayReference: requestId };
    case 'failed':
      return {
        status: 'failed',
        gatewayReference: requestId,
        errorCode: 'DECLINED',
        errorMessage: `PayU refund ${requestId} ${status ?? 'failed'}`,
      };
  }
}

/** The fields a callback must carry to be checked at all; each appears once. */
const CALLBACK_FIELDS = [
  'key',
  'txnid',
  'amount',
  'productinfo',
  'firstname',
  'email',
  'status',
  'hash',
] as const;

/** A PayU callback's form fields, or null when the body is not one. */
function readCallback(webhook: InboundWebhook): URLSearchParams | null {
  const contentType = headerValue(webhook.headers['content-type']);
  if (contentType !== undefined && !contentType.toLowerCase().startsWith(FORM_CONTENT_TYPE)) return null;
  const fields = new URLSearchParams(webhook.rawBody.toString('utf8'));
  const signed = [...CALLBACK_FIELDS, 'udf1', 'udf2', 'udf3', 'udf4', 'udf5', 'additional_charges'];
  // A repeated field could be read one way by the hash and another by the reader: refuse it.
  if (signed.some((name) => fields.getAll(name).length > 1)) return null;
  const required = CALLBACK_FIELDS.filter((name) => name !== 'hash');
  return required.every((name) => fields.has(name)) ? fields : null;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function callbackHashedFields(fields: URLSearchParams): HashedFields {
  const read = (name: string): string => fields.get(name) ?? '';
  return {
    key: read('key'),
    txnid: read('txnid'),
    amount: read('amount'),
    productinfo: read('productinfo'),
    firstname: read('firstname'),
    email: read('email'),
    udf: ['udf1', 'udf2', 'udf3', 'udf4', 'udf5'].map(read),
  };
}

/**
 * The reverse hash over the callback's own fields, compared in constant time. PayU's scheme signs
 * no timestamp, so there is nothing for `toleranceSec` to check: replays are caught by event id.
 */
function verifyWebhook(
  context: ConnectorContext,
  webhook: InboundWebhook,
  _toleranceSec: number,
): WebhookVerification {
  const credentials = readCredentials(context);
  if (credentials === null) return { ok: false, reason: 'bad_signature' };
  const fields = readCallback(webhook);
  if (fields === null) return { ok: false, reason: 'malformed' };
  const given = fields.get('hash') ?? '';
  if (!SHA512_HEX_PATTERN.test(given)) return { ok: false, reason: 'bad_signature' };
  const hashed = callbackHashedFields(fields);
  if (hashed.key !== credentials.merchantKey) return { ok: false, reason: 'bad_signature' };
  const expected = reverseHash(
    hashed,
    fields.get('status') ?? '',
    credentials.merchantSalt,
    fields.get('additional_charges'),
  );
  const matches = timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given.toLowerCase(), 'hex'));
  return matches ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** PayU sends no event id: its payment id with the status it reports names the event. */
function parseWebhook(_context: ConnectorContext, webhook: InboundWebhook): GatewayEvent | null {
  const fields = readCallback(webhook);
  const payuId = fields?.get('mihpayid');
  if (fields === null || payuId === null || payuId === undefined || payuId === '') return null;
  const status = fields.get('status') ?? '';
  const errorCodeText = fields.get('error') ?? undefined;
  const reading = refineByErrorCode(
    readPaymentStatus(status, fields.get('unmappedstatus') ?? undefined),
    errorCodeText,
  );
  const event = {
    eventId: `${payuId}:${status}`,
    kind: 'payment' as const,
    attemptId: fields.get('txnid') ?? undefined,
    gatewayReference: payuId,
    amountMinor: parseRupees(fields.get('amount')) ?? undefined,
  };
  if (reading.status !== 'failed') return { ...event, status: reading.status };
  const errorMessage = fields.get('error_Message') || fields.get('field9') || status;
  return { ...event, status: 'failed', errorCode: reading.errorCode, errorMessage };
}

export const payuConnector: GatewayConnector = {
  name: 'payu',
  methods: ['upi_intent', 'upi_qr', 'upi_collect', 'card', 'netbanking'],
  credentialKeys: ['merchantKey', 'merchantSalt'],
  initiate,
  fetchStatus,
  refund,
  fetchRefundStatus,
  verifyWebhook,
  parseWebhook,
};
