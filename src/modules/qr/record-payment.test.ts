import { randomUUID } from 'node:crypto';
import { CamelCasePlugin, Kysely, PostgresDialect, sql } from 'kysely';
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
import { createTestDatabase, type TestDatabase } from '../../../test/database.ts';
import type { Db } from '../../db/database.ts';
import type { Database } from '../../db/types.ts';

/**
 * POST /api/v1/transactions by a QR code this process has already loaded: the payment, its
 * history and audit rows and its ledger credit (or its key's settling) in ONE statement
 * (transactions.repo.ts recordPayment), and the fallback transaction that runs when that statement
 * finds the code gone or not payable. Which path a request took is read from the statements the
 * app sent (a Kysely query log on the app's own pool): the one statement is the `WITH code AS`
 * one; the fallback also loads the code (`from "qr_codes"`, Kysely-built) in a transaction.
 */

const ONE_STATEMENT = /WITH code AS \(/;
const LOADS_CODE = /from "qr_codes"/;
/** The fallback's transaction checks the key first, then loads the code. */
const KEY_CHECK = /^select idempotency_require_new\(/i;
const FALLBACK = [LOADS_CODE];
const USER_AGENT = 'record-payment-test/1.0';

let base: TestDatabase;
let testApp: TestApp;
/** The database without the query log: what the tests themselves read. */
let db: Db;
let admin: Account;

let tracing = false;
const traced: string[] = [];

beforeAll(async () => {
  base = await createTestDatabase();
  // The app's queries go through this instance (same pool), which records their SQL while tracing.
  const logged = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: base.handle.pool }),
    plugins: [new CamelCasePlugin()],
    log(event) {
      if (tracing) traced.push(event.query.sql);
    },
  });
  testApp = await createTestApp({
    database: { ...base, handle: { db: logged, pool: base.handle.pool, close: base.handle.close } },
  });
  db = base.handle.db;
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
  await base?.destroy();
});

/**
 * `key checked`: the one statement was refused and the key alone answered (a replay, or its check
 * before a duplicate UTR's 409), without loading the code.
 */
type Path = 'one statement' | 'key checked' | 'fallback' | 'slow';

/** The reply, and which path recorded (or refused) the payment. */
async function tracedPost(
  caller: Account,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ reply: Reply; path: Path }> {
  traced.length = 0;
  tracing = true;
  try {
    const reply = await caller.client.post('/api/v1/transactions', body, {
      'user-agent': USER_AGENT,
      ...headers,
    });
    return { reply, path: pathOf(traced) };
  } finally {
    tracing = false;
  }
}

function pathOf(statements: readonly string[]): Path {
  const tried = statements.some((text) => ONE_STATEMENT.test(text));
  const fellBack = statements.some((text) => FALLBACK.some((marker) => marker.test(text)));
  const keyChecked = statements.some((text) => KEY_CHECK.test(text));
  if (tried && !fellBack) return keyChecked ? 'key checked' : 'one statement';
  if (tried && fellBack) return 'fallback';
  return 'slow';
}

interface QrCode {
  id: string;
  qrId: string;
  merchantId: string;
}

async function createQr(owner: Account, fields: Record<string, unknown> = {}): Promise<QrCode> {
  const reply = await owner.client.post('/api/v1/qr', {
    vpa: 'counter.one@okaxis',
    referenceName: 'Counter One',
    ...fields,
  });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode;
}

/** A code this process has loaded (GET /qr/:id), so the next payment takes the one statement. */
async function createKnownQr(owner: Account, fields: Record<string, unknown> = {}): Promise<QrCode> {
  const qr = await createQr(owner, fields);
  expect(testApp.services.qrCodes.knownIdentity(qr.qrId)).toBeUndefined();
  const loaded = await owner.client.get(`/api/v1/qr/${qr.id}`);
  expect(loaded.statusCode, loaded.body).toBe(200);
  expect(testApp.services.qrCodes.knownIdentity(qr.qrId)).toEqual({
    id: qr.id,
    qrId: qr.qrId,
    merchantId: owner.user.merchantId,
  });
  return qr;
}

/** A 201 through the one statement; the transaction it answered with. */
async function payInOneStatement(
  caller: Account,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const { reply, path } = await tracedPost(caller, body, headers);
  expect(reply.statusCode, reply.body).toBe(201);
  expect(path).toBe('one statement');
  return reply.json().data.transaction as {
    id: string;
    paymentId: string;
    qrId: string;
    merchantId: string;
    amount: number;
    status: string;
    utr: string;
  };
}

async function countOf(table: string, where = sql`true`): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM ${sql.table(table)} WHERE ${where}`.execute(db);
  return Number(rows[0]?.n);
}

/** Everything recording a payment writes. */
async function written() {
  return {
    transactions: await countOf('qr_transactions'),
    history: await countOf('qr_transaction_status_history'),
    audits: await countOf('audit_logs', sql`action = 'qr_payment.recorded'`),
    credits: await countOf('ledger_entries', sql`type = 'qr_payment'`),
    postings: await countOf('ledger_postings'),
    keys: await countOf('idempotency_keys'),
    rolledUp: Number(
      (
        await sql<{ n: string }>`
          SELECT coalesce(sum(success_count + failed_count + pending_count), 0) AS n
          FROM qr_transaction_totals`.execute(db)
      ).rows[0]?.n,
    ),
  };
}

async function balanceOf(merchant: Account): Promise<{ currency: string; balanceMinor: string }[]> {
  const reply = await merchant.client.get('/api/v1/merchant/balance');
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.balances.map((row: { currency: string; balanceMinor: string }) => ({
    currency: row.currency,
    balanceMinor: row.balanceMinor,
  }));
}

let utrCounter = 0;
function uniqueUtr(): string {
  utrCounter += 1;
  return `RP${String(Date.now() % 1e7).padStart(7, '0')}${String(utrCounter).padStart(3, '0')}`;
}

const inr = (minor: number) => [{ currency: 'INR', balanceMinor: String(minor) }];

async function creditsOf(transactionId: string) {
  return db
    .selectFrom('ledgerEntries')
    .select(['id', 'type', 'idempotencyRef'])
    .where('idempotencyRef', '=', `qr:${transactionId}`)
    .execute();
}

async function paymentRowsOf(qrId: string) {
  return db
    .selectFrom('qrTransactions')
    .select(['id', 'qrCodeId', 'amountMinor'])
    .where('qrId', '=', qrId)
    .execute();
}

async function setStatus(owner: Account, qr: QrCode, status: 'Active' | 'Inactive') {
  const reply = await owner.client.post(`/api/v1/qr/${qr.id}/status`, { status });
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data.qrCode.status).toBe(status);
}

async function expectLedgerVerified() {
  const reply = await admin.client.get('/api/v1/admin/ledger/verify');
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data).toMatchObject({ ok: true, differences: [] });
}

describe('a code deactivated after a first payment', () => {
  it('answers 409 QR_INACTIVE through the fallback and writes nothing', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createQr(merchant);
    // The first payment loads the code (the fallback's transaction): from then on it is known.
    const first = await tracedPost(merchant, { qrId: qr.qrId, amount: 100 });
    expect(first.reply.statusCode, first.reply.body).toBe(201);
    expect(first.path).toBe('slow');
    expect(testApp.services.qrCodes.knownIdentity(qr.qrId)?.id).toBe(qr.id);
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 1 });

    await setStatus(merchant, qr, 'Inactive');
    const before = await written();
    const balance = await balanceOf(merchant);
    expect(balance).toEqual(inr(10_100));

    const plain = await tracedPost(merchant, { qrId: qr.qrId, amount: 50 });
    expectError(plain.reply, 409, 'QR_INACTIVE');
    expect(plain.path).toBe('fallback');
    const keyed = await tracedPost(
      merchant,
      { qrId: qr.qrId, amount: 50 },
      { 'idempotency-key': randomUUID() },
    );
    expectError(keyed.reply, 409, 'QR_INACTIVE');
    expect(keyed.path).toBe('fallback');
    const pending = await tracedPost(
      merchant,
      { qrId: qr.qrId, amount: 50, status: 'Pending' },
      { 'idempotency-key': randomUUID() },
    );
    expectError(pending.reply, 409, 'QR_INACTIVE');
    expect(pending.path).toBe('fallback');

    expect(await written()).toEqual(before);
    expect(await balanceOf(merchant)).toEqual(balance);
    expect(await paymentRowsOf(qr.qrId)).toHaveLength(2);

    // Active again: the one statement records again.
    await setStatus(merchant, qr, 'Active');
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 2 });
    expect(await balanceOf(merchant)).toEqual(inr(10_300));
  });
});

describe("a code's maximum lowered after a first payment", () => {
  it('answers 422 AMOUNT_ABOVE_MAX above the new maximum, writes nothing, and takes exactly the maximum', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant, { maxAmount: 1000 });
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 900 });

    const lowered = await merchant.client.put(`/api/v1/qr/${qr.id}`, { maxAmount: 50 });
    expect(lowered.statusCode, lowered.body).toBe(200);
    const before = await written();
    const balance = await balanceOf(merchant);
    expect(balance).toEqual(inr(90_000));

    for (const [amount, headers] of [
      [50.01, {}],
      [900, {}],
      [51, { 'idempotency-key': randomUUID() }],
    ] as const) {
      const refused = await tracedPost(merchant, { qrId: qr.qrId, amount }, headers);
      expectError(refused.reply, 422, 'AMOUNT_ABOVE_MAX');
      expect(refused.reply.json().error.message).toContain('50.00');
      expect(refused.path).toBe('fallback');
    }
    expect(await written()).toEqual(before);
    expect(await balanceOf(merchant)).toEqual(balance);

    const atMax = await payInOneStatement(merchant, { qrId: qr.qrId, amount: 50 });
    expect(atMax.amount).toBe(50);
    expect(await balanceOf(merchant)).toEqual(inr(95_000));
  });
});

describe('a code deleted after a first payment', () => {
  it('answers 404 QR_NOT_FOUND, then a code recreated with the same qrId takes the payment (not the stale identity)', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qrId = `R${randomUUID().replaceAll('-', '').slice(0, 4).toUpperCase()}`;
    const old = await createKnownQr(merchant, { qrId });
    await payInOneStatement(merchant, { qrId, amount: 40 });
    expect(await balanceOf(merchant)).toEqual(inr(4_000));

    const deleted = await merchant.client.delete(`/api/v1/qr/${old.id}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json().data).toEqual({ qrId, deletedTransactions: 1 });
    // The process still remembers the old code's identity.
    expect(testApp.services.qrCodes.knownIdentity(qrId)?.id).toBe(old.id);
    expect(await balanceOf(merchant)).toEqual(inr(0));

    const before = await written();
    const gone = await tracedPost(merchant, { qrId, amount: 10 });
    expectError(gone.reply, 404, 'QR_NOT_FOUND');
    expect(gone.path).toBe('fallback');
    const goneKeyed = await tracedPost(merchant, { qrId, amount: 10 }, { 'idempotency-key': randomUUID() });
    expectError(goneKeyed.reply, 404, 'QR_NOT_FOUND');
    expect(await written()).toEqual(before);

    // Recreated (not loaded since): the stale identity is still what the process knows.
    const recreated = await createQr(merchant, { qrId });
    expect(recreated.id).not.toBe(old.id);
    expect(testApp.services.qrCodes.knownIdentity(qrId)?.id).toBe(old.id);

    const landed = await tracedPost(merchant, { qrId, amount: 25 });
    expect(landed.reply.statusCode, landed.reply.body).toBe(201);
    expect(landed.path).toBe('fallback');
    const transaction = landed.reply.json().data.transaction;
    expect(transaction).toMatchObject({ qrId, amount: 25, merchantId: merchant.user.merchantId });
    expect(await paymentRowsOf(qrId)).toEqual([
      { id: transaction.id, qrCodeId: recreated.id, amountMinor: 2500n },
    ]);
    expect(testApp.services.qrCodes.knownIdentity(qrId)?.id).toBe(recreated.id);

    // Now known by its new identity: the one statement, on the new code.
    const next = await payInOneStatement(merchant, { qrId, amount: 5 });
    const rows = await paymentRowsOf(qrId);
    expect(rows.map((row) => row.qrCodeId)).toEqual([recreated.id, recreated.id]);
    expect(rows.map((row) => row.id).sort()).toEqual([transaction.id, next.id].sort());

    const detail = await merchant.client.get(`/api/v1/qr/${recreated.id}`);
    expect(detail.statusCode, detail.body).toBe(200);
    expect(detail.json().data.statistics).toMatchObject({
      totalTransactions: 2,
      successfulTransactions: 2,
      totalAmount: 30,
    });
    expect(await balanceOf(merchant)).toEqual(inr(3_000));
    expect((await creditsOf(transaction.id)).map((entry) => entry.type)).toEqual(['qr_payment']);
  });
});

describe('Idempotency-Key on the one statement', () => {
  let merchant: Account;
  let qr: QrCode;
  beforeAll(async () => {
    merchant = await createAccount(testApp, 'merchant');
    qr = await createKnownQr(merchant);
  });

  it('replays the same key and body with the identical body and Idempotent-Replayed: true; one row, one credit', async () => {
    const key = `pay-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 42.5, customerInfo: { name: 'Meera Nair' } };
    const first = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(first.reply.statusCode, first.reply.body).toBe(201);
    expect(first.path).toBe('one statement');
    expect(first.reply.headers['idempotent-replayed']).toBeUndefined();
    const transaction = first.reply.json().data.transaction;
    const after = await written();
    const balance = await balanceOf(merchant);

    for (let attempt = 0; attempt < 2; attempt += 1) {
      const again = await tracedPost(merchant, body, { 'idempotency-key': key });
      expect(again.reply.statusCode, again.reply.body).toBe(201);
      expect(again.path).toBe('one statement');
      expect(again.reply.headers['idempotent-replayed']).toBe('true');
      expect(again.reply.json()).toEqual(first.reply.json());
    }
    expect(await written()).toEqual(after);
    expect(await balanceOf(merchant)).toEqual(balance);
    const rows = await db
      .selectFrom('qrTransactions')
      .select('id')
      .where('customerName', '=', 'Meera Nair')
      .where('qrId', '=', qr.qrId)
      .execute();
    expect(rows).toEqual([{ id: transaction.id }]);
    expect(await creditsOf(transaction.id)).toHaveLength(1);
  });

  it('replays a keyed request with an explicit utr in a process that has not loaded the code (fallback)', async () => {
    const key = `pay-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 17, utr: uniqueUtr() };
    const first = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(first.reply.statusCode, first.reply.body).toBe(201);
    expect(first.path).toBe('one statement');
    const after = await written();

    // A second process on the same database knows no code: its fallback checks the key first.
    const otherProcess = await createTestApp({ database: base });
    try {
      const login = await client(otherProcess.app).post('/api/v1/auth/login', {
        email: merchant.user.email,
        password: merchant.password,
      });
      expect(login.statusCode, login.body).toBe(200);
      expect(otherProcess.services.qrCodes.knownIdentity(qr.qrId)).toBeUndefined();
      const again = await client(otherProcess.app, {
        authorization: `Bearer ${login.json().data.accessToken}`,
      }).post('/api/v1/transactions', body, { 'idempotency-key': key });
      expect(again.statusCode, again.body).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.reply.json());
    } finally {
      await otherProcess.close();
    }
    expect(await written()).toEqual(after);
  });

  // BUG (transactions.repo.ts recordPayment / transactions.service.ts create): on the one
  // statement the payment is inserted before ledger_post checks the key, so the retried payment's
  // UTR clashes with the first one's (23505 qr_transactions_utr_key) before the key is looked at,
  // and the route answers 409 DUPLICATE_UTR instead of replaying the stored 201.
  it('replays a keyed Success payment with an explicit utr on the one statement (not 409 DUPLICATE_UTR)', async () => {
    const key = `pay-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 18, utr: uniqueUtr() };
    const first = await payInOneStatement(merchant, body, { 'idempotency-key': key });
    const after = await written();
    const again = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(again.reply.statusCode, again.reply.body).toBe(201);
    expect(again.reply.headers['idempotent-replayed']).toBe('true');
    expect(again.reply.json().data.transaction.id).toBe(first.id);
    expect(await written()).toEqual(after);
  });

  // BUG, the same for a Pending payment (idempotency_settle runs after the clashing insert).
  it('replays a keyed Pending payment with an explicit utr on the one statement (not 409 DUPLICATE_UTR)', async () => {
    const key = `pay-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 19, status: 'Pending', utr: uniqueUtr() };
    const first = await payInOneStatement(merchant, body, { 'idempotency-key': key });
    const after = await written();
    const again = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(again.reply.statusCode, again.reply.body).toBe(201);
    expect(again.reply.headers['idempotent-replayed']).toBe('true');
    expect(again.reply.json().data.transaction.id).toBe(first.id);
    expect(await written()).toEqual(after);
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED for the same key with another body, writing nothing', async () => {
    const key = `pay-${randomUUID()}`;
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 11 }, { 'idempotency-key': key });
    const before = await written();
    const balance = await balanceOf(merchant);
    const reused = await tracedPost(merchant, { qrId: qr.qrId, amount: 12 }, { 'idempotency-key': key });
    expectError(reused.reply, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(reused.path).toBe('one statement');
    const reusedPending = await tracedPost(
      merchant,
      { qrId: qr.qrId, amount: 11, status: 'Pending' },
      { 'idempotency-key': key },
    );
    expectError(reusedPending.reply, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await written()).toEqual(before);
    expect(await balanceOf(merchant)).toEqual(balance);
  });

  it('still replays an answered key after the code is deactivated (201 + header, not 409)', async () => {
    const own = await createKnownQr(merchant);
    const key = `pay-${randomUUID()}`;
    const body = { qrId: own.qrId, amount: 64 };
    const first = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(first.reply.statusCode, first.reply.body).toBe(201);
    expect(first.path).toBe('one statement');

    await setStatus(merchant, own, 'Inactive');
    const before = await written();
    const replay = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(replay.reply.statusCode, replay.reply.body).toBe(201);
    expect(replay.path).toBe('key checked');
    expect(replay.reply.headers['idempotent-replayed']).toBe('true');
    expect(replay.reply.json()).toEqual(first.reply.json());
    // Another body with the key is still refused as a reuse, before the code is looked at.
    expectError(
      (await tracedPost(merchant, { ...body, amount: 65 }, { 'idempotency-key': key })).reply,
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(await written()).toEqual(before);
  });
});

describe('a Pending payment with a key (idempotency_settle in the one statement)', () => {
  it('is stored without a credit, replays, and is credited once when it becomes Success', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 10 });
    const key = `pending-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 300, status: 'Pending' };
    const keysBefore = await countOf('idempotency_keys');

    const first = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(first.reply.statusCode, first.reply.body).toBe(201);
    expect(first.path).toBe('one statement');
    const pending = first.reply.json().data.transaction;
    expect(pending.status).toBe('Pending');
    expect(await countOf('idempotency_keys')).toBe(keysBefore + 1);
    expect(await creditsOf(pending.id)).toEqual([]);
    expect(await balanceOf(merchant)).toEqual(inr(1_000));

    const after = await written();
    const replay = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(replay.reply.statusCode, replay.reply.body).toBe(201);
    expect(replay.path).toBe('one statement');
    expect(replay.reply.headers['idempotent-replayed']).toBe('true');
    expect(replay.reply.json()).toEqual(first.reply.json());
    expect(await written()).toEqual(after);
    expect(await creditsOf(pending.id)).toEqual([]);

    const settled = await merchant.client.patch(`/api/v1/transactions/${pending.paymentId}`, {
      status: 'Success',
    });
    expect(settled.statusCode, settled.body).toBe(200);
    expect(settled.json().data.transaction.status).toBe('Success');
    expect(await creditsOf(pending.id)).toEqual([
      { id: expect.any(String), type: 'qr_payment', idempotencyRef: `qr:${pending.id}` },
    ]);
    expect(await balanceOf(merchant)).toEqual(inr(31_000));

    // Final: a second move is refused and credits nothing more; the key still replays the Pending reply.
    expectError(
      await merchant.client.patch(`/api/v1/transactions/${pending.paymentId}`, { status: 'Success' }),
      409,
      'INVALID_STATUS_TRANSITION',
    );
    const later = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(later.reply.headers['idempotent-replayed']).toBe('true');
    expect(later.reply.json()).toEqual(first.reply.json());
    expect(await creditsOf(pending.id)).toHaveLength(1);
    expect(await balanceOf(merchant)).toEqual(inr(31_000));
  });

  it('records a Failed payment with a key without a credit, and replays it', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    const key = `failed-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 70, status: 'Failed' };
    const failed = await payInOneStatement(merchant, body, { 'idempotency-key': key });
    expect(failed.status).toBe('Failed');
    const replay = await tracedPost(merchant, body, { 'idempotency-key': key });
    expect(replay.reply.headers['idempotent-replayed']).toBe('true');
    expect(replay.reply.json().data.transaction.id).toBe(failed.id);
    expect(await paymentRowsOf(qr.qrId)).toHaveLength(1);
    expect(await creditsOf(failed.id)).toEqual([]);
    expect(await balanceOf(merchant)).toEqual([]);
  });
});

describe('what the one statement writes', () => {
  it('the audit row, the first history row, the ledger credit and the balance', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    expect(await balanceOf(merchant)).toEqual([]);
    const before = await written();

    const { reply, path } = await tracedPost(merchant, {
      qrId: qr.qrId,
      amount: 123.45,
      utr: 'ONESTMT00001',
      customerInfo: { name: 'Asha Rao', phone: '9876543210', upiApp: 'PhonePe' },
    });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(path).toBe('one statement');
    const transaction = reply.json().data.transaction;
    expect(transaction).toMatchObject({
      qrId: qr.qrId,
      merchantId: merchant.user.merchantId,
      amount: 123.45,
      status: 'Success',
      utr: 'ONESTMT00001',
      customerInfo: { name: 'Asha Rao', phone: '9876543210', upiApp: 'PhonePe' },
      origin: 'manual',
    });
    expect(await written()).toMatchObject({
      transactions: before.transactions + 1,
      history: before.history + 1,
      audits: before.audits + 1,
      credits: before.credits + 1,
      keys: before.keys,
      rolledUp: before.rolledUp + 1,
    });

    const payment = await db
      .selectFrom('qrTransactions')
      .selectAll()
      .where('id', '=', transaction.id)
      .executeTakeFirstOrThrow();
    expect(payment).toMatchObject({
      qrCodeId: qr.id,
      amountMinor: 12_345n,
      status: 'Success',
      origin: 'manual',
    });

    const audit = await db
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'qr_payment.recorded')
      .where('targetId', '=', transaction.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorId: merchant.user.id,
      actorRole: 'merchant',
      targetType: 'qr_transaction',
      targetId: transaction.id,
      userAgent: USER_AGENT,
      requestId: reply.headers['x-request-id'],
      details: { paymentId: transaction.paymentId, qrId: qr.qrId, utr: 'ONESTMT00001' },
    });
    expect(audit[0]?.ip).toEqual(expect.any(String));
    expect(audit[0]?.ip).not.toBe('');
    expect(audit[0]?.requestId).toEqual(expect.any(String));

    const history = await db
      .selectFrom('qrTransactionStatusHistory')
      .selectAll()
      .where('transactionId', '=', transaction.id)
      .execute();
    expect(history).toEqual([
      expect.objectContaining({
        fromStatus: null,
        toStatus: 'Success',
        cause: 'created',
        actorId: merchant.user.id,
      }),
    ]);
    const detail = await merchant.client.get(`/api/v1/transactions/${transaction.paymentId}`);
    expect(detail.json().data.transaction.statusHistory).toEqual([
      { from: null, to: 'Success', cause: 'created', changedAt: expect.any(String) },
    ]);

    const entries = await creditsOf(transaction.id);
    expect(entries).toEqual([
      { id: expect.any(String), type: 'qr_payment', idempotencyRef: `qr:${transaction.id}` },
    ]);
    const postings = await db
      .selectFrom('ledgerPostings')
      .select(['amountMinor'])
      .where('entryId', '=', entries[0]?.id as string)
      .execute();
    // No fee by default: clearing +12,345, merchant payable -12,345 (credit).
    expect(postings.map((posting) => posting.amountMinor).sort()).toEqual([-12_345n, 12_345n]);
    expect(await balanceOf(merchant)).toEqual(inr(12_345));
  });

  it('a Pending payment without a key: payment, history and audit rows, no credit, no key', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    const before = await written();
    const pending = await payInOneStatement(merchant, { qrId: qr.qrId, amount: 20, status: 'Pending' });
    expect(await written()).toEqual({
      ...before,
      transactions: before.transactions + 1,
      history: before.history + 1,
      audits: before.audits + 1,
      rolledUp: before.rolledUp + 1,
    });
    expect(await creditsOf(pending.id)).toEqual([]);
    expect(await balanceOf(merchant)).toEqual([]);
  });

  it('keeps the rollups exact: qr_rollups_rebuild() changes none of the stats figures', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    const other = await createKnownQr(merchant);
    const payments = [
      { qrId: qr.qrId, amount: 100 },
      { qrId: qr.qrId, amount: 250.5 },
      { qrId: other.qrId, amount: 49.5 },
      { qrId: qr.qrId, amount: 30, status: 'Failed' },
      { qrId: other.qrId, amount: 70, status: 'Pending' },
      { qrId: qr.qrId, amount: 15, status: 'Pending' },
      // Yesterday (back-filled): another day's bucket.
      { qrId: qr.qrId, amount: 5, timestamp: new Date(Date.now() - 86_400_000).toISOString() },
    ];
    for (const [index, body] of payments.entries()) {
      await payInOneStatement(merchant, body, index % 2 === 0 ? { 'idempotency-key': randomUUID() } : {});
    }
    const stats = async (query = '') => {
      const reply = await merchant.client.get(`/api/v1/transactions/stats${query}`);
      expect(reply.statusCode, reply.body).toBe(200);
      return reply.json().data;
    };
    const maintained = await stats();
    const perQr = await stats(`?qrId=${qr.qrId}`);
    expect(maintained.summary).toMatchObject({
      totalTransactions: 7,
      successfulTransactions: 4,
      failedTransactions: 1,
      pendingTransactions: 2,
      totalAmount: 405,
    });
    expect(perQr.summary).toMatchObject({
      totalTransactions: 5,
      successfulTransactions: 3,
      totalAmount: 355.5,
    });
    expect(maintained.dailyStats.reduce((sum: number, day: { count: number }) => sum + day.count, 0)).toBe(7);

    await sql`SELECT qr_rollups_rebuild()`.execute(db);
    expect(await stats()).toEqual(maintained);
    expect(await stats(`?qrId=${qr.qrId}`)).toEqual(perQr);
    expect(await balanceOf(merchant)).toEqual(inr(40_500));
  });
});

describe('a duplicate UTR on the one statement', () => {
  it('answers 409 DUPLICATE_UTR, writes nothing and keeps no key: the key then works with a fresh utr', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const stranger = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    const strangerQr = await createKnownQr(stranger);
    const utr = 'DUPONESTMT01';
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 10, utr });
    const before = await written();
    const balance = await balanceOf(merchant);

    const key = `dup-${randomUUID()}`;
    for (const [caller, qrId, headers, status] of [
      [merchant, qr.qrId, {}, 'Success'],
      [merchant, qr.qrId, { 'idempotency-key': key }, 'Success'],
      [merchant, qr.qrId, { 'idempotency-key': key }, 'Pending'],
      [stranger, strangerQr.qrId, {}, 'Success'],
    ] as const) {
      const duplicate = await tracedPost(caller, { qrId, amount: 20, utr, status }, headers);
      expectError(duplicate.reply, 409, 'DUPLICATE_UTR');
      expect(duplicate.path).toBe('idempotency-key' in headers ? 'key checked' : 'one statement');
    }
    expect(await written()).toEqual(before);
    expect(await balanceOf(merchant)).toEqual(balance);
    // (The refused request may open the stranger's payable accounts, but credits nothing.)
    expect((await balanceOf(stranger)).filter((row) => row.balanceMinor !== '0')).toEqual([]);

    const fresh = await tracedPost(
      merchant,
      { qrId: qr.qrId, amount: 20, utr: 'DUPONESTMT02' },
      { 'idempotency-key': key },
    );
    expect(fresh.reply.statusCode, fresh.reply.body).toBe(201);
    expect(fresh.path).toBe('one statement');
    expect(fresh.reply.headers['idempotent-replayed']).toBeUndefined();
    expect(await balanceOf(merchant)).toEqual(inr(3_000));
  });
});

describe('an admin recording a payment on a merchant’s code', () => {
  it('records it in one statement and credits that merchant', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    await payInOneStatement(merchant, { qrId: qr.qrId, amount: 5 });
    const key = `admin-${randomUUID()}`;
    const body = { qrId: qr.qrId, amount: 77.7 };

    const { reply, path } = await tracedPost(admin, body, { 'idempotency-key': key });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(path).toBe('one statement');
    const transaction = reply.json().data.transaction;
    expect(transaction).toMatchObject({ qrId: qr.qrId, merchantId: merchant.user.merchantId, amount: 77.7 });
    expect(await balanceOf(merchant)).toEqual(inr(8_270));
    expect(await creditsOf(transaction.id)).toHaveLength(1);
    const audit = await db
      .selectFrom('auditLogs')
      .select(['actorId', 'actorRole'])
      .where('action', '=', 'qr_payment.recorded')
      .where('targetId', '=', transaction.id)
      .execute();
    expect(audit).toEqual([{ actorId: admin.user.id, actorRole: 'admin' }]);
    const history = await db
      .selectFrom('qrTransactionStatusHistory')
      .select('actorId')
      .where('transactionId', '=', transaction.id)
      .execute();
    expect(history).toEqual([{ actorId: admin.user.id }]);

    // The admin's key is the admin's: replayed for the admin, a new key for the merchant.
    const replay = await tracedPost(admin, body, { 'idempotency-key': key });
    expect(replay.reply.headers['idempotent-replayed']).toBe('true');
    expect(replay.reply.json()).toEqual(reply.json());
    const merchantsOwn = await payInOneStatement(merchant, body, { 'idempotency-key': key });
    expect(merchantsOwn.id).not.toBe(transaction.id);
    expect(await balanceOf(merchant)).toEqual(inr(16_040));
    await expectLedgerVerified();
  });
});

describe('concurrent payments on one code', () => {
  it('records 12 concurrent payments with distinct keys: all 201, 12 rows, balance = sum, ledger verified', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qr = await createKnownQr(merchant);
    const amounts = Array.from({ length: 12 }, (_, index) => (1_000 + index * 111) / 100);
    const expectedMinor = amounts.reduce((sum, amount) => sum + Math.round(amount * 100), 0);

    traced.length = 0;
    tracing = true;
    let replies: Reply[];
    try {
      replies = await Promise.all(
        amounts.map((amount) =>
          merchant.client.post(
            '/api/v1/transactions',
            { qrId: qr.qrId, amount },
            { 'idempotency-key': randomUUID() },
          ),
        ),
      );
    } finally {
      tracing = false;
    }
    for (const reply of replies) {
      expect(reply.statusCode, reply.body).toBe(201);
      expect(reply.headers['idempotent-replayed']).toBeUndefined();
    }
    // Every one through the one statement; none fell back.
    expect(traced.filter((text) => ONE_STATEMENT.test(text))).toHaveLength(12);
    expect(traced.filter((text) => FALLBACK.some((marker) => marker.test(text)))).toEqual([]);

    const rows = await paymentRowsOf(qr.qrId);
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((row) => row.id)).size).toBe(12);
    expect(rows.reduce((sum, row) => sum + row.amountMinor, 0n)).toBe(BigInt(expectedMinor));
    for (const row of rows) expect(await creditsOf(row.id)).toHaveLength(1);
    expect(await balanceOf(merchant)).toEqual(inr(expectedMinor));
    expect(await countOf('idempotency_keys', sql`scope = ${`merchant:${merchant.user.merchantId}`}`)).toBe(
      12,
    );
    await expectLedgerVerified();
  });
});
