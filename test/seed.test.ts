import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEED_TIMEOUT_MS = 120_000;

let database: TestDatabase;
let dataDir: string;

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tijori-seed-test-'));
});
afterAll(async () => {
  await database.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

/** `npm run seed` as an operator runs it, against this file's database. */
function runSeed(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/seed.ts'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'development',
        LOG_LEVEL: 'silent',
        DATABASE_URL: database.connectionString,
        DATA_DIR: dataDir,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function counts() {
  const db = database.handle.db;
  const [qrCodes, payments, users] = await Promise.all([
    db
      .selectFrom('qrCodes')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('qrTransactions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('origin', '=', 'seed')
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { qrCodes: Number(qrCodes.n), payments: Number(payments.n), users: Number(users.n) };
}

describe('npm run seed', () => {
  it(
    'adds a demo merchant, a QR code per category and thousands of payments over 60 days, once',
    async () => {
      const first = await runSeed();
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(
        /merchant merchant@tijori\.local: created clientKey=ck_\S+ clientSecret=cs_\S+/,
      );
      expect(first.stdout).toContain('demo password: ');
      const seeded = await counts();
      expect(seeded.qrCodes).toBe(5);
      expect(seeded.payments).toBeGreaterThan(2_000);
      expect(seeded.users).toBe(4);

      const db = database.handle.db;
      const categories = await db
        .selectFrom('qrCodes')
        .select('category')
        .distinct()
        .orderBy('category')
        .execute();
      expect(categories.map((row) => row.category)).toEqual(['Custom', 'Education', 'Rental', 'Retail']);
      const span = await db
        .selectFrom('qrTransactions')
        .select((eb) => [eb.fn.min('occurredAt').as('oldest'), eb.fn.max('occurredAt').as('newest')])
        .executeTakeFirstOrThrow();
      const dayMs = 86_400_000;
      const now = Date.now();
      expect(now - new Date(span.oldest as Date).getTime()).toBeGreaterThan(55 * dayMs);
      expect(now - new Date(span.oldest as Date).getTime()).toBeLessThan(62 * dayMs);
      expect(new Date(span.newest as Date).getTime()).toBeLessThanOrEqual(now);
      const statuses = await db
        .selectFrom('qrTransactions')
        .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
        .groupBy('status')
        .execute();
      const share = (status: string) =>
        Number(statuses.find((row) => row.status === status)?.n ?? 0) / seeded.payments;
      expect(share('Success')).toBeGreaterThan(0.75);
      expect(share('Failed')).toBeGreaterThan(0.1);
      expect(share('Pending')).toBeGreaterThan(0.02);

      const second = await runSeed();
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toContain('merchant merchant@tijori.local: exists');
      expect(await counts()).toEqual(seeded);
    },
    SEED_TIMEOUT_MS,
  );
});
