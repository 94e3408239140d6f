import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uniqueEmail } from './app.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;

let database: TestDatabase;
let dataDir: string;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tijori-shutdown-test-'));
});
afterEach(() => {
  // A child a failed test left running must not outlive it.
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
afterAll(async () => {
  await database?.destroy();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

interface Server {
  readonly child: ChildProcessWithoutNullStreams;
  readonly port: number;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, any>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Resolves when a log line matching `predicate` has been written (or is already there). */
  waitForLog(predicate: (line: Record<string, any>) => boolean, what: string): Promise<void>;
}

async function startServer(): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.homedir(),
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: database.connectionString,
      DATA_DIR: dataDir,
      JWT_SECRET: randomBytes(32).toString('hex'),
      ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      SHUTDOWN_TIMEOUT_MS: '15000',
      RATE_LIMIT_MAX_REQUESTS: '100000',
    },
  });
  children.push(child);
  const logs: Record<string, any>[] = [];
  const waiters: { predicate: (line: Record<string, any>) => boolean; resolve: () => void }[] = [];
  let stdoutBuffer = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdoutBuffer += chunk;
    let newline = stdoutBuffer.indexOf('\n');
    while (newline !== -1) {
      const text = stdoutBuffer.slice(0, newline);
      stdoutBuffer = stdoutBuffer.slice(newline + 1);
      newline = stdoutBuffer.indexOf('\n');
      let line: Record<string, any>;
      try {
        line = JSON.parse(text);
      } catch {
        line = { msg: text };
      }
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });

  const waitForLog = (predicate: (line: Record<string, any>) => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (logs.some(predicate)) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`no log line "${what}"; stderr: ${stderr}; logs: ${JSON.stringify(logs)}`)),
        START_TIMEOUT_MS,
      );
      waiters.push({
        predicate,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before "${what}"; stderr: ${stderr}`));
      });
    });

  const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/;
  await waitForLog((line) => listening.test(String(line.msg)), 'Server listening');
  const port = Number(logs.map((line) => listening.exec(String(line.msg))).find(Boolean)![1]);
  return { child, port, logs, exited, stderr: () => stderr, waitForLog };
}

interface PendingRequest {
  /** Sends the rest of the body. */
  finish(): void;
  readonly reply: Promise<{ status: number; body: any }>;
}

/** POST /api/v1/auth/register with a Content-Length, but only the first half of the body sent. */
function halfSentRegistration(port: number, email: string): PendingRequest {
  const body = Buffer.from(
    JSON.stringify({ name: 'Shutdown Test', email, password: 'shutdown-password-1', role: 'user' }),
  );
  const half = Math.floor(body.length / 2);
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/v1/auth/register',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
  });
  const reply = new Promise<{ status: number; body: any }>((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: response.statusCode ?? 0, body: text });
        }
      });
      response.on('error', reject);
    });
  });
  request.flushHeaders();
  request.write(body.subarray(0, half));
  return {
    finish: () => request.end(body.subarray(half)),
    reply,
  };
}

/** A new connection to the server: 'refused', or the status it answered with. */
function probe(port: number): Promise<'refused' | number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET') resolve('refused');
      else reject(error);
    });
  });
}

function incomingRequests(server: Server): number {
  return server.logs.filter(
    (line) => line.msg === 'incoming request' && line.req?.url === '/api/v1/auth/register',
  ).length;
}

async function userExists(email: string): Promise<boolean> {
  const row = await database.handle.db
    .selectFrom('users')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirst();
  return row !== undefined;
}

async function exitsWithin(server: Server, ms: number) {
  return Promise.race([
    server.exited,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`server did not exit within ${ms} ms; stderr: ${server.stderr()}`)),
        ms,
      ),
    ),
  ]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('graceful shutdown', () => {
  it('finishes a request in flight at SIGTERM, refuses new ones, and exits 0', async () => {
    const server = await startServer();
    expect(await probe(server.port)).toBe(200);

    const email = uniqueEmail('shutdown');
    const pending = halfSentRegistration(server.port, email);
    await server.waitForLog(() => incomingRequests(server) >= 1, 'incoming request');

    server.child.kill('SIGTERM');
    await server.waitForLog((line) => String(line.msg).startsWith('shutting down'), 'shutting down');
    await sleep(200);
    expect(server.child.exitCode).toBeNull();
    expect(['refused', 503]).toContain(await probe(server.port));

    pending.finish();
    const reply = await pending.reply;
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.success).toBe(true);
    expect(reply.body.data.user.email).toBe(email);
    expect(await userExists(email)).toBe(true);

    const { code, signal } = await exitsWithin(server, EXIT_TIMEOUT_MS);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(server.logs.some((line) => line.msg === 'shutdown complete')).toBe(true);
    expect(server.stderr()).toBe('');
  }, 60_000);

  it('finishes several concurrent half-sent requests', async () => {
    const server = await startServer();
    const emails = Array.from({ length: 5 }, () => uniqueEmail('shutdown-many'));
    const pending = emails.map((email) => halfSentRegistration(server.port, email));
    await server.waitForLog(() => incomingRequests(server) >= emails.length, 'incoming requests');

    server.child.kill('SIGTERM');
    await server.waitForLog((line) => String(line.msg).startsWith('shutting down'), 'shutting down');
    await sleep(200);
    expect(['refused', 503]).toContain(await probe(server.port));

    for (const request of pending) request.finish();
    const replies = await Promise.all(pending.map((request) => request.reply));
    for (const [index, reply] of replies.entries()) {
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
      expect(reply.body.data.user.email).toBe(emails[index]);
    }
    for (const email of emails) expect(await userExists(email), email).toBe(true);

    const { code } = await exitsWithin(server, EXIT_TIMEOUT_MS);
    expect(code).toBe(0);
  }, 60_000);
});
