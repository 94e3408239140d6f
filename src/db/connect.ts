import path from 'node:path';
import type { Config } from '../config.ts';
import { createDatabase, type DatabaseHandle } from './database.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded.ts';

export interface OpenDatabase {
  readonly database: DatabaseHandle;
  readonly embedded: EmbeddedPostgres | null;
  /** Closes the pool, then stops the embedded server if this process started it. */
  close(): Promise<void>;
}

/** DATABASE_URL when set; otherwise a real PostgreSQL started from DATA_DIR/postgres. */
export async function openDatabase(
  config: Config,
  log: { info(message: string): void; debug(message: string): void },
  applicationName = 'tijori',
): Promise<OpenDatabase> {
  const embedded =
    config.databaseUrl === undefined
      ? await startEmbeddedPostgres({
          dataDir: path.join(config.dataDir, 'postgres'),
          onLog: (line) => log.debug(line),
        })
      : null;
  if (embedded !== null) {
    log.info(`embedded PostgreSQL on 127.0.0.1:${embedded.port} (${embedded.owned ? 'started' : 'reused'})`);
  }
  const database = createDatabase({
    connectionString: config.databaseUrl ?? embedded!.connectionString,
    poolMax: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    applicationName,
  });
  return {
    database,
    embedded,
    async close() {
      await database.close();
      await embedded?.stop();
    },
  };
}
