import { type Kysely, sql } from 'kysely';

/**
 * Withdrawals from wallets (each holds its amount until an admin, later payouts, settles it), and
 * currency conversion.
 */
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
  await upFx(db);
}

/** Currency conversion: rates kept by admins (seeded from configuration) and 30-second quotes. */
async function upFx(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE fx_rates (
      base text NOT NULL,
      quote text NOT NULL,
      -- Units of quote per one unit of base, e.g. USD/INR 83.25.
      rate numeric(30, 12) NOT NULL CHECK (rate > 0),
      updated_by uuid,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (base, quote),
      CHECK (base <> quote)
    );

    CREATE TABLE fx_quotes (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id),
      from_currency text NOT NULL,
      to_currency text NOT NULL,
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      rate numeric(30, 12) NOT NULL,
      spread_basis_points integer NOT NULL,
      receive_minor bigint NOT NULL,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}
