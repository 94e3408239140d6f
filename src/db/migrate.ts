import { runMigrations as runJobQueueMigrations } from 'graphile-worker';
import type { Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import type pg from 'pg';
import { silentJobLogger } from '../jobs/logger.ts';
import { migrations } from './migrations/index.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema they are creating, not the typed one.
type AnyDb = Kysely<any>;

export interface MigrationReport {
  readonly applied: readonly string[];
}

/**
 * Applies pending migrations. Kysely's PostgreSQL adapter holds an advisory lock for the run and
 * applies the batch in one transaction, so two processes starting at once cannot both migrate and
 * a failing migration leaves nothing half-applied.
 */
export async function migrateToLatest(database: { db: AnyDb; pool: pg.Pool }): Promise<MigrationReport> {
  const { error, results } = await createMigrator(database.db).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error !== undefined) {
    const where = failed === undefined ? '' : ` in ${failed.migrationName}`;
    throw new Error(`migration failed${where}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  // The job queue's own schema (graphile_worker), versioned by graphile-worker itself.
  await runJobQueueMigrations({ pgPool: database.pool, logger: silentJobLogger });
  return { applied: (results ?? []).map((result) => result.migrationName) };
}

export async function appliedMigrations(db: AnyDb): Promise<string[]> {
  const all = await createMigrator(db).getMigrations();
  return all.filter((migration) => migration.executedAt !== undefined).map((migration) => migration.name);
}

function createMigrator(db: AnyDb): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
}
