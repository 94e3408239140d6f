import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';
import type { Db } from '../../db/database.ts';
import { MERCHANT_PAYABLE_SHARDS } from './merchant-balances.ts';

let testApp: TestApp;
let db: Db;

beforeAll(async () => {
  // A 1.5% UPI fee (150 basis points), so the fee leg shows in every entry.
  testApp = await createTestApp({ env: { UPI_FEE_BASIS_POINTS: '150' } });
  db = testApp.database.handle.db;
});
afterAll(async () => testApp.close());

async function newQrCode(merchant: Account): Promise<string> {
  const reply = await merchant.client.post('/api/qr', { vpa: 'shop@okaxis', referenceName: 'Counter' });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode.qrId;
}

async function pay(merchant: Account, qrId: string, amount: number, status = 'Success') {
  const reply = await merchant.client.post('/api/transactions', { qrId, amount, status });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.transaction as { id: string; paymentId: string };
}

async function balanceOf(
  merchant: Account,
): Promise<{ currency: string; balance: number; balanceMinor: string }[]> {
  const reply = await merchant.client.get('/api/v1/merchant/balance');
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.balances;
}

async function entriesFor(transactionId: string) {
  return db
    .selectFrom('ledgerEntries')
    .select(['id', 'type', 'reversesEntryId', 'idempotencyRef'])
    .where((eb) =>
      eb.or([
        eb('idempotencyRef', '=', `qr:${transactionId}`),
        eb('metadata', '@>', JSON.stringify({ transactionId }) as never),
      ]),
    )
    .orderBy('createdAt')
    .execute();
}

async function expectLedgerExact(): Promise<void> {
  const report = await testApp.services.ledger.verify();
  expect(report.differences).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('merchant balances from QR payments', () => {
  it('credits a payment created as Success, less the fee, and nothing for Failed or Pending', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    expect(await balanceOf(merchant)).toEqual([]);
    const qrId = await newQrCode(merchant);
    // 1,000.00 at 1.5% → fee 15.00, merchant 985.00; 333.33 → fee 5.00 (4.99995 rounds half up), 328.33.
    await pay(merchant, qrId, 1000);
    await pay(merchant, qrId, 333.33);
    await pay(merchant, qrId, 50, 'Failed');
    await pay(merchant, qrId, 70, 'Pending');
    expect(await balanceOf(merchant)).toEqual([
      { currency: 'INR', balance: 1313.33, balanceMinor: '131333' },
    ]);
    const fees = await db
      .selectFrom('ledgerAccounts')
      .select((eb) => eb.fn.sum<string>('balanceMinor').as('total'))
      .where('purpose', '=', 'fees_revenue')
      .executeTakeFirstOrThrow();
    expect(fees.total).toBe('2000');
    await expectLedgerExact();
  });

  it('credits a Pending payment once when it becomes Success, even when two requests race', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qrId = await newQrCode(merchant);
    const pending = await pay(merchant, qrId, 200, 'Pending');
    const replies = await Promise.all(
      Array.from({ length: 4 }, () =>
        merchant.client.patch(`/api/transactions/${pending.paymentId}`, { status: 'Success' }),
      ),
    );
    expect(replies.map((reply) => reply.statusCode).sort()).toEqual([200, 409, 409, 409]);
    const entries = await entriesFor(pending.id);
    expect(entries.map((entry) => entry.type)).toEqual(['qr_payment']);
    // 200.00 less 1.5% (3.00).
    expect(await balanceOf(merchant)).toEqual([{ currency: 'INR', balance: 197, balanceMinor: '19700' }]);
    await expectLedgerExact();
  });

  it('posts nothing when a Pending payment fails', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qrId = await newQrCode(merchant);
    const pending = await pay(merchant, qrId, 90, 'Pending');
    expect(
      (await merchant.client.patch(`/api/transactions/${pending.id}`, { status: 'Failed' })).statusCode,
    ).toBe(200);
    expect(await entriesFor(pending.id)).toEqual([]);
    expect(await balanceOf(merchant)).toEqual([]);
  });

  it('posts the mirror-image reversal when a posted payment is deleted, pointing at the original', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qrId = await newQrCode(merchant);
    await pay(merchant, qrId, 100);
    const deleted = await pay(merchant, qrId, 400);
    expect((await merchant.client.delete(`/api/transactions/${deleted.paymentId}`)).statusCode).toBe(200);
    const entries = await entriesFor(deleted.id);
    expect(entries.map((entry) => entry.type)).toEqual(['qr_payment', 'reversal']);
    expect(entries[1]?.reversesEntryId).toBe(entries[0]?.id);
    const [original, reversal] = await Promise.all(
      entries.map((entry) =>
        db
          .selectFrom('ledgerPostings')
          .select(['accountId', 'amountMinor'])
          .where('entryId', '=', entry.id)
          .orderBy('accountId')
          .execute(),
      ),
    );
    expect(reversal).toEqual(original?.map((posting) => ({ ...posting, amountMinor: -posting.amountMinor })));
    // Only the kept 100.00 remains: 98.50 after its 1.50 fee.
    expect(await balanceOf(merchant)).toEqual([{ currency: 'INR', balance: 98.5, balanceMinor: '9850' }]);
    await expectLedgerExact();
  });

  it('reverses every successful payment of a QR code that is deleted', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const doomed = await newQrCode(merchant);
    const other = await newQrCode(merchant);
    const credited = [];
    for (const amount of [10, 20, 30]) credited.push(await pay(merchant, doomed, amount));
    const failed = await pay(merchant, doomed, 40, 'Failed');
    await pay(merchant, other, 1000);
    expect((await merchant.client.delete(`/api/qr/${doomed}`)).statusCode).toBe(200);
    for (const transaction of credited) {
      expect((await entriesFor(transaction.id)).map((entry) => entry.type)).toEqual([
        'qr_payment',
        'reversal',
      ]);
    }
    expect(await entriesFor(failed.id)).toEqual([]);
    // Only the other code's 1,000.00 remains: 985.00 after its 15.00 fee.
    expect(await balanceOf(merchant)).toEqual([{ currency: 'INR', balance: 985, balanceMinor: '98500' }]);
    await expectLedgerExact();
  });

  it('credits simulated payments that succeed, and spreads a busy merchant over its payable shards', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const qrId = await newQrCode(merchant);
    const reply = await merchant.client.post('/api/transactions/simulate', { qrId, count: 100 });
    expect(reply.statusCode, reply.body).toBe(201);
    // Concurrent payments run on different database connections, and each posts to its own shard.
    const concurrent = await Promise.all(
      Array.from({ length: 12 }, () =>
        merchant.client.post('/api/v1/transactions', { qrId, amount: 10, status: 'Success' }),
      ),
    );
    for (const created of concurrent) expect(created.statusCode, created.body).toBe(201);
    const successful = [
      ...(reply.json().data.transactions as { status: string; amount: number }[]),
      ...concurrent.map((created) => created.json().data.transaction as { status: string; amount: number }),
    ].filter((transaction) => transaction.status === 'Success');
    const expectedMinor = successful.reduce((sum, transaction) => {
      const amountMinor = BigInt(Math.round(transaction.amount * 100));
      const feeMinor = (amountMinor * 150n * 2n + 10_000n) / 20_000n;
      return sum + amountMinor - feeMinor;
    }, 0n);
    expect(await balanceOf(merchant)).toEqual([
      { currency: 'INR', balance: Number(expectedMinor) / 100, balanceMinor: expectedMinor.toString() },
    ]);
    const shards = await db
      .selectFrom('ledgerAccounts')
      .select(['shard', 'balanceMinor'])
      .where('ownerId', '=', merchant.user.merchantId)
      .where('purpose', '=', 'merchant_payable')
      .execute();
    expect(shards.length).toBe(MERCHANT_PAYABLE_SHARDS);
    expect(shards.filter((shard) => shard.balanceMinor > 0n).length).toBeGreaterThan(1);
    await expectLedgerExact();
  });

  it('is for merchants only', async () => {
    const user = await createAccount(testApp, 'user');
    expectError(await user.client.get('/api/v1/merchant/balance'), 403, 'FORBIDDEN');
  });
});
