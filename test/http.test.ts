import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, client, createAccount, createTestApp, expectError, type TestApp } from './app.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ONE_MIB = 1_048_576;

let testApp: TestApp;
let merchant: Account;
let user: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  merchant = await createAccount(testApp, 'merchant');
  user = await createAccount(testApp, 'user');
});
afterAll(async () => {
  await testApp?.close();
});

/** Another app on this file's database, with some environment on top of the test defaults. */
async function withApp<T>(env: Record<string, string>, work: (app: TestApp) => Promise<T>): Promise<T> {
  const other = await createTestApp({ env, database: testApp.database });
  try {
    return await work(other);
  } finally {
    await other.close();
  }
}

describe('error envelope', () => {
  it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
    const reply = await client(testApp.app).post('/api/v1/auth/login', '{"email":', {
      'content-type': 'application/json',
    });
    expectError(reply, 400, 'MALFORMED_JSON');
    expect(reply.json().requestId).toMatch(UUID);
  });

  it('answers an empty JSON body with 400 MALFORMED_JSON', async () => {
    const reply = await client(testApp.app).post('/api/v1/auth/login', '', {
      'content-type': 'application/json',
    });
    expectError(reply, 400, 'MALFORMED_JSON');
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND', async () => {
    const reply = await client(testApp.app).get('/api/v1/no-such-route?x=1');
    expectError(reply, 404, 'ROUTE_NOT_FOUND');
    expect(reply.json().error.message).toContain('/api/v1/no-such-route');
    expectError(await client(testApp.app).get('/nothing-here'), 404, 'ROUTE_NOT_FOUND');
  });

  it('answers a body over BODY_LIMIT_BYTES with 413 PAYLOAD_TOO_LARGE', async () => {
    await withApp({ BODY_LIMIT_BYTES: '2048' }, async (small) => {
      const api = client(small.app);
      const over = await api.post('/api/v1/auth/login', {
        email: 'a@example.test',
        password: 'x'.repeat(3000),
      });
      expectError(over, 413, 'PAYLOAD_TOO_LARGE');
      // Just under the limit is read and judged on its content instead.
      const under = await api.post('/api/v1/auth/login', {
        email: 'a@example.test',
        password: 'x'.repeat(1900),
      });
      expectError(under, 400, 'VALIDATION_FAILED');
    });
  });

  it('has a default body limit of 1 MiB', async () => {
    const api = client(testApp.app);
    const over = await api.post('/api/v1/auth/login', {
      email: 'a@example.test',
      password: 'x'.repeat(Math.ceil(1.1 * ONE_MIB)),
    });
    expectError(over, 413, 'PAYLOAD_TOO_LARGE');
    const under = await api.post('/api/v1/auth/login', {
      email: 'a@example.test',
      password: 'x'.repeat(ONE_MIB - 200),
    });
    expect(
      JSON.stringify({ email: 'a@example.test', password: 'x'.repeat(ONE_MIB - 200) }).length,
    ).toBeLessThan(ONE_MIB);
    expectError(under, 400, 'VALIDATION_FAILED');
  });

  it('answers a schema violation with 400 VALIDATION_FAILED naming the field', async () => {
    const api = client(testApp.app);
    const missing = await api.post('/api/v1/auth/login', { email: 'a@example.test' });
    expectError(missing, 400, 'VALIDATION_FAILED');
    const details = missing.json().error.details;
    expect(Array.isArray(details)).toBe(true);
    expect(details).toContainEqual(expect.objectContaining({ field: 'password' }));
    expect(missing.json().error.message).toContain('password');

    const badFormat = await api.post('/api/v1/auth/login', { email: 'not-an-email', password: 'secret-123' });
    expectError(badFormat, 400, 'VALIDATION_FAILED');
    expect(badFormat.json().error.details).toContainEqual(expect.objectContaining({ field: 'email' }));

    const extra = await api.post('/api/v1/auth/login', {
      email: 'a@example.test',
      password: 'secret-123',
      isAdmin: true,
    });
    expectError(extra, 400, 'VALIDATION_FAILED');
    expect(extra.json().error.details).toContainEqual(expect.objectContaining({ field: 'isAdmin' }));
  });

  it('does not coerce JSON body values to the schema type, while query strings are coerced', async () => {
    const api = client(testApp.app);
    const numeric = await api.post('/api/v1/auth/login', { email: 'a@example.test', password: 42 });
    expectError(numeric, 400, 'VALIDATION_FAILED');
    expect(numeric.json().error.details).toContainEqual(expect.objectContaining({ field: 'password' }));

    const admin = await createAccount(testApp, 'admin');
    const page = await admin.client.get('/api/v1/admin/users?page=1&limit=5');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json().data.pagination).toMatchObject({ current: 1 });
  });

  it('answers a body of the wrong media type with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const reply = await client(testApp.app).post('/api/v1/auth/login', 'email=a@example.test&password=x', {
      'content-type': 'text/plain',
    });
    expectError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const xml = await client(testApp.app).post('/api/v1/auth/login', '<login/>', {
      'content-type': 'application/xml',
    });
    expectError(xml, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a missing or bad credential with 401', async () => {
    expectError(await client(testApp.app).get('/api/v1/auth/me'), 401, 'UNAUTHORIZED');
    const head = await testApp.app.inject({ method: 'HEAD', url: '/api/v1/auth/me' });
    expect(head.statusCode).toBe(401);
    expectError(
      await client(testApp.app).get('/api/v1/auth/me', { authorization: 'Bearer not-a-token' }),
      401,
      'INVALID_TOKEN',
    );
    expectError(
      await client(testApp.app).get('/api/v1/auth/me', { authorization: 'Basic dXNlcjpwYXNz' }),
      401,
      'INVALID_TOKEN',
    );
  });

  it('answers a caller of the wrong role with 403 FORBIDDEN', async () => {
    expectError(await merchant.client.get('/api/v1/admin/users'), 403, 'FORBIDDEN');
    expectError(await user.client.get('/api/v1/system/status'), 403, 'FORBIDDEN');
    // The same caller is let through where its role is allowed.
    expect((await merchant.client.get('/api/v1/auth/me')).statusCode).toBe(200);
  });

  it('never includes a stack trace', async () => {
    const reply = await client(testApp.app).post('/api/v1/auth/login', '{"email":', {
      'content-type': 'application/json',
    });
    expect(reply.body).not.toMatch(/\bat .+\(.+:\d+:\d+\)/);
    expect(reply.json()).not.toHaveProperty('stack');
    expect(reply.json().error).not.toHaveProperty('stack');
  });
});

describe('X-Request-Id', () => {
  it('is generated when absent, on successes, errors and /health, and differs per request', async () => {
    const api = client(testApp.app);
    const replies = [
      await api.get('/health'),
      await api.get('/api/v1/auth/me'),
      await api.get('/api/v1/no-such-route'),
      await merchant.client.get('/api/v1/auth/me'),
    ];
    const ids = replies.map((reply) => reply.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    expect(replies[1]!.json().requestId).toBe(ids[1]);
    expect(replies[2]!.json().requestId).toBe(ids[2]);
  });

  it('echoes a sane incoming id', async () => {
    const api = client(testApp.app);
    const ok = await api.get('/health', { 'x-request-id': 'abc-123' });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const failed = await api.get('/api/v1/auth/me', { 'x-request-id': 'trace.42:retry_1' });
    expect(failed.headers['x-request-id']).toBe('trace.42:retry_1');
    expect(failed.json().requestId).toBe('trace.42:retry_1');
  });

  it('replaces an insane incoming id', async () => {
    const api = client(testApp.app);
    for (const insane of ['has some spaces', 'a'.repeat(300), '<script>', 'x'.repeat(129)]) {
      const reply = await api.get('/api/v1/auth/me', { 'x-request-id': insane });
      expect(reply.headers['x-request-id']).toMatch(UUID);
      expect(reply.json().requestId).toBe(reply.headers['x-request-id']);
    }
    // 128 characters is the longest accepted.
    const longest = 'y'.repeat(128);
    expect((await api.get('/health', { 'x-request-id': longest })).headers['x-request-id']).toBe(longest);
  });
});

describe('rate limiting', () => {
  it('answers the request over the limit with 429 RATE_LIMITED and Retry-After; /health is exempt', async () => {
    await withApp({ RATE_LIMIT_MAX_REQUESTS: '3', RATE_LIMIT_WINDOW_MS: '60000' }, async (limited) => {
      const api = client(limited.app);
      // /health neither counts towards nor is stopped by the limit.
      for (let i = 0; i < 5; i++) expect((await api.get('/health')).statusCode).toBe(200);
      for (let i = 0; i < 3; i++) {
        const allowed = await api.get('/api/v1/auth/me');
        expectError(allowed, 401, 'UNAUTHORIZED');
      }
      const over = await api.get('/api/v1/auth/me');
      expectError(over, 429, 'RATE_LIMITED');
      const retryAfter = over.headers['retry-after'];
      expect(String(retryAfter)).toMatch(/^[1-9]\d*$/);
      expect(Number(retryAfter)).toBeLessThanOrEqual(60);
      // Other /api routes share the caller's budget.
      expectError(
        await api.post('/api/v1/auth/login', { email: 'a@example.test', password: 'x' }),
        429,
        'RATE_LIMITED',
      );
      for (let i = 0; i < 3; i++) {
        const health = await api.get('/health');
        expect(health.statusCode).toBe(200);
        expect(health.json().status).toBe('healthy');
      }
    });
  });
});

describe('security headers, CORS and compression', () => {
  it('sets helmet headers', async () => {
    for (const url of ['/health', '/api/v1/auth/me']) {
      const reply = await client(testApp.app).get(url);
      expect(reply.headers['x-content-type-options']).toBe('nosniff');
      expect(String(reply.headers['content-security-policy'])).toContain("default-src 'self'");
      expect(reply.headers['x-frame-options']).toBeDefined();
      expect(reply.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('allows only the configured origins', async () => {
    await withApp({ CORS_ORIGINS: 'https://shop.example' }, async (corsApp) => {
      const preflight = (origin: string) =>
        corsApp.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/auth/login',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type',
          },
        });
      const allowed = await preflight('https://shop.example');
      expect(allowed.statusCode).toBeLessThan(300);
      expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(String(allowed.headers['access-control-allow-methods'])).toContain('POST');

      const refused = await preflight('https://evil.example');
      expect(refused.headers['access-control-allow-origin']).toBeUndefined();

      const api = client(corsApp.app);
      const get = await api.get('/health', { origin: 'https://shop.example' });
      expect(get.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(String(get.headers['access-control-expose-headers'])).toContain('x-request-id');
      const foreign = await api.get('/health', { origin: 'https://evil.example' });
      expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    });
    // The test environment's default allows no cross origin at all.
    const none = await client(testApp.app).get('/health', { origin: 'https://shop.example' });
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('gzips a large JSON reply when asked to', async () => {
    const plain = await client(testApp.app).get('/api/openapi.json');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const zipped = await testApp.app.inject({
      method: 'GET',
      url: '/api/openapi.json',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(zipped.statusCode).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const unzipped = gunzipSync(zipped.rawPayload).toString('utf8');
    expect(JSON.parse(unzipped)).toEqual(plain.json());
    expect(zipped.rawPayload.length).toBeLessThan(Buffer.byteLength(unzipped));
  });
});

describe('OpenAPI and versioning', () => {
  it('serves an OpenAPI 3 document of the API', async () => {
    const reply = await client(testApp.app).get('/api/openapi.json');
    expect(reply.statusCode).toBe(200);
    const document = reply.json();
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info.title).toBeTruthy();
    const paths = Object.keys(document.paths);
    for (const path of [
      '/api/v1/auth/login',
      '/api/v1/auth/register',
      '/api/v1/auth/me',
      '/api/v1/system/status',
    ]) {
      expect(paths).toContain(path);
    }
    expect(paths).toContain('/health');
    // The document describes only itself from outside: it is not listed.
    expect(paths).not.toContain('/api/openapi.json');
  });

  it('gives every /api/v1 operation a success reply schema and the error envelope', async () => {
    const document = (await client(testApp.app).get('/api/openapi.json')).json();
    const operations = Object.entries(document.paths as Record<string, Record<string, any>>)
      .filter(([path]) => path.startsWith('/api/v1/'))
      .flatMap(([path, item]) =>
        Object.entries(item)
          .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
          .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, operation })),
      );
    expect(operations.length).toBeGreaterThanOrEqual(5);
    for (const { name, operation } of operations) {
      const responses = operation.responses ?? {};
      const success = Object.entries(responses).filter(([status]) => /^2\d\d$/.test(status));
      expect(success.length, `${name} documents a 2xx reply`).toBeGreaterThan(0);
      for (const [status, response] of success) {
        // JSON for enveloped replies; a file (CSV, PNG, SVG) documents its own media type.
        const content = (response as any).content ?? {};
        const schema = content['application/json']?.schema ?? (Object.values(content)[0] as any)?.schema;
        expect(schema, `${name} ${status} has a JSON schema`).toBeDefined();
        expect(Object.keys(schema).length, `${name} ${status} schema is not empty`).toBeGreaterThan(0);
      }
      expect(responses['4XX'] ?? responses['4xx'], `${name} documents its errors`).toBeDefined();
    }
  });

  it('serves the API explorer at /docs', async () => {
    let reply = await client(testApp.app).get('/docs');
    for (let hops = 0; hops < 3 && reply.statusCode >= 300 && reply.statusCode < 400; hops++) {
      const location = String(reply.headers.location);
      reply = await client(testApp.app).get(new URL(location, 'http://localhost/docs').pathname);
    }
    expect(reply.statusCode).toBe(200);
    expect(String(reply.headers['content-type'])).toContain('text/html');
    expect(reply.body.toLowerCase()).toContain('<html');
    expect(reply.body).toMatch(/swagger/i);
  });

  it('treats /api/... as an alias of /api/v1/...', async () => {
    const versioned = await merchant.client.get('/api/v1/auth/me');
    const alias = await merchant.client.get('/api/auth/me');
    expect(versioned.statusCode).toBe(200);
    expect(alias.statusCode).toBe(200);
    expect(alias.json()).toEqual(versioned.json());
    expect(alias.json().data.user.id).toBe(merchant.user.id);
    expectError(await client(testApp.app).get('/api/auth/me'), 401, 'UNAUTHORIZED');
    expectError(await merchant.client.get('/api/admin/users'), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).get('/api/no-such-route'), 404, 'ROUTE_NOT_FOUND');
  });
});
