import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import { IDEMPOTENCY_KEY_TTL_MS } from '../../http/idempotency.ts';
import { createManualClock } from '../../lib/clock.ts';

/**
 * POST /wallet/transfer claims its Idempotency-Key in the posting's own statement. A payee whose
 * wallet this process already knows (an earlier transfer to them) is checked (still active) and
 * paid in ONE statement (`SELECT ledger_post(...) FROM users WHERE id = payee AND is_active`);
 * otherwise the payee is looked up first (the slow path; always so when named by email).
 */

const START = new Date('2031-02-01T09:00:00.000Z');
const clock = createManualClock(START);

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  testApp = await createTestApp({ clock });
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
});

const db = () => testApp.database.handle.db;
const newKey = () => `stmt-${randomUUID()}`;
const keyed = (key: string) => ({ 'idempotency-key': key });
const scopeOf = (account: Account) => `user:${account.user.id}`;

/** A fresh sign-in: the access tokens of earlier accounts expire when the clock moves a day. */
async function signIn(account: Account): Promise<Client> {
  const reply = await client(testApp.app).post('/api/v1/auth/login', {
    email: account.user.email,
    password: account.password,
  });
  expect(reply.statusCode, reply.body).toBe(200);
  return client(testApp.app, { authorization: `Bearer ${reply.json().data.accessToken}` });
}

async function setActive(account: Account, isActive: boolean): Promise<void> {
  const reply = await (await signIn(admin)).patch(`/api/v1/admin/users/${account.user.id}`, { isActive });
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data.user.isActive).toBe(isActive);
}

async function deposit(caller: Client, amount: number, key: string = newKey()): Promise<Reply> {
  const reply = await caller.post(
    '/api/v1/wallet/deposit',
    { amount, reference: `dep-${randomUUID()}` },
    keyed(key),
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return reply;
}

function transfer(caller: Client, body: Record<string, unknown>, key: string = newKey()): Promise<Reply> {
  return caller.post('/api/v1/wallet/transfer', body, keyed(key));
}

/** The user's INR wallet balance in minor units, read from the ledger (0 before it exists). */
async function walletMinor(account: Account): Promise<bigint> {
  const rows = await db()
    .selectFrom('ledgerAccounts')
    .select(['balanceMinor', 'heldMinor'])
    .where('ownerType', '=', 'user')
    .where('ownerId', '=', account.user.id)
    .where('purpose', '=', 'wallet')
    .where('currency', '=', 'INR')
    .execute();
  expect(rows.length).toBeLessThanOrEqual(1);
  expect(rows[0]?.heldMinor ?? 0n).toBe(0n);
  return rows[0]?.balanceMinor ?? 0n;
}

/** What a refused request must leave as it was. */
async function snapshot(payer: Account, payee: Account) {
  const { rows } = await sql<{ transfers: string; postings: string; keys: string }>`
    SELECT (SELECT count(*) FROM ledger_entries WHERE type = 'transfer') AS transfers,
      (SELECT count(*) FROM ledger_postings) AS postings,
      (SELECT count(*) FROM idempotency_keys WHERE scope = ${scopeOf(payer)}) AS keys`.execute(db());
  const row = rows[0]!;
  return {
    transfers: Number(row.transfers),
    postings: Number(row.postings),
    payerKeys: Number(row.keys),
    payer: await walletMinor(payer),
    payee: await walletMinor(payee),
  };
}

async function keyRow(payer: Account, key: string) {
  return db()
    .selectFrom('idempotencyKeys')
    .select(['requestFingerprint', 'state', 'responseStatus', 'responseBody', 'expiresAt'])
    .where('scope', '=', scopeOf(payer))
    .where('key', '=', key)
    .executeTakeFirst();
}

const knownWallet = (account: Account) =>
  testApp.services.ledger.knownOwnerAccount({ type: 'user', id: account.user.id }, 'wallet', 'INR');

function expectOriginal(reply: Reply, to: Account, amount: number): void {
  expect(reply.statusCode, reply.body).toBe(201);
  expect(reply.headers['idempotent-replayed']).toBeUndefined();
  expect(reply.json()).toEqual({
    success: true,
    data: {
      transfer: {
        entryId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        to: to.user.id,
        amount,
        currency: 'INR',
        note: null,
      },
    },
    message: 'Transfer completed',
  });
}

function expectReplayOf(reply: Reply, original: Reply): void {
  expect(reply.statusCode, reply.body).toBe(original.statusCode);
  expect(reply.headers['idempotent-replayed']).toBe('true');
  expect(reply.json()).toEqual(original.json());
}

interface Mode {
  readonly name: string;
  /** The payee's wallet is known to the process and named by id: the one-statement path. */
  readonly oneStatement: boolean;
  to(payee: Account): string;
}

const MODES: readonly Mode[] = [
  { name: 'one statement (payee known, by id)', oneStatement: true, to: (payee) => payee.user.id },
  { name: 'slow path (payee by email)', oneStatement: false, to: (payee) => payee.user.email },
];

interface Parties {
  readonly payer: Account;
  readonly payee: Account;
  /** The payer's calls, signed in now. */
  readonly caller: Client;
  /** `to` for this mode. */
  readonly to: string;
}

/**
 * A payer funded with 100.00 who has already sent 1.00 to the payee (so the payer ends at 99.00,
 * the payee at 1.00). By id that first transfer takes the slow path and makes the payee known.
 */
async function parties(mode: Mode): Promise<Parties> {
  clock.advance(1_000);
  const payer = await createAccount(testApp, 'user');
  const payee = await createAccount(testApp, 'user');
  await deposit(payer.client, 100);
  expect(knownWallet(payee)).toBeUndefined();
  const first = await transfer(payer.client, { to: mode.to(payee), amount: 1 });
  expectOriginal(first, payee, 1);
  if (mode.oneStatement) expect(knownWallet(payee)).toBeDefined();
  expect(await walletMinor(payer)).toBe(9_900n);
  expect(await walletMinor(payee)).toBe(100n);
  return { payer, payee, caller: payer.client, to: mode.to(payee) };
}

describe.each(MODES)('POST /wallet/transfer, $name', (mode) => {
  it('refuses a payee deactivated since the first transfer (404 RECIPIENT_NOT_FOUND), posting nothing and keeping no key; the same key works after reactivation', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    await setActive(payee, false);
    const key = newKey();
    const body = { to, amount: 10 };
    const before = await snapshot(payer, payee);

    expectError(await transfer(caller, body, key), 404, 'RECIPIENT_NOT_FOUND');
    expect(await snapshot(payer, payee)).toEqual(before);
    expect(await keyRow(payer, key)).toBeUndefined();
    // Still refused on a retry (nothing was stored that a retry could replay).
    expectError(await transfer(caller, body, key), 404, 'RECIPIENT_NOT_FOUND');
    expect(await snapshot(payer, payee)).toEqual(before);

    await setActive(payee, true);
    if (mode.oneStatement) expect(knownWallet(payee)).toBeDefined();
    const retried = await transfer(caller, body, key);
    expectOriginal(retried, payee, 10);
    expect(await snapshot(payer, payee)).toEqual({
      transfers: before.transfers + 1,
      postings: before.postings + 2,
      payerKeys: before.payerKeys + 1,
      payer: 8_900n,
      payee: 1_100n,
    });
    expect(await keyRow(payer, key)).toMatchObject({
      state: 'completed',
      responseStatus: 201,
      responseBody: retried.json(),
    });
  });

  it('replays the same key with the same body: identical status and body, Idempotent-Replayed: true, money moved once', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const body = { to, amount: 12.34 };
    const before = await snapshot(payer, payee);

    const first = await transfer(caller, body, key);
    expectOriginal(first, payee, 12.34);
    const afterFirst = await snapshot(payer, payee);
    expect(afterFirst).toEqual({
      transfers: before.transfers + 1,
      postings: before.postings + 2,
      payerKeys: before.payerKeys + 1,
      payer: 9_900n - 1_234n,
      payee: 100n + 1_234n,
    });

    const second = await transfer(caller, body, key);
    expectReplayOf(second, first);
    // The same request with its keys in another order is the same request.
    const reordered = await transfer(caller, { amount: 12.34, to }, key);
    expectReplayOf(reordered, first);
    expect(await snapshot(payer, payee)).toEqual(afterFirst);

    const entries = await db()
      .selectFrom('ledgerEntries')
      .select(['id', 'type'])
      .where('id', '=', first.json().data.transfer.entryId)
      .execute();
    expect(entries).toEqual([{ id: first.json().data.transfer.entryId, type: 'transfer' }]);
  });

  it('refuses the same key with a different body (422 IDEMPOTENCY_KEY_REUSED), moving nothing', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const first = await transfer(caller, { to, amount: 5 }, key);
    expectOriginal(first, payee, 5);
    const stored = await keyRow(payer, key);
    const before = await snapshot(payer, payee);
    expect(before.payer).toBe(9_400n);

    const other = await createAccount(testApp, 'user');
    for (const body of [
      { to, amount: 6 },
      { to, amount: 5, note: 'different' },
      { to, amount: 5, currency: 'USD' },
      { to: mode.oneStatement ? payee.user.email : payee.user.id, amount: 5 },
      { to: other.user.id, amount: 5 },
    ]) {
      expectError(await transfer(caller, body, key), 422, 'IDEMPOTENCY_KEY_REUSED');
    }
    expect(await snapshot(payer, payee)).toEqual(before);
    expect(await walletMinor(other)).toBe(0n);
    expect(await keyRow(payer, key)).toEqual(stored);
    // The key still answers its own request.
    expectReplayOf(await transfer(caller, { to, amount: 5 }, key), first);
  });

  it('answers 409 IDEMPOTENCY_KEY_IN_FLIGHT while another connection holds the key’s advisory lock, moving nothing; 201 once it is released', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const body = { to, amount: 7.5 };
    const lockName = `${scopeOf(payer)} ${key}`;
    const locker = new pg.Client({ connectionString: testApp.database.connectionString });
    await locker.connect();
    try {
      await locker.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockName]);
      const before = await snapshot(payer, payee);

      expectError(await transfer(caller, body, key), 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
      expectError(await transfer(caller, body, key), 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
      expect(await snapshot(payer, payee)).toEqual(before);
      expect(await keyRow(payer, key)).toBeUndefined();

      // Only that key is held: another key of the same payer goes through.
      const otherKey = await transfer(caller, { to, amount: 0.5 }, newKey());
      expectOriginal(otherKey, payee, 0.5);

      const { rows } = await locker.query<{ released: boolean }>(
        'SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS released',
        [lockName],
      );
      expect(rows).toEqual([{ released: true }]);
    } finally {
      await locker.end();
    }
    const retried = await transfer(caller, body, key);
    expectOriginal(retried, payee, 7.5);
    expect(await walletMinor(payer)).toBe(9_900n - 50n - 750n);
    expect(await walletMinor(payee)).toBe(100n + 50n + 750n);
    expectReplayOf(await transfer(caller, body, key), retried);
  });

  it('refuses more than the balance (422 INSUFFICIENT_FUNDS) keeping no key: the same key and body succeed once the payer is funded', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const body = { to, amount: 150 };
    const before = await snapshot(payer, payee);

    expectError(await transfer(caller, body, key), 422, 'INSUFFICIENT_FUNDS');
    expect(await snapshot(payer, payee)).toEqual(before);
    expect(await keyRow(payer, key)).toBeUndefined();

    await deposit(caller, 51); // 99.00 + 51.00 = 150.00
    const retried = await transfer(caller, body, key);
    expectOriginal(retried, payee, 150);
    expect(await walletMinor(payer)).toBe(0n);
    expect(await walletMinor(payee)).toBe(15_100n);
    expectReplayOf(await transfer(caller, body, key), retried);
    expect(await walletMinor(payer)).toBe(0n);
  });

  it('refuses a key the same user first used on another route (deposit): 422 IDEMPOTENCY_KEY_REUSED, moving nothing', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const deposited = await deposit(caller, 5, key);
    const stored = await keyRow(payer, key);
    expect(stored).toMatchObject({ state: 'completed', responseStatus: 201, responseBody: deposited.json() });
    const before = await snapshot(payer, payee);
    expect(before.payer).toBe(10_400n);

    expectError(await transfer(caller, { to, amount: 5 }, key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await snapshot(payer, payee)).toEqual(before);
    expect(await keyRow(payer, key)).toEqual(stored);
  });

  it('treats a key past its 24 hours as new: a different body with it posts (201), where a moment before it was 422', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const first = await transfer(caller, { to, amount: 10 }, key);
    expectOriginal(first, payee, 10);
    const answeredAt = clock.now().getTime();
    expect((await keyRow(payer, key))?.expiresAt).toEqual(new Date(answeredAt + IDEMPOTENCY_KEY_TTL_MS));

    clock.advance(IDEMPOTENCY_KEY_TTL_MS - 1);
    const later = await signIn(payer); // the first access token has expired
    expectError(await transfer(later, { to, amount: 20 }, key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await walletMinor(payer)).toBe(8_900n);

    clock.advance(1);
    const before = await snapshot(payer, payee);
    const second = await transfer(later, { to, amount: 20 }, key);
    expectOriginal(second, payee, 20);
    expect(second.json().data.transfer.entryId).not.toBe(first.json().data.transfer.entryId);
    expect(await snapshot(payer, payee)).toEqual({
      transfers: before.transfers + 1,
      postings: before.postings + 2,
      payerKeys: before.payerKeys, // the expired row was taken over, not added to
      payer: 6_900n,
      payee: 3_100n,
    });
    expect(await keyRow(payer, key)).toMatchObject({
      state: 'completed',
      responseStatus: 201,
      responseBody: second.json(),
      expiresAt: new Date(answeredAt + 2 * IDEMPOTENCY_KEY_TTL_MS),
    });
    // The key now belongs to the second request.
    expectReplayOf(await transfer(later, { to, amount: 20 }, key), second);
    expectError(await transfer(later, { to, amount: 10 }, key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await walletMinor(payer)).toBe(6_900n);
  });

  it('posts 20 concurrent identical requests once: each reply is 201 (the original or its replay) or 409 IN_FLIGHT, never 500', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const body = { to, amount: 3.21 };
    const before = await snapshot(payer, payee);

    const replies = await Promise.all(Array.from({ length: 20 }, () => transfer(caller, body, key)));
    const statuses = replies.map((reply) => reply.statusCode).join(',');
    for (const reply of replies) {
      expect([201, 409], reply.body).toContain(reply.statusCode);
      if (reply.statusCode === 409) expectError(reply, 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
    }
    const originals = replies.filter(
      (reply) => reply.statusCode === 201 && reply.headers['idempotent-replayed'] === undefined,
    );
    expect(originals, statuses).toHaveLength(1);
    const original = originals[0]!;
    expectOriginal(original, payee, 3.21);
    for (const reply of replies) {
      if (reply.statusCode === 201 && reply !== original) expectReplayOf(reply, original);
    }

    expect(await snapshot(payer, payee)).toEqual({
      transfers: before.transfers + 1,
      postings: before.postings + 2,
      payerKeys: before.payerKeys + 1,
      payer: 9_900n - 321n,
      payee: 100n + 321n,
    });
    expectReplayOf(await transfer(caller, body, key), original);
  });

  // ARCHITECTURE.md: "Same key + same request replays the stored reply". A client whose first
  // reply was lost and who retries must learn that the money moved, not get a 404.
  it('replays an answered key even after the payee was deactivated (the money moved)', async () => {
    const { payer, payee, caller, to } = await parties(mode);
    const key = newKey();
    const body = { to, amount: 4 };
    const first = await transfer(caller, body, key);
    expectOriginal(first, payee, 4);
    await setActive(payee, false);
    const before = await snapshot(payer, payee);

    const retried = await transfer(caller, body, key);
    expectReplayOf(retried, first);
    expect(await snapshot(payer, payee)).toEqual(before);
  });
});

describe('POST /wallet/transfer, which path', () => {
  it('takes the slow path to a payee named by id the process has not seen, and the one-statement path after', async () => {
    clock.advance(1_000);
    const payer = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    await deposit(payer.client, 10);
    expect(knownWallet(payee)).toBeUndefined();
    expectOriginal(await transfer(payer.client, { to: payee.user.id, amount: 2 }), payee, 2);
    const account = knownWallet(payee);
    expect(account).toBeDefined();
    const wallet = await db()
      .selectFrom('ledgerAccounts')
      .select('id')
      .where('ownerId', '=', payee.user.id)
      .where('purpose', '=', 'wallet')
      .where('currency', '=', 'INR')
      .executeTakeFirstOrThrow();
    expect(account).toBe(wallet.id);
    expectOriginal(await transfer(payer.client, { to: payee.user.id, amount: 3 }), payee, 3);
    expect(await walletMinor(payer)).toBe(500n);
    expect(await walletMinor(payee)).toBe(500n);
  });

  it('refuses a deactivated payee the process has never seen (by id, slow path): 404, key not kept', async () => {
    clock.advance(1_000);
    const payer = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    await deposit(payer.client, 10);
    await setActive(payee, false);
    const key = newKey();
    const before = await snapshot(payer, payee);
    expectError(
      await transfer(payer.client, { to: payee.user.id, amount: 1 }, key),
      404,
      'RECIPIENT_NOT_FOUND',
    );
    expect(await snapshot(payer, payee)).toEqual(before);
    expect(await keyRow(payer, key)).toBeUndefined();
    expect(knownWallet(payee)).toBeUndefined();
    await setActive(payee, true);
    expectOriginal(await transfer(payer.client, { to: payee.user.id, amount: 1 }, key), payee, 1);
  });

  it('refuses a transfer to oneself (422 SELF_TRANSFER) by id and by own email, keeping no key', async () => {
    clock.advance(1_000);
    const payer = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    await deposit(payer.client, 10);
    // The payer's own wallet is known to the process: by id the one-statement path would apply.
    expect(knownWallet(payer)).toBeDefined();
    const key = newKey();
    const before = await snapshot(payer, payee);
    expectError(await transfer(payer.client, { to: payer.user.id, amount: 1 }, key), 422, 'SELF_TRANSFER');
    expectError(
      await transfer(payer.client, { to: payer.user.email, amount: 1 }, newKey()),
      422,
      'SELF_TRANSFER',
    );
    expectError(
      await transfer(payer.client, { to: `  ${payer.user.email.toUpperCase()} `, amount: 1 }, newKey()),
      422,
      'SELF_TRANSFER',
    );
    expect(await snapshot(payer, payee)).toEqual(before);
    expect(await keyRow(payer, key)).toBeUndefined();
    // The key was not kept: the corrected request may use it.
    expectOriginal(await transfer(payer.client, { to: payee.user.id, amount: 1 }, key), payee, 1);
    expect(await walletMinor(payer)).toBe(900n);
  });
});

describe('the ledger after every scenario above', () => {
  it('verifies with no differences', async () => {
    const report = await testApp.services.ledger.verify();
    expect(report.differences).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
