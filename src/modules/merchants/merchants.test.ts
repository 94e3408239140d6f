import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  createAccount,
  createTestApp,
  expectError,
  expectTenantIsolation,
  type TestApp,
} from '../../../test/app.ts';
import { createManualClock } from '../../lib/clock.ts';
import { sha256Hex } from '../../lib/crypto.ts';

const DAY_MS = 86_400_000;

let testApp: TestApp;
let admin: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
});
afterAll(async () => {
  await testApp?.close();
});

function apiClientFor(credentials: { clientKey: string; clientSecret: string }): Client {
  return client(testApp.app, {
    'x-client-key': credentials.clientKey,
    'x-client-secret': credentials.clientSecret,
  });
}

async function merchantRow(merchantId: string) {
  return testApp.database.handle.db
    .selectFrom('merchants')
    .selectAll()
    .where('id', '=', merchantId)
    .executeTakeFirstOrThrow();
}

describe('API-key authentication', () => {
  let merchant: Account;
  beforeAll(async () => {
    merchant = await createAccount(testApp, 'merchant');
  });

  it('lets the API credentials call /auth/me and the own merchant profile', async () => {
    const me = await merchant.apiClient!.get('/api/v1/auth/me');
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().data.user).toMatchObject({
      id: merchant.user.id,
      role: 'merchant',
      merchantId: merchant.user.merchantId,
    });

    const profile = await merchant.apiClient!.get(`/api/v1/merchant/${merchant.user.merchantId}`);
    expect(profile.statusCode, profile.body).toBe(200);
    expect(profile.json()).toMatchObject({
      success: true,
      data: {
        merchant: {
          id: merchant.user.merchantId,
          userId: merchant.user.id,
          clientKey: merchant.credentials!.clientKey,
          status: 'active',
        },
      },
    });
    // The secret (or its hash) is never echoed back.
    expect(profile.json().data.merchant).not.toHaveProperty('clientSecretHash');
    expect(profile.json().data.merchant).not.toHaveProperty('clientSecret');
    expect(profile.body).not.toContain(merchant.credentials!.clientSecret);
  });

  it('refuses a wrong secret, an unknown key and half a pair with 401 INVALID_API_CREDENTIALS', async () => {
    const { clientKey, clientSecret } = merchant.credentials!;
    const anonymous = client(testApp.app);
    const attempts: Record<string, string>[] = [
      { 'x-client-key': clientKey, 'x-client-secret': `${clientSecret}x` },
      { 'x-client-key': clientKey, 'x-client-secret': 'cs_wrong' },
      { 'x-client-key': `ck_${randomBytes(18).toString('base64url')}`, 'x-client-secret': clientSecret },
      { 'x-client-key': clientKey },
      { 'x-client-secret': clientSecret },
      { 'x-client-key': clientKey, 'x-client-secret': '' },
    ];
    for (const headers of attempts) {
      expectError(await anonymous.get('/api/v1/auth/me', headers), 401, 'INVALID_API_CREDENTIALS');
      expectError(
        await anonymous.get(`/api/v1/merchant/${merchant.user.merchantId}`, headers),
        401,
        'INVALID_API_CREDENTIALS',
      );
    }
    // The right pair still works after all those failures.
    expect((await merchant.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
  });

  it('refuses the API credentials of a merchant whose user account is disabled, until it is enabled', async () => {
    const disabled = await createAccount(testApp, 'merchant');
    const path = `/api/v1/admin/users/${disabled.user.id}`;
    expect((await admin.client.patch(path, { isActive: false })).statusCode).toBe(200);
    expectError(await disabled.apiClient!.get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
    expect((await admin.client.patch(path, { isActive: true })).statusCode).toBe(200);
    expect((await disabled.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
  });

  it('answers 401 UNAUTHORIZED without any credentials', async () => {
    expectError(await client(testApp.app).get('/api/v1/auth/me'), 401, 'UNAUTHORIZED');
  });
});

describe('POST /merchant/credentials/regenerate', () => {
  it('issues a new pair, stores only a hash of the secret, and retires the old pair at once', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const old = merchant.credentials!;

    const reply = await merchant.client.post('/api/v1/merchant/credentials/regenerate');
    expect(reply.statusCode, reply.body).toBe(200);
    const body = reply.json();
    expect(body.success).toBe(true);
    expect(Object.keys(body.data).sort()).toEqual(['clientKey', 'clientSecret']);
    const fresh = body.data as { clientKey: string; clientSecret: string };
    expect(fresh.clientKey).toMatch(/^ck_/);
    expect(fresh.clientSecret).toMatch(/^cs_/);
    expect(fresh.clientKey).not.toBe(old.clientKey);
    expect(fresh.clientSecret).not.toBe(old.clientSecret);

    // The old pair, and any mix of old and new, is refused.
    expectError(await apiClientFor(old).get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
    expectError(
      await apiClientFor({ clientKey: old.clientKey, clientSecret: fresh.clientSecret }).get(
        '/api/v1/auth/me',
      ),
      401,
      'INVALID_API_CREDENTIALS',
    );
    expectError(
      await apiClientFor({ clientKey: fresh.clientKey, clientSecret: old.clientSecret }).get(
        '/api/v1/auth/me',
      ),
      401,
      'INVALID_API_CREDENTIALS',
    );
    // The new pair works.
    const me = await apiClientFor(fresh).get('/api/v1/auth/me');
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().data.user.id).toBe(merchant.user.id);

    // Only a hash of the secret is stored.
    const row = await merchantRow(merchant.user.merchantId!);
    expect(row.clientKey).toBe(fresh.clientKey);
    expect(row.clientSecretHash).not.toBeNull();
    expect(row.clientSecretHash).not.toBe(fresh.clientSecret);
    expect(row.clientSecretHash).not.toContain(fresh.clientSecret);
    expect(row.clientSecretHash).toBe(sha256Hex(fresh.clientSecret));
    expect(row.credentialsIssuedAt).toBeInstanceOf(Date);

    // The profile shows the new key, never the secret.
    const profile = await merchant.client.get(`/api/v1/merchant/${merchant.user.merchantId}`);
    expect(profile.json().data.merchant.clientKey).toBe(fresh.clientKey);
    expect(profile.body).not.toContain(fresh.clientSecret);
  });

  it('works when called with the API credentials themselves, which then stop working', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const reply = await merchant.apiClient!.post('/api/v1/merchant/credentials/regenerate');
    expect(reply.statusCode, reply.body).toBe(200);
    const fresh = reply.json().data;
    expectError(await merchant.apiClient!.get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
    expect((await apiClientFor(fresh).get('/api/v1/auth/me')).statusCode).toBe(200);
  });

  it('gives each merchant its own pair: regenerating one leaves another untouched', async () => {
    const first = await createAccount(testApp, 'merchant');
    const second = await createAccount(testApp, 'merchant');
    expect((await first.client.post('/api/v1/merchant/credentials/regenerate')).statusCode).toBe(200);
    const me = await second.apiClient!.get('/api/v1/auth/me');
    expect(me.statusCode).toBe(200);
    expect(me.json().data.user.id).toBe(second.user.id);
    expect((await merchantRow(second.user.merchantId!)).clientKey).toBe(second.credentials!.clientKey);
  });

  it('is for merchants only: user, vendor and admin get 403, anonymous 401', async () => {
    const user = await createAccount(testApp, 'user');
    const vendor = await createAccount(testApp, 'vendor');
    expectError(await user.client.post('/api/v1/merchant/credentials/regenerate'), 403, 'FORBIDDEN');
    expectError(await vendor.client.post('/api/v1/merchant/credentials/regenerate'), 403, 'FORBIDDEN');
    expectError(await admin.client.post('/api/v1/merchant/credentials/regenerate'), 403, 'FORBIDDEN');
    expectError(
      await client(testApp.app).post('/api/v1/merchant/credentials/regenerate'),
      401,
      'UNAUTHORIZED',
    );
  });
});

describe('GET /merchant/usage', () => {
  // A clock of its own (on a database of its own) so the test decides which UTC day it is.
  const start = new Date('2031-03-10T12:00:00.000Z');
  const clock = createManualClock(start);
  let clockApp: TestApp;

  beforeAll(async () => {
    clockApp = await createTestApp({ clock });
  });
  afterAll(async () => {
    await clockApp?.close();
  });

  async function signIn(account: Account): Promise<Client> {
    const reply = await client(clockApp.app).post('/api/v1/auth/login', {
      email: account.user.email,
      password: account.password,
    });
    expect(reply.statusCode, reply.body).toBe(200);
    return client(clockApp.app, { authorization: `Bearer ${reply.json().data.accessToken}` });
  }

  it('counts API-credential requests per UTC day; JWT and refused calls are not counted', async () => {
    clock.set(start);
    const merchant = await createAccount(clockApp, 'merchant');
    const other = await createAccount(clockApp, 'merchant');

    const empty = await merchant.client.get('/api/v1/merchant/usage');
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toEqual({ success: true, data: { usage: [], totalRequests: 0 } });

    const apiCallsDayOne = 4;
    for (let call = 0; call < apiCallsDayOne; call++) {
      expect((await merchant.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
    }
    // Not counted: JWT calls, and calls whose secret is wrong.
    for (let call = 0; call < 3; call++) {
      expect((await merchant.client.get('/api/v1/auth/me')).statusCode).toBe(200);
    }
    const wrongSecret = client(clockApp.app, {
      'x-client-key': merchant.credentials!.clientKey,
      'x-client-secret': 'cs_not-the-secret',
    });
    expectError(await wrongSecret.get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
    // Another merchant's calls are counted for that merchant only.
    expect((await other.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);

    const dayOne = await merchant.client.get('/api/v1/merchant/usage');
    expect(dayOne.statusCode, dayOne.body).toBe(200);
    expect(dayOne.json().data).toEqual({
      usage: [{ day: '2031-03-10', requests: apiCallsDayOne }],
      totalRequests: apiCallsDayOne,
    });

    const otherUsage = await other.client.get('/api/v1/merchant/usage');
    expect(otherUsage.json().data).toEqual({
      usage: [{ day: '2031-03-10', requests: 1 }],
      totalRequests: 1,
    });

    // Asking with the API credentials is itself a counted call.
    const viaKey = await merchant.apiClient!.get('/api/v1/merchant/usage');
    expect(viaKey.statusCode, viaKey.body).toBe(200);
    expect(viaKey.json().data.totalRequests).toBe(apiCallsDayOne + 1);

    // The next UTC day gets a row of its own; the range covers both days.
    clock.advance(DAY_MS);
    const apiCallsDayTwo = 2;
    for (let call = 0; call < apiCallsDayTwo; call++) {
      expect((await merchant.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
    }
    const jwt = await signIn(merchant); // the old access token expired with the day
    const twoDays = await jwt.get('/api/v1/merchant/usage');
    expect(twoDays.statusCode, twoDays.body).toBe(200);
    expect(twoDays.json().data).toEqual({
      usage: [
        { day: '2031-03-10', requests: apiCallsDayOne + 1 },
        { day: '2031-03-11', requests: apiCallsDayTwo },
      ],
      totalRequests: apiCallsDayOne + 1 + apiCallsDayTwo,
    });

    // `days` narrows the window to the most recent days.
    const todayOnly = await jwt.get('/api/v1/merchant/usage?days=1');
    expect(todayOnly.json().data).toEqual({
      usage: [{ day: '2031-03-11', requests: apiCallsDayTwo }],
      totalRequests: apiCallsDayTwo,
    });

    // A day just before midnight UTC and one just after are different days.
    clock.set(new Date('2031-03-11T23:59:59.000Z'));
    expect((await merchant.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
    clock.set(new Date('2031-03-12T00:00:01.000Z'));
    expect((await merchant.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);
    const jwtDayThree = await signIn(merchant);
    const threeDays = await jwtDayThree.get('/api/v1/merchant/usage?days=2');
    expect(threeDays.json().data).toEqual({
      usage: [
        { day: '2031-03-11', requests: apiCallsDayTwo + 1 },
        { day: '2031-03-12', requests: 1 },
      ],
      totalRequests: apiCallsDayTwo + 2,
    });

    // Forty days on, the default 30-day window no longer reaches those days.
    clock.set(new Date(start.getTime() + 40 * DAY_MS));
    const later = await signIn(merchant);
    expect((await later.get('/api/v1/merchant/usage')).json().data).toEqual({ usage: [], totalRequests: 0 });
    expect((await later.get('/api/v1/merchant/usage?days=366')).json().data.totalRequests).toBe(
      apiCallsDayOne + 1 + apiCallsDayTwo + 2,
    );
  });

  it('validates `days` and is for merchants only', async () => {
    clock.set(start);
    const merchant = await createAccount(clockApp, 'merchant');
    const user = await createAccount(clockApp, 'user');
    expectError(await merchant.client.get('/api/v1/merchant/usage?days=0'), 400, 'VALIDATION_FAILED');
    expectError(await merchant.client.get('/api/v1/merchant/usage?days=367'), 400, 'VALIDATION_FAILED');
    expectError(await merchant.client.get('/api/v1/merchant/usage?days=abc'), 400, 'VALIDATION_FAILED');
    expectError(await merchant.client.get('/api/v1/merchant/usage?since=1'), 400, 'VALIDATION_FAILED');
    expectError(await user.client.get('/api/v1/merchant/usage'), 403, 'FORBIDDEN');
    expectError(await client(clockApp.app).get('/api/v1/merchant/usage'), 401, 'UNAUTHORIZED');
  });
});

describe('GET/PATCH /merchant/:id', () => {
  let owner: Account;
  let stranger: Account;
  let ownerPath: string;

  beforeAll(async () => {
    owner = await createAccount(testApp, 'merchant', 'Owner Foods');
    stranger = await createAccount(testApp, 'merchant', 'Stranger Goods');
    ownerPath = `/api/v1/merchant/${owner.user.merchantId}`;
  });

  it('lets a merchant read its own profile', async () => {
    const reply = await owner.client.get(ownerPath);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.merchant).toMatchObject({
      id: owner.user.merchantId,
      userId: owner.user.id,
      businessName: 'Owner Foods',
      contactEmail: owner.user.email,
      contactPhone: null,
      settlementVpa: null,
      status: 'active',
      clientKey: owner.credentials!.clientKey,
    });
    // The unversioned alias serves the same route.
    expect((await owner.client.get(`/api/merchant/${owner.user.merchantId}`)).json().data.merchant.id).toBe(
      owner.user.merchantId,
    );
  });

  it('lets a merchant update its business name, phone and settlement VPA', async () => {
    const patch = {
      businessName: 'Owner Foods Pvt Ltd',
      contactPhone: '+919876543210',
      settlementVpa: 'owner.foods@okaxis',
    };
    const reply = await owner.client.patch(ownerPath, patch);
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toMatchObject({ success: true, data: { merchant: { ...patch, status: 'active' } } });

    const reread = await owner.client.get(ownerPath);
    expect(reread.json().data.merchant).toMatchObject(patch);
    const row = await merchantRow(owner.user.merchantId!);
    expect(row).toMatchObject(patch);

    // Through the API credentials as well; null clears an optional field.
    const viaKey = await owner.apiClient!.patch(ownerPath, { settlementVpa: null });
    expect(viaKey.statusCode, viaKey.body).toBe(200);
    expect(viaKey.json().data.merchant.settlementVpa).toBeNull();
    expect(viaKey.json().data.merchant.businessName).toBe(patch.businessName);
    const restored = await owner.client.patch(ownerPath, { settlementVpa: patch.settlementVpa });
    expect(restored.json().data.merchant.settlementVpa).toBe(patch.settlementVpa);
  });

  it('refuses invalid patches with 400 VALIDATION_FAILED and changes nothing', async () => {
    const before = await merchantRow(owner.user.merchantId!);
    const invalid: unknown[] = [
      { settlementVpa: 'not-a-vpa' },
      { settlementVpa: 'owner@' },
      { settlementVpa: '@okaxis' },
      { settlementVpa: 'owner foods@okaxis' },
      { businessName: 'Fine Name', settlementVpa: 'bad vpa' },
      { contactPhone: '12345' },
      { contactPhone: 'phone-number' },
      { businessName: '' },
      { businessName: 'x'.repeat(201) },
      { contactEmail: 'not-an-email' },
      { clientKey: 'ck_mine' },
      { userId: randomUUID() },
      {},
    ];
    for (const body of invalid) {
      expectError(await owner.client.patch(ownerPath, body), 400, 'VALIDATION_FAILED');
    }
    expectError(
      await owner.client.patch(ownerPath, '{"businessName":', { 'content-type': 'application/json' }),
      400,
      'MALFORMED_JSON',
    );
    expect(await merchantRow(owner.user.merchantId!)).toEqual(before);
  });

  it('refuses a merchant changing its own status with 403', async () => {
    for (const status of ['suspended', 'closed', 'active']) {
      expectError(await owner.client.patch(ownerPath, { status }), 403, 'FORBIDDEN');
      expectError(await owner.apiClient!.patch(ownerPath, { status }), 403, 'FORBIDDEN');
    }
    expect((await merchantRow(owner.user.merchantId!)).status).toBe('active');
  });

  it("hides one merchant's profile from another (404) and the stranger's PATCH changes nothing", async () => {
    const before = await merchantRow(owner.user.merchantId!);
    const hijack = { businessName: 'Hijacked', settlementVpa: 'thief@okaxis' };
    expectError(await stranger.client.patch(ownerPath, hijack), 404, 'NOT_FOUND');
    expectError(await stranger.apiClient!.patch(ownerPath, hijack), 404, 'NOT_FOUND');
    expectError(await stranger.client.get(ownerPath), 404, 'NOT_FOUND');
    expectError(await stranger.apiClient!.get(ownerPath), 404, 'NOT_FOUND');
    expect(await merchantRow(owner.user.merchantId!)).toEqual(before);

    // The owner's PATCH in this probe rewrites the current name, so it changes nothing either.
    await expectTenantIsolation(owner.client, stranger.client, [
      { method: 'GET', url: ownerPath },
      { method: 'PATCH', url: ownerPath, body: { businessName: before.businessName } },
    ]);
    await expectTenantIsolation(owner.apiClient!, stranger.apiClient!, [
      { method: 'GET', url: ownerPath },
      { method: 'PATCH', url: ownerPath, body: { businessName: before.businessName } },
    ]);
    const after = await merchantRow(owner.user.merchantId!);
    expect(after.businessName).toBe(before.businessName);
    expect(after.settlementVpa).toBe(before.settlementVpa);
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expectError(await owner.client.get(`/api/v1/merchant/${randomUUID()}`), 404, 'NOT_FOUND');
    expectError(await admin.client.get(`/api/v1/merchant/${randomUUID()}`), 404, 'NOT_FOUND');
    expectError(
      await admin.client.patch(`/api/v1/merchant/${randomUUID()}`, { status: 'suspended' }),
      404,
      'NOT_FOUND',
    );
    expectError(await owner.client.get('/api/v1/merchant/not-a-uuid'), 400, 'VALIDATION_FAILED');
  });

  it('is not for users or vendors (403), nor anonymous callers (401)', async () => {
    const user = await createAccount(testApp, 'user');
    const vendor = await createAccount(testApp, 'vendor');
    expectError(await user.client.get(ownerPath), 403, 'FORBIDDEN');
    expectError(await vendor.client.patch(ownerPath, { businessName: 'Vendor was here' }), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).get(ownerPath), 401, 'UNAUTHORIZED');
    expect((await merchantRow(owner.user.merchantId!)).businessName).not.toBe('Vendor was here');
  });

  it('lets an admin read any merchant and suspend it, which refuses its API credentials', async () => {
    const target = await createAccount(testApp, 'merchant', 'Soon Suspended');
    const targetPath = `/api/v1/merchant/${target.user.merchantId}`;
    expect((await target.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);

    const read = await admin.client.get(targetPath);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data.merchant).toMatchObject({
      id: target.user.merchantId,
      businessName: 'Soon Suspended',
    });

    const suspend = await admin.client.patch(targetPath, { status: 'suspended' });
    expect(suspend.statusCode, suspend.body).toBe(200);
    expect(suspend.json().data.merchant.status).toBe('suspended');
    expect((await merchantRow(target.user.merchantId!)).status).toBe('suspended');

    expectError(await target.apiClient!.get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
    expectError(await target.apiClient!.get(targetPath), 401, 'INVALID_API_CREDENTIALS');

    const audit = await admin.client.get(
      `/api/v1/admin/audit-logs?action=merchant.status_changed&targetId=${target.user.merchantId}`,
    );
    expect(audit.statusCode, audit.body).toBe(200);
    const rows = audit.json().data.auditLogs;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'merchant.status_changed',
      actorId: admin.user.id,
      actorRole: 'admin',
      targetType: 'merchant',
      targetId: target.user.merchantId,
      details: { from: 'active', to: 'suspended' },
      requestId: suspend.headers['x-request-id'],
    });

    // Setting the same status again is not a change and writes no second row.
    expect((await admin.client.patch(targetPath, { status: 'suspended' })).statusCode).toBe(200);
    const again = await admin.client.get(
      `/api/v1/admin/audit-logs?action=merchant.status_changed&targetId=${target.user.merchantId}`,
    );
    expect(again.json().data.auditLogs).toHaveLength(1);

    // Reactivated, the same credentials work again.
    const reactivate = await admin.client.patch(targetPath, { status: 'active' });
    expect(reactivate.statusCode, reactivate.body).toBe(200);
    expect((await target.apiClient!.get('/api/v1/auth/me')).statusCode).toBe(200);

    // Closed is refused like suspended.
    expect((await admin.client.patch(targetPath, { status: 'closed' })).statusCode).toBe(200);
    expectError(await target.apiClient!.get('/api/v1/auth/me'), 401, 'INVALID_API_CREDENTIALS');
    const history = await admin.client.get(
      `/api/v1/admin/audit-logs?action=merchant.status_changed&targetId=${target.user.merchantId}&sortOrder=asc`,
    );
    expect(history.json().data.auditLogs.map((row: { details: { to: string } }) => row.details.to)).toEqual([
      'suspended',
      'active',
      'closed',
    ]);
  });

  it("records an admin's change to another merchant's profile", async () => {
    const target = await createAccount(testApp, 'merchant', 'Renamed By Admin');
    const reply = await admin.client.patch(`/api/v1/merchant/${target.user.merchantId}`, {
      businessName: 'Renamed By Admin Ltd',
    });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json().data.merchant.businessName).toBe('Renamed By Admin Ltd');
    const audit = await admin.client.get(
      `/api/v1/admin/audit-logs?action=admin.merchant_updated&targetId=${target.user.merchantId}`,
    );
    expect(audit.json().data.auditLogs).toMatchObject([
      { actorId: admin.user.id, details: { fields: ['businessName'] } },
    ]);

    // A profile edit riding on a status change is recorded too, beside the status change.
    const both = await admin.client.patch(`/api/v1/merchant/${target.user.merchantId}`, {
      status: 'suspended',
      settlementVpa: 'diverted@okaxis',
    });
    expect(both.statusCode, both.body).toBe(200);
    const rows = await admin.client.get(`/api/v1/admin/audit-logs?targetId=${target.user.merchantId}`);
    const byRequest = rows
      .json()
      .data.auditLogs.filter((row: { requestId: string }) => row.requestId === both.headers['x-request-id']);
    expect(byRequest.map((row: { action: string }) => row.action).sort()).toEqual([
      'admin.merchant_updated',
      'merchant.status_changed',
    ]);
    expect(
      byRequest.find((row: { action: string }) => row.action === 'admin.merchant_updated').details,
    ).toEqual({ fields: ['settlementVpa'] });
  });
});

describe('GET /admin/merchants', () => {
  const tag = `Q${randomBytes(4).toString('hex')}`;
  let listed: Account[];

  beforeAll(async () => {
    listed = [];
    for (const name of [`Alpha ${tag} Traders`, `Beta ${tag} Stores`, `Gamma ${tag} Mart`]) {
      listed.push(await createAccount(testApp, 'merchant', name));
    }
    const suspend = await admin.client.patch(`/api/v1/merchant/${listed[1]!.user.merchantId}`, {
      status: 'suspended',
    });
    expect(suspend.statusCode, suspend.body).toBe(200);
  });

  function list(query: string) {
    return admin.client.get(`/api/v1/admin/merchants?${query}`);
  }

  it('is for admins only', async () => {
    expectError(await listed[0]!.client.get('/api/v1/admin/merchants'), 403, 'FORBIDDEN');
    expectError(await listed[0]!.apiClient!.get('/api/v1/admin/merchants'), 403, 'FORBIDDEN');
    const user = await createAccount(testApp, 'user');
    expectError(await user.client.get('/api/v1/admin/merchants'), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).get('/api/v1/admin/merchants'), 401, 'UNAUTHORIZED');
  });

  it('lists every merchant, newest first, with the pagination block', async () => {
    const reply = await admin.client.get('/api/v1/admin/merchants');
    expect(reply.statusCode, reply.body).toBe(200);
    const { merchants, pagination } = reply.json().data;
    const totalInTable = Number(
      (
        await testApp.database.handle.db
          .selectFrom('merchants')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .executeTakeFirstOrThrow()
      ).count,
    );
    expect(pagination).toEqual({
      current: 1,
      total: Math.ceil(totalInTable / 10),
      count: Math.min(10, totalInTable),
      totalRecords: totalInTable,
    });
    expect(merchants).toHaveLength(Math.min(10, totalInTable));
    const created = merchants.map((merchant: { createdAt: string }) => Date.parse(merchant.createdAt));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    for (const merchant of merchants) expect(merchant).not.toHaveProperty('clientSecretHash');
  });

  it('searches business name and email, case-insensitively', async () => {
    const reply = await list(`search=${tag.toLowerCase()}`);
    expect(reply.statusCode, reply.body).toBe(200);
    const { merchants, pagination } = reply.json().data;
    expect(pagination).toEqual({ current: 1, total: 1, count: 3, totalRecords: 3 });
    expect(merchants.map((merchant: { id: string }) => merchant.id).sort()).toEqual(
      listed.map((account) => account.user.merchantId).sort(),
    );

    const byEmail = await list(`search=${encodeURIComponent(listed[2]!.user.email)}`);
    expect(byEmail.json().data.merchants.map((merchant: { id: string }) => merchant.id)).toEqual([
      listed[2]!.user.merchantId,
    ]);

    expect((await list(`search=nothing-matches-${tag}`)).json().data).toEqual({
      merchants: [],
      pagination: { current: 1, total: 0, count: 0, totalRecords: 0 },
    });
  });

  it('treats % and _ in the search as plain characters', async () => {
    const special = await createAccount(testApp, 'merchant', `Half_${tag}%Off`);
    // Unescaped, `_` and `%` would be wildcards and match every merchant carrying the tag.
    const reply = await list(`search=${encodeURIComponent(`_${tag}%`)}`);
    expect(reply.json().data.merchants.map((merchant: { id: string }) => merchant.id)).toEqual([
      special.user.merchantId,
    ]);
    expect((await list(`search=${encodeURIComponent('%%%')}`)).json().data.pagination.totalRecords).toBe(0);
    // Leave the tag to the three merchants the other tests count.
    await admin.client.patch(`/api/v1/merchant/${special.user.merchantId}`, { businessName: 'Half Off' });
  });

  it('filters by status', async () => {
    const suspended = await list(`status=suspended&search=${tag}`);
    expect(suspended.json().data.merchants.map((merchant: { id: string }) => merchant.id)).toEqual([
      listed[1]!.user.merchantId,
    ]);
    expect(suspended.json().data.merchants[0].status).toBe('suspended');
    const active = await list(`status=active&search=${tag}`);
    expect(active.json().data.pagination.totalRecords).toBe(2);
    for (const merchant of active.json().data.merchants) expect(merchant.status).toBe('active');
    expect((await list(`status=closed&search=${tag}`)).json().data.pagination.totalRecords).toBe(0);
    const everySuspended = (await list('status=suspended&limit=100')).json().data.merchants;
    expect(everySuspended.length).toBeGreaterThan(0);
    for (const merchant of everySuspended) expect(merchant.status).toBe('suspended');
  });

  it('pages with page/limit and the take alias', async () => {
    const first = await list(`search=${tag}&limit=2&page=1`);
    const second = await list(`search=${tag}&limit=2&page=2`);
    const third = await list(`search=${tag}&limit=2&page=3`);
    expect(first.json().data.pagination).toEqual({ current: 1, total: 2, count: 2, totalRecords: 3 });
    expect(second.json().data.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 3 });
    expect(third.json().data).toEqual({
      merchants: [],
      pagination: { current: 3, total: 2, count: 0, totalRecords: 3 },
    });
    const ids = [...first.json().data.merchants, ...second.json().data.merchants].map(
      (merchant: { id: string }) => merchant.id,
    );
    // Newest first, and no merchant on two pages.
    expect(ids).toEqual(listed.map((account) => account.user.merchantId).reverse());

    const viaTake = await list(`search=${tag}&take=2&page=2`);
    expect(viaTake.json().data.pagination).toEqual({ current: 2, total: 2, count: 1, totalRecords: 3 });
    expect(viaTake.json().data.merchants[0].id).toBe(ids[2]);
    // limit wins over take.
    expect((await list(`search=${tag}&take=1&limit=3`)).json().data.pagination.count).toBe(3);
  });

  it('refuses bad list queries with 400 VALIDATION_FAILED', async () => {
    for (const query of [
      'limit=101',
      'take=101',
      'limit=0',
      'page=0',
      'page=-1',
      'status=dormant',
      'search=',
      `search=${'x'.repeat(101)}`,
      'unknown=1',
    ]) {
      expectError(await list(query), 400, 'VALIDATION_FAILED');
    }
  });
});
