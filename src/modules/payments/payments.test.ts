import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import { type FakeGateway, startRazorpayGateway } from '../../../test/gateways/razorpay-server.ts';
import type { Db } from '../../db/database.ts';
import { createManualClock } from '../../lib/clock.ts';
import { seededRandom } from '../qr/index.ts';

/**
 * Payment orchestration end to end: the real app on a real database, paying through the built-in
 * sandbox gateway (configured through the admin API) and, where a payment must stay pending, the
 * local Razorpay imitation over real HTTP.
 */

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MINUTE_MS = 60_000;
const BASIS_POINTS_PER_WHOLE = 10_000n;
const EXPIRY_BATCH_SIZE = 1_000;
const CUSTOMER = { name: 'Asha Rao', email: 'asha@example.test', phone: '9876543210', vpa: 'asha@okaxis' };

interface SandboxConfig {
  successRate: number;
  latencyMs?: number;
  failureMode: 'none' | 'error' | 'timeout' | 'decline';
}

interface GatewaySpec {
  config: SandboxConfig;
  fees?: { percent: number; fixed: number };
  maxAmount?: number;
}

interface PaymentJson {
  id: string;
  orderId: string;
  status: string;
  amount: number;
  fee: number;
  refundedAmount: number;
  gatewayId: string | null;
  errorCode: string | null;
  attempts: {
    id: string;
    gatewayId: string;
    gatewayName: string;
    status: string;
    errorCode: string | null;
    latencyMs: number | null;
  }[];
}

const newOrderId = () => `order-${randomUUID()}`;

function payBody(orderId: string, overrides: Record<string, unknown> = {}) {
  return { amount: 250, currency: 'INR', orderId, method: 'upi_intent', customer: CUSTOMER, ...overrides };
}

function pay(caller: Client, body: unknown, key: string = randomUUID()): Promise<Reply> {
  return caller.post('/api/v1/pay', body, { 'idempotency-key': key });
}

/** Pays and expects the 201; the payment as the API shows it. */
async function paid(caller: Client, body: unknown): Promise<PaymentJson> {
  const reply = await pay(caller, body);
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.payment;
}

function refund(
  caller: Client,
  paymentId: string,
  body: unknown,
  key: string = randomUUID(),
): Promise<Reply> {
  return caller.post(`/api/v1/payments/${paymentId}/refund`, body, { 'idempotency-key': key });
}

/** What a gateway charges: the percentage rounded half up to the paisa, plus the fixed part. */
function expectedFeeMinor(amountMinor: bigint, fees: { percent: number; fixed: number }): bigint {
  const basisPoints = BigInt(Math.round(fees.percent * 100));
  const percentMinor = (amountMinor * basisPoints + BASIS_POINTS_PER_WHOLE / 2n) / BASIS_POINTS_PER_WHOLE;
  return percentMinor + BigInt(Math.round(fees.fixed * 100));
}

function minorOf(rupees: number): bigint {
  return BigInt(Math.round(rupees * 100));
}

async function balanceMinor(caller: Client): Promise<bigint> {
  const reply = await caller.get('/api/v1/merchant/balance');
  expect(reply.statusCode, reply.body).toBe(200);
  const inr = (reply.json().data.balances as { currency: string; balanceMinor: string }[]).find(
    (row) => row.currency === 'INR',
  );
  return BigInt(inr?.balanceMinor ?? '0');
}

async function paymentRows(db: Db, merchantId: string, orderId: string) {
  return db
    .selectFrom('payments')
    .select(['id', 'status'])
    .where('merchantId', '=', merchantId)
    .where('orderId', '=', orderId)
    .execute();
}

async function eventTypesOf(db: Db, paymentId: string): Promise<string[]> {
  const rows = await sql<{ type: string }>`
    SELECT type FROM events WHERE payload->>'id' = ${paymentId} ORDER BY created_at, id`.execute(db);
  return rows.rows.map((row) => row.type);
}

/**
 * A payment's moves as `from>to`, sorted: rows written in the same millisecond (the sandbox
 * decides within the request) have no defined order, so the chain is read from the pairs.
 */
function transitionsOf(history: { fromStatus: string | null; toStatus: string }[]): string[] {
  return history.map((row) => `${row.fromStatus ?? 'none'}>${row.toStatus}`).sort();
}

async function expectLedgerBalanced(admin: Account): Promise<void> {
  const reply = await admin.client.get('/api/v1/admin/ledger/verify');
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data.differences).toEqual([]);
  expect(reply.json().data.ok).toBe(true);
}

async function gatewayIdNamed(admin: Account, name: string): Promise<string> {
  const reply = await admin.client.get('/api/v1/admin/gateways');
  expect(reply.statusCode, reply.body).toBe(200);
  const gateway = (reply.json().data.gateways as { id: string; name: string }[]).find(
    (row) => row.name === name,
  );
  if (gateway === undefined) throw new Error(`no gateway named ${name}`);
  return gateway.id;
}

async function updateGateway(
  admin: Account,
  gatewayId: string,
  change: Record<string, unknown>,
): Promise<void> {
  const reply = await admin.client.put(`/api/v1/admin/gateways/${gatewayId}`, change);
  expect(reply.statusCode, reply.body).toBe(200);
}

let gatewayCounter = 0;

/**
 * Disables every gateway, then adds these sandbox gateways in this priority order: each scenario
 * starts from gateways of its own.
 */
async function onlyGateways(admin: Account, specs: readonly GatewaySpec[]): Promise<string[]> {
  const list = await admin.client.get('/api/v1/admin/gateways');
  for (const gateway of list.json().data.gateways as { id: string; enabled: boolean }[]) {
    if (gateway.enabled) await updateGateway(admin, gateway.id, { enabled: false });
  }
  const ids: string[] = [];
  for (const [index, spec] of specs.entries()) {
    gatewayCounter += 1;
    const reply = await admin.client.post('/api/v1/admin/gateways', {
      name: `Sandbox ${gatewayCounter}`,
      connector: 'sandbox',
      config: { latencyMs: 0, ...spec.config },
      priority: index + 1,
      ...(spec.fees === undefined ? {} : { fees: spec.fees }),
      ...(spec.maxAmount === undefined ? {} : { maxAmount: spec.maxAmount }),
    });
    expect(reply.statusCode, reply.body).toBe(201);
    ids.push(reply.json().data.gateway.id);
  }
  return ids;
}

describe('payments on the built-in sandbox gateway', () => {
  let testApp: TestApp;
  let db: Db;
  let admin: Account;
  let sandboxId: string;
  const SANDBOX_FEES = { percent: 2, fixed: 3 };

  beforeAll(async () => {
    testApp = await createTestApp({ random: seededRandom(6) });
    db = testApp.database.handle.db;
    admin = await createAccount(testApp, 'admin');
    sandboxId = await gatewayIdNamed(admin, 'Sandbox');
    await updateGateway(admin, sandboxId, { fees: SANDBOX_FEES });
  });
  afterAll(async () => testApp?.close());

  /** What the merchant is credited for a payment through the sandbox: the amount less its fee. */
  const creditedMinor = (amountMinor: bigint) => amountMinor - expectedFeeMinor(amountMinor, SANDBOX_FEES);
  const DEFAULT_AMOUNT_MINOR = 25_000n;

  /** Runs `work` with the sandbox configured so, then puts it back to succeeding at once. */
  async function withSandbox<T>(config: SandboxConfig, work: () => Promise<T>): Promise<T> {
    await updateGateway(admin, sandboxId, { config });
    try {
      return await work();
    } finally {
      await updateGateway(admin, sandboxId, {
        config: { successRate: 1, latencyMs: 0, failureMode: 'none' },
      });
    }
  }

  async function failedPayment(merchant: Account, orderId: string): Promise<PaymentJson> {
    return withSandbox({ successRate: 0, failureMode: 'decline' }, () =>
      paid(merchant.client, payBody(orderId)),
    );
  }

  describe('a payment that succeeds', () => {
    it('answers 201 with one attempt and a UPI link, credits the merchant less the fee, and records the event', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      const reply = await pay(
        merchant.client,
        payBody(orderId, { amount: 1234.56, description: 'Two mangoes' }),
      );
      expect(reply.statusCode, reply.body).toBe(201);
      const { payment, nextAction } = reply.json().data;
      // 1,234.56 at 2% is 24.6912, rounded to 24.69, plus the fixed 3.00.
      const feeMinor = expectedFeeMinor(123_456n, SANDBOX_FEES);
      expect(feeMinor).toBe(2_769n);
      expect(payment).toMatchObject({
        orderId,
        status: 'succeeded',
        amount: 1234.56,
        currency: 'INR',
        method: 'upi_intent',
        gatewayId: sandboxId,
        fee: 27.69,
        refundedAmount: 0,
        errorCode: null,
      });
      expect(payment.attempts).toHaveLength(1);
      expect(payment.attempts[0]).toMatchObject({
        gatewayId: sandboxId,
        gatewayName: 'Sandbox',
        status: 'succeeded',
        errorCode: null,
      });
      expect(payment.attempts[0].latencyMs).toBeGreaterThanOrEqual(0);
      expect(nextAction).toEqual({
        type: 'upi_intent',
        url: expect.stringMatching(/^upi:\/\/pay\?.*am=1234\.56/),
        qrImageUrl: `/api/v1/payments/${payment.id}/qr.png`,
      });

      const image = await merchant.client.get(nextAction.qrImageUrl);
      expect(image.statusCode, image.body).toBe(200);
      expect(image.headers['content-type']).toBe('image/png');
      expect(image.rawPayload.subarray(0, PNG_SIGNATURE.length)).toEqual(PNG_SIGNATURE);

      expect(await balanceMinor(merchant.client)).toBe(creditedMinor(123_456n));
      expect(await eventTypesOf(db, payment.id)).toEqual(['payment.succeeded']);
      const detail = await merchant.client.get(`/api/v1/payments/${payment.id}`);
      expect(detail.statusCode, detail.body).toBe(200);
      expect(transitionsOf(detail.json().data.history)).toEqual(['created>succeeded', 'none>created']);
      await expectLedgerBalanced(admin);
    });
  });

  describe('validation', () => {
    it('refuses a request without an Idempotency-Key', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const reply = await merchant.client.post('/api/v1/pay', payBody(newOrderId()));
      expectError(reply, 400, 'IDEMPOTENCY_KEY_REQUIRED');
    });

    it('refuses a malformed payment with 400 and writes nothing', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      const malformed = [
        payBody(orderId, { amount: 10.123 }),
        payBody(orderId, { currency: 'ZZZ' }),
        payBody(orderId, { method: 'cheque' }),
        payBody(orderId, { tip: 5 }),
        payBody(orderId, { amount: -5 }),
        payBody(orderId, { amount: '250' }),
      ];
      for (const body of malformed) expectError(await pay(merchant.client, body), 400, 'VALIDATION_FAILED');
      expect(await paymentRows(db, merchant.user.merchantId ?? '', orderId)).toEqual([]);
      expect(await balanceMinor(merchant.client)).toBe(0n);
    });

    it('takes UPI up to ₹1,00,000 and refuses a paisa more with 422', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const over = newOrderId();
      expectError(
        await pay(merchant.client, payBody(over, { amount: 100_000.01 })),
        422,
        'AMOUNT_OUT_OF_RANGE',
      );
      expect(await paymentRows(db, merchant.user.merchantId ?? '', over)).toEqual([]);
      const atLimit = await paid(merchant.client, payBody(newOrderId(), { amount: 100_000 }));
      expect(atLimit.status).toBe('succeeded');
    });

    it('lets only a merchant pay', async () => {
      const user = await createAccount(testApp, 'user');
      expectError(await pay(user.client, payBody(newOrderId())), 403, 'FORBIDDEN');
      expectError(await pay(admin.client, payBody(newOrderId())), 403, 'FORBIDDEN');
    });
  });

  describe('registered orders', () => {
    it('takes a payment of the registered amount only, and registers an order once', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      const order = await merchant.client.post('/api/v1/orders', { orderId, amount: 499.5, currency: 'INR' });
      expect(order.statusCode, order.body).toBe(201);
      expect(order.json().data.order).toMatchObject({ orderId, amount: 499.5, currency: 'INR' });

      const mismatch = await pay(merchant.client, payBody(orderId, { amount: 500 }));
      expectError(mismatch, 422, 'AMOUNT_MISMATCH');
      expect(mismatch.json().error.details).toMatchObject({ orderAmountMinor: '49950' });
      expect(await paymentRows(db, merchant.user.merchantId ?? '', orderId)).toEqual([]);

      const payment = await paid(merchant.client, payBody(orderId, { amount: 499.5 }));
      expect(payment).toMatchObject({ orderId, status: 'succeeded', amount: 499.5 });

      const again = await merchant.client.post('/api/v1/orders', { orderId, amount: 10, currency: 'INR' });
      expectError(again, 409, 'ORDER_EXISTS');
    });
  });

  describe('idempotency', () => {
    it('replays the first reply for the same key and body, and refuses the key with another body', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      const key = randomUUID();
      const first = await pay(merchant.client, payBody(orderId), key);
      expect(first.statusCode, first.body).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();

      const replay = await pay(merchant.client, payBody(orderId), key);
      expect(replay.statusCode, replay.body).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json()).toEqual(first.json());

      const reused = await pay(merchant.client, payBody(orderId, { amount: 251 }), key);
      expectError(reused, 422, 'IDEMPOTENCY_KEY_REUSED');

      expect(await paymentRows(db, merchant.user.merchantId ?? '', orderId)).toHaveLength(1);
      // Credited once: 250.00 less 2% (5.00) and 3.00.
      expect(creditedMinor(DEFAULT_AMOUNT_MINOR)).toBe(24_200n);
      expect(await balanceMinor(merchant.client)).toBe(creditedMinor(DEFAULT_AMOUNT_MINOR));
    });
  });

  describe('one payment per order', () => {
    it('lets one of ten simultaneous payments for an order through and answers the rest 409', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => pay(merchant.client, payBody(orderId))),
      );
      const statuses = replies.map((reply) => reply.statusCode);
      expect(
        statuses.filter((status) => status === 201),
        replies.map((r) => r.body).join('\n'),
      ).toHaveLength(1);
      expect(statuses.filter((status) => status === 409)).toHaveLength(9);
      for (const reply of replies.filter((one) => one.statusCode === 409)) {
        expect(['PAYMENT_IN_PROGRESS', 'ORDER_ALREADY_PAID']).toContain(reply.json().error.code);
      }
      const rows = await paymentRows(db, merchant.user.merchantId ?? '', orderId);
      expect(rows.map((row) => row.status)).toEqual(['succeeded']);
      expect(await balanceMinor(merchant.client)).toBe(creditedMinor(DEFAULT_AMOUNT_MINOR));
    });

    it('refuses a new payment for a paid order', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      await paid(merchant.client, payBody(orderId));
      expectError(await pay(merchant.client, payBody(orderId)), 409, 'ORDER_ALREADY_PAID');
      expect(await paymentRows(db, merchant.user.merchantId ?? '', orderId)).toHaveLength(1);
    });

    it('takes a new payment for an order whose payment failed', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const orderId = newOrderId();
      const failed = await failedPayment(merchant, orderId);
      expect(failed).toMatchObject({ status: 'failed', errorCode: 'DECLINED', fee: 0 });
      expect(await eventTypesOf(db, failed.id)).toEqual(['payment.failed']);
      const retried = await paid(merchant.client, payBody(orderId));
      expect(retried.status).toBe('succeeded');
      const rows = await paymentRows(db, merchant.user.merchantId ?? '', orderId);
      expect(rows.map((row) => row.status).sort()).toEqual(['failed', 'succeeded']);
      expect(await balanceMinor(merchant.client)).toBe(creditedMinor(DEFAULT_AMOUNT_MINOR));
    });
  });

  describe('refunds', () => {
    it('refunds part, then the rest, and then nothing more', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      // A second payment keeps the merchant's balance above the refunds (the fee is not returned).
      const payment = await paid(merchant.client, payBody(newOrderId(), { amount: 1000 }));
      await paid(merchant.client, payBody(newOrderId(), { amount: 500 }));
      const beforeMinor = creditedMinor(100_000n) + creditedMinor(50_000n);
      expect(await balanceMinor(merchant.client)).toBe(beforeMinor);

      const part = await refund(merchant.client, payment.id, { amount: 400, reason: 'One item returned' });
      expect(part.statusCode, part.body).toBe(201);
      expect(part.json().data.refund).toMatchObject({
        amount: 400,
        status: 'succeeded',
        reason: 'One item returned',
      });
      expect(part.json().data.payment).toMatchObject({ status: 'partially_refunded', refundedAmount: 400 });

      const over = await refund(merchant.client, payment.id, { amount: 600.01, reason: 'Too much' });
      expectError(over, 422, 'REFUND_EXCEEDS_CAPTURED');
      expect(over.json().error.details).toEqual({ refundableMinor: '60000' });

      const rest = await refund(merchant.client, payment.id, { reason: 'Order cancelled' });
      expect(rest.statusCode, rest.body).toBe(201);
      expect(rest.json().data.refund).toMatchObject({ amount: 600, status: 'succeeded' });
      expect(rest.json().data.payment).toMatchObject({ status: 'refunded', refundedAmount: 1000 });

      expectError(
        await refund(merchant.client, payment.id, { amount: 1, reason: 'Again' }),
        409,
        'PAYMENT_NOT_REFUNDABLE',
      );
      expect(await balanceMinor(merchant.client)).toBe(beforeMinor - 100_000n);
      expect((await eventTypesOf(db, payment.id)).sort()).toEqual([
        'payment.refunded',
        'payment.refunded',
        'payment.succeeded',
      ]);
      const detail = await merchant.client.get(`/api/v1/payments/${payment.id}`);
      expect(transitionsOf(detail.json().data.history)).toEqual([
        'created>succeeded',
        'none>created',
        'partially_refunded>refunded',
        'succeeded>partially_refunded',
      ]);
      await expectLedgerBalanced(admin);
    });

    // The merchant keeps no fee back: a full refund of its only payment is more than its balance.
    // Asking the gateway first and posting after used to leave the refund `pending` for good
    // (refunded at the gateway, refused by the ledger, blocking every later refund).
    it('never leaves a refund the merchant balance cannot cover pending', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const payment = await paid(merchant.client, payBody(newOrderId(), { amount: 100 }));
      expect(await balanceMinor(merchant.client)).toBe(creditedMinor(10_000n));
      const reply = await refund(merchant.client, payment.id, { reason: 'Order cancelled' });
      const refunds = await db
        .selectFrom('paymentRefunds')
        .select('status')
        .where('paymentId', '=', payment.id)
        .execute();
      // Answered at once by the sandbox: nothing may be left waiting, whatever the answer was.
      expect(
        refunds.filter((row) => row.status === 'pending'),
        reply.body,
      ).toEqual([]);
      if (reply.statusCode === 201) {
        expect(reply.json().data.payment).toMatchObject({ status: 'refunded', refundedAmount: 100 });
      } else {
        expectError(reply, 422, 'INSUFFICIENT_FUNDS');
        const detail = await merchant.client.get(`/api/v1/payments/${payment.id}`);
        expect(detail.json().data.payment).toMatchObject({ status: 'succeeded', refundedAmount: 0 });
        // What the balance does cover is still refundable.
        const covered = await refund(merchant.client, payment.id, { amount: 95, reason: 'Partly' });
        expect(covered.statusCode, covered.body).toBe(201);
        expect(covered.json().data.payment).toMatchObject({
          status: 'partially_refunded',
          refundedAmount: 95,
        });
        expect(await balanceMinor(merchant.client)).toBe(0n);
      }
      await expectLedgerBalanced(admin);
    });

    it('refuses to refund a failed payment', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const failed = await failedPayment(merchant, newOrderId());
      const reply = await refund(merchant.client, failed.id, { reason: 'Nothing was taken' });
      expectError(reply, 409, 'PAYMENT_NOT_REFUNDABLE');
    });

    it('lets one of two simultaneous refunds through when together they exceed the payment', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      const payment = await paid(merchant.client, payBody(newOrderId(), { amount: 300 }));
      await paid(merchant.client, payBody(newOrderId(), { amount: 300 }));
      const beforeMinor = 2n * creditedMinor(30_000n);
      const replies = await Promise.all([
        refund(merchant.client, payment.id, { amount: 200, reason: 'First' }),
        refund(merchant.client, payment.id, { amount: 200, reason: 'Second' }),
      ]);
      expect(replies.map((reply) => reply.statusCode).sort()).toEqual([201, 422]);
      const refused = replies.find((reply) => reply.statusCode === 422);
      if (refused !== undefined) expectError(refused, 422, 'REFUND_EXCEEDS_CAPTURED');
      const detail = await merchant.client.get(`/api/v1/payments/${payment.id}`);
      expect(detail.json().data.payment).toMatchObject({ status: 'partially_refunded', refundedAmount: 200 });
      expect(await balanceMinor(merchant.client)).toBe(beforeMinor - 20_000n);
      await expectLedgerBalanced(admin);
    });
  });

  describe('tenancy', () => {
    it("hides a merchant's payment from another merchant and shows it to an admin", async () => {
      const owner = await createAccount(testApp, 'merchant');
      const stranger = await createAccount(testApp, 'merchant');
      const payment = await paid(owner.client, payBody(newOrderId()));
      expectError(await stranger.client.get(`/api/v1/payments/${payment.id}`), 404, 'PAYMENT_NOT_FOUND');
      expectError(
        await stranger.client.get(`/api/v1/payments/${payment.id}/qr.png`),
        404,
        'PAYMENT_NOT_FOUND',
      );
      expectError(
        await stranger.client.post(`/api/v1/payments/${payment.id}/verify`),
        404,
        'PAYMENT_NOT_FOUND',
      );
      expectError(
        await refund(stranger.client, payment.id, { reason: 'Not mine' }),
        404,
        'PAYMENT_NOT_FOUND',
      );

      const seen = await admin.client.get(`/api/v1/payments/${payment.id}`);
      expect(seen.statusCode, seen.body).toBe(200);
      expect(seen.json().data.payment).toMatchObject({ id: payment.id, status: 'succeeded' });
      const own = await owner.client.post(`/api/v1/payments/${payment.id}/verify`);
      expect(own.statusCode, own.body).toBe(200);
      expect(own.json().data.payment.status).toBe('succeeded');
      expect(await balanceMinor(owner.client)).toBe(creditedMinor(DEFAULT_AMOUNT_MINOR));
    });
  });
});

describe('what the sandbox path counts, and which currencies a method takes', () => {
  let testApp: TestApp;
  let admin: Account;
  let merchant: Account;

  beforeAll(async () => {
    testApp = await createTestApp({ env: { CURRENCIES: 'INR:2,USD:2,USDT:6' } });
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
  });
  afterAll(async () => testApp?.close());

  it('health counts one attempt per payment written: a replay and a losing double click add none', async () => {
    const sandboxId = await gatewayIdNamed(admin, 'Sandbox');
    const volume = async () =>
      (await admin.client.get('/api/v1/admin/gateways/health'))
        .json()
        .data.gateways.find((gateway: { gatewayId: string }) => gateway.gatewayId === sandboxId)
        .volume as number;
    const before = await volume();
    const body = payBody(newOrderId());
    const key = randomUUID();
    expect((await pay(merchant.client, body, key)).statusCode).toBe(201);
    const replay = await pay(merchant.client, body, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const clicks = await Promise.all(
      Array.from({ length: 5 }, () => pay(merchant.client, payBody(newOrderId()))),
    );
    expect(clicks.every((reply) => reply.statusCode === 201)).toBe(true);
    const sameOrder = payBody(newOrderId());
    const doubleClick = await Promise.all(Array.from({ length: 5 }, () => pay(merchant.client, sameOrder)));
    expect(doubleClick.filter((reply) => reply.statusCode === 201)).toHaveLength(1);
    // One attempt per payment written: 1 + 5 + 1, whatever was refused.
    expect(await volume()).toBe(before + 7);
    const circuit = testApp.services.gateways.circuit(sandboxId);
    expect(circuit.state).toBe('closed');
  });

  it("keeps to a merchant's own per-payment limit, set by an admin", async () => {
    const limitUrl = `/api/v1/admin/merchants/${merchant.user.merchantId}/payment-limits`;
    const set = await admin.client.put(limitUrl, { maxAmount: 500 });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().data).toEqual({ merchantId: merchant.user.merchantId, maxAmount: 500 });
    expectError(
      await pay(merchant.client, payBody(newOrderId(), { amount: 500.01 })),
      422,
      'AMOUNT_OVER_MERCHANT_LIMIT',
    );
    expect((await pay(merchant.client, payBody(newOrderId(), { amount: 500 }))).statusCode).toBe(201);
    expect((await admin.client.put(limitUrl, { maxAmount: null })).json().data.maxAmount).toBeNull();
    expect((await pay(merchant.client, payBody(newOrderId(), { amount: 5000 }))).statusCode).toBe(201);
    expectError(
      await admin.client.put(`/api/v1/admin/merchants/${randomUUID()}/payment-limits`, { maxAmount: 1 }),
      404,
      'MERCHANT_NOT_FOUND',
    );
    expectError(await merchant.client.put(limitUrl, { maxAmount: 1 }), 403, 'FORBIDDEN');
    expectError(await admin.client.put(limitUrl, { maxAmount: 1.005 }), 400, 'VALIDATION_FAILED');
  });

  it('takes UPI and netbanking in rupees only, and cards in two-decimal currencies', async () => {
    for (const method of ['upi_intent', 'upi_collect', 'upi_qr', 'netbanking']) {
      expectError(
        await pay(merchant.client, payBody(newOrderId(), { method, currency: 'USD', amount: 10 })),
        422,
        'METHOD_CURRENCY_UNSUPPORTED',
      );
    }
    expectError(
      await pay(merchant.client, payBody(newOrderId(), { method: 'card', currency: 'USDT', amount: 10 })),
      422,
      'METHOD_CURRENCY_UNSUPPORTED',
    );
    const usdCard = await pay(
      merchant.client,
      payBody(newOrderId(), { method: 'card', currency: 'USD', amount: 10.5 }),
    );
    expect(usdCard.statusCode, usdCard.body).toBe(201);
    expect(usdCard.json().data.payment).toMatchObject({ currency: 'USD', amount: 10.5, status: 'succeeded' });
  });
});

describe('routing and failover across sandbox gateways', () => {
  let testApp: TestApp;
  let db: Db;
  let admin: Account;
  let merchant: Account;
  const GATEWAY_TIMEOUT_MS = 150;
  const MIXED_RUN_PAYMENTS = 60;

  beforeAll(async () => {
    testApp = await createTestApp({
      random: seededRandom(42),
      env: {
        PAYMENT_ATTEMPTS_MAX: '2',
        GATEWAY_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS),
        // Circuits stay closed: these tests are about failover within one payment.
        CIRCUIT_CONSECUTIVE_FAILURES: '1000',
        CIRCUIT_FAILURE_RATE_PERCENT: '100',
      },
    });
    db = testApp.database.handle.db;
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
  });
  afterAll(async () => testApp?.close());

  async function attemptRows(paymentId: string) {
    return db
      .selectFrom('paymentAttempts')
      .select(['gatewayId', 'attemptNumber', 'status', 'errorCode'])
      .where('paymentId', '=', paymentId)
      .orderBy('attemptNumber')
      .execute();
  }

  it('does not retry a decline at another gateway', async () => {
    const [declining, healthy] = await onlyGateways(admin, [
      { config: { successRate: 0, failureMode: 'decline' } },
      { config: { successRate: 1, failureMode: 'none' } },
    ]);
    const payment = await paid(merchant.client, payBody(newOrderId()));
    expect(payment).toMatchObject({ status: 'failed', errorCode: 'DECLINED', gatewayId: declining });
    expect(payment.attempts).toEqual([
      expect.objectContaining({ gatewayId: declining, status: 'failed', errorCode: 'DECLINED' }),
    ]);
    expect(await attemptRows(payment.id)).toHaveLength(1);
    expect(payment.attempts.some((attempt) => attempt.gatewayId === healthy)).toBe(false);
  });

  it('fails over from a gateway error to the next gateway, which takes its own fee', async () => {
    const [broken, healthy] = await onlyGateways(admin, [
      { config: { successRate: 0, failureMode: 'error' }, fees: { percent: 5, fixed: 0 } },
      { config: { successRate: 1, failureMode: 'none' }, fees: { percent: 1, fixed: 0.5 } },
    ]);
    const payment = await paid(merchant.client, payBody(newOrderId(), { amount: 200 }));
    expect(payment).toMatchObject({ status: 'succeeded', gatewayId: healthy, fee: 2.5, errorCode: null });
    expect(payment.attempts).toEqual([
      expect.objectContaining({ gatewayId: broken, status: 'failed', errorCode: 'GATEWAY_ERROR' }),
      expect.objectContaining({ gatewayId: healthy, status: 'succeeded', errorCode: null }),
    ]);
    expect((await attemptRows(payment.id)).map((row) => row.attemptNumber)).toEqual([1, 2]);
  });

  it('stops after PAYMENT_ATTEMPTS_MAX attempts', async () => {
    const gateways = await onlyGateways(admin, [
      { config: { successRate: 0, failureMode: 'error' } },
      { config: { successRate: 0, failureMode: 'error' } },
      { config: { successRate: 0, failureMode: 'error' } },
    ]);
    const payment = await paid(merchant.client, payBody(newOrderId()));
    expect(payment).toMatchObject({ status: 'failed', errorCode: 'GATEWAY_ERROR', fee: 0 });
    expect(payment.attempts.map((attempt) => attempt.gatewayId)).toEqual(gateways.slice(0, 2));
    expect(await attemptRows(payment.id)).toHaveLength(2);
    expect(await eventTypesOf(db, payment.id)).toEqual(['payment.failed']);
  });

  it('fails over when a gateway times out', async () => {
    const [slow, healthy] = await onlyGateways(admin, [
      { config: { successRate: 0, failureMode: 'timeout' } },
      { config: { successRate: 1, failureMode: 'none' } },
    ]);
    const payment = await paid(merchant.client, payBody(newOrderId()));
    expect(payment).toMatchObject({ status: 'succeeded', gatewayId: healthy });
    expect(payment.attempts).toEqual([
      expect.objectContaining({ gatewayId: slow, status: 'failed', errorCode: 'GATEWAY_TIMEOUT' }),
      expect.objectContaining({ gatewayId: healthy, status: 'succeeded' }),
    ]);
    // Given up on at the timeout, not waited for.
    expect(payment.attempts[0]?.latencyMs).toBeGreaterThanOrEqual(GATEWAY_TIMEOUT_MS - 10);
    expect(payment.attempts[0]?.latencyMs).toBeLessThan(GATEWAY_TIMEOUT_MS * 5);
  });

  it('answers 422 NO_ELIGIBLE_GATEWAY when every gateway is disabled', async () => {
    const [only] = await onlyGateways(admin, [{ config: { successRate: 1, failureMode: 'none' } }]);
    await updateGateway(admin, only ?? '', { enabled: false });
    const orderId = newOrderId();
    const reply = await pay(merchant.client, payBody(orderId));
    expectError(reply, 422, 'NO_ELIGIBLE_GATEWAY');
    expect(reply.json().error.details.skipped).toContainEqual({ gatewayId: only, reason: 'disabled' });
    expect(await paymentRows(db, merchant.user.merchantId ?? '', orderId)).toEqual([]);
  });

  it('skips a gateway whose maximum is below the amount', async () => {
    const [small, large] = await onlyGateways(admin, [
      { config: { successRate: 1, failureMode: 'none' }, maxAmount: 100 },
      { config: { successRate: 1, failureMode: 'none' } },
    ]);
    const payment = await paid(merchant.client, payBody(newOrderId(), { amount: 100.01 }));
    expect(payment.attempts.map((attempt) => attempt.gatewayId)).toEqual([large]);
    const withinLimit = await paid(merchant.client, payBody(newOrderId(), { amount: 100 }));
    expect(withinLimit.attempts.map((attempt) => attempt.gatewayId)).toEqual([small]);

    await updateGateway(admin, large ?? '', { enabled: false });
    const reply = await pay(merchant.client, payBody(newOrderId(), { amount: 100.01 }));
    expectError(reply, 422, 'NO_ELIGIBLE_GATEWAY');
    expect(reply.json().error.details.skipped).toContainEqual({ gatewayId: small, reason: 'above_maximum' });
  });

  it('keeps the ledger balanced and the merchant balance exact over a mixed run', async () => {
    const feesByGateway = new Map<string, { percent: number; fixed: number }>();
    const specs: GatewaySpec[] = [
      { config: { successRate: 0.7, failureMode: 'error' }, fees: { percent: 2, fixed: 3 } },
      { config: { successRate: 0.7, failureMode: 'error' }, fees: { percent: 1.75, fixed: 0 } },
    ];
    const ids = await onlyGateways(admin, specs);
    for (const [index, id] of ids.entries())
      feesByGateway.set(id, specs[index]?.fees ?? { percent: 0, fixed: 0 });
    const shop = await createAccount(testApp, 'merchant');
    const payments: PaymentJson[] = [];
    for (let index = 0; index < MIXED_RUN_PAYMENTS; index += 1) {
      const amountMinor = 10_000n + BigInt(index) * 3_731n;
      payments.push(await paid(shop.client, payBody(newOrderId(), { amount: Number(amountMinor) / 100 })));
    }
    const succeeded = payments.filter((payment) => payment.status === 'succeeded');
    const failed = payments.filter((payment) => payment.status === 'failed');
    // With 0.7 per attempt and two attempts, about 91% succeed; the seed gives some of each.
    expect(succeeded.length + failed.length).toBe(MIXED_RUN_PAYMENTS);
    expect(failed.length).toBeGreaterThan(0);
    expect(succeeded.some((payment) => payment.attempts.length === 2)).toBe(true);
    for (const payment of failed) expect(payment).toMatchObject({ errorCode: 'GATEWAY_ERROR', fee: 0 });

    let expectedMinor = 0n;
    for (const payment of succeeded) {
      const fees = feesByGateway.get(payment.gatewayId ?? '');
      if (fees === undefined) throw new Error(`payment ${payment.id} went through an unknown gateway`);
      const feeMinor = expectedFeeMinor(minorOf(payment.amount), fees);
      expect(minorOf(payment.fee)).toBe(feeMinor);
      expectedMinor += minorOf(payment.amount) - feeMinor;
    }
    // Refund every fourth success in full and every third in part.
    for (const [index, payment] of succeeded.entries()) {
      const refundMinor =
        index % 4 === 0 ? minorOf(payment.amount) : index % 3 === 0 ? minorOf(payment.amount) / 3n : 0n;
      if (refundMinor === 0n) continue;
      const reply = await refund(shop.client, payment.id, {
        amount: Number(refundMinor) / 100,
        reason: 'Returned',
      });
      expect(reply.statusCode, reply.body).toBe(201);
      expectedMinor -= refundMinor;
    }
    await expectLedgerBalanced(admin);
    expect(await balanceMinor(shop.client)).toBe(expectedMinor);
  });
});

describe('expiry and late success on a gateway across the network', () => {
  const TTL_MINUTES = 15;
  const clock = createManualClock();
  let testApp: TestApp;
  let db: Db;
  let admin: Account;
  let merchant: Client;
  let merchantId: string;
  let fake: FakeGateway;
  let razorpayId: string;
  const RAZORPAY_FEES = { percent: 2, fixed: 0 };

  beforeAll(async () => {
    fake = await startRazorpayGateway();
    // The payer has not approved the collect request yet: the payment stays pending.
    fake.behaviour = 'pending';
    testApp = await createTestApp({
      clock,
      env: { PAYMENT_TTL_MINUTES: String(TTL_MINUTES), GATEWAY_WEBHOOK_TOLERANCE_SEC: '300' },
    });
    db = testApp.database.handle.db;
    admin = await createAccount(testApp, 'admin');
    const account = await createAccount(testApp, 'merchant');
    // API credentials, not an access token: the clock is moved past the token's lifetime.
    if (account.apiClient === undefined) throw new Error('a merchant without API credentials');
    merchant = account.apiClient;
    merchantId = account.user.merchantId ?? '';
    const sandboxId = await gatewayIdNamed(admin, 'Sandbox');
    await updateGateway(admin, sandboxId, { enabled: false });
    const created = await admin.client.post('/api/v1/admin/gateways', {
      name: 'Razorpay',
      connector: 'razorpay',
      credentials: fake.credentials,
      config: { baseUrl: fake.baseUrl },
      methods: ['upi_collect', 'upi_intent'],
      fees: RAZORPAY_FEES,
      priority: 1,
    });
    expect(created.statusCode, created.body).toBe(201);
    razorpayId = created.json().data.gateway.id;
  });
  afterAll(async () => {
    await testApp?.close();
    await fake?.close();
  });

  /**
   * The imitation stamps its webhooks with the real time; the app reads the manual clock. This
   * age keeps the signed timestamp where the app's clock is.
   */
  function clockAgeSec(): number {
    return Math.round((Date.now() - clock.now().getTime()) / 1000);
  }

  async function pendingPayment(amount: number, orderId = newOrderId()): Promise<PaymentJson> {
    const reply = await pay(merchant, payBody(orderId, { amount, method: 'upi_collect' }));
    expect(reply.statusCode, reply.body).toBe(201);
    const { payment, nextAction } = reply.json().data;
    expect(payment).toMatchObject({ status: 'pending', gatewayId: razorpayId });
    expect(payment.attempts).toEqual([
      expect.objectContaining({ status: 'pending', gatewayName: 'Razorpay' }),
    ]);
    expect(nextAction).toEqual({ type: 'upi_collect', vpa: CUSTOMER.vpa });
    return payment;
  }

  async function statusOf(paymentId: string): Promise<string> {
    const reply = await merchant.get(`/api/v1/payments/${paymentId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    return reply.json().data.payment.status;
  }

  it('expires a pending payment after its TTL, then records a late success with an alert', async () => {
    const payment = await pendingPayment(499);
    const attemptId = payment.attempts[0]?.id ?? '';

    clock.advance((TTL_MINUTES - 1) * MINUTE_MS);
    await testApp.services.payments.expireDue(EXPIRY_BATCH_SIZE);
    expect(await statusOf(payment.id)).toBe('pending');

    clock.advance(2 * MINUTE_MS);
    expect(await testApp.services.payments.expireDue(EXPIRY_BATCH_SIZE)).toBeGreaterThanOrEqual(1);
    const expired = await merchant.get(`/api/v1/payments/${payment.id}`);
    expect(expired.json().data.payment).toMatchObject({ status: 'expired', errorCode: 'EXPIRED' });
    expect(expired.json().data.history.at(-1)).toMatchObject({
      fromStatus: 'pending',
      toStatus: 'expired',
      cause: 'expiry',
    });
    expect(await eventTypesOf(db, payment.id)).toEqual(['payment.pending', 'payment.expired']);
    expect(await balanceMinor(merchant)).toBe(0n);

    // The payer approves after all, a moment later; Razorpay tells us.
    clock.advance(1_000);
    fake.settle(attemptId, 'succeeded');
    const webhook = fake.webhookFor(attemptId, 'succeeded', { ageSec: clockAgeSec() });
    const url = `/api/v1/webhooks/gateways/${razorpayId}`;
    const received = await merchant.post(url, webhook.body, webhook.headers);
    expect(received.statusCode, received.body).toBe(200);
    expect(received.json().data).toEqual({ received: true, replayed: false, effect: 'applied' });

    const late = await merchant.get(`/api/v1/payments/${payment.id}`);
    expect(late.json().data.payment).toMatchObject({ status: 'succeeded', fee: 9.98 });
    expect(late.json().data.history.at(-1)).toMatchObject({
      fromStatus: 'expired',
      toStatus: 'succeeded',
      cause: 'gateway_webhook',
    });
    expect(await eventTypesOf(db, payment.id)).toEqual([
      'payment.pending',
      'payment.expired',
      'payment.succeeded',
    ]);
    const creditedMinor = 49_900n - expectedFeeMinor(49_900n, RAZORPAY_FEES);
    expect(await balanceMinor(merchant)).toBe(creditedMinor);
    const alerts = await db
      .selectFrom('systemAlerts')
      .select(['kind', 'subject'])
      .where('kind', '=', 'late_payment_success')
      .execute();
    expect(alerts).toEqual([{ kind: 'late_payment_success', subject: payment.id }]);

    // Razorpay delivers it again a little later: acknowledged, nothing credited twice.
    clock.advance(1_000);
    const replayed = await merchant.post(url, webhook.body, webhook.headers);
    expect(replayed.statusCode, replayed.body).toBe(200);
    expect(replayed.json().data).toMatchObject({ replayed: true });
    expect(await balanceMinor(merchant)).toBe(creditedMinor);
    const stored = await db
      .selectFrom('gatewayWebhooks')
      .select(['verification', 'effect', 'paymentId'])
      .where('gatewayId', '=', razorpayId)
      .orderBy('receivedAt')
      .orderBy('id')
      .execute();
    expect(stored).toEqual([
      { verification: 'verified', effect: 'applied', paymentId: payment.id },
      { verification: 'replayed', effect: 'no_change', paymentId: null },
    ]);
    // A new admin: the first one's access token expired with the clock.
    await expectLedgerBalanced(await createAccount(testApp, 'admin'));
  });

  it('settles a pending payment when asked to verify it', async () => {
    const before = await balanceMinor(merchant);
    const payment = await pendingPayment(120);
    const unchanged = await merchant.post(`/api/v1/payments/${payment.id}/verify`);
    expect(unchanged.statusCode, unchanged.body).toBe(200);
    expect(unchanged.json().data.payment.status).toBe('pending');

    // The payer approves a moment later.
    clock.advance(1_000);
    fake.settle(payment.attempts[0]?.id ?? '', 'succeeded');
    const verified = await merchant.post(`/api/v1/payments/${payment.id}/verify`);
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json().data.payment).toMatchObject({ status: 'succeeded', fee: 2.4 });
    expect(await balanceMinor(merchant)).toBe(before + 12_000n - 240n);
    expect(await eventTypesOf(db, payment.id)).toEqual(['payment.pending', 'payment.succeeded']);
  });

  it('takes a new payment for an order whose payment expired', async () => {
    const orderId = newOrderId();
    const first = await pendingPayment(75, orderId);
    expectError(
      await pay(merchant, payBody(orderId, { amount: 75, method: 'upi_collect' })),
      409,
      'PAYMENT_IN_PROGRESS',
    );
    clock.advance((TTL_MINUTES + 1) * MINUTE_MS);
    await testApp.services.payments.expireDue(EXPIRY_BATCH_SIZE);
    expect(await statusOf(first.id)).toBe('expired');
    const second = await pendingPayment(75, orderId);
    expect(second.id).not.toBe(first.id);
    expect((await paymentRows(db, merchantId, orderId)).map((row) => row.status).sort()).toEqual([
      'expired',
      'pending',
    ]);
  });
});
