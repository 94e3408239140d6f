import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  createAccount,
  createTestApp,
  expectError,
  type Method,
  type TestApp,
} from '../../../test/app.ts';
import { createManualClock } from '../../lib/clock.ts';
import { decryptSecret } from '../../lib/crypto.ts';
import { seededRandom } from '../qr/index.ts';

/**
 * Gateway administration, routing, the circuit breaker and gateway health, through the real
 * application on a real database. Payments go to sandbox gateways (in-process, settled within the
 * request), so the routing choice of every payment is read from its reply: `attempts[0]` is the
 * gateway the strategy picked first, `gatewayId` the one that took it.
 */

interface AttemptReply {
  gatewayId: string;
  gatewayName: string;
  status: string;
  errorCode: string | null;
  latencyMs: number | null;
}

interface PaymentReply {
  id: string;
  status: string;
  amount: number;
  fee: number;
  gatewayId: string | null;
  errorCode: string | null;
  attempts: AttemptReply[];
}

interface GatewayReply {
  id: string;
  name: string;
  connector: string;
  credentialsHint: Record<string, string> | null;
  config: Record<string, unknown>;
  enabled: boolean;
  priority: number;
  weight: number;
  methods: string[];
  fees: { percent: number; fixed: number };
  minAmount: number | null;
  maxAmount: number | null;
  webhookIpAllowlist: string[] | null;
  webhookUrl: string;
  createdAt: string;
  updatedAt: string;
}

interface HealthReply {
  gatewayId: string;
  name: string;
  enabled: boolean;
  volume: number;
  succeeded: number;
  failed: number;
  successRate: number | null;
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  errors: Record<string, number>;
  circuit: { state: 'closed' | 'open' | 'half_open'; consecutiveFailures: number; openedAt: string | null };
}

const HEALTHY = { successRate: 1, latencyMs: 0, failureMode: 'none' } as const;
const ERRORING = { successRate: 0, latencyMs: 0, failureMode: 'error' } as const;
const DECLINING = { successRate: 0, latencyMs: 0, failureMode: 'decline' } as const;
const PAYMENT_AMOUNT = 499;
const NO_FEES = { percent: 0, fixed: 0 };

let orderCounter = 0;

/** A sandbox payment with a fresh order id and Idempotency-Key; returns the raw reply. */
async function payReply(merchant: Account, amount = PAYMENT_AMOUNT, method = 'upi_intent') {
  orderCounter += 1;
  const orderId = `order-${orderCounter}-${randomBytes(4).toString('hex')}`;
  return merchant.client.post(
    '/api/v1/pay',
    { amount, currency: 'INR', orderId, method, customer: { name: 'Asha Rao' } },
    { 'idempotency-key': `pay-${orderId}` },
  );
}

async function pay(merchant: Account, amount = PAYMENT_AMOUNT, method = 'upi_intent'): Promise<PaymentReply> {
  const reply = await payReply(merchant, amount, method);
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.payment;
}

/** `count` payments one after another (in order, so a seeded random source gives the same run). */
async function payMany(merchant: Account, count: number, amount = PAYMENT_AMOUNT): Promise<PaymentReply[]> {
  const payments: PaymentReply[] = [];
  for (let index = 0; index < count; index += 1) payments.push(await pay(merchant, amount));
  return payments;
}

/** How many payments each gateway was the first pick for. */
function firstPicks(payments: readonly PaymentReply[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const payment of payments) {
    const first = payment.attempts[0]?.gatewayId ?? 'none';
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

/** What each network connector needs to take payments (a gateway without them is refused, 422). */
const CREDENTIALS_OF: Record<string, Record<string, string>> = {
  razorpay: { keyId: 'rzp_test_fixture0001', keySecret: 'fixture-key-secret' },
  payu: { merchantKey: 'fixtureKey', merchantSalt: 'fixture-salt' },
  paytm: { merchantId: 'FIXTURE00000001', merchantKey: 'fixture-key-0016' },
};

/** A gateway body with its connector's credentials unless it names its own. */
function withCredentials(body: Record<string, unknown>): Record<string, unknown> {
  const credentials = CREDENTIALS_OF[body.connector as string];
  return body.credentials === undefined && credentials !== undefined ? { ...body, credentials } : body;
}

async function createGateway(admin: Client, body: Record<string, unknown>): Promise<GatewayReply> {
  const reply = await admin.post('/api/v1/admin/gateways', withCredentials(body));
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.gateway;
}

async function updateGateway(
  admin: Client,
  id: string,
  change: Record<string, unknown>,
): Promise<GatewayReply> {
  const reply = await admin.put(`/api/v1/admin/gateways/${id}`, change);
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.gateway;
}

async function gatewayNamed(admin: Client, name: string): Promise<GatewayReply> {
  const reply = await admin.get('/api/v1/admin/gateways');
  expect(reply.statusCode, reply.body).toBe(200);
  const found = (reply.json().data.gateways as GatewayReply[]).find((gateway) => gateway.name === name);
  if (found === undefined) throw new Error(`no gateway named ${name}`);
  return found;
}

async function setStrategy(admin: Client, strategy: string): Promise<void> {
  const reply = await admin.put('/api/v1/admin/routing', { strategy });
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().data).toEqual({ strategy });
}

async function health(admin: Client, query = ''): Promise<Map<string, HealthReply>> {
  const reply = await admin.get(`/api/v1/admin/gateways/health${query}`);
  expect(reply.statusCode, reply.body).toBe(200);
  const gateways = reply.json().data.gateways as HealthReply[];
  return new Map(gateways.map((gateway) => [gateway.gatewayId, gateway]));
}

async function healthOf(admin: Client, gatewayId: string): Promise<HealthReply> {
  const found = (await health(admin)).get(gatewayId);
  if (found === undefined) throw new Error(`no health for gateway ${gatewayId}`);
  return found;
}

/** An independent fee computation: percent of the amount rounded half up to the paisa, plus fixed. */
function expectedFeeRupees(fees: { percent: number; fixed: number }, amountRupees: number): number {
  const amountPaise = Math.round(amountRupees * 100);
  const percentBasisPoints = Math.round(fees.percent * 100);
  const percentPaise = Math.floor((amountPaise * percentBasisPoints + 5_000) / 10_000);
  return (percentPaise + Math.round(fees.fixed * 100)) / 100;
}

describe('gateway administration', () => {
  let testApp: TestApp;
  let admin: Account;
  let merchant: Account;

  const RAZORPAY_CREDENTIALS = {
    keyId: 'rzp_test_Q2pX9Lk4aB7c1234',
    keySecret: 'kS3cr3t-plaintext-value-9876',
    webhookSecret: 'whsec-plaintext-value-5555',
    pin: 'short',
  };
  let razorpayId: string;

  beforeAll(async () => {
    testApp = await createTestApp();
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
  });
  afterAll(async () => testApp.close());

  async function sealedRow(id: string) {
    return testApp.database.handle.db
      .selectFrom('gateways')
      .select(['credentialsSealed', 'credentialsHint'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  /** Rows of these tables whose whole text contains `secret` (gateways, audit log, idempotency keys). */
  async function rowsContaining(secret: string): Promise<number> {
    const pattern = `%${secret}%`;
    const result = await sql<{ count: string }>`
      SELECT (SELECT count(*) FROM gateways g WHERE g::text LIKE ${pattern})
           + (SELECT count(*) FROM audit_logs a WHERE a::text LIKE ${pattern})
           + (SELECT count(*) FROM idempotency_keys k WHERE k::text LIKE ${pattern}) AS count
    `.execute(testApp.database.handle.db);
    return Number(result.rows[0]?.count);
  }

  it('starts outside production with one enabled sandbox gateway', async () => {
    const reply = await admin.client.get('/api/v1/admin/gateways');
    expect(reply.statusCode, reply.body).toBe(200);
    const gateways = reply.json().data.gateways as GatewayReply[];
    expect(gateways).toHaveLength(1);
    expect(gateways[0]).toMatchObject({
      name: 'Sandbox',
      connector: 'sandbox',
      enabled: true,
      priority: 100,
      credentialsHint: null,
      config: HEALTHY,
      methods: ['upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking'],
    });
  });

  it('creates a gateway: credentials sealed with AES-256-GCM, only a masked hint returned', async () => {
    const reply = await admin.client.post('/api/v1/admin/gateways', {
      name: 'Razorpay Main',
      connector: 'razorpay',
      credentials: RAZORPAY_CREDENTIALS,
      config: { baseUrl: 'http://127.0.0.1:9' },
      priority: 10,
      weight: 3,
      methods: ['upi_intent', 'card'],
      fees: { percent: 1.75, fixed: 2.5 },
      minAmount: 1,
      maxAmount: 50_000,
      webhookIpAllowlist: ['10.0.0.0/8', '192.168.1.5', '2001:db8::/32'],
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const gateway = reply.json().data.gateway as GatewayReply;
    razorpayId = gateway.id;
    expect(gateway).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Razorpay Main',
      connector: 'razorpay',
      credentialsHint: { keyId: '****1234', keySecret: '****9876', webhookSecret: '****5555', pin: '****' },
      config: { baseUrl: 'http://127.0.0.1:9' },
      enabled: true,
      priority: 10,
      weight: 3,
      methods: ['upi_intent', 'card'],
      fees: { percent: 1.75, fixed: 2.5 },
      minAmount: 1,
      maxAmount: 50_000,
      webhookIpAllowlist: ['10.0.0.0/8', '192.168.1.5', '2001:db8::/32'],
      webhookUrl: `/api/v1/webhooks/gateways/${gateway.id}`,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    for (const secret of Object.values(RAZORPAY_CREDENTIALS).filter((value) => value.length > 8)) {
      expect(reply.body).not.toContain(secret);
      expect(await rowsContaining(secret)).toBe(0);
    }

    const row = await sealedRow(gateway.id);
    expect(row.credentialsSealed).not.toBeNull();
    expect(row.credentialsSealed).not.toContain(RAZORPAY_CREDENTIALS.keySecret);
    // iv.tag.ciphertext, opened only with the configured key.
    expect(row.credentialsSealed?.split('.')).toHaveLength(3);
    expect(JSON.parse(decryptSecret(row.credentialsSealed ?? '', testApp.config.encryptionKey))).toEqual(
      RAZORPAY_CREDENTIALS,
    );
    expect(() => decryptSecret(row.credentialsSealed ?? '', randomBytes(32).toString('hex'))).toThrow();
  });

  it('shows one gateway, without its credentials', async () => {
    const reply = await admin.client.get(`/api/v1/admin/gateways/${razorpayId}`);
    expect(reply.statusCode, reply.body).toBe(200);
    const gateway = reply.json().data.gateway as GatewayReply;
    expect(gateway).toMatchObject({ id: razorpayId, name: 'Razorpay Main', priority: 10 });
    expect(gateway.credentialsHint?.keySecret).toBe('****9876');
    expect(reply.body).not.toContain(RAZORPAY_CREDENTIALS.keySecret);
    expect(reply.json().data.gateway).not.toHaveProperty('credentials');
  });

  it('lists gateways by priority, lower first, then by name', async () => {
    await createGateway(admin.client, { name: 'Paytm Backup', connector: 'paytm', priority: 200 });
    await createGateway(admin.client, { name: 'Bravo Sandbox', connector: 'sandbox', priority: 10 });
    await createGateway(admin.client, { name: 'PayU First', connector: 'payu', priority: -5 });
    const reply = await admin.client.get('/api/v1/admin/gateways');
    expect(reply.statusCode, reply.body).toBe(200);
    const listed = (reply.json().data.gateways as GatewayReply[]).map((gateway) => [
      gateway.priority,
      gateway.name,
    ]);
    expect(listed).toEqual([
      [-5, 'PayU First'],
      [10, 'Bravo Sandbox'],
      [10, 'Razorpay Main'],
      [100, 'Sandbox'],
      [200, 'Paytm Backup'],
    ]);
    expect(reply.body).not.toContain(RAZORPAY_CREDENTIALS.keySecret);
  });

  it('defaults what a create leaves out: all the connector methods, no fees or limits, weight 1', async () => {
    const gateway = await gatewayNamed(admin.client, 'Paytm Backup');
    expect(gateway).toMatchObject({
      enabled: true,
      weight: 1,
      credentialsHint: { merchantId: '****0001', merchantKey: '****0016' },
      config: {},
      methods: ['upi_intent', 'upi_collect', 'card', 'netbanking'],
      fees: NO_FEES,
      minAmount: null,
      maxAmount: null,
      webhookIpAllowlist: null,
    });
  });

  it('PUT changes only the fields given', async () => {
    const before = (await admin.client.get(`/api/v1/admin/gateways/${razorpayId}`)).json().data
      .gateway as GatewayReply;
    const sealedBefore = (await sealedRow(razorpayId)).credentialsSealed;

    const afterPriority = await updateGateway(admin.client, razorpayId, { priority: 7 });
    expect({ ...afterPriority, updatedAt: null }).toEqual({ ...before, priority: 7, updatedAt: null });

    const afterFees = await updateGateway(admin.client, razorpayId, {
      fees: { percent: 2, fixed: 0 },
      maxAmount: null,
    });
    expect({ ...afterFees, updatedAt: null }).toEqual({
      ...before,
      priority: 7,
      fees: { percent: 2, fixed: 0 },
      maxAmount: null,
      updatedAt: null,
    });
    expect((await sealedRow(razorpayId)).credentialsSealed).toBe(sealedBefore);
  });

  it('PUT with credentials seals the new ones afresh and keeps the rest', async () => {
    const before = (await admin.client.get(`/api/v1/admin/gateways/${razorpayId}`)).json().data
      .gateway as GatewayReply;
    const sealedBefore = (await sealedRow(razorpayId)).credentialsSealed;
    const rotated = { keyId: 'rzp_test_ROTATED00004321', keySecret: 'rotated-plaintext-secret-2468' };
    const after = await updateGateway(admin.client, razorpayId, { credentials: rotated });
    expect(after.credentialsHint).toEqual({ keyId: '****4321', keySecret: '****2468' });
    expect({ ...after, credentialsHint: null, updatedAt: null }).toEqual({
      ...before,
      credentialsHint: null,
      updatedAt: null,
    });
    const sealedAfter = (await sealedRow(razorpayId)).credentialsSealed ?? '';
    expect(sealedAfter).not.toBe(sealedBefore);
    expect(JSON.parse(decryptSecret(sealedAfter, testApp.config.encryptionKey))).toEqual(rotated);
    expect(await rowsContaining(rotated.keySecret)).toBe(0);

    // The same credentials again: a fresh IV, so the sealed text differs though the secret is equal.
    await updateGateway(admin.client, razorpayId, { credentials: rotated });
    expect((await sealedRow(razorpayId)).credentialsSealed).not.toBe(sealedAfter);
  });

  it('refuses a name another gateway has, whatever its case (409 GATEWAY_NAME_TAKEN)', async () => {
    expectError(
      await admin.client.post(
        '/api/v1/admin/gateways',
        withCredentials({ name: 'razorpay MAIN', connector: 'payu' }),
      ),
      409,
      'GATEWAY_NAME_TAKEN',
    );
    const paytm = await gatewayNamed(admin.client, 'Paytm Backup');
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${paytm.id}`, { name: 'RAZORPAY main' }),
      409,
      'GATEWAY_NAME_TAKEN',
    );
    // Renaming a gateway to its own name in another case is no clash.
    expect((await updateGateway(admin.client, paytm.id, { name: 'PAYTM Backup' })).name).toBe('PAYTM Backup');
  });

  it('refuses a method the connector does not support (422 METHOD_UNSUPPORTED)', async () => {
    const created = await admin.client.post('/api/v1/admin/gateways', {
      name: 'Paytm QR',
      connector: 'paytm',
      methods: ['upi_intent', 'upi_qr'],
    });
    expectError(created, 422, 'METHOD_UNSUPPORTED');
    expect(created.json().error.message).toContain('upi_qr');
    const paytm = await gatewayNamed(admin.client, 'PAYTM Backup');
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${paytm.id}`, { methods: ['upi_qr'] }),
      422,
      'METHOD_UNSUPPORTED',
    );
  });

  it('refuses a gateway that takes payments without the credentials its connector needs (422)', async () => {
    const missing = await admin.client.post('/api/v1/admin/gateways', {
      name: 'Keyless',
      connector: 'razorpay',
      credentials: { keyId: 'rzp_test_only_the_id' },
    });
    expectError(missing, 422, 'CREDENTIALS_INCOMPLETE');
    expect(missing.json().error.details).toEqual({ missing: ['keySecret'] });
    // Disabled, it may wait for them; enabling it asks again.
    const parked = await createGateway(admin.client, {
      name: 'Parked',
      connector: 'paytm',
      enabled: false,
      credentials: {},
    });
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${parked.id}`, { enabled: true }),
      422,
      'CREDENTIALS_INCOMPLETE',
    );
    const enabled = await updateGateway(admin.client, parked.id, {
      enabled: true,
      credentials: CREDENTIALS_OF.paytm,
    });
    expect(enabled.enabled).toBe(true);
  });

  it('refuses minAmount above maxAmount (422 INVALID_LIMITS), also against the stored limit', async () => {
    expectError(
      await admin.client.post('/api/v1/admin/gateways', {
        name: 'Inverted',
        connector: 'payu',
        minAmount: 500,
        maxAmount: 100,
      }),
      422,
      'INVALID_LIMITS',
    );
    const capped = await createGateway(admin.client, { name: 'Capped', connector: 'payu', maxAmount: 100 });
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${capped.id}`, { minAmount: 100.01 }),
      422,
      'INVALID_LIMITS',
    );
    expect((await updateGateway(admin.client, capped.id, { minAmount: 100 })).minAmount).toBe(100);
  });

  it('refuses a webhook IP allow-list entry that is not an address or a network (400)', async () => {
    for (const entry of ['10.0.0.0/33', 'not-an-address', '300.1.1.1', '10.0.0.1/8/8', '::1/129']) {
      expectError(
        await admin.client.post('/api/v1/admin/gateways', {
          name: `Allow ${entry}`,
          connector: 'razorpay',
          webhookIpAllowlist: ['127.0.0.1', entry],
        }),
        400,
        'VALIDATION_FAILED',
      );
    }
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${razorpayId}`, { webhookIpAllowlist: ['1.2.3'] }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('validates the body (400)', async () => {
    const bodies: Record<string, unknown>[] = [
      { name: 'Three decimals', connector: 'payu', fees: { percent: 1.755, fixed: 0 } },
      { name: 'Fixed fee paise', connector: 'payu', fees: { percent: 1, fixed: 0.005 } },
      { name: 'Negative percent', connector: 'payu', fees: { percent: -1, fixed: 0 } },
      { name: 'Over 100 percent', connector: 'payu', fees: { percent: 100.5, fixed: 0 } },
      { name: 'Unknown connector', connector: 'stripe' },
      { connector: 'payu' },
      { name: '', connector: 'payu' },
      { name: 'No methods', connector: 'payu', methods: [] },
      { name: 'Unknown method', connector: 'payu', methods: ['cash'] },
      { name: 'Negative weight', connector: 'payu', weight: -1 },
      { name: 'Fractional priority', connector: 'payu', priority: 1.5 },
      { name: 'Zero minimum', connector: 'payu', minAmount: 0 },
      { name: 'Minimum decimals', connector: 'payu', minAmount: 1.001 },
      { name: 'Extra field', connector: 'payu', colour: 'blue' },
      { name: 'Credential not text', connector: 'payu', credentials: { key: 42 } },
    ];
    for (const body of bodies) {
      expectError(await admin.client.post('/api/v1/admin/gateways', body), 400, 'VALIDATION_FAILED');
    }
    for (const change of [{}, { connector: 'payu' }, { fees: { percent: 0.001, fixed: 0 } }]) {
      expectError(
        await admin.client.put(`/api/v1/admin/gateways/${razorpayId}`, change),
        400,
        'VALIDATION_FAILED',
      );
    }
    const names = (await admin.client.get('/api/v1/admin/gateways'))
      .json()
      .data.gateways.map((gateway: GatewayReply) => gateway.name);
    expect(names).not.toContain('Three decimals');
  });

  it('answers 404 GATEWAY_NOT_FOUND for an unknown gateway, and 400 for an id that is not one', async () => {
    const unknown = randomUUID();
    expectError(await admin.client.get(`/api/v1/admin/gateways/${unknown}`), 404, 'GATEWAY_NOT_FOUND');
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${unknown}`, { priority: 1 }),
      404,
      'GATEWAY_NOT_FOUND',
    );
    expectError(await admin.client.delete(`/api/v1/admin/gateways/${unknown}`), 404, 'GATEWAY_NOT_FOUND');
    expectError(await admin.client.get('/api/v1/admin/gateways/not-a-uuid'), 400, 'VALIDATION_FAILED');
  });

  it('deletes a gateway that never took a payment', async () => {
    const unused = await createGateway(admin.client, { name: 'Short Lived', connector: 'payu' });
    const reply = await admin.client.delete(`/api/v1/admin/gateways/${unused.id}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toMatchObject({ success: true, data: null });
    expectError(await admin.client.get(`/api/v1/admin/gateways/${unused.id}`), 404, 'GATEWAY_NOT_FOUND');
    expectError(await admin.client.delete(`/api/v1/admin/gateways/${unused.id}`), 404, 'GATEWAY_NOT_FOUND');
    // Its name is free again.
    await createGateway(admin.client, { name: 'short lived', connector: 'payu', enabled: false });
  });

  it('refuses to delete a gateway that took a payment (409 GATEWAY_IN_USE); disabling it works', async () => {
    // Priority 10 "Bravo Sandbox" is the first eligible sandbox for this payment (the network
    // gateways are first, but this merchant allows only the sandboxes).
    const bravo = await gatewayNamed(admin.client, 'Bravo Sandbox');
    const sandbox = await gatewayNamed(admin.client, 'Sandbox');
    const preferences = await merchant.client.put('/api/v1/merchant/gateway-preferences', {
      gatewayIds: [bravo.id, sandbox.id],
    });
    expect(preferences.statusCode, preferences.body).toBe(200);
    const payment = await pay(merchant);
    expect(payment).toMatchObject({ status: 'succeeded', gatewayId: bravo.id });

    expectError(await admin.client.delete(`/api/v1/admin/gateways/${bravo.id}`), 409, 'GATEWAY_IN_USE');
    expect((await admin.client.get(`/api/v1/admin/gateways/${bravo.id}`)).statusCode).toBe(200);
    expect((await updateGateway(admin.client, bravo.id, { enabled: false })).enabled).toBe(false);
    // Disabled, it takes no more payments: the merchant's other allowed gateway does.
    expect((await pay(merchant)).gatewayId).toBe(sandbox.id);
  });

  it('is for admins only (403 for a merchant, 401 without a token)', async () => {
    const probes: [Method, string, unknown?][] = [
      ['GET', '/api/v1/admin/gateways'],
      ['POST', '/api/v1/admin/gateways', { name: 'Merchant made', connector: 'sandbox' }],
      ['GET', `/api/v1/admin/gateways/${razorpayId}`],
      ['PUT', `/api/v1/admin/gateways/${razorpayId}`, { priority: 0 }],
      ['DELETE', `/api/v1/admin/gateways/${razorpayId}`],
      ['GET', '/api/v1/admin/gateways/health'],
      ['GET', '/api/v1/admin/routing'],
      ['PUT', '/api/v1/admin/routing', { strategy: 'weighted' }],
      ['PUT', `/api/v1/admin/merchants/${merchant.user.merchantId}/routing`, { strategy: 'weighted' }],
    ];
    const anonymous = client(testApp.app);
    for (const [method, url, body] of probes) {
      expectError(await merchant.client.request(method, url, body), 403, 'FORBIDDEN');
      expectError(await anonymous.request(method, url, body), 401, 'UNAUTHORIZED');
    }
    expect((await gatewayNamed(admin.client, 'Razorpay Main')).priority).toBe(7);
  });
});

describe('gateway administration in production', () => {
  let testApp: TestApp;
  let admin: Account;

  beforeAll(async () => {
    // Production requires both secrets in the environment (createTestApp then replaces them with
    // fresh ones of its own); nothing else it needs is missing in a test.
    testApp = await createTestApp({
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: randomBytes(32).toString('hex'),
        ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      },
    });
    admin = await createAccount(testApp, 'admin');
  });
  afterAll(async () => testApp.close());

  it('has no sandbox gateway out of the box and refuses to add one (422 CONNECTOR_NOT_ALLOWED)', async () => {
    expect(testApp.config.nodeEnv).toBe('production');
    // SANDBOX_GATEWAY defaults to off in production.
    expect(testApp.config.sandboxGateway).toBe(false);
    const listed = await admin.client.get('/api/v1/admin/gateways');
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().data.gateways).toEqual([]);

    expectError(
      await admin.client.post('/api/v1/admin/gateways', { name: 'Sandbox', connector: 'sandbox' }),
      422,
      'CONNECTOR_NOT_ALLOWED',
    );
    const razorpay = await createGateway(admin.client, {
      name: 'Razorpay',
      connector: 'razorpay',
      credentials: { keyId: 'rzp_live_abcdefgh1234', keySecret: 'live-secret-value-0000' },
    });
    expect(razorpay.credentialsHint).toEqual({ keyId: '****1234', keySecret: '****0000' });
  });

  it('never routes to a sandbox gateway left in the database, and refuses to change it', async () => {
    // As if copied over from a development installation.
    const sandboxId = randomUUID();
    await sql`
      INSERT INTO gateways (id, name, connector, config, enabled, priority, weight, methods,
                            fee_percent_basis_points, fee_fixed_minor, created_at, updated_at)
      VALUES (${sandboxId}, 'Old Sandbox', 'sandbox', '{"successRate":1,"latencyMs":0,"failureMode":"none"}',
              true, 1, 1, ARRAY['upi_intent'], 0, 0, now(), now())
    `.execute(testApp.database.handle.db);
    const razorpay = await gatewayNamed(admin.client, 'Razorpay');
    await updateGateway(admin.client, razorpay.id, { enabled: false });

    const merchant = await createAccount(testApp, 'merchant');
    const reply = await payReply(merchant);
    expectError(reply, 422, 'NO_ELIGIBLE_GATEWAY');
    expect(reply.json().error.details.skipped).toEqual(
      expect.arrayContaining([
        { gatewayId: sandboxId, reason: 'disabled' },
        { gatewayId: razorpay.id, reason: 'disabled' },
      ]),
    );
    expectError(
      await admin.client.put(`/api/v1/admin/gateways/${sandboxId}`, { priority: 2 }),
      422,
      'CONNECTOR_NOT_ALLOWED',
    );
  });
});

describe('routing strategies over many payments', () => {
  let testApp: TestApp;
  let admin: Account;
  let merchant: Account;
  let sandbox: GatewayReply;
  let alpha: GatewayReply;
  let beta: GatewayReply;

  beforeAll(async () => {
    testApp = await createTestApp({ random: seededRandom(20250611) });
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
    sandbox = await gatewayNamed(admin.client, 'Sandbox');
    alpha = await createGateway(admin.client, { name: 'Alpha', connector: 'sandbox', config: HEALTHY });
    beta = await createGateway(admin.client, { name: 'Beta', connector: 'sandbox', config: HEALTHY });
  });
  afterAll(async () => testApp.close());

  it('priority: every payment goes to the lowest priority number', async () => {
    const strategy = await admin.client.get('/api/v1/admin/routing');
    expect(strategy.json().data).toEqual({ strategy: 'priority' });
    await updateGateway(admin.client, alpha.id, { priority: 1 });
    await updateGateway(admin.client, beta.id, { priority: 2 });
    const payments = await payMany(merchant, 40);
    expect(firstPicks(payments)).toEqual(new Map([[alpha.id, 40]]));
    for (const payment of payments) {
      expect(payment).toMatchObject({ status: 'succeeded', gatewayId: alpha.id });
      expect(payment.attempts).toHaveLength(1);
    }
    // Priority, not the order of creation: Beta moved ahead takes everything.
    await updateGateway(admin.client, beta.id, { priority: 0 });
    expect(firstPicks(await payMany(merchant, 10))).toEqual(new Map([[beta.id, 10]]));
  });

  it('weighted: a 70/30 split over 400 payments, within four standard deviations', async () => {
    const paymentsCount = 400;
    await setStrategy(admin.client, 'weighted');
    await updateGateway(admin.client, alpha.id, { weight: 70 });
    await updateGateway(admin.client, beta.id, { weight: 30 });
    // Weight 0: never the first pick (still a failover candidate).
    await updateGateway(admin.client, sandbox.id, { weight: 0 });
    const picks = firstPicks(await payMany(merchant, paymentsCount));
    const alphaCount = picks.get(alpha.id) ?? 0;
    const betaCount = picks.get(beta.id) ?? 0;
    expect(picks.get(sandbox.id) ?? 0).toBe(0);
    expect(alphaCount + betaCount).toBe(paymentsCount);
    // Alpha's count is binomial(400, 0.7): mean 280, standard deviation √(400·0.7·0.3) ≈ 9.17.
    // ±4σ (±37) fails a correct router with probability about 6e-5, yet rules out an even split
    // (200, 8.7σ away) and 60/40 (240, 4.4σ away).
    const expected = paymentsCount * 0.7;
    const deviation = Math.sqrt(paymentsCount * 0.7 * 0.3);
    expect(Math.abs(alphaCount - expected)).toBeLessThanOrEqual(4 * deviation);
  });

  it('lowest_cost: the cheaper gateway for the amount wins, switching with the amount', async () => {
    await setStrategy(admin.client, 'lowest_cost');
    await updateGateway(admin.client, beta.id, { priority: 0 });
    await updateGateway(admin.client, alpha.id, { priority: 1 });
    const flatFees = { percent: 0, fixed: 5 };
    const percentFees = { percent: 2, fixed: 0 };
    const costlyFees = { percent: 3, fixed: 10 };
    await updateGateway(admin.client, alpha.id, { fees: flatFees });
    await updateGateway(admin.client, beta.id, { fees: percentFees });
    await updateGateway(admin.client, sandbox.id, { fees: costlyFees });
    // ₹5 flat against 2%: equal at ₹250; below it the percent is cheaper, above it the flat fee.
    const cases: { amount: number; winner: string; fee: number }[] = [
      { amount: 100, winner: beta.id, fee: 2 },
      { amount: 249.99, winner: beta.id, fee: 5 },
      { amount: 249.5, winner: beta.id, fee: 4.99 },
      { amount: 250.25, winner: alpha.id, fee: 5 },
      { amount: 1_000, winner: alpha.id, fee: 5 },
      { amount: 10, winner: beta.id, fee: 0.2 },
      { amount: 75_000, winner: alpha.id, fee: 5 },
    ];
    for (const { amount, winner, fee } of cases) {
      const fees = [flatFees, percentFees, costlyFees].map((each) => expectedFeeRupees(each, amount));
      expect(Math.min(...fees)).toBe(fee);
      for (let repeat = 0; repeat < 3; repeat += 1) {
        const payment = await pay(merchant, amount);
        expect(payment, `₹${amount}`).toMatchObject({ status: 'succeeded', gatewayId: winner, fee });
        expect(payment.attempts).toHaveLength(1);
      }
    }
    // ₹249.99: 2% is 499.98 paise, rounded half up to ₹5.00, a tie with the flat fee: the
    // priority order breaks it (Beta, priority 0, ahead of Alpha, priority 1).
    expect(expectedFeeRupees(percentFees, 249.99)).toBe(5);
  });

  it('a merchant override replaces the global strategy for that merchant only', async () => {
    await setStrategy(admin.client, 'priority');
    await updateGateway(admin.client, alpha.id, { priority: 1 });
    await updateGateway(admin.client, beta.id, { priority: 2 });
    const other = await createAccount(testApp, 'merchant');
    const url = `/api/v1/admin/merchants/${merchant.user.merchantId}/routing`;

    const set = await admin.client.put(url, { strategy: 'lowest_cost' });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().data).toEqual({ merchantId: merchant.user.merchantId, strategy: 'lowest_cost' });
    // ₹100: Beta's 2% (₹2) beats Alpha's flat ₹5 for this merchant; the other follows priority.
    expect(firstPicks(await payMany(merchant, 10, 100))).toEqual(new Map([[beta.id, 10]]));
    expect(firstPicks(await payMany(other, 10, 100))).toEqual(new Map([[alpha.id, 10]]));

    const cleared = await admin.client.put(url, { strategy: null });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json().data.strategy).toBeNull();
    expect(firstPicks(await payMany(merchant, 10, 100))).toEqual(new Map([[alpha.id, 10]]));

    expectError(await admin.client.put(url, { strategy: 'cheapest' }), 400, 'VALIDATION_FAILED');
    expectError(await admin.client.put(url, {}), 400, 'VALIDATION_FAILED');
  });

  it('merchant preferences restrict the gateways and set their order', async () => {
    await setStrategy(admin.client, 'priority');
    await updateGateway(admin.client, alpha.id, { priority: 1 });
    await updateGateway(admin.client, beta.id, { priority: 2 });
    const shop = await createAccount(testApp, 'merchant');
    const preferencesUrl = '/api/v1/merchant/gateway-preferences';
    expect((await shop.client.get(preferencesUrl)).json().data).toEqual({ gatewayIds: null });

    const chosen = await shop.client.put(preferencesUrl, { gatewayIds: [sandbox.id, beta.id] });
    expect(chosen.statusCode, chosen.body).toBe(200);
    expect(chosen.json().data).toEqual({ gatewayIds: [sandbox.id, beta.id] });
    expect((await shop.client.get(preferencesUrl)).json().data).toEqual({
      gatewayIds: [sandbox.id, beta.id],
    });
    // The merchant's order beats priority (Sandbox is 100, Alpha 1), and Alpha is left out.
    expect(firstPicks(await payMany(shop, 10))).toEqual(new Map([[sandbox.id, 10]]));

    // Failover stays within the allowed gateways: from Sandbox to Beta, never to Alpha.
    await updateGateway(admin.client, sandbox.id, { config: ERRORING });
    for (const payment of await payMany(shop, 3)) {
      expect(payment.gatewayId).toBe(beta.id);
      expect(payment.attempts.map((attempt) => [attempt.gatewayId, attempt.status])).toEqual([
        [sandbox.id, 'failed'],
        [beta.id, 'succeeded'],
      ]);
    }
    await updateGateway(admin.client, sandbox.id, { config: HEALTHY });

    const reordered = await shop.client.put(preferencesUrl, { gatewayIds: [beta.id, sandbox.id] });
    expect(reordered.statusCode, reordered.body).toBe(200);
    expect(firstPicks(await payMany(shop, 5))).toEqual(new Map([[beta.id, 5]]));
    // Another merchant is untouched.
    expect(firstPicks(await payMany(merchant, 5))).toEqual(new Map([[alpha.id, 5]]));

    // A gateway the admin disables later is skipped; with none left the payment is refused.
    const onlyBeta = await shop.client.put(preferencesUrl, { gatewayIds: [beta.id] });
    expect(onlyBeta.statusCode, onlyBeta.body).toBe(200);
    await updateGateway(admin.client, beta.id, { enabled: false });
    expectError(await payReply(shop), 422, 'NO_ELIGIBLE_GATEWAY');

    const cleared = await shop.client.put(preferencesUrl, { gatewayIds: null });
    expect(cleared.json().data).toEqual({ gatewayIds: null });
    expect(firstPicks(await payMany(shop, 3))).toEqual(new Map([[alpha.id, 3]]));
  });

  it('refuses preferences naming an unknown or disabled gateway (422 GATEWAY_NOT_AVAILABLE)', async () => {
    const shop = await createAccount(testApp, 'merchant');
    const preferencesUrl = '/api/v1/merchant/gateway-preferences';
    const unknown = randomUUID();
    const refused = await shop.client.put(preferencesUrl, { gatewayIds: [alpha.id, unknown] });
    expectError(refused, 422, 'GATEWAY_NOT_AVAILABLE');
    expect(refused.json().error.details).toEqual({ gatewayIds: [unknown] });

    await updateGateway(admin.client, beta.id, { enabled: false });
    const disabled = await shop.client.put(preferencesUrl, { gatewayIds: [beta.id] });
    expectError(disabled, 422, 'GATEWAY_NOT_AVAILABLE');
    expect(disabled.json().error.details).toEqual({ gatewayIds: [beta.id] });
    expect((await shop.client.get(preferencesUrl)).json().data).toEqual({ gatewayIds: null });

    await updateGateway(admin.client, beta.id, { enabled: true });
    expect((await shop.client.put(preferencesUrl, { gatewayIds: [beta.id] })).statusCode).toBe(200);

    for (const gatewayIds of [[], ['not-a-uuid'], [alpha.id, alpha.id]]) {
      expectError(await shop.client.put(preferencesUrl, { gatewayIds }), 400, 'VALIDATION_FAILED');
    }
    expectError(await admin.client.put(preferencesUrl, { gatewayIds: null }), 403, 'FORBIDDEN');
  });
});

describe('success_rate routing', () => {
  let testApp: TestApp;
  let admin: Account;
  let merchant: Account;
  let alpha: GatewayReply;
  let beta: GatewayReply;

  beforeAll(async () => {
    testApp = await createTestApp({
      random: seededRandom(7),
      // The circuit would cut the failing gateway off after 5 errors and hide what this strategy
      // does; thresholds it never reaches leave the routing to the success rates alone.
      env: { CIRCUIT_CONSECUTIVE_FAILURES: '1000', CIRCUIT_FAILURE_RATE_PERCENT: '100' },
    });
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
    await updateGateway(admin.client, (await gatewayNamed(admin.client, 'Sandbox')).id, { enabled: false });
    alpha = await createGateway(admin.client, {
      name: 'Alpha',
      connector: 'sandbox',
      priority: 1,
      config: ERRORING,
    });
    beta = await createGateway(admin.client, {
      name: 'Beta',
      connector: 'sandbox',
      priority: 2,
      config: HEALTHY,
    });
    await setStrategy(admin.client, 'success_rate');
  });
  afterAll(async () => testApp.close());

  it('moves traffic off a failing gateway, and explores it again once it recovers', async () => {
    expect(testApp.config.routingExplorationPercent).toBe(5);
    const explorationShare = 0.05;

    // Failing: with no history both score alike and priority puts Alpha first, at most once (the
    // first route may explore too). After that Alpha is first only when a route explores (5% of
    // routes, the other gateway each time), fails there and fails over to Beta.
    const failingCount = 120;
    const failing = await payMany(merchant, failingCount);
    for (const payment of failing) {
      expect(payment).toMatchObject({ status: 'succeeded', gatewayId: beta.id });
      const alphaFirst = payment.attempts[0]?.gatewayId === alpha.id;
      expect(payment.attempts.map((attempt) => attempt.errorCode)).toEqual(
        alphaFirst ? ['GATEWAY_ERROR', null] : [null],
      );
    }
    // Explorations among the routes after the first: binomial(119, 0.05), mean 5.95, σ ≈ 2.38; the
    // bound is the mean + 4σ (a correct router exceeds it with probability under 1e-4), far below
    // what a router blind to the failures would send (half or all of them).
    const alphaTried = firstPicks(failing).get(alpha.id) ?? 0;
    const failingDeviation = Math.sqrt((failingCount - 1) * explorationShare * (1 - explorationShare));
    expect(alphaTried).toBeLessThanOrEqual(1 + (failingCount - 1) * explorationShare + 4 * failingDeviation);

    // Recovered: Alpha's record still trails Beta's, so only exploration sends it payments, and
    // they now succeed there in one attempt.
    await updateGateway(admin.client, alpha.id, { config: HEALTHY });
    const recoveredCount = 250;
    const recovered = await payMany(merchant, recoveredCount);
    const backToAlpha = recovered.filter((payment) => payment.attempts[0]?.gatewayId === alpha.id);
    for (const payment of backToAlpha) {
      expect(payment.gatewayId).toBe(alpha.id);
      expect(payment.attempts.map((attempt) => attempt.status)).toEqual(['succeeded']);
    }
    // binomial(250, 0.05): mean 12.5, σ ≈ 3.45. No exploration at all has probability 0.95^250 ≈ 3e-6.
    const recoveredDeviation = Math.sqrt(recoveredCount * explorationShare * (1 - explorationShare));
    expect(backToAlpha.length).toBeGreaterThanOrEqual(1);
    expect(backToAlpha.length).toBeLessThanOrEqual(
      recoveredCount * explorationShare + 4 * recoveredDeviation,
    );

    const alphaHealth = await healthOf(admin.client, alpha.id);
    expect(alphaHealth.succeeded).toBe(backToAlpha.length);
    expect(alphaHealth.failed).toBe(alphaTried);
    expect(alphaHealth.circuit.state).toBe('closed');
  });

  it('without exploration a recovered gateway gets no traffic back', async () => {
    // A second process on the same database, with fresh in-memory success rates, exploring never.
    const quiet = await createTestApp({
      database: testApp.database,
      env: {
        ROUTING_EXPLORATION_PERCENT: '0',
        CIRCUIT_CONSECUTIVE_FAILURES: '1000',
        CIRCUIT_FAILURE_RATE_PERCENT: '100',
      },
    });
    try {
      const quietAdmin = await createAccount(quiet, 'admin');
      const quietMerchant = await createAccount(quiet, 'merchant');
      await updateGateway(quietAdmin.client, alpha.id, { config: ERRORING });
      // No history: a tie, so priority puts Alpha first; it fails, and from then on ranks last.
      const first = await pay(quietMerchant);
      expect(first.attempts.map((attempt) => attempt.gatewayId)).toEqual([alpha.id, beta.id]);
      await updateGateway(quietAdmin.client, alpha.id, { config: HEALTHY });
      expect(firstPicks(await payMany(quietMerchant, 40))).toEqual(new Map([[beta.id, 40]]));
    } finally {
      await quiet.close();
    }
  });
});

describe('circuit breaker through the API', () => {
  const COOL_DOWN_MS = 1_000;
  const clock = createManualClock(new Date());
  let testApp: TestApp;
  let admin: Account;
  let merchant: Account;
  let sandbox: GatewayReply;
  let flaky: GatewayReply;

  beforeAll(async () => {
    testApp = await createTestApp({
      clock,
      random: seededRandom(99),
      env: { CIRCUIT_COOL_DOWN_MS: String(COOL_DOWN_MS) },
    });
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
    sandbox = await gatewayNamed(admin.client, 'Sandbox');
    flaky = await createGateway(admin.client, {
      name: 'Flaky',
      connector: 'sandbox',
      priority: 1,
      config: ERRORING,
    });
  });
  afterAll(async () => testApp.close());

  function attemptsOf(payment: PaymentReply) {
    return payment.attempts.map((attempt) => [attempt.gatewayId, attempt.status, attempt.errorCode]);
  }

  const straightToSandbox = () => [[sandbox.id, 'succeeded', null]];
  const failover = () => [
    [flaky.id, 'failed', 'GATEWAY_ERROR'],
    [sandbox.id, 'succeeded', null],
  ];

  it('fails over to the next gateway, and opens after 5 failures in a row', async () => {
    for (let failure = 1; failure <= 4; failure += 1) {
      const payment = await pay(merchant);
      expect(payment.status).toBe('succeeded');
      expect(attemptsOf(payment)).toEqual(failover());
      expect((await healthOf(admin.client, flaky.id)).circuit).toEqual({
        state: 'closed',
        consecutiveFailures: failure,
        openedAt: null,
      });
      clock.advance(10);
    }
    expect(attemptsOf(await pay(merchant))).toEqual(failover());
    expect((await healthOf(admin.client, flaky.id)).circuit).toEqual({
      state: 'open',
      consecutiveFailures: 5,
      openedAt: clock.now().toISOString(),
    });
  });

  it('while open, sends payments straight to the healthy gateway in one attempt', async () => {
    for (let index = 0; index < 3; index += 1) {
      expect(attemptsOf(await pay(merchant))).toEqual(straightToSandbox());
    }
    clock.advance(COOL_DOWN_MS - 1);
    expect((await healthOf(admin.client, flaky.id)).circuit.state).toBe('open');
    expect(attemptsOf(await pay(merchant))).toEqual(straightToSandbox());
  });

  it('half-opens after the cool-down and lets one trial through; a failed trial opens it again', async () => {
    clock.advance(1);
    expect((await healthOf(admin.client, flaky.id)).circuit.state).toBe('half_open');
    // The gateway answers slowly, so the second of two payments made together arrives while the
    // trial is out, and skips the gateway.
    await updateGateway(admin.client, flaky.id, { config: { ...ERRORING, latencyMs: 300 } });
    const together = await Promise.all([pay(merchant), pay(merchant)]);
    const trials = together.filter((payment) => payment.attempts[0]?.gatewayId === flaky.id);
    expect(trials).toHaveLength(1);
    expect(attemptsOf(trials[0]!)).toEqual(failover());
    expect(attemptsOf(together.find((payment) => payment !== trials[0])!)).toEqual(straightToSandbox());
    expect((await healthOf(admin.client, flaky.id)).circuit).toMatchObject({
      state: 'open',
      openedAt: clock.now().toISOString(),
    });
    expect(attemptsOf(await pay(merchant))).toEqual(straightToSandbox());
  });

  it('closes after a successful trial once the gateway is healthy, and takes payments again', async () => {
    await updateGateway(admin.client, flaky.id, { config: HEALTHY });
    clock.advance(COOL_DOWN_MS);
    expect((await healthOf(admin.client, flaky.id)).circuit.state).toBe('half_open');
    expect(attemptsOf(await pay(merchant))).toEqual([[flaky.id, 'succeeded', null]]);
    expect((await healthOf(admin.client, flaky.id)).circuit).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      openedAt: null,
    });
    for (let index = 0; index < 3; index += 1) {
      expect(attemptsOf(await pay(merchant))).toEqual([[flaky.id, 'succeeded', null]]);
    }
  });
});

describe('gateway health', () => {
  let testApp: TestApp;
  let admin: Account;
  let merchant: Account;
  let sandbox: GatewayReply;
  let broken: GatewayReply;
  let steady: GatewayReply;

  beforeAll(async () => {
    testApp = await createTestApp({ random: seededRandom(3) });
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
    sandbox = await gatewayNamed(admin.client, 'Sandbox');
    broken = await createGateway(admin.client, {
      name: 'Broken',
      connector: 'sandbox',
      priority: 1,
      config: ERRORING,
    });
    steady = await createGateway(admin.client, {
      name: 'Steady',
      connector: 'sandbox',
      priority: 2,
      config: HEALTHY,
    });
  });
  afterAll(async () => testApp.close());

  it('reports volume, success rate, p50/p95 latency, errors by code and circuit state', async () => {
    const SLOW_LATENCY_MS = 80;
    // Broken: 3 gateway errors (each failing over to Steady), then 2 declines (not retried).
    for (const payment of await payMany(merchant, 3)) expect(payment.gatewayId).toBe(steady.id);
    await updateGateway(admin.client, broken.id, { config: DECLINING });
    for (let index = 0; index < 2; index += 1) {
      const payment = await pay(merchant);
      expect(payment).toMatchObject({ status: 'failed', errorCode: 'DECLINED' });
      expect(payment.attempts).toHaveLength(1);
    }
    // Steady: 3 attempts above, 5 more at once, then 2 slow ones: 10 in all, 8 fast and 2 slow.
    await updateGateway(admin.client, broken.id, { enabled: false });
    await payMany(merchant, 5);
    await updateGateway(admin.client, steady.id, { config: { ...HEALTHY, latencyMs: SLOW_LATENCY_MS } });
    await payMany(merchant, 2);

    const report = await health(admin.client);
    expect([...report.keys()].sort()).toEqual([sandbox.id, broken.id, steady.id].sort());
    expect(report.get(broken.id)).toEqual({
      gatewayId: broken.id,
      name: 'Broken',
      connector: 'sandbox',
      enabled: false,
      volume: 5,
      succeeded: 0,
      failed: 5,
      successRate: 0,
      p50LatencyMs: expect.any(Number),
      p95LatencyMs: expect.any(Number),
      errors: { GATEWAY_ERROR: 3, DECLINED: 2 },
      // A decline is the gateway working: it ends the run of failures.
      circuit: { state: 'closed', consecutiveFailures: 0, openedAt: null },
    });

    const steadyHealth = report.get(steady.id)!;
    expect(steadyHealth).toMatchObject({
      enabled: true,
      volume: 10,
      succeeded: 10,
      failed: 0,
      successRate: 1,
      errors: {},
      circuit: { state: 'closed', consecutiveFailures: 0, openedAt: null },
    });
    // Sorted latencies: 8 near 0 ms, then 2 near 80 ms. The median interpolates between the 5th
    // and 6th (both fast); the 95th percentile between the 9th and 10th (both slow).
    expect(steadyHealth.p50LatencyMs).toBeLessThan(SLOW_LATENCY_MS / 2);
    expect(steadyHealth.p95LatencyMs).toBeGreaterThanOrEqual(SLOW_LATENCY_MS - 2);
    expect(steadyHealth.p95LatencyMs).toBeLessThan(SLOW_LATENCY_MS * 10);

    expect(report.get(sandbox.id)).toMatchObject({
      volume: 0,
      succeeded: 0,
      failed: 0,
      successRate: null,
      p50LatencyMs: null,
      p95LatencyMs: null,
      errors: {},
      circuit: { state: 'closed' },
    });
  });

  it('reports a mixed success rate and an open circuit', async () => {
    // Broken back on at the front, erroring: 5 errors in a row open its circuit.
    await updateGateway(admin.client, broken.id, { enabled: true, config: ERRORING });
    await payMany(merchant, 5);
    const brokenHealth = await healthOf(admin.client, broken.id);
    expect(brokenHealth).toMatchObject({
      volume: 10,
      succeeded: 0,
      failed: 10,
      successRate: 0,
      errors: { GATEWAY_ERROR: 8, DECLINED: 2 },
      circuit: { state: 'open', consecutiveFailures: 5, openedAt: expect.any(String) },
    });
    // Steady took the 5 failovers.
    expect((await healthOf(admin.client, steady.id)).volume).toBe(15);

    // Half of Steady's next payments decline.
    await updateGateway(admin.client, steady.id, {
      config: { successRate: 0.5, latencyMs: 0, failureMode: 'decline' },
    });
    const mixed = await payMany(merchant, 40);
    const succeeded = mixed.filter((payment) => payment.status === 'succeeded').length;
    const steadyHealth = await healthOf(admin.client, steady.id);
    expect(steadyHealth).toMatchObject({ volume: 55, succeeded: 15 + succeeded, failed: 40 - succeeded });
    expect(steadyHealth.successRate).toBeCloseTo((15 + succeeded) / 55, 10);
    expect(steadyHealth.errors).toEqual(succeeded === 40 ? {} : { DECLINED: 40 - succeeded });
  });

  it('takes a window in minutes and validates it', async () => {
    const reply = await admin.client.get('/api/v1/admin/gateways/health?windowMinutes=5');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.windowMinutes).toBe(5);
    expect((await admin.client.get('/api/v1/admin/gateways/health')).json().data.windowMinutes).toBe(60);
    for (const windowMinutes of ['0', '1441', 'soon']) {
      expectError(
        await admin.client.get(`/api/v1/admin/gateways/health?windowMinutes=${windowMinutes}`),
        400,
        'VALIDATION_FAILED',
      );
    }
    expectError(await merchant.client.get('/api/v1/admin/gateways/health'), 403, 'FORBIDDEN');
  });
});
