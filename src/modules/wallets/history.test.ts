import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';

let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp();
});
afterAll(async () => testApp.close());

const key = () => ({ 'idempotency-key': randomUUID() });

describe('withdrawals in the wallet history', () => {
  it('shows a pending withdrawal as pending, a failed one as failed, a paid one once as its posting', async () => {
    const admin = await createAccount(testApp, 'admin');
    const user = await createAccount(testApp, 'user');
    expect(
      (await user.client.post('/api/v1/wallet/deposit', { amount: 300, reference: 'r' }, key())).statusCode,
    ).toBe(201);
    const withdraw = async (amount: number) => {
      const reply = await user.client.post(
        '/api/v1/wallet/withdraw',
        { amount, destination: 'me@okaxis' },
        key(),
      );
      expect(reply.statusCode, reply.body).toBe(201);
      return reply.json().data.withdrawal.id as string;
    };
    const paid = await withdraw(100);
    const failed = await withdraw(50);
    const pending = await withdraw(25);
    expect((await admin.client.post(`/api/v1/admin/withdrawals/${paid}/complete`)).statusCode).toBe(200);
    expect(
      (await admin.client.post(`/api/v1/admin/withdrawals/${failed}/fail`, { reason: 'bank down' }))
        .statusCode,
    ).toBe(200);

    const history = (await user.client.get('/api/v1/wallet/transactions?type=withdrawal')).json().data;
    expect(history.pagination.totalRecords).toBe(3);
    const byReference = Object.fromEntries(
      history.transactions.map((row: { reference: string }) => [row.reference, row]),
    );
    expect(byReference[`withdrawal:${pending}`]).toMatchObject({
      type: 'withdrawal',
      direction: 'debit',
      amount: 25,
      status: 'pending',
      entryId: null,
      balanceAfter: null,
    });
    expect(byReference[`withdrawal:${failed}`]).toMatchObject({
      amount: 50,
      status: 'failed',
      entryId: null,
    });
    expect(byReference[`withdrawal:${paid}`]).toMatchObject({
      amount: 100,
      status: 'completed',
      balanceAfter: 200,
    });
    expect(byReference[`withdrawal:${paid}`].entryId).toEqual(expect.any(String));

    const all = (await user.client.get('/api/v1/wallet/transactions')).json().data;
    expect(all.pagination.totalRecords).toBe(4); // the deposit and the three withdrawals
    const credits = (await user.client.get('/api/v1/wallet/transactions?direction=credit')).json().data;
    expect(credits.transactions.map((row: { type: string }) => row.type)).toEqual(['deposit']);
  });

  it('answers the admin wallet list at /api/v1/wallets as well as /api/v1/admin/wallets', async () => {
    const admin = await createAccount(testApp, 'admin');
    const user = await createAccount(testApp, 'user');
    expect(
      (await user.client.post('/api/v1/wallet/deposit', { amount: 7, reference: 'r' }, key())).statusCode,
    ).toBe(201);
    const listed = await admin.client.get(`/api/v1/wallets?userId=${user.user.id}`);
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().data.wallets).toEqual([
      expect.objectContaining({ userId: user.user.id, balance: 7 }),
    ]);
    expect((await admin.client.get(`/api/v1/admin/wallets?userId=${user.user.id}`)).json()).toEqual(
      listed.json(),
    );
    expectError(await user.client.get('/api/v1/wallets'), 403, 'FORBIDDEN');
  });
});
