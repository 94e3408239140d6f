import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';
import { createManualClock } from '../../lib/clock.ts';

const clock = createManualClock(new Date('2026-11-23T10:00:00Z'));
let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  // USD/INR only: USDT has no rate, to show the refusal; a 0.5% spread.
  testApp = await createTestApp({ clock, env: { FX_RATES: 'USD/INR=83.25', FX_SPREAD_BASIS_POINTS: '50' } });
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => testApp.close());

const key = () => ({ 'idempotency-key': randomUUID() });

async function funded(currency: string, amount: number): Promise<Account> {
  const user = await createAccount(testApp, 'user');
  const reply = await user.client.post(
    '/api/v1/wallet/deposit',
    { amount, currency, reference: 'seed' },
    key(),
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return user;
}

async function balances(user: Account): Promise<Record<string, number>> {
  const reply = await user.client.get('/api/v1/wallet/balance');
  return Object.fromEntries(
    (reply.json().data.wallets as { currency: string; balance: number }[]).map((w) => [
      w.currency,
      w.balance,
    ]),
  );
}

async function expectLedgerExact() {
  const report = await testApp.services.ledger.verify();
  expect(report.differences).toEqual([]);
}

describe('currency swaps', () => {
  it('converts at the current rate less the spread, booked to fees revenue', async () => {
    const user = await funded('USD', 500);
    const reply = await user.client.post(
      '/api/v1/wallet/swap',
      { from: 'USD', to: 'INR', amount: 100 },
      key(),
    );
    expect(reply.statusCode, reply.body).toBe(201);
    // 100.00 USD × 83.25 = 8,325.00 INR; spread 0.5% = 41.625 → 41.63 (rounded up); received 8,283.37.
    expect(reply.json().data.swap).toMatchObject({
      from: 'USD',
      to: 'INR',
      amount: 100,
      rate: '83.25',
      spreadBasisPoints: 50,
      grossAmount: 8325,
      spread: 41.63,
      receiveAmount: 8283.37,
      quoteId: null,
    });
    expect(await balances(user)).toMatchObject({ USD: 400, INR: 8283.37 });
    const fees = await testApp.database.handle.db
      .selectFrom('ledgerAccounts')
      .select((eb) => eb.fn.sum<string>('balanceMinor').as('total'))
      .where('purpose', '=', 'fees_revenue')
      .where('currency', '=', 'INR')
      .executeTakeFirstOrThrow();
    expect(fees.total).toBe('4163');
    await expectLedgerExact();
  });

  it('uses a pair the other way round (INR to USD at 1/83.25)', async () => {
    const user = await funded('INR', 10_000);
    const reply = await user.client.post(
      '/api/v1/wallet/swap',
      { from: 'INR', to: 'USD', amount: 8325 },
      key(),
    );
    expect(reply.statusCode, reply.body).toBe(201);
    // 8,325.00 INR / 83.25 = 100.00 USD; spread 0.50; received 99.50.
    expect(reply.json().data.swap).toMatchObject({ grossAmount: 100, spread: 0.5, receiveAmount: 99.5 });
    expect(await balances(user)).toMatchObject({ INR: 1675, USD: 99.5 });
  });

  it('honours a quote for 30 seconds, once, for exactly what it priced', async () => {
    const user = await funded('USD', 300);
    const quoted = await user.client.get('/api/v1/wallet/swap/quote?from=USD&to=INR&amount=10');
    expect(quoted.statusCode, quoted.body).toBe(200);
    const quote = quoted.json().data.quote;
    expect(quote).toMatchObject({ rate: '83.25', grossAmount: 832.5, spread: 4.17, receiveAmount: 828.33 });
    expect(new Date(quote.expiresAt).getTime() - clock.now().getTime()).toBe(30_000);

    // The admin moves the rate; the quote keeps its own.
    const set = await admin.client.put('/api/v1/admin/fx-rates', { base: 'USD', quote: 'INR', rate: '90' });
    expect(set.statusCode, set.body).toBe(200);
    expectError(
      await user.client.post(
        '/api/v1/wallet/swap',
        { from: 'USD', to: 'INR', amount: 11, quoteId: quote.id },
        key(),
      ),
      422,
      'QUOTE_MISMATCH',
    );
    const stranger = await funded('USD', 50);
    expectError(
      await stranger.client.post(
        '/api/v1/wallet/swap',
        { from: 'USD', to: 'INR', amount: 10, quoteId: quote.id },
        key(),
      ),
      404,
      'QUOTE_NOT_FOUND',
    );
    clock.advance(29_000);
    const used = await user.client.post(
      '/api/v1/wallet/swap',
      { from: 'USD', to: 'INR', amount: 10, quoteId: quote.id },
      key(),
    );
    expect(used.statusCode, used.body).toBe(201);
    expect(used.json().data.swap).toMatchObject({ rate: '83.25', receiveAmount: 828.33, quoteId: quote.id });
    expectError(
      await user.client.post(
        '/api/v1/wallet/swap',
        { from: 'USD', to: 'INR', amount: 10, quoteId: quote.id },
        key(),
      ),
      409,
      'QUOTE_USED',
    );
    // Without a quote the new rate applies: 10 × 90 = 900.00, spread 4.50.
    const fresh = await user.client.post(
      '/api/v1/wallet/swap',
      { from: 'USD', to: 'INR', amount: 10 },
      key(),
    );
    expect(fresh.json().data.swap).toMatchObject({ rate: '90', receiveAmount: 895.5 });

    const late = (await user.client.get('/api/v1/wallet/swap/quote?from=USD&to=INR&amount=1')).json().data
      .quote;
    clock.advance(30_000);
    expectError(
      await user.client.post(
        '/api/v1/wallet/swap',
        { from: 'USD', to: 'INR', amount: 1, quoteId: late.id },
        key(),
      ),
      409,
      'QUOTE_EXPIRED',
    );
    await admin.client.put('/api/v1/admin/fx-rates', { base: 'USD', quote: 'INR', rate: '83.25' });
    await expectLedgerExact();
  });

  it('refuses what it cannot do, changing nothing', async () => {
    const user = await funded('USD', 5);
    const before = await balances(user);
    expectError(
      await user.client.post('/api/v1/wallet/swap', { from: 'USD', to: 'INR', amount: 6 }, key()),
      422,
      'INSUFFICIENT_FUNDS',
    );
    expectError(
      await user.client.post('/api/v1/wallet/swap', { from: 'USD', to: 'USD', amount: 1 }, key()),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await user.client.post('/api/v1/wallet/swap', { from: 'USD', to: 'EUR', amount: 1 }, key()),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await user.client.post('/api/v1/wallet/swap', { from: 'USD', to: 'INR', amount: 1.005 }, key()),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await user.client.post('/api/v1/wallet/swap', { from: 'USD', to: 'USDT', amount: 1 }, key()),
      422,
      'NO_FX_RATE',
    );
    // 0.01 INR is 0.00012 USD: nothing would arrive.
    const rupees = await funded('INR', 1);
    expectError(
      await rupees.client.post('/api/v1/wallet/swap', { from: 'INR', to: 'USD', amount: 0.01 }, key()),
      422,
      'AMOUNT_TOO_SMALL',
    );
    expectError(
      await user.client.post('/api/v1/wallet/swap', { from: 'USD', to: 'INR', amount: 1 }),
      400,
      'IDEMPOTENCY_KEY_REQUIRED',
    );
    expect(await balances(user)).toEqual(before);
  });

  it('lets admins read and set rates (audited), and no one else', async () => {
    const list = await admin.client.get('/api/v1/admin/fx-rates');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().data.rates).toContainEqual({ base: 'USD', quote: 'INR', rate: '83.25' });
    const set = await admin.client.put('/api/v1/admin/fx-rates', {
      base: 'USDT',
      quote: 'USD',
      rate: '0.9995',
    });
    expect(set.statusCode, set.body).toBe(200);
    expect((await admin.client.get('/api/v1/admin/fx-rates')).json().data.rates).toContainEqual({
      base: 'USDT',
      quote: 'USD',
      rate: '0.9995',
    });
    const audit = await testApp.database.handle.db
      .selectFrom('auditLogs')
      .select(['action', 'targetId'])
      .where('action', '=', 'fx.rate_set')
      .where('targetId', '=', 'USDT/USD')
      .execute();
    expect(audit).toHaveLength(1);
    expectError(
      await admin.client.put('/api/v1/admin/fx-rates', { base: 'USD', quote: 'INR', rate: '0' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await admin.client.put('/api/v1/admin/fx-rates', { base: 'USD', quote: 'USD', rate: '1' }),
      400,
      'VALIDATION_FAILED',
    );
    const user = await createAccount(testApp, 'user');
    expectError(await user.client.get('/api/v1/admin/fx-rates'), 403, 'FORBIDDEN');
    expectError(
      await user.client.put('/api/v1/admin/fx-rates', { base: 'USD', quote: 'INR', rate: '1' }),
      403,
      'FORBIDDEN',
    );
  });
});
