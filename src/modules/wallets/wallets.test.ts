import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
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
import { createManualClock } from '../../lib/clock.ts';

const START = new Date('2030-06-01T08:00:00.000Z');
// A manual clock: every step below happens at a known instant, so history order and dates are exact.
const clock = createManualClock(START);
const tick = (ms = 1_000) => {
  clock.advance(ms);
  return clock.now();
};

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  testApp = await createTestApp({ clock });
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
});

const newKey = () => `key-${randomUUID()}`;
const keyed = (key: string = newKey()) => ({ 'idempotency-key': key });
const reference = (prefix = 'dep') => `${prefix}-${randomUUID()}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A transfer carries no caller reference: its ledger idempotency reference is shown instead. */
const TRANSFER_REF = /^transfer:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface WalletView {
  currency: string;
  balance: number;
  availableBalance: number;
  heldAmount: number;
  lowBalanceThreshold: number | null;
}

/** The balance entry the API should show for a wallet with this balance and held amount. */
function wallet(currency: string, balance: number, held = 0, available = balance - held): WalletView {
  return { currency, balance, availableBalance: available, heldAmount: held, lowBalanceThreshold: null };
}
const ZERO_WALLETS = [wallet('INR', 0), wallet('USD', 0), wallet('USDT', 0)];

async function balances(caller: Account | Client): Promise<WalletView[]> {
  const reply = await ('client' in caller ? caller.client : caller).get('/api/v1/wallet/balance');
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.wallets;
}

async function balanceIn(caller: Account | Client, currency = 'INR'): Promise<WalletView> {
  const found = (await balances(caller)).find((item) => item.currency === currency);
  if (found === undefined) throw new Error(`no ${currency} wallet in the balance reply`);
  return found;
}

async function deposit(
  account: Account,
  amount: number,
  options: { currency?: string; reference?: string } = {},
): Promise<{ entryId: string; amount: number; currency: string; reference: string }> {
  const reply = await account.client.post(
    '/api/v1/wallet/deposit',
    {
      amount,
      reference: options.reference ?? reference(),
      ...(options.currency === undefined ? {} : { currency: options.currency }),
    },
    keyed(),
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.deposit;
}

function transfer(from: Account, body: Record<string, unknown>, key: string = newKey()): Promise<Reply> {
  return from.client.post('/api/v1/wallet/transfer', body, keyed(key));
}

function withdraw(from: Account, body: Record<string, unknown>, key: string = newKey()): Promise<Reply> {
  return from.client.post('/api/v1/wallet/withdraw', body, keyed(key));
}

/** Rows in every table a wallet request may write. */
async function counts() {
  const { rows } = await sql<Record<string, string>>`
    SELECT (SELECT count(*) FROM ledger_entries) AS entries,
      (SELECT count(*) FROM ledger_postings) AS postings,
      (SELECT count(*) FROM ledger_holds) AS holds,
      (SELECT count(*) FROM wallet_withdrawals) AS withdrawals,
      (SELECT count(*) FROM idempotency_keys) AS keys`.execute(testApp.database.handle.db);
  const row = rows[0] ?? {};
  return {
    entries: Number(row.entries),
    postings: Number(row.postings),
    holds: Number(row.holds),
    withdrawals: Number(row.withdrawals),
    keys: Number(row.keys),
  };
}

/** What a refused request must leave exactly as it was: the callers' balances and the row counts. */
async function snapshot(...accounts: Account[]) {
  return {
    counts: await counts(),
    balances: await Promise.all(accounts.map((account) => balances(account))),
  };
}

/** The fields a 400 VALIDATION_FAILED names in its details. */
function fieldsOf(reply: Reply): string[] {
  return (reply.json().error.details as { field: string }[]).map((detail) => detail.field);
}

async function expectLedgerOk() {
  const report = await testApp.services.ledger.verify();
  expect(report.differences).toEqual([]);
  expect(report.ok).toBe(true);
}

/** Sum of a platform purpose's shards, in minor units. */
async function platformTotals(purpose: 'payouts_in_transit' | 'external_funding', currency: string) {
  const { rows } = await sql<{ debits: string | null; credits: string | null }>`
    SELECT sum(debits_minor) AS debits, sum(credits_minor) AS credits FROM ledger_accounts
    WHERE owner_type = 'platform' AND purpose = ${purpose} AND currency = ${currency}`.execute(
    testApp.database.handle.db,
  );
  return { debits: BigInt(rows[0]?.debits ?? 0), credits: BigInt(rows[0]?.credits ?? 0) };
}

async function deactivate(user: Account) {
  const reply = await admin.client.patch(`/api/v1/admin/users/${user.user.id}`, { isActive: false });
  expect(reply.statusCode, reply.body).toBe(200);
}

describe('deposit', () => {
  let alice: Account;
  let bob: Account;
  beforeAll(async () => {
    alice = await createAccount(testApp, 'user');
    bob = await createAccount(testApp, 'user');
  });

  it('refuses a deposit without an Idempotency-Key (400 IDEMPOTENCY_KEY_REQUIRED), writing nothing', async () => {
    const before = await snapshot(alice);
    const reply = await alice.client.post('/api/v1/wallet/deposit', { amount: 100, reference: reference() });
    expectError(reply, 400, 'IDEMPOTENCY_KEY_REQUIRED');
    expect(await snapshot(alice)).toEqual(before);
    expect(before.balances[0]).toEqual(ZERO_WALLETS);
  });

  it('credits the exact amount from external funding in one balanced entry', async () => {
    const at = tick();
    const before = await counts();
    const fundingBefore = await platformTotals('external_funding', 'INR');
    const reply = await alice.client.post(
      '/api/v1/wallet/deposit',
      { amount: 1500.75, reference: 'alice-topup-1' },
      keyed(),
    );
    expect(reply.statusCode, reply.body).toBe(201);
    const body = reply.json();
    expect(body).toEqual({
      success: true,
      data: {
        deposit: {
          entryId: expect.stringMatching(UUID),
          amount: 1500.75,
          currency: 'INR',
          reference: 'alice-topup-1',
        },
      },
      message: 'Deposit credited',
    });
    expect(reply.headers['idempotent-replayed']).toBeUndefined();
    expect(await balances(alice)).toEqual([wallet('INR', 1500.75), wallet('USD', 0), wallet('USDT', 0)]);
    expect(await counts()).toMatchObject({
      entries: before.entries + 1,
      postings: before.postings + 2,
      holds: before.holds,
      keys: before.keys + 1,
    });

    const db = testApp.database.handle.db;
    const entry = await db
      .selectFrom('ledgerEntries')
      .select(['type', 'description', 'metadata', 'createdAt'])
      .where('id', '=', body.data.deposit.entryId)
      .executeTakeFirstOrThrow();
    expect(entry).toEqual({
      type: 'deposit',
      description: 'Deposit alice-topup-1',
      metadata: { reference: 'alice-topup-1', userId: alice.user.id, source: 'sandbox' },
      createdAt: at,
    });
    const postings = await db
      .selectFrom('ledgerPostings')
      .innerJoin('ledgerAccounts', 'ledgerAccounts.id', 'ledgerPostings.accountId')
      .select(['ledgerAccounts.purpose', 'ledgerAccounts.ownerId', 'ledgerPostings.amountMinor'])
      .where('ledgerPostings.entryId', '=', body.data.deposit.entryId)
      .orderBy('ledgerPostings.amountMinor', 'desc')
      .execute();
    expect(postings).toEqual([
      { purpose: 'external_funding', ownerId: null, amountMinor: 150_075n },
      { purpose: 'wallet', ownerId: alice.user.id, amountMinor: -150_075n },
    ]);
    expect(await platformTotals('external_funding', 'INR')).toEqual({
      debits: fundingBefore.debits + 150_075n,
      credits: fundingBefore.credits,
    });
  });

  it('refuses the same reference twice for one wallet (409 DUPLICATE_REFERENCE); another user may use it', async () => {
    const before = await snapshot(alice, bob);
    const again = await alice.client.post(
      '/api/v1/wallet/deposit',
      { amount: 10, reference: 'alice-topup-1' },
      keyed(),
    );
    expectError(again, 409, 'DUPLICATE_REFERENCE');
    expect(await snapshot(alice, bob)).toEqual(before);

    await deposit(bob, 10, { reference: 'alice-topup-1' });
    expect(await balanceIn(bob)).toEqual(wallet('INR', 10));
    expect(await balanceIn(alice)).toEqual(wallet('INR', 1500.75));
  });

  it('treats each currency as its own wallet: a reference used in INR may be used for USDT', async () => {
    const ref = reference('per-wallet');
    await deposit(bob, 1, { reference: ref });
    const usdt = await bob.client.post(
      '/api/v1/wallet/deposit',
      { amount: 2, currency: 'USDT', reference: ref },
      keyed(),
    );
    expect(usdt.statusCode, usdt.body).toBe(201);
    expect(await balanceIn(bob, 'USDT')).toEqual(wallet('USDT', 2));
  });

  it('keeps currencies apart and honours each scale: USDT takes six decimals', async () => {
    const carol = await createAccount(testApp, 'user');
    const reply = await deposit(carol, 12.345678, { currency: 'USDT' });
    expect(reply).toMatchObject({ amount: 12.345678, currency: 'USDT' });
    await deposit(carol, 0.01, { currency: 'USD' });
    expect(await balances(carol)).toEqual([wallet('INR', 0), wallet('USD', 0.01), wallet('USDT', 12.345678)]);
  });

  it('refuses bad amounts, an unknown currency and a missing reference with 400, writing nothing', async () => {
    const before = await snapshot(alice);
    const cases: [Record<string, unknown>, string][] = [
      [{ amount: 0, reference: reference() }, 'amount'],
      [{ amount: -5, reference: reference() }, 'amount'],
      [{ amount: 0.001, reference: reference() }, 'amount'],
      [{ amount: 1.005, reference: reference() }, 'amount'],
      [{ amount: 0.0000001, currency: 'USDT', reference: reference() }, 'amount'],
      [{ amount: 10, currency: 'EUR', reference: reference() }, 'currency'],
      [{ amount: 10, currency: 'inr', reference: reference() }, 'currency'],
      [{ amount: 10 }, 'reference'],
      [{ amount: '10', reference: reference() }, 'amount'],
    ];
    for (const [body, field] of cases) {
      const reply = await alice.client.post('/api/v1/wallet/deposit', body, keyed());
      expectError(reply, 400, 'VALIDATION_FAILED');
      expect(fieldsOf(reply), JSON.stringify(body)).toContain(field);
    }
    expect(await snapshot(alice)).toEqual(before);
  });

  it('names the offending field in service-level validation details', async () => {
    const decimals = await alice.client.post(
      '/api/v1/wallet/deposit',
      { amount: 0.001, reference: reference() },
      keyed(),
    );
    expectError(decimals, 400, 'VALIDATION_FAILED');
    expect(decimals.json().error.details).toEqual([
      { field: 'amount', message: 'must be positive with at most 2 decimals for INR' },
    ]);
    const currency = await alice.client.post(
      '/api/v1/wallet/deposit',
      { amount: 1, currency: 'EUR', reference: reference() },
      keyed(),
    );
    expectError(currency, 400, 'VALIDATION_FAILED');
    expect(currency.json().error.details).toEqual([
      { field: 'currency', message: 'must be one of INR, USD, USDT' },
    ]);
  });

  it('lets only an admin credit another user (userId), audited; unknown or deactivated user 404', async () => {
    const dave = await createAccount(testApp, 'user');
    const before = await snapshot(alice, dave);
    const byUser = await alice.client.post(
      '/api/v1/wallet/deposit',
      { amount: 50, reference: reference(), userId: dave.user.id },
      keyed(),
    );
    expectError(byUser, 400, 'VALIDATION_FAILED');
    expect(await snapshot(alice, dave)).toEqual(before);

    const ref = reference('admin');
    const byAdmin = await admin.client.post(
      '/api/v1/wallet/deposit',
      { amount: 75.5, reference: ref, userId: dave.user.id },
      keyed(),
    );
    expect(byAdmin.statusCode, byAdmin.body).toBe(201);
    expect(byAdmin.json().data.deposit).toMatchObject({ amount: 75.5, currency: 'INR', reference: ref });
    expect(await balanceIn(dave)).toEqual(wallet('INR', 75.5));
    expect(await balanceIn(admin)).toEqual(wallet('INR', 0));
    expect(await balanceIn(alice)).toEqual(wallet('INR', 1500.75));

    const audit = await testApp.database.handle.db
      .selectFrom('auditLogs')
      .select(['actorId', 'action', 'targetType', 'targetId', 'details'])
      .where('action', '=', 'wallet.deposit_by_admin')
      .where('targetId', '=', dave.user.id)
      .execute();
    expect(audit).toEqual([
      {
        actorId: admin.user.id,
        action: 'wallet.deposit_by_admin',
        targetType: 'user',
        targetId: dave.user.id,
        details: { amountMinor: '7550', currency: 'INR', reference: ref },
      },
    ]);

    const unknown = await admin.client.post(
      '/api/v1/wallet/deposit',
      { amount: 1, reference: reference(), userId: randomUUID() },
      keyed(),
    );
    expectError(unknown, 404, 'RECIPIENT_NOT_FOUND');
    await deactivate(dave);
    const gone = await admin.client.post(
      '/api/v1/wallet/deposit',
      { amount: 1, reference: reference(), userId: dave.user.id },
      keyed(),
    );
    expectError(gone, 404, 'RECIPIENT_NOT_FOUND');
  });

  it('works with a merchant API key (the merchant user’s wallet); anonymous callers get 401', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const reply = await merchant.apiClient!.post(
      '/api/v1/wallet/deposit',
      { amount: 20, reference: reference() },
      keyed(),
    );
    expect(reply.statusCode, reply.body).toBe(201);
    expect(await balanceIn(merchant.client)).toEqual(wallet('INR', 20));
    expect(await balanceIn(merchant.apiClient!)).toEqual(wallet('INR', 20));

    const anonymous = client(testApp.app);
    expectError(
      await anonymous.post('/api/v1/wallet/deposit', { amount: 1, reference: reference() }, keyed()),
      401,
      'UNAUTHORIZED',
    );
    expectError(await anonymous.get('/api/v1/wallet/balance'), 401, 'UNAUTHORIZED');
  });
});

describe('transfer', () => {
  let alice: Account;
  let bob: Account;
  beforeAll(async () => {
    alice = await createAccount(testApp, 'user');
    bob = await createAccount(testApp, 'user');
    await deposit(alice, 1000);
  });

  it('moves the exact amount by user id: one entry, two postings, exact reply', async () => {
    const before = await counts();
    const reply = await transfer(alice, { to: bob.user.id, amount: 250.5 });
    expect(reply.statusCode, reply.body).toBe(201);
    const body = reply.json();
    expect(body).toEqual({
      success: true,
      data: {
        transfer: {
          entryId: expect.stringMatching(UUID),
          to: bob.user.id,
          amount: 250.5,
          currency: 'INR',
          note: null,
        },
      },
      message: 'Transfer completed',
    });
    expect(await balanceIn(alice)).toEqual(wallet('INR', 749.5));
    expect(await balanceIn(bob)).toEqual(wallet('INR', 250.5));
    expect(await counts()).toMatchObject({ entries: before.entries + 1, postings: before.postings + 2 });
    const postings = await testApp.database.handle.db
      .selectFrom('ledgerPostings')
      .innerJoin('ledgerAccounts', 'ledgerAccounts.id', 'ledgerPostings.accountId')
      .select(['ledgerAccounts.ownerId', 'ledgerPostings.amountMinor', 'ledgerPostings.balanceAfterMinor'])
      .where('ledgerPostings.entryId', '=', body.data.transfer.entryId)
      .orderBy('ledgerPostings.amountMinor', 'desc')
      .execute();
    expect(postings).toEqual([
      { ownerId: alice.user.id, amountMinor: 25_050n, balanceAfterMinor: 74_950n },
      { ownerId: bob.user.id, amountMinor: -25_050n, balanceAfterMinor: 25_050n },
    ]);
  });

  it('finds the recipient by email, case-insensitively and trimmed, and echoes the note', async () => {
    const reply = await transfer(alice, {
      to: `  ${bob.user.email.toUpperCase()} `,
      amount: 49.5,
      note: 'lunch',
    });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json().data.transfer).toEqual({
      entryId: expect.stringMatching(UUID),
      to: bob.user.id,
      amount: 49.5,
      currency: 'INR',
      note: 'lunch',
    });
    expect(await balanceIn(alice)).toEqual(wallet('INR', 700));
    expect(await balanceIn(bob)).toEqual(wallet('INR', 300));
  });

  it('refuses a transfer to oneself (422 SELF_TRANSFER), by id or email, changing nothing', async () => {
    const before = await snapshot(alice, bob);
    expectError(await transfer(alice, { to: alice.user.id, amount: 1 }), 422, 'SELF_TRANSFER');
    expectError(await transfer(alice, { to: alice.user.email, amount: 1 }), 422, 'SELF_TRANSFER');
    expect(await snapshot(alice, bob)).toEqual(before);
  });

  it('refuses an unknown or deactivated recipient (404 RECIPIENT_NOT_FOUND), changing nothing', async () => {
    const erin = await createAccount(testApp, 'user');
    await deactivate(erin);
    const before = await snapshot(alice);
    for (const to of [randomUUID(), 'nobody@example.test', erin.user.id, erin.user.email]) {
      expectError(await transfer(alice, { to, amount: 1 }), 404, 'RECIPIENT_NOT_FOUND');
    }
    expect(await snapshot(alice)).toEqual(before);
  });

  it('refuses non-positive amounts, too many decimals and unknown currencies (400), changing nothing', async () => {
    const before = await snapshot(alice, bob);
    const cases: [Record<string, unknown>, string][] = [
      [{ to: bob.user.id, amount: 0 }, 'amount'],
      [{ to: bob.user.id, amount: -1 }, 'amount'],
      [{ to: bob.user.id, amount: 0.001 }, 'amount'],
      [{ to: bob.user.id, amount: 10.123, currency: 'USD' }, 'amount'],
      [{ to: bob.user.id, amount: 0.0000001, currency: 'USDT' }, 'amount'],
      [{ to: bob.user.id, amount: 1e13 }, 'amount'],
      [{ to: bob.user.id, amount: 1, currency: 'EUR' }, 'currency'],
      [{ to: bob.user.id }, 'amount'],
      [{ amount: 1 }, 'to'],
      [{ to: bob.user.id, amount: 1, extra: true }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const reply = await transfer(alice, body);
      expectError(reply, 400, 'VALIDATION_FAILED');
      expect(fieldsOf(reply), JSON.stringify(body)).toContain(field);
    }
    expect(await snapshot(alice, bob)).toEqual(before);
  });

  it('accepts the smallest USDT unit (0.000001) and moves exactly that', async () => {
    await deposit(alice, 1, { currency: 'USDT' });
    const reply = await transfer(alice, { to: bob.user.id, amount: 0.000001, currency: 'USDT' });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json().data.transfer).toMatchObject({ amount: 0.000001, currency: 'USDT' });
    expect(await balanceIn(alice, 'USDT')).toEqual(wallet('USDT', 0.999999));
    expect(await balanceIn(bob, 'USDT')).toEqual(wallet('USDT', 0.000001));
    // INR untouched by a USDT transfer.
    expect(await balanceIn(alice)).toEqual(wallet('INR', 700));
  });

  it('refuses (422 INSUFFICIENT_FUNDS) more than the balance, and a currency the sender never funded', async () => {
    const before = await snapshot(alice, bob);
    expectError(await transfer(alice, { to: bob.user.id, amount: 700.01 }), 422, 'INSUFFICIENT_FUNDS');
    expectError(
      await transfer(alice, { to: bob.user.id, amount: 1, currency: 'USD' }),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expect(await snapshot(alice, bob)).toEqual(before);
  });

  it('counts held money as unavailable: 100 with 60 held refuses 50, accepts 40, then empties to 0', async () => {
    const frank = await createAccount(testApp, 'user');
    await deposit(frank, 100);
    const held = await withdraw(frank, { amount: 60, destination: 'frank@okaxis' });
    expect(held.statusCode, held.body).toBe(201);
    expect(await balanceIn(frank)).toEqual(wallet('INR', 100, 60));

    const before = await snapshot(frank, bob);
    expectError(await transfer(frank, { to: bob.user.id, amount: 50 }), 422, 'INSUFFICIENT_FUNDS');
    expect(await snapshot(frank, bob)).toEqual(before);

    const ok = await transfer(frank, { to: bob.user.id, amount: 40 });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(await balanceIn(frank)).toEqual(wallet('INR', 60, 60, 0));
    expect(await balanceIn(bob)).toEqual(wallet('INR', 340));
    expectError(await transfer(frank, { to: bob.user.id, amount: 0.01 }), 422, 'INSUFFICIENT_FUNDS');
  });

  it('requires an Idempotency-Key (400 IDEMPOTENCY_KEY_REQUIRED)', async () => {
    const before = await snapshot(alice, bob);
    const reply = await alice.client.post('/api/v1/wallet/transfer', { to: bob.user.id, amount: 1 });
    expectError(reply, 400, 'IDEMPOTENCY_KEY_REQUIRED');
    expect(await snapshot(alice, bob)).toEqual(before);
  });

  it('is also served under /api (without the version)', async () => {
    const reply = await alice.client.post('/api/wallet/transfer', { to: bob.user.id, amount: 1 }, keyed());
    expect(reply.statusCode, reply.body).toBe(201);
    expect(await balanceIn(alice)).toEqual(wallet('INR', 699));
    expect(await balanceIn(bob)).toEqual(wallet('INR', 341));
  });
});

describe('withdrawals', () => {
  let gina: Account;
  beforeAll(async () => {
    gina = await createAccount(testApp, 'user');
    await deposit(gina, 1000);
  });

  async function settle(id: string, outcome: 'complete' | 'fail', caller: Account = admin): Promise<Reply> {
    return caller.client.post(
      `/api/v1/admin/withdrawals/${id}/${outcome}`,
      outcome === 'fail' ? { reason: 'bank rejected' } : undefined,
    );
  }

  it('holds the amount: available drops at once, balance does not, and no entry is written', async () => {
    const at = tick();
    const before = await counts();
    const reply = await withdraw(gina, { amount: 300, destination: 'gina.k@okaxis' });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json()).toEqual({
      success: true,
      data: {
        withdrawal: {
          id: expect.stringMatching(UUID),
          amount: 300,
          currency: 'INR',
          destination: 'gina.k@okaxis',
          status: 'pending',
          failureReason: null,
          createdAt: at.toISOString(),
          updatedAt: at.toISOString(),
        },
      },
      message: 'Withdrawal pending',
    });
    expect(await balanceIn(gina)).toEqual(wallet('INR', 1000, 300));
    expect(await counts()).toMatchObject({
      entries: before.entries,
      postings: before.postings,
      holds: before.holds + 1,
      withdrawals: before.withdrawals + 1,
    });
  });

  it('completing captures the hold into payouts in transit: balance drops; a second settle is 409', async () => {
    const reply = await withdraw(gina, { amount: 200.25, destination: '123456789012@HDFC0001234' });
    expect(reply.statusCode, reply.body).toBe(201);
    const { id } = reply.json().data.withdrawal;
    expect(await balanceIn(gina)).toEqual(wallet('INR', 1000, 500.25));

    const transitBefore = await platformTotals('payouts_in_transit', 'INR');
    const entriesBefore = await counts();
    const at = tick();
    const done = await settle(id, 'complete');
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({
      success: true,
      data: {
        withdrawal: {
          id,
          amount: 200.25,
          currency: 'INR',
          destination: '123456789012@HDFC0001234',
          status: 'completed',
          failureReason: null,
          createdAt: expect.any(String),
          updatedAt: at.toISOString(),
        },
      },
      message: 'Withdrawal completed',
    });
    // 1000 - 200.25 = 799.75 on the ledger; the first withdrawal's 300 is still held.
    expect(await balanceIn(gina)).toEqual(wallet('INR', 799.75, 300));
    expect(await platformTotals('payouts_in_transit', 'INR')).toEqual({
      debits: transitBefore.debits,
      credits: transitBefore.credits + 20_025n,
    });
    expect(await counts()).toMatchObject({
      entries: entriesBefore.entries + 1,
      postings: entriesBefore.postings + 2,
    });
    const row = await testApp.database.handle.db
      .selectFrom('walletWithdrawals')
      .select(['status', 'entryId'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const entry = await testApp.database.handle.db
      .selectFrom('ledgerEntries')
      .select(['id', 'type'])
      .where('id', '=', row.entryId!)
      .executeTakeFirstOrThrow();
    expect(entry.type).toBe('withdrawal');

    const before = await snapshot(gina);
    expectError(await settle(id, 'complete'), 409, 'WITHDRAWAL_NOT_PENDING');
    expectError(await settle(id, 'fail'), 409, 'WITHDRAWAL_NOT_PENDING');
    expect(await snapshot(gina)).toEqual(before);
  });

  it('failing releases the hold with the reason and posts nothing; a second settle is 409', async () => {
    const pending = await testApp.database.handle.db
      .selectFrom('walletWithdrawals')
      .select('id')
      .where('userId', '=', gina.user.id)
      .where('status', '=', 'pending')
      .execute();
    expect(pending).toHaveLength(1);
    const id = pending[0]!.id;
    const before = await counts();
    const failed = await admin.client.post(`/api/v1/admin/withdrawals/${id}/fail`, {
      reason: 'account closed',
    });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(failed.json()).toMatchObject({
      success: true,
      data: { withdrawal: { id, amount: 300, status: 'failed', failureReason: 'account closed' } },
      message: 'Withdrawal failed',
    });
    expect(await balanceIn(gina)).toEqual(wallet('INR', 799.75));
    expect(await counts()).toMatchObject({ entries: before.entries, postings: before.postings });
    const hold = await testApp.database.handle.db
      .selectFrom('ledgerHolds')
      .innerJoin('walletWithdrawals', 'walletWithdrawals.holdId', 'ledgerHolds.id')
      .select(['ledgerHolds.status', 'ledgerHolds.capturedMinor'])
      .where('walletWithdrawals.id', '=', id)
      .executeTakeFirstOrThrow();
    expect(hold).toEqual({ status: 'voided', capturedMinor: 0n });

    expectError(await settle(id, 'fail'), 409, 'WITHDRAWAL_NOT_PENDING');
    expectError(await settle(id, 'complete'), 409, 'WITHDRAWAL_NOT_PENDING');
    expect(await balanceIn(gina)).toEqual(wallet('INR', 799.75));
  });

  it('refuses (422 INSUFFICIENT_FUNDS) more than the available balance, holding nothing', async () => {
    const held = await withdraw(gina, { amount: 700, destination: 'gina@okhdfcbank' });
    expect(held.statusCode, held.body).toBe(201);
    const before = await snapshot(gina);
    expectError(
      await withdraw(gina, { amount: 99.76, destination: 'gina@okhdfcbank' }),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expectError(
      await withdraw(gina, { amount: 1, currency: 'USD', destination: 'gina@okhdfcbank' }),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expect(await snapshot(gina)).toEqual(before);
    const exact = await withdraw(gina, { amount: 99.75, destination: 'gina@okhdfcbank' });
    expect(exact.statusCode, exact.body).toBe(201);
    expect(await balanceIn(gina)).toEqual(wallet('INR', 799.75, 799.75, 0));
  });

  it('refuses malformed destinations, bad amounts and a missing key with 400, holding nothing', async () => {
    const henry = await createAccount(testApp, 'user');
    await deposit(henry, 50);
    const before = await snapshot(henry);
    const cases: [Record<string, unknown>, string][] = [
      [{ amount: 1, destination: 'not-an-address' }, 'destination'],
      [{ amount: 1, destination: '@okaxis' }, 'destination'],
      [{ amount: 1, destination: 'a@b' }, 'destination'],
      [{ amount: 1, destination: 'henry@ok axis' }, 'destination'],
      [{ amount: 1 }, 'destination'],
      [{ amount: 0, destination: 'henry@okaxis' }, 'amount'],
      [{ amount: 1.234, destination: 'henry@okaxis' }, 'amount'],
      [{ amount: 1, currency: 'GBP', destination: 'henry@okaxis' }, 'currency'],
    ];
    for (const [body, field] of cases) {
      const reply = await withdraw(henry, body);
      expectError(reply, 400, 'VALIDATION_FAILED');
      expect(fieldsOf(reply), JSON.stringify(body)).toContain(field);
    }
    expectError(
      await henry.client.post('/api/v1/wallet/withdraw', { amount: 1, destination: 'henry@okaxis' }),
      400,
      'IDEMPOTENCY_KEY_REQUIRED',
    );
    expect(await snapshot(henry)).toEqual(before);
  });

  it('settling is for admins: 403 for the owner and other users, 404 for an unknown id, 400 without a reason', async () => {
    const ivy = await createAccount(testApp, 'user');
    await deposit(ivy, 10);
    const reply = await withdraw(ivy, { amount: 10, destination: 'ivy@okicici' });
    expect(reply.statusCode, reply.body).toBe(201);
    const { id } = reply.json().data.withdrawal;
    const merchant = await createAccount(testApp, 'merchant');

    const before = await snapshot(ivy);
    for (const caller of [ivy, gina, merchant]) {
      expectError(await settle(id, 'complete', caller), 403, 'FORBIDDEN');
      expectError(await settle(id, 'fail', caller), 403, 'FORBIDDEN');
    }
    expectError(await merchant.apiClient!.post(`/api/v1/admin/withdrawals/${id}/complete`), 403, 'FORBIDDEN');
    expectError(
      await client(testApp.app).post(`/api/v1/admin/withdrawals/${id}/complete`),
      401,
      'UNAUTHORIZED',
    );
    expectError(await settle(randomUUID(), 'complete'), 404, 'WITHDRAWAL_NOT_FOUND');
    expectError(await settle(randomUUID(), 'fail'), 404, 'WITHDRAWAL_NOT_FOUND');
    expectError(
      await admin.client.post(`/api/v1/admin/withdrawals/${id}/fail`, {}),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await admin.client.post('/api/v1/admin/withdrawals/not-a-uuid/complete'),
      400,
      'VALIDATION_FAILED',
    );
    expect(await snapshot(ivy)).toEqual(before);
    expect(await balanceIn(ivy)).toEqual(wallet('INR', 10, 10, 0));
  });

  it('holds concurrent withdrawals within the available balance: 100 available, ten of 30 at once, three held', async () => {
    const jack = await createAccount(testApp, 'user');
    await deposit(jack, 100);
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => withdraw(jack, { amount: 30, destination: 'jack@okaxis' })),
    );
    const held = replies.filter((reply) => reply.statusCode === 201);
    const refused = replies.filter((reply) => reply.statusCode !== 201);
    expect(held).toHaveLength(3);
    for (const reply of refused) expectError(reply, 422, 'INSUFFICIENT_FUNDS');
    expect(await balanceIn(jack)).toEqual(wallet('INR', 100, 90, 10));
  });

  it('settles a withdrawal once when complete and fail race: one 200, one 409, a consistent wallet', async () => {
    const kate = await createAccount(testApp, 'user');
    await deposit(kate, 40);
    const reply = await withdraw(kate, { amount: 25, destination: 'kate@okaxis' });
    const { id } = reply.json().data.withdrawal;
    const [completed, failed] = await Promise.all([settle(id, 'complete'), settle(id, 'fail')]);
    const statuses = [completed.statusCode, failed.statusCode].sort();
    expect(statuses).toEqual([200, 409]);
    const loser = completed.statusCode === 409 ? completed : failed;
    expectError(loser, 409, 'WITHDRAWAL_NOT_PENDING');
    expect(await balanceIn(kate)).toEqual(
      completed.statusCode === 200 ? wallet('INR', 15) : wallet('INR', 40),
    );
  });
});

describe('balance, address and history', () => {
  let hana: Account;
  let paul: Account;
  const times: Date[] = [];
  const entries: Record<string, string> = {};
  let withdrawalId: string;

  beforeAll(async () => {
    hana = await createAccount(testApp, 'user');
    paul = await createAccount(testApp, 'user');
    await deposit(paul, 500);
    tick(60_000);
    times.push(clock.now()); // 0: deposit 1000 INR
    entries.deposit = (await deposit(hana, 1000, { reference: 'hana-salary' })).entryId;
    times.push(tick(60_000)); // 1: hana -> paul 200.25 "rent"
    const out = await transfer(hana, { to: paul.user.id, amount: 200.25, note: 'rent' });
    expect(out.statusCode, out.body).toBe(201);
    entries.out = out.json().data.transfer.entryId;
    times.push(tick(60_000)); // 2: paul -> hana 50
    const back = await transfer(paul, { to: hana.user.email, amount: 50 });
    expect(back.statusCode, back.body).toBe(201);
    entries.in = back.json().data.transfer.entryId;
    times.push(tick(60_000)); // 3: USDT deposit 5.5
    entries.usdt = (await deposit(hana, 5.5, { currency: 'USDT', reference: 'hana-usdt' })).entryId;
    tick(60_000);
    const held = await withdraw(hana, { amount: 100, destination: 'hana@okaxis' });
    expect(held.statusCode, held.body).toBe(201);
    withdrawalId = held.json().data.withdrawal.id;
    times.push(tick(60_000)); // 4: the withdrawal completes
    const done = await admin.client.post(`/api/v1/admin/withdrawals/${withdrawalId}/complete`);
    expect(done.statusCode, done.body).toBe(200);
    const row = await testApp.database.handle.db
      .selectFrom('walletWithdrawals')
      .select('entryId')
      .where('id', '=', withdrawalId)
      .executeTakeFirstOrThrow();
    entries.withdrawal = row.entryId!;
  });

  const iso = (index: number) => times[index]!.toISOString();

  function expectedHistory() {
    return [
      {
        id: expect.stringMatching(UUID),
        entryId: entries.withdrawal,
        type: 'withdrawal',
        direction: 'debit',
        amount: 100,
        currency: 'INR',
        balanceAfter: 749.75,
        counterpartyUserId: null,
        reference: `withdrawal:${withdrawalId}`,
        description: 'Withdrawal to hana@okaxis',
        status: 'completed',
        createdAt: iso(4),
      },
      {
        id: expect.stringMatching(UUID),
        entryId: entries.usdt,
        type: 'deposit',
        direction: 'credit',
        amount: 5.5,
        currency: 'USDT',
        balanceAfter: 5.5,
        counterpartyUserId: null,
        reference: 'hana-usdt',
        description: 'Deposit hana-usdt',
        status: 'completed',
        createdAt: iso(3),
      },
      {
        id: expect.stringMatching(UUID),
        entryId: entries.in,
        type: 'transfer',
        direction: 'credit',
        amount: 50,
        currency: 'INR',
        balanceAfter: 849.75,
        counterpartyUserId: paul.user.id,
        reference: expect.stringMatching(TRANSFER_REF),
        description: '',
        status: 'completed',
        createdAt: iso(2),
      },
      {
        id: expect.stringMatching(UUID),
        entryId: entries.out,
        type: 'transfer',
        direction: 'debit',
        amount: 200.25,
        currency: 'INR',
        balanceAfter: 799.75,
        counterpartyUserId: paul.user.id,
        reference: expect.stringMatching(TRANSFER_REF),
        description: 'rent',
        status: 'completed',
        createdAt: iso(1),
      },
      {
        id: expect.stringMatching(UUID),
        entryId: entries.deposit,
        type: 'deposit',
        direction: 'credit',
        amount: 1000,
        currency: 'INR',
        balanceAfter: 1000,
        counterpartyUserId: null,
        reference: 'hana-salary',
        description: 'Deposit hana-salary',
        status: 'completed',
        createdAt: iso(0),
      },
    ];
  }

  async function history(
    caller: Account,
    query = '',
  ): Promise<{ transactions: unknown[]; pagination: unknown }> {
    const reply = await caller.client.get(`/api/v1/wallet/transactions${query}`);
    expect(reply.statusCode, reply.body).toBe(200);
    return reply.json().data;
  }

  it('shows a never-used user zeros for every configured currency (never a 404)', async () => {
    const fresh = await createAccount(testApp, 'user');
    const reply = await fresh.client.get('/api/v1/wallet/balance');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { wallets: ZERO_WALLETS } });
    expect(await history(fresh)).toEqual({
      transactions: [],
      pagination: { current: 1, total: 0, count: 0, totalRecords: 0 },
    });
  });

  it('shows balances per currency after deposits, transfers and a completed withdrawal', async () => {
    expect(await balances(hana)).toEqual([wallet('INR', 749.75), wallet('USD', 0), wallet('USDT', 5.5)]);
    expect(await balances(paul)).toEqual([wallet('INR', 650.25), wallet('USD', 0), wallet('USDT', 0)]);
  });

  it('lists the history newest first with type, direction, counterparty, reference, amount and balance after', async () => {
    expect(await history(hana)).toEqual({
      transactions: expectedHistory(),
      pagination: { current: 1, total: 1, count: 5, totalRecords: 5 },
    });
  });

  it('filters by type, direction, currency and their combination', async () => {
    const all = expectedHistory();
    const pick = (...indexes: number[]) => indexes.map((index) => all[index]);
    expect((await history(hana, '?type=transfer')).transactions).toEqual(pick(2, 3));
    expect((await history(hana, '?type=deposit')).transactions).toEqual(pick(1, 4));
    expect((await history(hana, '?type=withdrawal')).transactions).toEqual(pick(0));
    expect((await history(hana, '?direction=debit')).transactions).toEqual(pick(0, 3));
    expect((await history(hana, '?direction=credit')).transactions).toEqual(pick(1, 2, 4));
    expect((await history(hana, '?currency=USDT')).transactions).toEqual(pick(1));
    expect((await history(hana, '?currency=USD')).transactions).toEqual([]);
    expect((await history(hana, '?type=transfer&direction=credit')).transactions).toEqual(pick(2));
    expect((await history(hana, '?type=swap')).transactions).toEqual([]);
  });

  it('filters by date range, both ends inclusive', async () => {
    const all = expectedHistory();
    const range = await history(
      hana,
      `?startDate=${encodeURIComponent(iso(1))}&endDate=${encodeURIComponent(iso(2))}`,
    );
    expect(range).toEqual({
      transactions: [all[2], all[3]],
      pagination: { current: 1, total: 1, count: 2, totalRecords: 2 },
    });
    expect((await history(hana, `?startDate=${encodeURIComponent(iso(3))}`)).transactions).toEqual([
      all[0],
      all[1],
    ]);
    expect((await history(hana, `?endDate=${encodeURIComponent(iso(0))}`)).transactions).toEqual([all[4]]);
    const empty = new Date(times[4]!.getTime() + 1).toISOString();
    expect((await history(hana, `?startDate=${encodeURIComponent(empty)}`)).transactions).toEqual([]);
  });

  it('pages the history', async () => {
    const all = expectedHistory();
    expect(await history(hana, '?limit=2&page=2')).toEqual({
      transactions: [all[2], all[3]],
      pagination: { current: 2, total: 3, count: 2, totalRecords: 5 },
    });
    expect(await history(hana, '?limit=2&page=3')).toEqual({
      transactions: [all[4]],
      pagination: { current: 3, total: 3, count: 1, totalRecords: 5 },
    });
    expect(await history(hana, '?take=4&page=2&direction=credit')).toEqual({
      transactions: [],
      pagination: { current: 2, total: 1, count: 0, totalRecords: 3 },
    });
  });

  it('refuses malformed filters with 400 VALIDATION_FAILED', async () => {
    for (const query of [
      '?type=bogus',
      '?direction=sideways',
      '?startDate=yesterday',
      '?endDate=2030-13-01',
      '?currency=inr',
      '?limit=0',
      '?limit=101',
      '?page=0',
    ]) {
      expectError(await hana.client.get(`/api/v1/wallet/transactions${query}`), 400, 'VALIDATION_FAILED');
    }
  });

  it('gives a stable deposit VPA per user, different between users, on the configured handle', async () => {
    const first = await hana.client.get('/api/v1/wallet/address');
    expect(first.statusCode, first.body).toBe(200);
    const body = first.json();
    expect(body).toEqual({
      success: true,
      data: { vpa: expect.stringMatching(/^tj[0-9a-f]{10}@tijori$/), currency: 'INR' },
    });
    const again = await hana.client.get('/api/v1/wallet/address');
    expect(again.json()).toEqual(body);
    const other = await paul.client.get('/api/v1/wallet/address');
    expect(other.json().data.vpa).toMatch(/^tj[0-9a-f]{10}@tijori$/);
    expect(other.json().data.vpa).not.toBe(body.data.vpa);
    // Not guessable from the id: the code is not a piece of it.
    expect(hana.user.id.replaceAll('-', '')).not.toContain(body.data.vpa.slice(2, 12));
    expectError(await client(testApp.app).get('/api/v1/wallet/address'), 401, 'UNAUTHORIZED');
  });

  it('only ever shows the caller’s own balance and history, whatever the query says', async () => {
    const stranger = await createAccount(testApp, 'user');
    await deposit(stranger, 3.33);
    expect(await balances(stranger)).toEqual([wallet('INR', 3.33), wallet('USD', 0), wallet('USDT', 0)]);
    const own = await history(stranger, `?userId=${hana.user.id}&ownerId=${hana.user.id}`);
    expect(own.pagination).toEqual({ current: 1, total: 1, count: 1, totalRecords: 1 });
    expect(own.transactions).toEqual([
      expect.objectContaining({
        type: 'deposit',
        amount: 3.33,
        balanceAfter: 3.33,
        counterpartyUserId: null,
      }),
    ]);
    const balanceReply = await stranger.client.get(`/api/v1/wallet/balance?userId=${hana.user.id}`);
    expect(balanceReply.json().data.wallets).toEqual([
      wallet('INR', 3.33),
      wallet('USD', 0),
      wallet('USDT', 0),
    ]);
    // Paul sees his side of the transfers with Hana, not the rest of her history.
    const paulHistory = await history(paul);
    expect(paulHistory.pagination).toMatchObject({ totalRecords: 3 });
    expect(JSON.stringify(paulHistory)).not.toContain('hana-salary');
    expect(JSON.stringify(paulHistory)).not.toContain(entries.withdrawal);
    expect(paulHistory.transactions).toEqual([
      expect.objectContaining({ entryId: entries.in, direction: 'debit', amount: 50, balanceAfter: 650.25 }),
      expect.objectContaining({
        entryId: entries.out,
        direction: 'credit',
        amount: 200.25,
        balanceAfter: 700.25,
      }),
      expect.objectContaining({ type: 'deposit', direction: 'credit', amount: 500, balanceAfter: 500 }),
    ]);
  });

  describe('GET /admin/wallets', () => {
    it('lists a user’s wallets with owner and balances, filtered by user and currency', async () => {
      const reply = await admin.client.get(`/api/v1/admin/wallets?userId=${hana.user.id}`);
      expect(reply.statusCode, reply.body).toBe(200);
      const { wallets, pagination } = reply.json().data;
      expect(pagination).toEqual({ current: 1, total: 1, count: 2, totalRecords: 2 });
      const byCurrency = [...wallets].sort((a, b) => (a.currency < b.currency ? -1 : 1));
      expect(byCurrency).toEqual([
        {
          accountId: expect.stringMatching(UUID),
          userId: hana.user.id,
          currency: 'INR',
          balance: 749.75,
          availableBalance: 749.75,
          heldAmount: 0,
          status: 'open',
          createdAt: expect.any(String),
        },
        {
          accountId: expect.stringMatching(UUID),
          userId: hana.user.id,
          currency: 'USDT',
          balance: 5.5,
          availableBalance: 5.5,
          heldAmount: 0,
          status: 'open',
          createdAt: expect.any(String),
        },
      ]);
      const usdt = await admin.client.get(`/api/v1/admin/wallets?userId=${hana.user.id}&currency=USDT`);
      expect(usdt.json().data.wallets).toEqual([byCurrency[1]]);
      const paged = await admin.client.get(`/api/v1/admin/wallets?userId=${hana.user.id}&limit=1&page=2`);
      expect(paged.json().data.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 2 });
    });

    it('shows held amounts, and lists only wallets (no platform accounts) across users', async () => {
      const withHold = await createAccount(testApp, 'user');
      await deposit(withHold, 90);
      expect((await withdraw(withHold, { amount: 30.5, destination: 'hold@okaxis' })).statusCode).toBe(201);
      const own = await admin.client.get(`/api/v1/admin/wallets?userId=${withHold.user.id}`);
      expect(own.json().data.wallets).toEqual([
        expect.objectContaining({
          userId: withHold.user.id,
          currency: 'INR',
          balance: 90,
          availableBalance: 59.5,
          heldAmount: 30.5,
        }),
      ]);

      const all = await admin.client.get('/api/v1/admin/wallets?limit=100&currency=INR');
      expect(all.statusCode, all.body).toBe(200);
      const listed = all.json().data.wallets as { userId: string; currency: string }[];
      expect(listed.length).toBeGreaterThan(5);
      for (const item of listed) {
        expect(item.userId).toMatch(UUID);
        expect(item.currency).toBe('INR');
      }
      const { rows } = await sql<{ count: string }>`
        SELECT count(*) AS count FROM ledger_accounts WHERE purpose = 'wallet' AND currency = 'INR'`.execute(
        testApp.database.handle.db,
      );
      expect(all.json().data.pagination.totalRecords).toBe(Number(rows[0]?.count));
    });

    it('refuses non-admins: 403 for users and merchants (JWT or API key), 401 anonymous', async () => {
      const merchant = await createAccount(testApp, 'merchant');
      expectError(await hana.client.get('/api/v1/admin/wallets'), 403, 'FORBIDDEN');
      expectError(await hana.client.get(`/api/v1/admin/wallets?userId=${paul.user.id}`), 403, 'FORBIDDEN');
      expectError(await merchant.client.get('/api/v1/admin/wallets'), 403, 'FORBIDDEN');
      expectError(await merchant.apiClient!.get('/api/v1/admin/wallets'), 403, 'FORBIDDEN');
      expectError(await client(testApp.app).get('/api/v1/admin/wallets'), 401, 'UNAUTHORIZED');
    });
  });
});

describe('idempotency keys', () => {
  let kim: Account;
  let lee: Account;
  beforeAll(async () => {
    kim = await createAccount(testApp, 'user');
    lee = await createAccount(testApp, 'user');
    await deposit(kim, 500);
  });

  it('replays the first 201 for the same key and body, with Idempotent-Replayed, moving money once', async () => {
    const key = newKey();
    const first = await transfer(kim, { to: lee.user.id, amount: 12.34, note: 'once' }, key);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const after = await snapshot(kim, lee);
    expect(after.balances[0]![0]).toEqual(wallet('INR', 487.66));
    expect(after.balances[1]![0]).toEqual(wallet('INR', 12.34));

    for (let attempt = 0; attempt < 3; attempt += 1) {
      // Same body, keys in another order: the same request.
      const replay = await transfer(kim, { note: 'once', amount: 12.34, to: lee.user.id }, key);
      expect(replay.statusCode, replay.body).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json()).toEqual(first.json());
    }
    expect(await snapshot(kim, lee)).toEqual(after);
  });

  it('replays a deposit (not 409 DUPLICATE_REFERENCE) and a withdrawal (one hold) on retry', async () => {
    const depositKey = newKey();
    const body = { amount: 7.5, reference: reference() };
    const first = await kim.client.post('/api/v1/wallet/deposit', body, keyed(depositKey));
    expect(first.statusCode, first.body).toBe(201);
    const replay = await kim.client.post('/api/v1/wallet/deposit', body, keyed(depositKey));
    expect(replay.statusCode, replay.body).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(first.json());
    expect(await balanceIn(kim)).toEqual(wallet('INR', 495.16));

    const withdrawKey = newKey();
    const hold = await withdraw(kim, { amount: 95.16, destination: 'kim@okaxis' }, withdrawKey);
    expect(hold.statusCode, hold.body).toBe(201);
    const before = await snapshot(kim);
    const again = await withdraw(kim, { amount: 95.16, destination: 'kim@okaxis' }, withdrawKey);
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().data.withdrawal.id).toBe(hold.json().data.withdrawal.id);
    expect(await snapshot(kim)).toEqual(before);
    expect(await balanceIn(kim)).toEqual(wallet('INR', 495.16, 95.16));
    // Give the money back so later tests start from 400 available.
    const failed = await admin.client.post(
      `/api/v1/admin/withdrawals/${hold.json().data.withdrawal.id}/fail`,
      {
        reason: 'test',
      },
    );
    expect(failed.statusCode, failed.body).toBe(200);
  });

  it('refuses the same key with a different body (422 IDEMPOTENCY_KEY_REUSED), moving nothing', async () => {
    const key = newKey();
    expect((await transfer(kim, { to: lee.user.id, amount: 1 }, key)).statusCode).toBe(201);
    const before = await snapshot(kim, lee);
    expectError(await transfer(kim, { to: lee.user.id, amount: 2 }, key), 422, 'IDEMPOTENCY_KEY_REUSED');
    expectError(
      await transfer(kim, { to: lee.user.id, amount: 1, note: 'different' }, key),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    // The same key on another money route is another request too.
    expectError(
      await kim.client.post('/api/v1/wallet/deposit', { amount: 1, reference: reference() }, keyed(key)),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(await snapshot(kim, lee)).toEqual(before);
    expect(await balanceIn(kim)).toEqual(wallet('INR', 494.16));
  });

  it('does not keep the key of a refused request (422 insufficient funds): the same key works once funded', async () => {
    const key = newKey();
    const body = { to: lee.user.id, amount: 600 };
    const before = await snapshot(kim, lee);
    expectError(await transfer(kim, body, key), 422, 'INSUFFICIENT_FUNDS');
    expect(await snapshot(kim, lee)).toEqual(before);

    await deposit(kim, 105.84); // 494.16 + 105.84 = 600
    const retried = await transfer(kim, body, key);
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await balanceIn(kim)).toEqual(wallet('INR', 0));
    expect(await balanceIn(lee)).toEqual(wallet('INR', 613.34));
    const replay = await transfer(kim, body, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(retried.json());
  });

  it('does not keep the key of a request that failed validation: the corrected request may use it', async () => {
    const before = await snapshot(lee, kim);
    // Refused by the service (three decimals), after the key was claimed.
    const serviceKey = newKey();
    expectError(
      await transfer(lee, { to: kim.user.id, amount: 0.001 }, serviceKey),
      400,
      'VALIDATION_FAILED',
    );
    // Refused by the schema, before the handler.
    const schemaKey = newKey();
    expectError(await transfer(lee, { to: kim.user.id, amount: -3 }, schemaKey), 400, 'VALIDATION_FAILED');
    // Refused for an unknown recipient.
    const recipientKey = newKey();
    expectError(
      await transfer(lee, { to: randomUUID(), amount: 3 }, recipientKey),
      404,
      'RECIPIENT_NOT_FOUND',
    );
    expect(await snapshot(lee, kim)).toEqual(before);

    for (const key of [serviceKey, schemaKey, recipientKey]) {
      const fixed = await transfer(lee, { to: kim.user.id, amount: 1 }, key);
      expect(fixed.statusCode, fixed.body).toBe(201);
      expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    }
    expect(await balanceIn(lee)).toEqual(wallet('INR', 610.34));
    expect(await balanceIn(kim)).toEqual(wallet('INR', 3));
  });

  it('scopes keys per caller: two users may use the same key for their own requests', async () => {
    const key = newKey();
    const a = await kim.client.post('/api/v1/wallet/deposit', { amount: 1, reference: 'scoped' }, keyed(key));
    const b = await lee.client.post('/api/v1/wallet/deposit', { amount: 1, reference: 'scoped' }, keyed(key));
    expect(a.statusCode, a.body).toBe(201);
    expect(b.statusCode, b.body).toBe(201);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(b.json().data.deposit.entryId).not.toBe(a.json().data.deposit.entryId);
    expect(await balanceIn(kim)).toEqual(wallet('INR', 4));
    expect(await balanceIn(lee)).toEqual(wallet('INR', 611.34));

    // Within one caller the key stays bound to that caller's first request.
    expectError(await transfer(lee, { to: kim.user.id, amount: 0.34 }, key), 422, 'IDEMPOTENCY_KEY_REUSED');
    const back = await transfer(kim, { to: lee.user.id, amount: 4 }, newKey());
    expect(back.statusCode, back.body).toBe(201);
    expect(await balanceIn(kim)).toEqual(wallet('INR', 0));
    expect(await balanceIn(lee)).toEqual(wallet('INR', 615.34));
  });

  it('refuses a malformed key with 400, moving nothing', async () => {
    const before = await snapshot(lee);
    for (const bad of ['has space', 'x'.repeat(256), 'tab\tkey']) {
      const reply = await lee.client.post(
        '/api/v1/wallet/transfer',
        { to: kim.user.id, amount: 1 },
        { 'idempotency-key': bad },
      );
      expect(reply.statusCode, reply.body).toBe(400);
      expect(reply.json().success).toBe(false);
    }
    expect(await snapshot(lee)).toEqual(before);
    const longest = await transfer(lee, { to: kim.user.id, amount: 1 }, 'k'.repeat(255));
    expect(longest.statusCode, longest.body).toBe(201);
  });

  it('lets concurrent requests with one key move money once; the others replay or are told it is in flight', async () => {
    const before = await snapshot(lee, kim);
    const key = newKey();
    const body = { to: kim.user.id, amount: 10.01 };
    const replies = await Promise.all(Array.from({ length: 12 }, () => transfer(lee, body, key)));
    const statuses = replies.map((reply) => reply.statusCode);
    for (const reply of replies) {
      expect([201, 409], reply.body).toContain(reply.statusCode);
      if (reply.statusCode === 409) expectError(reply, 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
    }
    const originals = replies.filter(
      (reply) => reply.statusCode === 201 && reply.headers['idempotent-replayed'] === undefined,
    );
    expect(originals, statuses.join(',')).toHaveLength(1);
    const created = replies.filter((reply) => reply.statusCode === 201);
    for (const reply of created) expect(reply.json()).toEqual(originals[0]!.json());

    const after = await snapshot(lee, kim);
    expect(after.counts).toMatchObject({
      entries: before.counts.entries + 1,
      postings: before.counts.postings + 2,
      keys: before.counts.keys + 1,
    });
    // Once the first has finished, a retry replays it.
    const later = await transfer(lee, body, key);
    expect(later.statusCode, later.body).toBe(201);
    expect(later.headers['idempotent-replayed']).toBe('true');
    expect(later.json()).toEqual(originals[0]!.json());
    expect(await balanceIn(lee)).toEqual(wallet('INR', 604.33));
    expect(await balanceIn(kim)).toEqual(wallet('INR', 11.01));
  });
});

describe('deposits with NODE_ENV=production', () => {
  let production: TestApp;
  beforeAll(async () => {
    production = await createTestApp({
      clock,
      database: testApp.database,
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: 'p'.repeat(40),
        ENCRYPTION_KEY: 'ab'.repeat(32),
      },
    });
  });
  afterAll(async () => {
    await production?.close();
  });

  it('refuses a user’s or merchant’s own deposit (403 DEPOSIT_NOT_ALLOWED), writing nothing', async () => {
    const user = await createAccount(production, 'user');
    const merchant = await createAccount(production, 'merchant');
    const before = await counts();
    for (const caller of [user.client, merchant.client, merchant.apiClient!]) {
      const reply = await caller.post(
        '/api/v1/wallet/deposit',
        { amount: 100, reference: reference() },
        keyed(),
      );
      expectError(reply, 403, 'DEPOSIT_NOT_ALLOWED');
    }
    expect(await counts()).toEqual(before);
    expect(await balances(user)).toEqual(ZERO_WALLETS);
  });

  it('lets an admin credit a user, who may then transfer and withdraw as usual', async () => {
    const prodAdmin = await createAccount(production, 'admin');
    const user = await createAccount(production, 'user');
    const other = await createAccount(production, 'user');
    const credited = await prodAdmin.client.post(
      '/api/v1/wallet/deposit',
      { amount: 250, reference: reference('bank'), userId: user.user.id },
      keyed(),
    );
    expect(credited.statusCode, credited.body).toBe(201);
    const own = await prodAdmin.client.post(
      '/api/v1/wallet/deposit',
      { amount: 5, reference: reference() },
      keyed(),
    );
    expect(own.statusCode, own.body).toBe(201);
    expect(await balanceIn(prodAdmin)).toEqual(wallet('INR', 5));

    const moved = await user.client.post(
      '/api/v1/wallet/transfer',
      { to: other.user.id, amount: 100 },
      keyed(),
    );
    expect(moved.statusCode, moved.body).toBe(201);
    expect(await balanceIn(user)).toEqual(wallet('INR', 150));
    expect(await balanceIn(other)).toEqual(wallet('INR', 100));
    const held = await user.client.post(
      '/api/v1/wallet/withdraw',
      { amount: 50, destination: 'prod.user@okaxis' },
      keyed(),
    );
    expect(held.statusCode, held.body).toBe(201);
    expect(await balanceIn(user)).toEqual(wallet('INR', 150, 50));
    const source = await testApp.database.handle.db
      .selectFrom('ledgerEntries')
      .select('metadata')
      .where('id', '=', credited.json().data.deposit.entryId)
      .executeTakeFirstOrThrow();
    expect(source.metadata).toMatchObject({ source: 'admin', userId: user.user.id });
  });
});

/** A small deterministic generator, so the concurrency scenario is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('concurrency: 400 transfers among 20 wallets, 32 at a time, through the HTTP API', () => {
  const USERS = 20;
  const TRANSFERS = 400;
  const BATCH = 32;
  const FUNDING_MINOR = 100_000n; // 1,000.00 INR each
  let users: Account[];

  beforeAll(async () => {
    users = await Promise.all(Array.from({ length: USERS }, () => createAccount(testApp, 'user')));
    for (const user of users) await deposit(user, Number(FUNDING_MINOR) / 100);
  });

  it('answers only 201 or 422 INSUFFICIENT_FUNDS, conserves money exactly, keeps balances non-negative, verifies', async () => {
    const random = seeded(20300601);
    const plan = Array.from({ length: TRANSFERS }, (_, index) => {
      const from = Math.floor(random() * USERS);
      const to = (from + 1 + Math.floor(random() * (USERS - 1))) % USERS;
      // 0.01 .. 800.00 INR: many fit, a good share exceed what the sender has left.
      const amountMinor = BigInt(1 + Math.floor(random() * 80_000));
      return { index, from, to, amountMinor, key: `conc-${index}-${randomUUID()}` };
    });
    const entriesBefore = await counts();

    const outcomes: { status: number; code?: string; plan: (typeof plan)[number] }[] = [];
    for (let start = 0; start < plan.length; start += BATCH) {
      const batch = plan.slice(start, start + BATCH);
      const replies = await Promise.all(
        batch.map((item) =>
          transfer(
            users[item.from]!,
            { to: users[item.to]!.user.id, amount: Number(item.amountMinor) / 100 },
            item.key,
          ),
        ),
      );
      replies.forEach((reply, offset) => {
        const item = batch[offset]!;
        outcomes.push({ status: reply.statusCode, code: reply.json().error?.code, plan: item });
      });
    }

    const unexpected = outcomes.filter(
      (outcome) =>
        !(outcome.status === 201 || (outcome.status === 422 && outcome.code === 'INSUFFICIENT_FUNDS')),
    );
    expect(unexpected.map((outcome) => `${outcome.status} ${outcome.code}`)).toEqual([]);
    const succeeded = outcomes.filter((outcome) => outcome.status === 201);
    const refused = outcomes.filter((outcome) => outcome.status === 422);
    expect(succeeded.length).toBeGreaterThan(50);
    expect(refused.length).toBeGreaterThan(10);
    expect(succeeded.length + refused.length).toBe(TRANSFERS);

    // Each wallet ends exactly at funding + what it received - what it sent, by the 201 replies.
    const expected = users.map(() => FUNDING_MINOR);
    for (const { plan: item } of succeeded) {
      expected[item.from] = expected[item.from]! - item.amountMinor;
      expected[item.to] = expected[item.to]! + item.amountMinor;
    }
    const actual = await Promise.all(users.map((user) => balanceIn(user)));
    expect(actual).toEqual(expected.map((minor) => wallet('INR', Number(minor) / 100)));
    for (const minor of expected) expect(minor >= 0n).toBe(true);
    const total = actual.reduce((sum, item) => sum + Math.round(item.balance * 100), 0);
    expect(total).toBe(USERS * Number(FUNDING_MINOR));

    const db = testApp.database.handle.db;
    const rows = await db
      .selectFrom('ledgerAccounts')
      .select(['balanceMinor', 'heldMinor'])
      .where('ownerType', '=', 'user')
      .where(
        'ownerId',
        'in',
        users.map((user) => user.user.id),
      )
      .where('purpose', '=', 'wallet')
      .execute();
    expect(rows.reduce((sum, row) => sum + row.balanceMinor, 0n)).toBe(BigInt(USERS) * FUNDING_MINOR);
    for (const row of rows) expect(row.balanceMinor >= 0n).toBe(true);
    expect(await counts()).toMatchObject({
      entries: entriesBefore.entries + succeeded.length,
      postings: entriesBefore.postings + 2 * succeeded.length,
      keys: entriesBefore.keys + succeeded.length,
    });
    await expectLedgerOk();
  });
});

describe('the ledger after every scenario above', () => {
  it('verifies with no differences', async () => {
    await expectLedgerOk();
  });
});
