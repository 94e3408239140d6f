import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';

let testApp: TestApp;
let admin: Account;
let merchant: Account;
let other: Account;

async function pay(amount: number, method: string) {
  const reply = await merchant.client.post(
    '/api/v1/pay',
    { amount, currency: 'INR', orderId: randomUUID(), method, customer: { name: 'Asha' } },
    { 'idempotency-key': randomUUID() },
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.payment as { status: string; gatewayId: string };
}

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
  merchant = await createAccount(testApp, 'merchant');
  other = await createAccount(testApp, 'merchant');
});
afterAll(async () => testApp.close());

describe('GET /api/v1/analytics', () => {
  it('reports volume, success rate and average ticket, by gateway, method and day', async () => {
    const gateways = (await admin.client.get('/api/v1/admin/gateways')).json().data.gateways;
    const sandbox = gateways[0].id as string;
    await pay(100, 'upi_intent');
    await pay(250.5, 'card');
    await pay(49.5, 'upi_intent');
    // A second gateway that declines everything, first in line.
    const decliner = await admin.client.post('/api/v1/admin/gateways', {
      name: 'Decliner',
      connector: 'sandbox',
      priority: 1,
      config: { successRate: 0, failureMode: 'decline' },
    });
    expect(decliner.statusCode, decliner.body).toBe(201);
    expect((await pay(10, 'netbanking')).status).toBe('failed');

    const reply = await merchant.client.get('/api/v1/analytics');
    expect(reply.statusCode, reply.body).toBe(200);
    const data = reply.json().data;
    expect(data.totals).toEqual([
      { currency: 'INR', payments: 4, succeeded: 3, successRate: 0.75, amount: 400, averageTicket: 133.33 },
    ]);
    const byGateway = Object.fromEntries(
      data.byGateway.map((row: { gatewayName: string }) => [row.gatewayName, row]),
    );
    expect(byGateway.Sandbox).toMatchObject({ gatewayId: sandbox, payments: 3, succeeded: 3, amount: 400 });
    expect(byGateway.Decliner).toMatchObject({ payments: 1, succeeded: 0, successRate: 0, amount: 0 });
    const byMethod = Object.fromEntries(data.byMethod.map((row: { method: string }) => [row.method, row]));
    expect(byMethod.upi_intent).toMatchObject({ payments: 2, amount: 149.5, averageTicket: 74.75 });
    expect(byMethod.card).toMatchObject({ payments: 1, amount: 250.5 });
    expect(byMethod.netbanking).toMatchObject({ payments: 1, succeeded: 0 });
    expect(data.byDay).toHaveLength(1);
    expect(data.byDay[0]).toMatchObject({ payments: 4, succeeded: 3, amount: 400 });
  });

  it('keeps merchants apart; an admin sees all or one merchant', async () => {
    expect((await other.client.get('/api/v1/analytics')).json().data.totals).toEqual([]);
    const all = (await admin.client.get('/api/v1/analytics')).json().data.totals;
    expect(all[0].payments).toBe(4);
    const one = await admin.client.get(`/api/v1/analytics?merchantId=${other.user.merchantId}`);
    expect(one.json().data.totals).toEqual([]);
  });

  it('refuses bad periods and is not for plain users', async () => {
    expectError(
      await merchant.client.get('/api/v1/analytics?startDate=2026-13-01'),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await merchant.client.get('/api/v1/analytics?startDate=2026-12-10&endDate=2026-12-01'),
      400,
      'VALIDATION_FAILED',
    );
    expectError(await merchant.client.get('/api/v1/analytics?tz=Mars/Olympus'), 400, 'VALIDATION_FAILED');
    const user = await createAccount(testApp, 'user');
    expectError(await user.client.get('/api/v1/analytics'), 403, 'FORBIDDEN');
  });
});
