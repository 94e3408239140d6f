import { createHash } from 'node:crypto';
import { CamelCasePlugin, Kysely, PostgresDialect, type RawBuilder, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** What a repository runs on: the pool or a transaction the service opened. */
export type Executor = Db | Trx;

// BIGINT columns hold money in minor units: read them as bigint, never as a lossy number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => BigInt(value));

export interface DatabaseOptions {
  readonly connectionString: string;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
  readonly applicationName?: string;
}

export interface DatabaseHandle {
  readonly db: Db;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * Marks a statement to be prepared: `const MARK = preparedStatement('name')` once, then
 * `sql\`${MARK} WITH ...\``. Each pooled connection then parses and plans it once, and afterwards
 * sends only its parameters. For the hot
 * statements of a fixed shape (a payment's one statement takes longer to plan than most take to
 * run); never for a statement whose text varies with its input (an `IN` list, optional filters),
 * which would prepare a new statement per shape on every connection.
 */
export function preparedStatement(name: string): RawBuilder<unknown> {
  // PostgreSQL keeps a statement's name in 63 bytes: the mark, an underscore and the digest fit.
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(name)) {
    throw new Error(`prepared statement name ${name} must be snake_case, at most 40 characters`);
  }
  return sql.raw(`/* prepared:${name} */`);
}

const PREPARED_PREFIX = '/* prepared:';
const PREPARED_MARK = /^\/\* prepared:([a-z][a-z0-9_]{0,39}) \*\//;

/**
 * A pool client that sends a marked statement under its name (pg's named statements: Parse once
 * per connection, then Bind and Execute). The name carries a digest of the text, so two texts
 * under one mark (a statement with a variant) are two statements, never a mismatch.
 */
class PreparingClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's query has a dozen overloads; this passes every one through unchanged.
  override query(...args: any[]): any {
    const [text, values] = args;
    if (typeof text === 'string' && args.length <= 2) {
      const name = preparedName(text);
      if (name !== null) return super.query({ name, text, values });
    }
    return (super.query as (...rest: unknown[]) => unknown)(...args);
  }
}

const preparedNames = new Map<string, string>();
/** Distinct marked texts: far more than the code has means a mark on a statement that varies. */
const PREPARED_TEXTS_MAX = 200;

function preparedName(text: string): string | null {
  if (!text.startsWith(PREPARED_PREFIX)) return null;
  const known = preparedNames.get(text);
  if (known !== undefined) return known;
  const mark = PREPARED_MARK.exec(text);
  if (mark === null || preparedNames.size >= PREPARED_TEXTS_MAX) return null;
  const digest = createHash('sha256').update(text).digest('base64url').slice(0, 16);
  const name = `${mark[1]}_${digest}`;
  preparedNames.set(text, name);
  return name;
}

export function createDatabase(options: DatabaseOptions): DatabaseHandle {
  const pool = new pg.Pool({
    Client: PreparingClient,
    connectionString: options.connectionString,
    max: options.poolMax,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'tijori',
  });
  // An idle client losing its server must not crash the process; the next checkout reconnects.
  pool.on('error', () => {});
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new CamelCasePlugin()],
  });
  let closed: Promise<void> | undefined;
  return {
    db,
    pool,
    close: () => {
      // Kysely's destroy ends the pool; closing twice (signal + error path) is harmless.
      closed ??= db.destroy();
      return closed;
    },
  };
}
