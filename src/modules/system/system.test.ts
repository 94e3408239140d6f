import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  client,
  createAccount,
  createTestApp,
  expectError,
  type TestApp,
} from '../../../test/app.ts';
import { buildApp, VERSION } from '../../app.ts';
import { parseConfig, type ResolvedConfig } from '../../config.ts';
import { createDatabase, type DatabaseHandle } from '../../db/database.ts';
import { migrations } from '../../db/migrations/index.ts';

let testApp: TestApp;
let admin: Account;
let merchant: Account;

beforeAll(async () => {
  testApp = await createTestApp();
  admin = await createAccount(testApp, 'admin');
  merchant = await createAccount(testApp, 'merchant');
});
afterAll(async () => {
  await testApp?.close();
});

function testConfig(): ResolvedConfig {
  return {
    ...parseConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', RATE_LIMIT_MAX_REQUESTS: '100000' }),
    jwtSecret: randomBytes(32).toString('hex'),
    encryptionKey: randomBytes(32).toString('hex'),
  } as ResolvedConfig;
}

/** The real application on a database handle pointing at `connectionString`, which is not ours. */
async function appOn(connectionString: string): Promise<{ app: FastifyInstance; database: DatabaseHandle }> {
  const database = createDatabase({ connectionString, poolMax: 2, statementTimeoutMs: 1_000 });
  const app = await buildApp({ config: testConfig(), database });
  await app.ready();
  return { app, database };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  return port;
}

function expectProcessFigures(body: any): void {
  for (const key of ['rss', 'heapTotal', 'heapUsed', 'external']) {
    expect(Number.isInteger(body.memoryUsage[key]), key).toBe(true);
  }
  expect(body.memoryUsage.rss).toBeGreaterThan(0);
  expect(Number.isInteger(body.cpuUsage.user)).toBe(true);
  expect(Number.isInteger(body.cpuUsage.system)).toBe(true);
}

describe('GET /health', () => {
  it('reports healthy with a reachable database, not enveloped', async () => {
    const reply = await client(testApp.app).get('/health');
    expect(reply.statusCode).toBe(200);
    const body = reply.json();
    expect(body).not.toHaveProperty('success');
    expect(body).not.toHaveProperty('data');
    expect(body).toMatchObject({
      status: 'healthy',
      version: VERSION,
      environment: 'test',
      database: 'connected',
    });
    expect(body).not.toHaveProperty('reason');
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
    expect(Math.abs(Date.parse(body.timestamp) - Date.now())).toBeLessThan(60_000);
    expect(typeof body.uptime).toBe('number');
    expect(body.uptime).toBeGreaterThan(0);
    expectProcessFigures(body);
    expect(reply.headers['x-request-id']).toBeTruthy();
  });

  it('needs no credentials and ignores bad ones', async () => {
    const reply = await client(testApp.app).get('/health', { authorization: 'Bearer nonsense' });
    expect(reply.statusCode).toBe(200);
  });

  it('answers 503 unhealthy when nothing listens where the database should be', async () => {
    const port = await freePort();
    const { app, database } = await appOn(`postgres://tijori:secret@127.0.0.1:${port}/tijori`);
    try {
      const reply = await app.inject({ method: 'GET', url: '/health' });
      expect(reply.statusCode).toBe(503);
      const body = reply.json();
      expect(body).toMatchObject({
        status: 'unhealthy',
        database: 'disconnected',
        version: VERSION,
        environment: 'test',
      });
      expect(body.reason).toMatch(/^database: /);
      expect(body.reason).toMatch(/ECONNREFUSED/);
      expectProcessFigures(body);
    } finally {
      await app.close();
      await database.close();
    }
  });

  it('answers 503 within a few seconds when the database accepts but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const { app, database } = await appOn(`postgres://tijori:secret@127.0.0.1:${port}/tijori`);
    try {
      const startedAt = Date.now();
      const reply = await app.inject({ method: 'GET', url: '/health' });
      expect(Date.now() - startedAt).toBeLessThan(5_000);
      expect(reply.statusCode).toBe(503);
      expect(reply.json()).toMatchObject({ status: 'unhealthy', database: 'disconnected' });
      expect(reply.json().reason).toMatch(/no answer within/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
      await app.close();
      await database.close();
    }
  });
});

describe('GET /api/v1/system/status', () => {
  it('gives an admin database, pool, migrations and process figures', async () => {
    const reply = await admin.client.get('/api/v1/system/status');
    expect(reply.statusCode, reply.body).toBe(200);
    const body = reply.json();
    expect(body.success).toBe(true);
    const data = body.data;
    expect(data.version).toBe(VERSION);
    expect(data.environment).toBe('test');
    expect(data.database.status).toBe('connected');
    expect(typeof data.database.latencyMs).toBe('number');
    expect(data.database.latencyMs).toBeGreaterThanOrEqual(0);
    expect(data.database.serverVersion).toMatch(/^\d+/);
    expect(data.database).not.toHaveProperty('reason');
    expect(data.pool.max).toBe(testApp.config.dbPoolMax);
    expect(data.pool.total).toBeGreaterThanOrEqual(1);
    expect(data.pool.total).toBeLessThanOrEqual(data.pool.max);
    expect(data.pool.idle).toBeGreaterThanOrEqual(0);
    expect(data.pool.waiting).toBeGreaterThanOrEqual(0);
    expect(data.migrations.applied).toContain('0001_identity');
    expect(data.migrations.applied).toEqual(Object.keys(migrations));
    expect(data.migrations.pending).toEqual([]);
    expect(data.process.pid).toBe(process.pid);
    expect(data.process.nodeVersion).toBe(process.version);
    expect(Number.isInteger(data.process.uptimeSec)).toBe(true);
    expectProcessFigures(data.process);
  });

  it('is refused to a merchant (403) and to an anonymous caller (401)', async () => {
    expectError(await merchant.client.get('/api/v1/system/status'), 403, 'FORBIDDEN');
    expectError(await merchant.apiClient!.get('/api/v1/system/status'), 403, 'FORBIDDEN');
    expectError(await client(testApp.app).get('/api/v1/system/status'), 401, 'UNAUTHORIZED');
  });

  it('is also served at the unversioned alias', async () => {
    const reply = await admin.client.get('/api/system/status');
    expect(reply.statusCode).toBe(200);
    expect(reply.json().data.migrations.pending).toEqual([]);
  });
});

describe('GET /metrics', () => {
  it('serves Prometheus text with request, latency, pool and process metrics', async () => {
    expect((await merchant.client.get('/api/v1/auth/me')).statusCode).toBe(200);
    expect((await merchant.client.get('/api/auth/me')).statusCode).toBe(200);
    expect((await client(testApp.app).get('/api/v1/auth/me')).statusCode).toBe(401);

    const reply = await client(testApp.app).get('/metrics');
    expect(reply.statusCode).toBe(200);
    expect(String(reply.headers['content-type'])).toMatch(/^text\/plain/);
    const text = reply.body;
    // The alias counts under the versioned route pattern.
    const ok = text.match(
      /^http_requests_total\{method="GET",route="\/api\/v1\/auth\/me",status_code="200"\} (\d+)$/m,
    );
    expect(ok, text.slice(0, 2000)).not.toBeNull();
    expect(Number(ok![1])).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(
      /^http_requests_total\{method="GET",route="\/api\/v1\/auth\/me",status_code="401"\} \d+$/m,
    );
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/api\/v1\/auth\/me",status_code="200"\} \d+$/m,
    );
    expect(text).toMatch(/^# TYPE http_request_duration_seconds histogram$/m);
    const poolMax = text.match(/^tijori_db_pool_connections\{state="max"\} (\d+)$/m);
    expect(poolMax).not.toBeNull();
    expect(Number(poolMax![1])).toBe(testApp.config.dbPoolMax);
    for (const state of ['total', 'idle', 'waiting']) {
      expect(text).toMatch(new RegExp(`^tijori_db_pool_connections\\{state="${state}"\\} \\d+$`, 'm'));
    }
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  });

  it('labels unmatched URLs by pattern, not by raw path', async () => {
    const marker = `probe-${randomBytes(6).toString('hex')}`;
    expectError(await client(testApp.app).get(`/api/v1/${marker}/123`), 404, 'ROUTE_NOT_FOUND');
    const text = (await client(testApp.app).get('/metrics')).body;
    expect(text).not.toContain(marker);
    expect(text).toMatch(/^http_requests_total\{method="GET",route="unmatched",status_code="404"\} \d+$/m);
  });

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    const token = `metrics-${randomBytes(12).toString('hex')}`;
    const guarded = await createTestApp({ env: { METRICS_TOKEN: token }, database: testApp.database });
    try {
      const api = client(guarded.app);
      expectError(await api.get('/metrics'), 401, 'INVALID_TOKEN');
      expectError(
        await api.get('/metrics', { authorization: 'Bearer wrong-token-0123456789' }),
        401,
        'INVALID_TOKEN',
      );
      expectError(await api.get('/metrics', { authorization: `Bearer ${token}x` }), 401, 'INVALID_TOKEN');
      expectError(await api.get('/metrics', { authorization: token }), 401, 'INVALID_TOKEN');
      const allowed = await api.get('/metrics', { authorization: `Bearer ${token}` });
      expect(allowed.statusCode).toBe(200);
      expect(allowed.body).toContain('http_requests_total');
      expect(allowed.body).toContain('tijori_db_pool_connections');
      // /health stays open for load balancers.
      expect((await api.get('/health')).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
