import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
  uniqueEmail,
} from '../../../test/app.ts';
import { createManualClock } from '../../lib/clock.ts';

/** An audit row as GET /admin/audit-logs returns it. */
interface AuditLogJson {
  id: string;
  actorId: string | null;
  actorRole: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, any>;
  createdAt: string;
}

interface AuditPage {
  auditLogs: AuditLogJson[];
  pagination: { current: number; total: number; count: number; totalRecords: number };
}

const USER_AGENT = 'TijoriAuditTest/1.0 (+vitest)';
const INJECT_IP = '127.0.0.1';
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let testApp: TestApp;
let admin: Account;
let anonymous: Client;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
  anonymous = client(testApp.app, { 'user-agent': USER_AGENT });
});
afterAll(async () => {
  await testApp?.close();
});

/** The account's access token, sent with our user agent. */
function signedIn(account: Account): Client {
  return client(testApp.app, { authorization: `Bearer ${account.accessToken}`, 'user-agent': USER_AGENT });
}

async function listAudit(query: Record<string, string>, as: Client = admin.client): Promise<AuditPage> {
  const reply = await as.get(`/api/v1/admin/audit-logs?${new URLSearchParams(query)}`);
  expect(reply.statusCode, reply.body).toBe(200);
  expect(reply.json().success).toBe(true);
  return reply.json().data;
}

/**
 * The one row `action` wrote for the request that produced `reply`, found through the admin API;
 * checks the request context every row must carry.
 */
async function auditRowOf(reply: Reply, action: string, targetId?: string): Promise<AuditLogJson> {
  const requestId = reply.headers['x-request-id'];
  expect(typeof requestId).toBe('string');
  const { auditLogs } = await listAudit({
    action,
    ...(targetId === undefined ? {} : { targetId }),
    limit: '100',
  });
  const rows = auditLogs.filter((row) => row.requestId === requestId);
  expect(rows, `one ${action} row for request ${requestId}`).toHaveLength(1);
  const row = rows[0]!;
  expect(row.action).toBe(action);
  expect(row.id).toMatch(UUID_PATTERN);
  expect(row.ip).toBe(INJECT_IP);
  expect(row.userAgent).toBe(USER_AGENT);
  expect(row.requestId).toBe(requestId);
  expect(Number.isNaN(Date.parse(row.createdAt))).toBe(false);
  return row;
}

async function countAudit(query: Record<string, string>): Promise<number> {
  return (await listAudit({ ...query, limit: '1' })).pagination.totalRecords;
}

async function register(role: 'user' | 'merchant' | 'vendor', headers: Record<string, string> = {}) {
  const email = uniqueEmail(`audit-${role}`);
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const reply = await anonymous.post(
    '/api/v1/auth/register',
    { name: `Audit ${role}`, email, password, role },
    headers,
  );
  expect(reply.statusCode, reply.body).toBe(201);
  return { reply, email, password, data: reply.json().data };
}

async function login(email: string, password: string): Promise<Reply> {
  return anonymous.post('/api/v1/auth/login', { email, password });
}

describe('rows written by auth and merchant actions', () => {
  it('records a registration, with the request id the client sent', async () => {
    const requestId = `reg-${randomBytes(6).toString('hex')}`;
    const { reply, data, password } = await register('merchant', { 'x-request-id': requestId });
    expect(reply.headers['x-request-id']).toBe(requestId);

    const row = await auditRowOf(reply, 'auth.registered', data.user.id);
    expect(row).toMatchObject({
      actorId: data.user.id,
      actorRole: 'merchant',
      targetType: 'user',
      targetId: data.user.id,
      requestId,
      details: { role: 'merchant', merchantId: data.user.merchantId },
    });
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(password);
    expect(stored).not.toContain(data.credentials.clientSecret);

    const user = await register('user');
    const userRow = await auditRowOf(user.reply, 'auth.registered', user.data.user.id);
    expect(userRow).toMatchObject({ actorId: user.data.user.id, actorRole: 'user' });
    expect(userRow.details).toEqual({ role: 'user' });
  });

  it('writes no registration row when the registration fails', async () => {
    const taken = await register('user');
    const before = await countAudit({ action: 'auth.registered' });
    const duplicate = await anonymous.post('/api/v1/auth/register', {
      name: 'Second',
      email: taken.email,
      password: 'another-password',
    });
    expectError(duplicate, 409, 'EMAIL_TAKEN');
    expect(await countAudit({ action: 'auth.registered' })).toBe(before);
  });

  it('records a login', async () => {
    const { email, password, data } = await register('vendor');
    const reply = await login(email, password);
    expect(reply.statusCode, reply.body).toBe(200);
    const row = await auditRowOf(reply, 'auth.login', data.user.id);
    expect(row).toMatchObject({
      actorId: data.user.id,
      actorRole: 'vendor',
      targetType: 'user',
      targetId: data.user.id,
    });
    expect(JSON.stringify(row)).not.toContain(password);
  });

  it('records failed logins with their reason', async () => {
    const { email, password, data } = await register('user');

    const wrongPassword = await login(email, `${password}-wrong`);
    expectError(wrongPassword, 401, 'INVALID_CREDENTIALS');
    const wrongRow = await auditRowOf(wrongPassword, 'auth.login_failed', data.user.id);
    expect(wrongRow).toMatchObject({
      // Nobody proved who they are, so there is no actor: the account tried is the target.
      actorId: null,
      targetType: 'user',
      targetId: data.user.id,
      details: { email, reason: 'wrong_password', failures: 1 },
    });
    expect(JSON.stringify(wrongRow)).not.toContain(`${password}-wrong`);

    const unknownEmail = uniqueEmail('nobody');
    const unknown = await login(unknownEmail, 'whatever-password');
    expectError(unknown, 401, 'INVALID_CREDENTIALS');
    const unknownRow = await auditRowOf(unknown, 'auth.login_failed');
    expect(unknownRow).toMatchObject({
      actorId: null,
      targetType: 'user',
      targetId: null,
      details: { email: unknownEmail, reason: 'unknown_email' },
    });

    // A disabled account with the right password: the person is known, the sign-in refused.
    const disable = await admin.client.patch(`/api/v1/admin/users/${data.user.id}`, { isActive: false });
    expect(disable.statusCode, disable.body).toBe(200);
    const disabled = await login(email, password);
    expectError(disabled, 403, 'ACCOUNT_DISABLED');
    const disabledRow = await auditRowOf(disabled, 'auth.login_failed', data.user.id);
    expect(disabledRow).toMatchObject({
      actorId: data.user.id,
      actorRole: 'user',
      targetId: data.user.id,
      details: { email, reason: 'account_disabled' },
    });
  });

  it('records the revocation of a token family on logout', async () => {
    const { data } = await register('user');
    const reply = await anonymous.post('/api/v1/auth/logout', { refreshToken: data.refreshToken });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({ revoked: true });
    const row = await auditRowOf(reply, 'auth.token_family_revoked', data.user.id);
    expect(row).toMatchObject({ targetType: 'user', targetId: data.user.id, details: { reason: 'logout' } });
    expect(row.details.familyId).toMatch(UUID_PATTERN);

    // A second logout with the same token revokes nothing and writes nothing.
    const again = await anonymous.post('/api/v1/auth/logout', { refreshToken: data.refreshToken });
    expect(again.json().data).toEqual({ revoked: false });
    expect(
      (await listAudit({ action: 'auth.token_family_revoked', targetId: data.user.id })).auditLogs,
    ).toHaveLength(1);
  });

  it('names the signed-out user as the actor of a logout revocation', async () => {
    const { data } = await register('user');
    const reply = await anonymous.post('/api/v1/auth/logout', { refreshToken: data.refreshToken });
    expect(reply.statusCode, reply.body).toBe(200);
    const row = await auditRowOf(reply, 'auth.token_family_revoked', data.user.id);
    expect(row).toMatchObject({ actorId: data.user.id, actorRole: 'user' });
  });

  it('records the revocation of a token family when a refresh token is reused', async () => {
    const { data } = await register('user');
    const rotated = await anonymous.post('/api/v1/auth/refresh', { refreshToken: data.refreshToken });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const newer = rotated.json().data.refreshToken as string;

    const reuse = await anonymous.post('/api/v1/auth/refresh', { refreshToken: data.refreshToken });
    expectError(reuse, 401, 'REFRESH_TOKEN_REUSED');
    const row = await auditRowOf(reuse, 'auth.token_family_revoked', data.user.id);
    expect(row).toMatchObject({
      // Whoever replayed the token is not known to be its owner: the owner is the target.
      actorId: null,
      targetType: 'user',
      targetId: data.user.id,
      details: { reason: 'reuse_detected' },
    });
    expect(row.details.familyId).toMatch(UUID_PATTERN);

    // The revocation recorded really happened: the newer token of the family is dead too.
    expectError(
      await anonymous.post('/api/v1/auth/refresh', { refreshToken: newer }),
      401,
      'REFRESH_TOKEN_REVOKED',
    );
  });

  it('records a credential regeneration without the secret', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const reply = await signedIn(merchant).post('/api/v1/merchant/credentials/regenerate');
    expect(reply.statusCode, reply.body).toBe(200);
    const fresh = reply.json().data;
    const row = await auditRowOf(reply, 'merchant.credentials_regenerated', merchant.user.merchantId!);
    expect(row).toMatchObject({
      actorId: merchant.user.id,
      actorRole: 'merchant',
      targetType: 'merchant',
      targetId: merchant.user.merchantId,
      details: { clientKey: fresh.clientKey, via: 'jwt' },
    });
    expect(JSON.stringify(row)).not.toContain(fresh.clientSecret);

    const viaKey = await client(testApp.app, {
      'x-client-key': fresh.clientKey,
      'x-client-secret': fresh.clientSecret,
      'user-agent': USER_AGENT,
    }).post('/api/v1/merchant/credentials/regenerate');
    expect(viaKey.statusCode, viaKey.body).toBe(200);
    const keyRow = await auditRowOf(viaKey, 'merchant.credentials_regenerated', merchant.user.merchantId!);
    expect(keyRow).toMatchObject({ actorId: merchant.user.id, details: { via: 'api_key' } });
    expect(JSON.stringify(keyRow)).not.toContain(viaKey.json().data.clientSecret);
  });

  it("records an admin's role change, and only real changes", async () => {
    const user = await createAccount(testApp, 'user');
    const path = `/api/v1/admin/users/${user.user.id}`;
    const reply = await signedIn(admin).patch(path, { role: 'vendor' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.user.role).toBe('vendor');
    const row = await auditRowOf(reply, 'user.role_changed', user.user.id);
    expect(row).toMatchObject({
      actorId: admin.user.id,
      actorRole: 'admin',
      targetType: 'user',
      targetId: user.user.id,
      details: { from: 'user', to: 'vendor' },
    });

    // The same role again is no change; a refused change writes nothing either.
    expect((await signedIn(admin).patch(path, { role: 'vendor' })).statusCode).toBe(200);
    expect(await countAudit({ action: 'user.role_changed', targetId: user.user.id })).toBe(1);
    const merchant = await createAccount(testApp, 'merchant');
    expectError(
      await signedIn(admin).patch(`/api/v1/admin/users/${merchant.user.id}`, { role: 'user' }),
      422,
      'ROLE_CHANGE_REFUSED',
    );
    expect(await countAudit({ action: 'user.role_changed', targetId: merchant.user.id })).toBe(0);
  });

  it("records an admin's status changes with each field's old and new value", async () => {
    const user = await createAccount(testApp, 'user');
    const path = `/api/v1/admin/users/${user.user.id}`;

    const disable = await signedIn(admin).patch(path, { isActive: false });
    expect(disable.statusCode, disable.body).toBe(200);
    const disableRow = await auditRowOf(disable, 'user.status_changed', user.user.id);
    expect(disableRow).toMatchObject({
      actorId: admin.user.id,
      actorRole: 'admin',
      targetType: 'user',
      targetId: user.user.id,
    });
    expect(disableRow.details).toEqual({ isActive: { from: true, to: false } });

    const both = await signedIn(admin).patch(path, { isActive: true, isVerified: true });
    expect(both.statusCode, both.body).toBe(200);
    const bothRow = await auditRowOf(both, 'user.status_changed', user.user.id);
    expect(bothRow.details).toEqual({
      isActive: { from: false, to: true },
      isVerified: { from: false, to: true },
    });

    // Unchanged values write nothing.
    expect((await signedIn(admin).patch(path, { isActive: true, isVerified: true })).statusCode).toBe(200);
    expect(await countAudit({ action: 'user.status_changed', targetId: user.user.id })).toBe(2);
  });

  it('keeps the peer address, not a forwarded one, and caps a long user agent', async () => {
    const { email, password, data } = await register('user');
    const longAgent = `Agent/${'x'.repeat(700)}`;
    const reply = await anonymous.post(
      '/api/v1/auth/login',
      { email, password },
      { 'x-forwarded-for': '203.0.113.9', 'user-agent': longAgent },
    );
    expect(reply.statusCode, reply.body).toBe(200);
    const { auditLogs } = await listAudit({ action: 'auth.login', targetId: data.user.id });
    const row = auditLogs.find((candidate) => candidate.requestId === reply.headers['x-request-id']);
    expect(row).toBeDefined();
    // TRUST_PROXY is off by default: a client cannot choose the address it is recorded under.
    expect(row!.ip).toBe(INJECT_IP);
    expect(row!.userAgent).toBe(longAgent.slice(0, 512));
  });
});

describe('audit_logs is append-only', () => {
  it('refuses UPDATE, DELETE and TRUNCATE through the application connection and keeps the rows', async () => {
    const db = testApp.database.handle.db;
    await register('merchant');
    const before = await db.selectFrom('auditLogs').selectAll().orderBy('id').execute();
    expect(before.length).toBeGreaterThan(2);
    const first = before[0]!;

    const attempts: [string, () => Promise<unknown>][] = [
      [
        'update one row',
        () => db.updateTable('auditLogs').set({ action: 'tampered' }).where('id', '=', first.id).execute(),
      ],
      ['update every row', () => db.updateTable('auditLogs').set({ actorId: null, ip: null }).execute()],
      ['raw update', () => sql`UPDATE audit_logs SET details = '{}'::jsonb`.execute(db)],
      ['delete one row', () => db.deleteFrom('auditLogs').where('id', '=', first.id).execute()],
      ['delete every row', () => db.deleteFrom('auditLogs').execute()],
      ['raw delete', () => sql`DELETE FROM audit_logs WHERE action = 'auth.registered'`.execute(db)],
      ['truncate', () => sql`TRUNCATE audit_logs`.execute(db)],
      ['truncate cascade', () => sql`TRUNCATE TABLE audit_logs RESTART IDENTITY CASCADE`.execute(db)],
    ];
    for (const [what, attempt] of attempts) {
      await expect(attempt(), what).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/audit_logs is append-only: (UPDATE|DELETE|TRUNCATE) refused/),
      });
    }

    // A refused change inside a transaction takes the whole transaction down with it.
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.updateTable('auditLogs').set({ action: 'tampered' }).where('id', '=', first.id).execute();
      }),
    ).rejects.toMatchObject({ code: '42501' });

    const after = await db.selectFrom('auditLogs').selectAll().orderBy('id').execute();
    expect(after).toEqual(before);

    // Appending still works.
    const { data } = await register('user');
    expect(await countAudit({ action: 'auth.registered', targetId: data.user.id })).toBe(1);
  });
});

describe('GET /admin/audit-logs', () => {
  it('is for admins only', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const user = await createAccount(testApp, 'user');
    const vendor = await createAccount(testApp, 'vendor');
    expectError(await merchant.client.get('/api/v1/admin/audit-logs'), 403, 'FORBIDDEN');
    expectError(await merchant.apiClient!.get('/api/v1/admin/audit-logs'), 403, 'FORBIDDEN');
    expectError(await user.client.get('/api/v1/admin/audit-logs'), 403, 'FORBIDDEN');
    expectError(await vendor.client.get('/api/v1/admin/audit-logs'), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).get('/api/v1/admin/audit-logs'), 401, 'UNAUTHORIZED');
    expectError(
      await client(testApp.app, { authorization: 'Bearer not-a-token' }).get('/api/v1/admin/audit-logs'),
      401,
      'INVALID_TOKEN',
    );
    // The unversioned alias is guarded the same way.
    expectError(await user.client.get('/api/admin/audit-logs'), 403, 'FORBIDDEN');
    expect((await admin.client.get('/api/admin/audit-logs')).statusCode).toBe(200);
  });

  it('filters by action, actorId, targetType and targetId, together or apart', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const user = await createAccount(testApp, 'user');
    expect((await merchant.client.post('/api/v1/merchant/credentials/regenerate')).statusCode).toBe(200);
    expect(
      (await admin.client.patch(`/api/v1/admin/users/${user.user.id}`, { isVerified: true })).statusCode,
    ).toBe(200);

    const byAction = await listAudit({ action: 'merchant.credentials_regenerated', limit: '100' });
    expect(byAction.auditLogs.length).toBeGreaterThan(0);
    for (const row of byAction.auditLogs) expect(row.action).toBe('merchant.credentials_regenerated');
    expect(byAction.auditLogs.map((row) => row.targetId)).toContain(merchant.user.merchantId);

    const byActor = await listAudit({ actorId: merchant.user.id, limit: '100' });
    expect(byActor.auditLogs.map((row) => row.action).sort()).toEqual([
      'auth.registered',
      'merchant.credentials_regenerated',
    ]);
    for (const row of byActor.auditLogs) expect(row.actorId).toBe(merchant.user.id);

    const byAdmin = await listAudit({ actorId: admin.user.id, limit: '100' });
    for (const row of byAdmin.auditLogs) expect(row.actorId).toBe(admin.user.id);
    expect(byAdmin.auditLogs.some((row) => row.targetId === user.user.id)).toBe(true);

    const byTargetType = await listAudit({ targetType: 'merchant', limit: '100' });
    expect(byTargetType.auditLogs.length).toBeGreaterThan(0);
    for (const row of byTargetType.auditLogs) expect(row.targetType).toBe('merchant');

    const byTarget = await listAudit({ targetId: user.user.id });
    expect(byTarget.auditLogs.map((row) => row.action).sort()).toEqual([
      'auth.registered',
      'user.status_changed',
    ]);
    for (const row of byTarget.auditLogs) expect(row.targetId).toBe(user.user.id);

    const combined = await listAudit({
      action: 'user.status_changed',
      actorId: admin.user.id,
      targetType: 'user',
      targetId: user.user.id,
    });
    expect(combined.auditLogs).toHaveLength(1);
    expect(combined.auditLogs[0]).toMatchObject({ details: { isVerified: { from: false, to: true } } });
    // Filters are ANDed: a mismatching one empties the result.
    expect(
      (await listAudit({ action: 'user.status_changed', targetId: user.user.id, targetType: 'merchant' }))
        .auditLogs,
    ).toEqual([]);
    expect((await listAudit({ action: 'no.such_action' })).pagination).toEqual({
      current: 1,
      total: 0,
      count: 0,
      totalRecords: 0,
    });
  });

  it('pages with page/limit and the take alias, newest first by default', async () => {
    const { email, password, data } = await register('user');
    const loginsMax = 5;
    for (let attempt = 0; attempt < loginsMax; attempt++) {
      expect((await login(email, password)).statusCode).toBe(200);
    }
    const scope = { action: 'auth.login', targetId: data.user.id };

    const all = await listAudit(scope);
    expect(all.pagination).toEqual({ current: 1, total: 1, count: loginsMax, totalRecords: loginsMax });
    const createdAt = all.auditLogs.map((row) => Date.parse(row.createdAt));
    expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));
    const ascending = await listAudit({ ...scope, sortOrder: 'asc' });
    expect(ascending.auditLogs.map((row) => row.id)).toEqual(all.auditLogs.map((row) => row.id).reverse());

    const pages: AuditPage[] = [];
    for (let page = 1; page <= 4; page++)
      pages.push(await listAudit({ ...scope, limit: '2', page: `${page}` }));
    expect(pages.map((page) => page.pagination)).toEqual([
      { current: 1, total: 3, count: 2, totalRecords: loginsMax },
      { current: 2, total: 3, count: 2, totalRecords: loginsMax },
      { current: 3, total: 3, count: 1, totalRecords: loginsMax },
      { current: 4, total: 3, count: 0, totalRecords: loginsMax },
    ]);
    const paged = pages.flatMap((page) => page.auditLogs.map((row) => row.id));
    expect(paged).toEqual(all.auditLogs.map((row) => row.id));

    const viaTake = await listAudit({ ...scope, take: '2', page: '2' });
    expect(viaTake.pagination).toEqual({ current: 2, total: 3, count: 2, totalRecords: loginsMax });
    expect(viaTake.auditLogs.map((row) => row.id)).toEqual(pages[1]!.auditLogs.map((row) => row.id));
    // limit wins over take.
    expect((await listAudit({ ...scope, take: '1', limit: '4' })).pagination.count).toBe(4);

    // Without limit, pages hold 10.
    const defaults = await listAudit({});
    expect(defaults.pagination.count).toBe(Math.min(10, defaults.pagination.totalRecords));
    expect(defaults.pagination.total).toBe(Math.ceil(defaults.pagination.totalRecords / 10));
  });

  it('refuses bad queries with 400 VALIDATION_FAILED', async () => {
    for (const query of [
      'limit=101',
      'limit=1000',
      'take=101',
      'limit=0',
      'page=0',
      'limit=abc',
      'actorId=not-a-uuid',
      'from=yesterday',
      'to=2031-13-45T00:00:00Z',
      'sortOrder=sideways',
      'action=',
      `action=${'a'.repeat(101)}`,
      'unknown=1',
    ]) {
      expectError(await admin.client.get(`/api/v1/admin/audit-logs?${query}`), 400, 'VALIDATION_FAILED');
    }
  });
});

describe('GET /admin/audit-logs time window', () => {
  // A clock of its own (and so a database of its own) to give rows known timestamps.
  const clock = createManualClock(new Date('2031-05-01T09:00:00.000Z'));
  let clockApp: TestApp;

  beforeAll(async () => {
    clockApp = await createTestApp({ clock });
  });
  afterAll(async () => {
    await clockApp?.close();
  });

  const at = (hour: number) => `2031-05-01T${String(hour).padStart(2, '0')}:00:00.000Z`;

  it('filters by from and to, both inclusive', async () => {
    const user = await createAccount(clockApp, 'user');
    const hours = [10, 11, 12, 13, 14];
    for (const hour of hours) {
      clock.set(new Date(at(hour)));
      const reply = await client(clockApp.app).post('/api/v1/auth/login', {
        email: user.user.email,
        password: user.password,
      });
      expect(reply.statusCode, reply.body).toBe(200);
    }
    clock.set(new Date(at(15)));
    const clockAdmin = await createAccount(clockApp, 'admin');

    async function window(query: Record<string, string>): Promise<string[]> {
      const reply = await clockAdmin.client.get(
        `/api/v1/admin/audit-logs?${new URLSearchParams({ action: 'auth.login', targetId: user.user.id, ...query })}`,
      );
      expect(reply.statusCode, reply.body).toBe(200);
      return reply.json().data.auditLogs.map((row: AuditLogJson) => row.createdAt);
    }

    expect(await window({})).toEqual([at(14), at(13), at(12), at(11), at(10)]);
    expect(await window({ from: at(11), to: at(13) })).toEqual([at(13), at(12), at(11)]);
    expect(await window({ from: at(11), to: at(13), sortOrder: 'asc' })).toEqual([at(11), at(12), at(13)]);
    expect(await window({ from: at(12) })).toEqual([at(14), at(13), at(12)]);
    expect(await window({ to: at(11) })).toEqual([at(11), at(10)]);
    expect(await window({ from: '2031-05-01T11:00:00.001Z', to: '2031-05-01T12:59:59.999Z' })).toEqual([
      at(12),
    ]);
    // Any offset names the same instant: 16:30 in India is 11:00 UTC.
    expect(await window({ from: '2031-05-01T16:30:00+05:30', to: '2031-05-01T17:30:00+05:30' })).toEqual([
      at(12),
      at(11),
    ]);
    expect(await window({ from: at(13), to: at(11) })).toEqual([]);
    expect(await window({ from: at(15) })).toEqual([]);
  });
});
