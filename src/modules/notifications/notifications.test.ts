import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  client,
  createAccount,
  createTestApp,
  expectError,
  type TestApp,
} from '../../../test/app.ts';
import { startJobWorkers } from '../../app.ts';
import type { Workers } from '../../jobs/runner.ts';
import { systemClock } from '../../lib/clock.ts';
import { dispatchPending } from '../events/dispatcher.ts';
import { recordEvents } from '../events/record.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const key = () => ({ 'idempotency-key': randomUUID() });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface NotificationView {
  id: string;
  kind: string;
  title: string;
  body: string;
  data: unknown;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

interface ListView {
  notifications: NotificationView[];
  pagination: { current: number; total: number; count: number; totalRecords: number };
  unreadCount: number;
}

// --- The main app: no workers; tests dispatch events by hand -----------------------------------

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
});

async function list(account: Account, query = ''): Promise<ListView> {
  const reply = await account.client.get(`/api/v1/notifications${query}`);
  expect(reply.statusCode, reply.body).toBe(200);
  const body = reply.json();
  expect(body.success).toBe(true);
  return body.data;
}

async function send(body: Record<string, unknown>, caller: Account = admin) {
  return caller.client.post('/api/v1/notifications', body);
}

async function sendTo(account: Account, title: string, body = `${title} body`): Promise<void> {
  const reply = await send({ userId: account.user.id, title, body });
  expect(reply.statusCode, reply.body).toBe(201);
  expect(reply.json().data).toEqual({ recipients: 1 });
}

function notificationRows(userId: string) {
  return testApp.database.handle.db
    .selectFrom('notifications')
    .selectAll()
    .where('userId', '=', userId)
    .orderBy('createdAt')
    .execute();
}

function createdEvents(userId: string) {
  return testApp.database.handle.db
    .selectFrom('events')
    .select(['id', 'type', 'merchantId', 'userId', 'payload'])
    .where('userId', '=', userId)
    .where('type', '=', 'notification.created')
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
}

const dispatch = () =>
  dispatchPending(testApp.database.handle.db, systemClock, [
    testApp.services.webhooks.fanOut,
    testApp.services.notifications.fromEvents,
  ]);

/** Dispatches until nothing is pending (a batch is at most 500 events). */
async function dispatchAll(): Promise<number> {
  let total = 0;
  for (;;) {
    const taken = await dispatch();
    total += taken;
    if (taken === 0) return total;
  }
}

describe('sending to a user', () => {
  it('reaches that user only, unread, with a notification.created event for them', async () => {
    const alice = await createAccount(testApp, 'user');
    const bob = await createAccount(testApp, 'user');

    const reply = await send({
      userId: alice.user.id,
      title: 'Scheduled maintenance',
      body: 'Payments pause at 02:00 UTC for ten minutes.',
      kind: 'system.maintenance',
    });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json()).toMatchObject({ success: true, data: { recipients: 1 } });

    const listed = await list(alice);
    expect(listed.unreadCount).toBe(1);
    expect(listed.pagination).toMatchObject({ current: 1, count: 1, totalRecords: 1, total: 1 });
    expect(listed.notifications).toEqual([
      {
        id: expect.stringMatching(UUID),
        kind: 'system.maintenance',
        title: 'Scheduled maintenance',
        body: 'Payments pause at 02:00 UTC for ten minutes.',
        data: {},
        read: false,
        readAt: null,
        createdAt: expect.stringMatching(ISO),
      },
    ]);
    const [notification] = listed.notifications;

    const events = await createdEvents(alice.user.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'notification.created',
      merchantId: null,
      userId: alice.user.id,
    });
    expect(events[0]?.payload).toEqual({
      id: notification?.id,
      kind: 'system.maintenance',
      title: 'Scheduled maintenance',
      body: 'Payments pause at 02:00 UTC for ten minutes.',
      createdAt: notification?.createdAt,
    });

    // Bob sees nothing and has no event.
    expect(await list(bob)).toEqual({
      notifications: [],
      pagination: { current: 1, total: 0, count: 0, totalRecords: 0 },
      unreadCount: 0,
    });
    expect(await createdEvents(bob.user.id)).toHaveLength(0);
  });

  it('defaults the kind to announcement', async () => {
    const carol = await createAccount(testApp, 'merchant');
    await sendTo(carol, 'Hello');
    const [only] = (await list(carol)).notifications;
    expect(only).toMatchObject({ kind: 'announcement', title: 'Hello', body: 'Hello body', read: false });
  });
});

describe('sending to a role', () => {
  it('reaches every active user of the role and no one else; a deactivated one gets nothing', async () => {
    // This file's database: no vendor exists before this test.
    const vendors = [
      await createAccount(testApp, 'vendor'),
      await createAccount(testApp, 'vendor'),
      await createAccount(testApp, 'vendor'),
    ];
    const [active1, active2, disabled] = vendors as [Account, Account, Account];
    const bystander = await createAccount(testApp, 'user');
    const deactivate = await admin.client.patch(`/api/v1/admin/users/${disabled.user.id}`, {
      isActive: false,
    });
    expect(deactivate.statusCode, deactivate.body).toBe(200);
    const activeVendors = await testApp.database.handle.db
      .selectFrom('users')
      .select('id')
      .where('role', '=', 'vendor')
      .where('isActive', '=', true)
      .execute();
    expect(activeVendors.map((row) => row.id).sort()).toEqual([active1.user.id, active2.user.id].sort());

    const reply = await send({ role: 'vendor', title: 'New settlement rules', body: 'Read them.' });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json().data).toEqual({ recipients: 2 });

    for (const vendor of [active1, active2]) {
      const listed = await list(vendor);
      expect(listed.unreadCount).toBe(1);
      expect(listed.notifications).toHaveLength(1);
      expect(listed.notifications[0]).toMatchObject({
        kind: 'announcement',
        title: 'New settlement rules',
        body: 'Read them.',
        read: false,
      });
      expect(await createdEvents(vendor.user.id)).toHaveLength(1);
    }
    expect(await notificationRows(disabled.user.id)).toHaveLength(0);
    expect(await createdEvents(disabled.user.id)).toHaveLength(0);
    expect((await list(bystander)).notifications).toHaveLength(0);
    expect((await list(admin)).notifications).toHaveLength(0);

    // Audited once, for the role, with the number reached.
    const audit = await testApp.database.handle.db
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'notification.sent')
      .where('targetId', '=', 'vendor')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ targetType: 'role', actorId: admin.user.id });
    expect(audit[0]?.details).toMatchObject({ title: 'New settlement rules', recipients: 2 });
  });

  it("the admin role reaches this database's one admin", async () => {
    const reply = await send({ role: 'admin', title: 'Admins only', body: '' });
    expect(reply.statusCode, reply.body).toBe(201);
    expect(reply.json().data).toEqual({ recipients: 1 });
    expect((await list(admin)).notifications.map((n) => n.title)).toEqual(['Admins only']);
  });
});

describe('validation and access', () => {
  it('refuses bad bodies, unknown users and non-admins, and audits a send', async () => {
    const dave = await createAccount(testApp, 'user');
    const merchant = await createAccount(testApp, 'merchant');
    const base = { title: 'Title', body: 'Body' };

    expectError(await send({ ...base, userId: dave.user.id, role: 'user' }), 400, 'VALIDATION_FAILED');
    expectError(await send(base), 400, 'VALIDATION_FAILED');
    expectError(await send({ ...base, userId: randomUUID() }), 404, 'USER_NOT_FOUND');
    expectError(await send({ ...base, userId: 'not-a-uuid' }), 400, 'VALIDATION_FAILED');
    expectError(await send({ ...base, role: 'superuser' }), 400, 'VALIDATION_FAILED');
    expectError(await send({ userId: dave.user.id, title: '', body: 'Body' }), 400, 'VALIDATION_FAILED');
    expectError(await send({ userId: dave.user.id, title: '   ', body: 'Body' }), 400, 'VALIDATION_FAILED');
    expectError(
      await send({ userId: dave.user.id, title: 'x'.repeat(201), body: 'Body' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await send({ userId: dave.user.id, title: 'T', body: 'x'.repeat(2001) }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(await send({ userId: dave.user.id, title: 'T' }), 400, 'VALIDATION_FAILED');
    expectError(await send({ ...base, userId: dave.user.id, extra: 1 }), 400, 'VALIDATION_FAILED');
    expectError(await send({ ...base, userId: dave.user.id, kind: 'Bad Kind' }), 400, 'VALIDATION_FAILED');
    expectError(await send({ ...base, userId: dave.user.id }, dave), 403, 'FORBIDDEN');
    expectError(await send({ ...base, userId: dave.user.id }, merchant), 403, 'FORBIDDEN');
    expectError(
      await merchant.apiClient!.post('/api/v1/notifications', { ...base, userId: dave.user.id }),
      403,
      'FORBIDDEN',
    );
    expectError(
      await client(testApp.app).post('/api/v1/notifications', { ...base, userId: dave.user.id }),
      401,
      'UNAUTHORIZED',
    );
    expectError(await client(testApp.app).get('/api/v1/notifications'), 401, 'UNAUTHORIZED');
    // A deactivated user is not found either.
    const gone = await createAccount(testApp, 'user');
    expect(
      (await admin.client.patch(`/api/v1/admin/users/${gone.user.id}`, { isActive: false })).statusCode,
    ).toBe(200);
    expectError(await send({ ...base, userId: gone.user.id }), 404, 'USER_NOT_FOUND');

    // Nothing of the refused attempts was written.
    expect(await notificationRows(dave.user.id)).toHaveLength(0);
    expect(await createdEvents(dave.user.id)).toHaveLength(0);
    expect(await notificationRows(gone.user.id)).toHaveLength(0);

    // Right-sized values and surrounding spaces (trimmed) are accepted.
    const ok = await send({ userId: dave.user.id, title: `  ${'t'.repeat(200)}  `, body: 'b'.repeat(2000) });
    expect(ok.statusCode, ok.body).toBe(201);
    const [stored] = (await list(dave)).notifications;
    expect(stored?.title).toBe('t'.repeat(200));
    expect(stored?.body).toBe('b'.repeat(2000));

    const audit = await testApp.database.handle.db
      .selectFrom('auditLogs')
      .selectAll()
      .where('action', '=', 'notification.sent')
      .where('targetId', '=', dave.user.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ targetType: 'user', actorId: admin.user.id });
    expect(audit[0]?.details).toEqual({ title: 't'.repeat(200), recipients: 1 });
  });
});

describe('reading', () => {
  it('lists unread first then newest first; marks read and unread; paginates', async () => {
    const erin = await createAccount(testApp, 'user');
    for (const title of ['first', 'second', 'third', 'fourth']) {
      await sendTo(erin, title);
      await sleep(5); // distinct creation instants
    }
    let listed = await list(erin);
    expect(listed.notifications.map((n) => n.title)).toEqual(['fourth', 'third', 'second', 'first']);
    expect(listed.unreadCount).toBe(4);
    const byTitle = new Map(listed.notifications.map((n) => [n.title, n]));
    const second = byTitle.get('second')!;
    const fourth = byTitle.get('fourth')!;

    // PATCH with an empty object marks read (read defaults to true).
    const before = Date.now();
    const read = await erin.client.patch(`/api/v1/notifications/${second.id}`, {});
    expect(read.statusCode, read.body).toBe(200);
    const readNotification = read.json().data.notification as NotificationView;
    expect(readNotification).toEqual({ ...second, read: true, readAt: expect.stringMatching(ISO) });
    expect(Date.parse(readNotification.readAt!)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(readNotification.readAt!)).toBeLessThanOrEqual(Date.now());

    const readFourth = await erin.client.patch(`/api/v1/notifications/${fourth.id}`, { read: true });
    expect(readFourth.statusCode, readFourth.body).toBe(200);
    expect(readFourth.json().data.notification).toMatchObject({ id: fourth.id, read: true });

    listed = await list(erin);
    expect(listed.unreadCount).toBe(2);
    // Unread (third, first) newest first, then read (fourth, second) newest first.
    expect(listed.notifications.map((n) => [n.title, n.read])).toEqual([
      ['third', false],
      ['first', false],
      ['fourth', true],
      ['second', true],
    ]);
    expect(listed.notifications.find((n) => n.title === 'second')?.readAt).toBe(readNotification.readAt);

    // Unread again.
    const unread = await erin.client.patch(`/api/v1/notifications/${second.id}`, { read: false });
    expect(unread.statusCode, unread.body).toBe(200);
    expect(unread.json().data.notification).toEqual({ ...second, read: false, readAt: null });
    listed = await list(erin);
    expect(listed.unreadCount).toBe(3);
    expect(listed.notifications.map((n) => n.title)).toEqual(['third', 'second', 'first', 'fourth']);

    // Pagination: two a page; the unread count covers every page.
    const page1 = await list(erin, '?limit=2');
    expect(page1.notifications.map((n) => n.title)).toEqual(['third', 'second']);
    expect(page1.pagination).toEqual({ current: 1, total: 2, count: 2, totalRecords: 4 });
    expect(page1.unreadCount).toBe(3);
    const page2 = await list(erin, '?limit=2&page=2');
    expect(page2.notifications.map((n) => n.title)).toEqual(['first', 'fourth']);
    expect(page2.pagination).toEqual({ current: 2, total: 2, count: 2, totalRecords: 4 });
    const page3 = await list(erin, '?limit=3&page=2');
    expect(page3.notifications.map((n) => n.title)).toEqual(['fourth']);
    expect(page3.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 4 });

    expectError(
      await erin.client.patch(`/api/v1/notifications/${second.id}`, { read: 'yes' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await erin.client.patch(`/api/v1/notifications/${second.id}`, { other: true }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await erin.client.patch('/api/v1/notifications/not-a-uuid', { read: true }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await erin.client.patch(`/api/v1/notifications/${randomUUID()}`, {}),
      404,
      'NOTIFICATION_NOT_FOUND',
    );
  });
});

// A missing body validates as null: the route accepts null as "mark read" (Type.Optional means
// nothing at the top level of a body schema).
describe('marking read without a body', () => {
  it('PATCH with no body marks the notification read (read defaults to true)', async () => {
    const kim = await createAccount(testApp, 'user');
    await sendTo(kim, 'no body');
    const [only] = (await list(kim)).notifications;
    const reply = await kim.client.patch(`/api/v1/notifications/${only!.id}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.notification).toMatchObject({ id: only!.id, read: true });
    expect((await list(kim)).unreadCount).toBe(0);
  });
});

describe('deleting', () => {
  it("deletes one's own; a second delete and another user's id are 404", async () => {
    const frank = await createAccount(testApp, 'user');
    const grace = await createAccount(testApp, 'merchant');
    await sendTo(frank, 'keep');
    await sleep(5);
    await sendTo(frank, 'drop');
    await sendTo(grace, 'grace');
    const frankList = await list(frank);
    const drop = frankList.notifications.find((n) => n.title === 'drop')!;
    const keep = frankList.notifications.find((n) => n.title === 'keep')!;
    const graceId = (await list(grace)).notifications[0]!.id;

    // Another user's notification: not found, never listed, untouched.
    expectError(
      await frank.client.patch(`/api/v1/notifications/${graceId}`, { read: true }),
      404,
      'NOTIFICATION_NOT_FOUND',
    );
    expectError(await frank.client.delete(`/api/v1/notifications/${graceId}`), 404, 'NOTIFICATION_NOT_FOUND');
    expectError(
      await grace.client.patch(`/api/v1/notifications/${drop.id}`, {}),
      404,
      'NOTIFICATION_NOT_FOUND',
    );
    expectError(await grace.client.delete(`/api/v1/notifications/${drop.id}`), 404, 'NOTIFICATION_NOT_FOUND');
    expect((await list(grace)).notifications).toEqual([
      expect.objectContaining({ id: graceId, read: false }),
    ]);
    expect((await list(frank)).notifications.map((n) => n.id)).toEqual([drop.id, keep.id]);
    // Even an admin cannot touch another user's notification.
    expectError(await admin.client.delete(`/api/v1/notifications/${graceId}`), 404, 'NOTIFICATION_NOT_FOUND');

    const deleted = await frank.client.delete(`/api/v1/notifications/${drop.id}`);
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toMatchObject({ success: true, data: { id: drop.id } });
    const after = await list(frank);
    expect(after.notifications.map((n) => n.id)).toEqual([keep.id]);
    expect(after.unreadCount).toBe(1);
    expect(after.pagination.totalRecords).toBe(1);
    expectError(await frank.client.delete(`/api/v1/notifications/${drop.id}`), 404, 'NOTIFICATION_NOT_FOUND');
    expectError(
      await frank.client.patch(`/api/v1/notifications/${drop.id}`, { read: true }),
      404,
      'NOTIFICATION_NOT_FOUND',
    );
    expect((await notificationRows(frank.user.id)).map((row) => row.id)).toEqual([keep.id]);
    expect((await list(grace)).notifications.map((n) => n.id)).toEqual([graceId]);
  });
});

describe('from events', () => {
  it('a low balance notifies its owner once, however often dispatch runs', async () => {
    const owner = await createAccount(testApp, 'user');
    const payee = await createAccount(testApp, 'user');
    await dispatchAll(); // Nothing of earlier tests left pending.
    expect(
      (await owner.client.post('/api/v1/wallet/deposit', { amount: 500, reference: 'low-1' }, key()))
        .statusCode,
    ).toBe(201);
    const set = await owner.client.put('/api/v1/wallet/low-balance-threshold', { threshold: 100 });
    expect(set.statusCode, set.body).toBe(200);
    const transfer = await owner.client.post(
      '/api/v1/wallet/transfer',
      { to: payee.user.id, amount: 410 },
      key(),
    );
    expect(transfer.statusCode, transfer.body).toBe(201); // 90 left: below 100

    // Recorded, but not a notification until dispatched.
    const lowEvents = await testApp.database.handle.db
      .selectFrom('events')
      .select(['id', 'dispatchedAt'])
      .where('userId', '=', owner.user.id)
      .where('type', '=', 'wallet.low_balance')
      .execute();
    expect(lowEvents).toHaveLength(1);
    expect(lowEvents[0]?.dispatchedAt).toBeNull();
    expect((await list(owner)).notifications).toHaveLength(0);

    expect(await dispatch()).toBeGreaterThan(0);
    const listed = await list(owner);
    expect(listed.unreadCount).toBe(1);
    expect(listed.notifications).toHaveLength(1);
    const [notification] = listed.notifications;
    expect(notification).toMatchObject({
      kind: 'wallet.low_balance',
      title: 'Low balance',
      body: "Your INR wallet's available balance fell below your threshold.",
      read: false,
      data: {
        eventType: 'wallet.low_balance',
        currency: 'INR',
        availableMinor: '9000',
        thresholdMinor: '10000',
      },
    });
    const rows = await notificationRows(owner.user.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.eventId).toBe(lowEvents[0]?.id);
    // Its own notification.created event, for the owner, waiting for the next dispatch.
    const created = await createdEvents(owner.user.id);
    expect(created).toHaveLength(1);
    expect(created[0]?.payload).toMatchObject({ id: notification?.id, kind: 'wallet.low_balance' });

    // Dispatching again: the low-balance event is done; the notification.created one makes none.
    await dispatchAll();
    expect(await notificationRows(owner.user.id)).toHaveLength(1);
    expect(await dispatch()).toBe(0);

    // Even handed over a second time (as if its dispatch had not committed), no duplicate.
    await testApp.database.handle.db
      .updateTable('events')
      .set({ dispatchedAt: null })
      .where('id', '=', lowEvents[0]!.id)
      .execute();
    expect(await dispatch()).toBe(1);
    expect(await notificationRows(owner.user.id)).toHaveLength(1);
    expect(await createdEvents(owner.user.id)).toHaveLength(1);
    expect((await list(owner)).unreadCount).toBe(1);

    // The payee set no threshold: nothing.
    expect(await notificationRows(payee.user.id)).toHaveLength(0);
  });

  it('a failed withdrawal notifies its user with the reason', async () => {
    const henry = await createAccount(testApp, 'user');
    expect(
      (await henry.client.post('/api/v1/wallet/deposit', { amount: 100, reference: 'wd-1' }, key()))
        .statusCode,
    ).toBe(201);
    const withdrawal = await henry.client.post(
      '/api/v1/wallet/withdraw',
      { amount: 30, destination: 'henry@okaxis' },
      key(),
    );
    expect(withdrawal.statusCode, withdrawal.body).toBe(201);
    const { id } = withdrawal.json().data.withdrawal;
    await dispatchAll();
    expect(await notificationRows(henry.user.id)).toHaveLength(0); // a pending withdrawal tells nothing

    const failed = await admin.client.post(`/api/v1/admin/withdrawals/${id}/fail`, {
      reason: 'bank rejected',
    });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(await dispatch()).toBeGreaterThan(0);

    const listed = await list(henry);
    expect(listed.notifications).toHaveLength(1);
    expect(listed.notifications[0]).toMatchObject({
      kind: 'withdrawal.failed',
      title: 'Withdrawal failed',
      body: 'Your withdrawal was not paid out: bank rejected. The amount is available in your wallet again.',
      read: false,
      data: {
        eventType: 'withdrawal.failed',
        withdrawalId: id,
        currency: 'INR',
        amountMinor: '3000',
        status: 'failed',
        failureReason: 'bank rejected',
      },
    });
    expect((await admin.client.get('/api/v1/notifications')).json().data.notifications).not.toContainEqual(
      expect.objectContaining({ kind: 'withdrawal.failed' }),
    );
    await dispatchAll();
    expect(await notificationRows(henry.user.id)).toHaveLength(1);
  });

  it("a disabled webhook endpoint notifies the merchant's user", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const other = await createAccount(testApp, 'merchant');
    await dispatchAll();
    const endpointId = randomUUID();
    await recordEvents(testApp.database.handle.db, [
      {
        type: 'webhook.endpoint_disabled',
        merchantId: merchant.user.merchantId,
        data: {
          endpointId,
          url: 'https://hooks.example.test/tijori',
          reason: 'every delivery failed for 3 days',
        },
        createdAt: new Date(),
      },
    ]);
    expect(await dispatch()).toBe(1);

    const listed = await list(merchant);
    expect(listed.unreadCount).toBe(1);
    expect(listed.notifications).toEqual([
      {
        id: expect.stringMatching(UUID),
        kind: 'webhook.endpoint_disabled',
        title: 'Webhook endpoint disabled',
        body: 'Deliveries to https://hooks.example.test/tijori failed for too long; it was disabled. Fix it and enable it again.',
        data: {
          eventType: 'webhook.endpoint_disabled',
          endpointId,
          url: 'https://hooks.example.test/tijori',
          reason: 'every delivery failed for 3 days',
        },
        read: false,
        readAt: null,
        createdAt: expect.stringMatching(ISO),
      },
    ]);
    const created = await createdEvents(merchant.user.id);
    expect(created).toHaveLength(1);
    expect(created[0]?.payload).toMatchObject({
      id: listed.notifications[0]?.id,
      kind: 'webhook.endpoint_disabled',
    });
    expect(await notificationRows(other.user.id)).toHaveLength(0);

    // Events that notify no one make no notification.
    await recordEvents(testApp.database.handle.db, [
      {
        type: 'webhook.endpoint_disabled',
        merchantId: null,
        data: { endpointId },
        createdAt: new Date(),
      },
      {
        type: 'wallet.credited',
        merchantId: null,
        userId: merchant.user.id,
        data: {},
        createdAt: new Date(),
      },
    ]);
    await dispatchAll();
    expect(await notificationRows(merchant.user.id)).toHaveLength(1);
  });
});

// --- Pushed to sockets: an app listening with workers running ----------------------------------

describe('pushed on creation', () => {
  let pushApp: TestApp;
  let workers: Workers | undefined;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    pushApp = await createTestApp({
      env: { EVENT_DISPATCH_INTERVAL_MS: '50', WORKER_POLL_INTERVAL_MS: '100' },
    });
    await pushApp.app.listen({ port: 0, host: '127.0.0.1' });
    workers = await startJobWorkers(
      { config: pushApp.config, database: pushApp.database.handle },
      pushApp.services,
    );
  });
  afterAll(async () => {
    await workers?.stop();
    for (const socket of sockets) socket.disconnect();
    await pushApp?.close();
  });

  async function connect(account: Account): Promise<{ socket: Socket; received: unknown[] }> {
    const { port } = pushApp.app.server.address() as AddressInfo;
    const socket = io(`http://127.0.0.1:${port}`, {
      auth: { token: account.accessToken },
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    });
    sockets.push(socket);
    const received: unknown[] = [];
    socket.on('notification.created', (message: unknown) => received.push(message));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return { socket, received };
  }

  async function waitFor(received: unknown[], count: number, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} pushed, got ${received.length}`);
      await sleep(20);
    }
  }

  it("reaches the recipient's socket as notification.created, and no one else's", async () => {
    const pushAdmin = await createAccount(pushApp, 'admin');
    const ivan = await createAccount(pushApp, 'user');
    const judy = await createAccount(pushApp, 'user');
    const ivanSocket = await connect(ivan);
    const judySocket = await connect(judy);

    const sent = await pushAdmin.client.post('/api/v1/notifications', {
      userId: ivan.user.id,
      title: 'Welcome',
      body: 'Your account is ready.',
    });
    expect(sent.statusCode, sent.body).toBe(201);
    await waitFor(ivanSocket.received, 1);

    const listedReply = await ivan.client.get('/api/v1/notifications');
    const listed = listedReply.json().data.notifications as NotificationView[];
    expect(listed).toHaveLength(1);
    const event = await pushApp.database.handle.db
      .selectFrom('events')
      .select(['id', 'createdAt'])
      .where('userId', '=', ivan.user.id)
      .where('type', '=', 'notification.created')
      .executeTakeFirstOrThrow();
    expect(ivanSocket.received).toEqual([
      {
        id: event.id,
        type: 'notification.created',
        createdAt: event.createdAt.toISOString(),
        data: {
          id: listed[0]?.id,
          kind: 'announcement',
          title: 'Welcome',
          body: 'Your account is ready.',
          createdAt: listed[0]?.createdAt,
        },
      },
    ]);

    // Judy's own notification, sent after: once it reaches her, Ivan's has been pushed already,
    // and each socket holds exactly its own.
    const second = await pushAdmin.client.post('/api/v1/notifications', {
      userId: judy.user.id,
      title: 'For Judy',
      body: '',
    });
    expect(second.statusCode, second.body).toBe(201);
    await waitFor(judySocket.received, 1);
    await sleep(100);
    expect(judySocket.received).toHaveLength(1);
    expect(judySocket.received[0]).toMatchObject({
      type: 'notification.created',
      data: { title: 'For Judy' },
    });
    expect(ivanSocket.received).toHaveLength(1);
  });
});
