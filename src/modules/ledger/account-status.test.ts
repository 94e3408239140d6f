import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';
import { PLATFORM_ACCOUNT_SHARDS } from './service.ts';

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => testApp.close());

const key = () => ({ 'idempotency-key': randomUUID() });

async function walletAccountId(user: Account): Promise<string> {
  const row = await testApp.database.handle.db
    .selectFrom('ledgerAccounts')
    .select('id')
    .where('ownerId', '=', user.user.id)
    .where('purpose', '=', 'wallet')
    .where('currency', '=', 'INR')
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('account status (admin)', () => {
  it('a frozen wallet refuses to pay or be paid until it is opened again; every change is audited', async () => {
    const owner = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 100, reference: 'r' }, key())).statusCode,
    ).toBe(201);
    expect(
      (await payee.client.post('/api/v1/wallet/deposit', { amount: 5, reference: 'r' }, key())).statusCode,
    ).toBe(201);
    const accountId = await walletAccountId(owner);

    const frozen = await admin.client.post(`/api/v1/admin/ledger/accounts/${accountId}/status`, {
      status: 'frozen',
    });
    expect(frozen.statusCode, frozen.body).toBe(200);
    expect(frozen.json().data.account).toMatchObject({
      id: accountId,
      status: 'frozen',
      balanceMinor: '10000',
    });
    expectError(
      await owner.client.post('/api/v1/wallet/transfer', { to: payee.user.id, amount: 1 }, key()),
      422,
      'ACCOUNT_NOT_OPEN',
    );
    expectError(
      await payee.client.post('/api/v1/wallet/transfer', { to: owner.user.id, amount: 1 }, key()),
      422,
      'ACCOUNT_NOT_OPEN',
    );
    const opened = await admin.client.post(`/api/v1/admin/ledger/accounts/${accountId}/status`, {
      status: 'open',
    });
    expect(opened.json().data.account.status).toBe('open');
    expect(
      (await owner.client.post('/api/v1/wallet/transfer', { to: payee.user.id, amount: 1 }, key()))
        .statusCode,
    ).toBe(201);

    const audit = await testApp.database.handle.db
      .selectFrom('auditLogs')
      .select(['details'])
      .where('action', '=', 'ledger.account_status_changed')
      .where('targetId', '=', accountId)
      .orderBy('createdAt')
      .execute();
    expect(audit.map((row) => row.details)).toEqual([
      { from: 'open', to: 'frozen' },
      { from: 'frozen', to: 'open' },
    ]);
  });

  it('is for admins, with a 404 for an unknown account and a 400 for an unknown status', async () => {
    const user = await createAccount(testApp, 'user');
    expectError(
      await user.client.post(`/api/v1/admin/ledger/accounts/${randomUUID()}/status`, { status: 'frozen' }),
      403,
      'FORBIDDEN',
    );
    expectError(
      await admin.client.post(`/api/v1/admin/ledger/accounts/${randomUUID()}/status`, { status: 'frozen' }),
      404,
      'ACCOUNT_NOT_FOUND',
    );
    expectError(
      await admin.client.post(`/api/v1/admin/ledger/accounts/${randomUUID()}/status`, { status: 'asleep' }),
      400,
      'VALIDATION_FAILED',
    );
  });
});

describe('platform accounts', () => {
  it('are made at start for every currency, once', async () => {
    await testApp.services.ledger.ensurePlatformAccounts(['INR', 'USDT']);
    await testApp.services.ledger.ensurePlatformAccounts(['INR', 'USDT']);
    const rows = await testApp.database.handle.db
      .selectFrom('ledgerAccounts')
      .select(['purpose', 'currency', (eb) => eb.fn.countAll<string>().as('shards')])
      .where('ownerType', '=', 'platform')
      .where('currency', 'in', ['INR', 'USDT'])
      .groupBy(['purpose', 'currency'])
      .orderBy('currency')
      .orderBy('purpose')
      .execute();
    expect(rows).toHaveLength(12);
    for (const row of rows) expect(Number(row.shards)).toBe(PLATFORM_ACCOUNT_SHARDS);
  });
});
