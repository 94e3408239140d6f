import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDatabase } from '../src/db/database.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrateToLatest } from '../src/db/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser connection to the server the tests use (its `postgres` database). */
    adminDatabaseUrl: string;
    /** A migrated database each test file clones into a database of its own. */
    templateDatabase: string;
  }
}

/**
 * One PostgreSQL for the whole run: the embedded one by default, or the server in DATABASE_URL.
 * The schema is migrated once into a template; every test file clones it (see test/database.ts),
 * so files are isolated and run in parallel.
 */
export default async function setup(project: TestProject) {
  let embedded: EmbeddedPostgres | null = null;
  let scratchDir: string | null = null;
  let adminDatabaseUrl = process.env.DATABASE_URL;
  if (adminDatabaseUrl === undefined || adminDatabaseUrl === '') {
    scratchDir = mkdtempSync(path.join(os.tmpdir(), 'tijori-test-'));
    // mkdtemp makes the directory private; as root, PostgreSQL runs as `postgres` and must enter it.
    chmodSync(scratchDir, 0o755);
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(scratchDir, 'postgres'),
      // Durability buys nothing in a throwaway test cluster; speed does.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    });
    adminDatabaseUrl = embedded.connectionString;
  }
  const templateDatabase = `tijori_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminDatabaseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase}`);
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  const template = createDatabase({
    connectionString: withDatabase(adminDatabaseUrl, templateDatabase),
    poolMax: 1,
    statementTimeoutMs: 60_000,
  });
  await migrateToLatest(template);
  await template.close();

  project.provide('adminDatabaseUrl', adminDatabaseUrl);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
    if (scratchDir !== null) rmSync(scratchDir, { recursive: true, force: true });
  };
}

export function withDatabase(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${database}`;
  return url.toString();
}
