import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/database.ts';
import { preparedStatement } from './database.ts';

/** The session's own prepared statements, as PostgreSQL lists them. */
const preparedInSession = sql<{ name: string; statement: string }>`
  SELECT name, statement FROM pg_prepared_statements ORDER BY name`;

describe('prepared statements', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    // One connection: every statement below runs in the same session.
    database = await createTestDatabase({ poolMax: 1 });
  });

  afterAll(async () => {
    await database.destroy();
  });

  it('parses a marked statement once per connection and sends only its parameters after', async () => {
    const { db } = database.handle;
    const square = (n: number) =>
      sql<{ square: number }>`${preparedStatement('square_test')} SELECT ${n}::int * ${n}::int AS square`;
    const results = [];
    for (const n of [2, 3, 4]) results.push((await square(n).execute(db)).rows[0]?.square);
    expect(results).toEqual([4, 9, 16]);
    await sql`SELECT 1 AS unmarked`.execute(db);

    const { rows } = await preparedInSession.execute(db);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.name).toMatch(/^square_test_[A-Za-z0-9_-]{16}$/);
    expect(rows[0]?.statement).toContain('/* prepared:square_test */');
  });

  it('keeps two texts under one mark apart, and works inside a transaction', async () => {
    const { db } = database.handle;
    const variant = (cast: 'int' | 'bigint') =>
      sql<{
        value: string;
      }>`${preparedStatement('variant_test')} SELECT (${7}::${sql.raw(cast)})::text AS value`;
    const values = await db
      .transaction()
      .execute(async (trx) => [
        (await variant('int').execute(trx)).rows[0]?.value,
        (await variant('bigint').execute(trx)).rows[0]?.value,
        (await variant('int').execute(trx)).rows[0]?.value,
      ]);
    expect(values).toEqual(['7', '7', '7']);
    const { rows } = await preparedInSession.execute(db);
    expect(rows.filter((row) => row.name.startsWith('variant_test_'))).toHaveLength(2);
  });

  it('fails a marked statement as PostgreSQL fails it, and prepares it once fixed', async () => {
    const { db } = database.handle;
    const failing = sql`${preparedStatement('failing_test')} SELECT 1 / ${0}::int`;
    await expect(failing.execute(db)).rejects.toMatchObject({ code: '22012' });
    await expect(failing.execute(db)).rejects.toMatchObject({ code: '22012' });
    const { rows } = await preparedInSession.execute(db);
    expect(rows.filter((row) => row.name.startsWith('failing_test_'))).toHaveLength(1);
  });

  it('refuses a mark that is not a short snake_case name', () => {
    expect(() => preparedStatement('Drop */ SELECT')).toThrow(/snake_case/);
    // Longer, and two variants' names could agree in the 63 bytes PostgreSQL keeps of a name.
    expect(() => preparedStatement('a'.repeat(41))).toThrow(/at most 40/);
    expect(() => preparedStatement('a'.repeat(40))).not.toThrow();
  });
});
