import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local imitation of Paytm Payment Gateway's JSON APIs for tests: initiateTransaction,
 * processTransaction (UPI collect and UPI intent), the hosted payment page, the v3 transaction
 * status API, refund/apply and the v2 refund status API. Every signed request is checked the way Paytm checks it (the
 * PaytmChecksum of `JSON.stringify(body)` in `head.signature` under the MID's merchant key;
 * processTransaction by its transaction token) and refused Paytm's way: HTTP 200 with
 * `body.resultInfo` (2005 "Checksum provided is invalid", 330 on the status and refund APIs).
 * Webhooks are form posts signed with the checksum of the sorted fields, as Paytm sends them.
 *
 * Its checksum is written out here on purpose rather than imported from the connector, so that a
 * mistake in the connector's checksum fails the tests instead of agreeing with itself.
 */

import type {
  FakeBehaviour,
  FakeGateway,
  FakeRefundStatusBehaviour,
  RecordedRequest,
  SignedWebhook,
} from './fake-gateway.ts';

export type { FakeBehaviour, FakeGateway, FakeRefundStatusBehaviour, RecordedRequest, SignedWebhook };

// Paytm's answers to the shared API: initiate means initiateTransaction and processTransaction.
// Paytm learns the payer's answer after initiate, so 'succeed', 'pending' and 'decline' set what
// the status API and webhooks then report (TXN_SUCCESS, PENDING, TXN_FAILURE 227). `paymentFor`
// gives Paytm's TXNID and status. Its webhook carries no event id (the connector names the event
// by TXNID and STATUS), so `eventId` must be a replay's; its signed timestamp is TXNDATE, the
// transaction's time, which `ageSec` back-dates. Refunds answer PENDING (601), as Paytm's usually
// do, until `settleRefund`; the refund status API (by orderId and refId) then reports them.

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
const REQUEST_BYTES_MAX = 64 * 1024;
const PAYTM_IV = '@@@@&&&&####$$$$';
const AMOUNT_PATTERN = /^\d+(?:\.\d{1,2})?$/;
const VPA_PATTERN = /^[\w.-]+@[\w.-]+$/;
const TOKEN_LIFETIME_MS = 15 * 60 * 1000;
const IST_OFFSET_MS = 19_800_000;
const MERCHANT_VPA = 'paytm-tijori@paytm';
const MERCHANT_NAME = 'Tijori Test Merchant';
const MERCHANT_CATEGORY_CODE = '5641';
/** `head.channelId`, where sent: WEB for websites, WAP for mobile websites and apps. */
const CHANNEL_IDS: readonly unknown[] = [undefined, 'WEB', 'WAP'];

type PaytmStatus = 'TXN_SUCCESS' | 'TXN_FAILURE' | 'PENDING';
type PaymentMode = 'UPI' | 'CC' | 'NB';

interface ResultInfo {
  readonly resultStatus: string;
  readonly resultCode: string;
  readonly resultMsg: string;
}

const RESULT_BY_STATUS: Record<PaytmStatus, ResultInfo> = {
  TXN_SUCCESS: { resultStatus: 'TXN_SUCCESS', resultCode: '01', resultMsg: 'Txn Success' },
  TXN_FAILURE: {
    resultStatus: 'TXN_FAILURE',
    resultCode: '227',
    resultMsg:
      'Your payment has been declined by your bank. Please contact your bank for any queries. If money has been deducted from your account, your bank will inform us within 48 hrs and we will refund the same.',
  },
  PENDING: {
    resultStatus: 'PENDING',
    resultCode: '402',
    resultMsg:
      'Looks like the payment is not complete. Please wait while we confirm the status with your bank.',
  },
};

const refused = (resultCode: string, resultMsg: string): ResultInfo => ({
  resultStatus: 'F',
  resultCode,
  resultMsg,
});
const failed = (resultCode: string, resultMsg: string): ResultInfo => ({
  resultStatus: 'TXN_FAILURE',
  resultCode,
  resultMsg,
});

interface FakePayment {
  readonly orderId: string;
  readonly txnId: string;
  readonly txnToken: string;
  /** What initiateTransaction was given, so a repeat is told apart from a clash (0002 vs 2023). */
  readonly fingerprint: string;
  readonly amountMinor: bigint;
  readonly createdAt: Date;
  mode: PaymentMode;
  status: PaytmStatus;
  bankTxnId: string;
  refundedMinor: bigint;
  readonly refundIds: Set<string>;
}

interface FakeRefund {
  readonly refundId: string;
  readonly refId: string;
  readonly orderId: string;
  readonly amountMinor: bigint;
  readonly requestedAt: Date;
  /** TXN_SUCCESS, PENDING or TXN_FAILURE; a test may set any other string Paytm might send. */
  status: string;
}

/** What the refund status API says for each refund status (its resultInfo). */
const REFUND_RESULT_BY_STATUS: Readonly<Record<string, ResultInfo>> = {
  TXN_SUCCESS: { resultStatus: 'TXN_SUCCESS', resultCode: '10', resultMsg: 'Refund Successfull' },
  PENDING: {
    resultStatus: 'PENDING',
    resultCode: '601',
    resultMsg: 'Refund request was raised for this transaction. But it is pending state.',
  },
  TXN_FAILURE: {
    resultStatus: 'TXN_FAILURE',
    resultCode: '600',
    resultMsg: 'Invalid refund request or restricted by bank.',
  },
};

interface Envelope {
  readonly head: Record<string, unknown>;
  readonly body: Record<string, unknown>;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** PaytmChecksum: AES-128-CBC(sha256hex(text|salt) + salt), base64, with Paytm's fixed IV. */
function checksumOf(text: string, key: string): string {
  const salt = randomBytes(3).toString('base64');
  const cipher = createCipheriv('AES-128-CBC', key, PAYTM_IV);
  return cipher.update(`${sha256Hex(`${text}|${salt}`)}${salt}`, 'binary', 'base64') + cipher.final('base64');
}

function checksumMatches(text: string, key: string, checksum: unknown): boolean {
  if (typeof checksum !== 'string' || checksum === '') return false;
  try {
    const decipher = createDecipheriv('AES-128-CBC', key, PAYTM_IV);
    const hash = decipher.update(checksum, 'base64', 'binary') + decipher.final('binary');
    const salt = hash.slice(-4);
    return hash === `${sha256Hex(`${text}|${salt}`)}${salt}`;
  } catch {
    return false;
  }
}

/** The checksum of a form post: fields sorted by name, values joined with '|'. */
function formChecksum(fields: Record<string, string>, key: string): string {
  const names = Object.keys(fields).sort();
  return checksumOf(names.map((name) => fields[name]).join('|'), key);
}

function toMinor(amount: string): bigint {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

function rupees(minor: bigint): string {
  return `${minor / 100n}.${(minor % 100n).toString().padStart(2, '0')}`;
}

/** Paytm's TXNDATE: Indian time, "yyyy-MM-dd HH:mm:ss.S". */
function paytmDate(date: Date): string {
  const local = new Date(date.getTime() + IST_OFFSET_MS).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 19)}.${local.slice(20, 21)}`;
}

function digits(count: number): string {
  let text = '';
  while (text.length < count) text += String(randomInt(0, 10));
  return text;
}

/** Paytm's transaction ids: the date, then digits (e.g. 20250115011640000123456789012345678). */
function newTxnId(): string {
  return `${new Date().toISOString().slice(0, 10).replaceAll('-', '')}${digits(27)}`;
}

function objectOf(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function parseEnvelope(text: string): Envelope | null {
  try {
    const parsed = objectOf(JSON.parse(text));
    const head = objectOf(parsed?.head);
    const body = objectOf(parsed?.body);
    return head === null || body === null ? null : { head, body };
  } catch {
    return null;
  }
}

const GATEWAY_BY_MODE: Record<PaymentMode, { gatewayName: string; bankName: string }> = {
  UPI: { gatewayName: 'PPBL', bankName: 'State Bank of India' },
  CC: { gatewayName: 'HDFC', bankName: 'HDFC Bank' },
  NB: { gatewayName: 'SBI', bankName: 'State Bank of India' },
};

export async function startPaytmGateway(options?: {
  credentials?: Record<string, string>;
}): Promise<FakeGateway> {
  const credentials = options?.credentials ?? {
    merchantId: `TIJORI${digits(14)}`,
    merchantKey: randomBytes(12).toString('base64'),
  };
  const mid = credentials.merchantId ?? '';
  const key = credentials.merchantKey ?? '';
  const payments = new Map<string, FakePayment>();
  const refunds = new Map<string, FakeRefund>();
  const requests: RecordedRequest[] = [];
  const held = new Set<http.ServerResponse>();
  const state = {
    behaviour: 'succeed' as FakeBehaviour,
    refundStatusBehaviour: 'answer' as FakeRefundStatusBehaviour,
  };
  let baseUrl = '';

  function reply(response: http.ServerResponse, status: number, body: string, contentType: string): void {
    response.writeHead(status, { 'content-type': contentType });
    response.end(body);
  }

  /** Paytm's `{ head, body }`; replies of the signed APIs are signed too. */
  function replyJson(response: http.ServerResponse, body: Record<string, unknown>, sign: boolean): void {
    const head = {
      responseTimestamp: String(Date.now()),
      version: 'v1',
      ...(sign ? { signature: checksumOf(JSON.stringify(body), key) } : {}),
    };
    reply(response, 200, JSON.stringify({ head, body }), 'application/json');
  }

  const replyResult = (response: http.ServerResponse, resultInfo: ResultInfo, sign = true) =>
    replyJson(response, { resultInfo }, sign);

  /** Paytm's outage answer: a 5xx with its system-error body. */
  function replyOutage(response: http.ServerResponse): void {
    const body = { resultInfo: { resultStatus: 'F', resultCode: '00000900', resultMsg: 'System error' } };
    const head = { responseTimestamp: String(Date.now()), version: 'v1' };
    reply(response, 503, JSON.stringify({ head, body }), 'application/json');
  }

  function hold(response: http.ServerResponse): void {
    held.add(response);
    response.on('close', () => held.delete(response));
  }

  /** timeout and error hold or fail every initiate call before Paytm reads it. */
  function interruptsInitiate(response: http.ServerResponse): boolean {
    if (state.behaviour === 'timeout') hold(response);
    else if (state.behaviour === 'error') replyOutage(response);
    else return false;
    return true;
  }

  function statusForBehaviour(): PaytmStatus {
    if (state.behaviour === 'succeed') return 'TXN_SUCCESS';
    return state.behaviour === 'decline' ? 'TXN_FAILURE' : 'PENDING';
  }

  function initiateRefusal(query: URLSearchParams, envelope: Envelope): ResultInfo | null {
    const { head, body } = envelope;
    if (query.get('mid') !== body.mid)
      return refused('2013', "Mid in the query param doesn't match with the Mid send in the request");
    if (query.get('orderId') !== body.orderId) {
      return refused('2014', "OrderId in the query param doesn't match with the OrderId send in the request");
    }
    if (body.mid !== mid) return refused('2006', 'Mid is invalid');
    // Paytm documents no code of its own for another channel: its generic one stands in.
    if (!CHANNEL_IDS.includes(head.channelId)) return refused('1001', 'Request parameters are not valid');
    if (state.behaviour === 'unauthorized' || !checksumMatches(JSON.stringify(body), key, head.signature)) {
      return refused('2005', 'Checksum provided is invalid');
    }
    const amount = objectOf(body.txnAmount);
    const user = objectOf(body.userInfo);
    const mandatory = [
      body.requestType,
      body.websiteName,
      body.orderId,
      amount?.value,
      amount?.currency,
      user?.custId,
    ];
    if (mandatory.some((value) => typeof value !== 'string' || value === '')) {
      return refused('1007', 'Missing mandatory element');
    }
    if (JSON.stringify(body).includes('|')) return refused('1008', 'Pipe character is not allowed');
    const value = amount?.value as string;
    if (!AMOUNT_PATTERN.test(value) || toMinor(value) === 0n || amount?.currency !== 'INR') {
      return refused('2007', 'Txn amount is invalid');
    }
    return null;
  }

  function handleInitiate(response: http.ServerResponse, query: URLSearchParams, text: string) {
    if (interruptsInitiate(response)) return;
    const envelope = parseEnvelope(text);
    if (envelope === null) return replyResult(response, refused('1001', 'Request parameters are not valid'));
    const refusal = initiateRefusal(query, envelope);
    if (refusal !== null) return replyResult(response, refusal);
    const { body } = envelope;
    const orderId = body.orderId as string;
    const fingerprint = JSON.stringify([body.txnAmount, body.userInfo, body.enablePaymentMode ?? null]);
    const existing = payments.get(orderId);
    if (existing !== undefined && existing.fingerprint !== fingerprint) {
      return replyResult(response, refused('2023', 'Repeat Request Inconsistent'));
    }
    const payment = existing ?? createPayment(orderId, fingerprint, body);
    const resultInfo =
      existing === undefined
        ? { resultStatus: 'S', resultCode: '0000', resultMsg: 'Success' }
        : { resultStatus: 'S', resultCode: '0002', resultMsg: 'Success Idempotent' };
    replyJson(
      response,
      { resultInfo, txnToken: payment.txnToken, isPromoCodeValid: false, authenticated: false },
      true,
    );
  }

  function createPayment(orderId: string, fingerprint: string, body: Record<string, unknown>): FakePayment {
    const modes = JSON.stringify(body.enablePaymentMode ?? []);
    const status = statusForBehaviour();
    const payment: FakePayment = {
      orderId,
      txnId: newTxnId(),
      txnToken: randomBytes(24).toString('hex'),
      fingerprint,
      amountMinor: toMinor((objectOf(body.txnAmount)?.value as string) ?? '0'),
      createdAt: new Date(),
      mode: modes.includes('NET_BANKING') ? 'NB' : modes.includes('CARD') ? 'CC' : 'UPI',
      status,
      bankTxnId: status === 'PENDING' ? '' : digits(12),
      refundedMinor: 0n,
      refundIds: new Set(),
    };
    payments.set(orderId, payment);
    return payment;
  }

  /** processTransaction is authorised by the token initiateTransaction issued, valid 15 minutes. */
  function processRefusal(
    query: URLSearchParams,
    envelope: Envelope,
    payment?: FakePayment,
  ): ResultInfo | null {
    const { head, body } = envelope;
    const tokenValid =
      payment !== undefined &&
      head.txnToken === payment.txnToken &&
      Date.now() - payment.createdAt.getTime() < TOKEN_LIFETIME_MS;
    if (!tokenValid) return refused('1006', 'Your Session has expired');
    if (!CHANNEL_IDS.includes(head.channelId)) return refused('1001', 'Request parameters are not valid');
    if (query.get('mid') !== body.mid)
      return refused('2013', "Mid in the query param doesn't match with the Mid send in the request");
    if (query.get('orderId') !== body.orderId) {
      return refused('2014', "OrderId in the query param doesn't match with the OrderId send in the request");
    }
    if (body.requestType !== 'NATIVE' || typeof body.paymentMode !== 'string') {
      return refused('1007', 'Missing mandatory element');
    }
    if (body.paymentMode !== 'UPI' && body.paymentMode !== 'UPI_INTENT') {
      return refused('1001', 'Request parameters are not valid');
    }
    if (body.paymentMode === 'UPI' && !VPA_PATTERN.test(String(body.payerAccount ?? ''))) {
      return refused(
        '295',
        'Your payment failed as the UPI ID entered is incorrect. Please try again by entering a valid VPA or use a different method to complete the payment.',
      );
    }
    return null;
  }

  function handleProcess(response: http.ServerResponse, query: URLSearchParams, text: string) {
    if (interruptsInitiate(response)) return;
    const envelope = parseEnvelope(text);
    if (envelope === null)
      return replyResult(response, refused('1001', 'Request parameters are not valid'), false);
    const payment = payments.get(query.get('orderId') ?? '');
    const refusal = processRefusal(query, envelope, payment);
    if (refusal !== null || payment === undefined) {
      return replyResult(response, refusal ?? refused('1006', 'Your Session has expired'), false);
    }
    payment.mode = 'UPI';
    const resultInfo = { resultStatus: 'S', resultCode: '0000', resultMsg: 'Success' };
    if (envelope.body.paymentMode === 'UPI_INTENT') {
      return replyJson(response, { resultInfo, deepLinkInfo: deepLinkInfo(payment) }, false);
    }
    replyJson(
      response,
      { resultInfo, bankForm: collectPollForm(payment, String(envelope.body.payerAccount)) },
      false,
    );
  }

  function deepLinkInfo(payment: FakePayment): Record<string, unknown> {
    const link = new URLSearchParams({
      pa: MERCHANT_VPA,
      pn: MERCHANT_NAME,
      mc: MERCHANT_CATEGORY_CODE,
      tr: payment.txnId,
      am: rupees(payment.amountMinor),
      cu: 'INR',
      tn: `Payment for ${payment.orderId}`,
    });
    return {
      deepLink: `upi://pay?${link.toString().replaceAll('+', '%20')}`,
      orderId: payment.orderId,
      transId: payment.txnId,
      cashierRequestId: randomBytes(16).toString('hex'),
    };
  }

  function collectPollForm(payment: FakePayment, payerVpa: string): Record<string, unknown> {
    return {
      pageType: 'redirect',
      isForceResendOtp: false,
      redirectForm: {
        actionUrl: `${baseUrl}/theia/api/v1/upiPollPage?mid=${mid}&orderId=${encodeURIComponent(payment.orderId)}`,
        method: 'POST',
        type: 'redirect',
        headers: { 'Content-Type': FORM_CONTENT_TYPE },
        content: {
          MERCHANT_VPA,
          CHANNEL: 'PGPTM',
          externalSrNo: digits(20),
          MCC: MERCHANT_CATEGORY_CODE,
          payerVpa,
          txnAmount: rupees(payment.amountMinor),
          txnToken: payment.txnToken,
        },
      },
    };
  }

  function handlePaymentPage(response: http.ServerResponse, fields: URLSearchParams) {
    const payment = payments.get(fields.get('orderId') ?? '');
    if (payment === undefined || fields.get('mid') !== mid || fields.get('txnToken') !== payment.txnToken) {
      return reply(response, 200, '<html><body>Your Session has expired</body></html>', 'text/html');
    }
    reply(
      response,
      200,
      `<html><body>Paytm checkout: pay ${rupees(payment.amountMinor)} INR</body></html>`,
      'text/html',
    );
  }

  /** The status and refund APIs refuse a bad MID or checksum with TXN_FAILURE codes of their own. */
  function signedQueryRefusal(envelope: Envelope | null): ResultInfo | null {
    if (envelope === null) return failed('1001', 'Request parameters are not valid');
    if (envelope.body.mid !== mid) return failed('335', 'Mid is invalid');
    if (!checksumMatches(JSON.stringify(envelope.body), key, envelope.head.signature)) {
      return failed('330', 'Checksum provided is invalid');
    }
    return null;
  }

  function handleStatus(response: http.ServerResponse, text: string) {
    const envelope = parseEnvelope(text);
    const refusal = signedQueryRefusal(envelope);
    if (refusal !== null || envelope === null)
      return replyResult(response, refusal ?? failed('1001', 'Invalid'));
    const orderId = envelope.body.orderId;
    if (typeof orderId !== 'string' || orderId === '') {
      return replyResult(response, failed('334', 'Invalid Order Id'));
    }
    const payment = payments.get(orderId);
    if (payment === undefined) {
      return replyResult(response, {
        resultStatus: 'NO_RECORD_FOUND',
        resultCode: '331',
        resultMsg: 'No Record Found',
      });
    }
    replyJson(response, statusBody(payment), true);
  }

  function statusBody(payment: FakePayment): Record<string, unknown> {
    const gateway = GATEWAY_BY_MODE[payment.mode];
    return {
      resultInfo: RESULT_BY_STATUS[payment.status],
      txnId: payment.txnId,
      bankTxnId: payment.bankTxnId,
      orderId: payment.orderId,
      txnAmount: rupees(payment.amountMinor),
      txnType: 'SALE',
      gatewayName: gateway.gatewayName,
      bankName: gateway.bankName,
      mid,
      paymentMode: payment.mode,
      refundAmt: rupees(payment.refundedMinor),
      txnDate: paytmDate(payment.createdAt),
    };
  }

  function refundRefusal(body: Record<string, unknown>, payment?: FakePayment): ResultInfo | null {
    const mandatory = [body.orderId, body.txnId, body.refId, body.refundAmount];
    if (body.txnType !== 'REFUND' || mandatory.some((value) => typeof value !== 'string' || value === '')) {
      return failed('1007', 'Missing mandatory element');
    }
    if (payment === undefined) return failed('631', 'Record not found');
    if (payment.txnId !== body.txnId) return failed('627', 'Order Details Mismatch');
    if (payment.status !== 'TXN_SUCCESS')
      return failed('600', 'Invalid refund request or restricted by bank.');
    if (payment.refundIds.has(body.refId as string)) return failed('617', 'Refund Already Raised');
    const amount = body.refundAmount as string;
    const amountMinor = AMOUNT_PATTERN.test(amount) ? toMinor(amount) : 0n;
    if (amountMinor <= 0n || payment.refundedMinor + amountMinor > payment.amountMinor) {
      return failed('619', 'Invalid refund amount');
    }
    return null;
  }

  function handleRefund(response: http.ServerResponse, text: string) {
    const envelope = parseEnvelope(text);
    const refusal = signedQueryRefusal(envelope);
    if (refusal !== null || envelope === null)
      return replyResult(response, refusal ?? failed('1001', 'Invalid'));
    const { body } = envelope;
    const payment = payments.get(String(body.orderId ?? ''));
    const refundRefused = refundRefusal(body, payment);
    if (refundRefused !== null || payment === undefined) {
      return replyResult(response, refundRefused ?? failed('631', 'Record not found'));
    }
    const amountMinor = toMinor(body.refundAmount as string);
    payment.refundedMinor += amountMinor;
    payment.refundIds.add(body.refId as string);
    const refund: FakeRefund = {
      refundId: `${newTxnId().slice(0, 14)}${digits(10)}`,
      refId: body.refId as string,
      orderId: payment.orderId,
      amountMinor,
      requestedAt: new Date(),
      status: 'PENDING',
    };
    refunds.set(refund.refundId, refund);
    replyJson(
      response,
      {
        txnTimestamp: paytmDate(new Date()),
        orderId: payment.orderId,
        mid,
        refId: body.refId,
        resultInfo: {
          resultStatus: 'PENDING',
          resultCode: '601',
          resultMsg: 'Refund request was raised for this transaction. But it is pending state.',
        },
        refundId: refund.refundId,
        txnId: payment.txnId,
        refundAmount: rupees(amountMinor),
      },
      true,
    );
  }

  /** `/v2/refund/status`: a refund by the orderId it refunds and our refId for it. */
  function handleRefundStatus(response: http.ServerResponse, text: string) {
    if (state.refundStatusBehaviour === 'timeout') return hold(response);
    if (state.refundStatusBehaviour === 'error') return replyOutage(response);
    const envelope = parseEnvelope(text);
    const refusal = signedQueryRefusal(envelope);
    if (refusal !== null || envelope === null)
      return replyResult(response, refusal ?? failed('1001', 'Invalid'));
    const { orderId, refId } = envelope.body;
    if (typeof orderId !== 'string' || typeof refId !== 'string' || orderId === '' || refId === '') {
      return replyResult(response, failed('1007', 'Missing mandatory element'));
    }
    const refund = [...refunds.values()].find((one) => one.orderId === orderId && one.refId === refId);
    const payment = payments.get(orderId);
    if (refund === undefined || payment === undefined) {
      return replyResult(response, failed('631', 'Record not found'));
    }
    replyJson(response, refundStatusBody(payment, refund), true);
  }

  function refundStatusBody(payment: FakePayment, refund: FakeRefund): Record<string, unknown> {
    const succeeded = refund.status === 'TXN_SUCCESS';
    const requestedAt = paytmDate(refund.requestedAt);
    return {
      orderId: payment.orderId,
      userCreditInitiateStatus: succeeded ? 'SUCCESS' : 'PENDING',
      mid,
      merchantRefundRequestTimestamp: requestedAt,
      source: 'MERCHANT',
      resultInfo: REFUND_RESULT_BY_STATUS[refund.status] ?? {
        resultStatus: refund.status,
        resultCode: '000',
        resultMsg: refund.status,
      },
      txnTimestamp: paytmDate(payment.createdAt),
      acceptRefundTimestamp: requestedAt,
      acceptRefundStatus: refund.status === 'TXN_FAILURE' ? 'FAILED' : 'SUCCESS',
      refundDetailInfoList: succeeded
        ? [{ refundType: 'TO_SOURCE', payMethod: payment.mode, refundAmount: rupees(refund.amountMinor) }]
        : [],
      totalRefundAmount: rupees(payment.refundedMinor),
      refId: refund.refId,
      txnAmount: rupees(payment.amountMinor),
      refundId: refund.refundId,
      txnId: payment.txnId,
      refundAmount: rupees(refund.amountMinor),
    };
  }

  function refundOrThrow(refundId: string): FakeRefund {
    const refund = refunds.get(refundId);
    if (refund === undefined) throw new Error(`the fake Paytm has no refund ${refundId}`);
    return refund;
  }

  function route(request: http.IncomingMessage, response: http.ServerResponse, text: string) {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/theia/api/v1/showPaymentPage') {
      const fields = request.method === 'POST' ? new URLSearchParams(text) : url.searchParams;
      return handlePaymentPage(response, fields);
    }
    const isJson = (request.headers['content-type'] ?? '').startsWith('application/json');
    if (request.method !== 'POST') return reply(response, 405, 'Method Not Allowed', 'text/plain');
    if (!isJson) return reply(response, 415, 'Unsupported Media Type', 'text/plain');
    switch (url.pathname) {
      case '/theia/api/v1/initiateTransaction':
        return handleInitiate(response, url.searchParams, text);
      case '/theia/api/v1/processTransaction':
        return handleProcess(response, url.searchParams, text);
      case '/v3/order/status':
        return handleStatus(response, text);
      case '/refund/apply':
        return handleRefund(response, text);
      case '/v2/refund/status':
        return handleRefundStatus(response, text);
      default:
        return reply(response, 404, 'Not Found', 'text/plain');
    }
  }

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes <= REQUEST_BYTES_MAX) chunks.push(chunk);
    });
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: { ...request.headers },
        body: text,
      });
      if (bytes > REQUEST_BYTES_MAX) return reply(response, 413, 'Request Entity Too Large', 'text/plain');
      route(request, response, text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function paymentOrThrow(attemptId: string): FakePayment {
    const payment = payments.get(attemptId);
    if (payment === undefined) throw new Error(`the fake Paytm has no order ${attemptId}`);
    return payment;
  }

  function webhookFor(
    attemptId: string,
    outcome: 'succeeded' | 'failed' | 'pending',
    options: { tamper?: boolean; eventId?: string; ageSec?: number } = {},
  ): SignedWebhook {
    const payment = paymentOrThrow(attemptId);
    const status: PaytmStatus =
      outcome === 'succeeded' ? 'TXN_SUCCESS' : outcome === 'failed' ? 'TXN_FAILURE' : 'PENDING';
    const eventId = `${payment.txnId}:${status}`;
    if (options.eventId !== undefined && options.eventId !== eventId) {
      throw new Error(`Paytm webhooks carry no event id; this one's is ${eventId}, not ${options.eventId}`);
    }
    const result = RESULT_BY_STATUS[status];
    const gateway = GATEWAY_BY_MODE[payment.mode];
    const txnDate =
      options.ageSec === undefined ? payment.createdAt : new Date(Date.now() - options.ageSec * 1000);
    const fields: Record<string, string> = {
      BANKNAME: gateway.bankName,
      BANKTXNID: status === 'PENDING' ? '' : payment.bankTxnId || digits(12),
      CURRENCY: 'INR',
      GATEWAYNAME: gateway.gatewayName,
      MID: mid,
      ORDERID: payment.orderId,
      PAYMENTMODE: payment.mode,
      RESPCODE: result.resultCode,
      RESPMSG: result.resultMsg,
      STATUS: status,
      TXNAMOUNT: rupees(payment.amountMinor),
      TXNDATE: paytmDate(txnDate),
      TXNID: payment.txnId,
    };
    const signedFields: Record<string, string> = { ...fields, CHECKSUMHASH: formChecksum(fields, key) };
    if (options.tamper === true) signedFields.TXNAMOUNT = rupees(payment.amountMinor + 100n);
    return {
      body: new URLSearchParams(signedFields).toString(),
      headers: { 'content-type': FORM_CONTENT_TYPE },
    };
  }

  return {
    baseUrl,
    credentials,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value: FakeBehaviour) {
      state.behaviour = value;
    },
    requests,
    paymentFor(attemptId) {
      const payment = payments.get(attemptId);
      if (payment === undefined) return undefined;
      return { gatewayReference: payment.txnId, status: payment.status, amountMinor: payment.amountMinor };
    },
    get refundStatusBehaviour() {
      return state.refundStatusBehaviour;
    },
    set refundStatusBehaviour(value: FakeRefundStatusBehaviour) {
      state.refundStatusBehaviour = value;
    },
    settleRefund(refundId, outcome) {
      const refund = refundOrThrow(refundId);
      if (outcome === 'failed' && refund.status !== 'TXN_FAILURE') {
        // What a failed refund took is refundable again.
        const payment = payments.get(refund.orderId);
        if (payment !== undefined) payment.refundedMinor -= refund.amountMinor;
      }
      refund.status = outcome === 'succeeded' ? 'TXN_SUCCESS' : 'TXN_FAILURE';
    },
    setRefundStatus(refundId, status) {
      refundOrThrow(refundId).status = status;
    },
    settle(attemptId, outcome) {
      const payment = paymentOrThrow(attemptId);
      payment.status = outcome === 'succeeded' ? 'TXN_SUCCESS' : 'TXN_FAILURE';
      if (payment.bankTxnId === '') payment.bankTxnId = digits(12);
    },
    webhookFor,
    async close() {
      for (const response of held) response.destroy();
      held.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
