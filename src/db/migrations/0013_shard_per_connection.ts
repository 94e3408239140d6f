import { type Kysely, sql } from 'kysely';

/**
 * Which shard of a hot row a connection writes (a hot ledger account's sub-accounts in
 * `ledger_post`, a busy merchant's QR rollup rows) was its backend pid modulo the shard count.
 * The pids of the server's pool are not consecutive (workers and listeners open connections in
 * between), so two pool connections often landed on one shard and queued on its row lock for the
 * rest of each other's transaction. A connection now takes the next number of a sequence the
 * first time it writes one of those rows and keeps it for its life: the pool's connections, opened
 * one after another, get consecutive numbers and distinct shards.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE SEQUENCE tijori_connection_shard_seq AS integer CYCLE;

    -- A session setting rather than a table: nothing to clean up when the connection ends. Set
    -- inside a transaction that rolls back, it reverts and the connection takes another number
    -- next time, which is harmless.
    CREATE FUNCTION tijori_connection_shard() RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        v_shard text := current_setting('tijori.connection_shard', true);
      BEGIN
        IF v_shard IS NULL OR v_shard = '' THEN
          v_shard := nextval('tijori_connection_shard_seq')::text;
          PERFORM set_config('tijori.connection_shard', v_shard, false);
        END IF;
        RETURN v_shard::integer;
      END $$;

    -- The functions that picked a shard by pid, redefined to pick it by connection number. Their
    -- bodies are otherwise unchanged (0006), so they are rewritten rather than repeated here.
    DO $$
      DECLARE
        v_function regprocedure;
      BEGIN
        FOREACH v_function IN ARRAY ARRAY[
          'ledger_post(jsonb, jsonb, jsonb)', 'qr_rollup_on_insert()', 'qr_rollup_on_delete()',
          'qr_rollup_on_update()'
        ]::regprocedure[] LOOP
          EXECUTE replace(pg_get_functiondef(v_function), 'pg_backend_pid()', 'tijori_connection_shard()');
        END LOOP;
      END $$;
  `.execute(db);
}
