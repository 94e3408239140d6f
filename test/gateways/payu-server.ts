import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local imitation of PayU India's classic API for tests: `/_payment` (the S2S UPI flow
 * `txn_s2s_flow=4`, and the hosted form), and `/merchant/postservice.php` (`verify_payment`,
 * `cancel_refund_transaction`, `check_action_status`, `create_invoice`). The S2S flow takes the
 * payer's `s2s_client_ip` and `s2s_device_info`, which PayU's UPI S2S pages ask for (for its fraud
 * checks) without listing them mandatory; they are outside the hash and recorded with the request.
 * Every request is checked the way PayU checks it
 * (the merchant key and the SHA-512 hash over PayU's field order, ending in the salt) and refused
 * PayU's way: HTTP 200 with an E700 body for `_payment`, `{ status: 0, msg: "Invalid Hash." }`
 * for the general API. Callbacks are signed with PayU's reverse hash.
 *
 * Its hashing is written out here on purpose rather than imported from the connector, so that a
 * mistake in the connector's field order fails the tests instead of agreeing with itself.
 */

import type {
  FakeBehaviour,
  FakeGateway,
  FakeRefundStatusBehaviour,
  RecordedRequest,
  SignedWebhook,
} from './fake-gateway.ts';

export type { FakeBehaviour, FakeGateway, FakeRefundStatusBehaviour, RecordedRequest, SignedWebhook };

// PayU's answers to the shared API: initiate means `_payment` and `create_invoice`. Its callback
// signs no timestamp and carries no event id (the connector names the event by mihpayid and
// status), so `ageSec` only back-dates `addedon`, which is unsigned, and `eventId` must be the id
// the same payment and status already give (a replay) or webhookFor throws. Refunds are queued
// (error_code 102), as PayU queues them, until `settleRefund`; `check_action_status` by request_id
// reports them in PayU's words (queued, success, failure).

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
const REQUEST_BYTES_MAX = 64 * 1024;
const AMOUNT_PATTERN = /^\d+(?:\.\d{1,2})?$/;
const MERCHANT_NAME = 'Tijori Test Merchant';
const MERCHANT_VPA = 'tijori.payu@hdfcbank';
/** PayU's payment ids are 18-digit numbers; these count up from a realistic one. */
const FIRST_PAYU_ID = 403993715531000000n;
const FIRST_REFUND_REQUEST_ID = 131299786;
const DECLINE_CODE = 'E348';
const DECLINE_MESSAGE = 'Transaction declined by the issuer';
const HASH_FAILURE_CODE = 'E700';
const HASH_FAILURE_MESSAGE = 'Validation of secure hash failed';
const MANDATORY_FIELDS = [
  'key',
  'txnid',
  'amount',
  'productinfo',
  'firstname',
  'surl',
  'furl',
  'hash',
] as const;

type PayuStatus = 'success' | 'failure' | 'pending';

/** What the fake answers a request with; `hold` keeps it unanswered (a PayU that went silent). */
type Answer = { readonly status: number; readonly body: string; readonly contentType: string } | 'hold';

function json(body: unknown): Answer {
  return {
    status: 200,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    contentType: 'application/json',
  };
}

function plain(status: number, body: string, contentType = 'text/plain'): Answer {
  return { status, body, contentType };
}

/** PayU's generic outage page. */
const OUTAGE = plain(503, '<html><body><h1>Pardon, Some Problem Occurred</h1></body></html>', 'text/html');

interface FakePayment {
  readonly txnid: string;
  readonly mihpayid: string;
  readonly amount: string;
  readonly amountMinor: bigint;
  readonly productinfo: string;
  readonly firstname: string;
  readonly email: string;
  readonly phone: string;
  readonly udf: readonly string[];
  readonly mode: 'UPI' | 'CC';
  status: PayuStatus;
  unmappedstatus: string;
  error: string;
  errorMessage: string;
  readonly addedon: Date;
  refundedMinor: bigint;
  readonly refundTokens: Set<string>;
}

interface FakeRefund {
  readonly requestId: string;
  readonly mihpayid: string;
  readonly token: string;
  readonly amountMinor: bigint;
  readonly mode: FakePayment['mode'];
  status: string;
}

function sha512(text: string): string {
  return createHash('sha512').update(text, 'utf8').digest('hex');
}

function hashesMatch(expected: string, given: string): boolean {
  const expectedBytes = Buffer.from(expected, 'utf8');
  const givenBytes = Buffer.from(given.toLowerCase(), 'utf8');
  return expectedBytes.length === givenBytes.length && timingSafeEqual(expectedBytes, givenBytes);
}

function toMinor(amount: string): bigint {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

function rupees(minor: bigint): string {
  return `${minor / 100n}.${(minor % 100n).toString().padStart(2, '0')}`;
}

function payuDate(date: Date): string {
  return date.toISOString().replace('T', ' ').slice(0, 19);
}

const UNMAPPED_BY_STATUS: Record<PayuStatus, string> = {
  success: 'captured',
  failure: 'failed',
  pending: 'pending',
};

export async function startPayuGateway(options?: {
  credentials?: Record<string, string>;
}): Promise<FakeGateway> {
  const credentials = options?.credentials ?? {
    merchantKey: `tj${randomBytes(3).toString('hex')}`,
    merchantSalt: randomBytes(16).toString('hex'),
  };
  const key = credentials.merchantKey ?? '';
  const salt = credentials.merchantSalt ?? '';
  const payments = new Map<string, FakePayment>();
  const refunds = new Map<string, FakeRefund>();
  const requests: RecordedRequest[] = [];
  const held = new Set<http.ServerResponse>();
  let nextPayuId = FIRST_PAYU_ID;
  let nextRefundRequestId = FIRST_REFUND_REQUEST_ID;
  let baseUrl = '';

  const state = {
    behaviour: 'succeed' as FakeBehaviour,
    refundStatusBehaviour: 'answer' as FakeRefundStatusBehaviour,
  };

  function createPayment(
    fields: URLSearchParams,
    mode: FakePayment['mode'],
    status: PayuStatus,
  ): FakePayment {
    const amount = fields.get('amount') ?? '';
    const payment: FakePayment = {
      txnid: fields.get('txnid') ?? '',
      mihpayid: String(nextPayuId++),
      amount,
      amountMinor: toMinor(amount),
      productinfo: fields.get('productinfo') ?? '',
      firstname: fields.get('firstname') ?? '',
      email: fields.get('email') ?? '',
      phone: fields.get('phone') ?? '',
      udf: [1, 2, 3, 4, 5].map((index) => fields.get(`udf${index}`) ?? ''),
      mode,
      status,
      unmappedstatus: UNMAPPED_BY_STATUS[status],
      error: status === 'failure' ? DECLINE_CODE : 'E000',
      errorMessage: status === 'failure' ? DECLINE_MESSAGE : 'No Error',
      addedon: new Date(),
      refundedMinor: 0n,
      refundTokens: new Set(),
    };
    payments.set(payment.txnid, payment);
    return payment;
  }

  function statusForBehaviour(): PayuStatus {
    if (state.behaviour === 'succeed') return 'success';
    return state.behaviour === 'decline' ? 'failure' : 'pending';
  }

  /** sha512(key|txnid|amount|productinfo|firstname|email|udf1|...|udf5||||||SALT) */
  function expectedPaymentHash(fields: URLSearchParams): string {
    const names = [
      'key',
      'txnid',
      'amount',
      'productinfo',
      'firstname',
      'email',
      'udf1',
      'udf2',
      'udf3',
      'udf4',
      'udf5',
    ];
    return sha512(`${names.map((name) => fields.get(name) ?? '').join('|')}||||||${salt}`);
  }

  /** The S2S flow's JSON error: no transaction, so no result. */
  function s2sRefusal(fields: URLSearchParams, message: string, code: string | null): Answer {
    return json({
      metaData: {
        message,
        referenceId: randomBytes(32).toString('hex'),
        statusCode: code,
        txnId: fields.get('txnid'),
        txnStatus: 'failed',
        unmappedStatus: 'failed',
      },
      result: null,
    });
  }

  function handlePayment(fields: URLSearchParams): Answer {
    if (state.behaviour === 'timeout') return 'hold';
    if (state.behaviour === 'error') return OUTAGE;
    const missing = MANDATORY_FIELDS.find((name) => (fields.get(name) ?? '') === '');
    if (missing !== undefined) {
      return s2sRefusal(fields, `Mandatory param missing: ${missing}`, null);
    }
    const hashValid =
      fields.get('key') === key && hashesMatch(expectedPaymentHash(fields), fields.get('hash') ?? '');
    if (state.behaviour === 'unauthorized' || !hashValid) {
      return s2sRefusal(fields, HASH_FAILURE_MESSAGE, HASH_FAILURE_CODE);
    }
    if (!AMOUNT_PATTERN.test(fields.get('amount') ?? '')) return s2sRefusal(fields, 'Invalid amount', null);
    if (payments.has(fields.get('txnid') ?? '')) {
      return s2sRefusal(fields, 'Duplicate transaction ID: this txnid was used before', null);
    }
    if (fields.get('txn_s2s_flow') !== '4') {
      // The hosted form a browser posts: PayU shows its payment page.
      createPayment(fields, 'CC', 'pending');
      return plain(200, '<html><body>PayU hosted checkout</body></html>', 'text/html');
    }
    return handleUpi(fields);
  }

  function handleUpi(fields: URLSearchParams): Answer {
    const bankcode = fields.get('bankcode');
    if (fields.get('pg') !== 'UPI' || (bankcode !== 'INTENT' && bankcode !== 'UPI')) {
      return s2sRefusal(fields, 'Invalid pg or bankcode for this flow', null);
    }
    if (bankcode === 'UPI' && !/^[\w.-]+@[\w.-]+$/.test(fields.get('vpa') ?? '')) {
      return s2sRefusal(fields, 'Invalid VPA', null);
    }
    const payment = createPayment(fields, 'UPI', statusForBehaviour());
    const result =
      bankcode === 'INTENT'
        ? {
            paymentId: '__PAYMENT_ID__',
            merchantName: MERCHANT_NAME,
            merchantVpa: MERCHANT_VPA,
            amount: payment.amount,
            intentURIData: `pa=${MERCHANT_VPA}&pn=${encodeURIComponent(MERCHANT_NAME)}&tr=${payment.mihpayid}&am=${payment.amount}&cu=INR&tn=${encodeURIComponent(`UPI Transaction for ${payment.txnid}`)}`,
          }
        : { paymentId: '__PAYMENT_ID__', otpPostUrl: `${baseUrl}/ResponseHandler.php` };
    const body = JSON.stringify({
      metaData: {
        message: payment.status === 'failure' ? payment.errorMessage : null,
        referenceId: randomBytes(32).toString('hex'),
        statusCode: payment.status === 'failure' ? payment.error : null,
        txnId: payment.txnid,
        txnStatus: payment.status === 'failure' ? 'failed' : payment.status,
        unmappedStatus: payment.unmappedstatus,
      },
      result,
    });
    // PayU writes the 18-digit payment id as a bare JSON number, as its documentation shows.
    return json(body.replace('"__PAYMENT_ID__"', payment.mihpayid));
  }

  function handlePostService(fields: URLSearchParams): Answer {
    const command = fields.get('command') ?? '';
    const isInitiate = command === 'create_invoice';
    if (isInitiate && state.behaviour === 'timeout') return 'hold';
    if (isInitiate && state.behaviour === 'error') return OUTAGE;
    if (command === 'check_action_status' && state.refundStatusBehaviour === 'timeout') return 'hold';
    if (command === 'check_action_status' && state.refundStatusBehaviour === 'error') return OUTAGE;
    const var1 = fields.get('var1') ?? '';
    const expected = sha512(`${key}|${command}|${var1}|${salt}`);
    const hashValid = fields.get('key') === key && hashesMatch(expected, fields.get('hash') ?? '');
    if (!hashValid || (isInitiate && state.behaviour === 'unauthorized')) {
      return json({ status: 0, msg: 'Invalid Hash.' });
    }
    switch (command) {
      case 'verify_payment':
        return json(verifyPayment(var1));
      case 'cancel_refund_transaction':
        return json(refundPayment(var1, fields.get('var2') ?? '', fields.get('var3') ?? ''));
      case 'check_action_status':
        return json(actionStatus(var1));
      case 'create_invoice':
        return createInvoice(var1);
      default:
        return json({ status: 0, msg: 'Invalid Command.' });
    }
  }

  function verifyPayment(var1: string): unknown {
    const txnids = var1.split('|');
    const details: Record<string, unknown> = {};
    let found = 0;
    for (const txnid of txnids) {
      const payment = payments.get(txnid);
      if (payment === undefined) {
        details[txnid] = { mihpayid: 'Not Found', status: 'Not Found' };
        continue;
      }
      found += 1;
      details[txnid] = transactionDetails(payment);
    }
    return {
      status: found > 0 ? 1 : 0,
      msg: `${found} out of ${txnids.length} Transactions Fetched Successfully`,
      transaction_details: details,
    };
  }

  function transactionDetails(payment: FakePayment): Record<string, unknown> {
    const [udf1, udf2, udf3, udf4, udf5] = payment.udf;
    return {
      mihpayid: payment.mihpayid,
      request_id: '',
      bank_ref_num: payment.status === 'success' ? payment.mihpayid.slice(-12) : null,
      amt: payment.amount,
      transaction_amount: payment.amount,
      txnid: payment.txnid,
      additional_charges: '0.00',
      productinfo: payment.productinfo,
      firstname: payment.firstname,
      bankcode: payment.mode === 'UPI' ? 'UPI' : 'CC',
      udf1,
      udf2,
      udf3,
      udf4,
      udf5,
      field9: payment.errorMessage,
      error_code: payment.error,
      addedon: payuDate(payment.addedon),
      payment_source: 'payu',
      error_Message: payment.errorMessage,
      net_amount_debit: payment.status === 'success' ? payment.amount : '0',
      disc: '0.00',
      mode: payment.mode,
      PG_TYPE: payment.mode === 'UPI' ? 'UPI-PG' : 'CC-PG',
      status: payment.status,
      unmappedstatus: payment.unmappedstatus,
    };
  }

  function refundPayment(mihpayid: string, token: string, amount: string): unknown {
    const payment = [...payments.values()].find((candidate) => candidate.mihpayid === mihpayid);
    if (payment === undefined) return { status: 0, msg: 'Transaction Not Found', error_code: 116, mihpayid };
    if (token === '' || !AMOUNT_PATTERN.test(amount)) {
      return { status: 0, msg: 'Input Data missing', error_code: 124, mihpayid };
    }
    if (payment.refundTokens.has(token))
      return { status: 0, msg: 'Token already exists.', error_code: 106, mihpayid };
    if (payment.status !== 'success')
      return { status: 0, msg: 'Invalid transaction status', error_code: 111, mihpayid };
    const amountMinor = toMinor(amount);
    if (amountMinor <= 0n || payment.refundedMinor + amountMinor > payment.amountMinor) {
      return { status: 0, msg: 'Refund FAILURE - Invalid amount', error_code: 105, mihpayid };
    }
    payment.refundedMinor += amountMinor;
    payment.refundTokens.add(token);
    const requestId = String(nextRefundRequestId++);
    refunds.set(requestId, { requestId, mihpayid, token, amountMinor, mode: payment.mode, status: 'queued' });
    return {
      status: 1,
      msg: 'Refund Request Queued',
      request_id: requestId,
      bank_ref_num: null,
      mihpayid,
      error_code: 102,
    };
  }

  /** check_action_status by a refund's request_id (PayU's "Check Refund Status API with Request ID"). */
  function actionStatus(requestId: string): unknown {
    const refund = refunds.get(requestId);
    if (refund === undefined) {
      return {
        status: 0,
        msg: '0 out of 1 Transactions Fetched Successfully',
        transaction_details: { [requestId]: 'No action status found' },
      };
    }
    const done = refund.status === 'success';
    return {
      status: 1,
      msg: '1 out of 1 Transactions Fetched Successfully',
      transaction_details: {
        [requestId]: {
          [requestId]: {
            mihpayid: refund.mihpayid,
            bank_ref_num: done ? refund.mihpayid.slice(-12) : null,
            request_id: requestId,
            amt: rupees(refund.amountMinor),
            mode: refund.mode,
            action: 'refund',
            token: refund.token,
            status: refund.status,
            bank_arn: null,
            settlement_id: null,
            amount_settled: null,
            UTR_no: null,
            value_date: null,
            refund_mode: 'Back to Source',
          },
        },
      },
    };
  }

  function refundOrThrow(requestId: string): FakeRefund {
    const refund = refunds.get(requestId);
    if (refund === undefined) throw new Error(`the fake PayU has no refund request ${requestId}`);
    return refund;
  }

  /** The general API's payment link; its refusals are bare sentences, as PayU's are. */
  function createInvoice(var1: string): Answer {
    let details: Record<string, unknown>;
    try {
      details = JSON.parse(var1) as Record<string, unknown>;
    } catch {
      return plain(200, 'Invalid var1');
    }
    for (const name of ['amount', 'txnid', 'productinfo', 'firstname']) {
      if (typeof details[name] !== 'string' || details[name] === '') {
        return plain(200, `Invalid ${name}`);
      }
    }
    if (!AMOUNT_PATTERN.test(details.amount as string)) return plain(200, 'Invalid amount');
    if (payments.has(details.txnid as string)) {
      return plain(200, 'Invoice for this transaction ID already exists.');
    }
    const fields = new URLSearchParams(details as Record<string, string>);
    const payment = createPayment(fields, 'CC', statusForBehaviour());
    return json({
      'Transaction Id': payment.txnid,
      'Email Id': payment.email,
      Phone: payment.phone,
      Status: 'Success',
      URL: `${baseUrl}/processInvoice?invoiceId=${randomBytes(32).toString('hex')}`,
    });
  }

  function route(request: http.IncomingMessage, body: string): Answer {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (request.method === 'GET' && url.pathname === '/processInvoice') {
      return plain(200, '<html><body>PayU payment options</body></html>', 'text/html');
    }
    const isForm = (request.headers['content-type'] ?? '').startsWith(FORM_CONTENT_TYPE);
    if (request.method !== 'POST' || !isForm) return plain(405, 'Method Not Allowed');
    const fields = new URLSearchParams(body);
    if (url.pathname === '/_payment') return handlePayment(fields);
    if (url.pathname === '/merchant/postservice.php' || url.pathname === '/merchant/postservice') {
      return handlePostService(fields);
    }
    return plain(404, 'Not Found');
  }

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes <= REQUEST_BYTES_MAX) chunks.push(chunk);
    });
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: { ...request.headers },
        body,
      });
      const answer =
        bytes > REQUEST_BYTES_MAX ? plain(413, 'Request Entity Too Large') : route(request, body);
      if (answer === 'hold') {
        held.add(response);
        response.on('close', () => held.delete(response));
        return;
      }
      response.writeHead(answer.status, { 'content-type': answer.contentType });
      response.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function paymentOrThrow(attemptId: string): FakePayment {
    const payment = payments.get(attemptId);
    if (payment === undefined) throw new Error(`the fake PayU has no payment for txnid ${attemptId}`);
    return payment;
  }

  function webhookFor(
    attemptId: string,
    outcome: 'succeeded' | 'failed' | 'pending',
    options: { tamper?: boolean; eventId?: string; ageSec?: number } = {},
  ): SignedWebhook {
    const payment = paymentOrThrow(attemptId);
    const status: PayuStatus =
      outcome === 'succeeded' ? 'success' : outcome === 'failed' ? 'failure' : 'pending';
    const eventId = `${payment.mihpayid}:${status}`;
    if (options.eventId !== undefined && options.eventId !== eventId) {
      throw new Error(`PayU callbacks carry no event id; this one's is ${eventId}, not ${options.eventId}`);
    }
    const [udf1 = '', udf2 = '', udf3 = '', udf4 = '', udf5 = ''] = payment.udf;
    const hash = sha512(
      [
        salt,
        status,
        '',
        '',
        '',
        '',
        '',
        udf5,
        udf4,
        udf3,
        udf2,
        udf1,
        payment.email,
        payment.firstname,
        payment.productinfo,
        payment.amount,
        payment.txnid,
        key,
      ].join('|'),
    );
    const failed = status === 'failure';
    const fields = new URLSearchParams({
      mihpayid: payment.mihpayid,
      mode: payment.mode,
      status,
      unmappedstatus: UNMAPPED_BY_STATUS[status],
      key,
      txnid: payment.txnid,
      amount: options.tamper === true ? rupees(payment.amountMinor + 100n) : payment.amount,
      discount: '0.00',
      net_amount_debit: status === 'success' ? payment.amount : '0',
      addedon: payuDate(new Date(Date.now() - (options.ageSec ?? 0) * 1000)),
      productinfo: payment.productinfo,
      firstname: payment.firstname,
      lastname: '',
      email: payment.email,
      phone: payment.phone,
      udf1,
      udf2,
      udf3,
      udf4,
      udf5,
      hash,
      field9: failed
        ? DECLINE_MESSAGE
        : status === 'success'
          ? 'Transaction Completed Successfully'
          : 'Pending',
      payment_source: 'payu',
      PG_TYPE: payment.mode === 'UPI' ? 'UPI-PG' : 'CC-PG',
      bank_ref_num: status === 'success' ? payment.mihpayid.slice(-12) : '',
      bankcode: payment.mode === 'UPI' ? 'UPI' : 'CC',
      error: failed ? DECLINE_CODE : 'E000',
      error_Message: failed ? DECLINE_MESSAGE : 'No Error',
    });
    return { body: fields.toString(), headers: { 'content-type': FORM_CONTENT_TYPE } };
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
      return { gatewayReference: payment.mihpayid, status: payment.status, amountMinor: payment.amountMinor };
    },
    get refundStatusBehaviour() {
      return state.refundStatusBehaviour;
    },
    set refundStatusBehaviour(value: FakeRefundStatusBehaviour) {
      state.refundStatusBehaviour = value;
    },
    settleRefund(requestId, outcome) {
      const refund = refundOrThrow(requestId);
      if (outcome === 'failed' && refund.status !== 'failure') {
        // What a failed refund took is refundable again.
        const payment = [...payments.values()].find((candidate) => candidate.mihpayid === refund.mihpayid);
        if (payment !== undefined) payment.refundedMinor -= refund.amountMinor;
      }
      refund.status = outcome === 'succeeded' ? 'success' : 'failure';
    },
    setRefundStatus(requestId, status) {
      refundOrThrow(requestId).status = status;
    },
    settle(attemptId, outcome) {
      const payment = paymentOrThrow(attemptId);
      payment.status = outcome === 'succeeded' ? 'success' : 'failure';
      payment.unmappedstatus = UNMAPPED_BY_STATUS[payment.status];
      payment.error = outcome === 'succeeded' ? 'E000' : DECLINE_CODE;
      payment.errorMessage = outcome === 'succeeded' ? 'No Error' : DECLINE_MESSAGE;
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
