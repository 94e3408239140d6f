import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGateway, startPayuGateway } from '../../../../../test/gateways/payu-server.ts';
import type {
  ConnectorContext,
  InboundWebhook,
  InitiateRequest,
  PaymentMethod,
  RefundRequest,
  RefundStatusRequest,
  StatusRequest,
} from '../connector.ts';
import { payuConnector } from './connector.ts';
import { readPaymentStatus, readRefundCode, readRefundStatus } from './mapping.ts';

const TIMEOUT_MS = 2_000;
const SHORT_TIMEOUT_MS = 150;
/** How far past its timeout a timed-out call may return (scheduling on a shared machine). */
const TIMEOUT_SLACK_MS = 350;
const AMOUNT_MINOR = 12345n;
const TOLERANCE_SEC = 300;
/** The credentials the recorded webhook sample was signed with. */
const SAMPLE_CREDENTIALS = { merchantKey: 'tjSampleKey', merchantSalt: 'tijori-sample-salt' };
const SAMPLE_ATTEMPT_ID = 'att_0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b';

let gateway: FakeGateway;
let attemptCounter = 0;

beforeAll(async () => {
  gateway = await startPayuGateway();
});
afterAll(async () => {
  await gateway?.close();
});
beforeEach(() => {
  gateway.behaviour = 'succeed';
  gateway.refundStatusBehaviour = 'answer';
});

function contextFor(
  target: { baseUrl: string; credentials: Record<string, string> } = gateway,
  timeoutMs = TIMEOUT_MS,
): ConnectorContext {
  return {
    gatewayId: 'gw_payu',
    baseUrl: target.baseUrl,
    credentials: target.credentials,
    config: {},
    timeoutMs,
  };
}

function initiateRequest(method: PaymentMethod, overrides: Partial<InitiateRequest> = {}): InitiateRequest {
  attemptCounter += 1;
  return {
    paymentId: `pay_${attemptCounter}`,
    attemptId: `att_${attemptCounter}_${Date.now()}`,
    orderId: `ord_${attemptCounter}`,
    amountMinor: AMOUNT_MINOR,
    currency: 'INR',
    method,
    customer: { name: 'Asha Verma', email: 'asha@example.com', phone: '9876543210', vpa: 'asha@okbank' },
    description: 'Tea for two',
    returnUrl: 'https://merchant.example/return',
    notifyUrl: 'https://tijori.example/api/v1/webhooks/gateways/gw_payu',
    ...overrides,
  };
}

function statusRequest(request: InitiateRequest, gatewayReference?: string): StatusRequest {
  return {
    paymentId: request.paymentId,
    attemptId: request.attemptId,
    gatewayReference,
    amountMinor: request.amountMinor,
    currency: request.currency,
  };
}

function lastRequestForm(): URLSearchParams {
  const last = gateway.requests.at(-1);
  if (last === undefined) throw new Error('no request reached the fake PayU');
  return new URLSearchParams(last.body);
}

function inbound(webhook: { body: string; headers: Record<string, string> }): InboundWebhook {
  return { rawBody: Buffer.from(webhook.body), headers: webhook.headers, receivedAt: new Date() };
}

function sample(name: string): string {
  return readFileSync(new URL(`./samples/${name}`, import.meta.url), 'utf8');
}

/** A one-route server that answers every request with a recorded PayU body. */
async function withRecordedReply<T>(
  body: string,
  work: (context: ConnectorContext) => Promise<T>,
): Promise<T> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    return await work(contextFor({ baseUrl, credentials: SAMPLE_CREDENTIALS }));
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('payu initiate', () => {
  it('declares the methods PayU takes', () => {
    expect(payuConnector.name).toBe('payu');
    expect([...payuConnector.methods].sort()).toEqual([
      'card',
      'netbanking',
      'upi_collect',
      'upi_intent',
      'upi_qr',
    ]);
  });

  it('starts a UPI intent over S2S with the amount in rupees and a valid payment hash', async () => {
    gateway.behaviour = 'pending';
    const request = initiateRequest('upi_intent');
    const outcome = await payuConnector.initiate(contextFor(), request);

    const payment = gateway.paymentFor(request.attemptId);
    expect(payment).toMatchObject({ status: 'pending', amountMinor: AMOUNT_MINOR });
    expect(outcome).toMatchObject({ status: 'pending', gatewayReference: payment?.gatewayReference });
    if (outcome.status !== 'pending' || outcome.nextAction.type !== 'upi_intent')
      throw new Error('no intent');
    expect(outcome.nextAction.url).toMatch(/^upi:\/\/pay\?pa=/);
    expect(outcome.nextAction.url).toContain('am=123.45');

    const last = gateway.requests.at(-1);
    expect(last?.path).toBe('/_payment');
    expect(last?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = lastRequestForm();
    expect(Object.fromEntries(form)).toMatchObject({
      key: gateway.credentials.merchantKey,
      txnid: request.attemptId,
      amount: '123.45',
      productinfo: 'Tea for two',
      firstname: 'Asha Verma',
      email: 'asha@example.com',
      phone: '9876543210',
      pg: 'UPI',
      bankcode: 'INTENT',
      txn_s2s_flow: '4',
      udf1: request.paymentId,
      surl: request.notifyUrl,
      furl: request.notifyUrl,
    });
    const hashed = `${gateway.credentials.merchantKey}|${request.attemptId}|123.45|Tea for two|Asha Verma|asha@example.com|${request.paymentId}||||||||||${gateway.credentials.merchantSalt}`;
    expect(form.get('hash')).toBe(createHash('sha512').update(hashed).digest('hex'));
  });

  it('gives a UPI QR the same deeplink to render', async () => {
    gateway.behaviour = 'pending';
    const outcome = await payuConnector.initiate(contextFor(), initiateRequest('upi_qr'));
    expect(outcome).toMatchObject({ status: 'pending', nextAction: { type: 'upi_qr' } });
    if (outcome.status === 'pending' && outcome.nextAction.type === 'upi_qr') {
      expect(outcome.nextAction.url).toMatch(/^upi:\/\/pay\?/);
    }
    expect(lastRequestForm().get('bankcode')).toBe('INTENT');
  });

  it('sends a UPI collect to the payer VPA', async () => {
    gateway.behaviour = 'pending';
    const request = initiateRequest('upi_collect');
    const outcome = await payuConnector.initiate(contextFor(), request);
    expect(outcome).toEqual({
      status: 'pending',
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
      nextAction: { type: 'upi_collect', vpa: 'asha@okbank' },
    });
    expect(Object.fromEntries(lastRequestForm())).toMatchObject({
      pg: 'UPI',
      bankcode: 'UPI',
      vpa: 'asha@okbank',
    });
  });

  it('refuses a UPI collect without a VPA before calling PayU', async () => {
    const before = gateway.requests.length;
    const request = initiateRequest('upi_collect', { customer: { name: 'Asha Verma' } });
    const outcome = await payuConnector.initiate(contextFor(), request);
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    expect(gateway.requests.length).toBe(before);
  });

  it.each(['card', 'netbanking'] as const)(
    'sends %s to the hosted page through a payment link',
    async (method) => {
      const request = initiateRequest(method);
      const outcome = await payuConnector.initiate(contextFor(), request);
      expect(outcome).toMatchObject({
        status: 'pending',
        gatewayReference: request.attemptId,
        nextAction: { type: 'redirect' },
      });
      if (outcome.status === 'pending' && outcome.nextAction.type === 'redirect') {
        expect(outcome.nextAction.url).toMatch(new RegExp(`^${gateway.baseUrl}/processInvoice\\?invoiceId=`));
      }
      const last = gateway.requests.at(-1);
      expect(last?.path).toBe('/merchant/postservice.php?form=2');
      const form = lastRequestForm();
      expect(form.get('command')).toBe('create_invoice');
      expect(JSON.parse(form.get('var1') ?? '{}')).toMatchObject({
        amount: '123.45',
        txnid: request.attemptId,
      });
    },
  );

  it('reports a payment PayU completed at once as succeeded', async () => {
    const request = initiateRequest('upi_intent');
    const outcome = await payuConnector.initiate(contextFor(), request);
    expect(outcome).toEqual({
      status: 'succeeded',
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
    });
  });

  it('maps a decline to DECLINED, not retryable', async () => {
    gateway.behaviour = 'decline';
    const request = initiateRequest('upi_collect');
    const outcome = await payuConnector.initiate(contextFor(), request);
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'DECLINED', retryable: false });
    expect(outcome.status === 'failed' && outcome.gatewayReference).toBe(
      gateway.paymentFor(request.attemptId)?.gatewayReference,
    );
  });

  it('maps an outage to GATEWAY_UNAVAILABLE, retryable', async () => {
    gateway.behaviour = 'error';
    const outcome = await payuConnector.initiate(contextFor(), initiateRequest('upi_intent'));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_UNAVAILABLE', retryable: true });
  });

  it.each(['upi_intent', 'card'] as const)(
    'gives up on a silent PayU within the timeout (%s)',
    async (method) => {
      gateway.behaviour = 'timeout';
      const started = performance.now();
      const outcome = await payuConnector.initiate(
        contextFor(gateway, SHORT_TIMEOUT_MS),
        initiateRequest(method),
      );
      expect(performance.now() - started).toBeLessThan(SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS);
      expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_TIMEOUT', retryable: true });
    },
  );

  it.each(['upi_intent', 'card'] as const)(
    'maps refused credentials to AUTHENTICATION_FAILED (%s)',
    async (method) => {
      gateway.behaviour = 'unauthorized';
      const outcome = await payuConnector.initiate(contextFor(), initiateRequest(method));
      expect(outcome).toMatchObject({
        status: 'failed',
        errorCode: 'AUTHENTICATION_FAILED',
        retryable: true,
      });
    },
  );

  it('is refused by PayU when signed with another salt', async () => {
    const credentials = { ...gateway.credentials, merchantSalt: 'not-the-salt' };
    const request = initiateRequest('upi_intent');
    const outcome = await payuConnector.initiate(
      contextFor({ baseUrl: gateway.baseUrl, credentials }),
      request,
    );
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED', retryable: true });
    expect(gateway.paymentFor(request.attemptId)).toBeUndefined();
  });

  it('fails with AUTHENTICATION_FAILED, not a throw, when credentials are missing', async () => {
    const before = gateway.requests.length;
    const context = contextFor({ baseUrl: gateway.baseUrl, credentials: { merchantKey: 'only-a-key' } });
    const outcome = await payuConnector.initiate(context, initiateRequest('upi_intent'));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED', retryable: true });
    expect(gateway.requests.length).toBe(before);
  });

  it('refuses a reused txnid as an invalid request', async () => {
    const request = initiateRequest('upi_intent');
    await payuConnector.initiate(contextFor(), request);
    const again = await payuConnector.initiate(contextFor(), request);
    expect(again).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
  });

  it('refuses a currency other than INR', async () => {
    const outcome = await payuConnector.initiate(
      contextFor(),
      initiateRequest('upi_intent', { currency: 'USD' }),
    );
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
  });

  it('maps a refused connection to GATEWAY_UNAVAILABLE', async () => {
    const closed = await startPayuGateway();
    await closed.close();
    const outcome = await payuConnector.initiate(contextFor(closed), initiateRequest('upi_intent'));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_UNAVAILABLE', retryable: true });
  });

  it('reads a recorded intent reply, keeping the 18-digit payment id exact', async () => {
    const request = initiateRequest('upi_intent');
    const outcome = await withRecordedReply(sample('upi-intent-reply.json'), (context) =>
      payuConnector.initiate(context, request),
    );
    expect(outcome).toMatchObject({ status: 'pending', gatewayReference: '403993715529028543' });
  });

  it('reads a recorded hash failure as AUTHENTICATION_FAILED', async () => {
    const outcome = await withRecordedReply(sample('s2s-hash-failure.json'), (context) =>
      payuConnector.initiate(context, initiateRequest('upi_intent')),
    );
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED', retryable: true });
  });
});

describe("payu and the payer's device", () => {
  const payer = {
    ip: '203.0.113.42',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
    referer: 'https://merchant.example/checkout',
  };

  it.each(['upi_intent', 'upi_collect'] as const)(
    'sends the payer as s2s_client_ip and s2s_device_info with the S2S %s, outside the hash',
    async (method) => {
      gateway.behaviour = 'pending';
      const request = initiateRequest(method, { payer });
      const outcome = await payuConnector.initiate(contextFor(), request);
      // PayU took it: the hash over its fixed fields still verified.
      expect(outcome.status).toBe('pending');
      const form = lastRequestForm();
      expect(form.get('s2s_client_ip')).toBe(payer.ip);
      expect(form.get('s2s_device_info')).toBe(payer.userAgent);
      // PayU's _payment names no field for the referer.
      expect([...form.values()]).not.toContain(payer.referer);
      const hashed = `${gateway.credentials.merchantKey}|${request.attemptId}|123.45|Tea for two|Asha Verma|asha@example.com|${request.paymentId}||||||||||${gateway.credentials.merchantSalt}`;
      expect(form.get('hash')).toBe(createHash('sha512').update(hashed).digest('hex'));
    },
  );

  it('sends neither field, rather than a stand-in, when the merchant forwarded none', async () => {
    gateway.behaviour = 'pending';
    await payuConnector.initiate(contextFor(), initiateRequest('upi_intent'));
    const form = lastRequestForm();
    expect(form.has('s2s_client_ip')).toBe(false);
    expect(form.has('s2s_device_info')).toBe(false);
    await payuConnector.initiate(contextFor(), initiateRequest('upi_intent', { payer: { ip: payer.ip } }));
    expect(lastRequestForm().get('s2s_client_ip')).toBe(payer.ip);
    expect(lastRequestForm().has('s2s_device_info')).toBe(false);
  });

  it('sends none of it to the hosted page’s payment link: the payer’s browser opens it', async () => {
    const outcome = await payuConnector.initiate(contextFor(), initiateRequest('card', { payer }));
    expect(outcome.status).toBe('pending');
    const form = lastRequestForm();
    expect(form.get('command')).toBe('create_invoice');
    expect(form.toString()).not.toContain('s2s_');
    expect(JSON.stringify(Object.fromEntries(form))).not.toContain(payer.ip);
  });
});

describe('payu fetchStatus', () => {
  it('reports pending before settlement and succeeded with the amount after', async () => {
    gateway.behaviour = 'pending';
    const request = initiateRequest('upi_collect');
    const initiated = await payuConnector.initiate(contextFor(), request);
    const reference = initiated.status === 'pending' ? initiated.gatewayReference : undefined;

    const before = await payuConnector.fetchStatus(contextFor(), statusRequest(request, reference));
    expect(before).toEqual({ status: 'pending', gatewayReference: reference });
    expect(lastRequestForm().get('command')).toBe('verify_payment');
    expect(lastRequestForm().get('var1')).toBe(request.attemptId);

    gateway.settle(request.attemptId, 'succeeded');
    const after = await payuConnector.fetchStatus(contextFor(), statusRequest(request, reference));
    expect(after).toEqual({ status: 'succeeded', gatewayReference: reference, amountMinor: AMOUNT_MINOR });
  });

  it('reports a failed settlement as DECLINED with PayU’s message', async () => {
    gateway.behaviour = 'pending';
    const request = initiateRequest('upi_intent');
    await payuConnector.initiate(contextFor(), request);
    gateway.settle(request.attemptId, 'failed');
    const outcome = await payuConnector.fetchStatus(contextFor(), statusRequest(request));
    expect(outcome).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
      errorMessage: 'Transaction declined by the issuer',
    });
  });

  it('reports a hosted-page payment by its PayU id once paid', async () => {
    const request = initiateRequest('card');
    gateway.behaviour = 'pending';
    await payuConnector.initiate(contextFor(), request);
    gateway.settle(request.attemptId, 'succeeded');
    const outcome = await payuConnector.fetchStatus(contextFor(), statusRequest(request, request.attemptId));
    expect(outcome).toMatchObject({
      status: 'succeeded',
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
    });
  });

  it('reports a txnid PayU never saw as pending', async () => {
    const outcome = await payuConnector.fetchStatus(
      contextFor(),
      statusRequest(initiateRequest('upi_intent')),
    );
    expect(outcome).toEqual({ status: 'pending', gatewayReference: undefined });
  });

  it('maps a refused hash to AUTHENTICATION_FAILED', async () => {
    const credentials = { ...gateway.credentials, merchantSalt: 'not-the-salt' };
    const context = contextFor({ baseUrl: gateway.baseUrl, credentials });
    const outcome = await payuConnector.fetchStatus(context, statusRequest(initiateRequest('upi_intent')));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED' });
  });

  it('reads recorded verify_payment replies', async () => {
    const request = { ...statusRequest(initiateRequest('upi_intent')), attemptId: SAMPLE_ATTEMPT_ID };
    const found = await withRecordedReply(sample('verify-payment-success.json'), (context) =>
      payuConnector.fetchStatus(context, request),
    );
    expect(found).toEqual({
      status: 'succeeded',
      gatewayReference: '403993715521889530',
      amountMinor: 12345n,
    });
    const missing = await withRecordedReply(sample('verify-payment-not-found.json'), (context) =>
      payuConnector.fetchStatus(context, request),
    );
    expect(missing).toEqual({ status: 'pending', gatewayReference: undefined });
    const refused = await withRecordedReply(sample('invalid-hash.json'), (context) =>
      payuConnector.fetchStatus(context, request),
    );
    expect(refused).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED' });
  });
});

describe('payu refund', () => {
  async function capturedPayment(
    method: PaymentMethod = 'upi_intent',
  ): Promise<{ request: InitiateRequest; reference: string }> {
    const request = initiateRequest(method);
    await payuConnector.initiate(contextFor(), request);
    gateway.settle(request.attemptId, 'succeeded');
    const reference = gateway.paymentFor(request.attemptId)?.gatewayReference;
    if (reference === undefined) throw new Error('no payment at the fake PayU');
    return { request, reference };
  }

  function refundRequest(
    request: InitiateRequest,
    reference: string,
    amountMinor: bigint,
    refundId: string,
  ): RefundRequest {
    return {
      refundId,
      paymentId: request.paymentId,
      attemptId: request.attemptId,
      gatewayReference: reference,
      amountMinor,
      currency: 'INR',
      reason: 'customer asked',
    };
  }

  it('refunds in full with cancel_refund_transaction', async () => {
    const { request, reference } = await capturedPayment();
    const outcome = await payuConnector.refund(
      contextFor(),
      refundRequest(request, reference, AMOUNT_MINOR, 'rfd_full'),
    );
    expect(outcome).toMatchObject({ status: 'pending' });
    expect(outcome.status === 'pending' && outcome.gatewayReference).toMatch(/^\d+$/);
    expect(Object.fromEntries(lastRequestForm())).toMatchObject({
      command: 'cancel_refund_transaction',
      var1: reference,
      var2: 'rfd_full',
      var3: '123.45',
    });
  });

  it('refunds in parts and maps a refund over what is left to a failed outcome', async () => {
    const { request, reference } = await capturedPayment();
    const first = await payuConnector.refund(
      contextFor(),
      refundRequest(request, reference, 10000n, 'rfd_part_1'),
    );
    expect(first.status).toBe('pending');
    const over = await payuConnector.refund(
      contextFor(),
      refundRequest(request, reference, 2346n, 'rfd_part_2'),
    );
    expect(over).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    const rest = await payuConnector.refund(
      contextFor(),
      refundRequest(request, reference, 2345n, 'rfd_part_3'),
    );
    expect(rest.status).toBe('pending');
  });

  it('treats a refund id PayU has seen as the refund under way', async () => {
    const { request, reference } = await capturedPayment();
    await payuConnector.refund(contextFor(), refundRequest(request, reference, 100n, 'rfd_twice'));
    const again = await payuConnector.refund(
      contextFor(),
      refundRequest(request, reference, 100n, 'rfd_twice'),
    );
    expect(again).toEqual({ status: 'pending', gatewayReference: 'rfd_twice' });
  });

  it('finds the PayU id of a hosted-page payment still recorded under its txnid', async () => {
    const { request, reference } = await capturedPayment('netbanking');
    const outcome = await payuConnector.refund(
      contextFor(),
      refundRequest(request, request.attemptId, 500n, 'rfd_hosted'),
    );
    expect(outcome.status).toBe('pending');
    expect(lastRequestForm().get('var1')).toBe(reference);
  });

  it('refuses a refund of a payment that is not captured', async () => {
    gateway.behaviour = 'pending';
    const request = initiateRequest('upi_intent');
    const initiated = await payuConnector.initiate(contextFor(), request);
    const reference = initiated.status === 'pending' ? initiated.gatewayReference : '';
    const outcome = await payuConnector.refund(
      contextFor(),
      refundRequest(request, reference, 100n, 'rfd_early'),
    );
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
  });

  it('reads recorded refund replies', async () => {
    const request = refundRequest(
      initiateRequest('upi_intent'),
      '403993715521889530',
      AMOUNT_MINOR,
      'rfd_sample',
    );
    const queued = await withRecordedReply(sample('refund-queued.json'), (context) =>
      payuConnector.refund(context, request),
    );
    expect(queued).toEqual({ status: 'pending', gatewayReference: '131299786' });
    const refused = await withRecordedReply(sample('refund-invalid-amount.json'), (context) =>
      payuConnector.refund(context, request),
    );
    expect(refused).toMatchObject({
      status: 'failed',
      errorCode: 'INVALID_REQUEST',
      errorMessage: 'Refund FAILURE - Invalid amount',
    });
  });
});

describe('payu fetchRefundStatus', () => {
  let refundCounter = 0;

  /** A captured payment and a refund of `amountMinor` PayU queued: what fetchRefundStatus is asked. */
  async function queuedRefund(amountMinor = 5000n): Promise<RefundStatusRequest> {
    const request = initiateRequest('upi_intent');
    await payuConnector.initiate(contextFor(), request);
    gateway.settle(request.attemptId, 'succeeded');
    const paymentReference = gateway.paymentFor(request.attemptId)?.gatewayReference ?? '';
    refundCounter += 1;
    const refundId = `rfd_status_${refundCounter}`;
    const outcome = await payuConnector.refund(contextFor(), {
      refundId,
      paymentId: request.paymentId,
      attemptId: request.attemptId,
      gatewayReference: paymentReference,
      amountMinor,
      currency: 'INR',
      reason: 'customer asked',
    });
    if (outcome.status !== 'pending') throw new Error(`PayU did not queue the refund: ${outcome.status}`);
    return {
      refundId,
      refundReference: outcome.gatewayReference,
      paymentId: request.paymentId,
      attemptId: request.attemptId,
      paymentReference,
      amountMinor,
      currency: 'INR',
    };
  }

  it('asks check_action_status by the request_id, hashed as every postservice command is', async () => {
    const refund = await queuedRefund();
    const queued = await payuConnector.fetchRefundStatus(contextFor(), refund);
    expect(queued).toEqual({ status: 'pending', gatewayReference: refund.refundReference });
    const form = Object.fromEntries(lastRequestForm());
    const { merchantKey, merchantSalt } = gateway.credentials;
    expect(form).toEqual({
      key: merchantKey,
      command: 'check_action_status',
      var1: refund.refundReference,
      hash: createHash('sha512')
        .update(`${merchantKey}|check_action_status|${refund.refundReference}|${merchantSalt}`)
        .digest('hex'),
    });
    expect(gateway.requests.at(-1)?.path).toBe('/merchant/postservice.php?form=2');
  });

  it('reports a refund PayU completed as succeeded with its amount, and a failed one as failed', async () => {
    const done = await queuedRefund(5000n);
    gateway.settleRefund(done.refundReference, 'succeeded');
    expect(await payuConnector.fetchRefundStatus(contextFor(), done)).toEqual({
      status: 'succeeded',
      gatewayReference: done.refundReference,
      amountMinor: 5000n,
    });
    const refused = await queuedRefund(700n);
    gateway.settleRefund(refused.refundReference, 'failed');
    expect(await payuConnector.fetchRefundStatus(contextFor(), refused)).toMatchObject({
      status: 'failed',
      gatewayReference: refused.refundReference,
      errorCode: 'DECLINED',
      errorMessage: expect.stringContaining('failure'),
    });
  });

  it('reads every documented refund state in either case; one it does not know stays pending', async () => {
    const refund = await queuedRefund();
    const expected: [string, string][] = [
      ['QUEUED', 'pending'],
      ['in progress', 'pending'],
      ['REQUESTED', 'pending'],
      ['pending', 'pending'],
      ['od_hit', 'pending'],
      ['reversed', 'pending'],
      ['SUCCESS', 'succeeded'],
      ['FAILURE', 'failed'],
    ];
    for (const [payuStatus, ours] of expected) {
      gateway.setRefundStatus(refund.refundReference, payuStatus);
      const outcome = await payuConnector.fetchRefundStatus(contextFor(), refund);
      expect(outcome.status, payuStatus).toBe(ours);
      expect(outcome).not.toHaveProperty('unanswered');
    }
  });

  it('is pending with why when PayU gives no answer about the refund', async () => {
    const refund = await queuedRefund();
    const unknown = await payuConnector.fetchRefundStatus(contextFor(), {
      ...refund,
      refundReference: '999999999',
    });
    expect(unknown).toMatchObject({
      status: 'pending',
      unanswered: { errorCode: 'INVALID_REQUEST', errorMessage: expect.stringContaining('No action status') },
    });
    const otherSalt = { ...gateway.credentials, merchantSalt: 'not-the-salt' };
    expect(
      await payuConnector.fetchRefundStatus(contextFor({ ...gateway, credentials: otherSalt }), refund),
    ).toMatchObject({ status: 'pending', unanswered: { errorCode: 'AUTHENTICATION_FAILED' } });
    gateway.refundStatusBehaviour = 'error';
    expect(await payuConnector.fetchRefundStatus(contextFor(), refund)).toMatchObject({
      status: 'pending',
      unanswered: { errorCode: 'GATEWAY_UNAVAILABLE' },
    });
    gateway.refundStatusBehaviour = 'timeout';
    expect(
      await payuConnector.fetchRefundStatus(contextFor(gateway, SHORT_TIMEOUT_MS), refund),
    ).toMatchObject({ status: 'pending', unanswered: { errorCode: 'GATEWAY_TIMEOUT' } });
    expect(
      await payuConnector.fetchRefundStatus(contextFor({ ...gateway, credentials: {} }), refund),
    ).toMatchObject({ status: 'pending', unanswered: { errorCode: 'AUTHENTICATION_FAILED' } });
  });

  it('does not ask by a token: a refund known only by our refund id stays pending', async () => {
    const refund = await queuedRefund();
    const calls = gateway.requests.length;
    const outcome = await payuConnector.fetchRefundStatus(contextFor(), {
      ...refund,
      refundReference: refund.refundId,
    });
    expect(outcome).toMatchObject({ status: 'pending', unanswered: { errorCode: 'INVALID_REQUEST' } });
    expect(gateway.requests.length).toBe(calls);
  });

  it('reads recorded check_action_status replies', async () => {
    const request: RefundStatusRequest = {
      refundId: '20201105secrettokenatur',
      refundReference: '131278422',
      paymentId: 'pay_sample',
      attemptId: SAMPLE_ATTEMPT_ID,
      paymentReference: '403993715521937565',
      amountMinor: 1000n,
      currency: 'INR',
    };
    const success = await withRecordedReply(sample('refund-status-success.json'), (context) =>
      payuConnector.fetchRefundStatus(context, request),
    );
    expect(success).toEqual({ status: 'succeeded', gatewayReference: '131278422', amountMinor: 1000n });
    const missing = await withRecordedReply(sample('refund-status-not-found.json'), (context) =>
      payuConnector.fetchRefundStatus(context, request),
    );
    expect(missing).toMatchObject({ status: 'pending', unanswered: { errorCode: 'INVALID_REQUEST' } });
  });
});

describe('payu webhooks', () => {
  async function paymentAtGateway(): Promise<InitiateRequest> {
    gateway.behaviour = 'pending';
    const request = initiateRequest('upi_intent');
    await payuConnector.initiate(contextFor(), request);
    return request;
  }

  it('accepts a callback signed with the reverse hash and reads it', async () => {
    const request = await paymentAtGateway();
    const webhook = inbound(gateway.webhookFor(request.attemptId, 'succeeded'));
    expect(payuConnector.verifyWebhook(contextFor(), webhook, TOLERANCE_SEC)).toEqual({ ok: true });
    const reference = gateway.paymentFor(request.attemptId)?.gatewayReference;
    expect(payuConnector.parseWebhook(contextFor(), webhook)).toEqual({
      eventId: `${reference}:success`,
      kind: 'payment',
      attemptId: request.attemptId,
      gatewayReference: reference,
      status: 'succeeded',
      amountMinor: AMOUNT_MINOR,
    });
  });

  it('reads failed and pending callbacks', async () => {
    const request = await paymentAtGateway();
    const failed = inbound(gateway.webhookFor(request.attemptId, 'failed'));
    expect(payuConnector.verifyWebhook(contextFor(), failed, TOLERANCE_SEC)).toEqual({ ok: true });
    expect(payuConnector.parseWebhook(contextFor(), failed)).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
      errorMessage: 'Transaction declined by the issuer',
    });
    const pending = inbound(gateway.webhookFor(request.attemptId, 'pending'));
    expect(payuConnector.parseWebhook(contextFor(), pending)).toMatchObject({ status: 'pending' });
  });

  it('refuses a callback changed after signing', async () => {
    const request = await paymentAtGateway();
    const webhook = inbound(gateway.webhookFor(request.attemptId, 'succeeded', { tamper: true }));
    expect(payuConnector.verifyWebhook(contextFor(), webhook, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a callback with no hash or a garbled one', async () => {
    const request = await paymentAtGateway();
    const signed = gateway.webhookFor(request.attemptId, 'succeeded');
    const fields = new URLSearchParams(signed.body);
    fields.delete('hash');
    const unsigned = inbound({ body: fields.toString(), headers: signed.headers });
    expect(payuConnector.verifyWebhook(contextFor(), unsigned, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    fields.set('hash', 'zz-not-a-hash');
    const garbled = inbound({ body: fields.toString(), headers: signed.headers });
    expect(payuConnector.verifyWebhook(contextFor(), garbled, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    fields.set('hash', 'a'.repeat(128));
    const wrong = inbound({ body: fields.toString(), headers: signed.headers });
    expect(payuConnector.verifyWebhook(contextFor(), wrong, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a callback signed with another salt', async () => {
    const other = await startPayuGateway({
      credentials: { ...gateway.credentials, merchantSalt: 'another-salt' },
    });
    try {
      const request = initiateRequest('upi_intent');
      await payuConnector.initiate(contextFor(other), request);
      const webhook = inbound(other.webhookFor(request.attemptId, 'succeeded'));
      expect(payuConnector.verifyWebhook(contextFor(), webhook, TOLERANCE_SEC)).toEqual({
        ok: false,
        reason: 'bad_signature',
      });
      expect(payuConnector.verifyWebhook(contextFor(other), webhook, TOLERANCE_SEC)).toEqual({ ok: true });
    } finally {
      await other.close();
    }
  });

  it('refuses a callback whose field is repeated, and a body that is not a callback', async () => {
    const request = await paymentAtGateway();
    const signed = gateway.webhookFor(request.attemptId, 'failed');
    const repeated = inbound({ body: `${signed.body}&status=success`, headers: signed.headers });
    expect(payuConnector.verifyWebhook(contextFor(), repeated, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    const json = inbound({ body: '{"event":"payment"}', headers: { 'content-type': 'application/json' } });
    expect(payuConnector.verifyWebhook(contextFor(), json, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(payuConnector.parseWebhook(contextFor(), json)).toBeNull();
  });

  it('refuses every callback when the salt is missing', async () => {
    const request = await paymentAtGateway();
    const webhook = inbound(gateway.webhookFor(request.attemptId, 'succeeded'));
    const context = contextFor({
      baseUrl: gateway.baseUrl,
      credentials: { merchantKey: gateway.credentials.merchantKey ?? '' },
    });
    expect(payuConnector.verifyWebhook(context, webhook, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('has no signed timestamp, so an old callback still verifies (replays are caught by event id)', async () => {
    const request = await paymentAtGateway();
    const old = inbound(gateway.webhookFor(request.attemptId, 'succeeded', { ageSec: 3 * TOLERANCE_SEC }));
    expect(payuConnector.verifyWebhook(contextFor(), old, TOLERANCE_SEC)).toEqual({ ok: true });
  });

  it('parses a replay to the same event id', async () => {
    const request = await paymentAtGateway();
    const first = payuConnector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'succeeded')),
    );
    const replay = gateway.webhookFor(request.attemptId, 'succeeded', { eventId: first?.eventId ?? '' });
    expect(payuConnector.parseWebhook(contextFor(), inbound(replay))?.eventId).toBe(first?.eventId);
    const later = payuConnector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'failed')),
    );
    expect(later?.eventId).not.toBe(first?.eventId);
  });

  it('verifies and reads the recorded callback sample', () => {
    const fields = JSON.parse(sample('webhook-success.json')) as Record<string, string>;
    const webhook = inbound({
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const context = contextFor({ baseUrl: 'http://127.0.0.1:9', credentials: SAMPLE_CREDENTIALS });
    expect(payuConnector.verifyWebhook(context, webhook, TOLERANCE_SEC)).toEqual({ ok: true });
    expect(payuConnector.parseWebhook(context, webhook)).toMatchObject({
      eventId: '403993715531077182:success',
      attemptId: SAMPLE_ATTEMPT_ID,
      gatewayReference: '403993715531077182',
      status: 'succeeded',
      amountMinor: 12345n,
    });
  });

  it('accepts the reverse hash with PayU’s additional charges in front', () => {
    const fields = JSON.parse(sample('webhook-success.json')) as Record<string, string>;
    const reversed = [
      '10.00',
      SAMPLE_CREDENTIALS.merchantSalt,
      fields.status,
      '',
      '',
      '',
      '',
      '',
      fields.udf5,
      fields.udf4,
      fields.udf3,
      fields.udf2,
      fields.udf1,
      fields.email,
      fields.firstname,
      fields.productinfo,
      fields.amount,
      fields.txnid,
      fields.key,
    ].join('|');
    const withCharges = {
      ...fields,
      additional_charges: '10.00',
      hash: createHash('sha512').update(reversed).digest('hex'),
    };
    const webhook = inbound({
      body: new URLSearchParams(withCharges).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const context = contextFor({ baseUrl: 'http://127.0.0.1:9', credentials: SAMPLE_CREDENTIALS });
    expect(payuConnector.verifyWebhook(context, webhook, TOLERANCE_SEC)).toEqual({ ok: true });
  });
});

describe('payu mapping', () => {
  it('prefers the fine status and falls back to the summary', () => {
    expect(readPaymentStatus('success', 'captured')).toEqual({ status: 'succeeded' });
    expect(readPaymentStatus('failure', 'bounced')).toMatchObject({ status: 'failed', errorCode: 'EXPIRED' });
    expect(readPaymentStatus('failure', 'userCancelled')).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
    });
    expect(readPaymentStatus('pending', 'something new')).toEqual({ status: 'pending' });
  });

  it('fails safe on a status nobody mapped', () => {
    expect(readPaymentStatus('mystery', 'mystery')).toEqual({
      status: 'failed',
      errorCode: 'UNKNOWN',
      retryable: false,
    });
    expect(readRefundCode('999')).toEqual({ status: 'failed', errorCode: 'UNKNOWN', retryable: false });
    expect(readRefundCode(undefined)).toEqual({ status: 'failed', errorCode: 'UNKNOWN', retryable: false });
    expect(readRefundStatus('reversed')).toBe('pending');
    expect(readRefundStatus('constructor')).toBe('pending');
    expect(readRefundStatus(undefined)).toBe('pending');
    expect(readRefundStatus(' Success ')).toBe('succeeded');
  });
});
