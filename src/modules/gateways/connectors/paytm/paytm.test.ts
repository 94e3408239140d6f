import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeGateway,
  type SignedWebhook,
  startPaytmGateway,
} from '../../../../../test/gateways/paytm-server.ts';
import { uuidv7 } from '../../../../lib/ids.ts';
import type {
  ConnectorContext,
  InboundWebhook,
  InitiateRequest,
  PaymentMethod,
  RefundStatusRequest,
} from '../connector.ts';
import { isRetryable } from '../http.ts';
import {
  generateParamsSignature,
  generateSignature,
  isUsableMerchantKey,
  paramsSigningText,
  verifyParamsSignature,
  verifySignature,
} from './checksum.ts';
import { PAYTM_PATHS, paytmConnector } from './connector.ts';
import {
  amountMinorOf,
  formatTxnDate,
  paymentOutcome,
  readResultInfo,
  refundResult,
  refundStatusResult,
  replyBody,
  requestResult,
  statusQueryOutcome,
  txnDateMs,
} from './mapping.ts';

/**
 * The Paytm connector against a local imitation of Paytm's APIs over real HTTP, plus its checksum
 * against vectors made with Paytm's own Node kit (`paytmchecksum` 1.5.1) and its mapping against
 * recorded sample replies.
 */

const SAMPLE_KEY = 'TiJoRiTeStKeY#16';
const OTHER_KEY = 'AnotherKey#16chr';
const SAMPLE_BODY_TEXT = '{"mid":"TIJORI00000000000001","orderId":"0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}';
/** paytmchecksum's calculateChecksum(SAMPLE_BODY_TEXT, SAMPLE_KEY, 'AbC1'). */
const KIT_CHECKSUM_FIXED_SALT =
  'NUte/IWGx4kzVP7RjVAt6oa9LBdhKp3qDViEkYpJs7PGf6FRAXWakFLDhutTpzg7Y7FiwvFM3D2n+nyl9OApHR0FxFoWIEP1Z+3MU9m2fkk=';
/** paytmchecksum's generateSignature(SAMPLE_BODY_TEXT, SAMPLE_KEY), random salt. */
const KIT_CHECKSUM_RANDOM_SALT =
  'DCk6qojjxpgK0USNLCUlhQNDEnu66QelXQel5o4etvLIoxxax0kPrkSl6Myca7y+zr/E5pgusRc1tPUQc7rT8+5ki005BRA+k70P8RYwbxg=';
const TIMEOUT_MS = 2_000;
const SHORT_TIMEOUT_MS = 150;
/** How long past its timeout a timed-out initiate may take to come back (event loop, CI noise). */
const TIMEOUT_SLACK_MS = 500;
const TOLERANCE_SEC = 300;

function sample(name: string): any {
  return JSON.parse(readFileSync(new URL(`./samples/${name}`, import.meta.url), 'utf8'));
}

function resultOf(name: string) {
  const info = readResultInfo(sample(name));
  if (info === null) throw new Error(`${name} has no resultInfo`);
  return info;
}

describe('Paytm checksum', () => {
  it("matches Paytm's Node kit for a fixed salt", () => {
    expect(generateSignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, 'AbC1')).toBe(KIT_CHECKSUM_FIXED_SALT);
  });

  it("verifies checksums the kit made, and the kit's reads back its salt", () => {
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, KIT_CHECKSUM_RANDOM_SALT)).toBe(true);
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, KIT_CHECKSUM_FIXED_SALT)).toBe(true);
  });

  it('round-trips with a random salt, and two checksums of one text differ', () => {
    const first = generateSignature(SAMPLE_BODY_TEXT, SAMPLE_KEY);
    const second = generateSignature(SAMPLE_BODY_TEXT, SAMPLE_KEY);
    expect(first).not.toBe(second);
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, first)).toBe(true);
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, second)).toBe(true);
  });

  it('refuses another text, another key, garbled and empty checksums, and unusable keys', () => {
    const checksum = generateSignature(SAMPLE_BODY_TEXT, SAMPLE_KEY);
    expect(verifySignature(SAMPLE_BODY_TEXT.replace('0001', '0002'), SAMPLE_KEY, checksum)).toBe(false);
    expect(verifySignature(SAMPLE_BODY_TEXT, OTHER_KEY, checksum)).toBe(false);
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, `x${checksum.slice(1)}`)).toBe(false);
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, 'not base64 at all!')).toBe(false);
    expect(verifySignature(SAMPLE_BODY_TEXT, SAMPLE_KEY, '')).toBe(false);
    expect(verifySignature(SAMPLE_BODY_TEXT, 'short', checksum)).toBe(false);
    expect(isUsableMerchantKey('short')).toBe(false);
    expect(() => generateSignature(SAMPLE_BODY_TEXT, 'short')).toThrow();
  });

  it('signs form fields sorted by name without CHECKSUMHASH, "null" read as empty', () => {
    const text = paramsSigningText({ ORDERID: 'o1', CHECKSUMHASH: 'x', BANKTXNID: 'NULL', MID: 'm' });
    expect(text).toBe('|m|o1');
    const fields = { TXNID: 't', STATUS: 'TXN_SUCCESS' };
    const checksum = generateParamsSignature(fields, SAMPLE_KEY);
    expect(verifyParamsSignature({ ...fields, CHECKSUMHASH: checksum }, SAMPLE_KEY, checksum)).toBe(true);
  });

  it("verifies the recorded webhook's CHECKSUMHASH, which the kit made", () => {
    const { merchantKey, fields } = sample('webhook-success.json');
    expect(verifyParamsSignature(fields, merchantKey, fields.CHECKSUMHASH)).toBe(true);
    expect(verifyParamsSignature({ ...fields, TXNAMOUNT: '1.00' }, merchantKey, fields.CHECKSUMHASH)).toBe(
      false,
    );
  });

  it('verifies the recorded replies head signatures over JSON.stringify(body)', () => {
    for (const name of ['initiate-success.json', 'status-success.json']) {
      const reply = sample(name);
      expect(verifySignature(JSON.stringify(replyBody(reply)), SAMPLE_KEY, reply.head.signature)).toBe(true);
    }
  });
});

describe('Paytm mapping', () => {
  it('reads the recorded initiate replies', () => {
    expect(requestResult(resultOf('initiate-success.json'))).toEqual({ accepted: true });
    expect(requestResult(resultOf('process-upi-intent.json'))).toEqual({ accepted: true });
    expect(requestResult(resultOf('initiate-checksum-invalid.json'))).toMatchObject({
      accepted: false,
      errorCode: 'AUTHENTICATION_FAILED',
      retryable: true,
    });
  });

  it('reads the recorded status replies', () => {
    expect(statusQueryOutcome(resultOf('status-success.json'))).toEqual({ status: 'succeeded' });
    expect(statusQueryOutcome(resultOf('status-declined.json'))).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
    });
  });

  it('reads the recorded refund replies', () => {
    expect(refundResult(resultOf('refund-pending.json'))).toEqual({ status: 'pending' });
    expect(refundResult(resultOf('refund-invalid-amount.json'))).toMatchObject({
      status: 'failed',
      errorCode: 'INVALID_REQUEST',
      retryable: false,
    });
  });

  it('keeps pending what may still complete, and fails what it does not know as UNKNOWN', () => {
    const info = (resultStatus: string, resultCode = '') => ({ resultStatus, resultCode, resultMsg: 'm' });
    expect(statusQueryOutcome(info('NO_RECORD_FOUND', '331'))).toEqual({ status: 'pending' });
    expect(statusQueryOutcome(info('PENDING', '402'))).toEqual({ status: 'pending' });
    // A refused query (our checksum) says nothing about the payment.
    expect(statusQueryOutcome(info('TXN_FAILURE', '330'))).toEqual({ status: 'pending' });
    expect(paymentOutcome(info('TXN_SETTLED', '01'))).toMatchObject({
      status: 'failed',
      errorCode: 'UNKNOWN',
    });
    expect(paymentOutcome(info('TXN_FAILURE', '9999'))).toMatchObject({
      status: 'failed',
      errorCode: 'UNKNOWN',
    });
    expect(paymentOutcome(info('TXN_FAILURE', '235'))).toMatchObject({ errorCode: 'INSUFFICIENT_FUNDS' });
    expect(requestResult(info('X', '777'))).toMatchObject({
      accepted: false,
      errorCode: 'UNKNOWN',
      retryable: false,
    });
    expect(requestResult(info('F', '00000900'))).toMatchObject({
      errorCode: 'GATEWAY_ERROR',
      retryable: true,
    });
    expect(refundResult(info('TXN_FAILURE', '617'))).toEqual({ status: 'pending' });
  });

  it('reads the refund status API: its own statuses, a refused query and no record as unanswered', () => {
    const info = (resultStatus: string, resultCode = '') => ({ resultStatus, resultCode, resultMsg: 'm' });
    expect(refundStatusResult(resultOf('refund-status-success.json'))).toEqual({ status: 'succeeded' });
    expect(refundStatusResult(info('PENDING', '601'))).toEqual({ status: 'pending' });
    expect(refundStatusResult(info('TXN_FAILURE', '620'))).toMatchObject({
      status: 'failed',
      errorCode: 'GATEWAY_ERROR',
    });
    expect(refundStatusResult(info('TXN_FAILURE', '9999'))).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
    });
    expect(refundStatusResult(info('TXN_FAILURE', '330'))).toMatchObject({
      status: 'unanswered',
      errorCode: 'AUTHENTICATION_FAILED',
    });
    expect(refundStatusResult(info('TXN_FAILURE', '631'))).toMatchObject({
      status: 'unanswered',
      errorCode: 'INVALID_REQUEST',
    });
    for (const unknown of ['REFUND_SETTLED', 'constructor', 'S']) {
      expect(refundStatusResult(info(unknown, '10')), unknown).toEqual({ status: 'pending' });
    }
  });

  it("converts Paytm's rupee strings to paise exactly", () => {
    expect(amountMinorOf('123.45')).toBe(12345n);
    expect(amountMinorOf('1.0')).toBe(100n);
    expect(amountMinorOf('100')).toBe(10000n);
    expect(amountMinorOf('0.01')).toBe(1n);
    expect(amountMinorOf('90071992547409.93')).toBe(9007199254740993n);
    for (const bad of ['1.005', '-1.00', '1e3', '', '12.', ' 1.00']) expect(amountMinorOf(bad)).toBeNull();
  });

  it('reads TXNDATE as Indian time and writes it back', () => {
    expect(txnDateMs('2025-01-15 14:30:05.0')).toBe(Date.UTC(2025, 0, 15, 9, 0, 5));
    expect(txnDateMs('2025-01-15 14:30:05')).toBe(Date.UTC(2025, 0, 15, 9, 0, 5));
    expect(formatTxnDate(new Date(Date.UTC(2025, 0, 15, 9, 0, 5, 250)))).toBe('2025-01-15 14:30:05.2');
    for (const bad of ['2025-13-01 10:00:00.0', '2025-02-30 10:00:00.0', '7/24/2020 15:13:02', '']) {
      expect(txnDateMs(bad)).toBeNull();
    }
  });
});

describe('Paytm connector against the imitation server', () => {
  let gateway: FakeGateway;

  beforeAll(async () => {
    gateway = await startPaytmGateway();
  });
  afterAll(async () => {
    await gateway?.close();
  });
  beforeEach(() => {
    gateway.behaviour = 'succeed';
    gateway.refundStatusBehaviour = 'answer';
  });

  function context(overrides: Partial<ConnectorContext> = {}): ConnectorContext {
    return {
      gatewayId: 'gw_paytm_test',
      baseUrl: gateway.baseUrl,
      credentials: gateway.credentials,
      config: {},
      timeoutMs: TIMEOUT_MS,
      ...overrides,
    };
  }

  function paymentRequest(method: PaymentMethod, overrides: Partial<InitiateRequest> = {}): InitiateRequest {
    return {
      paymentId: uuidv7(),
      attemptId: uuidv7(),
      orderId: 'order-1001',
      amountMinor: 12345n,
      currency: 'INR',
      method,
      customer: { name: 'Asha Rao', email: 'asha@example.com', phone: '+91 98765 43210', vpa: 'asha@okaxis' },
      returnUrl: 'https://shop.example/return',
      notifyUrl: 'https://tijori.example/api/v1/webhooks/gateways/gw_paytm_test',
      ...overrides,
    };
  }

  /** The requests the fake received to `path` for this order, parsed. */
  function sentTo(path: string, orderId: string) {
    return gateway.requests
      .filter((request) => request.path.startsWith(path) && request.body.includes(orderId))
      .map((request) => ({
        ...request,
        url: new URL(request.path, gateway.baseUrl),
        json: JSON.parse(request.body),
      }));
  }

  function inbound(webhook: SignedWebhook, receivedAt = new Date()): InboundWebhook {
    return { rawBody: Buffer.from(webhook.body), headers: { ...webhook.headers }, receivedAt };
  }

  /** A payment Paytm reports successful, started as a UPI intent (whose reply names the TXNID). */
  async function succeededPayment(amountMinor = 12345n) {
    const request = paymentRequest('upi_intent', { amountMinor });
    const outcome = await paytmConnector.initiate(context(), request);
    if (outcome.status !== 'pending') throw new Error(`initiate ${outcome.status}`);
    return { request, txnId: outcome.gatewayReference };
  }

  describe('initiate', () => {
    it('UPI intent: a signed initiateTransaction in rupees, then the deep link Paytm returns', async () => {
      const request = paymentRequest('upi_intent');
      const outcome = await paytmConnector.initiate(context(), request);

      const payment = gateway.paymentFor(request.attemptId);
      expect(outcome).toEqual({
        status: 'pending',
        gatewayReference: payment?.gatewayReference,
        nextAction: { type: 'upi_intent', url: expect.stringMatching(/^upi:\/\/pay\?/) },
      });
      if (outcome.status !== 'pending' || outcome.nextAction.type !== 'upi_intent')
        throw new Error('no intent');
      expect(new URL(outcome.nextAction.url).searchParams.get('am')).toBe('123.45');
      expect(payment?.amountMinor).toBe(12345n);

      const [initiate] = sentTo(PAYTM_PATHS.initiate, request.attemptId);
      expect(initiate?.url.searchParams.get('mid')).toBe(gateway.credentials.merchantId);
      expect(initiate?.url.searchParams.get('orderId')).toBe(request.attemptId);
      expect(initiate?.json.body).toMatchObject({
        requestType: 'Payment',
        mid: gateway.credentials.merchantId,
        orderId: request.attemptId,
        callbackUrl: request.returnUrl,
        txnAmount: { value: '123.45', currency: 'INR' },
        userInfo: { custId: request.paymentId, email: 'asha@example.com', mobile: '9876543210' },
      });
      const signature = initiate?.json.head.signature;
      expect(
        verifySignature(JSON.stringify(initiate?.json.body), gateway.credentials.merchantKey!, signature),
      ).toBe(true);

      const [process] = sentTo(PAYTM_PATHS.process, request.attemptId);
      expect(process?.json.head.txnToken).toEqual(expect.any(String));
      expect(process?.json.body).toMatchObject({ requestType: 'NATIVE', paymentMode: 'UPI_INTENT' });
    });

    it("UPI collect: processTransaction with the payer's VPA; the order id is the reference", async () => {
      const request = paymentRequest('upi_collect');
      const outcome = await paytmConnector.initiate(context(), request);
      expect(outcome).toEqual({
        status: 'pending',
        gatewayReference: request.attemptId,
        nextAction: { type: 'upi_collect', vpa: 'asha@okaxis' },
      });
      const [process] = sentTo(PAYTM_PATHS.process, request.attemptId);
      expect(process?.json.body).toMatchObject({ paymentMode: 'UPI', payerAccount: 'asha@okaxis' });
    });

    it('UPI collect without a VPA is refused before anything is sent', async () => {
      const request = paymentRequest('upi_collect', { customer: { name: 'Asha Rao' } });
      const outcome = await paytmConnector.initiate(context(), request);
      expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
      expect(sentTo(PAYTM_PATHS.initiate, request.attemptId)).toHaveLength(0);
    });

    it("UPI collect to a VPA Paytm refuses fails as the payer's, not retryable", async () => {
      const request = paymentRequest('upi_collect', { customer: { name: 'Asha Rao', vpa: 'not a vpa' } });
      const outcome = await paytmConnector.initiate(context(), request);
      expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    });

    it.each([
      ['card', ['CREDIT_CARD', 'DEBIT_CARD']],
      ['netbanking', ['NET_BANKING']],
    ] as const)("%s: a redirect to Paytm's payment page, narrowed to the method", async (method, modes) => {
      const request = paymentRequest(method);
      const outcome = await paytmConnector.initiate(context(), request);
      if (outcome.status !== 'pending' || outcome.nextAction.type !== 'redirect')
        throw new Error('no redirect');
      expect(outcome.gatewayReference).toBe(request.attemptId);
      const url = new URL(outcome.nextAction.url);
      expect(url.origin + url.pathname).toBe(`${gateway.baseUrl}${PAYTM_PATHS.paymentPage}`);
      expect(url.searchParams.get('orderId')).toBe(request.attemptId);
      const page = await fetch(url);
      expect(await page.text()).toContain('pay 123.45 INR');

      const [initiate] = sentTo(PAYTM_PATHS.initiate, request.attemptId);
      expect(initiate?.json.body.enablePaymentMode.map((entry: { mode: string }) => entry.mode)).toEqual(
        modes,
      );
      expect(sentTo(PAYTM_PATHS.process, request.attemptId)).toHaveLength(0);
    });

    it('sends paise as exact rupee strings', async () => {
      for (const [amountMinor, rupees] of [
        [1n, '0.01'],
        [100n, '1.00'],
        [9007199254740993n, '90071992547409.93'],
      ] as const) {
        const request = paymentRequest('card', { amountMinor });
        await paytmConnector.initiate(context(), request);
        expect(sentTo(PAYTM_PATHS.initiate, request.attemptId)[0]?.json.body.txnAmount.value).toBe(rupees);
      }
    });

    it('a repeat of the same order is idempotent; the same order id with another amount is refused', async () => {
      const request = paymentRequest('card');
      const first = await paytmConnector.initiate(context(), request);
      const again = await paytmConnector.initiate(context(), request);
      expect(again).toEqual(first);
      const clash = await paytmConnector.initiate(context(), { ...request, amountMinor: 999n });
      expect(clash).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    });
  });

  describe("the payer's device", () => {
    const phone =
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';
    const desktop =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0';
    const payer = { ip: '203.0.113.42', referer: 'https://shop.example/checkout' };

    it.each(['upi_intent', 'upi_collect'] as const)(
      '%s from a phone: channelId WAP on initiateTransaction and processTransaction',
      async (method) => {
        const request = paymentRequest(method, { payer: { ...payer, userAgent: phone } });
        const outcome = await paytmConnector.initiate(context(), request);
        expect(outcome.status).toBe('pending');
        const [initiate] = sentTo(PAYTM_PATHS.initiate, request.attemptId);
        const [process] = sentTo(PAYTM_PATHS.process, request.attemptId);
        expect(initiate?.json.head.channelId).toBe('WAP');
        expect(process?.json.head.channelId).toBe('WAP');
      },
    );

    it('from a desktop browser, or with no user agent: channelId WEB', async () => {
      for (const device of [{ ...payer, userAgent: desktop }, payer, undefined]) {
        const request = paymentRequest('card', { payer: device });
        expect((await paytmConnector.initiate(context(), request)).status).toBe('pending');
        expect(sentTo(PAYTM_PATHS.initiate, request.attemptId)[0]?.json.head.channelId).toBe('WEB');
      }
    });

    it('sends no ip, user agent or referer: Paytm’s APIs name no field for them', async () => {
      const request = paymentRequest('upi_intent', { payer: { ...payer, userAgent: phone } });
      await paytmConnector.initiate(context(), request);
      for (const sent of [
        ...sentTo(PAYTM_PATHS.initiate, request.attemptId),
        ...sentTo(PAYTM_PATHS.process, request.attemptId),
      ]) {
        for (const value of [payer.ip, payer.referer, phone]) expect(sent.body).not.toContain(value);
      }
    });

    it('the imitation refuses a channelId Paytm does not name', async () => {
      // Otherwise fine but for its missing amount, which Paytm checks after the channel (1007).
      const body = { requestType: 'Payment', mid: gateway.credentials.merchantId, orderId: uuidv7() };
      const signature = generateSignature(JSON.stringify(body), gateway.credentials.merchantKey!);
      const resultCodeFor = async (channelId: string) => {
        const response = await fetch(
          `${gateway.baseUrl}${PAYTM_PATHS.initiate}?mid=${body.mid}&orderId=${body.orderId}`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ head: { channelId, signature }, body }),
          },
        );
        return readResultInfo(await response.json())?.resultCode;
      };
      expect(await resultCodeFor('APP')).toBe('1001');
      expect(await resultCodeFor('WAP')).toBe('1007');
    });
  });

  describe('behaviours', () => {
    it('succeed: pending until the payer acts, and the status API then reports the success', async () => {
      const request = paymentRequest('upi_intent');
      const outcome = await paytmConnector.initiate(context(), request);
      expect(outcome.status).toBe('pending');
      const status = await paytmConnector.fetchStatus(context(), {
        ...request,
        gatewayReference: request.attemptId,
      });
      expect(status).toEqual({
        status: 'succeeded',
        gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
        amountMinor: 12345n,
      });
    });

    it('pending: fetchStatus reports pending, then what the payment settles to', async () => {
      gateway.behaviour = 'pending';
      const succeeding = paymentRequest('upi_collect');
      const failing = paymentRequest('upi_collect');
      for (const request of [succeeding, failing]) {
        expect((await paytmConnector.initiate(context(), request)).status).toBe('pending');
      }
      const before = await paytmConnector.fetchStatus(context(), succeeding);
      expect(before).toEqual({
        status: 'pending',
        gatewayReference: gateway.paymentFor(succeeding.attemptId)?.gatewayReference,
      });

      gateway.settle(succeeding.attemptId, 'succeeded');
      gateway.settle(failing.attemptId, 'failed');
      expect(await paytmConnector.fetchStatus(context(), succeeding)).toMatchObject({
        status: 'succeeded',
        amountMinor: 12345n,
      });
      expect(await paytmConnector.fetchStatus(context(), failing)).toMatchObject({
        status: 'failed',
        errorCode: 'DECLINED',
      });
    });

    it('decline: Paytm reports the payer declining after initiate, as DECLINED (not retryable)', async () => {
      gateway.behaviour = 'decline';
      const request = paymentRequest('upi_collect');
      expect((await paytmConnector.initiate(context(), request)).status).toBe('pending');
      const status = await paytmConnector.fetchStatus(context(), request);
      expect(status).toMatchObject({ status: 'failed', errorCode: 'DECLINED' });
      if (status.status === 'failed') expect(isRetryable(status.errorCode)).toBe(false);
    });

    it("error: Paytm's 5xx is GATEWAY_UNAVAILABLE, retryable", async () => {
      gateway.behaviour = 'error';
      const outcome = await paytmConnector.initiate(context(), paymentRequest('upi_intent'));
      expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_UNAVAILABLE', retryable: true });
    });

    it('timeout: GATEWAY_TIMEOUT, retryable, within about timeoutMs', async () => {
      gateway.behaviour = 'timeout';
      const startedMs = Date.now();
      const outcome = await paytmConnector.initiate(
        context({ timeoutMs: SHORT_TIMEOUT_MS }),
        paymentRequest('upi_intent'),
      );
      expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_TIMEOUT', retryable: true });
      expect(Date.now() - startedMs).toBeLessThan(SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS);
    });

    it('unauthorized: AUTHENTICATION_FAILED, retryable', async () => {
      gateway.behaviour = 'unauthorized';
      const outcome = await paytmConnector.initiate(context(), paymentRequest('card'));
      expect(outcome).toMatchObject({
        status: 'failed',
        errorCode: 'AUTHENTICATION_FAILED',
        retryable: true,
      });
    });

    it('a checksum under another key, or another MID, is refused by the server as Paytm refuses it', async () => {
      const wrongKey = context({ credentials: { ...gateway.credentials, merchantKey: OTHER_KEY } });
      const wrongMid = context({
        credentials: { ...gateway.credentials, merchantId: 'SOMEONEELSE000000001' },
      });
      for (const other of [wrongKey, wrongMid]) {
        const outcome = await paytmConnector.initiate(other, paymentRequest('upi_intent'));
        expect(outcome).toMatchObject({
          status: 'failed',
          errorCode: 'AUTHENTICATION_FAILED',
          retryable: true,
        });
      }
    });

    it('missing or unusable credentials fail without a call', async () => {
      const count = gateway.requests.length;
      const unusable: Record<string, string>[] = [
        {},
        { merchantId: 'M' },
        { merchantId: 'M', merchantKey: 'too-short' },
      ];
      for (const credentials of unusable) {
        const outcome = await paytmConnector.initiate(context({ credentials }), paymentRequest('card'));
        expect(outcome).toMatchObject({
          status: 'failed',
          errorCode: 'AUTHENTICATION_FAILED',
          retryable: true,
        });
      }
      expect(gateway.requests.length).toBe(count);
    });

    it('a refused connection is GATEWAY_UNAVAILABLE, retryable', async () => {
      const closed = await startPaytmGateway();
      const baseUrl = closed.baseUrl;
      await closed.close();
      const outcome = await paytmConnector.initiate(context({ baseUrl }), paymentRequest('card'));
      expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_UNAVAILABLE', retryable: true });
    });
  });

  describe('fetchStatus', () => {
    it('an order Paytm never saw is pending (NO_RECORD_FOUND), as is a query Paytm refuses', async () => {
      const request = { paymentId: uuidv7(), attemptId: uuidv7(), amountMinor: 100n, currency: 'INR' };
      expect(await paytmConnector.fetchStatus(context(), request)).toEqual({ status: 'pending' });

      const { request: paid } = await succeededPayment();
      const wrongKey = context({ credentials: { ...gateway.credentials, merchantKey: OTHER_KEY } });
      expect(await paytmConnector.fetchStatus(wrongKey, { ...paid, gatewayReference: 'ref' })).toEqual({
        status: 'pending',
        gatewayReference: 'ref',
      });
    });

    it('signs the status query', async () => {
      const { request } = await succeededPayment();
      await paytmConnector.fetchStatus(context(), request);
      const [query] = sentTo(PAYTM_PATHS.status, request.attemptId);
      expect(query?.json.body).toEqual({ mid: gateway.credentials.merchantId, orderId: request.attemptId });
      expect(
        verifySignature(
          JSON.stringify(query?.json.body),
          gateway.credentials.merchantKey!,
          query?.json.head.signature,
        ),
      ).toBe(true);
    });
  });

  describe('refund', () => {
    function refundRequest(payment: { request: InitiateRequest; txnId: string }, amountMinor: bigint) {
      return {
        refundId: uuidv7(),
        paymentId: payment.request.paymentId,
        attemptId: payment.request.attemptId,
        gatewayReference: payment.txnId,
        amountMinor,
        currency: 'INR',
        reason: 'customer asked',
      };
    }

    it('refunds in full: refund/apply in rupees, pending at Paytm with its refund id', async () => {
      const payment = await succeededPayment();
      const request = refundRequest(payment, 12345n);
      const outcome = await paytmConnector.refund(context(), request);
      expect(outcome).toEqual({ status: 'pending', gatewayReference: expect.stringMatching(/^\d+$/) });
      const [apply] = sentTo(PAYTM_PATHS.refund, request.refundId);
      expect(apply?.json.body).toEqual({
        mid: gateway.credentials.merchantId,
        txnType: 'REFUND',
        orderId: payment.request.attemptId,
        txnId: payment.txnId,
        refId: request.refundId,
        refundAmount: '123.45',
      });
      expect(
        verifySignature(
          JSON.stringify(apply?.json.body),
          gateway.credentials.merchantKey!,
          apply?.json.head.signature,
        ),
      ).toBe(true);
    });

    it('refunds in parts, and Paytm refuses more than was captured (not retryable)', async () => {
      const payment = await succeededPayment(10000n);
      expect((await paytmConnector.refund(context(), refundRequest(payment, 4000n))).status).toBe('pending');
      expect((await paytmConnector.refund(context(), refundRequest(payment, 6000n))).status).toBe('pending');
      const over = await paytmConnector.refund(context(), refundRequest(payment, 1n));
      expect(over).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    });

    it('a retry of the same refund id is pending, never a second refund', async () => {
      const payment = await succeededPayment();
      const request = refundRequest(payment, 500n);
      await paytmConnector.refund(context(), request);
      expect(await paytmConnector.refund(context(), request)).toEqual({
        status: 'pending',
        gatewayReference: request.refundId,
      });
    });

    it("finds Paytm's TXNID through the status API when the reference is still the order id", async () => {
      gateway.behaviour = 'pending';
      const request = paymentRequest('upi_collect');
      await paytmConnector.initiate(context(), request);
      const early = await paytmConnector.refund(context(), {
        ...refundRequest({ request, txnId: request.attemptId }, 100n),
      });
      expect(early).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });

      gateway.settle(request.attemptId, 'succeeded');
      const outcome = await paytmConnector.refund(
        context(),
        refundRequest({ request, txnId: request.attemptId }, 100n),
      );
      expect(outcome.status).toBe('pending');
      const applies = sentTo(PAYTM_PATHS.refund, request.attemptId);
      expect(applies.at(-1)?.json.body.txnId).toBe(gateway.paymentFor(request.attemptId)?.gatewayReference);
    });
  });

  describe('fetchRefundStatus', () => {
    /** A payment Paytm reports successful and a refund of `amountMinor` it left PENDING. */
    async function queuedRefund(amountMinor = 5000n): Promise<RefundStatusRequest> {
      const { request, txnId } = await succeededPayment();
      const refundId = uuidv7();
      const outcome = await paytmConnector.refund(context(), {
        refundId,
        paymentId: request.paymentId,
        attemptId: request.attemptId,
        gatewayReference: txnId,
        amountMinor,
        currency: 'INR',
        reason: 'customer asked',
      });
      if (outcome.status !== 'pending') throw new Error(`Paytm did not queue the refund: ${outcome.status}`);
      return {
        refundId,
        refundReference: outcome.gatewayReference,
        paymentId: request.paymentId,
        attemptId: request.attemptId,
        paymentReference: txnId,
        amountMinor,
        currency: 'INR',
      };
    }

    it('asks the refund status API by orderId and refId, signed: pending, then succeeded with its amount', async () => {
      const refund = await queuedRefund(5000n);
      expect(await paytmConnector.fetchRefundStatus(context(), refund)).toEqual({
        status: 'pending',
        gatewayReference: refund.refundReference,
      });
      const [query] = sentTo(PAYTM_PATHS.refundStatus, refund.refundId);
      expect(query?.method).toBe('POST');
      expect(query?.json.body).toEqual({
        mid: gateway.credentials.merchantId,
        orderId: refund.attemptId,
        refId: refund.refundId,
      });
      expect(
        verifySignature(
          JSON.stringify(query?.json.body),
          gateway.credentials.merchantKey!,
          query?.json.head.signature,
        ),
      ).toBe(true);
      gateway.settleRefund(refund.refundReference, 'succeeded');
      expect(await paytmConnector.fetchRefundStatus(context(), refund)).toEqual({
        status: 'succeeded',
        gatewayReference: refund.refundReference,
        amountMinor: 5000n,
      });
    });

    it('a failed refund is failed with what Paytm said; a status it does not know stays pending', async () => {
      const refund = await queuedRefund();
      gateway.settleRefund(refund.refundReference, 'failed');
      expect(await paytmConnector.fetchRefundStatus(context(), refund)).toMatchObject({
        status: 'failed',
        gatewayReference: refund.refundReference,
        errorCode: 'INVALID_REQUEST',
        errorMessage: expect.stringContaining('TXN_FAILURE 600'),
      });
      for (const status of ['REFUND_REVERSED', 'txn_success']) {
        gateway.setRefundStatus(refund.refundReference, status);
        expect(await paytmConnector.fetchRefundStatus(context(), refund), status).toEqual({
          status: 'pending',
          gatewayReference: refund.refundReference,
        });
      }
    });

    it('is pending with why when Paytm gives no answer about the refund', async () => {
      const refund = await queuedRefund();
      expect(
        await paytmConnector.fetchRefundStatus(context(), { ...refund, refundId: uuidv7() }),
      ).toMatchObject({ status: 'pending', unanswered: { errorCode: 'INVALID_REQUEST' } });
      const otherKey = { ...gateway.credentials, merchantKey: OTHER_KEY };
      expect(
        await paytmConnector.fetchRefundStatus(context({ credentials: otherKey }), refund),
      ).toMatchObject({
        status: 'pending',
        unanswered: { errorCode: 'AUTHENTICATION_FAILED' },
      });
      const calls = gateway.requests.length;
      expect(await paytmConnector.fetchRefundStatus(context({ credentials: {} }), refund)).toMatchObject({
        status: 'pending',
        unanswered: { errorCode: 'AUTHENTICATION_FAILED' },
      });
      expect(gateway.requests.length).toBe(calls);
      gateway.refundStatusBehaviour = 'error';
      expect(await paytmConnector.fetchRefundStatus(context(), refund)).toMatchObject({
        status: 'pending',
        unanswered: { errorCode: 'GATEWAY_UNAVAILABLE' },
      });
      gateway.refundStatusBehaviour = 'timeout';
      expect(
        await paytmConnector.fetchRefundStatus(context({ timeoutMs: SHORT_TIMEOUT_MS }), refund),
      ).toMatchObject({ status: 'pending', unanswered: { errorCode: 'GATEWAY_TIMEOUT' } });
    });
  });

  describe('webhooks', () => {
    it('accepts a good webhook and reads attempt, reference, status and amount', async () => {
      const { request, txnId } = await succeededPayment();
      const webhook = inbound(gateway.webhookFor(request.attemptId, 'succeeded'));
      expect(paytmConnector.verifyWebhook(context(), webhook, TOLERANCE_SEC)).toEqual({ ok: true });
      expect(paytmConnector.parseWebhook(context(), webhook)).toEqual({
        eventId: `${txnId}:TXN_SUCCESS`,
        kind: 'payment',
        attemptId: request.attemptId,
        gatewayReference: txnId,
        status: 'succeeded',
        amountMinor: 12345n,
      });
    });

    it('reads failed and pending webhooks', async () => {
      const { request } = await succeededPayment();
      const failedEvent = paytmConnector.parseWebhook(
        context(),
        inbound(gateway.webhookFor(request.attemptId, 'failed')),
      );
      expect(failedEvent).toMatchObject({ status: 'failed', errorCode: 'DECLINED' });
      const pendingWebhook = inbound(gateway.webhookFor(request.attemptId, 'pending'));
      expect(paytmConnector.verifyWebhook(context(), pendingWebhook, TOLERANCE_SEC)).toEqual({ ok: true });
      expect(paytmConnector.parseWebhook(context(), pendingWebhook)).toMatchObject({ status: 'pending' });
    });

    it('refuses a tampered webhook, one without or with a garbled checksum, and one under another key', async () => {
      const { request } = await succeededPayment();
      const good = gateway.webhookFor(request.attemptId, 'succeeded');
      const fields = Object.fromEntries(new URLSearchParams(good.body));
      const { CHECKSUMHASH: checksum = '', ...unsigned } = fields;
      const variants = {
        tampered: gateway.webhookFor(request.attemptId, 'succeeded', { tamper: true }).body,
        missing: new URLSearchParams(unsigned).toString(),
        empty: new URLSearchParams({ ...unsigned, CHECKSUMHASH: '' }).toString(),
        garbled: new URLSearchParams({
          ...unsigned,
          CHECKSUMHASH: `${checksum.slice(0, -6)}AAAA==`,
        }).toString(),
        notBase64: new URLSearchParams({ ...unsigned, CHECKSUMHASH: '%%%' }).toString(),
        otherKey: new URLSearchParams({
          ...unsigned,
          CHECKSUMHASH: generateParamsSignature(unsigned, OTHER_KEY),
        }).toString(),
      };
      for (const [name, body] of Object.entries(variants)) {
        const verification = paytmConnector.verifyWebhook(
          context(),
          inbound({ ...good, body }),
          TOLERANCE_SEC,
        );
        expect({ name, verification }).toEqual({
          name,
          verification: { ok: false, reason: 'bad_signature' },
        });
      }
    });

    it('refuses a webhook whose signed TXNDATE is outside the tolerance', async () => {
      const { request } = await succeededPayment();
      const stale = inbound(
        gateway.webhookFor(request.attemptId, 'succeeded', { ageSec: TOLERANCE_SEC + 60 }),
      );
      expect(paytmConnector.verifyWebhook(context(), stale, TOLERANCE_SEC)).toEqual({
        ok: false,
        reason: 'stale',
      });
      const recent = inbound(
        gateway.webhookFor(request.attemptId, 'succeeded', { ageSec: TOLERANCE_SEC - 60 }),
      );
      expect(paytmConnector.verifyWebhook(context(), recent, TOLERANCE_SEC)).toEqual({ ok: true });
      // Received well before its TXNDATE: a clock that far ahead is refused too.
      const earlyReceipt = new Date(Date.now() - (TOLERANCE_SEC + 60) * 1000);
      const fromTheFuture = inbound(gateway.webhookFor(request.attemptId, 'succeeded'), earlyReceipt);
      expect(paytmConnector.verifyWebhook(context(), fromTheFuture, TOLERANCE_SEC)).toEqual({
        ok: false,
        reason: 'stale',
      });
    });

    it('refuses an unreadable body, and a signed one without TXNDATE, as malformed', async () => {
      const { request } = await succeededPayment();
      const good = gateway.webhookFor(request.attemptId, 'succeeded');
      const empty = inbound({ ...good, body: '' });
      expect(paytmConnector.verifyWebhook(context(), empty, TOLERANCE_SEC)).toEqual({
        ok: false,
        reason: 'malformed',
      });
      const repeated = inbound({ ...good, body: `${good.body}&STATUS=TXN_SUCCESS` });
      expect(paytmConnector.verifyWebhook(context(), repeated, TOLERANCE_SEC)).toEqual({
        ok: false,
        reason: 'malformed',
      });
      const {
        CHECKSUMHASH: _checksum,
        TXNDATE: _date,
        ...undated
      } = Object.fromEntries(new URLSearchParams(good.body));
      const key = gateway.credentials.merchantKey!;
      const body = new URLSearchParams({
        ...undated,
        CHECKSUMHASH: generateParamsSignature(undated, key),
      }).toString();
      const verification = paytmConnector.verifyWebhook(context(), inbound({ ...good, body }), TOLERANCE_SEC);
      expect(verification).toEqual({ ok: false, reason: 'malformed' });
    });

    it('a replay parses to the same event id; a made-up event id is not a Paytm replay', async () => {
      const { request } = await succeededPayment();
      const first = paytmConnector.parseWebhook(
        context(),
        inbound(gateway.webhookFor(request.attemptId, 'succeeded')),
      );
      const eventId = first?.eventId ?? '';
      const replay = inbound(gateway.webhookFor(request.attemptId, 'succeeded', { eventId }));
      expect(paytmConnector.verifyWebhook(context(), replay, TOLERANCE_SEC)).toEqual({ ok: true });
      expect(paytmConnector.parseWebhook(context(), replay)?.eventId).toBe(eventId);
      expect(() => gateway.webhookFor(request.attemptId, 'succeeded', { eventId: 'evt_other' })).toThrow();
    });

    it('verifies and reads the recorded webhook', () => {
      const { merchantKey, fields } = sample('webhook-success.json');
      const webhook = inbound(
        {
          body: new URLSearchParams(fields).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        new Date(Date.UTC(2025, 0, 15, 9, 1, 0)),
      );
      const recorded = context({ credentials: { merchantId: fields.MID, merchantKey } });
      expect(paytmConnector.verifyWebhook(recorded, webhook, TOLERANCE_SEC)).toEqual({ ok: true });
      expect(paytmConnector.parseWebhook(recorded, webhook)).toMatchObject({
        attemptId: fields.ORDERID,
        gatewayReference: fields.TXNID,
        status: 'succeeded',
        amountMinor: 12345n,
      });
    });
  });
});
