import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  client,
  createAccount,
  createTestApp,
  expectError,
  type Reply,
  type TestApp,
  uniqueEmail,
} from '../../../test/app.ts';
import { createManualClock } from '../../lib/clock.ts';

const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const MINUTE_MS = 60_000;

function newPassword(): string {
  return `pw-${randomBytes(8).toString('hex')}`;
}

function bearer(testApp: TestApp, accessToken: string) {
  return client(testApp.app, { authorization: `Bearer ${accessToken}` });
}

function login(testApp: TestApp, email: string, password: string): Promise<Reply> {
  return client(testApp.app).post('/api/v1/auth/login', { email, password });
}

function refresh(testApp: TestApp, refreshToken: string): Promise<Reply> {
  return client(testApp.app).post('/api/v1/auth/refresh', { refreshToken });
}

function logout(testApp: TestApp, refreshToken: string): Promise<Reply> {
  return client(testApp.app).post('/api/v1/auth/logout', { refreshToken });
}

function usersWithEmail(testApp: TestApp, email: string) {
  return testApp.database.handle.db
    .selectFrom('users')
    .selectAll()
    .where('email', '=', email.toLowerCase())
    .execute();
}

function refreshTokenRows(testApp: TestApp, userId: string) {
  return testApp.database.handle.db
    .selectFrom('refreshTokens')
    .selectAll()
    .where('userId', '=', userId)
    .orderBy('createdAt')
    .execute();
}

function auditRows(testApp: TestApp, action: string, targetId: string) {
  return testApp.database.handle.db
    .selectFrom('auditLogs')
    .selectAll()
    .where('action', '=', action)
    .where('targetId', '=', targetId)
    .execute();
}

/** Reads a JWT's payload without verifying it. */
function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

function expectSession(reply: Reply, statusCode: number) {
  expect(reply.statusCode, reply.body).toBe(statusCode);
  const body = reply.json();
  expect(body.success).toBe(true);
  const { user, accessToken, refreshToken } = body.data;
  expect(user.id).toMatch(UUID_PATTERN);
  expect(accessToken).toMatch(JWT_PATTERN);
  expect(refreshToken).toMatch(/^rt_/);
  expect(user).not.toHaveProperty('passwordHash');
  expect(reply.body).not.toContain('argon2');
  return body.data;
}

function fieldsOf(reply: Reply): string[] {
  const details = reply.json().error.details;
  expect(Array.isArray(details), reply.body).toBe(true);
  return (details as { field: string }[]).map((problem) => problem.field);
}

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
});

describe('smoke', () => {
  it('registers and reads me', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const me = await merchant.client.get('/api/v1/auth/me');
    expect(me.statusCode).toBe(200);
    expect(me.json().data.user.merchantId).toBe(merchant.user.merchantId);
    const viaKey = await merchant.apiClient!.get('/api/auth/me');
    expect(viaKey.statusCode).toBe(200);
    expectError(
      (await testApp.app.inject({ method: 'GET', url: '/api/v1/auth/me' })) as never,
      401,
      'UNAUTHORIZED',
    );
  });
});

describe('POST /auth/register', () => {
  it('creates a user by default, signs it in and stores only hashes', async () => {
    const email = uniqueEmail('Alice').replace('example', 'Example');
    expect(email).not.toBe(email.toLowerCase());
    const password = newPassword();
    const reply = await client(testApp.app).post('/api/v1/auth/register', {
      name: 'Alice',
      email,
      password,
    });
    const data = expectSession(reply, 201);
    expect(reply.json().message).toBe('Account created');
    expect(data.user).toMatchObject({
      name: 'Alice',
      email: email.toLowerCase(),
      role: 'user',
      merchantId: null,
      isActive: true,
      isVerified: false,
      lastLoginAt: null,
    });
    expect(data.user.createdAt).toMatch(ISO_PATTERN);
    expect(data.user.updatedAt).toMatch(ISO_PATTERN);
    expect(data).not.toHaveProperty('credentials');

    const claims = jwtPayload(data.accessToken);
    expect(claims).toMatchObject({ sub: data.user.id, role: 'user', mid: null });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(15 * 60);

    const me = await bearer(testApp, data.accessToken).get('/api/v1/auth/me');
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().data.user.id).toBe(data.user.id);

    const [row, ...others] = await usersWithEmail(testApp, email);
    expect(others).toHaveLength(0);
    expect(row!.id).toBe(data.user.id);
    expect(row!.email).toBe(email.toLowerCase());
    expect(row!.passwordHash).toMatch(/^\$argon2id\$/);
    expect(row!.passwordHash).not.toContain(password);

    const tokens = await refreshTokenRows(testApp, data.user.id);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.tokenHash).not.toBe(data.refreshToken);
    expect(tokens[0]!.tokenHash).not.toContain(data.refreshToken.slice(3));
    expect(tokens[0]!.revokedAt).toBeNull();

    expect(await auditRows(testApp, 'auth.registered', data.user.id)).toHaveLength(1);
  });

  it('gives a merchant a merchant profile and API credentials that work', async () => {
    const email = uniqueEmail('shop');
    const reply = await client(testApp.app).post('/api/v1/auth/register', {
      name: 'Asha Rao',
      email,
      password: newPassword(),
      role: 'merchant',
      businessName: 'Asha Sweets',
      phone: '+919876543210',
    });
    const data = expectSession(reply, 201);
    expect(data.user.role).toBe('merchant');
    expect(data.user.merchantId).toMatch(UUID_PATTERN);
    expect(data.credentials).toEqual({ clientKey: expect.any(String), clientSecret: expect.any(String) });
    expect(data.credentials.clientKey.length).toBeGreaterThan(8);
    expect(data.credentials.clientSecret.length).toBeGreaterThan(16);
    expect(jwtPayload(data.accessToken)).toMatchObject({ role: 'merchant', mid: data.user.merchantId });

    const merchant = await testApp.database.handle.db
      .selectFrom('merchants')
      .selectAll()
      .where('id', '=', data.user.merchantId)
      .executeTakeFirstOrThrow();
    expect(merchant).toMatchObject({
      userId: data.user.id,
      businessName: 'Asha Sweets',
      contactEmail: email,
      contactPhone: '+919876543210',
      clientKey: data.credentials.clientKey,
    });
    expect(merchant.clientSecretHash).not.toBe(data.credentials.clientSecret);

    const viaKey = await client(testApp.app, {
      'x-client-key': data.credentials.clientKey,
      'x-client-secret': data.credentials.clientSecret,
    }).get('/api/v1/auth/me');
    expect(viaKey.statusCode, viaKey.body).toBe(200);
    expect(viaKey.json().data.user).toMatchObject({ id: data.user.id, merchantId: data.user.merchantId });

    const wrongSecret = await client(testApp.app, {
      'x-client-key': data.credentials.clientKey,
      'x-client-secret': `${data.credentials.clientSecret}x`,
    }).get('/api/v1/auth/me');
    expectError(wrongSecret, 401, 'INVALID_API_CREDENTIALS');
  });

  it('names a merchant business after the person when no business name is given', async () => {
    const merchant = await createAccount(testApp, 'merchant', 'Ravi Kumar');
    const row = await testApp.database.handle.db
      .selectFrom('merchants')
      .select(['businessName', 'contactPhone'])
      .where('id', '=', merchant.user.merchantId!)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ businessName: 'Ravi Kumar', contactPhone: null });
  });

  it('registers a vendor without a merchant profile or credentials', async () => {
    const reply = await client(testApp.app).post('/api/v1/auth/register', {
      name: 'Vendor V',
      email: uniqueEmail('vendor'),
      password: newPassword(),
      role: 'vendor',
    });
    const data = expectSession(reply, 201);
    expect(data.user).toMatchObject({ role: 'vendor', merchantId: null });
    expect(data).not.toHaveProperty('credentials');
    const merchants = await testApp.database.handle.db
      .selectFrom('merchants')
      .select('id')
      .where('userId', '=', data.user.id)
      .execute();
    expect(merchants).toHaveLength(0);
  });

  it('refuses self-registration as admin and creates nothing', async () => {
    const email = uniqueEmail('wannabe');
    const password = newPassword();
    const countUsers = async () =>
      Number(
        (
          await testApp.database.handle.db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll<string>().as('count'))
            .executeTakeFirstOrThrow()
        ).count,
      );
    const before = await countUsers();
    const reply = await client(testApp.app).post('/api/v1/auth/register', {
      name: 'Mallory',
      email,
      password,
      role: 'admin',
    });
    expectError(reply, 403, 'ROLE_NOT_ALLOWED');
    expect(await usersWithEmail(testApp, email)).toHaveLength(0);
    expect(await countUsers()).toBe(before);
    expectError(await login(testApp, email, password), 401, 'INVALID_CREDENTIALS');
  });

  it('refuses an email already taken, whatever its case, and leaves the first account alone', async () => {
    const first = await createAccount(testApp, 'user', 'First Owner');
    const upper = first.user.email.toUpperCase();
    const reply = await client(testApp.app).post('/api/v1/auth/register', {
      name: 'Second',
      email: upper,
      password: newPassword(),
    });
    expectError(reply, 409, 'EMAIL_TAKEN');
    const rows = await usersWithEmail(testApp, first.user.email);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: first.user.id, name: 'First Owner' });
    expect((await login(testApp, first.user.email, first.password)).statusCode).toBe(200);
  });

  it('refuses a merchant with a taken email without leaving a merchant behind', async () => {
    const first = await createAccount(testApp, 'user');
    const countMerchants = async () =>
      Number(
        (
          await testApp.database.handle.db
            .selectFrom('merchants')
            .select((eb) => eb.fn.countAll<string>().as('count'))
            .executeTakeFirstOrThrow()
        ).count,
      );
    const before = await countMerchants();
    const reply = await client(testApp.app).post('/api/v1/auth/register', {
      name: 'Copycat',
      email: first.user.email.replace(/^./, (c) => c.toUpperCase()),
      password: newPassword(),
      role: 'merchant',
    });
    expectError(reply, 409, 'EMAIL_TAKEN');
    expect(await countMerchants()).toBe(before);
  });

  const valid = () => ({ name: 'Valid Name', email: uniqueEmail('valid'), password: newPassword() });
  const invalidBodies: [string, Record<string, unknown>, string][] = [
    ['a missing name', { name: undefined }, 'name'],
    ['a missing email', { email: undefined }, 'email'],
    ['a missing password', { password: undefined }, 'password'],
    ['a malformed email', { email: 'not-an-email' }, 'email'],
    ['a short password', { password: 'short' }, 'password'],
    ['a blank name', { name: '   ' }, 'name'],
    ['an empty name', { name: '' }, 'name'],
    ['a name over 100 characters', { name: 'n'.repeat(101) }, 'name'],
    ['an unknown role', { role: 'superuser' }, 'role'],
    ['a malformed phone', { role: 'merchant', phone: '12-34' }, 'phone'],
    ['a blank business name', { role: 'merchant', businessName: '  ' }, 'businessName'],
    ['an unknown property', { isAdmin: true }, 'isAdmin'],
  ];
  it.each(invalidBodies)(
    'answers 400 VALIDATION_FAILED for %s, creating nothing',
    async (_label, change, field) => {
      const body: Record<string, unknown> = { ...valid(), ...change };
      for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
      const reply = await client(testApp.app).post('/api/v1/auth/register', body);
      expectError(reply, 400, 'VALIDATION_FAILED');
      expect(fieldsOf(reply)).toContain(field);
      expect(reply.json().error.message).toContain(field);
      if (typeof body.email === 'string') expect(await usersWithEmail(testApp, body.email)).toHaveLength(0);
    },
  );

  it('answers 400 for a body that is not JSON or not there', async () => {
    const malformed = await testApp.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    expectError(malformed as Reply, 400, 'MALFORMED_JSON');
    const empty = await testApp.app.inject({ method: 'POST', url: '/api/v1/auth/register' });
    expect(empty.statusCode, empty.body).toBe(400);
    expect(JSON.parse(empty.body).success).toBe(false);
  });
});

describe('POST /auth/login', () => {
  it('signs in with any casing of the email and opens a new session', async () => {
    const account = await createAccount(testApp, 'user');
    const reply = await login(testApp, account.user.email.toUpperCase(), account.password);
    const data = expectSession(reply, 200);
    expect(data.user).toMatchObject({ id: account.user.id, email: account.user.email, role: 'user' });
    expect(data.user.lastLoginAt).toMatch(ISO_PATTERN);
    expect(data.refreshToken).not.toBe(account.refreshToken);
    const me = await bearer(testApp, data.accessToken).get('/api/v1/auth/me');
    expect(me.json().data.user.lastLoginAt).toBe(data.user.lastLoginAt);

    const tokens = await refreshTokenRows(testApp, account.user.id);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens.map((token) => token.familyId)).size).toBe(2);
    expect(await auditRows(testApp, 'auth.login', account.user.id)).toHaveLength(1);
  });

  it("returns a merchant's merchantId", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const data = expectSession(await login(testApp, merchant.user.email, merchant.password), 200);
    expect(data.user.merchantId).toBe(merchant.user.merchantId);
    expect(jwtPayload(data.accessToken).mid).toBe(merchant.user.merchantId);
  });

  it('answers the same 401 for a wrong password and an unknown email', async () => {
    const account = await createAccount(testApp, 'user');
    const wrong = await login(testApp, account.user.email, `${account.password}-wrong`);
    expectError(wrong, 401, 'INVALID_CREDENTIALS');
    const unknown = await login(testApp, uniqueEmail('nobody'), account.password);
    expectError(unknown, 401, 'INVALID_CREDENTIALS');
    expect(unknown.json().error.message).toBe(wrong.json().error.message);
    const failures = await auditRows(testApp, 'auth.login_failed', account.user.id);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.details).toMatchObject({ reason: 'wrong_password' });
  });

  it('answers 403 ACCOUNT_DISABLED for a disabled account with the right password only', async () => {
    const account = await createAccount(testApp, 'user');
    await testApp.database.handle.db
      .updateTable('users')
      .set({ isActive: false })
      .where('id', '=', account.user.id)
      .execute();
    expectError(await login(testApp, account.user.email, account.password), 403, 'ACCOUNT_DISABLED');
    // A wrong password does not disclose that the account exists but is disabled.
    expectError(await login(testApp, account.user.email, 'not-the-password'), 401, 'INVALID_CREDENTIALS');
    expect(await refreshTokenRows(testApp, account.user.id)).toHaveLength(1);
  });

  it.each([
    ['a missing password', { password: undefined }, 'password'],
    ['a malformed email', { email: 'nope' }, 'email'],
    ['an unknown property', { remember: true }, 'remember'],
  ] as [string, Record<string, unknown>, string][])('answers 400 for %s', async (_label, change, field) => {
    const body: Record<string, unknown> = { email: uniqueEmail(), password: 'whatever', ...change };
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    const reply = await client(testApp.app).post('/api/v1/auth/login', body);
    expectError(reply, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(reply)).toContain(field);
  });
});

describe('login throttling', () => {
  const clock = createManualClock(new Date('2030-01-01T00:00:00Z'));
  let throttled: TestApp;
  beforeAll(async () => {
    throttled = await createTestApp({
      clock,
      loginThrottle: {
        accountFailuresMax: 3,
        lockoutMs: MINUTE_MS,
        windowMs: MINUTE_MS,
        addressFailuresMax: 1000,
      },
    });
  });
  afterAll(async () => {
    await throttled?.close();
  });

  it('locks an account after repeated failures, even against the right password, until the lockout passes', async () => {
    const account = await createAccount(throttled, 'user');
    for (let attempt = 1; attempt <= 3; attempt++) {
      expectError(await login(throttled, account.user.email, `wrong-${attempt}`), 401, 'INVALID_CREDENTIALS');
    }
    const locked = await login(throttled, account.user.email, account.password);
    expectError(locked, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    expect(locked.headers['retry-after']).toBe('60');
    expect(locked.json().error.details).toEqual({ retryAfterSec: 60 });
    expectError(
      await login(throttled, account.user.email.toUpperCase(), account.password),
      429,
      'TOO_MANY_LOGIN_ATTEMPTS',
    );
    expectError(await login(throttled, account.user.email, 'wrong-again'), 429, 'TOO_MANY_LOGIN_ATTEMPTS');

    clock.advance(30_000);
    const stillLocked = await login(throttled, account.user.email, account.password);
    expectError(stillLocked, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    expect(stillLocked.headers['retry-after']).toBe('30');

    clock.advance(30_001);
    const data = expectSession(await login(throttled, account.user.email, account.password), 200);
    expect(data.user.id).toBe(account.user.id);

    // A success clears the count: one more failure does not lock again.
    expectError(await login(throttled, account.user.email, 'wrong-once'), 401, 'INVALID_CREDENTIALS');
    expect((await login(throttled, account.user.email, account.password)).statusCode).toBe(200);
  });

  it('gives a burst of parallel guesses no more verdicts than the limit', async () => {
    const account = await createAccount(throttled, 'user');
    const replies = await Promise.all(
      Array.from({ length: 16 }, (_, i) => login(throttled, account.user.email, `wrong-${i}`)),
    );
    const statuses = replies.map((reply) => reply.statusCode);
    expect(
      statuses.filter((status) => status === 401),
      statuses.join(','),
    ).toHaveLength(3);
    expect(
      statuses.filter((status) => status === 429),
      statuses.join(','),
    ).toHaveLength(13);
    for (const reply of replies) {
      if (reply.statusCode === 429) expectError(reply, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
      else expectError(reply, 401, 'INVALID_CREDENTIALS');
    }
    expectError(await login(throttled, account.user.email, account.password), 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    clock.advance(MINUTE_MS + 1);
    expect((await login(throttled, account.user.email, account.password)).statusCode).toBe(200);
  });

  it('locks one account without locking another signing in from the same address', async () => {
    const victim = await createAccount(throttled, 'user');
    const bystander = await createAccount(throttled, 'user');
    for (let attempt = 1; attempt <= 3; attempt++) await login(throttled, victim.user.email, 'wrong');
    expectError(await login(throttled, victim.user.email, victim.password), 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    expect((await login(throttled, bystander.user.email, bystander.password)).statusCode).toBe(200);
    clock.advance(MINUTE_MS + 1);
  });

  it('counts failures between successes only', async () => {
    const account = await createAccount(throttled, 'user');
    for (let round = 0; round < 2; round++) {
      expectError(await login(throttled, account.user.email, 'wrong-1'), 401, 'INVALID_CREDENTIALS');
      expectError(await login(throttled, account.user.email, 'wrong-2'), 401, 'INVALID_CREDENTIALS');
      expect((await login(throttled, account.user.email, account.password)).statusCode).toBe(200);
    }
  });

  it('forgets failures older than the window', async () => {
    const account = await createAccount(throttled, 'user');
    await login(throttled, account.user.email, 'wrong-1');
    await login(throttled, account.user.email, 'wrong-2');
    clock.advance(MINUTE_MS + 1);
    expectError(await login(throttled, account.user.email, 'wrong-3'), 401, 'INVALID_CREDENTIALS');
    expect((await login(throttled, account.user.email, account.password)).statusCode).toBe(200);
  });

  it('locks an unknown email the same way, so lockout does not reveal which emails exist', async () => {
    const email = uniqueEmail('ghost');
    for (let attempt = 1; attempt <= 3; attempt++) {
      expectError(await login(throttled, email, 'guess'), 401, 'INVALID_CREDENTIALS');
    }
    expectError(await login(throttled, email, 'guess'), 429, 'TOO_MANY_LOGIN_ATTEMPTS');
    clock.advance(MINUTE_MS + 1);
  });

  it('locks an address after too many failures across accounts, not other addresses', async () => {
    const addressApp = await createTestApp({
      clock,
      loginThrottle: { accountFailuresMax: 100, addressFailuresMax: 4, lockoutMs: MINUTE_MS },
    });
    try {
      const account = await createAccount(addressApp, 'user');
      const from = (remoteAddress: string, email: string, password: string) =>
        addressApp.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress,
          payload: { email, password },
        }) as Promise<Reply>;
      for (let attempt = 1; attempt <= 4; attempt++) {
        expectError(await from('203.0.113.7', uniqueEmail('spray'), 'guess'), 401, 'INVALID_CREDENTIALS');
      }
      const blocked = await from('203.0.113.7', account.user.email, account.password);
      expectError(blocked, 429, 'TOO_MANY_LOGIN_ATTEMPTS');
      expect(blocked.headers['retry-after']).toBe('60');
      expect((await from('198.51.100.9', account.user.email, account.password)).statusCode).toBe(200);
    } finally {
      await addressApp.close();
    }
  });

  it('slows replies as failures add up', async () => {
    const slowApp = await createTestApp({ loginThrottle: { delayStepMs: 200 } });
    try {
      const account = await createAccount(slowApp, 'user');
      const durations: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const started = performance.now();
        expectError(await login(slowApp, account.user.email, `wrong-${attempt}`), 401, 'INVALID_CREDENTIALS');
        durations.push(performance.now() - started);
      }
      // Failures 1-2 are not delayed; the 4th waits (4 - 2) x 200 ms.
      expect(durations[3]! - durations[0]!).toBeGreaterThanOrEqual(150);
      expect(durations[2]! - durations[0]!).toBeGreaterThanOrEqual(100);
    } finally {
      await slowApp.close();
    }
  });
});

describe('POST /auth/refresh', () => {
  it('rotates the pair: a new access token and a different refresh token', async () => {
    const account = await createAccount(testApp, 'vendor');
    const first = expectSession(await refresh(testApp, account.refreshToken), 200);
    expect(first.refreshToken).not.toBe(account.refreshToken);
    expect(first.user).toMatchObject({ id: account.user.id, role: 'vendor' });
    expect(jwtPayload(first.accessToken).sub).toBe(account.user.id);
    expect((await bearer(testApp, first.accessToken).get('/api/v1/auth/me')).statusCode).toBe(200);

    const second = expectSession(await refresh(testApp, first.refreshToken), 200);
    expect(second.refreshToken).not.toBe(first.refreshToken);

    const tokens = await refreshTokenRows(testApp, account.user.id);
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens.map((token) => token.familyId)).size).toBe(1);
    expect(tokens.map((token) => token.usedAt === null)).toEqual([false, false, true]);
  });

  it("keeps a merchant's merchantId across rotation", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const data = expectSession(await refresh(testApp, merchant.refreshToken), 200);
    expect(data.user.merchantId).toBe(merchant.user.merchantId);
    expect(jwtPayload(data.accessToken).mid).toBe(merchant.user.merchantId);
  });

  it('treats a rotated token presented again as stolen: the whole family dies, other sessions live', async () => {
    const account = await createAccount(testApp, 'user');
    const other = expectSession(await login(testApp, account.user.email, account.password), 200);

    const rotated = expectSession(await refresh(testApp, account.refreshToken), 200);
    expectError(await refresh(testApp, account.refreshToken), 401, 'REFRESH_TOKEN_REUSED');
    expectError(await refresh(testApp, rotated.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');
    // Presenting the stolen token again is still refused.
    expectError(await refresh(testApp, account.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');

    const otherRotated = expectSession(await refresh(testApp, other.refreshToken), 200);
    expect(otherRotated.user.id).toBe(account.user.id);

    const familyId = (await refreshTokenRows(testApp, account.user.id))[0]!.familyId;
    const rows = await refreshTokenRows(testApp, account.user.id);
    const family = rows.filter((row) => row.familyId === familyId);
    expect(family).toHaveLength(2);
    for (const row of family) expect(row).toMatchObject({ revokedReason: 'reuse_detected' });
    for (const row of rows.filter((r) => r.familyId !== familyId)) expect(row.revokedAt).toBeNull();
    const audit = await auditRows(testApp, 'auth.token_family_revoked', account.user.id);
    expect(audit.map((row) => row.details)).toEqual([{ familyId, reason: 'reuse_detected' }]);
  });

  it('lets only one of two simultaneous refreshes with the same token win', async () => {
    const account = await createAccount(testApp, 'user');
    const replies = await Promise.all([
      refresh(testApp, account.refreshToken),
      refresh(testApp, account.refreshToken),
    ]);
    const statuses = replies.map((reply) => reply.statusCode).sort();
    expect(statuses).toEqual([200, 401]);
    const winner = replies.find((reply) => reply.statusCode === 200)!;
    const loser = replies.find((reply) => reply.statusCode === 401)!;
    expectError(loser, 401, 'REFRESH_TOKEN_REUSED');
    // The reuse revoked the family, the winner's new token included.
    expectError(await refresh(testApp, winner.json().data.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');
  });

  it('answers 401 INVALID_REFRESH_TOKEN for a token it never issued', async () => {
    expectError(
      await refresh(testApp, `rt_${randomBytes(32).toString('base64url')}`),
      401,
      'INVALID_REFRESH_TOKEN',
    );
    expectError(await refresh(testApp, 'garbage'), 401, 'INVALID_REFRESH_TOKEN');
    const account = await createAccount(testApp, 'user');
    // An access token is not a refresh token.
    expectError(await refresh(testApp, account.accessToken.slice(0, 200)), 401, 'INVALID_REFRESH_TOKEN');
  });

  it('answers 400 for a missing or empty token', async () => {
    const empty = await client(testApp.app).post('/api/v1/auth/refresh', { refreshToken: '' });
    expectError(empty, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(empty)).toContain('refreshToken');
    const missing = await client(testApp.app).post('/api/v1/auth/refresh', {});
    expectError(missing, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(missing)).toContain('refreshToken');
  });
});

describe('POST /auth/logout', () => {
  it("revokes the token's whole family once, and leaves other sessions alone", async () => {
    const account = await createAccount(testApp, 'user');
    const other = expectSession(await login(testApp, account.user.email, account.password), 200);
    const rotated = expectSession(await refresh(testApp, account.refreshToken), 200);

    const first = await logout(testApp, rotated.refreshToken);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ success: true, data: { revoked: true }, message: 'Signed out' });
    expectError(await refresh(testApp, rotated.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');
    expectError(await refresh(testApp, account.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');

    const again = await logout(testApp, rotated.refreshToken);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().data).toEqual({ revoked: false });

    expect((await refresh(testApp, other.refreshToken)).statusCode).toBe(200);
    const revoked = (await refreshTokenRows(testApp, account.user.id)).filter(
      (row) => row.revokedAt !== null,
    );
    expect(revoked).toHaveLength(2);
    for (const row of revoked) expect(row.revokedReason).toBe('logout');
  });

  it('revokes the family when given an older token of it', async () => {
    const account = await createAccount(testApp, 'user');
    const rotated = expectSession(await refresh(testApp, account.refreshToken), 200);
    expect((await logout(testApp, account.refreshToken)).json().data).toEqual({ revoked: true });
    expectError(await refresh(testApp, rotated.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');
  });

  it('answers revoked false for a token it never issued', async () => {
    const reply = await logout(testApp, `rt_${randomBytes(32).toString('base64url')}`);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data).toEqual({ revoked: false });
  });
});

describe('GET /auth/me', () => {
  it('answers the signed-in user for a valid access token', async () => {
    const account = await createAccount(testApp, 'vendor', 'Vera Vendor');
    const reply = await account.client.get('/api/v1/auth/me');
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toMatchObject({
      success: true,
      data: {
        user: {
          id: account.user.id,
          name: 'Vera Vendor',
          email: account.user.email,
          role: 'vendor',
          merchantId: null,
          isActive: true,
        },
      },
    });
    expect(reply.json().data.user).not.toHaveProperty('passwordHash');
  });

  it('answers 401 without credentials or with bad ones', async () => {
    const me = (headers: Record<string, string>) => client(testApp.app, headers).get('/api/v1/auth/me');
    expectError(await me({}), 401, 'UNAUTHORIZED');
    expectError(await me({ authorization: 'Bearer not-a-jwt' }), 401, 'INVALID_TOKEN');
    expectError(await me({ authorization: 'Bearer a.b.c' }), 401, 'INVALID_TOKEN');
    expectError(await me({ authorization: 'Bearer' }), 401, 'INVALID_TOKEN');
    expectError(await me({ authorization: 'Bearer ' }), 401, 'INVALID_TOKEN');

    const basic = await me({ authorization: 'Basic x' });
    expect(basic.statusCode, basic.body).toBe(401);
    expect(basic.json().success).toBe(false);

    const account = await createAccount(testApp, 'merchant');
    expectError(await me({ 'x-client-key': account.credentials!.clientKey }), 401, 'INVALID_API_CREDENTIALS');
  });

  it('refuses tokens that were tampered with or signed with another key', async () => {
    const account = await createAccount(testApp, 'user');
    const [header, , signature] = account.accessToken.split('.');
    const claims = { ...jwtPayload(account.accessToken), role: 'admin' };
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const asAdmin = bearer(testApp, tampered);
    expectError(await asAdmin.get('/api/v1/auth/me'), 401, 'INVALID_TOKEN');
    expectError(await asAdmin.get('/api/v1/admin/users'), 401, 'INVALID_TOKEN');

    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    expectError(await bearer(testApp, unsigned).get('/api/v1/auth/me'), 401, 'INVALID_TOKEN');

    const now = Math.floor(Date.now() / 1000);
    const foreign = await new SignJWT({ role: 'admin', mid: null })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(account.user.id)
      .setIssuer('tijori')
      .setAudience('tijori-api')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(randomBytes(32));
    expectError(await bearer(testApp, foreign).get('/api/v1/admin/users'), 401, 'INVALID_TOKEN');
  });

  it('answers 401 TOKEN_EXPIRED once the access token is older than 15 minutes', async () => {
    const clock = createManualClock(new Date('2031-06-01T10:00:00Z'));
    const timed = await createTestApp({ clock });
    try {
      const account = await createAccount(timed, 'user');
      clock.advance(14 * MINUTE_MS);
      expect((await account.client.get('/api/v1/auth/me')).statusCode).toBe(200);
      clock.advance(2 * MINUTE_MS);
      expectError(await account.client.get('/api/v1/auth/me'), 401, 'TOKEN_EXPIRED');

      // The refresh token still works and gives an access token valid from now.
      const renewed = expectSession(await refresh(timed, account.refreshToken), 200);
      expect((await bearer(timed, renewed.accessToken).get('/api/v1/auth/me')).statusCode).toBe(200);

      // Refresh tokens last 30 days.
      clock.advance(30 * 86_400_000 + 1);
      expectError(await refresh(timed, renewed.refreshToken), 401, 'REFRESH_TOKEN_EXPIRED');
    } finally {
      await timed.close();
    }
  });
});

describe('admin user management', () => {
  it('lists users for admins only', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const user = await createAccount(testApp, 'user');
    const vendor = await createAccount(testApp, 'vendor');

    const reply = await admin.client.get('/api/v1/admin/users');
    expect(reply.statusCode, reply.body).toBe(200);
    const { users, pagination } = reply.json().data;
    expect(Array.isArray(users)).toBe(true);
    expect(users.length).toBeGreaterThan(0);
    expect(users.length).toBeLessThanOrEqual(10);
    expect(pagination).toMatchObject({ current: 1, count: users.length });
    expect(pagination.totalRecords).toBeGreaterThanOrEqual(4);
    expect(pagination.total).toBe(Math.ceil(pagination.totalRecords / 10));
    for (const listed of users) {
      expect(listed).not.toHaveProperty('passwordHash');
      expect(listed.id).toMatch(UUID_PATTERN);
    }

    expectError(await merchant.client.get('/api/v1/admin/users'), 403, 'FORBIDDEN');
    expectError(await merchant.apiClient!.get('/api/v1/admin/users'), 403, 'FORBIDDEN');
    expectError(await user.client.get('/api/v1/admin/users'), 403, 'FORBIDDEN');
    expectError(await vendor.client.get('/api/v1/admin/users'), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).get('/api/v1/admin/users'), 401, 'UNAUTHORIZED');
  });

  it('pages, searches and filters', async () => {
    const tag = `pg${randomBytes(4).toString('hex')}`;
    const created: Account[] = [];
    for (let i = 1; i <= 3; i++) created.push(await createAccount(testApp, 'user', `Paging ${tag} ${i}`));
    const list = async (query: string) => {
      const reply = await admin.client.get(`/api/v1/admin/users?${query}`);
      expect(reply.statusCode, reply.body).toBe(200);
      return reply.json().data as { users: { id: string; role: string }[]; pagination: unknown };
    };

    const page1 = await list(`search=${tag}&limit=2`);
    expect(page1.pagination).toEqual({ current: 1, total: 2, count: 2, totalRecords: 3 });
    const page2 = await list(`search=${tag}&limit=2&page=2`);
    expect(page2.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 3 });
    const seen = [...page1.users, ...page2.users].map((listed) => listed.id).sort();
    expect(seen).toEqual(created.map((account) => account.user.id).sort());
    // Newest first.
    expect(page1.users[0]!.id).toBe(created[2]!.user.id);

    const viaTake = await list(`search=${tag}&take=2`);
    expect(viaTake.pagination).toEqual({ current: 1, total: 2, count: 2, totalRecords: 3 });
    const beyond = await list(`search=${tag}&limit=2&page=3`);
    expect(beyond.users).toEqual([]);
    expect(beyond.pagination).toEqual({ current: 3, total: 2, count: 0, totalRecords: 3 });

    const byEmail = await list(`search=${encodeURIComponent(created[0]!.user.email.toUpperCase())}`);
    expect(byEmail.users.map((listed) => listed.id)).toEqual([created[0]!.user.id]);

    // LIKE wildcards in the search are literal characters.
    const wildcard = await list(`search=${encodeURIComponent('%')}`);
    expect(wildcard.pagination).toMatchObject({ totalRecords: 0, count: 0 });

    const merchant = await createAccount(testApp, 'merchant');
    const merchants = await list('role=merchant&limit=100');
    expect(merchants.users.length).toBeGreaterThan(0);
    for (const listed of merchants.users) expect(listed.role).toBe('merchant');
    expect(merchants.users.map((listed) => listed.id)).toContain(merchant.user.id);
    const none = await list(`role=merchant&search=${tag}`);
    expect(none.pagination).toMatchObject({ totalRecords: 0 });
  });

  it.each([
    ['limit=101', 'limit'],
    ['limit=0', 'limit'],
    ['page=0', 'page'],
    ['role=boss', 'role'],
    ['unknown=1', 'unknown'],
  ])('answers 400 for the query %s', async (query, field) => {
    const reply = await admin.client.get(`/api/v1/admin/users?${query}`);
    expectError(reply, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(reply)).toContain(field);
  });

  it("changes a user's role", async () => {
    const vendor = await createAccount(testApp, 'vendor');
    const reply = await admin.client.patch(`/api/v1/admin/users/${vendor.user.id}`, { role: 'user' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toMatchObject({
      success: true,
      data: { user: { id: vendor.user.id, role: 'user', merchantId: null } },
      message: 'User updated',
    });
    const row = await testApp.database.handle.db
      .selectFrom('users')
      .select('role')
      .where('id', '=', vendor.user.id)
      .executeTakeFirstOrThrow();
    expect(row.role).toBe('user');
    const renewed = expectSession(await refresh(testApp, vendor.refreshToken), 200);
    expect(renewed.user.role).toBe('user');
    expect(jwtPayload(renewed.accessToken).role).toBe('user');
    const audit = await auditRows(testApp, 'user.role_changed', vendor.user.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorId: admin.user.id, details: { from: 'vendor', to: 'user' } });
  });

  it('disabling a user revokes its sessions and refuses its login; enabling restores login', async () => {
    const account = await createAccount(testApp, 'user');
    const second = expectSession(await login(testApp, account.user.email, account.password), 200);

    const reply = await admin.client.patch(`/api/v1/admin/users/${account.user.id}`, { isActive: false });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.user).toMatchObject({ id: account.user.id, isActive: false });

    expectError(await refresh(testApp, account.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');
    expectError(await refresh(testApp, second.refreshToken), 401, 'REFRESH_TOKEN_REVOKED');
    expectError(await login(testApp, account.user.email, account.password), 403, 'ACCOUNT_DISABLED');
    const rows = await refreshTokenRows(testApp, account.user.id);
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.revokedReason).toBe('account_disabled');
    const audit = await auditRows(testApp, 'user.status_changed', account.user.id);
    expect(audit.map((row) => row.details)).toEqual([{ isActive: { from: true, to: false } }]);

    const enabled = await admin.client.patch(`/api/v1/admin/users/${account.user.id}`, { isActive: true });
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect((await login(testApp, account.user.email, account.password)).statusCode).toBe(200);
  });

  it("disabling a merchant's user stops its API credentials", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    expect((await merchant.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
    const reply = await admin.client.patch(`/api/v1/admin/users/${merchant.user.id}`, { isActive: false });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.user).toMatchObject({ merchantId: merchant.user.merchantId, isActive: false });
    expectError(await merchant.apiClient!.get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
  });

  it('marks a user verified', async () => {
    const account = await createAccount(testApp, 'user');
    const reply = await admin.client.patch(`/api/v1/admin/users/${account.user.id}`, { isVerified: true });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.user).toMatchObject({ isVerified: true, isActive: true });
    expect((await refresh(testApp, account.refreshToken)).statusCode).toBe(200);
  });

  it('refuses to let an admin disable itself or change its own role', async () => {
    const url = `/api/v1/admin/users/${admin.user.id}`;
    expectError(await admin.client.patch(url, { isActive: false }), 422, 'SELF_CHANGE_REFUSED');
    expectError(await admin.client.patch(url, { role: 'user' }), 422, 'SELF_CHANGE_REFUSED');
    const row = await testApp.database.handle.db
      .selectFrom('users')
      .select(['role', 'isActive'])
      .where('id', '=', admin.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ role: 'admin', isActive: true });
    expect((await admin.client.get('/api/v1/admin/users')).statusCode).toBe(200);
  });

  it("refuses to change a merchant's role, or to make someone a merchant", async () => {
    const merchant = await createAccount(testApp, 'merchant');
    expectError(
      await admin.client.patch(`/api/v1/admin/users/${merchant.user.id}`, { role: 'user' }),
      422,
      'ROLE_CHANGE_REFUSED',
    );
    const user = await createAccount(testApp, 'user');
    expectError(
      await admin.client.patch(`/api/v1/admin/users/${user.user.id}`, { role: 'merchant' }),
      422,
      'ROLE_CHANGE_REFUSED',
    );
    const roles = await testApp.database.handle.db
      .selectFrom('users')
      .select(['id', 'role'])
      .where('id', 'in', [merchant.user.id, user.user.id])
      .execute();
    expect(Object.fromEntries(roles.map((row) => [row.id, row.role]))).toEqual({
      [merchant.user.id]: 'merchant',
      [user.user.id]: 'user',
    });
  });

  it('answers 404 for an unknown user and 400 for bad input', async () => {
    expectError(
      await admin.client.patch(`/api/v1/admin/users/${randomUUID()}`, { role: 'user' }),
      404,
      'NOT_FOUND',
    );
    const account = await createAccount(testApp, 'user');
    const url = `/api/v1/admin/users/${account.user.id}`;
    const notUuid = await admin.client.patch('/api/v1/admin/users/not-a-uuid', { role: 'user' });
    expectError(notUuid, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(notUuid)).toContain('id');
    expectError(await admin.client.patch(url, {}), 400, 'VALIDATION_FAILED');
    const unknown = await admin.client.patch(url, { name: 'Renamed' });
    expectError(unknown, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(unknown)).toContain('name');
    const badRole = await admin.client.patch(url, { role: 'root' });
    expectError(badRole, 400, 'VALIDATION_FAILED');
    expect(fieldsOf(badRole)).toContain('role');
  });

  it('refuses user changes from anyone but an admin', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const target = await createAccount(testApp, 'vendor');
    const url = `/api/v1/admin/users/${target.user.id}`;
    expectError(await merchant.client.patch(url, { isActive: false }), 403, 'FORBIDDEN');
    expectError(await target.client.patch(url, { role: 'user' }), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).patch(url, { isActive: false }), 401, 'UNAUTHORIZED');
    const row = await testApp.database.handle.db
      .selectFrom('users')
      .select(['role', 'isActive'])
      .where('id', '=', target.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ role: 'vendor', isActive: true });
  });
});

describe('unversioned alias', () => {
  it('serves /api/auth/* like /api/v1/auth/*', async () => {
    const account = await createAccount(testApp, 'vendor');
    const versioned = await account.client.get('/api/v1/auth/me');
    const alias = await account.client.get('/api/auth/me');
    expect(alias.statusCode, alias.body).toBe(200);
    expect(alias.json()).toEqual(versioned.json());
    expectError(await client(testApp.app).get('/api/auth/me'), 401, 'UNAUTHORIZED');

    const viaAlias = await client(testApp.app).post('/api/auth/login', {
      email: account.user.email,
      password: account.password,
    });
    expect(expectSession(viaAlias, 200).user.id).toBe(account.user.id);
    expect((await admin.client.get('/api/admin/users?limit=1')).json().data.pagination.count).toBe(1);
  });
});
