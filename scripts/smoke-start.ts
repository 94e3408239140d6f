import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The newcomer's path, end to end: `npm start` on an empty DATA_DIR (embedded PostgreSQL, first
 * start) must answer /health within 30 s; a second `npm start` must find the same data. Run by
 * .ci/run; prints the figures it saw.
 */
const HEALTHY_WITHIN_MS = 30_000;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tijori-smoke-'));
chmodSync(dataDir, 0o755);
const port = await freePort();
const baseUrl = `http://127.0.0.1:${port}`;
const { DATABASE_URL: _ignored, ...inherited } = process.env;
const env = { ...inherited, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
const credentials = { email: 'smoke@example.test', password: 'smoke-password' };

try {
  const first = await start('first start (initialises the cluster)');
  const registered = await post('/api/v1/auth/register', { name: 'Smoke', ...credentials });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  await stop(first);

  const second = await start('second start (reuses the data)');
  const login = await post('/api/v1/auth/login', credentials);
  if (login.status !== 200)
    throw new Error(`login after restart answered ${login.status}: data was not kept`);
  console.log('second start: the account registered before the restart signs in');
  await stop(second);
  console.log('smoke-start: ok');
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

async function start(label: string): Promise<ChildProcess> {
  const startedAt = performance.now();
  // Its own process group, so stop() can signal npm and everything under it, as Ctrl-C does.
  const child = spawn('npm', ['start'], { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  while (performance.now() - startedAt < HEALTHY_WITHIN_MS) {
    if (child.exitCode !== null) throw new Error(`${label}: npm start exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${baseUrl}/health`);
      if (response.status === 200) {
        console.log(`${label}: /health 200 after ${Math.round(performance.now() - startedAt)} ms`);
        return child;
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  process.kill(-child.pid!, 'SIGKILL');
  throw new Error(`${label}: /health did not answer 200 within ${HEALTHY_WITHIN_MS} ms`);
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? String(code))),
  );
  process.kill(-child.pid!, 'SIGINT');
  // npm itself re-raises the signal it got; what matters is that the server drained and exited.
  const outcome = await exited;
  if (outcome !== '0' && outcome !== 'SIGINT')
    throw new Error(`npm start ended with ${outcome} after SIGINT`);
  const deadline = performance.now() + 10_000;
  while (existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))) {
    if (performance.now() > deadline) throw new Error('the embedded PostgreSQL was not stopped on shutdown');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log('stopped: server exited and the embedded PostgreSQL shut down');
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${baseUrl}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
