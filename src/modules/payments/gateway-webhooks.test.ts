import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import { startPaytmGateway } from '../../../test/gateways/paytm-server.ts';
import { startPayuGateway } from '../../../test/gateways/payu-server.ts';
import {
  type FakeBehaviour,
  type FakeGateway,
  type RecordedRequest,
  type SignedWebhook,
  startRazorpayGateway,
} from '../../../test/gateways/razorpay-server.ts';

/**
 * Paying through the network connectors (Razorpay, PayU, Paytm) and their webhooks, end to end:
 * the real application and database, each connector talking real HTTP to a local server that
 * imitates its gateway (test/gateways/), webhooks signed by those servers and posted raw.
 */

type NetworkConnector = 'razorpay' | 'payu' | 'paytm';

interface ConnectorCase {
  readonly connector: NetworkConnector;
  readonly start: () => Promise<FakeGateway>;
  /** Its webhook signs a timestamp (Razorpay's created_at, Paytm's TXNDATE): the tolerance applies. */
  readonly timedWebhooks: boolean;
  /** The reference a UPI collect attempt carries before any webhook: the gateway's payment id, or our attempt id. */
  readonly referenceAtInitiate: 'gateway' | 'attempt';
  /** The gateway settles a refund in its reply; otherwise it only queues it (pending). */
  readonly refundSettlesAtOnce: boolean;
  /** Whether a request the fake recorded asked for a refund. */
  readonly isRefundCall: (request: RecordedRequest) => boolean;
  readonly feePercent: number;
}

const CONNECTOR_CASES: readonly ConnectorCase[] = [
  {
    connector: 'razorpay',
    start: () => startRazorpayGateway(),
    timedWebhooks: true,
    referenceAtInitiate: 'gateway',
    refundSettlesAtOnce: true,
    isRefundCall: (request) => /^\/v1\/payments\/[^/]+\/refund$/.test(request.path),
    feePercent: 0,
  },
  {
    connector: 'payu',
    start: () => startPayuGateway(),
    timedWebhooks: false,
    referenceAtInitiate: 'gateway',
    refundSettlesAtOnce: false,
    isRefundCall: (request) => request.body.includes('command=cancel_refund_transaction'),
    // A 2% fee, so the merchant's credit shows the fee leg (its refunds stay queued, so no debit).
    feePercent: 2,
  },
  {
    connector: 'paytm',
    start: () => startPaytmGateway(),
    timedWebhooks: true,
    referenceAtInitiate: 'attempt',
    refundSettlesAtOnce: false,
    isRefundCall: (request) => request.path.startsWith('/refund/apply'),
    feePercent: 0,
  },
];

const AMOUNT_RUPEES = 250;
const AMOUNT_MINOR = 25_000n;
const PARTIAL_REFUND_RUPEES = 100;
const BASIS_POINTS_PER_PERCENT = 100n;
const BASIS_POINTS_PER_WHOLE = 10_000n;
const STALE_AGE_SEC = 3600;
const TIMEOUT_MS = 300;
const FOREIGN_NETWORK = '10.9.8.0/24';
/** What app.inject reports as the caller's address. */
const INJECT_ADDRESS = '127.0.0.1';
const CUSTOMER = { name: 'Asha Rao', email: 'asha@example.test', phone: '9876543210', vpa: 'asha@okaxis' };

let testApp: TestApp;
let admin: Account;
const fakes: FakeGateway[] = [];

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
  await disableSandbox(admin);
});

afterAll(async () => {
  await testApp?.close();
  await Promise.all(fakes.map((fake) => fake.close()));
});

async function startFake(spec: ConnectorCase, behaviour: FakeBehaviour): Promise<FakeGateway> {
  const fake = await spec.start();
  fake.behaviour = behaviour;
  fakes.push(fake);
  return fake;
}

async function disableSandbox(administrator: Account): Promise<void> {
  const listed = await administrator.client.get('/api/v1/admin/gateways');
  expect(listed.statusCode, listed.body).toBe(200);
  const sandbox = listed.json().data.gateways.find((gateway: { connector: string }) => {
    return gateway.connector === 'sandbox';
  });
  expect(sandbox, 'createTestApp makes one sandbox gateway').toBeDefined();
  const reply = await administrator.client.put(`/api/v1/admin/gateways/${sandbox.id}`, { enabled: false });
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data.gateway.enabled).toBe(false);
}

async function createGateway(
  administrator: Account,
  fields: { name: string; connector: NetworkConnector; fake: FakeGateway; feePercent?: number },
): Promise<string> {
  const reply = await administrator.client.post('/api/v1/admin/gateways', {
    name: `${fields.name} ${randomBytes(3).toString('hex')}`,
    connector: fields.connector,
    credentials: fields.fake.credentials,
    config: { baseUrl: fields.fake.baseUrl },
    methods: ['upi_collect'],
    fees: { percent: fields.feePercent ?? 0, fixed: 0 },
  });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.gateway.id;
}

async function setAllowlist(gatewayId: string, networks: string[] | null): Promise<void> {
  const reply = await admin.client.put(`/api/v1/admin/gateways/${gatewayId}`, {
    webhookIpAllowlist: networks,
  });
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data.gateway.webhookIpAllowlist).toEqual(networks);
}

/** The merchant's payments go to these gateways only, in this order (the failover order). */
async function preferGateways(merchant: Account, gatewayIds: string[]): Promise<void> {
  const reply = await merchant.client.put('/api/v1/merchant/gateway-preferences', { gatewayIds });
  expect(reply.statusCode, reply.body).toBe(200);
}

async function newMerchant(app: TestApp, gatewayIds: string[]): Promise<Account> {
  const merchant = await createAccount(app, 'merchant');
  await preferGateways(merchant, gatewayIds);
  return merchant;
}

function newOrderId(): string {
  return `order-${randomBytes(6).toString('hex')}`;
}

async function pay(merchant: Account, orderId = newOrderId()): Promise<Reply> {
  return merchant.client.post(
    '/api/v1/pay',
    { amount: AMOUNT_RUPEES, currency: 'INR', orderId, method: 'upi_collect', customer: CUSTOMER },
    { 'idempotency-key': randomUUID() },
  );
}

interface PaymentReply {
  id: string;
  status: string;
  gatewayId: string | null;
  errorCode: string | null;
  refundedAmount: number;
  attempts: {
    id: string;
    gatewayId: string;
    status: string;
    gatewayReference: string | null;
    errorCode: string | null;
    latencyMs: number | null;
  }[];
}

/** Pays and expects the 201 with a pending payment; returns the payment and its one attempt's id. */
async function payPending(merchant: Account, gatewayId: string) {
  const reply = await pay(merchant);
  expect(reply.statusCode, reply.body).toBe(201);
  const payment: PaymentReply = reply.json().data.payment;
  expect(payment).toMatchObject({ status: 'pending', gatewayId });
  expect(payment.attempts).toHaveLength(1);
  return { payment, attemptId: payment.attempts[0]!.id };
}

async function paymentOf(merchant: Account, paymentId: string): Promise<PaymentReply> {
  const reply = await merchant.client.get(`/api/v1/payments/${paymentId}`);
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.payment;
}

async function balanceMinorOf(merchant: Account): Promise<bigint> {
  const reply = await merchant.client.get('/api/v1/merchant/balance');
  expect(reply.statusCode, reply.body).toBe(200);
  const balances: { currency: string; balanceMinor: string }[] = reply.json().data.balances;
  return BigInt(balances.find((balance) => balance.currency === 'INR')?.balanceMinor ?? '0');
}

async function ledgerEntriesOf(paymentId: string, type: 'payment' | 'refund'): Promise<number> {
  const rows = await testApp.database.handle.db
    .selectFrom('ledgerEntries')
    .select('id')
    .where('type', '=', type)
    .where('metadata', '@>', JSON.stringify({ paymentId }) as never)
    .execute();
  return rows.length;
}

async function eventTypesOf(paymentId: string): Promise<string[]> {
  const rows = await testApp.database.handle.db
    .selectFrom('events')
    .select('type')
    .where('payload', '@>', JSON.stringify({ id: paymentId }) as never)
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.type);
}

async function storedAttempt(attemptId: string) {
  return testApp.database.handle.db
    .selectFrom('paymentAttempts')
    .select(['status', 'gatewayReference', 'errorCode'])
    .where('id', '=', attemptId)
    .executeTakeFirstOrThrow();
}

/** What a refused webhook must leave exactly as it was. */
async function stateOf(merchant: Account, paymentId: string, attemptId: string) {
  const payment = await paymentOf(merchant, paymentId);
  return {
    status: payment.status,
    attempt: await storedAttempt(attemptId),
    credits: await ledgerEntriesOf(paymentId, 'payment'),
    balanceMinor: await balanceMinorOf(merchant),
    events: await eventTypesOf(paymentId),
  };
}

async function webhookIds(): Promise<Set<string>> {
  const rows = await testApp.database.handle.db.selectFrom('gatewayWebhooks').select('id').execute();
  return new Set(rows.map((row) => row.id));
}

/** Posts a webhook as the gateway would (its headers, its exact bytes); returns the reply and the one row it stored. */
async function sendWebhook(gatewayId: string, webhook: SignedWebhook) {
  const before = await webhookIds();
  const reply = await client(testApp.app).post(
    `/api/v1/webhooks/gateways/${gatewayId}`,
    webhook.body,
    webhook.headers,
  );
  const rows = await testApp.database.handle.db
    .selectFrom('gatewayWebhooks')
    .select(['id', 'gatewayId', 'remoteAddress', 'body', 'verification', 'eventId', 'paymentId', 'effect'])
    .execute();
  const added = rows.filter((row) => !before.has(row.id));
  expect(added, 'each inbound webhook is stored once').toHaveLength(1);
  const row = added[0]!;
  expect(row.body, 'the exact bytes received are kept').toBe(webhook.body);
  return { reply, row };
}

function feeMinorOf(feePercent: number): bigint {
  return (AMOUNT_MINOR * BigInt(feePercent) * BASIS_POINTS_PER_PERCENT) / BASIS_POINTS_PER_WHOLE;
}

describe.each(CONNECTOR_CASES)('$connector: a payment and its webhooks', (spec) => {
  let fake: FakeGateway;
  let gatewayId: string;
  let merchant: Account;
  let paymentId: string;
  let attemptId: string;
  let goodWebhook: SignedWebhook;

  beforeAll(async () => {
    // The payer has not approved yet: initiate leaves the payment pending at the gateway.
    fake = await startFake(spec, 'pending');
    gatewayId = await createGateway(admin, {
      name: spec.connector,
      connector: spec.connector,
      fake,
      feePercent: spec.feePercent,
    });
    merchant = await newMerchant(testApp, [gatewayId]);
  });

  it('initiates a UPI collect: 201 pending, the attempt recorded with its gateway reference', async () => {
    const reply = await pay(merchant);
    expect(reply.statusCode, reply.body).toBe(201);
    const { payment, nextAction } = reply.json().data;
    expect(payment).toMatchObject({ status: 'pending', gatewayId, amount: AMOUNT_RUPEES, currency: 'INR' });
    expect(nextAction).toEqual({ type: 'upi_collect', vpa: CUSTOMER.vpa });
    expect(payment.attempts).toHaveLength(1);
    const [attempt] = payment.attempts;
    expect(attempt).toMatchObject({ gatewayId, status: 'pending', errorCode: null });
    paymentId = payment.id;
    attemptId = attempt.id;

    const atGateway = fake.paymentFor(attemptId);
    expect(atGateway, 'the gateway holds a payment under our attempt').toBeDefined();
    expect(atGateway?.amountMinor).toBe(AMOUNT_MINOR);
    const expectedReference =
      spec.referenceAtInitiate === 'gateway' ? atGateway?.gatewayReference : attemptId;
    expect(attempt.gatewayReference).toBe(expectedReference);
    expect(await storedAttempt(attemptId)).toEqual({
      status: 'pending',
      gatewayReference: expectedReference,
      errorCode: null,
    });
    expect(await ledgerEntriesOf(paymentId, 'payment')).toBe(0);
    expect(await eventTypesOf(paymentId)).toEqual(['payment.pending']);
  });

  it('refuses a tampered webhook: 401 INVALID_SIGNATURE, stored as bad_signature, nothing changed', async () => {
    const before = await stateOf(merchant, paymentId, attemptId);
    fake.settle(attemptId, 'succeeded');
    const { reply, row } = await sendWebhook(
      gatewayId,
      fake.webhookFor(attemptId, 'succeeded', { tamper: true }),
    );
    expectError(reply, 401, 'INVALID_SIGNATURE');
    expect(row).toMatchObject({
      gatewayId,
      verification: 'bad_signature',
      eventId: null,
      paymentId: null,
      effect: null,
    });
    expect(await stateOf(merchant, paymentId, attemptId)).toEqual(before);
  });

  it.runIf(spec.timedWebhooks)(
    'refuses a stale webhook (its signed time an hour old): 400 STALE_WEBHOOK, stored as stale',
    async () => {
      const before = await stateOf(merchant, paymentId, attemptId);
      const { reply, row } = await sendWebhook(
        gatewayId,
        fake.webhookFor(attemptId, 'succeeded', { ageSec: STALE_AGE_SEC }),
      );
      expectError(reply, 400, 'STALE_WEBHOOK');
      expect(row).toMatchObject({ gatewayId, verification: 'stale', eventId: null, effect: null });
      expect(await stateOf(merchant, paymentId, attemptId)).toEqual(before);
    },
  );

  it('refuses a webhook from outside the allow-list: 403 IP_NOT_ALLOWED, stored as ip_refused', async () => {
    await setAllowlist(gatewayId, [FOREIGN_NETWORK]);
    const before = await stateOf(merchant, paymentId, attemptId);
    goodWebhook = fake.webhookFor(attemptId, 'succeeded');
    const { reply, row } = await sendWebhook(gatewayId, goodWebhook);
    expectError(reply, 403, 'IP_NOT_ALLOWED');
    expect(row).toMatchObject({
      gatewayId,
      remoteAddress: INJECT_ADDRESS,
      verification: 'ip_refused',
      eventId: null,
      effect: null,
    });
    expect(await stateOf(merchant, paymentId, attemptId)).toEqual(before);
  });

  it('applies a good webhook from an allowed address: succeeded, merchant credited once, stored verified/applied', async () => {
    await setAllowlist(gatewayId, [INJECT_ADDRESS]);
    const balanceBefore = await balanceMinorOf(merchant);
    // The same signed webhook the allow-list refused: refusing it claimed nothing.
    const { reply, row } = await sendWebhook(gatewayId, goodWebhook);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({ received: true, replayed: false, effect: 'applied' });
    expect(row).toMatchObject({ gatewayId, verification: 'verified', effect: 'applied', paymentId });
    expect(row.eventId).toEqual(expect.any(String));

    const payment = await paymentOf(merchant, paymentId);
    expect(payment.status).toBe('succeeded');
    // The attempt now carries the gateway's own payment id (Paytm's TXNID replaces our order id).
    expect(await storedAttempt(attemptId)).toEqual({
      status: 'succeeded',
      gatewayReference: fake.paymentFor(attemptId)?.gatewayReference,
      errorCode: null,
    });
    expect(await ledgerEntriesOf(paymentId, 'payment')).toBe(1);
    expect(await balanceMinorOf(merchant)).toBe(balanceBefore + AMOUNT_MINOR - feeMinorOf(spec.feePercent));
    expect(await eventTypesOf(paymentId)).toEqual(['payment.pending', 'payment.succeeded']);
  });

  it('acknowledges the same webhook again as a replay: 200 replayed, no second credit', async () => {
    const before = await stateOf(merchant, paymentId, attemptId);
    const { reply, row } = await sendWebhook(gatewayId, goodWebhook);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({ received: true, replayed: true, effect: null });
    expect(row).toMatchObject({ gatewayId, verification: 'replayed', effect: 'no_change' });
    expect(await stateOf(merchant, paymentId, attemptId)).toEqual(before);
    expect(before.credits).toBe(1);
  });

  it.runIf(!spec.timedWebhooks)(
    'signs no time: an old callback is not refused as stale, and as the same event it is a replay',
    async () => {
      const before = await stateOf(merchant, paymentId, attemptId);
      const { reply, row } = await sendWebhook(
        gatewayId,
        fake.webhookFor(attemptId, 'succeeded', { ageSec: STALE_AGE_SEC }),
      );
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json().data).toMatchObject({ replayed: true });
      expect(row.verification).toBe('replayed');
      expect(await stateOf(merchant, paymentId, attemptId)).toEqual(before);
    },
  );

  it.runIf(spec.timedWebhooks)(
    "takes an old signed time within the gateway's own config.webhookToleranceSec",
    async () => {
      const configure = (config: Record<string, unknown>) =>
        admin.client.put(`/api/v1/admin/gateways/${gatewayId}`, {
          config: { baseUrl: fake.baseUrl, ...config },
        });
      expectError(await configure({ webhookToleranceSec: 5 }), 400, 'VALIDATION_FAILED');
      expect((await configure({ webhookToleranceSec: 2 * STALE_AGE_SEC })).statusCode).toBe(200);
      const before = await stateOf(merchant, paymentId, attemptId);
      const { reply, row } = await sendWebhook(
        gatewayId,
        fake.webhookFor(attemptId, 'succeeded', { ageSec: STALE_AGE_SEC }),
      );
      // Verified this time (no longer stale); the payment had already succeeded, so nothing moves.
      expect(reply.statusCode, reply.body).toBe(200);
      expect(['verified', 'replayed']).toContain(row.verification);
      expect(await stateOf(merchant, paymentId, attemptId)).toEqual(before);
      expect((await configure({})).statusCode).toBe(200);
    },
  );

  it('takes a late pending, then a late failed, after succeeded without a change (new event ids)', async () => {
    const before = await stateOf(merchant, paymentId, attemptId);
    for (const status of ['pending', 'failed'] as const) {
      const { reply, row } = await sendWebhook(gatewayId, fake.webhookFor(attemptId, status));
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json().data, status).toEqual({ received: true, replayed: false, effect: 'no_change' });
      expect(row).toMatchObject({ gatewayId, verification: 'verified', effect: 'no_change', paymentId });
      expect(row.eventId).not.toBe(null);
    }
    const after = await stateOf(merchant, paymentId, attemptId);
    expect(after.status).toBe('succeeded');
    expect(after.credits).toBe(1);
    expect(after.balanceMinor).toBe(before.balanceMinor);
    expect(after.events).toEqual(before.events);
  });

  it('refunds part, then the rest, through the gateway; nothing more is refundable', async () => {
    const refund = (amount?: number) =>
      merchant.client.post(
        `/api/v1/payments/${paymentId}/refund`,
        { ...(amount === undefined ? {} : { amount }), reason: 'customer returned the goods' },
        { 'idempotency-key': randomUUID() },
      );
    if (spec.feePercent > 0) {
      // The merchant was credited the amount less the fee: a full refund is more than it holds,
      // refused before the gateway is asked, until another payment is credited.
      const callsBefore = fake.requests.filter(spec.isRefundCall).length;
      expectError(await refund(), 422, 'INSUFFICIENT_FUNDS');
      expect(fake.requests.filter(spec.isRefundCall).length).toBe(callsBefore);
      const another = await payPending(merchant, gatewayId);
      fake.settle(another.attemptId, 'succeeded');
      const credited = await sendWebhook(gatewayId, fake.webhookFor(another.attemptId, 'succeeded'));
      expect(credited.reply.json().data.effect).toBe('applied');
    }
    const balanceBefore = await balanceMinorOf(merchant);
    const refundCallsBefore = fake.requests.filter(spec.isRefundCall).length;

    const partial = await refund(PARTIAL_REFUND_RUPEES);
    expect(partial.statusCode, partial.body).toBe(201);
    const rest = await refund();
    expect(rest.statusCode, rest.body).toBe(201);
    expect(rest.json().data.refund.amount).toBe(AMOUNT_RUPEES - PARTIAL_REFUND_RUPEES);
    expect(fake.requests.filter(spec.isRefundCall).length - refundCallsBefore).toBe(2);

    if (spec.refundSettlesAtOnce) {
      expect(partial.json().data.refund).toMatchObject({
        status: 'succeeded',
        amount: PARTIAL_REFUND_RUPEES,
      });
      expect(partial.json().data.payment).toMatchObject({
        status: 'partially_refunded',
        refundedAmount: PARTIAL_REFUND_RUPEES,
      });
      expect(rest.json().data.refund.status).toBe('succeeded');
      expect(rest.json().data.payment).toMatchObject({ status: 'refunded', refundedAmount: AMOUNT_RUPEES });
      expect(await ledgerEntriesOf(paymentId, 'refund')).toBe(2);
      expect(await balanceMinorOf(merchant)).toBe(balanceBefore - AMOUNT_MINOR);
      const more = await refund(1);
      expectError(more, 409, 'PAYMENT_NOT_REFUNDABLE');
    } else {
      // The gateway queued them: pending, counted against what is left; the merchant's money
      // left when each was asked for (the payment moves when the gateway settles them).
      for (const reply of [partial, rest]) {
        expect(reply.json().data.refund.status).toBe('pending');
        expect(reply.json().data.refund.gatewayReference).toEqual(expect.any(String));
        expect(reply.json().data.payment).toMatchObject({ status: 'succeeded', refundedAmount: 0 });
      }
      expect(await ledgerEntriesOf(paymentId, 'refund')).toBe(2);
      expect(await balanceMinorOf(merchant)).toBe(balanceBefore - AMOUNT_MINOR);
      const more = await refund(1);
      expectError(more, 422, 'REFUND_EXCEEDS_CAPTURED');
    }
    expect(fake.requests.filter(spec.isRefundCall).length - refundCallsBefore).toBe(2);
  });

  it('verify asks the gateway: a payment it settled succeeds, credited once however often asked', async () => {
    const { payment, attemptId: attempt } = await payPending(merchant, gatewayId);
    const balanceBefore = await balanceMinorOf(merchant);
    const early = await merchant.client.post(`/api/v1/payments/${payment.id}/verify`);
    expect(early.statusCode, early.body).toBe(200);
    expect(early.json().data.payment.status).toBe('pending');

    fake.settle(attempt, 'succeeded');
    for (let round = 0; round < 2; round++) {
      const reply = await merchant.client.post(`/api/v1/payments/${payment.id}/verify`);
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json().data.payment.status).toBe('succeeded');
    }
    expect(await ledgerEntriesOf(payment.id, 'payment')).toBe(1);
    expect(await balanceMinorOf(merchant)).toBe(balanceBefore + AMOUNT_MINOR - feeMinorOf(spec.feePercent));
    expect((await storedAttempt(attempt)).gatewayReference).toBe(fake.paymentFor(attempt)?.gatewayReference);
  });

  it('a declined payment arrives by webhook: failed with DECLINED, nothing credited', async () => {
    const { payment, attemptId: attempt } = await payPending(merchant, gatewayId);
    fake.settle(attempt, 'failed');
    const { reply, row } = await sendWebhook(gatewayId, fake.webhookFor(attempt, 'failed'));
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toMatchObject({ replayed: false, effect: 'applied' });
    expect(row).toMatchObject({ verification: 'verified', effect: 'applied', paymentId: payment.id });
    const after = await paymentOf(merchant, payment.id);
    expect(after).toMatchObject({ status: 'failed', errorCode: 'DECLINED' });
    expect(after.attempts[0]).toMatchObject({ status: 'failed', errorCode: 'DECLINED' });
    expect(await ledgerEntriesOf(payment.id, 'payment')).toBe(0);
  });

  // Found by this test: a late `failed` that left the payment succeeded used to turn its deciding
  // attempt into failed/DECLINED. The attempt keeps `succeeded` when the payment's move is refused.
  it('keeps the succeeded attempt as it was when a late event changes nothing', async () => {
    const { payment, attemptId: attempt } = await payPending(merchant, gatewayId);
    fake.settle(attempt, 'succeeded');
    const applied = await sendWebhook(gatewayId, fake.webhookFor(attempt, 'succeeded'));
    expect(applied.reply.json().data.effect).toBe('applied');
    const settled = await storedAttempt(attempt);
    expect(settled.status).toBe('succeeded');
    const late = await sendWebhook(gatewayId, fake.webhookFor(attempt, 'failed'));
    expect(late.reply.json().data.effect).toBe('no_change');
    expect((await paymentOf(merchant, payment.id)).status).toBe('succeeded');
    expect(await storedAttempt(attempt)).toEqual(settled);
  });
});

describe('a full refund of a payment whose fee the platform kept', () => {
  // Found by this test: the gateway used to be asked before the merchant was debited, so a full
  // refund the merchant could not cover (the fee was kept) failed after the payer was refunded.
  // The debit now comes first: the refund is refused (422) and the gateway never asked.
  it('never leaves money refunded at the gateway that the API reports as refused', async () => {
    const razorpay = CONNECTOR_CASES[0]!;
    const fake = await startFake(razorpay, 'pending');
    const gatewayId = await createGateway(admin, {
      name: 'fees',
      connector: 'razorpay',
      fake,
      feePercent: 2,
    });
    const merchant = await newMerchant(testApp, [gatewayId]);
    const { payment, attemptId } = await payPending(merchant, gatewayId);
    fake.settle(attemptId, 'succeeded');
    const { reply: webhook } = await sendWebhook(gatewayId, fake.webhookFor(attemptId, 'succeeded'));
    expect(webhook.json().data.effect).toBe('applied');
    expect(await balanceMinorOf(merchant)).toBe(AMOUNT_MINOR - feeMinorOf(2));

    const reply = await merchant.client.post(
      `/api/v1/payments/${payment.id}/refund`,
      { reason: 'order cancelled' },
      { 'idempotency-key': randomUUID() },
    );
    const refundCalls = fake.requests.filter(razorpay.isRefundCall).length;
    if (reply.statusCode === 201) {
      expect(reply.json().data.refund.status).toBe('succeeded');
    } else {
      expect(refundCalls, `${reply.statusCode} ${reply.body}, yet the gateway refunded`).toBe(0);
    }
  });
});

describe('a refund the gateway queues, settled by its refund webhook', () => {
  it('debits the merchant when asked, moves the payment when processed, reverses when failed', async () => {
    const fake = await startRazorpayGateway();
    fakes.push(fake);
    fake.behaviour = 'pending';
    const gatewayId = await createGateway(admin, { name: 'queued refunds', connector: 'razorpay', fake });
    const merchant = await newMerchant(testApp, [gatewayId]);
    const { payment, attemptId } = await payPending(merchant, gatewayId);
    fake.settle(attemptId, 'succeeded');
    expect((await sendWebhook(gatewayId, fake.webhookFor(attemptId, 'succeeded'))).reply.statusCode).toBe(
      200,
    );
    const credited = await balanceMinorOf(merchant);
    fake.refundsQueued = true;
    const refund = (amount: number) =>
      merchant.client.post(
        `/api/v1/payments/${payment.id}/refund`,
        { amount, reason: 'returned' },
        { 'idempotency-key': randomUUID() },
      );

    const first = await refund(PARTIAL_REFUND_RUPEES);
    expect(first.statusCode, first.body).toBe(201);
    const firstRefund = first.json().data.refund;
    expect(firstRefund.status).toBe('pending');
    expect(first.json().data.payment).toMatchObject({ status: 'succeeded', refundedAmount: 0 });
    expect(await balanceMinorOf(merchant)).toBe(credited - 10_000n);

    const processed = fake.refundWebhookFor(firstRefund.gatewayReference, 'processed');
    const applied = await sendWebhook(gatewayId, processed);
    expect(applied.reply.json().data).toMatchObject({ replayed: false, effect: 'applied' });
    expect(applied.row).toMatchObject({ verification: 'verified', effect: 'applied', paymentId: payment.id });
    expect(await paymentOf(merchant, payment.id)).toMatchObject({
      status: 'partially_refunded',
      refundedAmount: PARTIAL_REFUND_RUPEES,
    });
    expect(await eventTypesOf(payment.id)).toContain('payment.refunded');
    const replay = await sendWebhook(gatewayId, processed);
    expect(replay.reply.json().data).toMatchObject({ replayed: true });
    expect(await balanceMinorOf(merchant)).toBe(credited - 10_000n);

    const rest = AMOUNT_RUPEES - PARTIAL_REFUND_RUPEES;
    const second = await refund(rest);
    expect(second.statusCode, second.body).toBe(201);
    expectError(await refund(1), 422, 'REFUND_EXCEEDS_CAPTURED');
    expect(await balanceMinorOf(merchant)).toBe(credited - AMOUNT_MINOR);
    const failed = await sendWebhook(
      gatewayId,
      fake.refundWebhookFor(second.json().data.refund.gatewayReference, 'failed'),
    );
    expect(failed.reply.json().data.effect).toBe('applied');
    // The refused refund's debit is reversed and it no longer counts against what is left.
    expect(await balanceMinorOf(merchant)).toBe(credited - 10_000n);
    expect(await paymentOf(merchant, payment.id)).toMatchObject({
      status: 'partially_refunded',
      refundedAmount: PARTIAL_REFUND_RUPEES,
    });
    expect((await refund(rest)).statusCode).toBe(201);
    const verify = await admin.client.get('/api/v1/admin/ledger/verify');
    expect(verify.json().data).toMatchObject({ ok: true, differences: [] });
  });
});

describe('webhooks for a gateway that does not exist', () => {
  it('answers 404 and stores the webhook as unknown_gateway', async () => {
    const body = JSON.stringify({ event: 'payment.captured', created_at: 1 });
    for (const gatewayId of [randomUUID(), 'not-a-gateway']) {
      const { reply, row } = await sendWebhook(gatewayId, {
        body,
        headers: { 'content-type': 'application/json', 'x-razorpay-signature': 'a'.repeat(64) },
      });
      expectError(reply, 404, 'GATEWAY_NOT_FOUND');
      expect(row).toMatchObject({
        gatewayId: null,
        remoteAddress: INJECT_ADDRESS,
        verification: 'unknown_gateway',
        eventId: null,
        effect: null,
      });
    }
  });
});

interface FailoverSetup {
  readonly app: TestApp;
  readonly administrator: Account;
  readonly merchant: Account;
  readonly backup: FakeGateway;
  readonly backupId: string;
  readonly failing: Map<NetworkConnector, FakeGateway>;
}

/** A backup Razorpay that leaves payments pending, and one gateway of each connector to break. */
async function failoverSetup(app: TestApp, administrator: Account): Promise<FailoverSetup> {
  const razorpay = CONNECTOR_CASES[0]!;
  const backup = await startFake(razorpay, 'pending');
  const backupId = await createGateway(administrator, {
    name: 'backup',
    connector: 'razorpay',
    fake: backup,
  });
  const failing = new Map<NetworkConnector, FakeGateway>();
  for (const spec of CONNECTOR_CASES) failing.set(spec.connector, await startFake(spec, 'succeed'));
  const merchant = await createAccount(app, 'merchant');
  return { app, administrator, merchant, backup, backupId, failing };
}

/** A fresh gateway (so no earlier failure weighs on its circuit) whose imitation now answers `behaviour`. */
async function payWithFirstFailing(
  setup: FailoverSetup,
  connector: NetworkConnector,
  behaviour: FakeBehaviour,
) {
  const fake = setup.failing.get(connector)!;
  fake.behaviour = behaviour;
  const firstId = await createGateway(setup.administrator, {
    name: `${connector} ${behaviour}`,
    connector,
    fake,
  });
  await preferGateways(setup.merchant, [firstId, setup.backupId]);
  const backupCallsBefore = setup.backup.requests.length;
  const reply = await pay(setup.merchant);
  expect(reply.statusCode, reply.body).toBe(201);
  const payment: PaymentReply = reply.json().data.payment;
  return { payment, firstId, backupCalls: setup.backup.requests.length - backupCallsBefore };
}

function expectFailedOver(
  result: Awaited<ReturnType<typeof payWithFirstFailing>>,
  setup: FailoverSetup,
  errorCode: string,
): void {
  const { payment, firstId } = result;
  expect(payment.status).toBe('pending');
  expect(payment.gatewayId).toBe(setup.backupId);
  expect(payment.attempts).toHaveLength(2);
  expect(payment.attempts[0]).toMatchObject({ gatewayId: firstId, status: 'failed', errorCode });
  expect(payment.attempts[1]).toMatchObject({
    gatewayId: setup.backupId,
    status: 'pending',
    errorCode: null,
    gatewayReference: expect.stringMatching(/^pay_/),
  });
  expect(result.backupCalls).toBeGreaterThan(0);
}

describe('failover across network gateways', () => {
  let setup: FailoverSetup;

  beforeAll(async () => {
    setup = await failoverSetup(testApp, admin);
  });

  const failures = CONNECTOR_CASES.flatMap((spec) => [
    { connector: spec.connector, behaviour: 'error' as const, errorCode: 'GATEWAY_UNAVAILABLE' },
    { connector: spec.connector, behaviour: 'unauthorized' as const, errorCode: 'AUTHENTICATION_FAILED' },
  ]);

  it.each(failures)(
    '$connector answering $behaviour fails with $errorCode and the next gateway takes the payment',
    async ({ connector, behaviour, errorCode }) => {
      const result = await payWithFirstFailing(setup, connector, behaviour);
      expectFailedOver(result, setup, errorCode);
    },
  );

  it.each(['razorpay', 'payu'] as const)(
    'a decline %s reports at initiate is not retried: one attempt, failed with DECLINED',
    async (connector) => {
      const { payment, firstId, backupCalls } = await payWithFirstFailing(setup, connector, 'decline');
      expect(payment).toMatchObject({ status: 'failed', gatewayId: firstId, errorCode: 'DECLINED' });
      expect(payment.attempts).toHaveLength(1);
      expect(payment.attempts[0]).toMatchObject({
        gatewayId: firstId,
        status: 'failed',
        errorCode: 'DECLINED',
      });
      expect(backupCalls).toBe(0);
      expect(await ledgerEntriesOf(payment.id, 'payment')).toBe(0);
    },
  );
});

describe(`failover on a gateway that does not answer (GATEWAY_TIMEOUT_MS ${TIMEOUT_MS})`, () => {
  let timeoutApp: TestApp;
  let setup: FailoverSetup;

  beforeAll(async () => {
    timeoutApp = await createTestApp({ env: { GATEWAY_TIMEOUT_MS: String(TIMEOUT_MS) } });
    const administrator = await createAccount(timeoutApp, 'admin');
    await disableSandbox(administrator);
    setup = await failoverSetup(timeoutApp, administrator);
  });

  afterAll(async () => {
    await timeoutApp?.close();
  });

  it.each(CONNECTOR_CASES.map((spec) => spec.connector).filter((connector) => connector !== 'payu'))(
    '%s holding the request times out (GATEWAY_TIMEOUT) and the next gateway takes the payment',
    async (connector) => {
      const result = await payWithFirstFailing(setup, connector, 'timeout');
      expectFailedOver(result, setup, 'GATEWAY_TIMEOUT');
      expect(result.payment.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 10);
    },
  );

  it('payu timing out on a UPI collect is not failed over: the request may be on the payer’s phone', async () => {
    const result = await payWithFirstFailing(setup, 'payu', 'timeout');
    expect(result.backupCalls).toBe(0);
    expect(result.payment.attempts).toHaveLength(1);
    expect(result.payment).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_TIMEOUT' });
    expect(result.payment.attempts[0]).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_TIMEOUT' });
  });

  it('leaves the ledger balanced', async () => {
    const reply = await setup.administrator.client.get('/api/v1/admin/ledger/verify');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toMatchObject({ ok: true, differences: [] });
  });
});

describe('the ledger after all of it', () => {
  it('verifies balanced: GET /admin/ledger/verify ok', async () => {
    const reply = await admin.client.get('/api/v1/admin/ledger/verify');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toMatchObject({ ok: true, differences: [] });
  });
});
