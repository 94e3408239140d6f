import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';

let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp();
});
afterAll(async () => testApp.close());

const key = () => ({ 'idempotency-key': randomUUID() });

async function lowBalanceEvents(user: Account) {
  return testApp.database.handle.db
    .selectFrom('events')
    .select(['type', 'payload', 'userId'])
    .where('userId', '=', user.user.id)
    .where('type', '=', 'wallet.low_balance')
    .orderBy('createdAt')
    .execute();
}

describe('low-balance alerts', () => {
  it('records one event each time the available balance falls below the threshold, and re-arms above it', async () => {
    const owner = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 500, reference: 'r1' }, key())).statusCode,
    ).toBe(201);
    const set = await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 100 });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().data.wallet).toEqual({
      currency: 'INR',
      balance: 500,
      availableBalance: 500,
      heldAmount: 0,
      lowBalanceThreshold: 100,
    });
    const transfer = (amount: number) =>
      owner.client.post('/api/v1/wallet/transfer', { to: payee.user.id, amount }, key());

    expect((await transfer(350)).statusCode).toBe(201); // 150 left: still above 100
    expect(await lowBalanceEvents(owner)).toHaveLength(0);
    expect((await transfer(60)).statusCode).toBe(201); // 90: crosses below 100
    expect((await transfer(10)).statusCode).toBe(201); // 80: already below, no second event
    let events = await lowBalanceEvents(owner);
    expect(events).toHaveLength(1);
    expect(events[0]?.payload).toMatchObject({
      currency: 'INR',
      availableMinor: '9000',
      thresholdMinor: '10000',
    });

    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 100, reference: 'r2' }, key())).statusCode,
    ).toBe(201); // 180: back above, re-armed
    // A withdrawal holds 100: available 80, below again.
    const withdrawal = await owner.client.post(
      '/api/v1/wallet/withdraw',
      { amount: 100, destination: 'owner@okaxis' },
      key(),
    );
    expect(withdrawal.statusCode, withdrawal.body).toBe(201);
    events = await lowBalanceEvents(owner);
    expect(events).toHaveLength(2);
    expect(events[1]?.payload).toMatchObject({ availableMinor: '8000', thresholdMinor: '10000' });

    // The payee set no threshold: nothing for it.
    expect(await lowBalanceEvents(payee)).toHaveLength(0);
    expect((await testApp.services.ledger.verify()).ok).toBe(true);
  });

  it('clears with null, and refuses bad thresholds', async () => {
    const owner = await createAccount(testApp, 'user');
    expect(
      (await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 5.5 })).statusCode,
    ).toBe(200);
    const cleared = await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: null });
    expect(cleared.json().data.wallet.lowBalanceThreshold).toBeNull();
    const usdt = await owner.client.put('/api/v1/wallet/low-balance-threshold', {
      currency: 'USDT',
      threshold: 0.000001,
    });
    expect(usdt.json().data.wallet).toMatchObject({ currency: 'USDT', lowBalanceThreshold: 0.000001 });
    expectError(
      await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 1.001 }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: -1 }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await owner.client.put('/api/v1/wallet/low-balance-threshold', { currency: 'EUR', threshold: 1 }),
      400,
      'VALIDATION_FAILED',
    );
    const balance = await owner.client.get('/api/v1/wallet/balance');
    expect(
      balance
        .json()
        .data.wallets.map((wallet: { lowBalanceThreshold: number | null }) => wallet.lowBalanceThreshold),
    ).toEqual([null, null, 0.000001]);
  });
});

describe('the periodic low-balance check (low_balance_check, every 15 minutes)', () => {
  const check = () => testApp.services.ledger.recordMissedLowBalances();

  it('alerts a wallet whose threshold was set above its balance, once per threshold setting', async () => {
    const owner = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 50, reference: 'c1' }, key())).statusCode,
    ).toBe(201);
    await check(); // other tests' wallets may be alerted here; this one has no threshold yet
    expect(await lowBalanceEvents(owner)).toHaveLength(0);

    // No posting crosses a threshold set above the balance: only the check can tell.
    expect(
      (await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 80 })).statusCode,
    ).toBe(200);
    expect(await lowBalanceEvents(owner)).toHaveLength(0);
    expect(await check()).toBe(1);
    const events = await lowBalanceEvents(owner);
    expect(events).toHaveLength(1);
    expect(events[0]?.payload).toMatchObject({
      availableMinor: '5000',
      thresholdMinor: '8000',
      cause: 'check',
    });
    expect(await check()).toBe(0);

    // Set again (even to the same value): a fresh setting is alerted again, once.
    expect(
      (await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 80 })).statusCode,
    ).toBe(200);
    expect(await check()).toBe(1);
    expect(await check()).toBe(0);
    expect(await lowBalanceEvents(owner)).toHaveLength(2);

    // Above the threshold again, then below through a posting: the posting alerts, the check adds nothing.
    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 100, reference: 'c2' }, key())).statusCode,
    ).toBe(201);
    expect(await check()).toBe(0);
    expect(
      (await owner.client.post('/api/v1/wallet/transfer', { to: payee.user.id, amount: 100 }, key()))
        .statusCode,
    ).toBe(201);
    expect(await lowBalanceEvents(owner)).toHaveLength(3);
    expect(await check()).toBe(0);

    // A wallet without a threshold, or above it, is never alerted.
    expect(
      (await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: null })).statusCode,
    ).toBe(200);
    expect(await check()).toBe(0);
    expect(await lowBalanceEvents(owner)).toHaveLength(3);
  });
});
