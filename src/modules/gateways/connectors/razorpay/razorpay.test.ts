import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RazorpayFake, startRazorpayGateway } from '../../../../../test/gateways/razorpay-server.ts';
import { uuidv7 } from '../../../../lib/ids.ts';
import type {
  ConnectorContext,
  InboundWebhook,
  InitiateRequest,
  PaymentMethod,
  RefundStatusRequest,
} from '../connector.ts';
import { razorpayConnector as connector } from './connector.ts';
import {
  apiErrorCodeOf,
  failureCodeOf,
  paymentLinkStateOf,
  paymentStatusOf,
  refundStatusOf,
} from './mapping.ts';

const CALL_TIMEOUT_MS = 2_000;
const SHORT_TIMEOUT_MS = 150;
const TOLERANCE_SEC = 300;

let gateway: RazorpayFake;

beforeEach(async () => {
  gateway = await startRazorpayGateway();
});

afterEach(async () => {
  await gateway.close();
});

function contextFor(overrides: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    gatewayId: 'gateway-razorpay',
    baseUrl: gateway.baseUrl,
    credentials: gateway.credentials,
    config: {},
    timeoutMs: CALL_TIMEOUT_MS,
    ...overrides,
  };
}

function requestFor(method: PaymentMethod, overrides: Partial<InitiateRequest> = {}): InitiateRequest {
  return {
    paymentId: uuidv7(),
    attemptId: uuidv7(),
    orderId: 'ORD-1001',
    amountMinor: 12345n,
    currency: 'INR',
    method,
    customer: { name: 'Asha Rao', email: 'asha@example.com', phone: '+919000090000', vpa: 'asha@okaxis' },
    description: 'Order ORD-1001',
    returnUrl: 'https://shop.example.com/return',
    notifyUrl: 'https://tijori.example.com/api/v1/webhooks/gateways/gateway-razorpay',
    ...overrides,
  };
}

function lastBodyTo(path: string): Record<string, any> {
  const request = gateway.requests.findLast((recorded) => recorded.path === path);
  if (request === undefined) throw new Error(`no request to ${path}`);
  return JSON.parse(request.body);
}

function inbound(
  webhook: { body: string; headers: Record<string, string> },
  receivedAt = new Date(),
): InboundWebhook {
  return { rawBody: Buffer.from(webhook.body), headers: webhook.headers, receivedAt };
}

function sample(name: string): string {
  return readFileSync(new URL(`./samples/${name}`, import.meta.url), 'utf8');
}

/** A recorded webhook body, signed as Razorpay would sign it, received when it was sent. */
function signedSample(name: string): InboundWebhook {
  const body = sample(name);
  const signature = createHmac('sha256', gateway.credentials.webhookSecret ?? '')
    .update(body)
    .digest('hex');
  return {
    rawBody: Buffer.from(body),
    headers: {
      'content-type': 'application/json',
      'x-razorpay-signature': signature,
      'x-razorpay-event-id': 'KTnZ2eyvYahPhd',
    },
    receivedAt: new Date(JSON.parse(body).created_at * 1000),
  };
}

async function rawGet(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { keyId, keySecret } = gateway.credentials;
  const response = await fetch(`${gateway.baseUrl}${path}`, {
    headers: { authorization: `Basic ${Buffer.from(`${keyId}:${keySecret}`).toString('base64')}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('initiate', () => {
  it('sends UPI intent as an order then an S2S intent payment, in integer paise, with Basic auth', async () => {
    const request = requestFor('upi_intent');
    const outcome = await connector.initiate(contextFor(), request);

    const payment = gateway.paymentFor(request.attemptId);
    expect(outcome).toEqual({
      status: 'pending',
      gatewayReference: payment?.gatewayReference,
      nextAction: { type: 'upi_intent', url: expect.stringMatching(/^upi:\/\/pay\?/) },
    });
    expect(payment?.amountMinor).toBe(12345n);
    const order = lastBodyTo('/v1/orders');
    expect(order).toMatchObject({ amount: 12345, currency: 'INR', receipt: request.attemptId });
    expect(order.notes.attempt_id).toBe(request.attemptId);
    const upi = lastBodyTo('/v1/payments/create/upi');
    expect(upi).toMatchObject({
      amount: 12345,
      method: 'upi',
      email: 'asha@example.com',
      contact: '+919000090000',
    });
    expect(upi.upi).toEqual({ flow: 'intent' });
    const { keyId, keySecret } = gateway.credentials;
    expect(gateway.requests[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${keyId}:${keySecret}`).toString('base64')}`,
    );
  });

  it('shows the intent link as a QR for upi_qr', async () => {
    const outcome = await connector.initiate(contextFor(), requestFor('upi_qr'));
    expect(outcome).toMatchObject({
      status: 'pending',
      nextAction: { type: 'upi_qr', url: expect.stringMatching(/^upi:\/\//) },
    });
  });

  it('sends a collect request to the payer vpa for upi_collect', async () => {
    const request = requestFor('upi_collect');
    const outcome = await connector.initiate(contextFor(), request);
    expect(outcome).toMatchObject({
      status: 'pending',
      nextAction: { type: 'upi_collect', vpa: 'asha@okaxis' },
    });
    expect(lastBodyTo('/v1/payments/create/upi').upi).toMatchObject({ flow: 'collect', vpa: 'asha@okaxis' });
  });

  it.each(['card', 'netbanking'] as const)(
    'sends %s to a hosted payment link limited to that method',
    async (method) => {
      const request = requestFor(method);
      const outcome = await connector.initiate(contextFor(), request);
      const link = lastBodyTo('/v1/payment_links');
      expect(outcome).toEqual({
        status: 'pending',
        gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
        nextAction: { type: 'redirect', url: expect.stringMatching(/^https:\/\/rzp\.io\//) },
      });
      expect(link).toMatchObject({
        amount: 12345,
        reference_id: request.attemptId,
        callback_url: 'https://shop.example.com/return',
        callback_method: 'get',
      });
      expect(link.options.checkout.method).toEqual({
        card: method === 'card',
        netbanking: method === 'netbanking',
        upi: false,
        wallet: false,
      });
    },
  );

  it('refuses without calling when credentials are missing, retryable elsewhere', async () => {
    const outcome = await connector.initiate(
      contextFor({ credentials: { keyId: 'rzp_test_x' } }),
      requestFor('upi_intent'),
    );
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED', retryable: true });
    expect(gateway.requests).toHaveLength(0);
  });

  it('needs the payer email and phone for UPI, which another gateway may not', async () => {
    const customer = { name: 'Asha Rao', vpa: 'asha@okaxis' };
    const outcome = await connector.initiate(contextFor(), requestFor('upi_intent', { customer }));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: true });
    expect(gateway.requests).toHaveLength(0);
  });

  it('refuses a collect without a vpa and an amount a JSON number cannot carry exactly', async () => {
    const noVpa = await connector.initiate(
      contextFor(),
      requestFor('upi_collect', {
        customer: { name: 'Asha', email: 'a@example.com', phone: '+919000090000' },
      }),
    );
    expect(noVpa).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    const huge = await connector.initiate(
      contextFor(),
      requestFor('upi_intent', { amountMinor: 2n ** 53n + 1n }),
    );
    expect(huge).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
    expect(gateway.requests).toHaveLength(0);
  });

  it('maps an amount Razorpay refuses (below ₹1) to INVALID_REQUEST, not retryable', async () => {
    const outcome = await connector.initiate(contextFor(), requestFor('upi_intent', { amountMinor: 99n }));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false });
  });
});

describe("the payer's device", () => {
  const payer = {
    ip: '2401:4900:1c8a:6b2f::1',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36',
    referer: 'https://shop.example.com/checkout',
  };

  it.each(['upi_intent', 'upi_collect'] as const)(
    "sends the payer's ip, user_agent and referer with the S2S %s payment",
    async (method) => {
      const outcome = await connector.initiate(contextFor(), requestFor(method, { payer }));
      expect(outcome.status).toBe('pending');
      expect(lastBodyTo('/v1/payments/create/upi')).toMatchObject({
        ip: payer.ip,
        user_agent: payer.userAgent,
        referer: payer.referer,
      });
    },
  );

  it('makes up no ip when the merchant forwarded none; referer and user_agent keep their stand-ins', async () => {
    await connector.initiate(
      contextFor(),
      requestFor('upi_intent', { payer: { userAgent: payer.userAgent } }),
    );
    const withAgentOnly = lastBodyTo('/v1/payments/create/upi');
    expect(withAgentOnly).not.toHaveProperty('ip');
    expect(withAgentOnly).toMatchObject({
      user_agent: payer.userAgent,
      referer: 'https://shop.example.com/return',
    });

    await connector.initiate(contextFor(), requestFor('upi_intent', { returnUrl: undefined }));
    const withNothing = lastBodyTo('/v1/payments/create/upi');
    expect(withNothing).not.toHaveProperty('ip');
    expect(withNothing).toMatchObject({
      user_agent: 'Tijori',
      referer: 'https://tijori.example.com/api/v1/webhooks/gateways/gateway-razorpay',
    });
  });

  it('is refused as Razorpay documents it without the ip: INVALID_REQUEST, not retryable', async () => {
    const strict = await startRazorpayGateway({ requireClientFields: true });
    try {
      const context = contextFor({ baseUrl: strict.baseUrl, credentials: strict.credentials });
      const without = await connector.initiate(context, requestFor('upi_intent'));
      expect(without).toMatchObject({
        status: 'failed',
        errorCode: 'INVALID_REQUEST',
        errorMessage: expect.stringContaining('The ip field is required.'),
        retryable: false,
      });
      const withPayer = await connector.initiate(context, requestFor('upi_intent', { payer }));
      expect(withPayer.status).toBe('pending');
    } finally {
      await strict.close();
    }
  });

  it('the imitation refuses an ip that is not an address, as Razorpay does', async () => {
    const outcome = await connector.initiate(
      contextFor(),
      requestFor('upi_intent', { payer: { ip: '203.0.113.300' } }),
    );
    expect(outcome).toMatchObject({
      status: 'failed',
      errorCode: 'INVALID_REQUEST',
      errorMessage: expect.stringContaining('The ip must be a valid IP address.'),
    });
  });

  it('sends none of it to a payment link: the payer opens Razorpay’s page themselves', async () => {
    const outcome = await connector.initiate(contextFor(), requestFor('card', { payer }));
    expect(outcome.status).toBe('pending');
    const link = lastBodyTo('/v1/payment_links');
    for (const field of ['ip', 'user_agent', 'referer']) expect(link).not.toHaveProperty(field);
  });
});

describe('behaviours', () => {
  it('succeed: pending at initiate (the payer acts at their app), then captured', async () => {
    const request = requestFor('upi_intent');
    expect(await connector.initiate(contextFor(), request)).toMatchObject({ status: 'pending' });
    const status = await connector.fetchStatus(contextFor(), {
      ...request,
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
    });
    expect(status).toEqual({
      status: 'succeeded',
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
      amountMinor: 12345n,
    });
  });

  it('pending: stays pending until the payer approves', async () => {
    gateway.behaviour = 'pending';
    const request = requestFor('upi_collect');
    const outcome = await connector.initiate(contextFor(), request);
    expect(outcome).toMatchObject({ status: 'pending' });
    const reference = { ...request, gatewayReference: outcome.gatewayReference };
    expect(await connector.fetchStatus(contextFor(), reference)).toEqual({
      status: 'pending',
      gatewayReference: outcome.gatewayReference,
    });
    gateway.settle(request.attemptId, 'succeeded');
    expect(await connector.fetchStatus(contextFor(), reference)).toMatchObject({
      status: 'succeeded',
      amountMinor: 12345n,
    });
  });

  it('decline: DECLINED, not retryable, with the failed payment as reference', async () => {
    gateway.behaviour = 'decline';
    const request = requestFor('upi_collect');
    const outcome = await connector.initiate(contextFor(), request);
    const payment = gateway.paymentFor(request.attemptId);
    expect(outcome).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
      retryable: false,
      gatewayReference: payment?.gatewayReference,
    });
    expect(payment?.status).toBe('failed');
    const status = await connector.fetchStatus(contextFor(), {
      ...request,
      gatewayReference: payment?.gatewayReference,
    });
    expect(status).toMatchObject({ status: 'failed', errorCode: 'DECLINED' });
  });

  it('error: the 5xx error body is GATEWAY_UNAVAILABLE, retryable', async () => {
    gateway.behaviour = 'error';
    const outcome = await connector.initiate(contextFor(), requestFor('upi_intent'));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_UNAVAILABLE', retryable: true });
  });

  it('timeout: GATEWAY_TIMEOUT, retryable, within about timeoutMs', async () => {
    gateway.behaviour = 'timeout';
    const startedAt = performance.now();
    const outcome = await connector.initiate(contextFor({ timeoutMs: SHORT_TIMEOUT_MS }), requestFor('card'));
    const elapsedMs = performance.now() - startedAt;
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_TIMEOUT', retryable: true });
    expect(elapsedMs).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 10);
    expect(elapsedMs).toBeLessThan(SHORT_TIMEOUT_MS + 400);
  });

  it('unauthorized: AUTHENTICATION_FAILED, retryable elsewhere', async () => {
    gateway.behaviour = 'unauthorized';
    const outcome = await connector.initiate(contextFor(), requestFor('netbanking'));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED', retryable: true });
  });

  it('the server checks Basic auth on every call: a wrong secret is refused', async () => {
    const credentials = { ...gateway.credentials, keySecret: 'wrong-secret' };
    const outcome = await connector.initiate(contextFor({ credentials }), requestFor('upi_intent'));
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED' });
    const status = await connector.fetchStatus(contextFor({ credentials }), {
      ...requestFor('upi_intent'),
      gatewayReference: 'pay_X',
    });
    expect(status).toMatchObject({ status: 'failed', errorCode: 'AUTHENTICATION_FAILED' });
  });

  it('a collect that times out after the order exists is not retried elsewhere (the payer may approve it)', async () => {
    const silent = createServer((request, response) => {
      if (request.url === '/v1/orders') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ id: 'order_Silent000000001', entity: 'order', status: 'created' }));
      }
      // create/upi: accepted and never answered
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const context = contextFor({ baseUrl, timeoutMs: SHORT_TIMEOUT_MS });
      const collect = await connector.initiate(context, requestFor('upi_collect'));
      expect(collect).toMatchObject({
        status: 'failed',
        errorCode: 'GATEWAY_TIMEOUT',
        retryable: false,
        gatewayReference: 'order_Silent000000001',
      });
      const intent = await connector.initiate(context, requestFor('upi_intent'));
      expect(intent).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_TIMEOUT', retryable: true });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('fetchStatus', () => {
  it('finds the order by receipt when initiate returned no reference', async () => {
    gateway.behaviour = 'pending';
    const request = requestFor('upi_intent');
    await connector.initiate(contextFor(), request);
    const before = await connector.fetchStatus(contextFor(), request);
    expect(before).toEqual({
      status: 'pending',
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
    });
    gateway.settle(request.attemptId, 'failed');
    expect(await connector.fetchStatus(contextFor(), request)).toMatchObject({
      status: 'failed',
      errorCode: 'DECLINED',
    });
    expect(
      gateway.requests.some((recorded) => recorded.path === `/v1/orders?receipt=${request.attemptId}`),
    ).toBe(true);
  });

  it('reads an order reference through the order payments', async () => {
    gateway.behaviour = 'pending';
    const request = requestFor('upi_intent');
    await connector.initiate(contextFor(), request);
    const orderId = lastBodyTo('/v1/payments/create/upi').order_id as string;
    gateway.settle(request.attemptId, 'succeeded');
    const status = await connector.fetchStatus(contextFor(), { ...request, gatewayReference: orderId });
    expect(status).toEqual({
      status: 'succeeded',
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
      amountMinor: 12345n,
    });
  });

  it('is pending for an attempt Razorpay has never seen', async () => {
    expect(await connector.fetchStatus(contextFor(), requestFor('upi_intent'))).toEqual({
      status: 'pending',
    });
  });

  it('reads a payment link: open, then paid with the payment id, or expired', async () => {
    gateway.behaviour = 'pending';
    const paid = requestFor('card');
    const paidOutcome = await connector.initiate(contextFor(), paid);
    const link = { ...paid, gatewayReference: paidOutcome.gatewayReference };
    expect(await connector.fetchStatus(contextFor(), link)).toEqual({
      status: 'pending',
      gatewayReference: paidOutcome.gatewayReference,
    });
    gateway.settle(paid.attemptId, 'succeeded');
    const status = await connector.fetchStatus(contextFor(), link);
    expect(status).toMatchObject({
      status: 'succeeded',
      gatewayReference: expect.stringMatching(/^pay_/),
      amountMinor: 12345n,
    });

    const expired = requestFor('netbanking');
    const expiredOutcome = await connector.initiate(contextFor(), expired);
    gateway.settle(expired.attemptId, 'failed');
    const expiredStatus = await connector.fetchStatus(contextFor(), {
      ...expired,
      gatewayReference: expiredOutcome.gatewayReference,
    });
    expect(expiredStatus).toMatchObject({ status: 'failed', errorCode: 'EXPIRED' });
  });
});

describe('refund', () => {
  async function capturedPayment(method: PaymentMethod = 'upi_intent') {
    const request = requestFor(method);
    const outcome = await connector.initiate(contextFor(), request);
    if (outcome.status === 'failed') throw new Error(outcome.errorMessage);
    return {
      attemptId: request.attemptId,
      paymentId: request.paymentId,
      gatewayReference: outcome.gatewayReference,
    };
  }

  function refundOf(
    payment: { attemptId: string; paymentId: string; gatewayReference: string },
    amountMinor: bigint,
  ) {
    return { ...payment, refundId: uuidv7(), amountMinor, currency: 'INR', reason: 'customer asked' };
  }

  it('refunds in full with the refund id as idempotency key and receipt', async () => {
    const payment = await capturedPayment();
    const request = refundOf(payment, 12345n);
    const outcome = await connector.refund(contextFor(), request);
    expect(outcome).toEqual({ status: 'succeeded', gatewayReference: expect.stringMatching(/^rfnd_/) });
    const sent = gateway.requests.at(-1);
    expect(sent?.path).toBe(`/v1/payments/${payment.gatewayReference}/refund`);
    expect(sent?.headers['x-refund-idempotency']).toBe(request.refundId);
    expect(JSON.parse(sent?.body ?? '')).toMatchObject({ amount: 12345, receipt: request.refundId });
    expect(gateway.paymentFor(payment.attemptId)?.status).toBe('refunded');
  });

  it('refunds in parts and is refused past what was captured', async () => {
    const payment = await capturedPayment();
    expect(await connector.refund(contextFor(), refundOf(payment, 5000n))).toMatchObject({
      status: 'succeeded',
    });
    const over = await connector.refund(contextFor(), refundOf(payment, 7346n));
    expect(over).toMatchObject({
      status: 'failed',
      errorCode: 'INVALID_REQUEST',
      retryable: false,
      errorMessage: expect.stringContaining('greater than amount captured'),
    });
    expect(await connector.refund(contextFor(), refundOf(payment, 7345n))).toMatchObject({
      status: 'succeeded',
    });
  });

  it('a retried refund (same refund id) is the same refund, not a second one', async () => {
    const payment = await capturedPayment();
    const request = refundOf(payment, 5000n);
    const first = await connector.refund(contextFor(), request);
    const second = await connector.refund(contextFor(), request);
    expect(second).toEqual(first);
    expect(await connector.refund(contextFor(), refundOf(payment, 7345n))).toMatchObject({
      status: 'succeeded',
    });
  });

  it('refunds a card payment made through its payment link', async () => {
    const payment = await capturedPayment('card');
    expect(payment.gatewayReference).toMatch(/^plink_/);
    expect(await connector.refund(contextFor(), refundOf(payment, 12345n))).toMatchObject({
      status: 'succeeded',
    });
    expect(gateway.requests.at(-1)?.path).toMatch(/^\/v1\/payments\/pay_\w+\/refund$/);
  });
});

describe('fetchRefundStatus', () => {
  /** A captured payment and a refund of `amountMinor` Razorpay queued (status pending). */
  async function queuedRefund(amountMinor = 5000n): Promise<RefundStatusRequest> {
    const request = requestFor('upi_intent');
    const outcome = await connector.initiate(contextFor(), request);
    if (outcome.status === 'failed') throw new Error(outcome.errorMessage);
    gateway.refundsQueued = true;
    const refundId = uuidv7();
    const refund = await connector.refund(contextFor(), {
      refundId,
      paymentId: request.paymentId,
      attemptId: request.attemptId,
      gatewayReference: outcome.gatewayReference,
      amountMinor,
      currency: 'INR',
      reason: 'customer asked',
    });
    if (refund.status !== 'pending') throw new Error(`Razorpay did not queue the refund: ${refund.status}`);
    return {
      refundId,
      refundReference: refund.gatewayReference,
      paymentId: request.paymentId,
      attemptId: request.attemptId,
      paymentReference: outcome.gatewayReference,
      amountMinor,
      currency: 'INR',
    };
  }

  it('GETs /v1/refunds/:id with Basic auth: pending, then processed with its amount', async () => {
    const refund = await queuedRefund(5000n);
    expect(refund.refundReference).toMatch(/^rfnd_/);
    expect(await connector.fetchRefundStatus(contextFor(), refund)).toEqual({
      status: 'pending',
      gatewayReference: refund.refundReference,
    });
    const sent = gateway.requests.at(-1);
    expect(sent).toMatchObject({ method: 'GET', path: `/v1/refunds/${refund.refundReference}`, body: '' });
    const { keyId, keySecret } = gateway.credentials;
    expect(sent?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${keyId}:${keySecret}`).toString('base64')}`,
    );
    gateway.settleRefund(refund.refundReference, 'succeeded');
    expect(await connector.fetchRefundStatus(contextFor(), refund)).toEqual({
      status: 'succeeded',
      gatewayReference: refund.refundReference,
      amountMinor: 5000n,
    });
  });

  it('reports a failed refund as failed; a status it does not know stays pending', async () => {
    const refund = await queuedRefund();
    gateway.settleRefund(refund.refundReference, 'failed');
    expect(await connector.fetchRefundStatus(contextFor(), refund)).toEqual({
      status: 'failed',
      gatewayReference: refund.refundReference,
      errorCode: 'DECLINED',
      errorMessage: `refund ${refund.refundReference} failed at razorpay`,
    });
    for (const status of ['reversed', 'constructor', 'PROCESSED']) {
      gateway.setRefundStatus(refund.refundReference, status);
      expect(await connector.fetchRefundStatus(contextFor(), refund), status).toEqual({
        status: 'pending',
        gatewayReference: refund.refundReference,
      });
    }
  });

  it('is pending with why when Razorpay gives no answer about the refund', async () => {
    const refund = await queuedRefund();
    const unknown = await connector.fetchRefundStatus(contextFor(), {
      ...refund,
      refundReference: 'rfnd_DoesNotExist00',
    });
    expect(unknown).toMatchObject({
      status: 'pending',
      gatewayReference: 'rfnd_DoesNotExist00',
      unanswered: { errorCode: 'INVALID_REQUEST', errorMessage: expect.stringContaining('does not exist') },
    });
    const credentials = { ...gateway.credentials, keySecret: 'wrong-secret' };
    expect(await connector.fetchRefundStatus(contextFor({ credentials }), refund)).toMatchObject({
      status: 'pending',
      unanswered: { errorCode: 'AUTHENTICATION_FAILED' },
    });
    expect(await connector.fetchRefundStatus(contextFor({ credentials: {} }), refund)).toMatchObject({
      status: 'pending',
      unanswered: { errorCode: 'AUTHENTICATION_FAILED' },
    });
    gateway.refundStatusBehaviour = 'error';
    expect(await connector.fetchRefundStatus(contextFor(), refund)).toMatchObject({
      status: 'pending',
      unanswered: { errorCode: 'GATEWAY_UNAVAILABLE' },
    });
    gateway.refundStatusBehaviour = 'timeout';
    const startedAt = performance.now();
    expect(
      await connector.fetchRefundStatus(contextFor({ timeoutMs: SHORT_TIMEOUT_MS }), refund),
    ).toMatchObject({ status: 'pending', unanswered: { errorCode: 'GATEWAY_TIMEOUT' } });
    expect(performance.now() - startedAt).toBeLessThan(SHORT_TIMEOUT_MS + 400);
  });
});

describe('webhooks', () => {
  async function initiated(method: PaymentMethod = 'upi_intent') {
    gateway.behaviour = 'pending';
    const request = requestFor(method);
    await connector.initiate(contextFor(), request);
    return request;
  }

  it('accepts a good webhook and reads attempt, reference, status and amount', async () => {
    const request = await initiated();
    const webhook = inbound(gateway.webhookFor(request.attemptId, 'succeeded', { eventId: 'evt_one' }));
    expect(connector.verifyWebhook(contextFor(), webhook, TOLERANCE_SEC)).toEqual({ ok: true });
    expect(connector.parseWebhook(contextFor(), webhook)).toEqual({
      eventId: 'evt_one',
      kind: 'payment',
      attemptId: request.attemptId,
      gatewayReference: gateway.paymentFor(request.attemptId)?.gatewayReference,
      status: 'succeeded',
      amountMinor: 12345n,
    });
  });

  it('reads failed and pending events', async () => {
    const request = await initiated('upi_collect');
    const failed = connector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'failed')),
    );
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'DECLINED', attemptId: request.attemptId });
    const pending = connector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'pending')),
    );
    expect(pending).toMatchObject({ status: 'pending', attemptId: request.attemptId });
  });

  it('reads payment link events by their reference_id', async () => {
    const request = await initiated('card');
    const paid = connector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'succeeded')),
    );
    expect(paid).toMatchObject({
      status: 'succeeded',
      attemptId: request.attemptId,
      gatewayReference: expect.stringMatching(/^pay_/),
      amountMinor: 12345n,
    });
    const expired = connector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'failed')),
    );
    expect(expired).toMatchObject({ status: 'failed', errorCode: 'EXPIRED', attemptId: request.attemptId });
  });

  it('refuses a tampered body, a missing or garbled signature, and another secret', async () => {
    const request = await initiated();
    const verify = (webhook: InboundWebhook) => connector.verifyWebhook(contextFor(), webhook, TOLERANCE_SEC);
    expect(verify(inbound(gateway.webhookFor(request.attemptId, 'succeeded', { tamper: true })))).toEqual({
      ok: false,
      reason: 'bad_signature',
    });

    const good = gateway.webhookFor(request.attemptId, 'succeeded');
    const { 'x-razorpay-signature': _signature, ...unsigned } = good.headers;
    expect(verify(inbound({ ...good, headers: unsigned }))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(
      verify(inbound({ ...good, headers: { ...good.headers, 'x-razorpay-signature': 'not-a-signature' } })),
    ).toEqual({ ok: false, reason: 'bad_signature' });
    const foreign = createHmac('sha256', 'another-secret').update(good.body).digest('hex');
    expect(
      verify(inbound({ ...good, headers: { ...good.headers, 'x-razorpay-signature': foreign } })),
    ).toEqual({ ok: false, reason: 'bad_signature' });
    const noSecret = contextFor({ credentials: { ...gateway.credentials, webhookSecret: '' } });
    expect(connector.verifyWebhook(noSecret, inbound(good), TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a webhook whose signed created_at is outside the tolerance, either way', async () => {
    const request = await initiated();
    const verify = (ageSec: number) =>
      connector.verifyWebhook(
        contextFor(),
        inbound(gateway.webhookFor(request.attemptId, 'succeeded', { ageSec })),
        TOLERANCE_SEC,
      );
    expect(verify(TOLERANCE_SEC - 60)).toEqual({ ok: true });
    expect(verify(TOLERANCE_SEC + 60)).toEqual({ ok: false, reason: 'stale' });
    expect(verify(-(TOLERANCE_SEC + 60))).toEqual({ ok: false, reason: 'stale' });
  });

  it('calls a correctly signed body that is not an event malformed', () => {
    const body = 'not json';
    const signature = createHmac('sha256', gateway.credentials.webhookSecret ?? '')
      .update(body)
      .digest('hex');
    const webhook = inbound({ body, headers: { 'x-razorpay-signature': signature } });
    expect(connector.verifyWebhook(contextFor(), webhook, TOLERANCE_SEC)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('parses a replay to the same event id (dedupe is the service’s)', async () => {
    const request = await initiated();
    const first = connector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'succeeded', { eventId: 'KTnZ2eyvYahPhd' })),
    );
    const replay = connector.parseWebhook(
      contextFor(),
      inbound(gateway.webhookFor(request.attemptId, 'succeeded', { eventId: 'KTnZ2eyvYahPhd' })),
    );
    expect(replay?.eventId).toBe('KTnZ2eyvYahPhd');
    expect(replay).toEqual(first);
  });

  it('reads the recorded samples', () => {
    const context = contextFor();
    for (const name of [
      'webhook-payment-captured.json',
      'webhook-payment-failed.json',
      'webhook-refund-processed.json',
      'webhook-payment-link-paid.json',
    ]) {
      expect(connector.verifyWebhook(context, signedSample(name), TOLERANCE_SEC)).toEqual({ ok: true });
    }
    expect(connector.parseWebhook(context, signedSample('webhook-payment-captured.json'))).toEqual({
      eventId: 'KTnZ2eyvYahPhd',
      kind: 'payment',
      attemptId: '0190a0b4-7c1e-7a3b-9f00-1b2c3d4e5f60',
      gatewayReference: 'pay_DESyzxuld02Zul',
      status: 'succeeded',
      amountMinor: 12345n,
    });
    expect(connector.parseWebhook(context, signedSample('webhook-payment-failed.json'))).toMatchObject({
      status: 'failed',
      errorCode: 'INSUFFICIENT_FUNDS',
      attemptId: '0190a0b4-7c1e-7a3b-9f00-1b2c3d4e5f62',
    });
    expect(connector.parseWebhook(context, signedSample('webhook-refund-processed.json'))).toMatchObject({
      kind: 'refund',
      status: 'succeeded',
      gatewayReference: 'rfnd_FP8QHiV938haTz',
      amountMinor: 5000n,
    });
    expect(connector.parseWebhook(context, signedSample('webhook-payment-link-paid.json'))).toMatchObject({
      status: 'succeeded',
      attemptId: '0190a0b4-7c1e-7a3b-9f00-1b2c3d4e5f61',
      gatewayReference: 'pay_Exjpd0qXzFYfJu',
    });
  });

  it('ignores events it does not act on', () => {
    const webhook = signedSample('webhook-payment-captured.json');
    const other = Buffer.from(webhook.rawBody.toString().replace('"payment.captured"', '"order.paid"'));
    expect(connector.parseWebhook(contextFor(), { ...webhook, rawBody: other })).toBeNull();
  });
});

describe('the imitation keeps Razorpay’s shapes', () => {
  function keysOf(json: string): string[] {
    return Object.keys(JSON.parse(json)).sort();
  }

  it('answers with every field of the recorded order, payment, link and refund samples', async () => {
    const upi = requestFor('upi_intent');
    await connector.initiate(contextFor(), upi);
    const paymentId = gateway.paymentFor(upi.attemptId)?.gatewayReference ?? '';
    const payment = await rawGet(`/v1/payments/${paymentId}`);
    expect(Object.keys(payment.body)).toEqual(
      expect.arrayContaining(keysOf(sample('payment-captured.json'))),
    );
    const order = await rawGet(`/v1/orders/${String(payment.body.order_id)}`);
    expect(Object.keys(order.body)).toEqual(expect.arrayContaining(keysOf(sample('order.json'))));
    const card = requestFor('card');
    await connector.initiate(contextFor(), card);
    const link = await rawGet(`/v1/payment_links/${gateway.paymentFor(card.attemptId)?.gatewayReference}`);
    expect(Object.keys(link.body)).toEqual(expect.arrayContaining(keysOf(sample('payment-link.json'))));
    const refund = await connector.refund(contextFor(), {
      ...upi,
      refundId: uuidv7(),
      gatewayReference: paymentId,
      reason: 'test',
    });
    const refundReply = await rawGet(`/v1/payments/${paymentId}`);
    expect(refundReply.body.amount_refunded).toBe(12345);
    const refundId = refund.status === 'failed' ? '' : refund.gatewayReference;
    const fetched = await rawGet(`/v1/refunds/${refundId}`);
    expect(Object.keys(fetched.body)).toEqual(
      expect.arrayContaining(keysOf(sample('refund-processed.json'))),
    );
  });

  it('answers refusals with Razorpay’s error body', async () => {
    const missing = await rawGet('/v1/payments/pay_DoesNotExist00');
    expect(missing.status).toBe(400);
    expect(Object.keys(missing.body.error as object)).toEqual(
      expect.arrayContaining(Object.keys(JSON.parse(sample('error-declined.json')).error)),
    );
    const unauthorised = await fetch(`${gateway.baseUrl}/v1/payments/pay_DoesNotExist00`);
    expect(unauthorised.status).toBe(401);
    expect(await unauthorised.json()).toMatchObject({
      error: { code: 'BAD_REQUEST_ERROR', description: 'Authentication failed' },
    });
  });
});

describe('mapping', () => {
  it('maps the recorded error bodies', () => {
    const declined = JSON.parse(sample('error-declined.json')).error;
    expect(apiErrorCodeOf(declined.code, declined.reason)).toBe('DECLINED');
    const over = JSON.parse(sample('error-refund-over-captured.json')).error;
    expect(apiErrorCodeOf(over.code, over.reason)).toBe('INVALID_REQUEST');
    expect(apiErrorCodeOf('SERVER_ERROR', 'NA')).toBe('GATEWAY_UNAVAILABLE');
    expect(apiErrorCodeOf('GATEWAY_ERROR', 'NA')).toBe('GATEWAY_ERROR');
  });

  it('fails safe on what it does not know', () => {
    expect(paymentStatusOf('on_hold')).toBeNull();
    expect(paymentStatusOf('constructor')).toBeNull();
    expect(paymentLinkStateOf('archived')).toEqual({ status: 'failed', errorCode: 'UNKNOWN' });
    expect(failureCodeOf('brand_new_reason')).toBe('UNKNOWN');
    expect(apiErrorCodeOf('NEW_ERROR', 'NA')).toBe('UNKNOWN');
    expect(refundStatusOf('reversed')).toBe('pending');
  });
});
