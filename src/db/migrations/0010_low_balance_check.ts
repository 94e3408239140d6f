import { type Kysely, sql } from 'kysely';

/**
 * When a wallet's low-balance threshold was last set: the 15-minute check alerts a wallet below
 * its threshold that has had no alert since then (a threshold set above the balance, which no
 * posting crosses).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE ledger_accounts ADD COLUMN low_balance_threshold_set_at timestamptz;
    CREATE INDEX ledger_accounts_low_balance_idx ON ledger_accounts (id)
      WHERE low_balance_threshold_minor IS NOT NULL;
  `.execute(db);
}
