import { type Kysely, sql } from 'kysely';

/**
 * Domain events, recorded in the same transaction as the change they report. The jobs and events
 * issue delivers them (webhooks, sockets, notifications); the ledger records `wallet.low_balance`
 * from here on.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE events (
      id uuid PRIMARY KEY,
      merchant_id uuid,
      user_id uuid,
      type text NOT NULL CHECK (type ~ '^[a-z_]+\\.[a-z_]+$'),
      payload jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX events_merchant_idx ON events (merchant_id, created_at DESC) WHERE merchant_id IS NOT NULL;
    CREATE INDEX events_user_idx ON events (user_id, created_at DESC) WHERE user_id IS NOT NULL;
    CREATE INDEX events_time_idx ON events (created_at DESC, id DESC);
  `.execute(db);
}
