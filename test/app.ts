import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildApp, createServices, type Services } from '../src/app.ts';
import { parseConfig, type ResolvedConfig } from '../src/config.ts';
import type { Role } from '../src/db/types.ts';
import type { Clock } from '../src/lib/clock.ts';
import { DEFAULT_LOGIN_THROTTLE, type LoginThrottlePolicy } from '../src/modules/auth/index.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: ResolvedConfig;
  readonly database: TestDatabase;
  readonly services: Services;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Environment variables on top of the test defaults (e.g. RATE_LIMIT_MAX_REQUESTS). */
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  readonly loginThrottle?: Partial<LoginThrottlePolicy>;
  /** Reuse a database (e.g. two apps on one database); a fresh one is made otherwise. */
  readonly database?: TestDatabase;
  /** Run the background payment simulator, as `npm start` does (off by default in tests). */
  readonly startSimulator?: boolean;
  /** What simulated payments are drawn from (e.g. seededRandom(42)). */
  readonly random?: () => number;
}

/** Throttle delays off by default so tests stay fast; lockout limits as in production. */
const TEST_LOGIN_THROTTLE: LoginThrottlePolicy = { ...DEFAULT_LOGIN_THROTTLE, delayStepMs: 0 };

/** The real application on a database of the test file's own, called with `app.inject`. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const config = {
    ...parseConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      RATE_LIMIT_MAX_REQUESTS: '100000',
      ...options.env,
    }),
    jwtSecret: randomBytes(32).toString('hex'),
    encryptionKey: randomBytes(32).toString('hex'),
  } as ResolvedConfig;
  const deps = {
    config,
    database: database.handle,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.random === undefined ? {} : { random: options.random }),
    loginThrottle: { ...TEST_LOGIN_THROTTLE, ...options.loginThrottle },
  };
  const services = createServices(deps);
  const app = await buildApp(deps, services);
  await app.ready();
  // As `npm start` does: outside production, payments work out of the box on a sandbox gateway.
  await services.gateways.ensureSandbox();
  if (options.startSimulator === true) services.simulationRunner.start();
  return {
    app,
    config,
    database,
    services,
    async close() {
      await app.close();
      if (options.database === undefined) await database.destroy();
    },
  };
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A caller with fixed credentials. `json` is the parsed reply body. */
export interface Client {
  request(method: Method, url: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  get(url: string, headers?: Record<string, string>): Promise<Reply>;
  post(url: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  patch(url: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  put(url: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  delete(url: string, headers?: Record<string, string>): Promise<Reply>;
}

export type Reply = LightMyRequestResponse & { json: <T = any>() => T };

export function client(app: FastifyInstance, authHeaders: Record<string, string> = {}): Client {
  const request = async (
    method: Method,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const options: InjectOptions = { method, url, headers: { ...authHeaders, ...headers } };
    if (body !== undefined) options.payload = body as InjectOptions['payload'];
    return (await app.inject(options)) as Reply;
  };
  return {
    request,
    get: (url, headers) => request('GET', url, undefined, headers),
    post: (url, body, headers) => request('POST', url, body, headers),
    patch: (url, body, headers) => request('PATCH', url, body, headers),
    put: (url, body, headers) => request('PUT', url, body, headers),
    delete: (url, headers) => request('DELETE', url, undefined, headers),
  };
}

export interface Account {
  readonly user: { id: string; email: string; role: Role; merchantId: string | null };
  readonly password: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Merchant API credentials (merchants only). */
  readonly credentials?: { clientKey: string; clientSecret: string };
  /** Calls with the access token. */
  readonly client: Client;
  /** Calls with X-Client-Key/X-Client-Secret (merchants only). */
  readonly apiClient?: Client;
}

let accountCounter = 0;

export function uniqueEmail(prefix = 'user'): string {
  accountCounter += 1;
  return `${prefix}-${accountCounter}-${randomBytes(4).toString('hex')}@example.test`;
}

/** Registers a user, merchant or vendor through the API; an admin is created and signed in. */
export async function createAccount(
  testApp: TestApp,
  role: Role = 'user',
  name = `Test ${role}`,
): Promise<Account> {
  const email = uniqueEmail(role);
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const anonymous = client(testApp.app);
  let reply: Reply;
  if (role === 'admin') {
    await testApp.services.auth.ensureAdmin(email, password);
    reply = await anonymous.post('/api/v1/auth/login', { email, password });
    expect(reply.statusCode, reply.body).toBe(200);
  } else {
    reply = await anonymous.post('/api/v1/auth/register', { name, email, password, role });
    expect(reply.statusCode, reply.body).toBe(201);
  }
  const data = reply.json().data;
  const account: Account = {
    user: data.user,
    password,
    accessToken: data.accessToken,
    refreshToken: data.refreshToken,
    credentials: data.credentials,
    client: client(testApp.app, { authorization: `Bearer ${data.accessToken}` }),
    ...(data.credentials === undefined
      ? {}
      : {
          apiClient: client(testApp.app, {
            'x-client-key': data.credentials.clientKey,
            'x-client-secret': data.credentials.clientSecret,
          }),
        }),
  };
  return account;
}

export interface TenantProbe {
  readonly method: Method;
  readonly url: string;
  readonly body?: unknown;
}

/**
 * Proves a tenant boundary for a set of routes: each probe, made by `stranger` against a
 * resource `owner` holds, answers 404 (not 403: another tenant's resource is not disclosed),
 * while the owner's own call does not. Later modules call this for each of their routes.
 */
export async function expectTenantIsolation(
  owner: Client,
  stranger: Client,
  probes: readonly TenantProbe[],
): Promise<void> {
  for (const probe of probes) {
    const foreign = await stranger.request(probe.method, probe.url, probe.body);
    expect(foreign.statusCode, `${probe.method} ${probe.url} by another tenant: ${foreign.body}`).toBe(404);
    expect(foreign.json().success).toBe(false);
    const own = await owner.request(probe.method, probe.url, probe.body);
    expect(own.statusCode, `${probe.method} ${probe.url} by its owner: ${own.body}`).not.toBe(404);
    expect(own.statusCode).toBeLessThan(500);
  }
}

/** The error envelope of DESIGN.md section 3, with the given status and code. */
export function expectError(reply: Reply, statusCode: number, code: string): void {
  expect(reply.statusCode, reply.body).toBe(statusCode);
  const body = reply.json();
  expect(body).toMatchObject({ success: false, error: { code } });
  expect(typeof body.error.message).toBe('string');
  expect(body.requestId).toBe(reply.headers['x-request-id']);
}
