import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  createAccount,
  createTestApp,
  expectError,
  expectTenantIsolation,
  type Reply,
  type TestApp,
} from '../../../test/app.ts';
import { startJobWorkers } from '../../app.ts';
import { verifyWebhookSignature } from '../../index.ts';
import type { Workers } from '../../jobs/runner.ts';

/**
 * Integration tests of outbound webhooks: the real application, its job workers and event
 * dispatcher on a database of the file's own, delivering to real HTTP receivers on 127.0.0.1.
 * Each test uses merchants of its own (events and endpoints are per merchant), so tests sharing
 * an app do not see each other's deliveries. Waits poll with deadlines; the few fixed pauses only
 * give a delivery that must NOT happen the time to show up.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SIGNATURE_ONE = /^t=\d+,v1=[0-9a-f]{64}$/;
const SIGNATURE_TWO = /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/;
const DAY_MS = 86_400_000;

/** Fast retries, dispatch and polling: a whole retry schedule plays out in well under a second. */
const FAST_ENV = {
  WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
  EVENT_DISPATCH_INTERVAL_MS: '50',
  WORKER_POLL_INTERVAL_MS: '100',
};

// --- Receivers ---------------------------------------------------------------------------------

interface WebhookBody {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

interface Received {
  readonly headers: IncomingHttpHeaders;
  /** The bytes as received, before any parsing (what the signature covers). */
  readonly rawBody: string;
  readonly body: WebhookBody;
  readonly at: number;
}

interface Receiver {
  readonly url: string;
  readonly requests: Received[];
  /** The status answered to the request with this index (0-based); may wait before answering. */
  respond: (index: number) => number | Promise<number>;
  waitForRequests(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

const openReceivers = new Set<Receiver>();

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** A real HTTP server recording every request; answers 200 unless told otherwise. */
async function startReceiver(respond: Receiver['respond'] = () => 200): Promise<Receiver> {
  const requests: Received[] = [];
  const receiver: Receiver = {
    url: '',
    requests,
    respond,
    waitForRequests: (count, timeoutMs = 10_000) =>
      waitFor(
        `${count} request(s) at ${receiver.url} (got ${requests.length})`,
        () => requests.length >= count && requests.slice(),
        timeoutMs,
      ),
    close: async () => {
      openReceivers.delete(receiver);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const index = requests.length;
      requests.push({ headers: request.headers, rawBody, body: JSON.parse(rawBody), at: Date.now() });
      Promise.resolve(receiver.respond(index)).then(
        (status) => response.writeHead(status, { 'content-type': 'text/plain' }).end(`answer ${status}`),
        () => response.writeHead(500).end(),
      );
    });
  });
  const port = await listen(server);
  (receiver as { url: string }).url = `http://127.0.0.1:${port}/hooks/tijori`;
  openReceivers.add(receiver);
  return receiver;
}

/** An address where nothing listens (a receiver that is down). */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hooks/tijori`;
}

async function closeReceivers(): Promise<void> {
  await Promise.all([...openReceivers].map((receiver) => receiver.close()));
}

// --- Waiting -----------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it answers something other than undefined/null/false. */
async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) {
      return value as Exclude<T, undefined | null | false>;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

// --- API helpers -------------------------------------------------------------------------------

interface Webhook {
  id: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  attempt: number;
  status: 'pending' | 'succeeded' | 'failed';
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: string;
  nextAttemptAt: string | null;
}

interface Transaction {
  id: string;
  paymentId: string;
  source: 'qr';
  qrId: string;
  merchantId: string;
  amount: number;
  status: 'Success' | 'Failed' | 'Pending';
}

interface QrCode {
  id: string;
  qrId: string;
}

async function createEndpoint(
  owner: Account,
  body: { url: string; eventTypes: string[]; enabled?: boolean },
): Promise<{ webhook: Webhook; secret: string }> {
  const reply = await owner.client.post('/api/v1/merchant/webhooks', body);
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data;
}

async function getEndpoint(owner: Account, id: string): Promise<Webhook> {
  const reply = await owner.client.get(`/api/v1/merchant/webhooks/${id}`);
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.webhook;
}

async function listDeliveries(owner: Account, endpointId: string): Promise<Delivery[]> {
  const reply = await owner.client.get(`/api/v1/merchant/webhooks/${endpointId}/deliveries?limit=100`);
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.deliveries;
}

/** The endpoint's attempts once `count` exist and none is pending, oldest first. */
async function settledDeliveries(owner: Account, endpointId: string, count: number): Promise<Delivery[]> {
  const rows = await waitFor(`${count} settled deliveries to ${endpointId}`, async () => {
    const deliveries = await listDeliveries(owner, endpointId);
    return (
      deliveries.length === count &&
      deliveries.every((delivery) => delivery.status !== 'pending') &&
      deliveries
    );
  });
  return [...rows].reverse();
}

async function createQr(owner: Account, vpa = 'counter.one@okaxis'): Promise<QrCode> {
  const reply = await owner.client.post('/api/v1/qr', { vpa, referenceName: 'Counter One' });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode;
}

async function pay(
  owner: Account,
  qr: QrCode,
  amount: number,
  status: Transaction['status'] = 'Success',
): Promise<Transaction> {
  const reply = await owner.client.post('/api/v1/transactions', { qrId: qr.qrId, amount, status });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.transaction;
}

/** A 400 VALIDATION_FAILED whose every detail names `field`. */
function expectInvalid(reply: Reply, field: string): void {
  expectError(reply, 400, 'VALIDATION_FAILED');
  const details = reply.json().error.details as { field: string }[];
  expect(details.length, reply.body).toBeGreaterThan(0);
  expect([...new Set(details.map((detail) => detail.field))], reply.body).toEqual([field]);
}

function signatureOf(received: Received): string {
  const header = received.headers['tijori-signature'];
  expect(typeof header).toBe('string');
  return header as string;
}

function verifies(secret: string, received: Received): boolean {
  return verifyWebhookSignature(secret, signatureOf(received), received.rawBody);
}

// --- Database helpers --------------------------------------------------------------------------

function dbOf(app: TestApp) {
  return app.database.handle.db;
}

/** The `payment.*` event of a payment, once the dispatcher has taken it. */
async function dispatchedPaymentEvent(app: TestApp, paymentId: string) {
  return waitFor(`the event of ${paymentId} to be dispatched`, () =>
    dbOf(app)
      .selectFrom('events')
      .selectAll()
      .where(sql<string>`payload->>'paymentId'`, '=', paymentId)
      .where('dispatchedAt', 'is not', null)
      .executeTakeFirst(),
  );
}

async function deliveryRowsOf(app: TestApp, where: { endpointId?: string; eventId?: string }) {
  let query = dbOf(app).selectFrom('webhookDeliveries').selectAll();
  if (where.endpointId !== undefined) query = query.where('endpointId', '=', where.endpointId);
  if (where.eventId !== undefined) query = query.where('eventId', '=', where.eventId);
  return query.orderBy('attempt').execute();
}

// --- The main app: workers running -------------------------------------------------------------

let testApp: TestApp;
let workers: Workers | undefined;

beforeAll(async () => {
  testApp = await createTestApp({ env: FAST_ENV });
  workers = await startJobWorkers(
    { config: testApp.config, database: testApp.database.handle },
    testApp.services,
  );
});
afterAll(async () => {
  await closeReceivers();
  await workers?.stop();
  await testApp?.close();
});

describe('delivering a QR payment', () => {
  it('POSTs the payment.succeeded event, signed, and lists attempt 1 as succeeded with 200', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver();
    const { webhook, secret } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.succeeded'],
    });
    expect(secret).toMatch(/^whsec_\S{20,}$/);
    expect(webhook).toEqual({
      id: expect.stringMatching(UUID),
      url: receiver.url,
      eventTypes: ['payment.succeeded'],
      enabled: true,
      disabledReason: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });

    const qr = await createQr(owner);
    const transaction = await pay(owner, qr, 120.5);
    const [received] = await receiver.waitForRequests(1);
    if (received === undefined) throw new Error('unreachable');

    // The body: the event with the payment exactly as the API showed it.
    expect(received.body).toEqual({
      id: expect.stringMatching(UUID),
      type: 'payment.succeeded',
      createdAt: expect.any(String),
      data: transaction,
    });
    expect(received.body.data).toMatchObject({
      source: 'qr',
      amount: 120.5,
      status: 'Success',
      qrId: qr.qrId,
      merchantId: owner.user.merchantId,
    });
    expect(Object.keys(received.body)).toEqual(['id', 'type', 'createdAt', 'data']);

    // The headers.
    expect(received.headers['content-type']).toBe('application/json');
    expect(received.headers['tijori-event-id']).toBe(received.body.id);
    expect(received.headers['tijori-event-type']).toBe('payment.succeeded');
    const header = signatureOf(received);
    expect(header).toMatch(SIGNATURE_ONE);
    const signedAt = Number(/^t=(\d+)/.exec(header)?.[1]);
    expect(Math.abs(signedAt - Date.now() / 1000)).toBeLessThan(60);

    // The signature, with the secret from creation, over exactly the bytes received.
    expect(verifyWebhookSignature(secret, header, received.rawBody)).toBe(true);
    expect(verifyWebhookSignature(`${secret}x`, header, received.rawBody)).toBe(false);
    expect(verifyWebhookSignature(secret, header, received.rawBody.replace('120.5', '1205'))).toBe(false);

    // The event row it came from.
    const event = await dbOf(testApp)
      .selectFrom('events')
      .selectAll()
      .where('id', '=', received.body.id)
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({
      type: 'payment.succeeded',
      merchantId: owner.user.merchantId,
      payload: transaction,
    });
    expect(event.dispatchedAt).not.toBeNull();
    expect(received.body.createdAt).toBe(event.createdAt.toISOString());

    // The attempt as the deliveries list shows it; qr.created (not subscribed) made no delivery.
    const deliveries = await settledDeliveries(owner, webhook.id, 1);
    expect(deliveries).toEqual([
      {
        id: expect.stringMatching(UUID),
        eventId: received.body.id,
        eventType: 'payment.succeeded',
        attempt: 1,
        status: 'succeeded',
        responseStatus: 200,
        durationMs: expect.any(Number),
        error: null,
        createdAt: expect.any(String),
        nextAttemptAt: null,
      },
    ]);
    expect(deliveries[0]?.durationMs).toBeGreaterThanOrEqual(0);
    const page = await owner.client.get(`/api/v1/merchant/webhooks/${webhook.id}/deliveries`);
    expect(page.json().data.pagination).toEqual({ current: 1, total: 1, count: 1, totalRecords: 1 });
    expect(receiver.requests).toHaveLength(1);
  });
});

describe('event type filtering', () => {
  it('sends an endpoint only the types it subscribed to; ["*"] gets everything of its merchant only', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const failedOnly = await startReceiver();
    const everything = await startReceiver();
    const narrow = await createEndpoint(owner, { url: failedOnly.url, eventTypes: ['payment.failed'] });
    const wide = await createEndpoint(owner, { url: everything.url, eventTypes: ['*'] });

    // Another merchant's events, heard by its own endpoint, never reach these.
    const stranger = await createAccount(testApp, 'merchant');
    const strangerReceiver = await startReceiver();
    await createEndpoint(stranger, { url: strangerReceiver.url, eventTypes: ['*'] });
    const strangerQr = await createQr(stranger, 'stranger@okaxis');
    const strangerPayment = await pay(stranger, strangerQr, 9);

    const qr = await createQr(owner);
    const succeeded = await pay(owner, qr, 10);
    const failed = await pay(owner, qr, 20, 'Failed');
    const renamed = await owner.client.put(`/api/v1/qr/${qr.id}`, { referenceName: 'Counter Renamed' });
    expect(renamed.statusCode, renamed.body).toBe(200);

    const all = await everything.waitForRequests(4);
    expect(all.map((request) => request.body.type).sort()).toEqual([
      'payment.failed',
      'payment.succeeded',
      'qr.created',
      'qr.updated',
    ]);
    const byType = new Map(all.map((request) => [request.body.type, request]));
    expect(byType.get('qr.created')?.body.data).toMatchObject({ id: qr.id, qrId: qr.qrId });
    expect(byType.get('qr.updated')?.body.data).toMatchObject({
      id: qr.id,
      referenceName: 'Counter Renamed',
    });
    expect(byType.get('payment.succeeded')?.body.data).toEqual(succeeded);
    expect(byType.get('payment.failed')?.body.data).toEqual(failed);
    for (const request of all) {
      expect(request.headers['tijori-event-type']).toBe(request.body.type);
      expect(verifies(wide.secret, request)).toBe(true);
    }

    const [onlyFailed] = await failedOnly.waitForRequests(1);
    expect(onlyFailed?.body.type).toBe('payment.failed');
    expect(onlyFailed?.body.data).toEqual(failed);
    // The same event (same id) goes to every endpoint that wants it.
    expect(onlyFailed?.body.id).toBe(byType.get('payment.failed')?.body.id);
    expect(verifies(narrow.secret, onlyFailed as Received)).toBe(true);
    expect(verifies(wide.secret, onlyFailed as Received)).toBe(false);

    // Every event above is dispatched: the narrow endpoint has exactly the one delivery.
    const succeededEvent = await dispatchedPaymentEvent(testApp, succeeded.paymentId);
    expect(await deliveryRowsOf(testApp, { eventId: succeededEvent.id })).toEqual([
      expect.objectContaining({ endpointId: wide.webhook.id, attempt: 1 }),
    ]);
    expect(
      (await settledDeliveries(owner, narrow.webhook.id, 1)).map((delivery) => delivery.eventType),
    ).toEqual(['payment.failed']);
    expect(failedOnly.requests).toHaveLength(1);

    // The stranger's payment went to the stranger's endpoint only.
    const strangerEvent = await dispatchedPaymentEvent(testApp, strangerPayment.paymentId);
    const strangerRows = await deliveryRowsOf(testApp, { eventId: strangerEvent.id });
    expect(strangerRows).toHaveLength(1);
    expect(strangerRows[0]?.endpointId).not.toBe(wide.webhook.id);
    expect(strangerRows[0]?.endpointId).not.toBe(narrow.webhook.id);
    expect(everything.requests.map((request) => request.body.id)).not.toContain(strangerEvent.id);
  });
});

describe('retries', () => {
  it('retries after each wait of the schedule: 500, 500, then 200 makes three attempt rows', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver((index) => (index < 2 ? 500 : 200));
    const { webhook, secret } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.succeeded'],
    });
    const qr = await createQr(owner);
    await pay(owner, qr, 15);

    const requests = await receiver.waitForRequests(3);
    const eventId = requests[0]?.body.id;
    expect(requests.map((request) => request.body.id)).toEqual([eventId, eventId, eventId]);
    expect(requests.map((request) => request.headers['tijori-event-id'])).toEqual([
      eventId,
      eventId,
      eventId,
    ]);
    for (const request of requests) expect(verifies(secret, request)).toBe(true);
    // Each retry waited its 100 ms after the previous answer.
    expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(95);
    expect((requests[2]?.at ?? 0) - (requests[1]?.at ?? 0)).toBeGreaterThanOrEqual(95);

    const deliveries = await settledDeliveries(owner, webhook.id, 3);
    expect(deliveries).toEqual([
      expect.objectContaining({
        eventId,
        attempt: 1,
        status: 'failed',
        responseStatus: 500,
        error: 'HTTP 500',
        nextAttemptAt: expect.any(String),
      }),
      expect.objectContaining({
        eventId,
        attempt: 2,
        status: 'failed',
        responseStatus: 500,
        error: 'HTTP 500',
        nextAttemptAt: expect.any(String),
      }),
      expect.objectContaining({
        eventId,
        attempt: 3,
        status: 'succeeded',
        responseStatus: 200,
        error: null,
        nextAttemptAt: null,
      }),
    ]);
    // The next attempt was announced 100 ms out and made no earlier.
    for (const [failed, next] of [
      [deliveries[0], deliveries[1]],
      [deliveries[1], deliveries[2]],
    ] as const) {
      const due = Date.parse(failed?.nextAttemptAt ?? '');
      expect(due - Date.parse(failed?.createdAt ?? '')).toBeGreaterThanOrEqual(100);
      expect(Date.parse(next?.createdAt ?? '')).toBeLessThanOrEqual(due);
    }
    // A success clears the endpoint's failure streak.
    const row = await dbOf(testApp)
      .selectFrom('webhookEndpoints')
      .select(['failingSince', 'enabled'])
      .where('id', '=', webhook.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ failingSince: null, enabled: true });
  });

  it('gives up after 1 + the schedule length attempts: the last is failed with no next attempt', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver(() => 500);
    const { webhook } = await createEndpoint(owner, { url: receiver.url, eventTypes: ['payment.succeeded'] });
    const qr = await createQr(owner);
    await pay(owner, qr, 16);

    await receiver.waitForRequests(3);
    const deliveries = await settledDeliveries(owner, webhook.id, 3);
    expect(
      deliveries.map((delivery) => [delivery.attempt, delivery.status, delivery.responseStatus]),
    ).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'failed', 500],
    ]);
    expect(deliveries[0]?.nextAttemptAt).not.toBeNull();
    expect(deliveries[1]?.nextAttemptAt).not.toBeNull();
    expect(deliveries[2]?.nextAttemptAt).toBeNull();
    expect(deliveries[2]?.error).toBe('HTTP 500');

    // Nothing more comes: several schedule lengths later still three requests and three rows.
    await sleep(500);
    expect(receiver.requests).toHaveLength(3);
    expect(await listDeliveries(owner, webhook.id)).toHaveLength(3);
    // Three failures in a fraction of a second do not disable it (24 hours by default).
    expect(await getEndpoint(owner, webhook.id)).toMatchObject({ enabled: true, disabledReason: null });
  });
});

describe('redelivery', () => {
  it('sends the same event again as the next attempt (202), and 404s a delivery not of the endpoint', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver();
    const { webhook, secret } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.succeeded'],
    });
    const qr = await createQr(owner);
    await pay(owner, qr, 17);
    const [first] = await receiver.waitForRequests(1);
    const [delivered] = await settledDeliveries(owner, webhook.id, 1);
    expect(delivered).toMatchObject({ attempt: 1, status: 'succeeded' });

    const reply = await owner.client.post(
      `/api/v1/merchant/webhooks/${webhook.id}/deliveries/${delivered?.id}/redeliver`,
    );
    expect(reply.statusCode, reply.body).toBe(202);
    const created = reply.json().data.delivery as Delivery;
    expect(created).toMatchObject({
      id: expect.stringMatching(UUID),
      eventId: first?.body.id,
      eventType: 'payment.succeeded',
      attempt: 2,
      status: 'pending',
      responseStatus: null,
      nextAttemptAt: null,
    });
    expect(created.id).not.toBe(delivered?.id);

    const requests = await receiver.waitForRequests(2);
    expect(requests[1]?.body.id).toBe(first?.body.id);
    expect(requests[1]?.headers['tijori-event-id']).toBe(first?.body.id);
    expect(requests[1]?.body).toEqual(first?.body);
    expect(verifies(secret, requests[1] as Received)).toBe(true);
    const deliveries = await settledDeliveries(owner, webhook.id, 2);
    expect(deliveries.map((delivery) => [delivery.id, delivery.attempt, delivery.status])).toEqual([
      [delivered?.id, 1, 'succeeded'],
      [created.id, 2, 'succeeded'],
    ]);

    const audit = await dbOf(testApp)
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'webhook.redelivered')
      .where('targetId', '=', created.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorId: owner.user.id,
      targetType: 'webhook_delivery',
      details: { eventId: first?.body.id, endpointId: webhook.id },
    });

    // A delivery id that is not this endpoint's (another endpoint of the same merchant; unknown).
    const other = await createEndpoint(owner, { url: receiver.url, eventTypes: ['payment.failed'] });
    expectError(
      await owner.client.post(
        `/api/v1/merchant/webhooks/${other.webhook.id}/deliveries/${delivered?.id}/redeliver`,
      ),
      404,
      'DELIVERY_NOT_FOUND',
    );
    expectError(
      await owner.client.post(
        `/api/v1/merchant/webhooks/${webhook.id}/deliveries/00000000-0000-7000-8000-000000000000/redeliver`,
      ),
      404,
      'DELIVERY_NOT_FOUND',
    );
    expect(await listDeliveries(owner, other.webhook.id)).toEqual([]);
  });
});

describe('POST /merchant/webhooks/test', () => {
  it('sends a signed webhook.test to that endpoint only and reports delivered with the status', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver();
    const bystander = await startReceiver();
    const { webhook, secret } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.failed'],
    });
    const other = await createEndpoint(owner, { url: bystander.url, eventTypes: ['*'] });

    const reply = await owner.client.post('/api/v1/merchant/webhooks/test', { endpointId: webhook.id });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({
      delivered: true,
      responseStatus: 200,
      durationMs: expect.any(Number),
    });
    // The answer came after the request: it is already there.
    expect(receiver.requests).toHaveLength(1);
    const [received] = receiver.requests;
    expect(received?.body).toEqual({
      id: expect.stringMatching(UUID),
      type: 'webhook.test',
      createdAt: expect.any(String),
      data: { endpointId: webhook.id, message: expect.any(String) },
    });
    expect(received?.headers['tijori-event-type']).toBe('webhook.test');
    expect(received?.headers['tijori-event-id']).toBe(received?.body.id);
    expect(verifies(secret, received as Received)).toBe(true);

    // Recorded as the endpoint's attempt; not dispatched to the merchant's other endpoints.
    expect(await listDeliveries(owner, webhook.id)).toEqual([
      expect.objectContaining({
        eventId: received?.body.id,
        eventType: 'webhook.test',
        attempt: 1,
        status: 'succeeded',
        responseStatus: 200,
      }),
    ]);
    const event = await dbOf(testApp)
      .selectFrom('events')
      .select(['dispatchedAt', 'merchantId'])
      .where('id', '=', received?.body.id ?? '')
      .executeTakeFirstOrThrow();
    expect(event.merchantId).toBe(owner.user.merchantId);
    expect(event.dispatchedAt).not.toBeNull();
    expect(await deliveryRowsOf(testApp, { endpointId: other.webhook.id })).toEqual([]);
    expect(bystander.requests).toEqual([]);
  });

  it('reports delivered false with the status when the receiver answers 500', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver(() => 500);
    const { webhook } = await createEndpoint(owner, { url: receiver.url, eventTypes: ['*'] });
    const reply = await owner.client.post('/api/v1/merchant/webhooks/test', { endpointId: webhook.id });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({
      delivered: false,
      responseStatus: 500,
      durationMs: expect.any(Number),
      error: 'HTTP 500',
    });
    expect(receiver.requests).toHaveLength(1);
    // A test is one attempt: no retries follow it.
    await sleep(400);
    expect(receiver.requests).toHaveLength(1);
    expect(await listDeliveries(owner, webhook.id)).toEqual([
      expect.objectContaining({ attempt: 1, status: 'failed', responseStatus: 500, nextAttemptAt: null }),
    ]);
  });

  it('reports delivered false with an error when the receiver is down', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const url = await closedPortUrl();
    const { webhook } = await createEndpoint(owner, { url, eventTypes: ['*'] });
    const reply = await owner.client.post('/api/v1/merchant/webhooks/test', { endpointId: webhook.id });
    expect(reply.statusCode, reply.body).toBe(200);
    const data = reply.json().data;
    expect(data).toEqual({
      delivered: false,
      responseStatus: null,
      durationMs: expect.any(Number),
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(await listDeliveries(owner, webhook.id)).toEqual([
      expect.objectContaining({ status: 'failed', responseStatus: null, error: data.error }),
    ]);
  });
});

describe('rotating the secret', () => {
  it('signs with the new and the previous secret during the overlap (24 hours by default)', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver();
    const { webhook, secret: first } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.succeeded'],
    });
    const qr = await createQr(owner);

    const before = Date.now();
    const reply = await owner.client.post(`/api/v1/merchant/webhooks/${webhook.id}/rotate-secret`);
    const after = Date.now();
    expect(reply.statusCode, reply.body).toBe(200);
    const rotated = reply.json().data as {
      webhook: Webhook;
      secret: string;
      previousSecretExpiresAt: string;
    };
    expect(rotated.webhook).toMatchObject({ id: webhook.id, url: webhook.url, enabled: true });
    expect(rotated.secret).toMatch(/^whsec_\S{20,}$/);
    expect(rotated.secret).not.toBe(first);
    const expiresAt = Date.parse(rotated.previousSecretExpiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + DAY_MS);
    expect(expiresAt).toBeLessThanOrEqual(after + DAY_MS);

    await pay(owner, qr, 18);
    const [received] = await receiver.waitForRequests(1);
    expect(signatureOf(received as Received)).toMatch(SIGNATURE_TWO);
    expect(verifies(rotated.secret, received as Received)).toBe(true);
    expect(verifies(first, received as Received)).toBe(true);
    expect(verifies('whsec_neither_of_them', received as Received)).toBe(false);

    // A second rotation: the overlap is with the secret just replaced, not the one before it.
    const again = await owner.client.post(`/api/v1/merchant/webhooks/${webhook.id}/rotate-secret`);
    expect(again.statusCode, again.body).toBe(200);
    const third = again.json().data.secret as string;
    await pay(owner, qr, 19);
    const requests = await receiver.waitForRequests(2);
    const latest = requests[1] as Received;
    expect(signatureOf(latest)).toMatch(SIGNATURE_TWO);
    expect(verifies(third, latest)).toBe(true);
    expect(verifies(rotated.secret, latest)).toBe(true);
    expect(verifies(first, latest)).toBe(false);
  });
});

describe('validation, access and tenant isolation', () => {
  it('refuses unknown or mixed event types, non-http URLs and empty lists with 400 naming the field', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const path = '/api/v1/merchant/webhooks';
    const url = 'http://127.0.0.1:9/hook';
    expectInvalid(await owner.client.post(path, { url, eventTypes: ['payment.exploded'] }), 'eventTypes');
    expectInvalid(
      await owner.client.post(path, { url, eventTypes: ['payment.succeeded', 'qr.nope'] }),
      'eventTypes',
    );
    expectInvalid(
      await owner.client.post(path, { url, eventTypes: ['*', 'payment.succeeded'] }),
      'eventTypes',
    );
    expectInvalid(await owner.client.post(path, { url, eventTypes: [] }), 'eventTypes');
    expectInvalid(
      await owner.client.post(path, { url, eventTypes: ['payment.failed', 'payment.failed'] }),
      'eventTypes',
    );
    expectInvalid(await owner.client.post(path, { url: 'ftp://example.com/hook', eventTypes: ['*'] }), 'url');
    expectInvalid(await owner.client.post(path, { url: 'not a url', eventTypes: ['*'] }), 'url');
    expectInvalid(await owner.client.post(path, { url: 'javascript:alert(1)', eventTypes: ['*'] }), 'url');
    expectInvalid(
      await owner.client.post(path, { url: 'http://user:pass@127.0.0.1:9/hook', eventTypes: ['*'] }),
      'url',
    );
    expectInvalid(await owner.client.post(path, { eventTypes: ['*'] }), 'url');
    expectInvalid(await owner.client.post(path, { url }), 'eventTypes');

    // Nothing was created.
    const list = await owner.client.get(path);
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().data.webhooks).toEqual([]);
    const rows = await dbOf(testApp)
      .selectFrom('webhookEndpoints')
      .select('id')
      .where('merchantId', '=', owner.user.merchantId ?? '')
      .execute();
    expect(rows).toEqual([]);

    // PATCH checks the same, and leaves the endpoint as it was.
    const { webhook } = await createEndpoint(owner, { url, eventTypes: ['payment.succeeded'] });
    const one = `${path}/${webhook.id}`;
    expectInvalid(await owner.client.patch(one, { eventTypes: ['payment.exploded'] }), 'eventTypes');
    expectInvalid(await owner.client.patch(one, { eventTypes: ['*', 'qr.created'] }), 'eventTypes');
    expectInvalid(await owner.client.patch(one, { eventTypes: [] }), 'eventTypes');
    expectInvalid(await owner.client.patch(one, { url: 'ftp://example.com/hook' }), 'url');
    expectError(await owner.client.patch(one, {}), 400, 'VALIDATION_FAILED');
    expect(await getEndpoint(owner, webhook.id)).toEqual(webhook);

    // Unknown and malformed ids.
    expectError(
      await owner.client.get(`${path}/00000000-0000-7000-8000-000000000000`),
      404,
      'WEBHOOK_NOT_FOUND',
    );
    expectError(await owner.client.get(`${path}/not-a-uuid`), 400, 'VALIDATION_FAILED');
    expectError(
      await owner.client.post(`${path}/test`, { endpointId: '00000000-0000-7000-8000-000000000000' }),
      404,
      'WEBHOOK_NOT_FOUND',
    );
  });

  it("answers 404 for another merchant's endpoint on every route, and changes nothing", async () => {
    const owner = await createAccount(testApp, 'merchant');
    const stranger = await createAccount(testApp, 'merchant');
    const receiver = await startReceiver();
    const { webhook } = await createEndpoint(owner, { url: receiver.url, eventTypes: ['payment.succeeded'] });
    const ownTest = await owner.client.post('/api/v1/merchant/webhooks/test', { endpointId: webhook.id });
    expect(ownTest.json().data.delivered).toBe(true);
    const [delivery] = await listDeliveries(owner, webhook.id);
    const base = `/api/v1/merchant/webhooks/${webhook.id}`;

    const foreign: [string, () => Promise<Reply>][] = [
      ['GET', () => stranger.client.get(base)],
      ['PATCH', () => stranger.client.patch(base, { url: 'http://127.0.0.1:9/stolen' })],
      ['DELETE', () => stranger.client.delete(base)],
      ['deliveries', () => stranger.client.get(`${base}/deliveries`)],
      ['rotate', () => stranger.client.post(`${base}/rotate-secret`)],
      ['test', () => stranger.client.post('/api/v1/merchant/webhooks/test', { endpointId: webhook.id })],
      ['redeliver', () => stranger.client.post(`${base}/deliveries/${delivery?.id}/redeliver`)],
    ];
    for (const [name, call] of foreign) {
      const reply = await call();
      expect(reply.statusCode, `${name}: ${reply.body}`).toBe(404);
      expectError(reply, 404, 'WEBHOOK_NOT_FOUND');
    }
    // Nothing changed, nothing was sent, nothing was audited for the stranger.
    expect(await getEndpoint(owner, webhook.id)).toEqual(webhook);
    expect(receiver.requests).toHaveLength(1);
    expect(await listDeliveries(owner, webhook.id)).toHaveLength(1);
    const strangerList = await stranger.client.get('/api/v1/merchant/webhooks');
    expect(strangerList.json().data.webhooks).toEqual([]);
    const audits = await dbOf(testApp)
      .selectFrom('auditLogs')
      .select('action')
      .where('actorId', '=', stranger.user.id)
      .where('action', 'like', 'webhook.%')
      .execute();
    expect(audits).toEqual([]);

    // The shared helper, DELETE last (the owner's call really deletes).
    await expectTenantIsolation(owner.client, stranger.client, [
      { method: 'GET', url: base },
      { method: 'PATCH', url: base, body: { eventTypes: ['payment.failed'] } },
      { method: 'GET', url: `${base}/deliveries` },
      { method: 'POST', url: `${base}/rotate-secret` },
      { method: 'POST', url: '/api/v1/merchant/webhooks/test', body: { endpointId: webhook.id } },
      { method: 'POST', url: `${base}/deliveries/${delivery?.id}/redeliver` },
      { method: 'DELETE', url: base },
    ]);
  });

  it('answers 403 to a user and an admin, 401 without credentials', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const { webhook } = await createEndpoint(owner, { url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] });
    const base = `/api/v1/merchant/webhooks/${webhook.id}`;
    for (const role of ['user', 'admin'] as const) {
      const caller = await createAccount(testApp, role);
      expectError(await caller.client.get('/api/v1/merchant/webhooks'), 403, 'FORBIDDEN');
      expectError(
        await caller.client.post('/api/v1/merchant/webhooks', {
          url: 'http://127.0.0.1:9/x',
          eventTypes: ['*'],
        }),
        403,
        'FORBIDDEN',
      );
      expectError(await caller.client.get(base), 403, 'FORBIDDEN');
      expectError(await caller.client.patch(base, { enabled: false }), 403, 'FORBIDDEN');
      expectError(await caller.client.delete(base), 403, 'FORBIDDEN');
      expectError(await caller.client.post(`${base}/rotate-secret`), 403, 'FORBIDDEN');
      expectError(await caller.client.get(`${base}/deliveries`), 403, 'FORBIDDEN');
      expectError(
        await caller.client.post('/api/v1/merchant/webhooks/test', { endpointId: webhook.id }),
        403,
        'FORBIDDEN',
      );
    }
    const anonymous = await testApp.app.inject({ method: 'GET', url: '/api/v1/merchant/webhooks' });
    expect(anonymous.statusCode).toBe(401);
    expect(await getEndpoint(owner, webhook.id)).toEqual(webhook);
  });
});

describe('changing and deleting endpoints', () => {
  it('PATCH moves deliveries to the new URL and types; enabled:false stops them', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const oldReceiver = await startReceiver();
    const newReceiver = await startReceiver();
    const { webhook, secret } = await createEndpoint(owner, {
      url: oldReceiver.url,
      eventTypes: ['payment.succeeded'],
    });
    const qr = await createQr(owner);

    const patched = await owner.client.patch(`/api/v1/merchant/webhooks/${webhook.id}`, {
      url: newReceiver.url,
      eventTypes: ['payment.failed'],
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().data.webhook).toMatchObject({
      id: webhook.id,
      url: newReceiver.url,
      eventTypes: ['payment.failed'],
      enabled: true,
    });
    const succeeded = await pay(owner, qr, 21);
    const failed = await pay(owner, qr, 22, 'Failed');
    const [received] = await newReceiver.waitForRequests(1);
    expect(received?.body.data).toEqual(failed);
    expect(verifies(secret, received as Received)).toBe(true);
    const succeededEvent = await dispatchedPaymentEvent(testApp, succeeded.paymentId);
    expect(await deliveryRowsOf(testApp, { eventId: succeededEvent.id })).toEqual([]);

    const disabled = await owner.client.patch(`/api/v1/merchant/webhooks/${webhook.id}`, { enabled: false });
    expect(disabled.statusCode, disabled.body).toBe(200);
    expect(disabled.json().data.webhook).toMatchObject({ enabled: false, disabledReason: null });
    const whileDisabled = await pay(owner, qr, 23, 'Failed');
    const event = await dispatchedPaymentEvent(testApp, whileDisabled.paymentId);
    expect(await deliveryRowsOf(testApp, { eventId: event.id })).toEqual([]);
    expect(oldReceiver.requests).toEqual([]);
    expect(newReceiver.requests).toHaveLength(1);
  });

  it('DELETE removes the endpoint from the list and stops its deliveries, a retry in flight included', async () => {
    const owner = await createAccount(testApp, 'merchant');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first request is answered 500 only once the endpoint is deleted: a retry would follow.
    const receiver = await startReceiver(async (index) => {
      if (index === 0) await held;
      return 500;
    });
    const keeper = await startReceiver();
    const { webhook } = await createEndpoint(owner, { url: receiver.url, eventTypes: ['payment.succeeded'] });
    const kept = await createEndpoint(owner, { url: keeper.url, eventTypes: ['payment.succeeded'] });
    const qr = await createQr(owner);
    await pay(owner, qr, 24);
    await receiver.waitForRequests(1);
    await keeper.waitForRequests(1);

    const reply = await owner.client.delete(`/api/v1/merchant/webhooks/${webhook.id}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({ id: webhook.id });
    release();

    const list = await owner.client.get('/api/v1/merchant/webhooks');
    expect(list.json().data.webhooks.map((endpoint: Webhook) => endpoint.id)).toEqual([kept.webhook.id]);
    expectError(await owner.client.get(`/api/v1/merchant/webhooks/${webhook.id}`), 404, 'WEBHOOK_NOT_FOUND');
    expectError(
      await owner.client.get(`/api/v1/merchant/webhooks/${webhook.id}/deliveries`),
      404,
      'WEBHOOK_NOT_FOUND',
    );
    expectError(
      await owner.client.delete(`/api/v1/merchant/webhooks/${webhook.id}`),
      404,
      'WEBHOOK_NOT_FOUND',
    );

    // A later payment reaches the remaining endpoint only.
    const later = await pay(owner, qr, 25);
    const requests = await keeper.waitForRequests(2);
    expect(requests[1]?.body.data).toEqual(later);
    // The attempt in flight was not retried (its rows went with the endpoint).
    await sleep(400);
    expect(receiver.requests).toHaveLength(1);
    expect(await deliveryRowsOf(testApp, { endpointId: webhook.id })).toEqual([]);
    expect(
      await dbOf(testApp).selectFrom('webhookEndpoints').select('id').where('id', '=', webhook.id).execute(),
    ).toEqual([]);
  });

  it('audits create, update, rotate and delete, without the secret', async () => {
    const owner = await createAccount(testApp, 'merchant');
    const { webhook, secret } = await createEndpoint(owner, {
      url: 'http://127.0.0.1:9/audited',
      eventTypes: ['payment.succeeded', 'qr.created'],
    });
    const sealed = await dbOf(testApp)
      .selectFrom('webhookEndpoints')
      .select(['secretSealed'])
      .where('id', '=', webhook.id)
      .executeTakeFirstOrThrow();
    expect(sealed.secretSealed).not.toContain(secret);
    expect(sealed.secretSealed).not.toContain(secret.slice('whsec_'.length));

    const base = `/api/v1/merchant/webhooks/${webhook.id}`;
    expect((await owner.client.patch(base, { eventTypes: ['payment.failed'] })).statusCode).toBe(200);
    const rotate = await owner.client.post(`${base}/rotate-secret`);
    expect(rotate.statusCode).toBe(200);
    const rotatedSecret = rotate.json().data.secret as string;
    expect((await owner.client.delete(base)).statusCode).toBe(200);

    const rows = await dbOf(testApp)
      .selectFrom('auditLogs')
      .selectAll()
      .where('targetId', '=', webhook.id)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
    expect(rows.map((row) => row.action)).toEqual([
      'webhook.created',
      'webhook.updated',
      'webhook.secret_rotated',
      'webhook.deleted',
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({
        actorId: owner.user.id,
        actorRole: 'merchant',
        targetType: 'webhook_endpoint',
      });
      const details = JSON.stringify(row.details ?? null);
      expect(details).not.toContain(secret);
      expect(details).not.toContain(rotatedSecret);
    }
    expect(rows[0]?.details).toEqual({
      url: 'http://127.0.0.1:9/audited',
      eventTypes: ['payment.succeeded', 'qr.created'],
    });
    expect(rows[1]?.details).toEqual({ eventTypes: ['payment.failed'] });
    expect(rows[3]?.details).toEqual({ url: 'http://127.0.0.1:9/audited' });
  });
});

// --- Apps of their own -------------------------------------------------------------------------

describe('with WEBHOOK_ALLOW_PRIVATE=false', () => {
  let strict: TestApp;
  let owner: Account;
  beforeAll(async () => {
    strict = await createTestApp({ env: { ...FAST_ENV, WEBHOOK_ALLOW_PRIVATE: 'false' } });
    owner = await createAccount(strict, 'merchant');
  });
  afterAll(async () => {
    await strict?.close();
  });

  it('refuses loopback, private, link-local and metadata addresses with 400 on url', async () => {
    expect(strict.config.webhookAllowPrivate).toBe(false);
    const receiver = await startReceiver();
    for (const url of [
      receiver.url,
      'http://10.0.0.1/',
      'http://192.168.1.20/hook',
      'http://172.16.5.4/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://2130706433/',
      'http://0.0.0.0/',
      'http://localhost/',
      'https://localhost:8443/hook',
    ]) {
      const reply = await owner.client.post('/api/v1/merchant/webhooks', { url, eventTypes: ['*'] });
      expect(reply.statusCode, `${url}: ${reply.body}`).toBe(400);
      expectInvalid(reply, 'url');
    }
    const list = await owner.client.get('/api/v1/merchant/webhooks');
    expect(list.json().data.webhooks).toEqual([]);

    // A public address is accepted (an IP literal: no lookup), and cannot be moved to a private one.
    const { webhook } = await createEndpoint(owner, { url: 'http://93.184.216.34/hook', eventTypes: ['*'] });
    expectInvalid(
      await owner.client.patch(`/api/v1/merchant/webhooks/${webhook.id}`, { url: 'http://10.0.0.1/' }),
      'url',
    );
    expect(await getEndpoint(owner, webhook.id)).toEqual(webhook);
    expect(receiver.requests).toEqual([]);
  });
});

describe('no event lost across a worker restart', () => {
  let app: TestApp;
  const running: Workers[] = [];
  beforeAll(async () => {
    app = await createTestApp({ env: FAST_ENV });
  });
  afterAll(async () => {
    await Promise.all(running.map((started) => started.stop()));
    await app?.close();
  });

  const start = async () => {
    const started = await startJobWorkers(
      { config: app.config, database: app.database.handle },
      app.services,
    );
    running.push(started);
    return started;
  };

  it('keeps events recorded while no worker runs and delivers each exactly once when workers start', async () => {
    const owner = await createAccount(app, 'merchant');
    const receiver = await startReceiver();
    const { webhook, secret } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.succeeded', 'payment.failed'],
    });
    const qr = await createQr(owner);

    // Workers up: one payment delivered; then they stop.
    const first = await start();
    const before = await pay(owner, qr, 30);
    await receiver.waitForRequests(1);
    await settledDeliveries(owner, webhook.id, 1);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // Workers down: payments are recorded, their events wait undispatched, nothing is sent.
    const whileDown: Transaction[] = [];
    for (const [index, status] of (
      ['Success', 'Failed', 'Success', 'Success', 'Failed'] as const
    ).entries()) {
      whileDown.push(await pay(owner, qr, 31 + index, status));
    }
    await sleep(500);
    expect(receiver.requests).toHaveLength(1);
    const waiting = await dbOf(app)
      .selectFrom('events')
      .select(['id', 'type', 'dispatchedAt'])
      .where('merchantId', '=', owner.user.merchantId ?? '')
      .where('dispatchedAt', 'is', null)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
    expect(waiting.map((event) => event.type)).toEqual([
      'payment.succeeded',
      'payment.failed',
      'payment.succeeded',
      'payment.succeeded',
      'payment.failed',
    ]);
    expect(await listDeliveries(owner, webhook.id)).toHaveLength(1);

    // Two worker sets start (two processes after a deploy): every event arrives exactly once.
    await Promise.all([start(), start()]);
    const requests = await receiver.waitForRequests(6);
    const deliveries = await settledDeliveries(owner, webhook.id, 6);
    await sleep(500);
    expect(receiver.requests).toHaveLength(6);
    const counts = new Map<string, number>();
    for (const request of receiver.requests) {
      counts.set(request.body.id, (counts.get(request.body.id) ?? 0) + 1);
      expect(verifies(secret, request)).toBe(true);
    }
    expect([...counts.values()]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(new Set(requests.slice(1).map((request) => request.body.id))).toEqual(
      new Set(waiting.map((event) => event.id)),
    );
    expect(new Set(receiver.requests.map((request) => request.body.data.paymentId))).toEqual(
      new Set([before, ...whileDown].map((transaction) => transaction.paymentId)),
    );
    expect(deliveries.every((delivery) => delivery.attempt === 1 && delivery.status === 'succeeded')).toBe(
      true,
    );
    const undispatched = await dbOf(app)
      .selectFrom('events')
      .select('id')
      .where('merchantId', '=', owner.user.merchantId ?? '')
      .where('dispatchedAt', 'is', null)
      .execute();
    expect(undispatched).toEqual([]);
  });
});

describe('with WEBHOOK_DISABLE_AFTER_MS=1000 and WEBHOOK_SECRET_OVERLAP_MS=0', () => {
  let app: TestApp;
  let appWorkers: Workers | undefined;
  beforeAll(async () => {
    app = await createTestApp({
      env: {
        ...FAST_ENV,
        // Twelve retries 200 ms apart: failures go on well past the second that disables.
        WEBHOOK_RETRY_SCHEDULE: Array.from({ length: 12 }, () => '200ms').join(','),
        WEBHOOK_DISABLE_AFTER_MS: '1000',
        WEBHOOK_SECRET_OVERLAP_MS: '0',
      },
    });
    appWorkers = await startJobWorkers({ config: app.config, database: app.database.handle }, app.services);
  });
  afterAll(async () => {
    await closeReceivers();
    await appWorkers?.stop();
    await app?.close();
  });

  it('without an overlap, a rotated secret stops signing at once', async () => {
    const owner = await createAccount(app, 'merchant');
    const receiver = await startReceiver();
    const { webhook, secret: old } = await createEndpoint(owner, {
      url: receiver.url,
      eventTypes: ['payment.succeeded'],
    });
    const before = Date.now();
    const reply = await owner.client.post(`/api/v1/merchant/webhooks/${webhook.id}/rotate-secret`);
    expect(reply.statusCode, reply.body).toBe(200);
    const { secret, previousSecretExpiresAt } = reply.json().data as {
      secret: string;
      previousSecretExpiresAt: string;
    };
    expect(secret).not.toBe(old);
    expect(Date.parse(previousSecretExpiresAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(previousSecretExpiresAt)).toBeLessThanOrEqual(Date.now());

    const qr = await createQr(owner);
    await pay(owner, qr, 40);
    const [received] = await receiver.waitForRequests(1);
    expect(signatureOf(received as Received)).toMatch(SIGNATURE_ONE);
    expect(verifies(secret, received as Received)).toBe(true);
    expect(verifies(old, received as Received)).toBe(false);
  });

  describe('an endpoint failing for longer than WEBHOOK_DISABLE_AFTER_MS', () => {
    let owner: Account;
    let failing: Receiver;
    let witness: Receiver;
    let endpoint: { webhook: Webhook; secret: string };
    let qr: QrCode;

    beforeAll(async () => {
      owner = await createAccount(app, 'merchant');
      failing = await startReceiver(() => 500);
      witness = await startReceiver();
      endpoint = await createEndpoint(owner, { url: failing.url, eventTypes: ['payment.succeeded'] });
      await createEndpoint(owner, {
        url: witness.url,
        eventTypes: ['webhook.endpoint_disabled', 'payment.succeeded'],
      });
      qr = await createQr(owner);
    });

    it('is disabled with a reason, its attempts stop, and webhook.endpoint_disabled is recorded and sent', async () => {
      await pay(owner, qr, 41);
      const disabled = await waitFor(
        'the endpoint to be disabled',
        async () => {
          const current = await getEndpoint(owner, endpoint.webhook.id);
          return !current.enabled && current;
        },
        20_000,
      );
      expect(disabled.disabledReason).toEqual(expect.any(String));
      expect(disabled.disabledReason?.length).toBeGreaterThan(0);

      // Disabled once the first failure was at least a second old.
      const row = await dbOf(app)
        .selectFrom('webhookEndpoints')
        .select(['failingSince', 'updatedAt', 'enabled'])
        .where('id', '=', endpoint.webhook.id)
        .executeTakeFirstOrThrow();
      expect(row.enabled).toBe(false);
      expect(row.failingSince).not.toBeNull();
      expect(row.updatedAt.getTime() - (row.failingSince?.getTime() ?? 0)).toBeGreaterThanOrEqual(1000);

      // Every attempt failed; none is pending and none comes after the one that disabled it.
      await sleep(600);
      const deliveries = await listDeliveries(owner, endpoint.webhook.id);
      const attempts = [...deliveries].reverse();
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      expect(attempts.length).toBeLessThan(13);
      expect(attempts.map((delivery) => delivery.attempt)).toEqual(attempts.map((_, index) => index + 1));
      expect(
        attempts.every((delivery) => delivery.status === 'failed' && delivery.responseStatus === 500),
      ).toBe(true);
      expect(failing.requests).toHaveLength(attempts.length);

      // The event, for the merchant's other endpoints.
      const events = await dbOf(app)
        .selectFrom('events')
        .selectAll()
        .where('type', '=', 'webhook.endpoint_disabled')
        .where('merchantId', '=', owner.user.merchantId ?? '')
        .execute();
      expect(events).toHaveLength(1);
      expect(events[0]?.payload).toEqual({
        endpointId: endpoint.webhook.id,
        url: failing.url,
        reason: disabled.disabledReason,
      });
      const notice = await waitFor('the witness to hear of it', () =>
        witness.requests.find((request) => request.body.type === 'webhook.endpoint_disabled'),
      );
      expect(notice.body.id).toBe(events[0]?.id);
      expect(notice.body.data).toEqual(events[0]?.payload);

      // While disabled, new events make no delivery for it.
      const whileDisabled = await pay(owner, qr, 42);
      const event = await dispatchedPaymentEvent(app, whileDisabled.paymentId);
      const rows = await deliveryRowsOf(app, { eventId: event.id });
      expect(rows.map((delivery) => delivery.endpointId)).not.toContain(endpoint.webhook.id);
      expect(rows).toHaveLength(1); // the witness's
      expect(failing.requests).toHaveLength(attempts.length);
    });

    // The attempt that disables the endpoint is its last: it announces no next one.
    it('the attempt that disabled the endpoint announces no next attempt', async () => {
      const deliveries = await listDeliveries(owner, endpoint.webhook.id);
      expect(deliveries.length).toBeGreaterThan(0);
      expect(deliveries[0]?.status).toBe('failed');
      expect(deliveries[0]?.nextAttemptAt).toBeNull();
    });

    it('PATCH enabled:true re-enables it, clears the reason and the failure streak, and deliveries resume', async () => {
      const reply = await owner.client.patch(`/api/v1/merchant/webhooks/${endpoint.webhook.id}`, {
        enabled: true,
      });
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json().data.webhook).toMatchObject({ enabled: true, disabledReason: null });
      expect(await getEndpoint(owner, endpoint.webhook.id)).toMatchObject({
        enabled: true,
        disabledReason: null,
      });
      const row = await dbOf(app)
        .selectFrom('webhookEndpoints')
        .select(['failingSince'])
        .where('id', '=', endpoint.webhook.id)
        .executeTakeFirstOrThrow();
      expect(row.failingSince).toBeNull();

      failing.respond = () => 200;
      const before = failing.requests.length;
      const transaction = await pay(owner, qr, 43);
      const requests = await failing.waitForRequests(before + 1);
      const received = requests[before] as Received;
      expect(received.body.data).toEqual(transaction);
      expect(verifies(endpoint.secret, received)).toBe(true);
      const settled = await waitFor('the new attempt to settle', async () => {
        const [latest] = await listDeliveries(owner, endpoint.webhook.id);
        return latest?.eventId === received.body.id && latest.status !== 'pending' && latest;
      });
      expect(settled).toMatchObject({ attempt: 1, status: 'succeeded', responseStatus: 200 });
    });
  });
});
