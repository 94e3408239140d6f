import { type Kysely, sql } from 'kysely';

/** Withdrawals from wallets: each holds its amount until an admin (later, payouts) settles it. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE wallet_withdrawals (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id),
      account_id uuid NOT NULL REFERENCES ledger_accounts (id),
      hold_id uuid NOT NULL UNIQUE REFERENCES ledger_holds (id),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      currency text NOT NULL,
      destination text NOT NULL CHECK (length(destination) BETWEEN 3 AND 320),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
      failure_reason text,
      entry_id uuid REFERENCES ledger_entries (id),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX wallet_withdrawals_user_idx ON wallet_withdrawals (user_id, created_at DESC);
    CREATE INDEX wallet_withdrawals_pending_idx ON wallet_withdrawals (created_at) WHERE status = 'pending';
  `.execute(db);
}
