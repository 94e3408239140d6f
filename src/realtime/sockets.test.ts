import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, type TestApp } from '../../test/app.ts';
import type { TestDatabase } from '../../test/database.ts';
import { startJobWorkers } from '../app.ts';
import { createDatabase } from '../db/database.ts';
import type { Workers } from '../jobs/runner.ts';
import type { Clock } from '../lib/clock.ts';
import { ACCESS_TOKEN_TTL_SEC } from '../modules/auth/tokens.ts';

/**
 * Integration tests of the real-time channel (src/realtime/sockets.ts): the real application
 * listening on a real port, real Socket.IO clients over WebSocket, the real job workers whose
 * event dispatcher NOTIFYs `tijori_events`, and the real database. Each test uses accounts of its
 * own, so a socket's expected events are exactly those of its own merchant or user.
 *
 * Waits poll with deadlines. To show that something does NOT arrive, a control event committed
 * later than it is awaited first, then the test waits QUIET_MS more before looking.
 */

/** Fast dispatch and polling: an event reaches sockets within a few hundred milliseconds. */
const FAST_ENV = { EVENT_DISPATCH_INTERVAL_MS: '50', WORKER_POLL_INTERVAL_MS: '100' };
const ARRIVAL_TIMEOUT_MS = 10_000;
const QUIET_MS = 1_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Real time, shifted forward when a test needs an access token to have expired. */
let clockOffsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + clockOffsetMs) };

// --- Helpers -----------------------------------------------------------------------------------

interface Pushed {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

/** A connected socket and everything it has heard: each event's name and payload, disconnects. */
interface Probe {
  readonly socket: Socket;
  readonly received: { name: string; message: Pushed }[];
  readonly disconnects: string[];
}

type Ack = { ok: true } | { ok: false; error: { code: string; message: string } };
type Refusal = Error & { data?: { code?: unknown } };

/** Every socket a test opened; disconnected after each test. */
const opened: Socket[] = [];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it answers something other than undefined; fails after the deadline. */
async function waitFor<T>(
  what: string,
  check: () => T | undefined,
  timeoutMs = ARRIVAL_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function listen(testApp: TestApp): Promise<number> {
  await testApp.app.listen({ port: 0, host: '127.0.0.1' });
  return (testApp.app.server.address() as AddressInfo).port;
}

function open(port: number, auth: Record<string, unknown>): Socket {
  const socket = io(`http://127.0.0.1:${port}`, {
    auth,
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  opened.push(socket);
  return socket;
}

/** A socket whose handshake was accepted, recording every event it hears from now on. */
async function connect(port: number, auth: Record<string, unknown>): Promise<Probe> {
  const socket = open(port, auth);
  const probe: Probe = { socket, received: [], disconnects: [] };
  socket.onAny((name: string, message: Pushed) => probe.received.push({ name, message }));
  socket.on('disconnect', (reason) => probe.disconnects.push(reason));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect within 5 s')), 5_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  expect(socket.connected).toBe(true);
  return probe;
}

/** The connect_error of a handshake that must be refused (and no connection after it). */
async function refusal(port: number, auth: Record<string, unknown>): Promise<Refusal> {
  const socket = open(port, auth);
  let connected = false;
  socket.on('connect', () => {
    connected = true;
  });
  const error = await new Promise<Refusal>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect_error within 5 s')), 5_000);
    socket.once('connect_error', (refused: Refusal) => {
      clearTimeout(timer);
      resolve(refused);
    });
  });
  await sleep(100);
  expect(connected).toBe(false);
  expect(socket.connected).toBe(false);
  return error;
}

async function expectRefused(port: number, auth: Record<string, unknown>, code: string): Promise<void> {
  const error = await refusal(port, auth);
  expect(error.data, `refusal of ${JSON.stringify(auth)}: ${error.message}`).toEqual({ code });
  expect(error.message).not.toBe('');
}

function ask(probe: Probe, name: 'subscribe' | 'unsubscribe', payload: unknown): Promise<Ack> {
  return probe.socket.timeout(5_000).emitWithAck(name, payload) as Promise<Ack>;
}

/** The first message heard matching `match`, waited for. */
function arrival(probe: Probe, what: string, match: (message: Pushed) => boolean): Promise<Pushed> {
  return waitFor(what, () => probe.received.find((entry) => match(entry.message))?.message);
}

function paymentArrival(probe: Probe, paymentId: string): Promise<Pushed> {
  return arrival(probe, `the payment ${paymentId}`, (message) => message.data.paymentId === paymentId);
}

/** Every message heard, in order, as `<type> <key>` where key names the object it is about. */
function heard(probe: Probe): string[] {
  return probe.received.map(({ name, message }) => {
    expect(name).toBe(message.type);
    const key = message.data.paymentId ?? message.data.qrId ?? message.data.entryId ?? message.id;
    return `${message.type} ${String(key)}`;
  });
}

function dbOf(testApp: TestApp) {
  return testApp.database.handle.db;
}

/** The events recorded for a merchant or a user, oldest first. */
async function eventsOf(testApp: TestApp, owner: { merchantId?: string; userId?: string }) {
  let query = dbOf(testApp)
    .selectFrom('events')
    .select(['id', 'type', 'createdAt', 'payload', 'dispatchedAt']);
  if (owner.merchantId !== undefined) query = query.where('merchantId', '=', owner.merchantId);
  if (owner.userId !== undefined) query = query.where('userId', '=', owner.userId);
  return query.orderBy('createdAt').orderBy('id').execute();
}

/** The message the socket must carry for an event row: its id, type, createdAt and payload. */
async function expectMatchesRow(testApp: TestApp, message: Pushed): Promise<void> {
  expect(Object.keys(message).sort()).toEqual(['createdAt', 'data', 'id', 'type']);
  const row = await dbOf(testApp)
    .selectFrom('events')
    .select(['id', 'type', 'createdAt', 'payload'])
    .where('id', '=', message.id)
    .executeTakeFirstOrThrow();
  expect(message.id).toMatch(UUID);
  expect(message.createdAt).toMatch(ISO_DATE);
  expect(message).toEqual({
    id: row.id,
    type: row.type,
    createdAt: row.createdAt.toISOString(),
    data: JSON.parse(JSON.stringify(row.payload)),
  });
}

interface QrCode {
  id: string;
  qrId: string;
  merchantId: string;
}

interface Transaction {
  id: string;
  paymentId: string;
  qrId: string;
  amount: number;
  status: string;
}

async function createQr(owner: Account, fields: Record<string, unknown> = {}): Promise<QrCode> {
  const reply = await owner.client.post('/api/v1/qr', {
    vpa: 'counter.one@okaxis',
    referenceName: 'Counter One',
    ...fields,
  });
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.qrCode;
}

async function pay(
  owner: Account,
  qrId: string,
  amount: number,
  status: 'Success' | 'Failed' | 'Pending' = 'Success',
): Promise<Transaction> {
  const reply = await owner.client.post('/api/v1/transactions', { qrId, amount, status });
  expect(reply.statusCode, reply.body).toBe(201);
  const transaction = reply.json().data.transaction as Transaction;
  expect(transaction).toMatchObject({ qrId, amount, status });
  return transaction;
}

async function deposit(account: Account, amount: number): Promise<{ entryId: string }> {
  const reply = await account.client.post(
    '/api/v1/wallet/deposit',
    { amount, reference: `dep-${randomUUID()}` },
    { 'idempotency-key': `key-${randomUUID()}` },
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return reply.json().data.deposit;
}

const apiAuth = (account: Account) => {
  if (account.credentials === undefined) throw new Error('not a merchant');
  return { clientKey: account.credentials.clientKey, clientSecret: account.credentials.clientSecret };
};
const tokenAuth = (account: Account) => ({ token: account.accessToken });
const merchantIdOf = (account: Account): string => {
  if (account.user.merchantId === null) throw new Error('not a merchant');
  return account.user.merchantId;
};

/** A 5-character qrId no QR code in the database has. */
async function unusedQrId(testApp: TestApp): Promise<string> {
  for (;;) {
    const candidate = `Z${randomUUID().replace(/-/g, '').slice(0, 4).toUpperCase()}`;
    const found = await dbOf(testApp)
      .selectFrom('qrCodes')
      .select('id')
      .where('qrId', '=', candidate)
      .executeTakeFirst();
    if (found === undefined) return candidate;
  }
}

afterEach(() => {
  for (const socket of opened.splice(0)) socket.disconnect();
});

// --- The main app: workers running, listening on a port -----------------------------------------

let testApp: TestApp;
let workers: Workers | undefined;
let port: number;

beforeAll(async () => {
  testApp = await createTestApp({ env: FAST_ENV, clock });
  workers = await startJobWorkers(
    { config: testApp.config, database: testApp.database.handle },
    testApp.services,
  );
  port = await listen(testApp);
});
afterAll(async () => {
  for (const socket of opened.splice(0)) socket.disconnect();
  await workers?.stop();
  await testApp?.close();
});

describe('handshake', () => {
  it('refuses a socket without credentials, with an invalid or expired token, or with wrong API credentials', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const other = await createAccount(testApp, 'merchant');
    const { clientKey, clientSecret } = apiAuth(merchant);

    await expectRefused(port, {}, 'UNAUTHORIZED');
    await expectRefused(port, { token: '' }, 'UNAUTHORIZED');
    await expectRefused(port, { token: 42 }, 'UNAUTHORIZED');
    await expectRefused(port, { clientKey }, 'UNAUTHORIZED');
    await expectRefused(port, { clientSecret }, 'UNAUTHORIZED');

    await expectRefused(port, { token: 'not-a-jwt' }, 'INVALID_TOKEN');
    // A refresh token is not an access token.
    await expectRefused(port, { token: merchant.refreshToken }, 'INVALID_TOKEN');
    // The access token with one character of its signature changed.
    const [header, payload, signature] = merchant.accessToken.split('.') as [string, string, string];
    const flipped = signature[4] === 'A' ? 'B' : 'A';
    const tampered = `${header}.${payload}.${signature.slice(0, 4)}${flipped}${signature.slice(5)}`;
    await expectRefused(port, { token: tampered }, 'INVALID_TOKEN');

    await expectRefused(port, { clientKey, clientSecret: `${clientSecret}x` }, 'INVALID_API_CREDENTIALS');
    await expectRefused(
      port,
      { clientKey, clientSecret: apiAuth(other).clientSecret },
      'INVALID_API_CREDENTIALS',
    );
    await expectRefused(
      port,
      { clientKey: 'no-such-key', clientSecret: 'no-such-secret' },
      'INVALID_API_CREDENTIALS',
    );

    // The same token, once expired, is refused as expired.
    clockOffsetMs = (ACCESS_TOKEN_TTL_SEC + 60) * 1000;
    try {
      const user = await createAccount(testApp, 'user');
      clockOffsetMs += (ACCESS_TOKEN_TTL_SEC + 60) * 1000;
      await expectRefused(port, tokenAuth(user), 'TOKEN_EXPIRED');
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('accepts an access token (user, merchant, admin) and a merchant’s API credentials', async () => {
    for (const role of ['user', 'merchant', 'admin'] as const) {
      const account = await createAccount(testApp, role);
      const probe = await connect(port, tokenAuth(account));
      expect(probe.socket.id).toEqual(expect.any(String));
    }
    const merchant = await createAccount(testApp, 'merchant');
    const probe = await connect(port, apiAuth(merchant));
    expect(probe.socket.id).toEqual(expect.any(String));
    // A token wins over credentials sent with it; a good token with bad credentials is accepted.
    await connect(port, { ...tokenAuth(merchant), clientKey: 'x', clientSecret: 'y' });
  });
});

describe('merchant rooms', () => {
  it('pushes a merchant its own payment.succeeded and qr.created, on the token and the API-credential socket alike, and nothing to another merchant', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const stranger = await createAccount(testApp, 'merchant');
    const byToken = await connect(port, tokenAuth(merchant));
    const byKey = await connect(port, apiAuth(merchant));
    const strangers = await connect(port, tokenAuth(stranger));

    const qr = await createQr(merchant);
    for (const probe of [byToken, byKey]) {
      const created = await arrival(probe, 'qr.created', (message) => message.type === 'qr.created');
      expect(created.data).toMatchObject({ id: qr.id, qrId: qr.qrId, merchantId: merchantIdOf(merchant) });
      await expectMatchesRow(testApp, created);
    }

    const transaction = await pay(merchant, qr.qrId, 120.5);
    for (const probe of [byToken, byKey]) {
      const paid = await paymentArrival(probe, transaction.paymentId);
      expect(paid.type).toBe('payment.succeeded');
      expect(paid.data).toMatchObject({
        id: transaction.id,
        paymentId: transaction.paymentId,
        source: 'qr',
        qrId: qr.qrId,
        merchantId: merchantIdOf(merchant),
        amount: 120.5,
        currency: 'INR',
        status: 'Success',
      });
      // The payment as the API showed it.
      expect(paid.data).toEqual(transaction);
      await expectMatchesRow(testApp, paid);
    }

    // Control, committed after the merchant's events: the stranger's socket is live.
    const strangersQr = await createQr(stranger);
    await arrival(strangers, 'the stranger’s qr.created', (message) => message.data.id === strangersQr.id);
    await sleep(QUIET_MS);

    expect(heard(strangers)).toEqual([`qr.created ${strangersQr.qrId}`]);
    const expected = [`qr.created ${qr.qrId}`, `payment.succeeded ${transaction.paymentId}`];
    expect(heard(byToken)).toEqual(expected);
    expect(heard(byKey)).toEqual(expected);
    // Exactly the merchant's events, each once.
    const events = await eventsOf(testApp, { merchantId: merchantIdOf(merchant) });
    expect(byToken.received.map((entry) => entry.message.id)).toEqual(events.map((event) => event.id));
  });
});

describe('user rooms', () => {
  it('pushes a user wallet.credited for its own deposit, and nothing to another user', async () => {
    const alice = await createAccount(testApp, 'user');
    const bob = await createAccount(testApp, 'user');
    const merchant = await createAccount(testApp, 'merchant');
    const alices = await connect(port, tokenAuth(alice));
    const bobs = await connect(port, tokenAuth(bob));
    const merchants = await connect(port, tokenAuth(merchant));

    const aliceDeposit = await deposit(alice, 150);
    const credited = await arrival(
      alices,
      'wallet.credited',
      (message) => message.type === 'wallet.credited',
    );
    expect(credited.data).toEqual({
      accountId: expect.stringMatching(UUID),
      currency: 'INR',
      amountMinor: '15000',
      balanceAfterMinor: '15000',
      entryId: aliceDeposit.entryId,
      entryType: 'deposit',
    });
    await expectMatchesRow(testApp, credited);

    // Controls, committed later: Bob's own deposit, and a payment for the merchant.
    const bobsDeposit = await deposit(bob, 7);
    const qr = await createQr(merchant);
    const transaction = await pay(merchant, qr.qrId, 5);
    await arrival(bobs, 'Bob’s wallet.credited', (message) => message.data.entryId === bobsDeposit.entryId);
    await paymentArrival(merchants, transaction.paymentId);
    await sleep(QUIET_MS);

    expect(heard(alices)).toEqual([`wallet.credited ${aliceDeposit.entryId}`]);
    expect(heard(bobs)).toEqual([`wallet.credited ${bobsDeposit.entryId}`]);
    expect(heard(merchants)).toEqual([`qr.created ${qr.qrId}`, `payment.succeeded ${transaction.paymentId}`]);
    const alicesEvents = await eventsOf(testApp, { userId: alice.user.id });
    expect(alices.received.map((entry) => entry.message.id)).toEqual(alicesEvents.map((event) => event.id));
  });
});

describe('QR code feeds', () => {
  it('an admin subscribed to a QR code hears its payment.* events (and no qr.* events); a lowercase qrId subscribes too', async () => {
    const admin = await createAccount(testApp, 'admin');
    const merchant = await createAccount(testApp, 'merchant');
    const other = await createAccount(testApp, 'merchant');
    const [first, second] = [await createQr(merchant), await createQr(merchant)];
    const othersQr = await createQr(other);
    const watcher = await connect(port, tokenAuth(admin));

    expect(await ask(watcher, 'subscribe', { qrId: first.qrId.toLowerCase() })).toEqual({ ok: true });
    expect(await ask(watcher, 'subscribe', { qrId: second.qrId })).toEqual({ ok: true });

    const succeeded = await pay(merchant, first.qrId, 50);
    const failed = await pay(merchant, first.qrId, 20, 'Failed');
    const pending = await pay(merchant, second.qrId, 30, 'Pending');
    const paid = await paymentArrival(watcher, succeeded.paymentId);
    expect(paid).toMatchObject({
      type: 'payment.succeeded',
      data: { source: 'qr', qrId: first.qrId, amount: 50 },
    });
    await expectMatchesRow(testApp, paid);
    expect((await paymentArrival(watcher, failed.paymentId)).type).toBe('payment.failed');
    expect((await paymentArrival(watcher, pending.paymentId)).type).toBe('payment.pending');

    // Not on the feed: the QR code's own changes, and another code's payments.
    const renamed = await testApp.app.inject({
      method: 'PUT',
      url: `/api/v1/qr/${first.id}`,
      headers: { authorization: `Bearer ${merchant.accessToken}` },
      payload: { referenceName: 'Renamed' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    const elsewhere = await pay(other, othersQr.qrId, 9);
    const control = await pay(merchant, second.qrId, 11);
    await paymentArrival(watcher, control.paymentId);
    await sleep(QUIET_MS);

    expect(heard(watcher)).toEqual([
      `payment.succeeded ${succeeded.paymentId}`,
      `payment.failed ${failed.paymentId}`,
      `payment.pending ${pending.paymentId}`,
      `payment.succeeded ${control.paymentId}`,
    ]);
    expect(heard(watcher).join()).not.toContain(elsewhere.paymentId);
  });

  it('a merchant subscribes to its own QR code and hears each payment once (merchant room and feed together)', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const probe = await connect(port, apiAuth(merchant));
    const qr = await createQr(merchant);
    expect(await ask(probe, 'subscribe', { qrId: qr.qrId })).toEqual({ ok: true });
    // Subscribing twice is harmless.
    expect(await ask(probe, 'subscribe', { qrId: qr.qrId })).toEqual({ ok: true });

    const one = await pay(merchant, qr.qrId, 1);
    const two = await pay(merchant, qr.qrId, 2);
    await paymentArrival(probe, two.paymentId);
    await paymentArrival(probe, one.paymentId);
    await sleep(QUIET_MS);
    expect(heard(probe).sort()).toEqual(
      [
        `qr.created ${qr.qrId}`,
        `payment.succeeded ${one.paymentId}`,
        `payment.succeeded ${two.paymentId}`,
      ].sort(),
    );
  });

  it('refuses another merchant’s QR code like an unknown one (QR_NOT_FOUND), and the socket hears none of its payments', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const other = await createAccount(testApp, 'merchant');
    const probe = await connect(port, tokenAuth(merchant));
    const own = await createQr(merchant);
    const foreign = await createQr(other);

    for (const qrId of [foreign.qrId, foreign.qrId.toLowerCase(), await unusedQrId(testApp)]) {
      expect(await ask(probe, 'subscribe', { qrId })).toEqual({
        ok: false,
        error: { code: 'QR_NOT_FOUND', message: expect.any(String) },
      });
    }
    const refused = (await ask(probe, 'subscribe', { qrId: foreign.qrId })) as { error: { message: string } };
    const unknown = (await ask(probe, 'subscribe', { qrId: await unusedQrId(testApp) })) as {
      error: { message: string };
    };
    expect(refused.error.message).toBe(unknown.error.message);
    // A plain user follows no QR code.
    const users = await connect(port, tokenAuth(await createAccount(testApp, 'user')));
    expect(await ask(users, 'subscribe', { qrId: own.qrId })).toEqual({
      ok: false,
      error: { code: 'QR_NOT_FOUND', message: expect.any(String) },
    });

    const theirs = await pay(other, foreign.qrId, 40);
    const mine = await pay(merchant, own.qrId, 41);
    await paymentArrival(probe, mine.paymentId);
    await sleep(QUIET_MS);
    expect(heard(probe)).toEqual([`qr.created ${own.qrId}`, `payment.succeeded ${mine.paymentId}`]);
    expect(heard(probe).join()).not.toContain(theirs.paymentId);
  });

  it('answers VALIDATION_FAILED for a payload without a 5-character qrId, to subscribe and unsubscribe', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const probe = await connect(port, tokenAuth(merchant));
    const invalid: unknown[] = [
      {},
      null,
      'ABCDE',
      { qrId: '' },
      { qrId: 'ABCD' },
      { qrId: 'ABCDEF' },
      { qrId: 'AB-DE' },
      { qrId: 12345 },
      { id: 'ABCDE' },
    ];
    for (const name of ['subscribe', 'unsubscribe'] as const) {
      for (const payload of invalid) {
        expect(await ask(probe, name, payload), `${name} ${JSON.stringify(payload)}`).toEqual({
          ok: false,
          error: { code: 'VALIDATION_FAILED', message: expect.any(String) },
        });
      }
    }
    // The socket is still up and answering.
    const qr = await createQr(merchant);
    expect(await ask(probe, 'subscribe', { qrId: qr.qrId })).toEqual({ ok: true });
    expect(probe.socket.connected).toBe(true);
  });

  it('after unsubscribe (acknowledged ok), the feed stops: later payments of that code do not arrive', async () => {
    const admin = await createAccount(testApp, 'admin');
    const merchant = await createAccount(testApp, 'merchant');
    const [left, kept] = [await createQr(merchant), await createQr(merchant)];
    const watcher = await connect(port, tokenAuth(admin));
    expect(await ask(watcher, 'subscribe', { qrId: left.qrId })).toEqual({ ok: true });
    expect(await ask(watcher, 'subscribe', { qrId: kept.qrId })).toEqual({ ok: true });

    const before = await pay(merchant, left.qrId, 3);
    await paymentArrival(watcher, before.paymentId);

    expect(await ask(watcher, 'unsubscribe', { qrId: left.qrId.toLowerCase() })).toEqual({ ok: true });
    const after = await pay(merchant, left.qrId, 4);
    const control = await pay(merchant, kept.qrId, 5);
    await paymentArrival(watcher, control.paymentId);
    await sleep(QUIET_MS);
    expect(heard(watcher)).toEqual([
      `payment.succeeded ${before.paymentId}`,
      `payment.succeeded ${control.paymentId}`,
    ]);
    expect(heard(watcher).join()).not.toContain(after.paymentId);

    // Unsubscribing from a code never followed is acknowledged too; from another's, refused.
    const other = await createAccount(testApp, 'merchant');
    const merchantsProbe = await connect(port, tokenAuth(merchant));
    expect(await ask(merchantsProbe, 'unsubscribe', { qrId: left.qrId })).toEqual({ ok: true });
    const foreign = await createQr(other);
    expect(await ask(merchantsProbe, 'unsubscribe', { qrId: foreign.qrId })).toEqual({
      ok: false,
      error: { code: 'QR_NOT_FOUND', message: expect.any(String) },
    });
  });

  // A feed is keyed by the code's merchant and qrId: a qrId freed by a deletion and taken by
  // another merchant is another feed, and the old one can still be left.
  it('a feed does not outlive its QR code: a qrId deleted and taken by another merchant does not leak that merchant’s payments', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const other = await createAccount(testApp, 'merchant');
    const qrId = await unusedQrId(testApp);
    const mine = await createQr(merchant, { qrId });
    const probe = await connect(port, tokenAuth(merchant));
    expect(await ask(probe, 'subscribe', { qrId })).toEqual({ ok: true });

    const deleted = await merchant.client.delete(`/api/v1/qr/${mine.id}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
    const theirs = await createQr(other, { qrId });
    expect(theirs.qrId).toBe(qrId);
    const leaked = await pay(other, qrId, 66);

    const ownQr = await createQr(merchant);
    const control = await pay(merchant, ownQr.qrId, 1);
    await paymentArrival(probe, control.paymentId);
    await sleep(QUIET_MS);
    expect(heard(probe).join()).not.toContain(leaked.paymentId);
  });
});

// --- Cross-instance: two apps on one database ----------------------------------------------------

describe('two app instances on one database', () => {
  let first: TestApp;
  let second: TestApp;
  let secondDatabase: TestDatabase;
  let firstPort: number;
  let secondPort: number;
  const running: Workers[] = [];

  beforeAll(async () => {
    first = await createTestApp({ env: FAST_ENV });
    // The second instance has a pool of its own, as another process would.
    secondDatabase = {
      ...first.database,
      handle: createDatabase({
        connectionString: first.database.connectionString,
        poolMax: 5,
        statementTimeoutMs: 30_000,
      }),
      destroy: async () => undefined,
    };
    second = await createTestApp({ env: FAST_ENV, database: secondDatabase });
    firstPort = await listen(first);
    secondPort = await listen(second);
  });
  afterAll(async () => {
    for (const socket of opened.splice(0)) socket.disconnect();
    await Promise.all(running.map((started) => started.stop()));
    await second?.close();
    await secondDatabase?.handle.close();
    await first?.close();
  });

  const startOn = async (app: TestApp) => {
    const started = await startJobWorkers(
      { config: app.config, database: app.database.handle },
      app.services,
    );
    running.push(started);
    return started;
  };

  it('a socket on instance A hears an event committed through instance B, whichever instance runs the workers', async () => {
    // Signed in on B: its access token is B's; API credentials are valid on every instance.
    const merchant = await createAccount(second, 'merchant');
    const onFirst = await connect(firstPort, apiAuth(merchant));
    const onSecond = await connect(secondPort, apiAuth(merchant));
    // Each instance signs with its own key here: B's token is no good on A.
    await expectRefused(firstPort, tokenAuth(merchant), 'INVALID_TOKEN');
    const qr = await createQr(merchant);

    // Workers on B only: B's dispatcher notifies, A's listener pushes to A's socket.
    const onB = await startOn(second);
    const viaB = await pay(merchant, qr.qrId, 12);
    const heardOnFirst = await paymentArrival(onFirst, viaB.paymentId);
    await paymentArrival(onSecond, viaB.paymentId);
    await expectMatchesRow(first, heardOnFirst);
    await onB.stop();
    running.splice(running.indexOf(onB), 1);

    // Workers on A only, the payment still committed through B.
    await startOn(first);
    const viaBAgain = await pay(merchant, qr.qrId, 13);
    await paymentArrival(onFirst, viaBAgain.paymentId);
    await paymentArrival(onSecond, viaBAgain.paymentId);

    await sleep(QUIET_MS);
    const expected = [
      `qr.created ${qr.qrId}`,
      `payment.succeeded ${viaB.paymentId}`,
      `payment.succeeded ${viaBAgain.paymentId}`,
    ];
    expect(heard(onFirst)).toEqual(expected);
    expect(heard(onSecond)).toEqual(expected);
  });

  it('a QR feed subscribed on instance A hears a payment committed through instance B', async () => {
    const merchant = await createAccount(second, 'merchant');
    const admin = await createAccount(first, 'admin');
    const qr = await createQr(merchant);
    const watcher = await connect(firstPort, tokenAuth(admin));
    expect(await ask(watcher, 'subscribe', { qrId: qr.qrId })).toEqual({ ok: true });
    const transaction = await pay(merchant, qr.qrId, 21);
    const paid = await paymentArrival(watcher, transaction.paymentId);
    expect(paid.data).toMatchObject({ source: 'qr', qrId: qr.qrId, amount: 21 });
  });
});

// --- No workers at first ------------------------------------------------------------------------

describe('events committed while no worker runs', () => {
  let app: TestApp;
  let appWorkers: Workers | undefined;
  let appPort: number;
  beforeAll(async () => {
    app = await createTestApp({ env: FAST_ENV });
    appPort = await listen(app);
  });
  afterAll(async () => {
    for (const socket of opened.splice(0)) socket.disconnect();
    await appWorkers?.stop();
    await app?.close();
  });

  it('wait undispatched and reach the socket, each once, when workers start', async () => {
    const merchant = await createAccount(app, 'merchant');
    const user = await createAccount(app, 'user');
    const merchants = await connect(appPort, apiAuth(merchant));
    const users = await connect(appPort, tokenAuth(user));

    const qr = await createQr(merchant);
    const payments = [await pay(merchant, qr.qrId, 1), await pay(merchant, qr.qrId, 2, 'Failed')];
    const userDeposit = await deposit(user, 3);
    await sleep(QUIET_MS);
    expect(merchants.received).toEqual([]);
    expect(users.received).toEqual([]);
    const waiting = await eventsOf(app, { merchantId: merchantIdOf(merchant) });
    expect(waiting.map((event) => [event.type, event.dispatchedAt])).toEqual([
      ['qr.created', null],
      ['payment.succeeded', null],
      ['payment.failed', null],
    ]);

    appWorkers = await startJobWorkers({ config: app.config, database: app.database.handle }, app.services);
    await waitFor('the merchant’s three events', () => (merchants.received.length >= 3 ? true : undefined));
    await arrival(
      users,
      'the user’s wallet.credited',
      (message) => message.data.entryId === userDeposit.entryId,
    );
    await sleep(QUIET_MS);
    expect(heard(merchants)).toEqual([
      `qr.created ${qr.qrId}`,
      `payment.succeeded ${payments[0]?.paymentId}`,
      `payment.failed ${payments[1]?.paymentId}`,
    ]);
    expect(merchants.received.map((entry) => entry.message.id)).toEqual(waiting.map((event) => event.id));
    expect(heard(users)).toEqual([`wallet.credited ${userDeposit.entryId}`]);
  });
});

// --- Closing ------------------------------------------------------------------------------------

describe('closing the app', () => {
  it('completes with a socket connected, and the socket sees a disconnect', async () => {
    const app = await createTestApp({ env: FAST_ENV });
    let closing = false;
    try {
      const appPort = await listen(app);
      const merchant = await createAccount(app, 'merchant');
      const probe = await connect(appPort, apiAuth(merchant));
      const started = Date.now();
      closing = true;
      await Promise.race([
        app.close(),
        sleep(10_000).then(() => {
          throw new Error('app.close() did not complete within 10 s');
        }),
      ]);
      expect(Date.now() - started).toBeLessThan(10_000);
      const reason = await waitFor('a disconnect', () => probe.disconnects[0], 5_000);
      expect(reason).toBe('io server disconnect');
      expect(probe.socket.connected).toBe(false);
    } finally {
      if (!closing) await app.close();
    }
  });
});

// --- Losing the LISTEN connection -----------------------------------------------------------------

describe('an instance whose LISTEN connection is lost', () => {
  let app: TestApp;
  let appWorkers: Workers | undefined;
  let appPort: number;
  beforeAll(async () => {
    app = await createTestApp({ env: FAST_ENV });
    appWorkers = await startJobWorkers({ config: app.config, database: app.database.handle }, app.services);
    appPort = await listen(app);
  });
  afterAll(async () => {
    for (const socket of opened.splice(0)) socket.disconnect();
    await appWorkers?.stop();
    await app?.close();
  });

  // The LISTEN connection is made again when the server ends it (restart, failover, timeout).
  it('listens again: events committed after the connection was ended still reach its sockets', async () => {
    const merchant = await createAccount(app, 'merchant');
    const probe = await connect(appPort, apiAuth(merchant));
    const qr = await createQr(merchant);
    await arrival(probe, 'qr.created', (message) => message.type === 'qr.created');

    const { rows } = await sql<{ terminated: boolean }>`
        SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
        WHERE datname = current_database() AND query = 'LISTEN tijori_events'
          AND pid <> pg_backend_pid()`.execute(dbOf(app));
    // Exactly this instance's listener was ended.
    expect(rows).toEqual([{ terminated: true }]);

    // A payment every half second until one arrives: a listener back within 15 s passes even
    // if the events of the gap are not caught up.
    const deadline = Date.now() + 15_000;
    const paid: string[] = [];
    let arrived = false;
    while (!arrived && Date.now() < deadline) {
      paid.push((await pay(merchant, qr.qrId, 1)).paymentId);
      await sleep(500);
      arrived = probe.received.some((entry) => paid.includes(String(entry.message.data.paymentId)));
    }
    expect(probe.socket.connected).toBe(true);
    expect(arrived).toBe(true);
  }, 40_000);
});
