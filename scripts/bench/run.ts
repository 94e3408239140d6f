import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createDatabase, type Db } from '../../src/db/database.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { sha256Hex } from '../../src/lib/crypto.ts';
import { createLedgerService, createMerchantBalanceService } from '../../src/modules/ledger/index.ts';
import * as qrTransactions from '../../src/modules/qr/transactions.repo.ts';
import { ledgerScenarios } from './ledger.ts';
import { paymentScenarios } from './payments.ts';
import { recordQrPaymentAsTheRouteDoes } from './qr-payment.ts';
import type { Scenario } from './scenario.ts';
import { type FanoutResult, runWebhookFanout } from './webhook-fanout.ts';

const WEBHOOK_FANOUT = 'webhook-fanout';

/**
 * `npm run bench [-- --scenario NAME[,NAME...] --duration SEC --concurrency N]`
 *
 * Starts the real server on a fresh embedded PostgreSQL (durable settings, as in production),
 * runs each scenario closed-loop at a fixed concurrency ("max") and open-loop at an evenly paced
 * rate ("fixed"), and measures the same SQL issued directly as the baseline in the same run.
 */

interface Result {
  scenario: string;
  mode: 'max' | 'fixed';
  concurrency?: number;
  rate?: number;
  durationSec: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  baselineThroughput?: number;
  ratio?: number;
}

const QR_CODE_COUNT = 10;
const QR_TRANSACTION_COUNT = 1_000_000;
const QR_LOAD_BATCH = 100_000;
const QR_HISTORY_DAYS = 90;

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string' },
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
  },
});
const durationSec = Number(args.duration);
const concurrency = Number(args.concurrency);

const scratch = mkdtempSync(path.join(os.tmpdir(), 'tijori-bench-'));
chmodSync(scratch, 0o755);
// BENCH_PROFILE=1: pg_stat_statements over every statement, nested ones (functions, triggers)
// included; the costliest are printed after the runs.
const profile = process.env.BENCH_PROFILE === '1';
// BENCH_SLOW_PLANS_MS=N: the executed plan (auto_explain, with actual times) of every statement
// slower than N ms, nested ones included, logged into a directory kept after the run. A plan that
// goes bad as a table grows shows up here and nowhere else.
const slowPlansMs = process.env.BENCH_SLOW_PLANS_MS;
const slowPlansDir =
  slowPlansMs === undefined ? undefined : mkdtempSync(path.join(os.tmpdir(), 'tijori-plans-'));
if (slowPlansDir !== undefined) chmodSync(slowPlansDir, 0o777); // written by PostgreSQL's own OS user
const preload = [...(profile ? ['pg_stat_statements'] : []), ...(slowPlansDir ? ['auto_explain'] : [])];
const postgres = await startEmbeddedPostgres({
  dataDir: path.join(scratch, 'postgres'),
  settings: {
    ...(preload.length === 0 ? {} : { shared_preload_libraries: preload.join(',') }),
    ...(profile ? { 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on' } : {}),
    ...(slowPlansDir === undefined
      ? {}
      : {
          'auto_explain.log_min_duration': `${slowPlansMs}ms`,
          'auto_explain.log_analyze': 'on',
          'auto_explain.log_nested_statements': 'on',
          logging_collector: 'on',
          log_directory: slowPlansDir,
          log_filename: 'postgres.log',
        }),
  },
});
const database = createDatabase({
  connectionString: postgres.connectionString,
  poolMax: 10,
  statementTimeoutMs: 15_000,
});
await migrateToLatest(database);
// For the write baselines: the server's own fee schedule (UPI_FEE_BASIS_POINTS unset: 0).
const merchantBalances = createMerchantBalanceService({
  db: database.db,
  ledger: createLedgerService({ db: database.db, clock: systemClock }),
  upiFeeBasisPoints: 0,
});
// The server runs in a process of its own, as in production; the load generator and the
// baseline share the machine's cores with it, not its event loop.
const port = await freePort();
const jwtSecret = randomBytes(32).toString('hex');
const encryptionKey = randomBytes(32).toString('hex');
const baseUrl = `http://127.0.0.1:${port}`;
// BENCH_CPU_PROFILE=DIR: the server writes a V8 CPU profile there when it exits.
const cpuProfile = process.env.BENCH_CPU_PROFILE;
const server = spawn(
  process.execPath,
  [...(cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', cpuProfile] : []), '--import', 'tsx', 'src/main.ts'],
  {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: postgres.connectionString,
      RATE_LIMIT_MAX_REQUESTS: '10000000',
      // webhook-fanout delivers to a receiver on this machine.
      WEBHOOK_ALLOW_PRIVATE: 'true',
      ...(process.env.BENCH_DB_POOL_MAX === undefined ? {} : { DB_POOL_MAX: process.env.BENCH_DB_POOL_MAX }),
      JWT_SECRET: jwtSecret,
      ENCRYPTION_KEY: encryptionKey,
      // pay-initiate pays on the in-process sandbox gateway, off by default in production.
      SANDBOX_GATEWAY: 'on',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
await waitForHealth();

try {
  const scenarios = await prepareScenarios();
  // One name, or several separated by commas (scenarios sharing a data set load it once).
  const wanted = args.scenario?.split(',');
  const selected = scenarios.filter((scenario) => wanted === undefined || wanted.includes(scenario.name));
  const fanout = wanted === undefined || wanted.includes(WEBHOOK_FANOUT);
  if (selected.length === 0 && !fanout)
    throw new Error(
      `unknown scenario ${args.scenario}; have ${[...scenarios.map((s) => s.name), WEBHOOK_FANOUT].join(', ')}`,
    );
  const results: Result[] = [];
  for (const scenario of selected) {
    await scenario.prepare?.();
    const max = await runMax(scenario);
    results.push(max);
    console.log(JSON.stringify(max));
    const fixed = await runFixed(scenario);
    results.push(fixed);
    console.log(JSON.stringify(fixed));
  }
  if (fanout) {
    const result = await runWebhookFanout({ baseUrl, db: database.db });
    console.log(JSON.stringify(result));
    printFanout(result);
  }
  printTable(results);
  if (profile) await printCostliestStatements();
} finally {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
  await database.close();
  await postgres.stop();
  rmSync(scratch, { recursive: true, force: true });
  if (slowPlansDir !== undefined) console.log(`\nslow plans: ${path.join(slowPlansDir, 'postgres.log')}`);
}

async function prepareScenarios(): Promise<Scenario[]> {
  const response = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Bench Merchant',
      email: 'bench@example.test',
      password: 'bench-password',
      role: 'merchant',
    }),
  });
  const { data } = (await response.json()) as {
    data: {
      accessToken: string;
      user: { id: string };
      credentials: { clientKey: string; clientSecret: string };
    };
  };
  const userId = data.user.id;
  const { clientKey, clientSecret } = data.credentials;
  const secretHash = sha256Hex(clientSecret);
  const selectUser = (db: Db) =>
    sql`SELECT id, name, email, role, is_verified, is_active, last_login_at, created_at, updated_at FROM users WHERE id = ${userId}`.execute(
      db,
    );
  const qr = qrDataSet(data.accessToken, data.user.id);
  return [
    {
      name: 'health',
      method: 'GET',
      path: '/health',
      headers: {},
      fixedRate: 1000,
      baseline: (db) => sql`SELECT 1`.execute(db),
    },
    {
      name: 'me-jwt',
      method: 'GET',
      path: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${data.accessToken}` },
      fixedRate: 1000,
      baseline: selectUser,
    },
    {
      name: 'me-api-key',
      method: 'GET',
      path: '/api/v1/auth/me',
      headers: { 'x-client-key': clientKey, 'x-client-secret': clientSecret },
      fixedRate: 500,
      baseline: async (db) => {
        await sql`
          WITH matched AS (
            SELECT m.id, m.user_id, u.role FROM merchants m JOIN users u ON u.id = m.user_id
            WHERE m.client_key = ${clientKey} AND m.client_secret_hash = ${secretHash} AND m.status = 'active' AND u.is_active
          ), counted AS (
            INSERT INTO merchant_api_usage (merchant_id, day, request_count)
            SELECT id, current_date, 1 FROM matched
            ON CONFLICT (merchant_id, day) DO UPDATE SET request_count = merchant_api_usage.request_count + 1
          )
          SELECT id FROM matched`.execute(db);
        await selectUser(db);
      },
    },
    ...qr.scenarios,
    ...ledgerScenarios({ baseUrl, database, jwtSecret, merchantBalances }),
    ...paymentScenarios({ baseUrl, database, encryptionKey, merchantBalances }),
  ];
}

/**
 * Issue 3's goal: list and stats for one merchant with 1,000,000 QR payments in the table
 * (ten QR codes, 90 days, 80/15/5 status mix), loaded once by SQL before the first QR scenario.
 */
function qrDataSet(accessToken: string, userId: string) {
  const headers = { authorization: `Bearer ${accessToken}` };
  let merchantId = '';
  let loaded: Promise<void> | null = null;
  const load = async () => {
    const merchant = await sql<{ id: string }>`SELECT id FROM merchants WHERE user_id = ${userId}`.execute(
      database.db,
    );
    merchantId = merchant.rows[0]?.id ?? '';
    for (let index = 0; index < QR_CODE_COUNT; index += 1) {
      const response = await fetch(`${baseUrl}/api/v1/qr`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({
          qrId: `BN${String(index).padStart(3, '0')}`,
          vpa: 'bench@okaxis',
          referenceName: `Bench counter ${index}`,
          category: 'Retail',
        }),
      });
      if (response.status !== 201) throw new Error(`creating a bench QR code: ${response.status}`);
    }
    const startedAt = performance.now();
    for (let offset = 0; offset < QR_TRANSACTION_COUNT; offset += QR_LOAD_BATCH) {
      await sql`
        INSERT INTO qr_transactions (id, payment_id, qr_code_id, qr_id, merchant_id, amount_minor, status, utr,
          occurred_at, customer_name, customer_phone, customer_upi_app, origin, created_at, updated_at)
        SELECT gen_random_uuid(), 'PAY' || lpad(i::text, 13, '0'), q.id, q.qr_id, q.merchant_id,
          100 + (i * 7919) % 500000,
          CASE WHEN i % 20 = 0 THEN 'Pending' WHEN i % 20 < 4 THEN 'Failed' ELSE 'Success' END,
          upper(lpad(to_hex(i), 12, '0')),
          now() - (i::float8 / ${QR_TRANSACTION_COUNT} * ${QR_HISTORY_DAYS}) * interval '1 day',
          'Bench Customer', '9876543210', 'GPay', 'seed', now(), now()
        FROM generate_series(${offset + 1}::int8, ${offset + QR_LOAD_BATCH}::int8) AS i
        JOIN LATERAL (
          SELECT id, qr_id, merchant_id FROM qr_codes WHERE merchant_id = ${merchantId}
          ORDER BY qr_id OFFSET (i % ${QR_CODE_COUNT}) LIMIT 1
        ) AS q ON true`.execute(database.db);
    }
    // Measured in the steady state, not while autovacuum and the checkpointer digest the load.
    await sql`VACUUM ANALYZE qr_transactions, qr_merchant_rollups, qr_transaction_rollups, qr_transaction_totals`.execute(
      database.db,
    );
    await sql`CHECKPOINT`.execute(database.db);
    console.error(
      `loaded ${QR_TRANSACTION_COUNT} QR payments in ${round((performance.now() - startedAt) / 1000)} s`,
    );
  };
  const prepare = () => {
    loaded ??= load();
    return loaded;
  };
  const filter = () => ({ merchantId });
  const scenarios: Scenario[] = [
    {
      name: 'qr-list',
      prepare,
      method: 'GET',
      path: '/api/v1/transactions?limit=10',
      headers,
      fixedRate: 200,
      baseline: async (db) => {
        await Promise.all([
          qrTransactions.findTransactionPage(db, filter(), { page: 1, limit: 10, offset: 0 }),
          qrTransactions.sumTotals(db, filter()),
        ]);
      },
    },
    {
      // Every request lands on one QR code, so all contend for its rollup rows: the worst case.
      name: 'qr-payment',
      prepare,
      method: 'POST',
      path: '/api/v1/transactions',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        qrId: 'BN000',
        amount: 120.5,
        customerInfo: { name: 'Bench Payer', upiApp: 'GPay' },
      }),
      fixedRate: 200,
      baseline: (db) =>
        recordQrPaymentAsTheRouteDoes(db, { qrId: 'BN000', actorId: userId, merchantBalances }),
    },
    {
      name: 'qr-stats',
      prepare,
      method: 'GET',
      path: '/api/v1/transactions/stats',
      headers,
      fixedRate: 20,
      baseline: (db) => qrTransactions.sumByDay(db, filter(), 'Asia/Kolkata'),
    },
  ];
  return { scenarios };
}

async function runMax(scenario: Scenario): Promise<Result> {
  const result = await autocannon({
    url: `${baseUrl}${scenario.path}`,
    method: scenario.method,
    headers: scenario.headers,
    ...(scenario.body === undefined ? {} : { body: scenario.body }),
    ...(scenario.nextRequest === undefined
      ? {}
      : {
          requests: [
            {
              setupRequest: (request: autocannon.Request) => {
                const next = scenario.nextRequest?.() ?? {};
                return { ...request, ...next, headers: { ...request.headers, ...next.headers } };
              },
            },
          ],
        }),
    connections: concurrency,
    duration: durationSec,
  });
  const baselineThroughput =
    scenario.baseline === undefined ? undefined : await runBaseline(scenario.baseline);
  const throughput = round(result.requests.average);
  return {
    scenario: scenario.name,
    mode: 'max',
    concurrency,
    durationSec,
    throughput,
    p50Ms: round(result.latency.p50),
    p99Ms: round(result.latency.p99),
    errors: result.errors + result.timeouts + result.non2xx,
    ...(baselineThroughput === undefined
      ? {}
      : { baselineThroughput: round(baselineThroughput), ratio: round(throughput / baselineThroughput, 2) }),
  };
}

/** Closed loop straight on the pool, at the same concurrency, for the same time. */
async function runBaseline(operation: (db: Db) => Promise<unknown>): Promise<number> {
  let completed = 0;
  const deadline = performance.now() + durationSec * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await operation(database.db);
        completed += 1;
      }
    }),
  );
  return completed / durationSec;
}

/** Open loop: one request every 1/rate s regardless of replies, so queueing shows in latency. */
async function runFixed(scenario: Scenario): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  let errors = 0;
  const total = scenario.fixedRate * durationSec;
  const intervalMs = 1000 / scenario.fixedRate;
  const startedAt = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < total; index++) {
    const dueAt = startedAt + index * intervalMs;
    const waitMs = dueAt - performance.now();
    if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
    inFlight.push(
      sendOnce(agent, scenario).then(
        (latencyMs) => {
          latencies.push(latencyMs);
        },
        () => {
          errors += 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const elapsedSec = (performance.now() - startedAt) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    scenario: scenario.name,
    mode: 'fixed',
    rate: scenario.fixedRate,
    durationSec,
    throughput: round(latencies.length / elapsedSec),
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
    errors,
  };
}

function sendOnce(agent: http.Agent, scenario: Scenario): Promise<number> {
  const started = performance.now();
  const next = scenario.nextRequest?.() ?? {};
  const headers = { ...scenario.headers, ...next.headers };
  const body = next.body ?? scenario.body;
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}${scenario.path}`,
      { method: scenario.method, headers, agent },
      (response) => {
        response.resume();
        response.on('end', () =>
          (response.statusCode ?? 500) < 400
            ? resolve(performance.now() - started)
            : reject(new Error(String(response.statusCode))),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function printTable(results: Result[]): void {
  console.log('\nscenario      mode   load        req/s     p50 ms   p99 ms  errors  baseline/s  ratio');
  for (const r of results) {
    const load = r.mode === 'max' ? `c=${r.concurrency}` : `${r.rate}/s`;
    console.log(
      [
        r.scenario.padEnd(13),
        r.mode.padEnd(6),
        load.padEnd(10),
        String(r.throughput).padStart(8),
        String(r.p50Ms).padStart(9),
        String(r.p99Ms).padStart(8),
        String(r.errors).padStart(7),
        String(r.baselineThroughput ?? '').padStart(11),
        String(r.ratio ?? '').padStart(6),
      ].join(' '),
    );
  }
}

function printFanout(result: FanoutResult): void {
  console.log(
    `\n${result.scenario}: ${result.events} events, ${result.throughput} deliveries/s, commit to delivery p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${result.errors}`,
  );
}

async function waitForHealth(): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}`);
    try {
      if ((await fetch(`${baseUrl}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('server did not become healthy within 30 s');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function printCostliestStatements(): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`.execute(database.db);
  const { rows } = await sql<{
    calls: string;
    totalMs: number;
    meanMs: number;
    planMs: number;
    query: string;
  }>`
    SELECT calls, round(total_exec_time::numeric, 1)::float8 AS total_ms, round(mean_exec_time::numeric, 3)::float8 AS mean_ms,
      round((total_plan_time / greatest(calls, 1))::numeric, 3)::float8 AS plan_ms,
      left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 100) AS query
    FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 25`.execute(database.db);
  // Planning is counted apart from execution (track_planning), here per call: a statement planned
  // on every call shows its whole planning time, a prepared one next to nothing.
  console.log('\n   calls   total ms  mean ms  plan ms  statement');
  for (const row of rows) {
    console.log(
      `${String(row.calls).padStart(8)} ${String(row.totalMs).padStart(10)} ${String(row.meanMs).padStart(8)} ${String(row.planMs).padStart(8)}  ${row.query}`,
    );
  }
}
