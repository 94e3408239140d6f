import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from '../../db/database.ts';
import { appliedMigrations } from '../../db/migrate.ts';
import { migrations } from '../../db/migrations/index.ts';

const HEALTH_QUERY_TIMEOUT_MS = 2_000;

export interface SystemDeps {
  readonly db: Db;
  readonly pool: pg.Pool;
  readonly poolMax: number;
  readonly version: string;
  readonly environment: string;
  /** The payment simulator of this process, reported by /health. */
  readonly simulator?: { readonly initialized: boolean; activeCount(): Promise<number> };
}

export function createSystemService(deps: SystemDeps) {
  async function pingDatabase(): Promise<{ ok: true; latencyMs: number } | { ok: false; reason: string }> {
    const startedAt = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql`SELECT 1`.execute(deps.db),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${HEALTH_QUERY_TIMEOUT_MS} ms`)),
            HEALTH_QUERY_TIMEOUT_MS,
          );
        }),
      ]);
      return { ok: true, latencyMs: Math.round((performance.now() - startedAt) * 100) / 100 };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  function processFigures() {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      memoryUsage: {
        rss: memory.rss,
        heapTotal: memory.heapTotal,
        heapUsed: memory.heapUsed,
        external: memory.external,
      },
      cpuUsage: { user: cpu.user, system: cpu.system },
    };
  }

  return {
    async health() {
      const database = await pingDatabase();
      // Only behind a database that answers: the ping's timeout guards a silent one.
      const activeSimulations =
        database.ok && deps.simulator !== undefined ? await deps.simulator.activeCount() : null;
      const simulator =
        deps.simulator === undefined
          ? {}
          : { simulator: { initialized: deps.simulator.initialized, activeSimulations } };
      return {
        status: database.ok ? ('healthy' as const) : ('unhealthy' as const),
        timestamp: new Date().toISOString(),
        uptime: Math.round(process.uptime() * 1000) / 1000,
        version: deps.version,
        environment: deps.environment,
        database: database.ok ? ('connected' as const) : ('disconnected' as const),
        ...(database.ok ? {} : { reason: `database: ${database.reason}` }),
        ...simulator,
        ...processFigures(),
      };
    },

    async status() {
      const database = await pingDatabase();
      const applied = database.ok ? await appliedMigrations(deps.db) : [];
      const serverVersion = database.ok ? await serverVersionOf(deps.db) : null;
      return {
        version: deps.version,
        environment: deps.environment,
        database: {
          status: database.ok ? ('connected' as const) : ('disconnected' as const),
          latencyMs: database.ok ? database.latencyMs : null,
          serverVersion,
          ...(database.ok ? {} : { reason: database.reason }),
        },
        pool: {
          total: deps.pool.totalCount,
          idle: deps.pool.idleCount,
          waiting: deps.pool.waitingCount,
          max: deps.poolMax,
        },
        migrations: {
          applied,
          pending: Object.keys(migrations).filter((name) => !applied.includes(name)),
        },
        process: {
          pid: process.pid,
          nodeVersion: process.version,
          uptimeSec: Math.round(process.uptime()),
          ...processFigures(),
        },
      };
    },
  };
}

async function serverVersionOf(db: Db): Promise<string | null> {
  // Aliased: `SHOW server_version` answers in a `server_version` column, which the camel-case plugin
  // would rename to `serverVersion`.
  const { rows } = await sql<{
    version: string;
  }>`SELECT current_setting('server_version') AS version`.execute(db);
  return rows[0]?.version ?? null;
}

export type SystemService = ReturnType<typeof createSystemService>;
