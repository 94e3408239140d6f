import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type Account,
  client,
  createAccount,
  createTestApp,
  expectError,
  type TestApp,
} from '../../../test/app.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/database.ts';
import type { Db, Executor } from '../../db/database.ts';
import type { LedgerEntryType } from '../../db/types.ts';
import { AppError } from '../../http/errors.ts';
import { createManualClock } from '../../lib/clock.ts';
import { PLATFORM_ACCOUNT_SHARDS, withRetry } from './index.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
const START = new Date('2030-06-01T08:00:00.000Z');

// The main app: a manual clock, so entries get distinct, known creation times.
const clock = createManualClock(START);
let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp({ clock });
});
afterAll(async () => {
  await testApp?.close();
});

const ref = (prefix = 'ref') => `${prefix}-${randomUUID()}`;

/** A fresh user wallet (credit-normal, may not go negative) on the given app. */
async function newWallet(app: TestApp, currency = 'INR', ownerId: string = randomUUID()) {
  return app.services.ledger.ownerAccount(
    app.database.handle.db,
    { type: 'user', id: ownerId },
    'wallet',
    currency,
  );
}

/** Credits a wallet from external funding (debit external_funding, credit the wallet). */
async function fund(app: TestApp, accountId: string, amountMinor: bigint, currency = 'INR') {
  const source = await app.services.ledger.platformAccount('external_funding', currency);
  return app.services.ledger.post(app.database.handle.db, {
    type: 'deposit',
    idempotencyRef: ref('deposit'),
    postings: [
      { accountId: source, amountMinor },
      { accountId, amountMinor: -amountMinor },
    ],
  });
}

/** Moves money between two credit-normal accounts: debit `from`, credit `to`. */
function transfer(
  app: TestApp,
  executor: Executor,
  from: string,
  to: string,
  amountMinor: bigint,
  idempotencyRef: string = ref('transfer'),
) {
  return app.services.ledger.post(executor, {
    type: 'transfer',
    idempotencyRef,
    postings: [
      { accountId: from, amountMinor },
      { accountId: to, amountMinor: -amountMinor },
    ],
  });
}

async function accountRow(db: Db, id: string) {
  return db.selectFrom('ledgerAccounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function holdRow(db: Db, id: string) {
  return db.selectFrom('ledgerHolds').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function counts(db: Db) {
  const { rows } = await sql<{ entries: bigint; postings: bigint }>`
    SELECT (SELECT count(*) FROM ledger_entries) AS entries, (SELECT count(*) FROM ledger_postings) AS postings`.execute(
    db,
  );
  return { entries: Number(rows[0]?.entries), postings: Number(rows[0]?.postings) };
}

async function entryCount(db: Db, type: LedgerEntryType, idempotencyRef: string) {
  const row = await db
    .selectFrom('ledgerEntries')
    .select((eb) => eb.fn.countAll<bigint>().as('n'))
    .where('type', '=', type)
    .where('idempotencyRef', '=', idempotencyRef)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The promise rejects with an AppError of this status and code. */
async function expectAppError(promise: Promise<unknown>, statusCode: number, code: string) {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error, 'expected a refusal').toBeInstanceOf(AppError);
  expect(error).toMatchObject({ statusCode, code });
}

/** The promise rejects with a database error whose message matches. */
async function expectDbError(promise: Promise<unknown>, message: RegExp, sqlState?: string) {
  const error = (await promise.then(
    () => null,
    (caught: unknown) => caught,
  )) as { message?: string; code?: string } | null;
  expect(error, 'expected the database to refuse').not.toBeNull();
  expect(error).not.toBeInstanceOf(AppError);
  expect(error?.message).toMatch(message);
  if (sqlState !== undefined) expect(error?.code).toBe(sqlState);
}

function sortDifferences<T extends { kind: string; id: string }>(differences: readonly T[]): T[] {
  return [...differences].sort((a, b) => `${a.kind}:${a.id}`.localeCompare(`${b.kind}:${b.id}`));
}

describe('posting rules', () => {
  it('a balanced entry updates debits, credits and balance exactly and records balanceAfter per posting', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const at = clock.now();
    const source = await ledger.platformAccount('external_funding', 'INR');
    const sourceBefore = await accountRow(db, source);
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    expect(alice).toMatchObject({
      ownerType: 'user',
      purpose: 'wallet',
      currency: 'INR',
      shard: 0,
      normalSide: 'credit',
      allowNegative: false,
      debitsMinor: 0n,
      creditsMinor: 0n,
      balanceMinor: 0n,
      heldMinor: 0n,
      status: 'open',
    });

    const depositRef = ref('deposit');
    const deposit = await ledger.post(db, {
      type: 'deposit',
      idempotencyRef: depositRef,
      description: 'sandbox top-up',
      metadata: { source: 'sandbox' },
      postings: [
        { accountId: source, amountMinor: 10_000n },
        { accountId: alice.id, amountMinor: -10_000n },
      ],
    });
    expect(deposit).toEqual({
      entryId: expect.any(String),
      replayed: false,
      postings: [
        { accountId: source, amountMinor: 10_000n, balanceAfterMinor: sourceBefore.balanceMinor + 10_000n },
        { accountId: alice.id, amountMinor: -10_000n, balanceAfterMinor: 10_000n },
      ],
    });

    const move = await transfer(testApp, db, alice.id, bob.id, 2_500n);
    expect(move.postings).toEqual([
      { accountId: alice.id, amountMinor: 2_500n, balanceAfterMinor: 7_500n },
      { accountId: bob.id, amountMinor: -2_500n, balanceAfterMinor: 2_500n },
    ]);

    expect(await accountRow(db, alice.id)).toMatchObject({
      debitsMinor: 2_500n,
      creditsMinor: 10_000n,
      balanceMinor: 7_500n,
      heldMinor: 0n,
    });
    expect(await accountRow(db, bob.id)).toMatchObject({
      debitsMinor: 0n,
      creditsMinor: 2_500n,
      balanceMinor: 2_500n,
    });
    // external_funding is debit-normal: a debit raises its balance.
    expect(await accountRow(db, source)).toMatchObject({
      debitsMinor: sourceBefore.debitsMinor + 10_000n,
      creditsMinor: sourceBefore.creditsMinor,
      balanceMinor: sourceBefore.balanceMinor + 10_000n,
    });

    const entry = await db
      .selectFrom('ledgerEntries')
      .selectAll()
      .where('id', '=', deposit.entryId)
      .executeTakeFirstOrThrow();
    expect(entry).toMatchObject({
      type: 'deposit',
      description: 'sandbox top-up',
      metadata: { source: 'sandbox' },
      idempotencyRef: depositRef,
      reversesEntryId: null,
      createdAt: at,
    });
    const postings = await db
      .selectFrom('ledgerPostings')
      .select(['accountId', 'amountMinor', 'currency', 'balanceAfterMinor', 'createdAt'])
      .where('entryId', '=', move.entryId)
      .orderBy('amountMinor', 'desc')
      .execute();
    expect(postings).toEqual([
      { accountId: alice.id, amountMinor: 2_500n, currency: 'INR', balanceAfterMinor: 7_500n, createdAt: at },
      { accountId: bob.id, amountMinor: -2_500n, currency: 'INR', balanceAfterMinor: 2_500n, createdAt: at },
    ]);
  });

  it('posts the same (type, idempotencyRef) once: the second call is replayed and moves nothing', async () => {
    const db = testApp.database.handle.db;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 5_000n);
    const reference = ref('transfer');

    const first = await transfer(testApp, db, alice.id, bob.id, 1_000n, reference);
    expect(first.replayed).toBe(false);
    const before = await counts(db);
    const second = await transfer(testApp, db, alice.id, bob.id, 1_000n, reference);
    expect(second).toEqual({ entryId: first.entryId, replayed: true, postings: [] });
    // Even with other lines, the reference has been used.
    const third = await transfer(testApp, db, alice.id, bob.id, 3_000n, reference);
    expect(third).toEqual({ entryId: first.entryId, replayed: true, postings: [] });

    expect(await counts(db)).toEqual(before);
    expect(await entryCount(db, 'transfer', reference)).toBe(1);
    expect((await accountRow(db, alice.id)).balanceMinor).toBe(4_000n);
    expect((await accountRow(db, bob.id)).balanceMinor).toBe(1_000n);

    // The reference is unique per type: another type may use it.
    const fee = await testApp.services.ledger.post(db, {
      type: 'fee',
      idempotencyRef: reference,
      postings: [
        { accountId: alice.id, amountMinor: 100n },
        { accountId: bob.id, amountMinor: -100n },
      ],
    });
    expect(fee.replayed).toBe(false);
    expect(fee.entryId).not.toBe(first.entryId);
    expect((await accountRow(db, alice.id)).balanceMinor).toBe(3_900n);
  });

  it('refuses lines that do not sum to zero and writes nothing', async () => {
    const db = testApp.database.handle.db;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 1_000n);
    const before = await counts(db);
    const reference = ref('unbalanced');

    await expectDbError(
      testApp.services.ledger.post(db, {
        type: 'transfer',
        idempotencyRef: reference,
        postings: [
          { accountId: alice.id, amountMinor: 100n },
          { accountId: bob.id, amountMinor: -90n },
        ],
      }),
      /UNBALANCED_ENTRY/,
    );
    expect(await counts(db)).toEqual(before);
    expect(await entryCount(db, 'transfer', reference)).toBe(0);
    expect((await accountRow(db, alice.id)).balanceMinor).toBe(1_000n);
    expect((await accountRow(db, bob.id)).balanceMinor).toBe(0n);
  });

  it('refuses an entry of fewer than two postings, and a posting of zero', async () => {
    const db = testApp.database.handle.db;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 1_000n);
    const before = await counts(db);

    await expectDbError(
      testApp.services.ledger.post(db, {
        type: 'adjustment',
        idempotencyRef: ref('one'),
        postings: [{ accountId: alice.id, amountMinor: 0n }],
      }),
      /UNBALANCED_ENTRY: an entry needs at least two postings/,
    );
    await expectDbError(
      testApp.services.ledger.post(db, { type: 'adjustment', idempotencyRef: ref('none'), postings: [] }),
      /UNBALANCED_ENTRY: an entry needs at least two postings/,
    );
    await expectDbError(
      testApp.services.ledger.post(db, {
        type: 'adjustment',
        idempotencyRef: ref('zero'),
        postings: [
          { accountId: alice.id, amountMinor: 100n },
          { accountId: bob.id, amountMinor: -100n },
          { accountId: bob.id, amountMinor: 0n },
        ],
      }),
      /INVALID_AMOUNT/,
    );
    await expectDbError(
      testApp.services.ledger.post(db, {
        type: 'adjustment',
        idempotencyRef: ref('unknown'),
        postings: [
          { accountId: alice.id, amountMinor: 100n },
          { accountId: randomUUID(), amountMinor: -100n },
        ],
      }),
      /UNKNOWN_ACCOUNT/,
    );
    expect(await counts(db)).toEqual(before);
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 1_000n, debitsMinor: 0n });
  });

  it('refuses (422 INSUFFICIENT_FUNDS) a posting that would take a wallet below zero, writing nothing', async () => {
    const db = testApp.database.handle.db;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 1_000n);
    const aliceBefore = await accountRow(db, alice.id);
    const bobBefore = await accountRow(db, bob.id);
    const before = await counts(db);
    const reference = ref('transfer');

    clock.advance(1_000);
    await expectAppError(
      transfer(testApp, db, alice.id, bob.id, 1_001n, reference),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expect(await accountRow(db, alice.id)).toEqual(aliceBefore);
    expect(await accountRow(db, bob.id)).toEqual(bobBefore);
    expect(await counts(db)).toEqual(before);
    expect(await entryCount(db, 'transfer', reference)).toBe(0);

    // Inside a caller's transaction the refusal is the same AppError, and the transaction rolls back.
    await expectAppError(
      db.transaction().execute((trx) => transfer(testApp, trx, alice.id, bob.id, 5_000n)),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expect(await counts(db)).toEqual(before);

    // The refusal did not use up the reference; the whole balance may be spent, to exactly zero.
    const spent = await transfer(testApp, db, alice.id, bob.id, 1_000n, reference);
    expect(spent.replayed).toBe(false);
    expect(spent.postings[0]).toEqual({ accountId: alice.id, amountMinor: 1_000n, balanceAfterMinor: 0n });
    await expectAppError(transfer(testApp, db, alice.id, bob.id, 1n), 422, 'INSUFFICIENT_FUNDS');
  });

  it('does not let held money be spent: balance 100, hold 60, debit 50 refused, debit 40 accepted', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 100n);
    await ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 60n, reference: ref('hold') });

    await expectAppError(transfer(testApp, db, alice.id, bob.id, 50n), 422, 'INSUFFICIENT_FUNDS');
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 100n, heldMinor: 60n });

    const ok = await transfer(testApp, db, alice.id, bob.id, 40n);
    expect(ok.postings[0]).toEqual({ accountId: alice.id, amountMinor: 40n, balanceAfterMinor: 60n });
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 60n, heldMinor: 60n });
    await expectAppError(transfer(testApp, db, alice.id, bob.id, 1n), 422, 'INSUFFICIENT_FUNDS');
    // Crediting an account whose money is all held is fine.
    await transfer(testApp, db, bob.id, alice.id, 5n);
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 65n, heldMinor: 60n });
  });

  it('refuses (422 ACCOUNT_NOT_OPEN) frozen and closed accounts, debited or credited, until reopened', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 1_000n);
    await fund(testApp, bob.id, 1_000n);

    for (const status of ['frozen', 'closed'] as const) {
      const changed = await ledger.freezeAccount(alice.id, status);
      expect(changed).toMatchObject({ id: alice.id, status });
      const before = await counts(db);
      await expectAppError(transfer(testApp, db, alice.id, bob.id, 10n), 422, 'ACCOUNT_NOT_OPEN');
      await expectAppError(transfer(testApp, db, bob.id, alice.id, 10n), 422, 'ACCOUNT_NOT_OPEN');
      await expectAppError(
        ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 10n, reference: ref('hold') }),
        422,
        'ACCOUNT_NOT_OPEN',
      );
      expect(await counts(db)).toEqual(before);
      expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 1_000n, heldMinor: 0n });
      expect(await accountRow(db, bob.id)).toMatchObject({ balanceMinor: 1_000n });
    }

    expect(await ledger.freezeAccount(alice.id, 'open')).toMatchObject({ status: 'open' });
    await transfer(testApp, db, alice.id, bob.id, 10n);
    expect((await accountRow(db, alice.id)).balanceMinor).toBe(990n);
  });

  it('accepts a multi-currency entry balanced per currency and refuses a per-currency imbalance', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const ownerId = randomUUID();
    const rupees = await newWallet(testApp, 'INR', ownerId);
    const dollars = await newWallet(testApp, 'USD', ownerId);
    await fund(testApp, rupees.id, 100_000n, 'INR');
    const fxInr = await ledger.platformAccount('fx', 'INR');
    const fxUsd = await ledger.platformAccount('fx', 'USD');
    const fxInrBefore = await accountRow(db, fxInr);
    const fxUsdBefore = await accountRow(db, fxUsd);

    // A swap: 8,350.00 INR out of the rupee wallet, 100.00 USD into the dollar wallet.
    const swap = await ledger.post(db, {
      type: 'swap',
      idempotencyRef: ref('swap'),
      postings: [
        { accountId: rupees.id, amountMinor: 835_00n },
        { accountId: fxInr, amountMinor: -835_00n },
        { accountId: fxUsd, amountMinor: 100_00n },
        { accountId: dollars.id, amountMinor: -100_00n },
      ],
    });
    expect(swap.postings).toEqual([
      { accountId: rupees.id, amountMinor: 835_00n, balanceAfterMinor: 165_00n },
      { accountId: fxInr, amountMinor: -835_00n, balanceAfterMinor: fxInrBefore.balanceMinor - 835_00n },
      { accountId: fxUsd, amountMinor: 100_00n, balanceAfterMinor: fxUsdBefore.balanceMinor + 100_00n },
      { accountId: dollars.id, amountMinor: -100_00n, balanceAfterMinor: 100_00n },
    ]);
    const currencies = await db
      .selectFrom('ledgerPostings')
      .select(['accountId', 'currency'])
      .where('entryId', '=', swap.entryId)
      .execute();
    expect(Object.fromEntries(currencies.map((row) => [row.accountId, row.currency]))).toEqual({
      [rupees.id]: 'INR',
      [fxInr]: 'INR',
      [fxUsd]: 'USD',
      [dollars.id]: 'USD',
    });

    // Zero overall, but not per currency.
    const before = await counts(db);
    await expectDbError(
      ledger.post(db, {
        type: 'swap',
        idempotencyRef: ref('swap'),
        postings: [
          { accountId: rupees.id, amountMinor: 500n },
          { accountId: dollars.id, amountMinor: -500n },
        ],
      }),
      /UNBALANCED_ENTRY/,
    );
    expect(await counts(db)).toEqual(before);
    expect((await accountRow(db, rupees.id)).balanceMinor).toBe(165_00n);
    expect((await accountRow(db, dollars.id)).balanceMinor).toBe(100_00n);
  });

  it('lets a platform account that allows it go below zero', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const fees = await ledger.platformAccount('fees_revenue', 'EUR');
    const before = await accountRow(db, fees);
    expect(before).toMatchObject({
      ownerType: 'platform',
      ownerId: null,
      normalSide: 'credit',
      allowNegative: true,
    });
    const wallet = await newWallet(testApp, 'EUR');
    const refund = await ledger.post(db, {
      type: 'adjustment',
      idempotencyRef: ref('refund'),
      postings: [
        { accountId: fees, amountMinor: 7_00n },
        { accountId: wallet.id, amountMinor: -7_00n },
      ],
    });
    expect(refund.postings[0]).toEqual({
      accountId: fees,
      amountMinor: 7_00n,
      balanceAfterMinor: before.balanceMinor - 7_00n,
    });
    expect((await accountRow(db, fees)).balanceMinor).toBe(before.balanceMinor - 7_00n);
  });

  it('records a reversing entry that points at the original, at most once per original', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    await fund(testApp, alice.id, 1_000n);
    const original = await transfer(testApp, db, alice.id, bob.id, 300n);
    const reversal = await ledger.post(db, {
      type: 'reversal',
      idempotencyRef: `reversal-of-${original.entryId}`,
      reversesEntryId: original.entryId,
      postings: [
        { accountId: bob.id, amountMinor: 300n },
        { accountId: alice.id, amountMinor: -300n },
      ],
    });
    const row = await db
      .selectFrom('ledgerEntries')
      .select(['type', 'reversesEntryId'])
      .where('id', '=', reversal.entryId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ type: 'reversal', reversesEntryId: original.entryId });
    expect((await accountRow(db, alice.id)).balanceMinor).toBe(1_000n);
    expect((await accountRow(db, bob.id)).balanceMinor).toBe(0n);

    await expectDbError(
      ledger.post(db, {
        type: 'adjustment',
        idempotencyRef: ref('second-reversal'),
        reversesEntryId: original.entryId,
        postings: [
          { accountId: alice.id, amountMinor: 1n },
          { accountId: bob.id, amountMinor: -1n },
        ],
      }),
      /ledger_entries_reversal_key/,
      '23505',
    );
  });
});

describe('database enforcement', () => {
  let entryId: string;
  let walletId: string;
  beforeAll(async () => {
    const alice = await newWallet(testApp);
    const bob = await newWallet(testApp);
    walletId = bob.id;
    await fund(testApp, alice.id, 500n);
    entryId = (await transfer(testApp, testApp.database.handle.db, alice.id, bob.id, 200n)).entryId;
  });

  it('refuses UPDATE, DELETE and TRUNCATE of ledger_entries', async () => {
    const db = testApp.database.handle.db;
    const before = await counts(db);
    await expectDbError(
      sql`UPDATE ledger_entries SET description = 'edited' WHERE id = ${entryId}`.execute(db),
      /ledger_entries is append-only: UPDATE refused/,
      '42501',
    );
    await expectDbError(
      sql`DELETE FROM ledger_entries WHERE id = ${entryId}`.execute(db),
      /ledger_entries is append-only: DELETE refused/,
      '42501',
    );
    await expectDbError(
      sql`TRUNCATE ledger_entries CASCADE`.execute(db),
      /is append-only: TRUNCATE refused/,
      '42501',
    );
    expect(await counts(db)).toEqual(before);
    const row = await db
      .selectFrom('ledgerEntries')
      .select('description')
      .where('id', '=', entryId)
      .executeTakeFirstOrThrow();
    expect(row.description).toBe('');
  });

  it('refuses UPDATE, DELETE and TRUNCATE of ledger_postings', async () => {
    const db = testApp.database.handle.db;
    const before = await counts(db);
    await expectDbError(
      sql`UPDATE ledger_postings SET amount_minor = amount_minor * 2 WHERE entry_id = ${entryId}`.execute(db),
      /ledger_postings is append-only: UPDATE refused/,
      '42501',
    );
    await expectDbError(
      sql`DELETE FROM ledger_postings WHERE entry_id = ${entryId}`.execute(db),
      /ledger_postings is append-only: DELETE refused/,
      '42501',
    );
    await expectDbError(
      sql`TRUNCATE ledger_postings`.execute(db),
      /ledger_postings is append-only: TRUNCATE refused/,
      '42501',
    );
    expect(await counts(db)).toEqual(before);
    const amounts = await db
      .selectFrom('ledgerPostings')
      .select('amountMinor')
      .where('entryId', '=', entryId)
      .orderBy('amountMinor')
      .execute();
    expect(amounts.map((row) => row.amountMinor)).toEqual([-200n, 200n]);
  });

  it('refuses at COMMIT a raw insert of an entry whose postings do not balance (deferred trigger)', async () => {
    const db = testApp.database.handle.db;
    const before = await counts(db);
    const rawEntry = randomUUID();
    let statementsAccepted = false;
    await expectDbError(
      db.transaction().execute(async (trx) => {
        await sql`INSERT INTO ledger_entries (id, type, idempotency_ref) VALUES (${rawEntry}, 'adjustment', ${ref('raw')})`.execute(
          trx,
        );
        await sql`INSERT INTO ledger_postings (id, entry_id, account_id, amount_minor, currency, balance_after_minor)
          VALUES (${randomUUID()}, ${rawEntry}, ${walletId}, 100, 'INR', 100)`.execute(trx);
        statementsAccepted = true;
      }),
      /UNBALANCED_ENTRY/,
      '23514',
    );
    // Each statement was accepted; the check ran at commit.
    expect(statementsAccepted).toBe(true);
    expect(await counts(db)).toEqual(before);
    expect(
      await db.selectFrom('ledgerEntries').select('id').where('id', '=', rawEntry).executeTakeFirst(),
    ).toBeUndefined();

    // A balanced pair passes the same check (run early with SET CONSTRAINTS, then rolled back).
    const sentinel = new Error('roll back');
    const balanced = db.transaction().execute(async (trx) => {
      const id = randomUUID();
      await sql`INSERT INTO ledger_entries (id, type, idempotency_ref) VALUES (${id}, 'adjustment', ${ref('raw')})`.execute(
        trx,
      );
      await sql`INSERT INTO ledger_postings (id, entry_id, account_id, amount_minor, currency, balance_after_minor)
        VALUES (${randomUUID()}, ${id}, ${walletId}, 100, 'INR', 100),
               (${randomUUID()}, ${id}, ${walletId}, -100, 'INR', 200)`.execute(trx);
      await sql`SET CONSTRAINTS ALL IMMEDIATE`.execute(trx);
      throw sentinel;
    });
    await expect(balanced).rejects.toBe(sentinel);
    expect(await counts(db)).toEqual(before);
  });

  it('refuses account rows whose totals are inconsistent (CHECK constraints)', async () => {
    const db = testApp.database.handle.db;
    const wallet = await newWallet(testApp);
    await fund(testApp, wallet.id, 1_000n);
    const before = await accountRow(db, wallet.id);

    // balance must equal credits - debits for a credit-normal account
    await expectDbError(
      sql`UPDATE ledger_accounts SET balance_minor = balance_minor + 1 WHERE id = ${wallet.id}`.execute(db),
      /ledger_accounts_check/,
      '23514',
    );
    await expectDbError(
      sql`UPDATE ledger_accounts SET credits_minor = credits_minor + 5 WHERE id = ${wallet.id}`.execute(db),
      /ledger_accounts_check/,
      '23514',
    );
    // a wallet may not hold more than its balance, nor go negative
    await expectDbError(
      sql`UPDATE ledger_accounts SET held_minor = 1001 WHERE id = ${wallet.id}`.execute(db),
      /check constraint/,
      '23514',
    );
    await expectDbError(
      sql`UPDATE ledger_accounts SET debits_minor = 2000, balance_minor = -1000 WHERE id = ${wallet.id}`.execute(
        db,
      ),
      /check constraint/,
      '23514',
    );
    await expectDbError(
      sql`UPDATE ledger_accounts SET debits_minor = -1, credits_minor = 999 WHERE id = ${wallet.id}`.execute(
        db,
      ),
      /ledger_accounts_debits_minor_check/,
      '23514',
    );
    // a platform account has no owner, an owner's account has one
    await expectDbError(
      sql`UPDATE ledger_accounts SET owner_id = NULL WHERE id = ${wallet.id}`.execute(db),
      /check constraint/,
      '23514',
    );
    expect(await accountRow(db, wallet.id)).toEqual(before);

    // A consistent change of all three passes the CHECKs (only verify can tell it from the postings).
    const fine = sql`UPDATE ledger_accounts SET credits_minor = credits_minor + 5, balance_minor = balance_minor + 5
      WHERE id = ${wallet.id}`;
    const sentinel = new Error('roll back');
    await expect(
      db.transaction().execute(async (trx) => {
        await fine.execute(trx);
        throw sentinel;
      }),
    ).rejects.toBe(sentinel);
  });
});

describe('holds', () => {
  let alice: { id: string };
  let bob: { id: string };
  beforeEach(async () => {
    alice = await newWallet(testApp);
    bob = await newWallet(testApp);
    await fund(testApp, alice.id, 10_000n);
  });

  it('authorize reduces the available balance, not the balance, and writes no entry', async () => {
    const db = testApp.database.handle.db;
    const before = await counts(db);
    const reference = ref('session');
    const hold = await testApp.services.ledger.authorizeHold(db, {
      accountId: alice.id,
      amountMinor: 3_000n,
      reference,
    });
    expect(hold).toEqual({
      id: expect.any(String),
      accountId: alice.id,
      amountMinor: 3_000n,
      capturedMinor: 0n,
      status: 'active',
      reference,
      expiresAt: null,
      createdAt: clock.now(),
      updatedAt: clock.now(),
    });
    expect(await holdRow(db, hold.id)).toMatchObject({ status: 'active', amountMinor: 3_000n });
    expect(await accountRow(db, alice.id)).toMatchObject({
      balanceMinor: 10_000n,
      heldMinor: 3_000n,
      debitsMinor: 0n,
      creditsMinor: 10_000n,
    });
    expect(await counts(db)).toEqual(before);
  });

  it('refuses (INSUFFICIENT_FUNDS) a hold above the available balance; exactly the available is fine', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    await ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 3_000n, reference: ref('a') });
    await expectAppError(
      ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 7_001n, reference: ref('b') }),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expect((await accountRow(db, alice.id)).heldMinor).toBe(3_000n);
    expect(
      await db.selectFrom('ledgerHolds').select('id').where('accountId', '=', alice.id).execute(),
    ).toHaveLength(1);
    await ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 7_000n, reference: ref('c') });
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 10_000n, heldMinor: 10_000n });
    await expectAppError(
      ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 1n, reference: ref('d') }),
      422,
      'INSUFFICIENT_FUNDS',
    );
  });

  it('captures part, then more, refuses more than remains (CAPTURE_EXCEEDS_HOLD), completes when all is captured', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const hold = await ledger.authorizeHold(db, {
      accountId: alice.id,
      amountMinor: 5_000n,
      reference: ref('h'),
    });

    const first = await ledger.captureHold(db, {
      holdId: hold.id,
      amountMinor: 2_000n,
      toAccountId: bob.id,
      idempotencyRef: ref('cap'),
    });
    expect(first.hold).toMatchObject({ id: hold.id, capturedMinor: 2_000n, status: 'active' });
    expect(first.entry).toEqual({
      entryId: expect.any(String),
      replayed: false,
      postings: [
        { accountId: alice.id, amountMinor: 2_000n, balanceAfterMinor: 8_000n },
        { accountId: bob.id, amountMinor: -2_000n, balanceAfterMinor: 2_000n },
      ],
    });
    const entry = await db
      .selectFrom('ledgerEntries')
      .select(['type', 'metadata'])
      .where('id', '=', first.entry.entryId)
      .executeTakeFirstOrThrow();
    expect(entry).toEqual({ type: 'capture', metadata: { holdId: hold.id } });
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 8_000n, heldMinor: 3_000n });

    const second = await ledger.captureHold(db, {
      holdId: hold.id,
      amountMinor: 1_000n,
      toAccountId: bob.id,
      idempotencyRef: ref('cap'),
    });
    expect(second.hold).toMatchObject({ capturedMinor: 3_000n, status: 'active' });
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 7_000n, heldMinor: 2_000n });

    const before = await counts(db);
    for (const amountMinor of [2_001n, 0n, -5n]) {
      await expectAppError(
        ledger.captureHold(db, {
          holdId: hold.id,
          amountMinor,
          toAccountId: bob.id,
          idempotencyRef: ref('cap'),
        }),
        422,
        'CAPTURE_EXCEEDS_HOLD',
      );
    }
    expect(await counts(db)).toEqual(before);
    expect(await holdRow(db, hold.id)).toMatchObject({ capturedMinor: 3_000n, status: 'active' });
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 7_000n, heldMinor: 2_000n });

    const last = await ledger.captureHold(db, {
      holdId: hold.id,
      amountMinor: 2_000n,
      toAccountId: bob.id,
      idempotencyRef: ref('cap'),
    });
    expect(last.hold).toMatchObject({ capturedMinor: 5_000n, status: 'captured' });
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 5_000n, heldMinor: 0n });
    expect(await accountRow(db, bob.id)).toMatchObject({ balanceMinor: 5_000n });

    await expectAppError(
      ledger.captureHold(db, {
        holdId: hold.id,
        amountMinor: 1n,
        toAccountId: bob.id,
        idempotencyRef: ref('cap'),
      }),
      409,
      'HOLD_NOT_ACTIVE',
    );
    await expectAppError(ledger.voidHold(db, hold.id), 409, 'HOLD_NOT_ACTIVE');
  });

  it('void releases what the hold has left; a voided hold can be neither captured nor voided (409)', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const hold = await ledger.authorizeHold(db, {
      accountId: alice.id,
      amountMinor: 4_000n,
      reference: ref('h'),
    });
    await ledger.captureHold(db, {
      holdId: hold.id,
      amountMinor: 1_500n,
      toAccountId: bob.id,
      idempotencyRef: ref('cap'),
    });
    const before = await counts(db);
    const voided = await ledger.voidHold(db, hold.id);
    expect(voided).toMatchObject({
      id: hold.id,
      amountMinor: 4_000n,
      capturedMinor: 1_500n,
      status: 'voided',
    });
    expect(await counts(db)).toEqual(before);
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 8_500n, heldMinor: 0n });

    await expectAppError(ledger.voidHold(db, hold.id), 409, 'HOLD_NOT_ACTIVE');
    await expectAppError(
      ledger.captureHold(db, {
        holdId: hold.id,
        amountMinor: 1n,
        toAccountId: bob.id,
        idempotencyRef: ref('cap'),
      }),
      409,
      'HOLD_NOT_ACTIVE',
    );
    await expectAppError(ledger.voidHold(db, randomUUID()), 404, 'HOLD_NOT_FOUND');
    expect(await accountRow(db, alice.id)).toMatchObject({ balanceMinor: 8_500n, heldMinor: 0n });
  });

  it('returns the same hold for the same reference on an account, without holding twice', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const reference = ref('session');
    const first = await ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 1_000n, reference });
    const again = await ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 1_000n, reference });
    const different = await ledger.authorizeHold(db, { accountId: alice.id, amountMinor: 2_500n, reference });
    expect(again).toEqual(first);
    expect(different).toEqual(first);
    expect((await accountRow(db, alice.id)).heldMinor).toBe(1_000n);

    // The reference is per account.
    await fund(testApp, bob.id, 1_000n);
    const other = await ledger.authorizeHold(db, { accountId: bob.id, amountMinor: 1_000n, reference });
    expect(other.id).not.toBe(first.id);
    expect((await accountRow(db, bob.id)).heldMinor).toBe(1_000n);
  });
});

describe('holds on a database of their own (expiry sweep, atomic capture)', () => {
  const holdClock = createManualClock(new Date('2031-01-15T12:00:00.000Z'));
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ clock: holdClock });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('the expiry sweep expires holds past their expiry, restores availability, and leaves the rest', async () => {
    const db = app.database.handle.db;
    const { ledger } = app.services;
    const wallet = await newWallet(app);
    const payee = await newWallet(app);
    await fund(app, wallet.id, 10_000n);
    const at = holdClock.now().getTime();
    const soon = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 2_000n,
      reference: 'soon',
      expiresAt: new Date(at + 10 * 60_000),
    });
    const partly = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 3_000n,
      reference: 'partly',
      expiresAt: new Date(at + 10 * 60_000),
    });
    await ledger.captureHold(db, {
      holdId: partly.id,
      amountMinor: 1_000n,
      toAccountId: payee.id,
      idempotencyRef: 'partly-1',
    });
    const later = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 1_500n,
      reference: 'later',
      expiresAt: new Date(at + 60 * 60_000),
    });
    const never = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 500n,
      reference: 'never',
    });
    expect(await accountRow(db, wallet.id)).toMatchObject({ balanceMinor: 9_000n, heldMinor: 6_000n });

    holdClock.advance(10 * 60_000 - 1);
    expect(await ledger.expireHolds()).toBe(0);
    expect((await accountRow(db, wallet.id)).heldMinor).toBe(6_000n);

    holdClock.advance(1);
    const before = await counts(db);
    expect(await ledger.expireHolds()).toBe(2);
    expect(await counts(db)).toEqual(before);
    expect(await holdRow(db, soon.id)).toMatchObject({ status: 'expired', capturedMinor: 0n });
    expect(await holdRow(db, partly.id)).toMatchObject({ status: 'expired', capturedMinor: 1_000n });
    expect(await holdRow(db, later.id)).toMatchObject({ status: 'active' });
    expect(await holdRow(db, never.id)).toMatchObject({ status: 'active' });
    // 2,000 and the 2,000 left of `partly` are available again.
    expect(await accountRow(db, wallet.id)).toMatchObject({ balanceMinor: 9_000n, heldMinor: 2_000n });

    await expectAppError(
      ledger.captureHold(db, {
        holdId: soon.id,
        amountMinor: 1n,
        toAccountId: payee.id,
        idempotencyRef: 'x',
      }),
      409,
      'HOLD_NOT_ACTIVE',
    );
    await expectAppError(ledger.voidHold(db, partly.id), 409, 'HOLD_NOT_ACTIVE');
    expect(await ledger.expireHolds()).toBe(0);

    holdClock.advance(60 * 60_000);
    expect(await ledger.expireHolds()).toBe(1);
    expect(await holdRow(db, later.id)).toMatchObject({ status: 'expired' });
    expect(await holdRow(db, never.id)).toMatchObject({ status: 'active' });
    expect(await accountRow(db, wallet.id)).toMatchObject({ balanceMinor: 9_000n, heldMinor: 500n });
    expect((await ledger.verify()).differences).toEqual([]);
  });

  it('a capture refused inside a transaction leaves the hold and the account as they were', async () => {
    const db = app.database.handle.db;
    const { ledger } = app.services;
    const wallet = await newWallet(app);
    const payee = await newWallet(app);
    await fund(app, wallet.id, 1_000n);
    const hold = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 600n,
      reference: ref('h'),
    });
    await ledger.freezeAccount(payee.id, 'frozen');
    await expectAppError(
      db.transaction().execute((trx) =>
        ledger.captureHold(trx, {
          holdId: hold.id,
          amountMinor: 600n,
          toAccountId: payee.id,
          idempotencyRef: ref(),
        }),
      ),
      422,
      'ACCOUNT_NOT_OPEN',
    );
    expect(await holdRow(db, hold.id)).toMatchObject({ status: 'active', capturedMinor: 0n });
    expect(await accountRow(db, wallet.id)).toMatchObject({ balanceMinor: 1_000n, heldMinor: 600n });
    expect((await ledger.verify()).differences).toEqual([]);
  });

  it('a capture refused on the pool executor leaves the hold and the account as they were', async () => {
    const db = app.database.handle.db;
    const { ledger } = app.services;
    const wallet = await newWallet(app);
    const payee = await newWallet(app);
    await fund(app, wallet.id, 1_000n);
    const hold = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 600n,
      reference: ref('h'),
    });
    await ledger.freezeAccount(payee.id, 'closed');
    await expectAppError(
      ledger.captureHold(db, {
        holdId: hold.id,
        amountMinor: 600n,
        toAccountId: payee.id,
        idempotencyRef: ref(),
      }),
      422,
      'ACCOUNT_NOT_OPEN',
    );
    expect(await holdRow(db, hold.id)).toMatchObject({ status: 'active', capturedMinor: 0n });
    expect(await accountRow(db, wallet.id)).toMatchObject({ balanceMinor: 1_000n, heldMinor: 600n });
    const report = await ledger.verify();
    expect(report.differences.filter((difference) => difference.id === wallet.id)).toEqual([]);
  });

  it('a capture retried with the same idempotencyRef moves nothing more and leaves the hold as it was', async () => {
    const db = app.database.handle.db;
    const { ledger } = app.services;
    const wallet = await newWallet(app);
    const payee = await newWallet(app);
    await fund(app, wallet.id, 1_000n);
    const hold = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 800n,
      reference: ref('h'),
    });
    const captureRef = ref('capture');
    const capture = () =>
      db.transaction().execute((trx) =>
        ledger.captureHold(trx, {
          holdId: hold.id,
          amountMinor: 300n,
          toAccountId: payee.id,
          idempotencyRef: captureRef,
        }),
      );
    const first = await capture();
    expect(first.hold).toMatchObject({ capturedMinor: 300n, status: 'active' });
    const retried = await capture();
    expect(retried.entry).toMatchObject({ entryId: first.entry.entryId, replayed: true });

    // Only 300 left the wallet, so only 300 of the hold may be used up: 500 stay held.
    expect(await holdRow(db, hold.id)).toMatchObject({ capturedMinor: 300n, status: 'active' });
    expect(await accountRow(db, wallet.id)).toMatchObject({ balanceMinor: 700n, heldMinor: 500n });
    expect(await accountRow(db, payee.id)).toMatchObject({ balanceMinor: 300n });
  });
});

describe('verify, on a database of its own', () => {
  let app: TestApp;
  let admin: Account;
  let user: Account;
  let wallets: { id: string }[];
  let dataDir: string;

  beforeAll(async () => {
    app = await createTestApp();
    admin = await createAccount(app, 'admin');
    user = await createAccount(app, 'user');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tijori-ledger-verify-'));
    const db = app.database.handle.db;
    wallets = [await newWallet(app), await newWallet(app), await newWallet(app)];
    const [a, b, c] = wallets as [{ id: string }, { id: string }, { id: string }];
    await fund(app, a.id, 5_000n);
    await fund(app, b.id, 3_000n);
    await fund(app, c.id, 1_000n);
    await transfer(app, db, a.id, b.id, 1_200n);
    await transfer(app, db, b.id, c.id, 700n);
    await app.services.ledger.authorizeHold(db, { accountId: a.id, amountMinor: 800n, reference: 'held' });
  });
  afterAll(async () => {
    await app?.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  /** `npm run ledger:verify` against this file's database. */
  function runVerifyScript(): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/ledger-verify.ts'], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          DATABASE_URL: app.database.connectionString,
          NODE_ENV: 'development',
          DATA_DIR: dataDir,
          LOG_LEVEL: 'silent',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('reports a healthy ledger as ok, with its counts', async () => {
    // 3 wallets and the shards of external_funding INR; 3 deposits and 2 transfers.
    expect(await app.services.ledger.verify()).toEqual({
      ok: true,
      accountsChecked: 3 + PLATFORM_ACCOUNT_SHARDS,
      entriesChecked: 5,
      differences: [],
    });
  });

  it('GET /admin/ledger/verify returns the same report to an admin; 403 for a user, 401 anonymous', async () => {
    const reply = await admin.client.get('/api/v1/admin/ledger/verify');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({
      success: true,
      data: { ok: true, accountsChecked: 3 + PLATFORM_ACCOUNT_SHARDS, entriesChecked: 5, differences: [] },
    });
    expectError(await user.client.get('/api/v1/admin/ledger/verify'), 403, 'FORBIDDEN');
    expectError(await client(app.app).get('/api/v1/admin/ledger/verify'), 401, 'UNAUTHORIZED');
  });

  it('npm run ledger:verify exits 0 and prints ok: true on a good ledger', async () => {
    const run = await runVerifyScript();
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      ok: true,
      accountsChecked: 3 + PLATFORM_ACCOUNT_SHARDS,
      entriesChecked: 5,
      differences: [],
    });
  });

  it('detects an account whose stored totals differ from its postings', async () => {
    const db = app.database.handle.db;
    const [a] = wallets as [{ id: string }];
    // a: credited 5,000, debited 1,200; stored as if credited 6,000.
    await sql`UPDATE ledger_accounts SET credits_minor = credits_minor + 1000, balance_minor = balance_minor + 1000
      WHERE id = ${a.id}`.execute(db);
    try {
      expect(await app.services.ledger.verify()).toEqual({
        ok: false,
        accountsChecked: 3 + PLATFORM_ACCOUNT_SHARDS,
        entriesChecked: 5,
        differences: [
          {
            kind: 'account_totals',
            id: a.id,
            detail:
              'stored debits 1200 credits 6000 balance 4800; postings give debits 1200 credits 5000 balance 3800',
          },
        ],
      });
    } finally {
      await sql`UPDATE ledger_accounts SET credits_minor = credits_minor - 1000, balance_minor = balance_minor - 1000
        WHERE id = ${a.id}`.execute(db);
    }
    expect((await app.services.ledger.verify()).ok).toBe(true);
  });

  it('detects a held amount that differs from the active holds', async () => {
    const db = app.database.handle.db;
    const [a, b] = wallets as [{ id: string }, { id: string }];
    await sql`UPDATE ledger_accounts SET held_minor = held_minor + 250 WHERE id IN (${a.id}, ${b.id})`.execute(
      db,
    );
    try {
      const report = await app.services.ledger.verify();
      expect(report.ok).toBe(false);
      expect(sortDifferences(report.differences)).toEqual(
        sortDifferences([
          { kind: 'account_held', id: a.id, detail: 'stored held 1050; active holds give 800' },
          { kind: 'account_held', id: b.id, detail: 'stored held 250; active holds give 0' },
        ]),
      );
    } finally {
      await sql`UPDATE ledger_accounts SET held_minor = held_minor - 250 WHERE id IN (${a.id}, ${b.id})`.execute(
        db,
      );
    }
    expect((await app.services.ledger.verify()).ok).toBe(true);
  });

  it('detects unbalanced entries and a ledger that does not sum to zero per currency; the script then exits 1', async () => {
    const db = app.database.handle.db;
    const [, b, c] = wallets as [{ id: string }, { id: string }, { id: string }];
    const dollars = await newWallet(app, 'USD');
    const oneSided = randomUUID();
    const crossCurrency = randomUUID();
    // Triggers off (the append-only and balance checks), as only a superuser could; account totals
    // kept in step with the postings so that only the entries are wrong.
    await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL session_replication_role = replica`.execute(trx);
      await sql`INSERT INTO ledger_entries (id, type, idempotency_ref) VALUES
        (${oneSided}, 'adjustment', 'one-sided'), (${crossCurrency}, 'adjustment', 'cross-currency')`.execute(
        trx,
      );
      await sql`INSERT INTO ledger_postings (id, entry_id, account_id, amount_minor, currency, balance_after_minor) VALUES
        (${randomUUID()}, ${oneSided}, ${c.id}, 700, 'INR', 1000),
        (${randomUUID()}, ${crossCurrency}, ${b.id}, -300, 'INR', 3800),
        (${randomUUID()}, ${crossCurrency}, ${dollars.id}, 300, 'USD', -300)`.execute(trx);
      await sql`UPDATE ledger_accounts SET debits_minor = debits_minor + 700, balance_minor = balance_minor - 700
        WHERE id = ${c.id}`.execute(trx);
      await sql`UPDATE ledger_accounts SET credits_minor = credits_minor + 300, balance_minor = balance_minor + 300
        WHERE id = ${b.id}`.execute(trx);
      await sql`UPDATE ledger_accounts SET allow_negative = true, debits_minor = 300, balance_minor = -300
        WHERE id = ${dollars.id}`.execute(trx);
    });

    const expected = {
      ok: false,
      accountsChecked: 4 + PLATFORM_ACCOUNT_SHARDS,
      entriesChecked: 7,
      differences: sortDifferences([
        { kind: 'entry_unbalanced', id: oneSided, detail: '1 postings; sums per currency: INR 700' },
        {
          kind: 'entry_unbalanced',
          id: crossCurrency,
          detail: expect.stringMatching(
            /^2 postings; sums per currency: (INR -300, USD 300|USD 300, INR -300)$/,
          ),
        },
        { kind: 'ledger_unbalanced', id: 'INR', detail: 'postings sum to 400' },
        { kind: 'ledger_unbalanced', id: 'USD', detail: 'postings sum to 300' },
      ]),
    };
    const report = await app.services.ledger.verify();
    expect({ ...report, differences: sortDifferences(report.differences) }).toEqual(expected);

    const reply = await admin.client.get('/api/v1/admin/ledger/verify');
    expect(reply.statusCode, reply.body).toBe(200);
    const data = reply.json().data;
    expect({ ...data, differences: sortDifferences(data.differences) }).toEqual(expected);

    const run = await runVerifyScript();
    expect(run.code, run.stderr).toBe(1);
    const printed = JSON.parse(run.stdout);
    expect({ ...printed, differences: sortDifferences(printed.differences) }).toEqual(expected);
  });
});

describe('admin browse', () => {
  let admin: Account;
  let user: Account;
  const ownerId = randomUUID();
  const merchantId = randomUUID();
  let inr: { id: string };
  let usd: { id: string };
  let eur: { id: string };
  let payable: { id: string };
  let peer: { id: string };
  let deposit: { entryId: string };
  let firstTransfer: { entryId: string };
  let secondTransfer: { entryId: string };
  const depositRef = ref('browse-deposit');
  let depositAt: Date;

  beforeAll(async () => {
    admin = await createAccount(testApp, 'admin');
    user = await createAccount(testApp, 'user');
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    inr = await newWallet(testApp, 'INR', ownerId);
    usd = await newWallet(testApp, 'USD', ownerId);
    eur = await newWallet(testApp, 'EUR', ownerId);
    payable = await ledger.ownerAccount(db, { type: 'merchant', id: merchantId }, 'merchant_payable', 'INR');
    peer = await newWallet(testApp);

    clock.advance(60_000);
    depositAt = clock.now();
    const source = await ledger.platformAccount('external_funding', 'INR');
    deposit = await ledger.post(db, {
      type: 'deposit',
      idempotencyRef: depositRef,
      description: 'browse deposit',
      metadata: { channel: 'sandbox' },
      postings: [
        { accountId: source, amountMinor: 5_000n },
        { accountId: inr.id, amountMinor: -5_000n },
      ],
    });
    clock.advance(1_000);
    firstTransfer = await transfer(testApp, db, inr.id, peer.id, 1_000n);
    clock.advance(1_000);
    secondTransfer = await transfer(testApp, db, peer.id, inr.id, 400n);
    clock.advance(1_000);
    await transfer(testApp, db, peer.id, payable.id, 100n);
    await ledger.authorizeHold(db, { accountId: inr.id, amountMinor: 1_200n, reference: 'browse-hold' });
  });

  it('lists accounts by owner, newest first, in minor units with the available balance', async () => {
    const reply = await admin.client.get(`/api/v1/admin/ledger/accounts?ownerId=${ownerId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    const { accounts, pagination } = reply.json().data;
    expect(pagination).toEqual({ current: 1, total: 1, count: 3, totalRecords: 3 });
    expect(accounts.map((row: { id: string }) => row.id)).toEqual([eur.id, usd.id, inr.id]);
    expect(accounts[2]).toEqual({
      id: inr.id,
      ownerType: 'user',
      ownerId,
      purpose: 'wallet',
      currency: 'INR',
      shard: 0,
      normalSide: 'credit',
      allowNegative: false,
      debitsMinor: '1000',
      creditsMinor: '5400',
      balanceMinor: '4400',
      heldMinor: '1200',
      availableMinor: '3200',
      status: 'open',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
  });

  it('filters accounts by currency and purpose, and pages them', async () => {
    const byCurrency = await admin.client.get(
      `/api/v1/admin/ledger/accounts?ownerId=${ownerId}&currency=USD`,
    );
    expect(byCurrency.statusCode, byCurrency.body).toBe(200);
    expect(byCurrency.json().data.accounts.map((row: { id: string }) => row.id)).toEqual([usd.id]);

    const byPurpose = await admin.client.get('/api/v1/admin/ledger/accounts?purpose=merchant_payable');
    expect(byPurpose.statusCode, byPurpose.body).toBe(200);
    const payables = byPurpose.json().data.accounts;
    expect(payables.every((row: { purpose: string }) => row.purpose === 'merchant_payable')).toBe(true);
    expect(payables.find((row: { id: string }) => row.id === payable.id)).toMatchObject({
      ownerType: 'merchant',
      ownerId: merchantId,
      balanceMinor: '100',
      availableMinor: '100',
    });

    const platform = await admin.client.get(
      '/api/v1/admin/ledger/accounts?purpose=external_funding&currency=INR',
    );
    expect(platform.json().data.pagination.totalRecords).toBe(PLATFORM_ACCOUNT_SHARDS);

    const page1 = await admin.client.get(`/api/v1/admin/ledger/accounts?ownerId=${ownerId}&limit=2`);
    expect(page1.json().data.accounts.map((row: { id: string }) => row.id)).toEqual([eur.id, usd.id]);
    expect(page1.json().data.pagination).toEqual({ current: 1, total: 2, count: 2, totalRecords: 3 });
    const page2 = await admin.client.get(`/api/v1/admin/ledger/accounts?ownerId=${ownerId}&limit=2&page=2`);
    expect(page2.json().data.accounts.map((row: { id: string }) => row.id)).toEqual([inr.id]);
    expect(page2.json().data.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 3 });

    const none = await admin.client.get(`/api/v1/admin/ledger/accounts?ownerId=${randomUUID()}`);
    expect(none.json().data).toEqual({
      accounts: [],
      pagination: { current: 1, total: 0, count: 0, totalRecords: 0 },
    });

    expectError(
      await admin.client.get('/api/v1/admin/ledger/accounts?purpose=savings'),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await admin.client.get('/api/v1/admin/ledger/accounts?currency=inr'),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await admin.client.get('/api/v1/admin/ledger/accounts?ownerId=nope'),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('lists an account’s entries with their postings, newest first, filtered by type and paged', async () => {
    const reply = await admin.client.get(`/api/v1/admin/ledger/entries?accountId=${inr.id}`);
    expect(reply.statusCode, reply.body).toBe(200);
    const { entries, pagination } = reply.json().data;
    expect(pagination).toEqual({ current: 1, total: 1, count: 3, totalRecords: 3 });
    expect(entries.map((entry: { id: string }) => entry.id)).toEqual([
      secondTransfer.entryId,
      firstTransfer.entryId,
      deposit.entryId,
    ]);
    const byAccount = <T extends { accountId: string }>(postings: T[]) =>
      [...postings].sort((x, y) => x.accountId.localeCompare(y.accountId));
    const depositEntry = entries[2];
    expect({ ...depositEntry, postings: byAccount(depositEntry.postings) }).toEqual({
      id: deposit.entryId,
      type: 'deposit',
      description: 'browse deposit',
      metadata: { channel: 'sandbox' },
      idempotencyRef: depositRef,
      reversesEntryId: null,
      createdAt: depositAt.toISOString(),
      postings: expect.any(Array),
    });
    const depositPosting = depositEntry.postings.find((p: { accountId: string }) => p.accountId === inr.id);
    expect(depositPosting).toEqual({
      accountId: inr.id,
      amountMinor: '-5000',
      currency: 'INR',
      balanceAfterMinor: '5000',
    });
    expect(depositEntry.postings).toHaveLength(2);
    expect(byAccount(entries[1].postings)).toEqual(
      byAccount([
        { accountId: inr.id, amountMinor: '1000', currency: 'INR', balanceAfterMinor: '4000' },
        { accountId: peer.id, amountMinor: '-1000', currency: 'INR', balanceAfterMinor: '1000' },
      ]),
    );

    const transfers = await admin.client.get(
      `/api/v1/admin/ledger/entries?accountId=${inr.id}&type=transfer`,
    );
    expect(transfers.json().data.entries.map((entry: { id: string }) => entry.id)).toEqual([
      secondTransfer.entryId,
      firstTransfer.entryId,
    ]);
    const paged = await admin.client.get(
      `/api/v1/admin/ledger/entries?accountId=${inr.id}&type=transfer&limit=1&page=2`,
    );
    expect(paged.json().data.entries.map((entry: { id: string }) => entry.id)).toEqual([
      firstTransfer.entryId,
    ]);
    expect(paged.json().data.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 2 });

    const deposits = await admin.client.get(`/api/v1/admin/ledger/entries?accountId=${inr.id}&type=deposit`);
    expect(deposits.json().data.entries.map((entry: { id: string }) => entry.id)).toEqual([deposit.entryId]);
    const byType = await admin.client.get('/api/v1/admin/ledger/entries?type=swap&limit=100');
    expect(byType.json().data.entries.every((entry: { type: string }) => entry.type === 'swap')).toBe(true);
    expect(byType.json().data.entries.length).toBeGreaterThan(0);

    expectError(await admin.client.get('/api/v1/admin/ledger/entries?type=gift'), 400, 'VALIDATION_FAILED');
  });

  it('is for admins only', async () => {
    for (const url of ['/api/v1/admin/ledger/accounts', '/api/v1/admin/ledger/entries']) {
      expectError(await user.client.get(url), 403, 'FORBIDDEN');
      expectError(await client(testApp.app).get(url), 401, 'UNAUTHORIZED');
    }
  });
});

describe('hot accounts', () => {
  it("gives each connection one shard number for its life, and the pool's connections distinct ones", async () => {
    const { pool } = testApp.database.handle;
    const connections = await Promise.all(Array.from({ length: 4 }, () => pool.connect()));
    try {
      const shardOf = async (connection: (typeof connections)[number]) =>
        Number((await connection.query('SELECT tijori_connection_shard() AS shard')).rows[0].shard);
      const first = await Promise.all(connections.map(shardOf));
      const again = await Promise.all(connections.map(shardOf));
      expect(again).toEqual(first);
      expect(new Set(first).size).toBe(connections.length);
      // Numbers follow one another, so a few connections never share a shard of 32.
      expect(new Set(first.map((shard) => shard % PLATFORM_ACCOUNT_SHARDS)).size).toBe(connections.length);
    } finally {
      for (const connection of connections) connection.release();
    }
    const pickers = await sql<{ name: string; definition: string }>`
      SELECT proname AS name, pg_get_functiondef(oid) AS definition FROM pg_proc
      WHERE proname IN ('ledger_post', 'qr_rollup_on_insert', 'qr_rollup_on_delete', 'qr_rollup_on_update')
    `.execute(testApp.database.handle.db);
    expect(pickers.rows).toHaveLength(4);
    for (const { definition } of pickers.rows) {
      expect(definition).toContain('tijori_connection_shard()');
      expect(definition).not.toContain('pg_backend_pid()');
    }
  });

  it('platformAccount spreads over its shards, whose balances sum to the purpose total', async () => {
    const db = testApp.database.handle.db;
    const { ledger } = testApp.services;
    const picks = await Promise.all(
      Array.from({ length: 200 }, () => ledger.platformAccount('fees_revenue', 'XTS')),
    );
    const shards = await ledger.findAccounts(db, {
      ownerType: 'platform',
      ownerId: null,
      purpose: 'fees_revenue',
      currency: 'XTS',
    });
    expect(shards.map((row) => row.shard)).toEqual(
      Array.from({ length: PLATFORM_ACCOUNT_SHARDS }, (_, i) => i),
    );
    const shardIds = new Set(shards.map((row) => row.id));
    expect(picks.every((id) => shardIds.has(id))).toBe(true);
    // 200 uniform picks over 32 shards hit fewer than 8 with negligible probability.
    expect(new Set(picks).size).toBeGreaterThanOrEqual(8);

    const payer = await newWallet(testApp, 'XTS');
    await fund(testApp, payer.id, 1_000_000n, 'XTS');
    let total = 0n;
    const touched = new Set<string>();
    for (let i = 1; i <= 40; i++) {
      const feeAccount = await ledger.platformAccount('fees_revenue', 'XTS');
      touched.add(feeAccount);
      const amount = BigInt(i * 10);
      total += amount;
      await ledger.post(db, {
        type: 'fee',
        idempotencyRef: ref('fee'),
        postings: [
          { accountId: payer.id, amountMinor: amount },
          { accountId: feeAccount, amountMinor: -amount },
        ],
      });
    }
    expect(total).toBe(8_200n);
    expect(touched.size).toBeGreaterThan(1);
    const after = await ledger.findAccounts(db, {
      ownerType: 'platform',
      ownerId: null,
      purpose: 'fees_revenue',
      currency: 'XTS',
    });
    expect(after.reduce((sum, row) => sum + row.balanceMinor, 0n)).toBe(8_200n);
    expect(after.filter((row) => row.balanceMinor !== 0n).length).toBe(touched.size);
    expect((await accountRow(db, payer.id)).balanceMinor).toBe(1_000_000n - 8_200n);
  });

  it('the main ledger still verifies exactly after everything above', async () => {
    const report = await testApp.services.ledger.verify();
    expect(report.differences).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.entriesChecked).toBe((await counts(testApp.database.handle.db)).entries);
  });
});

describe('withRetry', () => {
  it('re-runs on serialization failures and deadlocks, and passes anything else straight through', async () => {
    let calls = 0;
    const value = await withRetry(async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('could not serialize'), { code: '40001' });
      if (calls === 2) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      return 'done';
    });
    expect({ value, calls }).toEqual({ value: 'done', calls: 3 });

    let refusals = 0;
    const refusal = new AppError(422, 'INSUFFICIENT_FUNDS', 'no');
    await expect(
      withRetry(async () => {
        refusals += 1;
        throw refusal;
      }),
    ).rejects.toBe(refusal);
    expect(refusals).toBe(1);

    let deadlocks = 0;
    await expect(
      withRetry(async () => {
        deadlocks += 1;
        throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      }),
    ).rejects.toThrow('deadlock detected');
    expect(deadlocks).toBe(5);
  });
});

describe('concurrency: 2,000 transfers among 50 wallets from 32 workers, with holds interleaved', () => {
  let database: TestDatabase;
  let app: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase({ poolMax: 10 });
    app = await createTestApp({ database });
  });
  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('keeps the ledger exact: verify has no differences, no wallet is negative, funding is conserved', async () => {
    const db = app.database.handle.db;
    const { ledger } = app.services;
    const WALLETS = 50;
    const WORKERS = 32;
    const TRANSFERS = 2_000;

    const wallets = await Promise.all(Array.from({ length: WALLETS }, () => newWallet(app)));
    let funded = 0n;
    for (const [index, wallet] of wallets.entries()) {
      const amount = 20_000n + BigInt(index) * 500n;
      funded += amount;
      await fund(app, wallet.id, amount);
    }

    const stats = {
      transfers: 0,
      transferRefusals: 0,
      holds: 0,
      holdRefusals: 0,
      captures: 0,
      voids: 0,
    };
    const unexpected: unknown[] = [];
    const randomInt = (max: number) => Math.floor(Math.random() * max);
    const pickPair = (): [string, string] => {
      const from = randomInt(WALLETS);
      const to = (from + 1 + randomInt(WALLETS - 1)) % WALLETS;
      return [wallets[from]!.id, wallets[to]!.id];
    };
    const isFundsRefusal = (error: unknown) =>
      error instanceof AppError && error.statusCode === 422 && error.code === 'INSUFFICIENT_FUNDS';
    const inTransaction = <T>(run: (trx: Executor) => Promise<T>) =>
      withRetry(() => db.transaction().execute((trx) => run(trx)));

    async function holdCycle(): Promise<void> {
      const [from, to] = pickPair();
      const amount = BigInt(1 + randomInt(8_000));
      let hold: Awaited<ReturnType<typeof ledger.authorizeHold>>;
      try {
        hold = await inTransaction((trx) =>
          ledger.authorizeHold(trx, { accountId: from, amountMinor: amount, reference: ref('hold') }),
        );
        stats.holds += 1;
      } catch (error) {
        if (isFundsRefusal(error)) stats.holdRefusals += 1;
        else unexpected.push(error);
        return;
      }
      try {
        const part = BigInt(1 + randomInt(Number(amount)));
        await inTransaction((trx) =>
          ledger.captureHold(trx, {
            holdId: hold.id,
            amountMinor: part,
            toAccountId: to,
            idempotencyRef: ref(),
          }),
        );
        stats.captures += 1;
        if (part < amount && Math.random() < 0.5) {
          await inTransaction((trx) =>
            ledger.captureHold(trx, {
              holdId: hold.id,
              amountMinor: amount - part,
              toAccountId: to,
              idempotencyRef: ref(),
            }),
          );
          stats.captures += 1;
        } else if (part < amount) {
          await inTransaction((trx) => ledger.voidHold(trx, hold.id));
          stats.voids += 1;
        }
      } catch (error) {
        unexpected.push(error);
      }
    }

    let started = 0;
    async function worker(): Promise<void> {
      while (started < TRANSFERS) {
        started += 1;
        const [from, to] = pickPair();
        // One in ten asks for far more than any wallet has; the rest may still overdraw a drained one.
        const amount = Math.random() < 0.1 ? 10_000_000n : BigInt(1 + randomInt(15_000));
        try {
          await inTransaction((trx) => transfer(app, trx, from, to, amount));
          stats.transfers += 1;
        } catch (error) {
          if (isFundsRefusal(error)) stats.transferRefusals += 1;
          else unexpected.push(error);
        }
        if (Math.random() < 0.12) await holdCycle();
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, () => worker()));

    expect(unexpected).toEqual([]);
    expect(stats.transfers + stats.transferRefusals).toBe(TRANSFERS);
    expect(stats.transferRefusals).toBeGreaterThan(0);
    expect(stats.transfers).toBeGreaterThan(TRANSFERS / 2);
    expect(stats.captures).toBeGreaterThan(0);
    expect(stats.voids).toBeGreaterThan(0);

    const report = await ledger.verify();
    expect(report).toEqual({
      ok: true,
      accountsChecked: WALLETS + PLATFORM_ACCOUNT_SHARDS,
      entriesChecked: WALLETS + stats.transfers + stats.captures,
      differences: [],
    });

    const rows = await db
      .selectFrom('ledgerAccounts')
      .select(['id', 'balanceMinor', 'heldMinor'])
      .where('purpose', '=', 'wallet')
      .execute();
    expect(rows).toHaveLength(WALLETS);
    for (const row of rows) {
      expect(row.balanceMinor, row.id).toBeGreaterThanOrEqual(0n);
      expect(row.balanceMinor, row.id).toBeGreaterThanOrEqual(row.heldMinor);
      // Every hold was captured or voided.
      expect(row.heldMinor, row.id).toBe(0n);
    }
    expect(rows.reduce((sum, row) => sum + row.balanceMinor, 0n)).toBe(funded);

    const holds = await db
      .selectFrom('ledgerHolds')
      .select(['status', (eb) => eb.fn.countAll<bigint>().as('n')])
      .groupBy('status')
      .execute();
    expect(Object.fromEntries(holds.map((row) => [row.status, Number(row.n)]))).toEqual({
      ...(stats.holds - stats.voids > 0 ? { captured: stats.holds - stats.voids } : {}),
      ...(stats.voids > 0 ? { voided: stats.voids } : {}),
    });
    const transfers = await db
      .selectFrom('ledgerEntries')
      .select((eb) => eb.fn.countAll<bigint>().as('n'))
      .where('type', '=', 'transfer')
      .executeTakeFirstOrThrow();
    expect(Number(transfers.n)).toBe(stats.transfers);
  });
});
