import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, client, createAccount, createTestApp, type TestApp } from '../../../test/app.ts';
import { startPaytmGateway } from '../../../test/gateways/paytm-server.ts';
import { startPayuGateway } from '../../../test/gateways/payu-server.ts';
import {
  type FakeGateway,
  type RazorpayFake,
  type RecordedRequest,
  type SignedWebhook,
  startRazorpayGateway,
} from '../../../test/gateways/razorpay-server.ts';
import type { TaskDefinition } from '../../jobs/registry.ts';
import { createManualClock } from '../../lib/clock.ts';
import { REFUND_RECHECK_AFTER_MS } from './service.ts';

/**
 * Refunds a gateway queues (Razorpay sometimes, PayU and Paytm as a rule), settled by the
 * `settle_pending_refunds` job asking each gateway's refund status API: the real application and
 * database, each connector talking real HTTP to a local imitation of its gateway. The app reads a
 * manual clock, so "older than a minute" is a step of the clock, not a wait.
 */

type NetworkConnector = 'razorpay' | 'payu' | 'paytm';

interface ConnectorCase {
  readonly connector: NetworkConnector;
  /** An imitation that leaves payments pending and queues every refund. */
  readonly start: () => Promise<FakeGateway>;
  /** Whether a request the imitation recorded asked where a refund stands. */
  readonly isRefundStatusCall: (request: RecordedRequest) => boolean;
}

const CONNECTOR_CASES: readonly ConnectorCase[] = [
  {
    connector: 'razorpay',
    start: async () => {
      const fake = await startRazorpayGateway();
      fake.refundsQueued = true;
      return fake;
    },
    isRefundStatusCall: (request) => request.method === 'GET' && request.path.startsWith('/v1/refunds/'),
  },
  {
    connector: 'payu',
    start: () => startPayuGateway(),
    isRefundStatusCall: (request) => request.body.includes('command=check_action_status'),
  },
  {
    connector: 'paytm',
    start: () => startPaytmGateway(),
    isRefundStatusCall: (request) => request.path.startsWith('/v2/refund/status'),
  },
];

const AMOUNT_RUPEES = 250;
const AMOUNT_MINOR = 25_000n;
const PART_RUPEES = 100;
const PART_MINOR = 10_000n;
const BATCH_SIZE = 100;
/** Past the minute a refund's own call and the gateway's webhook are given. */
const STEP_PAST_RECHECK_MS = REFUND_RECHECK_AFTER_MS + 1_000;
const GATEWAY_TIMEOUT_MS = 400;
const CUSTOMER = { name: 'Asha Rao', email: 'asha@example.test', phone: '9876543210', vpa: 'asha@okaxis' };

interface Shop {
  readonly fake: FakeGateway;
  readonly spec: ConnectorCase;
  readonly gatewayId: string;
  /** The merchant's API credentials: an access token would expire as the clock moves. */
  readonly merchant: Client;
}

interface Setup {
  readonly testApp: TestApp;
  readonly clock: ReturnType<typeof createManualClock>;
  readonly fakes: FakeGateway[];
}

async function setUp(): Promise<Setup> {
  const clock = createManualClock();
  const testApp = await createTestApp({ clock, env: { GATEWAY_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS) } });
  const admin = await createAccount(testApp, 'admin');
  const listed = await admin.client.get('/api/v1/admin/gateways');
  const sandbox = listed.json().data.gateways.find((gateway: { connector: string }) => {
    return gateway.connector === 'sandbox';
  });
  const disabled = await admin.client.put(`/api/v1/admin/gateways/${sandbox.id}`, { enabled: false });
  expect(disabled.statusCode, disabled.body).toBe(200);
  return { testApp, clock, fakes: [] };
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  await setup?.testApp.close();
  await Promise.all(setup?.fakes.map((fake) => fake.close()) ?? []);
}

/** A gateway on a fresh imitation, and a merchant whose payments go to it alone. */
async function openShop(setup: Setup, spec: ConnectorCase): Promise<Shop> {
  const fake = await spec.start();
  fake.behaviour = 'pending';
  setup.fakes.push(fake);
  // A new admin each time: an earlier one's access token may have expired with the clock.
  const admin = await createAccount(setup.testApp, 'admin');
  const created = await admin.client.post('/api/v1/admin/gateways', {
    name: `${spec.connector} ${randomBytes(3).toString('hex')}`,
    connector: spec.connector,
    credentials: fake.credentials,
    config: { baseUrl: fake.baseUrl },
    methods: ['upi_collect'],
    fees: { percent: 0, fixed: 0 },
  });
  expect(created.statusCode, created.body).toBe(201);
  const gatewayId: string = created.json().data.gateway.id;
  const account = await createAccount(setup.testApp, 'merchant');
  const preferred = await account.client.put('/api/v1/merchant/gateway-preferences', {
    gatewayIds: [gatewayId],
  });
  expect(preferred.statusCode, preferred.body).toBe(200);
  if (account.apiClient === undefined) throw new Error('a merchant without API credentials');
  return { fake, spec, gatewayId, merchant: account.apiClient };
}

/** A payment the gateway captured, credited to the merchant (verify asks the gateway). */
async function paidPayment(setup: Setup, shop: Shop): Promise<string> {
  const reply = await shop.merchant.post(
    '/api/v1/pay',
    {
      amount: AMOUNT_RUPEES,
      currency: 'INR',
      orderId: `order-${randomBytes(6).toString('hex')}`,
      method: 'upi_collect',
      customer: CUSTOMER,
    },
    { 'idempotency-key': randomUUID() },
  );
  expect(reply.statusCode, reply.body).toBe(201);
  const payment = reply.json().data.payment;
  expect(payment.status).toBe('pending');
  // The payer approves a moment later (so the payment's events sort by time).
  setup.clock.advance(1_000);
  shop.fake.settle(payment.attempts[0].id, 'succeeded');
  const verified = await shop.merchant.post(`/api/v1/payments/${payment.id}/verify`);
  expect(verified.statusCode, verified.body).toBe(200);
  expect(verified.json().data.payment.status).toBe('succeeded');
  return payment.id;
}

interface QueuedRefund {
  readonly id: string;
  readonly gatewayReference: string;
}

/** Asks for a refund; the gateway queues it: 201 with the refund pending. */
async function askRefund(shop: Shop, paymentId: string, amount: number): Promise<QueuedRefund> {
  const reply = await shop.merchant.post(
    `/api/v1/payments/${paymentId}/refund`,
    { amount, reason: 'returned' },
    { 'idempotency-key': randomUUID() },
  );
  expect(reply.statusCode, reply.body).toBe(201);
  const { refund, payment } = reply.json().data;
  expect(refund).toMatchObject({ status: 'pending', gatewayReference: expect.any(String) });
  expect(payment.status).not.toBe('refunded');
  return { id: refund.id, gatewayReference: refund.gatewayReference };
}

async function balanceMinorOf(merchant: Client): Promise<bigint> {
  const reply = await merchant.get('/api/v1/merchant/balance');
  expect(reply.statusCode, reply.body).toBe(200);
  const balances: { currency: string; balanceMinor: string }[] = reply.json().data.balances;
  return BigInt(balances.find((balance) => balance.currency === 'INR')?.balanceMinor ?? '0');
}

async function paymentOf(merchant: Client, paymentId: string) {
  const reply = await merchant.get(`/api/v1/payments/${paymentId}`);
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data;
}

function refundRowOf(testApp: TestApp, refundId: string) {
  return testApp.database.handle.db
    .selectFrom('paymentRefunds')
    .select(['status', 'gatewayReference', 'errorCode', 'updatedAt'])
    .where('id', '=', refundId)
    .executeTakeFirstOrThrow();
}

async function eventTypesOf(testApp: TestApp, paymentId: string): Promise<string[]> {
  const rows = await testApp.database.handle.db
    .selectFrom('events')
    .select('type')
    .where('payload', '@>', JSON.stringify({ id: paymentId }) as never)
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.type);
}

async function refundEntriesOf(testApp: TestApp, paymentId: string): Promise<number> {
  const rows = await testApp.database.handle.db
    .selectFrom('ledgerEntries')
    .select('id')
    .where('type', '=', 'refund')
    .where('metadata', '@>', JSON.stringify({ paymentId }) as never)
    .execute();
  return rows.length;
}

/** Reversing entries posted for a refund (a failed refund's debit given back). */
async function reversalsOf(testApp: TestApp, refundId: string): Promise<number> {
  const rows = await testApp.database.handle.db
    .selectFrom('ledgerEntries')
    .select('id')
    .where('type', '=', 'reversal')
    .where('metadata', '@>', JSON.stringify({ refundId }) as never)
    .execute();
  return rows.length;
}

/** Everything a refund check that learns nothing must leave as it was. */
async function moneyStateOf(setup: Setup, shop: Shop, paymentId: string, refundId: string) {
  const { payment, history } = await paymentOf(shop.merchant, paymentId);
  const refund = await refundRowOf(setup.testApp, refundId);
  return {
    payment: { status: payment.status, refundedAmount: payment.refundedAmount },
    history: history.length,
    refund: { status: refund.status, errorCode: refund.errorCode },
    balanceMinor: await balanceMinorOf(shop.merchant),
    events: await eventTypesOf(setup.testApp, paymentId),
    refundEntries: await refundEntriesOf(setup.testApp, paymentId),
  };
}

function statusCallsTo(shop: Shop): number {
  return shop.fake.requests.filter(shop.spec.isRefundStatusCall).length;
}

function settlePending(setup: Setup, batchSizeMax = BATCH_SIZE) {
  return setup.testApp.services.payments.settlePendingRefunds(batchSizeMax);
}

async function expectLedgerBalanced(setup: Setup): Promise<void> {
  const admin = await createAccount(setup.testApp, 'admin');
  const reply = await admin.client.get('/api/v1/admin/ledger/verify');
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data).toMatchObject({ ok: true, differences: [] });
}

describe.each(CONNECTOR_CASES)('$connector: a refund the gateway queues', (spec) => {
  let setup: Setup;
  let shop: Shop;

  beforeAll(async () => {
    setup = await setUp();
    shop = await openShop(setup, spec);
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  it('stays pending with the merchant debited; the job waits a minute, then a pending answer changes nothing', async () => {
    const paymentId = await paidPayment(setup, shop);
    const credited = await balanceMinorOf(shop.merchant);
    expect(credited).toBeGreaterThanOrEqual(AMOUNT_MINOR);
    const refund = await askRefund(shop, paymentId, PART_RUPEES);
    expect(await balanceMinorOf(shop.merchant)).toBe(credited - PART_MINOR);
    expect(await refundEntriesOf(setup.testApp, paymentId)).toBe(1);
    const asked = await moneyStateOf(setup, shop, paymentId, refund.id);
    expect(asked.payment).toEqual({ status: 'succeeded', refundedAmount: 0 });

    // Its refund call and the gateway's webhook have the first minute: the gateway is not asked.
    const calls = statusCallsTo(shop);
    await settlePending(setup);
    expect(statusCallsTo(shop)).toBe(calls);

    setup.clock.advance(STEP_PAST_RECHECK_MS);
    const summary = await settlePending(setup);
    expect(statusCallsTo(shop)).toBe(calls + 1);
    expect(summary).toMatchObject({ asked: 1, settled: 0, pending: 1, unanswered: 0 });
    expect(await moneyStateOf(setup, shop, paymentId, refund.id)).toEqual(asked);
    // Heard of just now: not asked again until another minute has passed.
    await settlePending(setup);
    expect(statusCallsTo(shop)).toBe(calls + 1);
    shop.fake.settleRefund(refund.gatewayReference, 'succeeded');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    expect((await settlePending(setup)).settled).toBe(1);
  });

  it('settles it succeeded: partially_refunded, then refunded, each with payment.refunded; money moved once', async () => {
    const paymentId = await paidPayment(setup, shop);
    const credited = await balanceMinorOf(shop.merchant);
    const first = await askRefund(shop, paymentId, PART_RUPEES);
    shop.fake.settleRefund(first.gatewayReference, 'succeeded');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    expect(await settlePending(setup)).toMatchObject({ settled: 1, unanswered: 0 });

    expect(await refundRowOf(setup.testApp, first.id)).toMatchObject({
      status: 'succeeded',
      gatewayReference: first.gatewayReference,
      errorCode: null,
    });
    const partly = await paymentOf(shop.merchant, paymentId);
    expect(partly.payment).toMatchObject({ status: 'partially_refunded', refundedAmount: PART_RUPEES });
    expect(partly.history.at(-1)).toMatchObject({
      fromStatus: 'succeeded',
      toStatus: 'partially_refunded',
      cause: 'refund',
    });
    expect(await eventTypesOf(setup.testApp, paymentId)).toEqual([
      'payment.pending',
      'payment.succeeded',
      'payment.refunded',
    ]);
    // The money left when the refund was asked for; settling it moves none.
    expect(await balanceMinorOf(shop.merchant)).toBe(credited - PART_MINOR);

    const rest = await askRefund(shop, paymentId, AMOUNT_RUPEES - PART_RUPEES);
    shop.fake.settleRefund(rest.gatewayReference, 'succeeded');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    expect((await settlePending(setup)).settled).toBe(1);
    expect((await paymentOf(shop.merchant, paymentId)).payment).toMatchObject({
      status: 'refunded',
      refundedAmount: AMOUNT_RUPEES,
    });
    expect(
      (await eventTypesOf(setup.testApp, paymentId)).filter((type) => type === 'payment.refunded'),
    ).toEqual(['payment.refunded', 'payment.refunded']);
    expect(await balanceMinorOf(shop.merchant)).toBe(credited - AMOUNT_MINOR);
    expect(await refundEntriesOf(setup.testApp, paymentId)).toBe(2);

    // Nothing pending is left to ask about.
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    const calls = statusCallsTo(shop);
    await settlePending(setup);
    expect(statusCallsTo(shop)).toBe(calls);
  });

  it('settles it failed: the debit is reversed and the balance is back exactly; the amount is refundable again', async () => {
    const paymentId = await paidPayment(setup, shop);
    const credited = await balanceMinorOf(shop.merchant);
    const refund = await askRefund(shop, paymentId, AMOUNT_RUPEES);
    expect(await balanceMinorOf(shop.merchant)).toBe(credited - AMOUNT_MINOR);
    shop.fake.settleRefund(refund.gatewayReference, 'failed');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    expect(await settlePending(setup)).toMatchObject({ settled: 1 });

    const row = await refundRowOf(setup.testApp, refund.id);
    expect(row.status).toBe('failed');
    expect(row.errorCode).toEqual(expect.any(String));
    expect(await balanceMinorOf(shop.merchant)).toBe(credited);
    const { payment } = await paymentOf(shop.merchant, paymentId);
    expect(payment).toMatchObject({ status: 'succeeded', refundedAmount: 0 });
    expect(await eventTypesOf(setup.testApp, paymentId)).not.toContain('payment.refunded');
    expect(await reversalsOf(setup.testApp, refund.id)).toBe(1);

    const again = await askRefund(shop, paymentId, AMOUNT_RUPEES);
    expect(await balanceMinorOf(shop.merchant)).toBe(credited - AMOUNT_MINOR);
    shop.fake.settleRefund(again.gatewayReference, 'succeeded');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    await settlePending(setup);
    expect((await paymentOf(shop.merchant, paymentId)).payment.status).toBe('refunded');
  });

  it('a gateway that cannot be asked changes nothing and is asked once per run; the next run settles', async () => {
    const paymentId = await paidPayment(setup, shop);
    const first = await askRefund(shop, paymentId, PART_RUPEES);
    const second = await askRefund(shop, paymentId, PART_RUPEES);
    shop.fake.settleRefund(first.gatewayReference, 'succeeded');
    shop.fake.settleRefund(second.gatewayReference, 'succeeded');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    const before = await moneyStateOf(setup, shop, paymentId, first.id);

    for (const behaviour of ['error', 'timeout'] as const) {
      shop.fake.refundStatusBehaviour = behaviour;
      const calls = statusCallsTo(shop);
      const summary = await settlePending(setup);
      expect(summary, behaviour).toEqual({ asked: 1, settled: 0, pending: 0, unanswered: 1 });
      // Its second refund waits for the next run rather than for a second timeout.
      expect(statusCallsTo(shop) - calls, behaviour).toBe(1);
      expect(await moneyStateOf(setup, shop, paymentId, first.id)).toEqual(before);
      expect((await refundRowOf(setup.testApp, second.id)).status).toBe('pending');
    }

    // Nothing was heard of them, so the next run asks at once.
    shop.fake.refundStatusBehaviour = 'answer';
    expect(await settlePending(setup)).toMatchObject({ asked: 2, settled: 2 });
    expect((await paymentOf(shop.merchant, paymentId)).payment).toMatchObject({
      status: 'partially_refunded',
      refundedAmount: 2 * PART_RUPEES,
    });
  });

  it('leaves the ledger balanced', async () => {
    await expectLedgerBalanced(setup);
  });
});

describe('razorpay: a refund webhook and the job at once', () => {
  let setup: Setup;
  let shop: Shop;

  beforeAll(async () => {
    setup = await setUp();
    shop = await openShop(setup, CONNECTOR_CASES[0]!);
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  /** The imitation signs created_at with the real time; this keeps it where the app's clock is. */
  function clockAgeSec(): number {
    return Math.round((Date.now() - setup.clock.now().getTime()) / 1000);
  }

  async function sendWebhook(webhook: SignedWebhook): Promise<string> {
    const reply = await client(setup.testApp.app).post(
      `/api/v1/webhooks/gateways/${shop.gatewayId}`,
      webhook.body,
      webhook.headers,
    );
    expect(reply.statusCode, reply.body).toBe(200);
    return reply.json().data.effect;
  }

  it('settle each refund once, whichever comes first', async () => {
    const rounds = 5;
    const refundRupees = 10;
    const paymentId = await paidPayment(setup, shop);
    const credited = await balanceMinorOf(shop.merchant);
    const fake = shop.fake as RazorpayFake;
    const effects: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const refund = await askRefund(shop, paymentId, refundRupees);
      setup.clock.advance(STEP_PAST_RECHECK_MS);
      const webhook = fake.refundWebhookFor(refund.gatewayReference, 'processed', { ageSec: clockAgeSec() });
      const [effect] = await Promise.all([sendWebhook(webhook), settlePending(setup)]);
      effects.push(effect);
      expect((await refundRowOf(setup.testApp, refund.id)).status).toBe('succeeded');
      // The webhook arriving again, or the job running again, changes nothing.
      const again = fake.refundWebhookFor(refund.gatewayReference, 'processed', { ageSec: clockAgeSec() });
      expect(await sendWebhook(again)).toBe('no_change');
      setup.clock.advance(STEP_PAST_RECHECK_MS);
      expect((await settlePending(setup)).asked).toBe(0);
    }
    expect(effects.every((effect) => effect === 'applied' || effect === 'no_change')).toBe(true);

    const { payment, history } = await paymentOf(shop.merchant, paymentId);
    expect(payment).toMatchObject({ status: 'partially_refunded', refundedAmount: rounds * refundRupees });
    expect(history.filter((move: { cause: string }) => move.cause === 'refund')).toHaveLength(rounds);
    const refundEvents = (await eventTypesOf(setup.testApp, paymentId)).filter(
      (type) => type === 'payment.refunded',
    );
    expect(refundEvents).toHaveLength(rounds);
    expect(await balanceMinorOf(shop.merchant)).toBe(credited - BigInt(rounds * refundRupees * 100));
    expect(await refundEntriesOf(setup.testApp, paymentId)).toBe(rounds);
    await expectLedgerBalanced(setup);
  });
});

describe('razorpay: a refund reported done for another amount', () => {
  let setup: Setup;
  let shop: Shop;

  beforeAll(async () => {
    setup = await setUp();
    shop = await openShop(setup, CONNECTOR_CASES[0]!);
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  it('settles nothing and raises one refund_amount_mismatch alert until someone looks', async () => {
    const paymentId = await paidPayment(setup, shop);
    const refund = await askRefund(shop, paymentId, 10);
    const fake = shop.fake as RazorpayFake;
    fake.settleRefund(refund.gatewayReference, 'succeeded');
    fake.refundAmountsReported.set(refund.gatewayReference, 1_500);
    const before = await moneyStateOf(setup, shop, paymentId, refund.id);

    for (let run = 0; run < 2; run++) {
      setup.clock.advance(STEP_PAST_RECHECK_MS);
      expect(await settlePending(setup)).toMatchObject({ asked: 1, settled: 0, unanswered: 1 });
    }
    expect(await moneyStateOf(setup, shop, paymentId, refund.id)).toEqual(before);
    const admin = await createAccount(setup.testApp, 'admin');
    const alerts = await admin.client.get('/api/v1/alerts');
    expect(alerts.statusCode, alerts.body).toBe(200);
    const mismatches = alerts
      .json()
      .data.alerts.filter((alert: { kind: string }) => alert.kind === 'refund_amount_mismatch');
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0]).toMatchObject({
      subject: refund.id,
      details: { refundId: refund.id, paymentId, askedMinor: '1000', reportedMinor: '1500' },
    });
  });
});

describe('which refunds a run asks about', () => {
  let setup: Setup;
  let razorpay: Shop;
  let payu: Shop;

  beforeAll(async () => {
    setup = await setUp();
    razorpay = await openShop(setup, CONNECTOR_CASES[0]!);
    payu = await openShop(setup, CONNECTOR_CASES[1]!);
  });
  afterAll(async () => {
    await tearDown(setup);
  });

  /** The references the imitation was asked about, in order, since `from`. */
  function askedSince(shop: Shop, from: number): string[] {
    return shop.fake.requests
      .slice(from)
      .filter(shop.spec.isRefundStatusCall)
      .map((request) =>
        request.method === 'GET'
          ? request.path.slice('/v1/refunds/'.length)
          : (new URLSearchParams(request.body).get('var1') ?? ''),
      );
  }

  it('takes the least recently heard of first, gateways in turn, no more than the batch', async () => {
    const razorpayPayment = await paidPayment(setup, razorpay);
    const oldest: QueuedRefund[] = [];
    for (let index = 0; index < 3; index++) {
      oldest.push(await askRefund(razorpay, razorpayPayment, 10));
      setup.clock.advance(1_000);
    }
    const payuRefund = await askRefund(payu, await paidPayment(setup, payu), 10);
    setup.clock.advance(STEP_PAST_RECHECK_MS);

    let razorpayFrom = razorpay.fake.requests.length;
    let payuFrom = payu.fake.requests.length;
    // Each gateway's oldest first, although Razorpay has older ones.
    expect(await settlePending(setup, 2)).toMatchObject({ asked: 2, pending: 2 });
    expect(askedSince(razorpay, razorpayFrom)).toEqual([oldest[0]!.gatewayReference]);
    expect(askedSince(payu, payuFrom)).toEqual([payuRefund.gatewayReference]);

    // Those two were just heard of: the next run takes the others.
    razorpayFrom = razorpay.fake.requests.length;
    payuFrom = payu.fake.requests.length;
    expect(await settlePending(setup, 2)).toMatchObject({ asked: 2, pending: 2 });
    expect(askedSince(razorpay, razorpayFrom)).toEqual([
      oldest[1]!.gatewayReference,
      oldest[2]!.gatewayReference,
    ]);
    expect(askedSince(payu, payuFrom)).toEqual([]);
  });

  it('runs as the settle_pending_refunds task, every five minutes', async () => {
    const { tasks, crontab } = setup.testApp.services.jobs;
    const task = tasks.find((candidate) => candidate.name === 'settle_pending_refunds') as TaskDefinition;
    expect(task).toBeDefined();
    expect(crontab.find((entry) => entry.task === task)?.match).toBe('*/5 * * * *');

    const paymentId = await paidPayment(setup, payu);
    const refund = await askRefund(payu, paymentId, AMOUNT_RUPEES);
    payu.fake.settleRefund(refund.gatewayReference, 'succeeded');
    setup.clock.advance(STEP_PAST_RECHECK_MS);
    await task.run({}, { jobId: 'test', attempt: 1, maxAttempts: task.maxAttempts });
    expect((await refundRowOf(setup.testApp, refund.id)).status).toBe('succeeded');
    expect((await paymentOf(payu.merchant, paymentId)).payment.status).toBe('refunded');
  });
});
