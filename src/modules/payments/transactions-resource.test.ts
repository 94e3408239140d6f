import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';

let testApp: TestApp;
let merchant: Account;
let other: Account;
let admin: Account;
let qrId: string;
let gatewayPaymentId: string;
let failedGatewayPaymentId: string;

async function pay(account: Account, amount: number) {
  const reply = await account.client.post(
    '/api/v1/pay',
    { amount, currency: 'INR', orderId: randomUUID(), method: 'upi_qr', customer: { name: 'Ravi' } },
    { 'idempotency-key': randomUUID() },
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.payment as { id: string; status: string };
}

async function recordQrPayment(amount: number, status: string) {
  const reply = await merchant.client.post('/api/v1/transactions', { qrId, amount, status });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.transaction as { id: string };
}

beforeAll(async () => {
  testApp = await createTestApp();
  merchant = await createAccount(testApp, 'merchant');
  other = await createAccount(testApp, 'merchant');
  admin = await createAccount(testApp, 'admin');
  const qr = await merchant.client.post('/api/qr', { vpa: 'shop@okaxis', referenceName: 'Till' });
  expect(qr.statusCode, qr.body).toBe(201);
  qrId = qr.json().data.qrCode.qrId;
  // Oldest to newest: QR Success, gateway succeeded, QR Pending, gateway failed.
  await recordQrPayment(10, 'Success');
  gatewayPaymentId = (await pay(merchant, 20)).id;
  await recordQrPayment(30, 'Pending');
  const sandbox = (await admin.client.get('/api/v1/admin/gateways')).json().data.gateways[0].id;
  await admin.client.put(`/api/v1/admin/gateways/${sandbox}`, {
    config: { successRate: 0, failureMode: 'decline' },
  });
  failedGatewayPaymentId = (await pay(merchant, 40)).id;
  await admin.client.put(`/api/v1/admin/gateways/${sandbox}`, {
    config: { successRate: 1, failureMode: 'none' },
  });
  await pay(other, 50);
});
afterAll(async () => testApp.close());

describe('GET /api/v1/transactions: QR and gateway payments, one resource', () => {
  it('lists both kinds, newest first, each with its source', async () => {
    const reply = await merchant.client.get('/api/v1/transactions');
    expect(reply.statusCode, reply.body).toBe(200);
    const { transactions, pagination } = reply.json().data;
    expect(transactions.map((row: { source: string; amount: number }) => [row.source, row.amount])).toEqual([
      ['gateway', 40],
      ['qr', 30],
      ['gateway', 20],
      ['qr', 10],
    ]);
    expect(transactions[0]).toMatchObject({ id: failedGatewayPaymentId, status: 'failed', method: 'upi_qr' });
    expect(pagination).toEqual({ current: 1, total: 1, count: 4, totalRecords: 4 });
  });

  it('pages through the merged list', async () => {
    const second = (await merchant.client.get('/api/v1/transactions?limit=3&page=2')).json().data;
    expect(second.transactions.map((row: { amount: number }) => row.amount)).toEqual([10]);
    expect(second.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 4 });
    expectError(
      await merchant.client.get('/api/v1/transactions?limit=100&page=101'),
      400,
      'VALIDATION_FAILED',
    );
    // A chosen source pages as deep as it likes.
    const deep = await merchant.client.get('/api/v1/transactions?limit=100&page=101&source=gateway');
    expect(deep.statusCode, deep.body).toBe(200);
    expect(deep.json().data.transactions).toEqual([]);
  });

  it('selects one source with source=, and QR payments with qrId', async () => {
    const gateway = (await merchant.client.get('/api/v1/transactions?source=gateway')).json().data;
    expect(gateway.transactions.map((row: { id: string }) => row.id)).toEqual([
      failedGatewayPaymentId,
      gatewayPaymentId,
    ]);
    expect(gateway.pagination.totalRecords).toBe(2);
    const qr = (await merchant.client.get('/api/v1/transactions?source=qr')).json().data;
    expect(qr.transactions.every((row: { source: string }) => row.source === 'qr')).toBe(true);
    expect(qr.pagination.totalRecords).toBe(2);
    const byCode = (await merchant.client.get(`/api/v1/transactions?qrId=${qrId}`)).json().data;
    expect(byCode.transactions.map((row: { amount: number }) => row.amount)).toEqual([30, 10]);
    expectError(await merchant.client.get('/api/v1/transactions?source=card'), 400, 'VALIDATION_FAILED');
  });

  it('filters both kinds by status in the QR vocabulary', async () => {
    const paid = (await merchant.client.get('/api/v1/transactions?status=Success')).json().data;
    expect(
      paid.transactions.map((row: { source: string; amount: number }) => [row.source, row.amount]),
    ).toEqual([
      ['gateway', 20],
      ['qr', 10],
    ]);
    const failed = (await merchant.client.get('/api/v1/transactions?status=Failed')).json().data;
    expect(failed.transactions.map((row: { id: string }) => row.id)).toEqual([failedGatewayPaymentId]);
  });

  it('keeps merchants apart; an admin sees everyone, or one merchant', async () => {
    const mine = (await other.client.get('/api/v1/transactions')).json().data;
    expect(mine.transactions.map((row: { amount: number }) => row.amount)).toEqual([50]);
    const all = (await admin.client.get('/api/v1/transactions')).json().data;
    expect(all.pagination.totalRecords).toBe(5);
    const one = (await admin.client.get(`/api/v1/transactions?merchantId=${other.user.merchantId}`)).json()
      .data;
    expect(one.pagination.totalRecords).toBe(1);
  });
});

describe('GET /api/v1/transactions/:id', () => {
  it('shows a gateway payment by its id, to its merchant and admins only', async () => {
    const reply = await merchant.client.get(`/api/v1/transactions/${gatewayPaymentId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.transaction).toMatchObject({
      id: gatewayPaymentId,
      source: 'gateway',
      status: 'succeeded',
      amount: 20,
      attempts: [expect.objectContaining({ gatewayName: 'Sandbox', status: 'succeeded' })],
    });
    expect((await admin.client.get(`/api/v1/transactions/${gatewayPaymentId}`)).statusCode).toBe(200);
    expectError(
      await other.client.get(`/api/v1/transactions/${gatewayPaymentId}`),
      404,
      'TRANSACTION_NOT_FOUND',
    );
    expectError(
      await merchant.client.get(`/api/v1/transactions/${randomUUID()}`),
      404,
      'TRANSACTION_NOT_FOUND',
    );
  });
});
