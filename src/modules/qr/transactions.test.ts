import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  createAccount,
  createTestApp,
  expectError,
  expectTenantIsolation,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import type { Clock } from '../../lib/clock.ts';

/**
 * Integration tests of the transaction endpoints of issue 3 ("Transactions"), on the real
 * database. Every data set is written with explicit amounts, statuses and back-filled
 * timestamps, and each describe block uses merchants of its own, so the expected figures can be
 * worked out by hand (the arithmetic is in the comments).
 */

const PAYMENT_ID = /^PAY\d+$/;
const UTR = /^[A-Z0-9]{12}$/;
const UPI_APPS = ['GPay', 'PhonePe', 'Paytm', 'BHIM', 'AmazonPay'];
const CSV_HEADER =
  'paymentId,qrId,amount,currency,status,utr,timestamp,customerName,customerPhone,upiApp,origin,createdAt';

/** The system clock, unless a test freezes it (then every request sees the same millisecond). */
let frozenAt: Date | null = null;
const clock: Clock = { now: () => (frozenAt === null ? new Date() : new Date(frozenAt.getTime())) };

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  // A low background-simulator cap: POST /transactions/simulate must not be bound by it.
  testApp = await createTestApp({ clock, env: { MAX_TRANSACTIONS_PER_QR: '10' } });
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
});

interface Transaction {
  id: string;
  paymentId: string;
  source: 'qr';
  qrId: string;
  merchantId: string;
  amount: number;
  currency: string;
  status: 'Success' | 'Failed' | 'Pending';
  utr: string;
  timestamp: string;
  customerInfo: { name: string | null; phone: string | null; upiApp: string | null };
  origin: string;
  createdAt: string;
  updatedAt: string;
  statusHistory?: { from: string | null; to: string; cause: string; changedAt: string }[];
}

interface QrCode {
  id: string;
  qrId: string;
}

function merchantClient(account: Account): Client {
  return account.client;
}

async function createQr(owner: Account, fields: Record<string, unknown> = {}): Promise<QrCode> {
  const reply = await owner.client.post('/api/qr', {
    vpa: 'counter.one@okaxis',
    referenceName: 'Counter One',
    ...fields,
  });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode;
}

function postTransaction(owner: Account, body: unknown, headers?: Record<string, string>): Promise<Reply> {
  return merchantClient(owner).post('/api/transactions', body, headers);
}

async function record(owner: Account, body: Record<string, unknown>): Promise<Transaction> {
  const reply = await postTransaction(owner, body);
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.transaction;
}

function withQuery(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === '' ? path : `${path}?${text}`;
}

async function list(
  caller: Client,
  query: Record<string, string | number | undefined> = {},
): Promise<{
  transactions: Transaction[];
  pagination: { current: number; total: number; count: number; totalRecords: number };
}> {
  const reply = await caller.get(withQuery('/api/transactions', query));
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data;
}

/** The paymentIds a list query returns, in order. */
async function listIds(caller: Client, query: Record<string, string | number | undefined> = {}) {
  return (await list(caller, query)).transactions.map((transaction) => transaction.paymentId);
}

/** The stats reply, its statusBreakdown sorted by status name (the issue fixes no order for it). */
async function stats(caller: Client, query: Record<string, string | undefined> = {}) {
  const reply = await caller.get(withQuery('/api/transactions/stats', query));
  expect(reply.statusCode, reply.body).toBe(200);
  const data = reply.json().data;
  return { ...data, statusBreakdown: byId(data.statusBreakdown) };
}

async function exportCsv(caller: Client, query: Record<string, string | undefined> = {}): Promise<Reply> {
  const reply = await caller.get(withQuery('/api/transactions/export.csv', query));
  expect(reply.statusCode, reply.body).toBe(200);
  return reply;
}

/** The records of a CSV body: every line ends with CRLF and no bare CR or LF appears. */
function csvLines(body: string): string[] {
  expect(body.endsWith('\r\n')).toBe(true);
  const lines = body.split('\r\n');
  expect(lines.pop()).toBe('');
  for (const line of lines) expect(line).not.toMatch(/[\r\n]/);
  return lines;
}

/** A 400 VALIDATION_FAILED whose every detail names `field`. */
function expectInvalid(reply: Reply, field: string): void {
  expectError(reply, 400, 'VALIDATION_FAILED');
  const details = reply.json().error.details as { field: string; message: string }[];
  expect(details.length, reply.body).toBeGreaterThan(0);
  expect([...new Set(details.map((detail) => detail.field))], reply.body).toEqual([field]);
}

async function countRows(table: string, where = sql`true`): Promise<number> {
  const { rows } = await sql<{
    n: string;
  }>`SELECT count(*) AS n FROM ${sql.table(table)} WHERE ${where}`.execute(testApp.database.handle.db);
  return Number(rows[0]?.n);
}

/** What a refused request must leave untouched. */
async function rowCounts() {
  return {
    transactions: await countRows('qr_transactions'),
    history: await countRows('qr_transaction_status_history'),
    idempotencyKeys: await countRows('idempotency_keys'),
    rolledUp: Number(
      (
        await sql<{ n: string }>`
          SELECT coalesce(sum(success_count + failed_count + pending_count), 0) AS n
          FROM qr_transaction_totals`.execute(testApp.database.handle.db)
      ).rows[0]?.n,
    ),
  };
}

async function transactionsOfQr(qrId: string) {
  return testApp.database.handle.db
    .selectFrom('qrTransactions')
    .selectAll()
    .where('qrId', '=', qrId)
    .orderBy('occurredAt', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

function byId<T extends { _id: string }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
}

describe('POST /api/transactions: recording a payment', () => {
  let owner: Account;
  let qr: QrCode;
  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    qr = await createQr(owner); // maxAmount 0: no limit
  });

  it('records a back-filled payment exactly as given, with its first history row', async () => {
    const utr = 'ABC123XYZ789';
    const reply = await postTransaction(owner, {
      qrId: qr.qrId,
      amount: 120.5,
      status: 'Pending',
      utr,
      timestamp: '2026-03-10T18:00:00Z',
      customerInfo: { name: 'Asha Rao', phone: '9876543210', upiApp: 'PhonePe' },
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const body = reply.json();
    expect(body).toMatchObject({ success: true, message: 'Transaction recorded' });
    const transaction = body.data.transaction as Transaction;
    expect(transaction).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      paymentId: expect.stringMatching(PAYMENT_ID),
      source: 'qr',
      qrId: qr.qrId,
      merchantId: owner.user.merchantId,
      amount: 120.5,
      currency: 'INR',
      status: 'Pending',
      utr,
      timestamp: '2026-03-10T18:00:00.000Z',
      customerInfo: { name: 'Asha Rao', phone: '9876543210', upiApp: 'PhonePe' },
      origin: 'manual',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });

    const row = await testApp.database.handle.db
      .selectFrom('qrTransactions')
      .selectAll()
      .where('id', '=', transaction.id)
      .executeTakeFirstOrThrow();
    expect(row.amountMinor).toBe(12050n); // 120.50 rupees = 12050 paise
    expect(row.occurredAt.toISOString()).toBe('2026-03-10T18:00:00.000Z');
    expect(row.status).toBe('Pending');

    const history = await testApp.database.handle.db
      .selectFrom('qrTransactionStatusHistory')
      .select(['fromStatus', 'toStatus', 'cause', 'actorId'])
      .where('transactionId', '=', transaction.id)
      .execute();
    expect(history).toEqual([
      { fromStatus: null, toStatus: 'Pending', cause: 'created', actorId: owner.user.id },
    ]);
  });

  it('generates paymentId and utr, defaults status to Success and timestamp to now', async () => {
    const before = Date.now();
    const transaction = await record(owner, { qrId: qr.qrId, amount: 10 });
    const after = Date.now();
    expect(transaction.paymentId).toMatch(PAYMENT_ID);
    expect(transaction.utr).toMatch(UTR);
    expect(transaction.status).toBe('Success');
    expect(transaction.customerInfo).toEqual({ name: null, phone: null, upiApp: null });
    const at = Date.parse(transaction.timestamp);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);

    const second = await record(owner, { qrId: qr.qrId, amount: 10 });
    expect(second.paymentId).not.toBe(transaction.paymentId);
    expect(second.utr).not.toBe(transaction.utr);
  });

  it('accepts the amount bounds 1 and 100000 and stores them in paise', async () => {
    const low = await record(owner, { qrId: qr.qrId, amount: 1 });
    const high = await record(owner, { qrId: qr.qrId, amount: 100000 });
    expect([low.amount, high.amount]).toEqual([1, 100000]);
    const rows = await testApp.database.handle.db
      .selectFrom('qrTransactions')
      .select(['paymentId', 'amountMinor'])
      .where('paymentId', 'in', [low.paymentId, high.paymentId])
      .execute();
    expect(new Map(rows.map((row) => [row.paymentId, row.amountMinor]))).toEqual(
      new Map([
        [low.paymentId, 100n],
        [high.paymentId, 10_000_000n],
      ]),
    );
  });

  it('refuses amounts out of range, with more than two decimals, or not a number (400 amount)', async () => {
    const before = await rowCounts();
    for (const amount of [0.99, 100000.01, 10.005, '10', 0, -5, null]) {
      expectInvalid(await postTransaction(owner, { qrId: qr.qrId, amount }), 'amount');
    }
    expectInvalid(await postTransaction(owner, { qrId: qr.qrId }), 'amount');
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a qrId that is not 5 characters A-Z0-9 (400 qrId)', async () => {
    const before = await rowCounts();
    for (const qrId of ['ABCD', 'ABCDEF', 'AB-12', 'abcde', 12345]) {
      expectInvalid(await postTransaction(owner, { qrId, amount: 10 }), 'qrId');
    }
    expectInvalid(await postTransaction(owner, { amount: 10 }), 'qrId');
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a status outside Success/Failed/Pending (400 status)', async () => {
    const before = await rowCounts();
    for (const status of ['success', 'Refunded', 'Successful', '', 1]) {
      expectInvalid(await postTransaction(owner, { qrId: qr.qrId, amount: 10, status }), 'status');
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a utr that is not exactly 12 characters A-Z0-9 (400 utr)', async () => {
    const before = await rowCounts();
    for (const utr of ['ABC123XYZ78', 'ABC123XYZ7890', 'abc123xyz789', 'ABC-23XYZ789', '']) {
      expectInvalid(await postTransaction(owner, { qrId: qr.qrId, amount: 10, utr }), 'utr');
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a timestamp that is not an ISO date-time or lies in the future (400 timestamp)', async () => {
    const before = await rowCounts();
    const inAMinute = new Date(Date.now() + 60_000).toISOString();
    for (const timestamp of [
      'yesterday',
      '2026-03-10',
      '2026-02-30T10:00:00Z',
      '10/03/2026 18:00',
      inAMinute,
    ]) {
      expectInvalid(await postTransaction(owner, { qrId: qr.qrId, amount: 10, timestamp }), 'timestamp');
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('takes "now" as the latest allowed timestamp, 1 ms later is the future', async () => {
    frozenAt = new Date();
    try {
      const now = frozenAt.toISOString();
      const later = new Date(frozenAt.getTime() + 1).toISOString();
      expectInvalid(
        await postTransaction(owner, { qrId: qr.qrId, amount: 10, timestamp: later }),
        'timestamp',
      );
      const atNow = await record(owner, { qrId: qr.qrId, amount: 10, timestamp: now });
      expect(atNow.timestamp).toBe(now);
    } finally {
      frozenAt = null;
    }
  });

  it('reads a timestamp with an offset as the instant it names', async () => {
    // 23:30 in India (+05:30) is 18:00 UTC.
    const transaction = await record(owner, {
      qrId: qr.qrId,
      amount: 10,
      timestamp: '2026-03-10T23:30:00+05:30',
    });
    expect(transaction.timestamp).toBe('2026-03-10T18:00:00.000Z');
  });

  it('checks customerInfo: name at most 100, phone exactly 10 digits, upiApp one of five', async () => {
    const before = await rowCounts();
    const post = (customerInfo: unknown) =>
      postTransaction(owner, { qrId: qr.qrId, amount: 10, customerInfo });
    expectInvalid(await post({ name: 'x'.repeat(101) }), 'customerInfo.name');
    for (const phone of ['987654321', '98765432101', '98765-4321', '+919876543', 'abcdefghij']) {
      expectInvalid(await post({ phone }), 'customerInfo.phone');
    }
    for (const upiApp of ['Google Pay', 'gpay', 'Cred', '']) {
      expectInvalid(await post({ upiApp }), 'customerInfo.upiApp');
    }
    expectInvalid(await post({ email: 'a@b.c' }), 'customerInfo.email');
    expect(await rowCounts()).toEqual(before);

    const longest = await record(owner, {
      qrId: qr.qrId,
      amount: 10,
      customerInfo: { name: 'y'.repeat(100) },
    });
    expect(longest.customerInfo.name).toBe('y'.repeat(100));
    for (const upiApp of UPI_APPS) {
      const transaction = await record(owner, {
        qrId: qr.qrId,
        amount: 10,
        customerInfo: { name: 'Ravi Kumar', phone: '0123456789', upiApp },
      });
      expect(transaction.customerInfo).toEqual({ name: 'Ravi Kumar', phone: '0123456789', upiApp });
    }
  });

  it('refuses unknown fields (400 naming the field)', async () => {
    const before = await rowCounts();
    expectInvalid(await postTransaction(owner, { qrId: qr.qrId, amount: 10, currency: 'USD' }), 'currency');
    expectInvalid(
      await postTransaction(owner, { qrId: qr.qrId, amount: 10, merchantId: randomUUID() }),
      'merchantId',
    );
    expect(await rowCounts()).toEqual(before);
  });
});

describe('POST /api/transactions: refusals by the QR code and the UTR', () => {
  let owner: Account;
  let stranger: Account;
  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    stranger = await createAccount(testApp, 'merchant');
  });

  it('answers 404 QR_NOT_FOUND for an unknown QR code and for another merchant’s', async () => {
    const foreign = await createQr(stranger);
    const before = await rowCounts();
    expectError(await postTransaction(owner, { qrId: 'ZZZZ9', amount: 10 }), 404, 'QR_NOT_FOUND');
    expectError(await postTransaction(owner, { qrId: foreign.qrId, amount: 10 }), 404, 'QR_NOT_FOUND');
    expect(await rowCounts()).toEqual(before);
    expect(await transactionsOfQr(foreign.qrId)).toEqual([]);
  });

  it('answers 409 QR_INACTIVE for an Inactive QR code, and records once it is Active again', async () => {
    const qr = await createQr(owner, { status: 'Inactive' });
    const before = await rowCounts();
    expectError(await postTransaction(owner, { qrId: qr.qrId, amount: 10 }), 409, 'QR_INACTIVE');
    expect(await rowCounts()).toEqual(before);

    const activated = await owner.client.put(`/api/qr/${qr.id}`, { status: 'Active' });
    expect(activated.statusCode, activated.body).toBe(200);
    await record(owner, { qrId: qr.qrId, amount: 10 });
    expect(await transactionsOfQr(qr.qrId)).toHaveLength(1);
  });

  it('answers 422 AMOUNT_ABOVE_MAX above the QR code’s maxAmount, accepting exactly the maximum', async () => {
    const qr = await createQr(owner, { maxAmount: 500 });
    const before = await rowCounts();
    expectError(await postTransaction(owner, { qrId: qr.qrId, amount: 500.01 }), 422, 'AMOUNT_ABOVE_MAX');
    expectError(await postTransaction(owner, { qrId: qr.qrId, amount: 100000 }), 422, 'AMOUNT_ABOVE_MAX');
    expect(await rowCounts()).toEqual(before);
    expect((await record(owner, { qrId: qr.qrId, amount: 500 })).amount).toBe(500);
  });

  it('treats maxAmount 0 as no limit', async () => {
    const qr = await createQr(owner, { maxAmount: 0 });
    expect((await record(owner, { qrId: qr.qrId, amount: 100000 })).amount).toBe(100000);
  });

  it('answers 409 DUPLICATE_UTR for a UTR already recorded, by anyone', async () => {
    const qr = await createQr(owner);
    const foreignQr = await createQr(stranger);
    const utr = 'DUPUTR000001';
    await record(owner, { qrId: qr.qrId, amount: 10, utr });
    const before = await rowCounts();
    expectError(await postTransaction(owner, { qrId: qr.qrId, amount: 20, utr }), 409, 'DUPLICATE_UTR');
    expectError(
      await postTransaction(stranger, { qrId: foreignQr.qrId, amount: 20, utr }),
      409,
      'DUPLICATE_UTR',
    );
    expect(await rowCounts()).toEqual(before);
  });
});

describe('POST /api/transactions with an Idempotency-Key', () => {
  let owner: Account;
  let other: Account;
  let qr: QrCode;
  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    other = await createAccount(testApp, 'merchant');
    qr = await createQr(owner);
  });

  it('replays the same 201 body for the same key and body, and records one payment', async () => {
    const key = `order-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 42.5, customerInfo: { name: 'Meera Nair' } };
    const first = await postTransaction(owner, body, { 'idempotency-key': key });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    const again = await postTransaction(owner, body, { 'idempotency-key': key });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());

    // The same merchant through its API credentials is the same scope.
    const viaApiKey = await owner.apiClient!.post('/api/transactions', body, { 'idempotency-key': key });
    expect(viaApiKey.statusCode, viaApiKey.body).toBe(201);
    expect(viaApiKey.headers['idempotent-replayed']).toBe('true');
    expect(viaApiKey.json()).toEqual(first.json());

    const rows = await transactionsOfQr(qr.qrId);
    expect(rows.filter((row) => row.customerName === 'Meera Nair').map((row) => row.paymentId)).toEqual([
      first.json().data.transaction.paymentId,
    ]);
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED for the same key with a different body', async () => {
    const key = `order-${randomUUID()}`;
    const first = await postTransaction(owner, { qrId: qr.qrId, amount: 11 }, { 'idempotency-key': key });
    expect(first.statusCode, first.body).toBe(201);
    const before = await rowCounts();
    expectError(
      await postTransaction(owner, { qrId: qr.qrId, amount: 12 }, { 'idempotency-key': key }),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a malformed key with 400 and records nothing', async () => {
    const before = await rowCounts();
    for (const key of ['k'.repeat(300), 'has space', '']) {
      const reply = await postTransaction(owner, { qrId: qr.qrId, amount: 10 }, { 'idempotency-key': key });
      expect(reply.statusCode, reply.body).toBe(400);
      expect(reply.json()).toMatchObject({
        success: false,
        error: { message: expect.stringContaining('Idempotency-Key') },
      });
    }
    expect(await rowCounts()).toEqual(before);
    // 255 visible characters is the longest valid key.
    const longest = await postTransaction(
      owner,
      { qrId: qr.qrId, amount: 10 },
      { 'idempotency-key': 'k'.repeat(255) },
    );
    expect(longest.statusCode, longest.body).toBe(201);
  });

  it('keeps keys per merchant: another merchant uses the same key independently', async () => {
    const key = `shared-${randomUUID()}`;
    const otherQr = await createQr(other);
    const mine = await postTransaction(owner, { qrId: qr.qrId, amount: 33 }, { 'idempotency-key': key });
    const theirs = await postTransaction(
      other,
      { qrId: otherQr.qrId, amount: 33 },
      { 'idempotency-key': key },
    );
    expect(mine.statusCode, mine.body).toBe(201);
    expect(theirs.statusCode, theirs.body).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.json().data.transaction.qrId).toBe(otherQr.qrId);
    expect(theirs.json().data.transaction.paymentId).not.toBe(mine.json().data.transaction.paymentId);
    expect(await transactionsOfQr(otherQr.qrId)).toHaveLength(1);
  });

  it('frees the key after a refused request, so it works once the problem is fixed', async () => {
    const inactive = await createQr(owner, { status: 'Inactive' });
    const key = `retry-${randomUUID()}`;
    const body = { qrId: inactive.qrId, amount: 99 };
    const before = await rowCounts();
    expectError(await postTransaction(owner, body, { 'idempotency-key': key }), 409, 'QR_INACTIVE');
    expect(await rowCounts()).toEqual(before);

    expect((await owner.client.put(`/api/qr/${inactive.id}`, { status: 'Active' })).statusCode).toBe(200);
    const retried = await postTransaction(owner, body, { 'idempotency-key': key });
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    const replayed = await postTransaction(owner, body, { 'idempotency-key': key });
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.json()).toEqual(retried.json());
    expect(await transactionsOfQr(inactive.qrId)).toHaveLength(1);
  });

  it('records exactly one payment for five concurrent requests with one key', async () => {
    const concurrentQr = await createQr(owner);
    const key = `burst-${randomUUID()}`;
    const body = { qrId: concurrentQr.qrId, amount: 250 };
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => postTransaction(owner, body, { 'idempotency-key': key })),
    );
    const rows = await transactionsOfQr(concurrentQr.qrId);
    expect(rows).toHaveLength(1);

    const originals = replies.filter(
      (reply) => reply.statusCode === 201 && !reply.headers['idempotent-replayed'],
    );
    expect(originals).toHaveLength(1);
    const original = originals[0] as Reply;
    expect(original.json().data.transaction.paymentId).toBe(rows[0]?.paymentId);
    for (const reply of replies) {
      if (reply === original) continue;
      if (reply.statusCode === 201) {
        expect(reply.headers['idempotent-replayed']).toBe('true');
        expect(reply.json()).toEqual(original.json());
      } else {
        expectError(reply, 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
      }
    }
  });

  it('records two payments for two identical posts without a key', async () => {
    const plainQr = await createQr(owner);
    const body = { qrId: plainQr.qrId, amount: 75 };
    const first = await record(owner, body);
    const second = await record(owner, body);
    expect(second.paymentId).not.toBe(first.paymentId);
    expect(second.utr).not.toBe(first.utr);
    expect(await transactionsOfQr(plainQr.qrId)).toHaveLength(2);
  });
});

describe('PATCH /api/transactions/:id (status moves) and GET /api/transactions/:id', () => {
  let owner: Account;
  let stranger: Account;
  let qr: QrCode;
  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    stranger = await createAccount(testApp, 'merchant');
    qr = await createQr(owner);
  });

  const pending = () => record(owner, { qrId: qr.qrId, amount: 20, status: 'Pending' });

  it('moves Pending to Success by paymentId and keeps both changes in order', async () => {
    const transaction = await pending();
    const reply = await owner.client.patch(`/api/transactions/${transaction.paymentId}`, {
      status: 'Success',
    });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toMatchObject({
      success: true,
      message: 'Transaction is now Success',
      data: { transaction: { paymentId: transaction.paymentId, status: 'Success', amount: 20 } },
    });
    const expectedHistory = [
      { from: null, to: 'Pending', cause: 'created', changedAt: transaction.createdAt },
      { from: 'Pending', to: 'Success', cause: 'manual', changedAt: expect.any(String) },
    ];
    expect(reply.json().data.transaction.statusHistory).toEqual(expectedHistory);

    const fetched = await owner.client.get(`/api/transactions/${transaction.paymentId}`);
    expect(fetched.statusCode, fetched.body).toBe(200);
    const detail = fetched.json().data.transaction as Transaction;
    expect(detail.status).toBe('Success');
    expect(detail.statusHistory).toEqual(expectedHistory);
    const [created, moved] = detail.statusHistory ?? [];
    expect(Date.parse(moved?.changedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(created?.changedAt ?? ''));
    expect(detail.updatedAt).toBe(moved?.changedAt);
  });

  it('moves Pending to Failed by UUID', async () => {
    const transaction = await pending();
    const reply = await owner.client.patch(`/api/transactions/${transaction.id}`, { status: 'Failed' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.transaction.status).toBe('Failed');
    const detail = (await owner.client.get(`/api/transactions/${transaction.id}`)).json().data.transaction;
    expect(
      detail.statusHistory.map((change: { from: string | null; to: string }) => [change.from, change.to]),
    ).toEqual([
      [null, 'Pending'],
      ['Pending', 'Failed'],
    ]);
  });

  it('refuses to move a final status (409 INVALID_STATUS_TRANSITION) and changes nothing', async () => {
    const succeeded = await record(owner, { qrId: qr.qrId, amount: 20, status: 'Success' });
    const failed = await record(owner, { qrId: qr.qrId, amount: 20, status: 'Failed' });
    const before = await rowCounts();
    const moves: [Transaction, string][] = [
      [succeeded, 'Failed'],
      [succeeded, 'Success'],
      [failed, 'Success'],
      [failed, 'Failed'],
    ];
    for (const [transaction, status] of moves) {
      const reply = await owner.client.patch(`/api/transactions/${transaction.paymentId}`, { status });
      expectError(reply, 409, 'INVALID_STATUS_TRANSITION');
      expect(reply.json().error.details).toEqual({ from: transaction.status, to: status });
    }
    expect(await rowCounts()).toEqual(before);
    const detail = (await owner.client.get(`/api/transactions/${succeeded.paymentId}`)).json().data
      .transaction;
    expect(detail.status).toBe('Success');
    expect(detail.statusHistory).toHaveLength(1);
  });

  it('refuses Pending as a target, and any other body, with 400 status', async () => {
    const transaction = await pending();
    const succeeded = await record(owner, { qrId: qr.qrId, amount: 20 });
    const before = await rowCounts();
    const path = (t: Transaction) => `/api/transactions/${t.paymentId}`;
    expectInvalid(await owner.client.patch(path(transaction), { status: 'Pending' }), 'status');
    expectInvalid(await owner.client.patch(path(succeeded), { status: 'Pending' }), 'status');
    expectInvalid(await owner.client.patch(path(transaction), { status: 'success' }), 'status');
    expectInvalid(await owner.client.patch(path(transaction), {}), 'status');
    expectInvalid(await owner.client.patch(path(transaction), { status: 'Success', amount: 5 }), 'amount');
    expect(await rowCounts()).toEqual(before);
  });

  it('lets exactly one of two concurrent moves of a Pending payment win', async () => {
    for (let round = 0; round < 3; round += 1) {
      const transaction = await pending();
      const path = `/api/transactions/${transaction.paymentId}`;
      const replies = await Promise.all([
        owner.client.patch(path, { status: 'Success' }),
        owner.client.patch(path, { status: 'Failed' }),
      ]);
      const winners = replies.filter((reply) => reply.statusCode === 200);
      expect(winners, replies.map((reply) => reply.body).join('\n')).toHaveLength(1);
      const loser = replies.find((reply) => reply.statusCode !== 200) as Reply;
      expectError(loser, 409, 'INVALID_STATUS_TRANSITION');
      const winner = winners[0]?.json().data.transaction.status;

      const detail = (await owner.client.get(path)).json().data.transaction;
      expect(detail.status).toBe(winner);
      expect(
        detail.statusHistory.map((change: { from: string | null; to: string }) => [change.from, change.to]),
      ).toEqual([
        [null, 'Pending'],
        ['Pending', winner],
      ]);
    }
  });

  it('answers 404 TRANSACTION_NOT_FOUND for an unknown payment', async () => {
    expectError(await owner.client.get('/api/transactions/PAY123456789'), 404, 'TRANSACTION_NOT_FOUND');
    expectError(await owner.client.get(`/api/transactions/${randomUUID()}`), 404, 'TRANSACTION_NOT_FOUND');
    expectError(
      await owner.client.patch('/api/transactions/PAY123456789', { status: 'Success' }),
      404,
      'TRANSACTION_NOT_FOUND',
    );
  });

  it('hides a payment from another merchant (GET, PATCH, DELETE: 404) and leaves it untouched', async () => {
    const transaction = await pending();
    const stranded = await pending();
    for (const id of [stranded.paymentId, stranded.id]) {
      expectError(await stranger.client.get(`/api/transactions/${id}`), 404, 'TRANSACTION_NOT_FOUND');
      expectError(
        await stranger.client.patch(`/api/transactions/${id}`, { status: 'Success' }),
        404,
        'TRANSACTION_NOT_FOUND',
      );
      expectError(await stranger.client.delete(`/api/transactions/${id}`), 404, 'TRANSACTION_NOT_FOUND');
    }
    const untouched = (await owner.client.get(`/api/transactions/${stranded.paymentId}`)).json().data
      .transaction;
    expect(untouched.status).toBe('Pending');
    expect(untouched.statusHistory).toHaveLength(1);

    await expectTenantIsolation(owner.client, stranger.client, [
      { method: 'GET', url: `/api/transactions/${transaction.paymentId}` },
      { method: 'PATCH', url: `/api/transactions/${transaction.paymentId}`, body: { status: 'Failed' } },
      { method: 'DELETE', url: `/api/transactions/${transaction.paymentId}` },
    ]);
  });
});

describe('GET /api/transactions (list, filters, pagination)', () => {
  let owner: Account;
  let stranger: Account;
  let qrA: QrCode;
  let qrB: QrCode;
  /** paymentIds by name. */
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    stranger = await createAccount(testApp, 'merchant');
    qrA = await createQr(owner);
    qrB = await createQr(owner);
    const data: [string, QrCode, number, string, string][] = [
      // name, QR, amount, status, timestamp (UTC)                     in Asia/Kolkata (+05:30)
      ['mar08', qrA, 10, 'Success', '2026-03-08T20:00:00Z'], // 2026-03-09 01:30
      ['mar09', qrB, 50, 'Success', '2026-03-09T10:00:00Z'], // 2026-03-09 15:30
      ['lateMar10', qrA, 100, 'Success', '2026-03-10T18:00:00Z'], // 2026-03-10 23:30
      ['pastMidnight', qrA, 200, 'Failed', '2026-03-10T18:31:00Z'], // 2026-03-11 00:01
      ['mar11', qrB, 75, 'Pending', '2026-03-11T05:00:00Z'], // 2026-03-11 10:30
    ];
    // Recorded out of time order: the list sorts by timestamp, not by insertion.
    for (const index of [2, 0, 4, 1, 3]) {
      const [name, qr, amount, status, timestamp] = data[index] as (typeof data)[number];
      ids[name] = (await record(owner, { qrId: qr.qrId, amount, status, timestamp })).paymentId;
    }
    await record(stranger, {
      qrId: (await createQr(stranger)).qrId,
      amount: 5,
      timestamp: '2026-03-10T12:00:00Z',
    });
  });

  const names = (...list: string[]) => list.map((name) => ids[name]);

  it('lists the merchant’s payments newest first with the pagination figures', async () => {
    const page = await list(owner.client);
    expect(page.transactions.map((transaction) => transaction.paymentId)).toEqual(
      names('mar11', 'pastMidnight', 'lateMar10', 'mar09', 'mar08'),
    );
    expect(page.pagination).toEqual({ current: 1, total: 1, count: 5, totalRecords: 5 });
    expect(page.transactions[0]).toMatchObject({ qrId: qrB.qrId, amount: 75, status: 'Pending' });
    expect(page.transactions[0]).not.toHaveProperty('statusHistory');
  });

  it('pages with limit, take (alias) and page', async () => {
    // 5 records, 2 per page: 3 pages (2 + 2 + 1).
    expect(await list(owner.client, { limit: 2 })).toMatchObject({
      pagination: { current: 1, total: 3, count: 2, totalRecords: 5 },
    });
    expect(await listIds(owner.client, { limit: 2 })).toEqual(names('mar11', 'pastMidnight'));
    expect(await listIds(owner.client, { limit: 2, page: 2 })).toEqual(names('lateMar10', 'mar09'));
    const last = await list(owner.client, { take: 2, page: 3 });
    expect(last.transactions.map((t) => t.paymentId)).toEqual(names('mar08'));
    expect(last.pagination).toEqual({ current: 3, total: 3, count: 1, totalRecords: 5 });
    expect((await list(owner.client, { limit: 2, page: 4 })).pagination).toEqual({
      current: 4,
      total: 3,
      count: 0,
      totalRecords: 5,
    });
    // limit wins over take: 4 per page, 2 pages.
    expect((await list(owner.client, { limit: 4, take: 2 })).pagination).toEqual({
      current: 1,
      total: 2,
      count: 4,
      totalRecords: 5,
    });
    expectInvalid(await owner.client.get('/api/transactions?limit=0'), 'limit');
    expectInvalid(await owner.client.get('/api/transactions?page=0'), 'page');
  });

  it('filters by qrId and status, with totalRecords for the filter', async () => {
    const byQr = await list(owner.client, { qrId: qrA.qrId });
    expect(byQr.transactions.map((t) => t.paymentId)).toEqual(names('pastMidnight', 'lateMar10', 'mar08'));
    expect(byQr.pagination.totalRecords).toBe(3);
    const successful = await list(owner.client, { status: 'Success', limit: 2 });
    expect(successful.transactions.map((t) => t.paymentId)).toEqual(names('lateMar10', 'mar09'));
    expect(successful.pagination).toEqual({ current: 1, total: 2, count: 2, totalRecords: 3 });
    expect(await listIds(owner.client, { qrId: qrA.qrId, status: 'Failed' })).toEqual(names('pastMidnight'));
    expect(await listIds(owner.client, { qrId: qrB.qrId, status: 'Failed' })).toEqual([]);
    expectInvalid(await owner.client.get('/api/transactions?status=Refunded'), 'status');
    expectInvalid(await owner.client.get('/api/transactions?qrId=abc'), 'qrId');
  });

  it('reads a date-only endDate as the whole day in Asia/Kolkata by default', async () => {
    // Day 2026-03-10 in IST ends at 2026-03-10T18:30Z: 18:00Z (23:30 IST) is in, 18:31Z (00:01 IST) is out.
    const upTo10 = await list(owner.client, { endDate: '2026-03-10' });
    expect(upTo10.transactions.map((t) => t.paymentId)).toEqual(names('lateMar10', 'mar09', 'mar08'));
    expect(upTo10.pagination.totalRecords).toBe(3);
    // Day 2026-03-11 in IST starts at 2026-03-10T18:30Z.
    expect(await listIds(owner.client, { startDate: '2026-03-11' })).toEqual(names('mar11', 'pastMidnight'));
    // 2026-03-09 in IST is 2026-03-08T18:30Z .. 2026-03-09T18:30Z: 20:00Z on the 8th is in.
    const ninth = await list(owner.client, { startDate: '2026-03-09', endDate: '2026-03-09' });
    expect(ninth.transactions.map((t) => t.paymentId)).toEqual(names('mar09', 'mar08'));
    expect(ninth.pagination.totalRecords).toBe(2);
  });

  it('reads date-only bounds in the time zone tz names', async () => {
    // In UTC, 2026-03-10 runs to 2026-03-11T00:00Z: 18:31Z is in.
    const utc = await list(owner.client, { endDate: '2026-03-10', tz: 'UTC' });
    expect(utc.transactions.map((t) => t.paymentId)).toEqual(
      names('pastMidnight', 'lateMar10', 'mar09', 'mar08'),
    );
    expect(utc.pagination.totalRecords).toBe(4);
    // 2026-03-09 in UTC: 20:00Z on the 8th is out.
    expect(
      await listIds(owner.client, { startDate: '2026-03-09', endDate: '2026-03-09', tz: 'UTC' }),
    ).toEqual(names('mar09'));
    // New York is on EDT (UTC-4) from 2026-03-08: 2026-03-11 starts at 2026-03-11T04:00Z.
    expect(await listIds(owner.client, { startDate: '2026-03-11', tz: 'America/New_York' })).toEqual(
      names('mar11'),
    );
  });

  it('treats date-time bounds as inclusive instants', async () => {
    const both = await list(owner.client, {
      startDate: '2026-03-10T18:00:00Z',
      endDate: '2026-03-10T18:31:00Z',
    });
    expect(both.transactions.map((t) => t.paymentId)).toEqual(names('pastMidnight', 'lateMar10'));
    expect(both.pagination.totalRecords).toBe(2);
    const neither = await list(owner.client, {
      startDate: '2026-03-10T18:00:00.001Z',
      endDate: '2026-03-10T18:30:59.999Z',
    });
    expect(neither.transactions).toEqual([]);
    expect(neither.pagination).toEqual({ current: 1, total: 0, count: 0, totalRecords: 0 });
    // 23:30 at +05:30 is 18:00Z, inclusive.
    expect(await listIds(owner.client, { endDate: '2026-03-10T23:30:00+05:30' })).toEqual(
      names('lateMar10', 'mar09', 'mar08'),
    );
  });

  it('refuses an unknown time zone and malformed dates with 400', async () => {
    expectInvalid(await owner.client.get('/api/transactions?tz=Mars/Olympus'), 'tz');
    expectInvalid(await owner.client.get('/api/transactions?endDate=yesterday'), 'endDate');
    expectInvalid(await owner.client.get('/api/transactions?startDate=2026-13-01'), 'startDate');
  });

  it('refuses a date that is not on the calendar (2026-02-30) with 400, not a 500 or 2 March', async () => {
    expectInvalid(await owner.client.get('/api/transactions?startDate=2026-02-30'), 'startDate');
    expectInvalid(await owner.client.get('/api/transactions/stats?endDate=2026-02-31'), 'endDate');
  });

  it('shows a merchant only its own payments, whatever filter it passes', async () => {
    const theirs = await list(stranger.client);
    expect(theirs.pagination.totalRecords).toBe(1);
    expect(theirs.transactions[0]?.merchantId).toBe(stranger.user.merchantId);
    // Another merchant's QR code as a filter: an empty list, not an error.
    expect(await list(stranger.client, { qrId: qrA.qrId })).toEqual({
      transactions: [],
      pagination: { current: 1, total: 0, count: 0, totalRecords: 0 },
    });
    // merchantId is for admins; a merchant passing another's still sees its own.
    const withForeignMerchant = await list(stranger.client, { merchantId: owner.user.merchantId as string });
    expect(withForeignMerchant.transactions.map((t) => t.merchantId)).toEqual([stranger.user.merchantId]);
  });

  it('shows an admin every merchant’s payments, and one merchant’s with merchantId', async () => {
    const all = await list(admin.client, { limit: 100 });
    expect(all.pagination.totalRecords).toBe(await countRows('qr_transactions'));
    const merchants = new Set(all.transactions.map((t) => t.merchantId));
    expect(merchants.has(owner.user.merchantId as string)).toBe(true);
    expect(merchants.has(stranger.user.merchantId as string)).toBe(true);

    const one = await list(admin.client, { merchantId: owner.user.merchantId as string });
    expect(one.transactions.map((t) => t.paymentId)).toEqual(
      names('mar11', 'pastMidnight', 'lateMar10', 'mar09', 'mar08'),
    );
    expect(one.pagination.totalRecords).toBe(5);
    expect(await listIds(admin.client, { qrId: qrA.qrId, endDate: '2026-03-10' })).toEqual(
      names('lateMar10', 'mar08'),
    );
  });
});

describe('GET /api/transactions: counts with bounds inside a 15-minute bucket', () => {
  let owner: Account;
  const at: Record<string, string> = {};

  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    const qr = await createQr(owner);
    // Buckets: [10:00, 10:15) [10:15, 10:30) [10:30, 10:45) [10:45, 11:00) on 2026-03-12 UTC.
    const data: [string, number, string][] = [
      ['10:05:00', 10, 'Success'],
      ['10:07:30', 20, 'Success'],
      ['10:20:00', 30, 'Failed'],
      ['10:45:00', 40, 'Success'],
      ['10:52:10', 50, 'Pending'],
      ['10:52:11', 60, 'Success'],
    ];
    for (const [time, amount, status] of data) {
      at[time] = (
        await record(owner, { qrId: qr.qrId, amount, status, timestamp: `2026-03-12T${time}Z` })
      ).paymentId;
    }
  });

  const times = (...list: string[]) => list.map((time) => at[time]);
  const bounds = (from: string, to: string) => ({
    startDate: `2026-03-12T${from}Z`,
    endDate: `2026-03-12T${to}Z`,
  });

  it('counts 10:07:30..10:52:10 exactly (raw edges plus whole buckets)', async () => {
    // In: 10:07:30 (lower edge, inclusive), 10:20 (whole bucket), 10:45 and 10:52:10 (upper edge).
    // Out: 10:05 (same bucket as the lower bound, before it), 10:52:11 (after the upper bound).
    const page = await list(owner.client, bounds('10:07:30', '10:52:10'));
    expect(page.transactions.map((t) => t.paymentId)).toEqual(
      times('10:52:10', '10:45:00', '10:20:00', '10:07:30'),
    );
    expect(page.pagination).toEqual({ current: 1, total: 1, count: 4, totalRecords: 4 });
    expect((await list(owner.client, { ...bounds('10:07:30', '10:52:10'), limit: 1 })).pagination).toEqual({
      current: 1,
      total: 4,
      count: 1,
      totalRecords: 4,
    });
    // With a status: of those four, 10:07:30 and 10:45 are Success.
    const successful = await list(owner.client, { ...bounds('10:07:30', '10:52:10'), status: 'Success' });
    expect(successful.transactions.map((t) => t.paymentId)).toEqual(times('10:45:00', '10:07:30'));
    expect(successful.pagination.totalRecords).toBe(2);
  });

  it('counts bounds within one bucket, just inside the payments, and on bucket edges', async () => {
    const within = await list(owner.client, bounds('10:06:00', '10:10:00'));
    expect(within.transactions.map((t) => t.paymentId)).toEqual(times('10:07:30'));
    expect(within.pagination.totalRecords).toBe(1);

    const inside = await list(owner.client, bounds('10:07:30.001', '10:52:09.999'));
    expect(inside.transactions.map((t) => t.paymentId)).toEqual(times('10:45:00', '10:20:00'));
    expect(inside.pagination.totalRecords).toBe(2);

    // 10:00..10:45 inclusive: the payment at exactly 10:45 is in.
    const edges = await list(owner.client, bounds('10:00:00', '10:45:00'));
    expect(edges.transactions.map((t) => t.paymentId)).toEqual(
      times('10:45:00', '10:20:00', '10:07:30', '10:05:00'),
    );
    expect(edges.pagination.totalRecords).toBe(4);
  });

  it('counts with one open bound', async () => {
    const from = await list(owner.client, { startDate: '2026-03-12T10:52:10Z' });
    expect(from.transactions.map((t) => t.paymentId)).toEqual(times('10:52:11', '10:52:10'));
    expect(from.pagination.totalRecords).toBe(2);
    const to = await list(owner.client, { endDate: '2026-03-12T10:07:29.999Z' });
    expect(to.transactions.map((t) => t.paymentId)).toEqual(times('10:05:00'));
    expect(to.pagination.totalRecords).toBe(1);
  });

  it('gives the same figures in the stats for mid-bucket bounds', async () => {
    // 10:07:30 Success 20, 10:20 Failed 30, 10:45 Success 40, 10:52:10 Pending 50.
    // Received 20 + 40 = 60 from 2 successes: average 30.00, rate 2/4 = 50.00%.
    expect(await stats(owner.client, bounds('10:07:30', '10:52:10'))).toEqual({
      summary: {
        totalTransactions: 4,
        totalAmount: 60,
        successfulTransactions: 2,
        failedTransactions: 1,
        pendingTransactions: 1,
        successRate: '50.00',
        averageAmount: 30,
      },
      statusBreakdown: [
        { _id: 'Failed', count: 1, totalAmount: 30 },
        { _id: 'Pending', count: 1, totalAmount: 50 },
        { _id: 'Success', count: 2, totalAmount: 60 },
      ],
      // 10:xx UTC is 15:xx-16:xx IST on the same day.
      dailyStats: [{ _id: '2026-03-12', count: 4, amount: 60 }],
    });
  });
});

describe('DELETE /api/transactions/:id', () => {
  let owner: Account;
  let stranger: Account;
  let qr: QrCode;
  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    stranger = await createAccount(testApp, 'merchant');
    qr = await createQr(owner);
  });

  it('deletes by paymentId: gone afterwards, with its history, and out of the counts and stats', async () => {
    // Two payments on 2026-02-02 (IST): Success 300.00 and Success 100.25.
    const kept = await record(owner, { qrId: qr.qrId, amount: 300, timestamp: '2026-02-02T06:00:00Z' });
    const doomed = await record(owner, { qrId: qr.qrId, amount: 100.25, timestamp: '2026-02-02T07:00:00Z' });
    expect((await stats(owner.client)).summary).toMatchObject({ totalTransactions: 2, totalAmount: 400.25 });

    const reply = await owner.client.delete(`/api/transactions/${doomed.paymentId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({
      success: true,
      data: { paymentId: doomed.paymentId },
      message: 'Transaction deleted',
    });

    expectError(
      await owner.client.get(`/api/transactions/${doomed.paymentId}`),
      404,
      'TRANSACTION_NOT_FOUND',
    );
    expectError(
      await owner.client.delete(`/api/transactions/${doomed.paymentId}`),
      404,
      'TRANSACTION_NOT_FOUND',
    );
    expect(await countRows('qr_transaction_status_history', sql`transaction_id = ${doomed.id}`)).toBe(0);

    const page = await list(owner.client);
    expect(page.transactions.map((t) => t.paymentId)).toEqual([kept.paymentId]);
    expect(page.pagination.totalRecords).toBe(1);
    // With date bounds the count goes through the rollups: they lost the payment too.
    expect(
      (await list(owner.client, { startDate: '2026-02-02', endDate: '2026-02-02' })).pagination.totalRecords,
    ).toBe(1);
    expect(await stats(owner.client)).toEqual({
      summary: {
        totalTransactions: 1,
        totalAmount: 300,
        successfulTransactions: 1,
        failedTransactions: 0,
        pendingTransactions: 0,
        successRate: '100.00',
        averageAmount: 300,
      },
      statusBreakdown: [{ _id: 'Success', count: 1, totalAmount: 300 }],
      dailyStats: [{ _id: '2026-02-02', count: 1, amount: 300 }],
    });
    const qrDetail = (await owner.client.get(`/api/qr/${qr.id}`)).json().data.statistics;
    expect(qrDetail).toMatchObject({ totalTransactions: 1, successfulTransactions: 1, totalAmount: 300 });
  });

  it('deletes by UUID too', async () => {
    const transaction = await record(owner, { qrId: qr.qrId, amount: 5 });
    const reply = await owner.client.delete(`/api/transactions/${transaction.id}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.paymentId).toBe(transaction.paymentId);
    expectError(await owner.client.get(`/api/transactions/${transaction.id}`), 404, 'TRANSACTION_NOT_FOUND');
  });

  it('answers 404 to another merchant and keeps the payment', async () => {
    const transaction = await record(owner, { qrId: qr.qrId, amount: 7 });
    const before = await rowCounts();
    expectError(
      await stranger.client.delete(`/api/transactions/${transaction.paymentId}`),
      404,
      'TRANSACTION_NOT_FOUND',
    );
    expect(await rowCounts()).toEqual(before);
    expect((await owner.client.get(`/api/transactions/${transaction.paymentId}`)).statusCode).toBe(200);
  });
});

describe('GET /api/transactions/export.csv', () => {
  let owner: Account;
  let stranger: Account;
  let qr1: QrCode;
  let qr2: QrCode;
  const rows: Record<string, Transaction> = {};

  /** The CSV record of a payment as the API showed it. */
  const line = (t: Transaction, name = t.customerInfo.name ?? '') =>
    [
      t.paymentId,
      t.qrId,
      t.amount.toFixed(2),
      'INR',
      t.status,
      t.utr,
      t.timestamp,
      name,
      t.customerInfo.phone ?? '',
      t.customerInfo.upiApp ?? '',
      t.origin,
      t.createdAt,
    ].join(',');

  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    stranger = await createAccount(testApp, 'merchant');
    qr1 = await createQr(owner);
    qr2 = await createQr(owner);
    rows.asha = await record(owner, {
      qrId: qr1.qrId,
      amount: 120.5,
      timestamp: '2026-05-01T09:00:00Z', // 14:30 IST on 1 May
      customerInfo: { name: 'Asha Rao', phone: '9876543210', upiApp: 'GPay' },
    });
    rows.failed = await record(owner, {
      qrId: qr2.qrId,
      amount: 75,
      status: 'Failed',
      timestamp: '2026-05-02T09:00:00Z',
      customerInfo: { name: 'Vikram Singh', upiApp: 'PhonePe' },
    });
    rows.anonymous = await record(owner, {
      qrId: qr1.qrId,
      amount: 99999.99,
      timestamp: '2026-04-30T09:00:00Z',
    });
    rows.pending = await record(owner, {
      qrId: qr1.qrId,
      amount: 1,
      status: 'Pending',
      timestamp: '2026-05-03T09:00:00Z',
    });
    await record(stranger, {
      qrId: (await createQr(stranger)).qrId,
      amount: 3.3,
      timestamp: '2026-05-01T10:00:00Z',
      customerInfo: { name: 'Not Yours' },
    });
  });

  it('streams text/csv with the exact header, CRLF endings and one row per payment, newest first', async () => {
    const reply = await exportCsv(owner.client);
    expect(reply.headers['content-type']).toMatch(/^text\/csv/);
    expect(reply.headers['content-disposition']).toMatch(/^attachment/);
    const lines = csvLines(reply.body);
    expect(lines).toEqual([
      CSV_HEADER,
      line(rows.pending as Transaction),
      line(rows.failed as Transaction),
      line(rows.asha as Transaction),
      line(rows.anonymous as Transaction),
    ]);
    // Spelled out once by hand: amounts with two decimals, empty fields for missing customer data.
    const asha = rows.asha as Transaction;
    expect(lines[3]).toBe(
      `${asha.paymentId},${qr1.qrId},120.50,INR,Success,${asha.utr},2026-05-01T09:00:00.000Z,Asha Rao,9876543210,GPay,manual,${asha.createdAt}`,
    );
    expect(lines[4]).toContain(',99999.99,INR,Success,');
    expect(lines[4]).toMatch(/,2026-04-30T09:00:00\.000Z,,,,manual,/);
    expect(lines[1]).toContain(',1.00,INR,Pending,');
  });

  it('applies the list’s filters', async () => {
    const lines = async (query: Record<string, string>) =>
      csvLines((await exportCsv(owner.client, query)).body);
    expect(await lines({ status: 'Success' })).toEqual([
      CSV_HEADER,
      line(rows.asha as Transaction),
      line(rows.anonymous as Transaction),
    ]);
    expect(await lines({ qrId: qr2.qrId })).toEqual([CSV_HEADER, line(rows.failed as Transaction)]);
    // IST days 2026-05-01..2026-05-02: 09:00Z is 14:30 IST, so the 1st and the 2nd.
    expect(await lines({ startDate: '2026-05-01', endDate: '2026-05-02' })).toEqual([
      CSV_HEADER,
      line(rows.failed as Transaction),
      line(rows.asha as Transaction),
    ]);
    expect(await lines({ endDate: '2026-05-01T09:00:00Z', qrId: qr1.qrId, tz: 'UTC' })).toEqual([
      CSV_HEADER,
      line(rows.asha as Transaction),
      line(rows.anonymous as Transaction),
    ]);
    expect(await lines({ status: 'Failed', qrId: qr1.qrId })).toEqual([CSV_HEADER]);
    expectInvalid(await owner.client.get('/api/transactions/export.csv?tz=Nowhere/Land'), 'tz');
  });

  it('never includes another merchant’s payments; an admin exports one merchant with merchantId', async () => {
    const theirs = csvLines((await exportCsv(stranger.client)).body);
    expect(theirs).toHaveLength(2);
    expect(theirs[1]).toContain(',3.30,INR,Success,');
    expect(theirs[1]).toContain(',Not Yours,');
    expect(csvLines((await exportCsv(stranger.client, { qrId: qr1.qrId })).body)).toEqual([CSV_HEADER]);
    for (const payment of Object.values(rows)) expect(theirs.join('\n')).not.toContain(payment.paymentId);

    const forOwner = csvLines(
      (await exportCsv(admin.client, { merchantId: owner.user.merchantId as string })).body,
    );
    expect(forOwner).toEqual(csvLines((await exportCsv(owner.client)).body));
  });

  it('escapes customer names: formula prefixes neutralised, quotes doubled, fields quoted', async () => {
    const escapeQr = await createQr(owner);
    const cases: [string, string][] = [
      ['=HYPERLINK("x")', `"'=HYPERLINK(""x"")"`],
      ['Doe, "J"', `"Doe, ""J"""`],
      ['@SUM(A1)', `'@SUM(A1)`],
      ['+1 caller', `'+1 caller`],
      ['-2+3', `'-2+3`],
      ["O'Brien", "O'Brien"],
    ];
    const expected: string[] = [CSV_HEADER];
    // Recorded oldest first, one day apart, so the export lists them in reverse.
    const made: string[] = [];
    for (const [index, [name, escaped]] of cases.entries()) {
      const t = await record(owner, {
        qrId: escapeQr.qrId,
        amount: 10,
        timestamp: `2026-01-0${index + 1}T12:00:00Z`,
        customerInfo: { name },
      });
      expect(t.customerInfo.name).toBe(name);
      made.unshift(line(t, escaped));
    }
    expected.push(...made);
    expect(csvLines((await exportCsv(owner.client, { qrId: escapeQr.qrId })).body)).toEqual(expected);
  });

  it('exports more than one batch (1,000 rows) completely, each payment exactly once, newest first', async () => {
    const bulk = await createAccount(testApp, 'merchant');
    const bulkQr = await createQr(bulk, { category: 'Retail' });
    // 12 x 100 = 1200 payments, crossing the export batch size of 1000; plus one older by hand.
    for (let run = 0; run < 12; run += 1) {
      const reply = await bulk.client.post('/api/transactions/simulate', { qrId: bulkQr.qrId, count: 100 });
      expect(reply.statusCode, reply.body).toBe(201);
    }
    const oldest = await record(bulk, { qrId: bulkQr.qrId, amount: 1, timestamp: '2025-12-31T23:59:59Z' });

    const lines = csvLines((await exportCsv(bulk.client)).body);
    expect(lines[0]).toBe(CSV_HEADER);
    const records = lines.slice(1);
    expect(records).toHaveLength(1201);
    const exported = records.map((record) => record.split(',')[0]);
    expect(new Set(exported).size).toBe(1201);
    // Exactly the database's rows in the list order (timestamp, then id, descending).
    const inDb = await transactionsOfQr(bulkQr.qrId);
    expect(exported).toEqual(inDb.map((row) => row.paymentId));
    expect(exported.at(-1)).toBe(oldest.paymentId);
    for (const record of records) expect(record.split(',')[1]).toBe(bulkQr.qrId);

    // A filter across the batches: the Success rows, in the same order.
    const successLines = csvLines((await exportCsv(bulk.client, { status: 'Success' })).body).slice(1);
    expect(successLines.map((record) => record.split(',')[0])).toEqual(
      inDb.filter((row) => row.status === 'Success').map((row) => row.paymentId),
    );
  });
});

describe('GET /api/transactions/stats', () => {
  let owner: Account;
  let s1: QrCode;
  let s2: QrCode;
  const p: Record<string, Transaction> = {};

  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    s1 = await createQr(owner);
    s2 = await createQr(owner);
    const data: [string, QrCode, number, string, string][] = [
      // name, QR, amount, status, timestamp (UTC)            day in IST        day in UTC
      ['p1', s1, 1000, 'Success', '2026-04-01T10:00:00Z'], // 04-01 15:30     04-01
      ['p2', s1, 250.5, 'Success', '2026-04-01T19:00:00Z'], // 04-02 00:30    04-01
      ['p3', s2, 300, 'Failed', '2026-04-02T03:00:00Z'], // 04-02 08:30       04-02
      ['p4', s1, 99.99, 'Pending', '2026-04-02T18:15:00Z'], // 04-02 23:45    04-02
      ['p5', s2, 500, 'Success', '2026-04-02T18:45:00Z'], // 04-03 00:15      04-02
      ['p6', s2, 49.52, 'Success', '2026-03-31T20:00:00Z'], // 04-01 01:30    03-31
      ['p7', s1, 20, 'Failed', '2026-04-03T12:07:00Z'], // 04-03 17:37       04-03
    ];
    for (const [name, qr, amount, status, timestamp] of data) {
      p[name] = await record(owner, { qrId: qr.qrId, amount, status, timestamp });
    }
  });

  // Success: p1 1000 + p2 250.50 + p5 500 + p6 49.52 = 1800.02 (4); Failed: p3 300 + p7 20 = 320 (2);
  // Pending: p4 99.99 (1). Rate 4/7 = 57.142...% -> "57.14"; average 1800.02 / 4 = 450.005 -> 450.01.
  const FULL_SUMMARY = {
    totalTransactions: 7,
    totalAmount: 1800.02,
    successfulTransactions: 4,
    failedTransactions: 2,
    pendingTransactions: 1,
    successRate: '57.14',
    averageAmount: 450.01,
  };
  const FULL_BREAKDOWN = [
    { _id: 'Failed', count: 2, totalAmount: 320 },
    { _id: 'Pending', count: 1, totalAmount: 99.99 },
    { _id: 'Success', count: 4, totalAmount: 1800.02 },
  ];

  it('answers the hand-computed figures, days in Asia/Kolkata by default', async () => {
    const data = await stats(owner.client);
    expect(data.summary).toEqual(FULL_SUMMARY);
    expect(data.statusBreakdown).toEqual(FULL_BREAKDOWN);
    // IST days: 04-03 p5 (S 500) + p7 (F) -> 2, 500; 04-02 p2 (S 250.50) + p3 (F) + p4 (P) -> 3, 250.50;
    // 04-01 p1 (S 1000) + p6 (S 49.52) -> 2, 1049.52.
    expect(data.dailyStats).toEqual([
      { _id: '2026-04-03', count: 2, amount: 500 },
      { _id: '2026-04-02', count: 3, amount: 250.5 },
      { _id: '2026-04-01', count: 2, amount: 1049.52 },
    ]);
    expect(await stats(owner.client, { tz: 'Asia/Kolkata' })).toEqual(data);
  });

  it('groups days in UTC with tz=UTC', async () => {
    const data = await stats(owner.client, { tz: 'UTC' });
    expect(data.summary).toEqual(FULL_SUMMARY);
    // UTC days: 04-03 p7 (F) -> 1, 0; 04-02 p3 (F) + p4 (P) + p5 (S 500) -> 3, 500;
    // 04-01 p1 (S 1000) + p2 (S 250.50) -> 2, 1250.50; 03-31 p6 (S 49.52) -> 1, 49.52.
    expect(data.dailyStats).toEqual([
      { _id: '2026-04-03', count: 1, amount: 0 },
      { _id: '2026-04-02', count: 3, amount: 500 },
      { _id: '2026-04-01', count: 2, amount: 1250.5 },
      { _id: '2026-03-31', count: 1, amount: 49.52 },
    ]);
    expectInvalid(await owner.client.get('/api/transactions/stats?tz=Asia/Bombay_City'), 'tz');
  });

  it('filters by qrId', async () => {
    // S1: p1 S 1000, p2 S 250.50, p4 P 99.99, p7 F 20. Received 1250.50 from 2: average 625.25; rate 2/4.
    const data = await stats(owner.client, { qrId: s1.qrId });
    expect(data.summary).toEqual({
      totalTransactions: 4,
      totalAmount: 1250.5,
      successfulTransactions: 2,
      failedTransactions: 1,
      pendingTransactions: 1,
      successRate: '50.00',
      averageAmount: 625.25,
    });
    expect(data.statusBreakdown).toEqual([
      { _id: 'Failed', count: 1, totalAmount: 20 },
      { _id: 'Pending', count: 1, totalAmount: 99.99 },
      { _id: 'Success', count: 2, totalAmount: 1250.5 },
    ]);
    expect(data.dailyStats).toEqual([
      { _id: '2026-04-03', count: 1, amount: 0 }, // p7
      { _id: '2026-04-02', count: 2, amount: 250.5 }, // p2, p4
      { _id: '2026-04-01', count: 1, amount: 1000 }, // p1
    ]);
  });

  it('filters by status', async () => {
    expect(await stats(owner.client, { status: 'Success' })).toEqual({
      summary: {
        totalTransactions: 4,
        totalAmount: 1800.02,
        successfulTransactions: 4,
        failedTransactions: 0,
        pendingTransactions: 0,
        successRate: '100.00',
        averageAmount: 450.01,
      },
      statusBreakdown: [{ _id: 'Success', count: 4, totalAmount: 1800.02 }],
      dailyStats: [
        { _id: '2026-04-03', count: 1, amount: 500 },
        { _id: '2026-04-02', count: 1, amount: 250.5 },
        { _id: '2026-04-01', count: 2, amount: 1049.52 },
      ],
    });
    // Failed only: nothing received, so the amounts are 0 while the breakdown keeps the sum.
    expect(await stats(owner.client, { status: 'Failed' })).toEqual({
      summary: {
        totalTransactions: 2,
        totalAmount: 0,
        successfulTransactions: 0,
        failedTransactions: 2,
        pendingTransactions: 0,
        successRate: '0.00',
        averageAmount: 0,
      },
      statusBreakdown: [{ _id: 'Failed', count: 2, totalAmount: 320 }],
      dailyStats: [
        { _id: '2026-04-03', count: 1, amount: 0 }, // p7
        { _id: '2026-04-02', count: 1, amount: 0 }, // p3
      ],
    });
  });

  it('filters by date-only bounds, as days in tz', async () => {
    // IST 2026-04-02 = 2026-04-01T18:30Z .. 2026-04-02T18:30Z: p2 (S 250.50), p3 (F 300), p4 (P 99.99).
    // Rate 1/3 = 33.33...% -> "33.33".
    expect(await stats(owner.client, { startDate: '2026-04-02', endDate: '2026-04-02' })).toEqual({
      summary: {
        totalTransactions: 3,
        totalAmount: 250.5,
        successfulTransactions: 1,
        failedTransactions: 1,
        pendingTransactions: 1,
        successRate: '33.33',
        averageAmount: 250.5,
      },
      statusBreakdown: [
        { _id: 'Failed', count: 1, totalAmount: 300 },
        { _id: 'Pending', count: 1, totalAmount: 99.99 },
        { _id: 'Success', count: 1, totalAmount: 250.5 },
      ],
      dailyStats: [{ _id: '2026-04-02', count: 3, amount: 250.5 }],
    });
    // UTC 2026-04-02: p3 (F 300), p4 (P 99.99), p5 (S 500).
    const utc = await stats(owner.client, { startDate: '2026-04-02', endDate: '2026-04-02', tz: 'UTC' });
    expect(utc.summary).toEqual({
      totalTransactions: 3,
      totalAmount: 500,
      successfulTransactions: 1,
      failedTransactions: 1,
      pendingTransactions: 1,
      successRate: '33.33',
      averageAmount: 500,
    });
    expect(utc.dailyStats).toEqual([{ _id: '2026-04-02', count: 3, amount: 500 }]);
  });

  it('filters by date-time bounds that cut through 15-minute buckets', async () => {
    // 18:07:30Z..18:52:10Z on 04-02: p4 (18:15, P 99.99) and p5 (18:45, S 500). p4 is on IST 04-02
    // (23:45), p5 on IST 04-03 (00:15).
    expect(
      await stats(owner.client, { startDate: '2026-04-02T18:07:30Z', endDate: '2026-04-02T18:52:10Z' }),
    ).toEqual({
      summary: {
        totalTransactions: 2,
        totalAmount: 500,
        successfulTransactions: 1,
        failedTransactions: 0,
        pendingTransactions: 1,
        successRate: '50.00',
        averageAmount: 500,
      },
      statusBreakdown: [
        { _id: 'Pending', count: 1, totalAmount: 99.99 },
        { _id: 'Success', count: 1, totalAmount: 500 },
      ],
      dailyStats: [
        { _id: '2026-04-03', count: 1, amount: 500 },
        { _id: '2026-04-02', count: 1, amount: 0 },
      ],
    });
    // Inclusive at both ends: exactly p1's instant .. exactly p2's instant -> p1 and p2.
    const exact = await stats(owner.client, {
      startDate: '2026-04-01T10:00:00Z',
      endDate: '2026-04-01T19:00:00Z',
      tz: 'UTC',
    });
    expect(exact.summary).toMatchObject({ totalTransactions: 2, totalAmount: 1250.5, successRate: '100.00' });
    expect(exact.dailyStats).toEqual([{ _id: '2026-04-01', count: 2, amount: 1250.5 }]);
  });

  it('lets an admin read one merchant’s figures with merchantId', async () => {
    const data = await stats(admin.client, { merchantId: owner.user.merchantId as string });
    expect(data.summary).toEqual(FULL_SUMMARY);
    expect(data.statusBreakdown).toEqual(FULL_BREAKDOWN);
  });

  it('answers zeros and empty lists without data, and for a foreign QR code', async () => {
    const empty = {
      summary: {
        totalTransactions: 0,
        totalAmount: 0,
        successfulTransactions: 0,
        failedTransactions: 0,
        pendingTransactions: 0,
        successRate: '0.00',
        averageAmount: 0,
      },
      statusBreakdown: [],
      dailyStats: [],
    };
    const newcomer = await createAccount(testApp, 'merchant');
    expect(await stats(newcomer.client)).toEqual(empty);
    expect(await stats(newcomer.client, { qrId: s1.qrId })).toEqual(empty);
    expect(await stats(owner.client, { endDate: '2026-03-31T19:59:59Z' })).toEqual(empty);
  });

  it('follows a Pending -> Success move', async () => {
    const reply = await owner.client.patch(`/api/transactions/${p.p4?.paymentId}`, { status: 'Success' });
    expect(reply.statusCode, reply.body).toBe(200);
    // Success: 1800.02 + 99.99 = 1900.01 (5); Failed 320 (2); Pending none.
    // Rate 5/7 = 71.428...% -> "71.43"; average 1900.01 / 5 = 380.002 -> 380.00.
    const data = await stats(owner.client);
    expect(data.summary).toEqual({
      totalTransactions: 7,
      totalAmount: 1900.01,
      successfulTransactions: 5,
      failedTransactions: 2,
      pendingTransactions: 0,
      successRate: '71.43',
      averageAmount: 380,
    });
    expect(data.statusBreakdown).toEqual([
      { _id: 'Failed', count: 2, totalAmount: 320 },
      { _id: 'Success', count: 5, totalAmount: 1900.01 },
    ]);
    // IST 04-02 now received 250.50 + 99.99 = 350.49.
    expect(data.dailyStats).toEqual([
      { _id: '2026-04-03', count: 2, amount: 500 },
      { _id: '2026-04-02', count: 3, amount: 350.49 },
      { _id: '2026-04-01', count: 2, amount: 1049.52 },
    ]);
  });

  it('follows a deletion', async () => {
    const reply = await owner.client.delete(`/api/transactions/${p.p1?.paymentId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    // Success: 1900.01 - 1000 = 900.01 (4); 6 in all. Rate 4/6 = 66.666...% -> "66.67";
    // average 900.01 / 4 = 225.0025 -> 225.00.
    const data = await stats(owner.client);
    expect(data.summary).toEqual({
      totalTransactions: 6,
      totalAmount: 900.01,
      successfulTransactions: 4,
      failedTransactions: 2,
      pendingTransactions: 0,
      successRate: '66.67',
      averageAmount: 225,
    });
    expect(data.dailyStats).toEqual([
      { _id: '2026-04-03', count: 2, amount: 500 },
      { _id: '2026-04-02', count: 3, amount: 350.49 },
      { _id: '2026-04-01', count: 1, amount: 49.52 },
    ]);
    // The count of the list agrees, with and without bounds.
    expect((await list(owner.client)).pagination.totalRecords).toBe(6);
    expect((await list(owner.client, { endDate: '2026-04-01' })).pagination.totalRecords).toBe(1);
  });
});

describe('POST /api/transactions/simulate', () => {
  let owner: Account;
  let stranger: Account;
  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant');
    stranger = await createAccount(testApp, 'merchant');
  });

  it('creates exactly count realistic payments within the QR code’s maxAmount', async () => {
    const qr = await createQr(owner, { category: 'Retail', maxAmount: 300 });
    const before = Date.now();
    const reply = await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, count: 40 });
    expect(reply.statusCode, reply.body).toBe(201);
    const body = reply.json();
    expect(body).toMatchObject({ success: true, message: '40 transactions simulated', data: { count: 40 } });
    const made = body.data.transactions as Transaction[];
    expect(made).toHaveLength(40);
    for (const t of made) {
      expect(t.qrId).toBe(qr.qrId);
      expect(t.merchantId).toBe(owner.user.merchantId);
      expect(['Success', 'Failed', 'Pending']).toContain(t.status);
      expect(t.amount).toBeGreaterThanOrEqual(1);
      expect(t.amount).toBeLessThanOrEqual(300);
      expect(Math.round(t.amount * 100) / 100).toBe(t.amount);
      expect(t.customerInfo.phone).toMatch(/^[6-9]\d{9}$/);
      expect(UPI_APPS).toContain(t.customerInfo.upiApp);
      expect(t.customerInfo.name).toMatch(/^\S+ \S+$/);
      expect(t.paymentId).toMatch(PAYMENT_ID);
      expect(t.utr).toMatch(UTR);
      expect(t.origin).toBe('simulate_request');
      expect(Date.parse(t.timestamp)).toBeGreaterThanOrEqual(before);
    }
    expect(new Set(made.map((t) => t.paymentId)).size).toBe(40);
    expect(new Set(made.map((t) => t.utr)).size).toBe(40);

    const rows = await transactionsOfQr(qr.qrId);
    expect(new Set(rows.map((row) => row.paymentId))).toEqual(new Set(made.map((t) => t.paymentId)));
    const history = await testApp.database.handle.db
      .selectFrom('qrTransactionStatusHistory')
      .select(['transactionId', 'fromStatus', 'toStatus', 'cause'])
      .where(
        'transactionId',
        'in',
        made.map((t) => t.id),
      )
      .execute();
    expect(history).toHaveLength(40);
    const statusOf = new Map(made.map((t) => [t.id, t.status]));
    for (const change of history) {
      expect(change).toMatchObject({ fromStatus: null, cause: 'simulate_request' });
      expect(change.toStatus).toBe(statusOf.get(change.transactionId));
    }
    // The stats agree with what was made.
    const expectedReceived = made
      .filter((t) => t.status === 'Success')
      .reduce((sum, t) => sum + Math.round(t.amount * 100), 0);
    const summary = (await stats(owner.client, { qrId: qr.qrId })).summary;
    expect(summary.totalTransactions).toBe(40);
    expect(Math.round(summary.totalAmount * 100)).toBe(expectedReceived);
  });

  it('defaults count to 1 and refuses 0, 101 and non-integers (400 count)', async () => {
    const qr = await createQr(owner);
    const one = await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId });
    expect(one.statusCode, one.body).toBe(201);
    expect(one.json().data.count).toBe(1);
    const before = await rowCounts();
    for (const count of [0, 101, 1.5, '5', -1]) {
      expectInvalid(await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, count }), 'count');
    }
    expectInvalid(await owner.client.post('/api/transactions/simulate', { qrId: 'abc', count: 1 }), 'qrId');
    expectInvalid(
      await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, extra: 1 }),
      'extra',
    );
    expect(await rowCounts()).toEqual(before);
    expect(await transactionsOfQr(qr.qrId)).toHaveLength(1);
  });

  it('creates 100 at once, past MAX_TRANSACTIONS_PER_QR (10 in this file)', async () => {
    const qr = await createQr(owner);
    for (let run = 0; run < 2; run += 1) {
      const reply = await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, count: 100 });
      expect(reply.statusCode, reply.body).toBe(201);
      expect(reply.json().data.count).toBe(100);
    }
    const rows = await transactionsOfQr(qr.qrId);
    expect(rows).toHaveLength(200);
    expect(new Set(rows.map((row) => row.paymentId)).size).toBe(200);
    expect(new Set(rows.map((row) => row.utr)).size).toBe(200);
  });

  it('answers 409 QR_INACTIVE for an Inactive QR code and 404 for another merchant’s or an unknown one', async () => {
    const inactive = await createQr(owner, { status: 'Inactive' });
    const foreign = await createQr(stranger);
    const before = await rowCounts();
    expectError(
      await owner.client.post('/api/transactions/simulate', { qrId: inactive.qrId, count: 5 }),
      409,
      'QR_INACTIVE',
    );
    expectError(
      await owner.client.post('/api/transactions/simulate', { qrId: foreign.qrId, count: 5 }),
      404,
      'QR_NOT_FOUND',
    );
    expectError(
      await owner.client.post('/api/transactions/simulate', { qrId: 'ZZZZ8', count: 5 }),
      404,
      'QR_NOT_FOUND',
    );
    expect(await rowCounts()).toEqual(before);
  });

  it('gives unique paymentIds to payments made in the same millisecond', async () => {
    // A batch of 100 always shares one millisecond, and paymentId is PAY + milliseconds + 6 random
    // digits: about a 0.5% chance per batch of a clash (a 500). Freezing the clock makes 5000
    // payments share the millisecond, so a clash is near certain if the suffix is the only guard.
    const qr = await createQr(owner);
    frozenAt = new Date();
    try {
      for (let run = 0; run < 50; run += 1) {
        const reply = await owner.client.post('/api/transactions/simulate', { qrId: qr.qrId, count: 100 });
        expect(reply.statusCode, `run ${run}: ${reply.body}`).toBe(201);
      }
    } finally {
      frozenAt = null;
    }
    const rows = await transactionsOfQr(qr.qrId);
    expect(rows).toHaveLength(5000);
    expect(new Set(rows.map((row) => row.paymentId)).size).toBe(5000);
  });
});
