import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import { type RazorpayFake, startRazorpayGateway } from '../../../test/gateways/razorpay-server.ts';
import type { Db } from '../../db/database.ts';

/**
 * The payer's device on POST /pay: the merchant's server (our caller) forwards the payer's IP and
 * user agent in `payer`; they are checked at the edge and reach the gateway, through the local
 * Razorpay imitation over real HTTP, and are not stored. The caller's own address is never taken
 * for the payer's.
 */

const CUSTOMER = { name: 'Asha Rao', email: 'asha@example.test', phone: '9876543210', vpa: 'asha@okaxis' };
const UPI_PAYMENT_PATH = '/v1/payments/create/upi';
const PHONE_USER_AGENT =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';
const USER_AGENT_LENGTH_MAX = 512;

let testApp: TestApp;
let db: Db;
let merchant: Client;
let merchantId: string;
let fake: RazorpayFake;

function payBody(overrides: Record<string, unknown> = {}) {
  return {
    amount: 250,
    currency: 'INR',
    orderId: `order-${randomUUID()}`,
    method: 'upi_intent',
    customer: CUSTOMER,
    ...overrides,
  };
}

function pay(body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return merchant.post('/api/v1/pay', body, { 'idempotency-key': randomUUID(), ...headers });
}

/** The S2S UPI payment Razorpay received for our payment (its notes carry our payment id). */
function upiPaymentSentFor(paymentId: string): Record<string, unknown> {
  const sent = fake.requests
    .filter((request) => request.path === UPI_PAYMENT_PATH)
    .map((request) => JSON.parse(request.body) as Record<string, any>)
    .filter((body) => body.notes?.payment_id === paymentId);
  expect(sent).toHaveLength(1);
  return sent[0] ?? {};
}

async function paymentCount(orderId: string): Promise<number> {
  const rows = await db
    .selectFrom('payments')
    .select('id')
    .where('merchantId', '=', merchantId)
    .where('orderId', '=', orderId)
    .execute();
  return rows.length;
}

/** Rows, in the tables a payment writes to, whose content mentions this text anywhere. */
async function rowsMentioning(text: string): Promise<number> {
  const pattern = `%${text}%`;
  const result = await sql<{ count: string }>`
    SELECT (SELECT count(*) FROM payments t WHERE row_to_json(t)::text LIKE ${pattern})
         + (SELECT count(*) FROM payment_attempts t WHERE row_to_json(t)::text LIKE ${pattern})
         + (SELECT count(*) FROM payment_status_history t WHERE row_to_json(t)::text LIKE ${pattern})
         + (SELECT count(*) FROM idempotency_keys t WHERE row_to_json(t)::text LIKE ${pattern})
         + (SELECT count(*) FROM events t WHERE row_to_json(t)::text LIKE ${pattern})
         + (SELECT count(*) FROM audit_logs t WHERE row_to_json(t)::text LIKE ${pattern}) AS count`.execute(
    db,
  );
  return Number(result.rows[0]?.count ?? 0);
}

beforeAll(async () => {
  fake = await startRazorpayGateway();
  // The payer has not acted yet: payments stay pending at Razorpay.
  fake.behaviour = 'pending';
  testApp = await createTestApp();
  db = testApp.database.handle.db;
  const admin: Account = await createAccount(testApp, 'admin');
  const account = await createAccount(testApp, 'merchant');
  if (account.apiClient === undefined) throw new Error('a merchant without API credentials');
  merchant = account.apiClient;
  merchantId = account.user.merchantId ?? '';
  const gateways = await admin.client.get('/api/v1/admin/gateways');
  for (const gateway of gateways.json().data.gateways as { id: string; enabled: boolean }[]) {
    if (!gateway.enabled) continue;
    const disabled = await admin.client.put(`/api/v1/admin/gateways/${gateway.id}`, { enabled: false });
    expect(disabled.statusCode, disabled.body).toBe(200);
  }
  const created = await admin.client.post('/api/v1/admin/gateways', {
    name: 'Razorpay',
    connector: 'razorpay',
    credentials: fake.credentials,
    config: { baseUrl: fake.baseUrl },
    methods: ['upi_intent', 'upi_collect'],
    priority: 1,
  });
  expect(created.statusCode, created.body).toBe(201);
});

afterAll(async () => {
  await testApp?.close();
  await fake?.close();
});

describe('payer details on POST /pay', () => {
  it.each([
    ['an ip that is not an address', { ip: 'not-an-ip' }, 'payer.ip'],
    ['an IPv4 address out of range', { ip: '203.0.113.256' }, 'payer.ip'],
    ['an address with a port', { ip: '203.0.113.7:443' }, 'payer.ip'],
    ['an ip that is not a string', { ip: 3405803783 }, 'payer.ip'],
    ['an empty user agent', { userAgent: '' }, 'payer.userAgent'],
    [
      'a user agent over 512 characters',
      { userAgent: 'M'.repeat(USER_AGENT_LENGTH_MAX + 1) },
      'payer.userAgent',
    ],
    ['a referer that is not an http(s) URL', { referer: 'javascript:alert(1)' }, 'payer.referer'],
    ['a field the API does not take', { ip: '203.0.113.7', deviceId: 'abc' }, 'payer'],
  ])('refuses %s with a 400, writing and sending nothing', async (_case, payer, field) => {
    const body = payBody({ payer });
    const sentBefore = fake.requests.length;
    const reply = await pay(body);
    expectError(reply, 400, 'VALIDATION_FAILED');
    const details = reply.json().error.details as { field: string }[];
    expect(details.some((problem) => problem.field.startsWith(field))).toBe(true);
    expect(await paymentCount(body.orderId)).toBe(0);
    expect(fake.requests.length).toBe(sentBefore);
  });

  it('takes a user agent of exactly 512 characters', async () => {
    const userAgent = `Mozilla/5.0 ${'x'.repeat(USER_AGENT_LENGTH_MAX - 'Mozilla/5.0 '.length)}`;
    const reply = await pay(payBody({ payer: { userAgent } }));
    expect(reply.statusCode, reply.body).toBe(201);
    expect(upiPaymentSentFor(reply.json().data.payment.id).user_agent).toBe(userAgent);
  });

  it.each([
    ['IPv4', '198.51.100.23'],
    ['IPv6', '2401:4900:1c8a:6b2f::23'],
  ])("forwards the payer's %s address, user agent and referer to the gateway", async (_kind, ip) => {
    const payer = { ip, userAgent: PHONE_USER_AGENT, referer: 'https://shop.example.test/checkout' };
    const reply = await pay(payBody({ payer }));
    expect(reply.statusCode, reply.body).toBe(201);
    const { payment } = reply.json().data;
    expect(payment).toMatchObject({
      status: 'pending',
      attempts: [expect.objectContaining({ gatewayName: 'Razorpay' })],
    });
    expect(upiPaymentSentFor(payment.id)).toMatchObject({
      ip,
      user_agent: PHONE_USER_AGENT,
      referer: 'https://shop.example.test/checkout',
    });
    // Passed on, not kept: the reply and the payment's rows do not carry it.
    expect(reply.body).not.toContain(ip);
    expect(await rowsMentioning(payment.id)).toBeGreaterThan(0);
    expect(await rowsMentioning(ip)).toBe(0);
  });

  it('never takes the calling server’s address for the payer’s', async () => {
    const reply = await pay(payBody({ payer: { userAgent: PHONE_USER_AGENT } }), {
      'x-forwarded-for': '198.51.100.99',
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const sent = upiPaymentSentFor(reply.json().data.payment.id);
    expect(sent).not.toHaveProperty('ip');
    expect(sent.user_agent).toBe(PHONE_USER_AGENT);

    const withoutPayer = await pay(payBody(), { 'x-forwarded-for': '198.51.100.99' });
    expect(withoutPayer.statusCode, withoutPayer.body).toBe(201);
    expect(upiPaymentSentFor(withoutPayer.json().data.payment.id)).not.toHaveProperty('ip');
  });

  it('documents payer in the OpenAPI schema of the pay body', async () => {
    const reply = await merchant.get('/api/openapi.json');
    expect(reply.statusCode, reply.body).toBe(200);
    const operation = reply.json().paths['/api/v1/pay'].post;
    const schema = operation.requestBody.content['application/json'].schema;
    expect(Object.keys(schema.properties.payer.properties).sort()).toEqual(['ip', 'referer', 'userAgent']);
    expect(schema.properties.payer.properties.userAgent.maxLength).toBe(USER_AGENT_LENGTH_MAX);
  });
});
