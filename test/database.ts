import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../src/db/database.ts';
import { withDatabase } from './global-setup.ts';

const CLONE_ATTEMPTS_MAX = 20;

export interface TestDatabase {
  readonly handle: DatabaseHandle;
  readonly connectionString: string;
  readonly name: string;
  /** Closes the pool and drops the database. */
  destroy(): Promise<void>;
}

/** A fresh, migrated database of this test file's own, cloned from the run's template. */
export async function createTestDatabase(options: { poolMax?: number } = {}): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const template = inject('templateDatabase');
  const name = `tijori_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, async (admin) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
        return;
      } catch (error) {
        // 55006: another file is cloning the template at this moment.
        if ((error as { code?: string }).code !== '55006' || attempt >= CLONE_ATTEMPTS_MAX) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  const connectionString = withDatabase(adminUrl, name);
  const handle = createDatabase({
    connectionString,
    poolMax: options.poolMax ?? 5,
    statementTimeoutMs: 30_000,
  });
  return {
    handle,
    connectionString,
    name,
    async destroy() {
      await handle.close();
      await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
