import { type Kysely, sql } from 'kysely';

/**
 * UPI QR codes, the payments made through them, their status history, the rollups that answer
 * the statistics, and idempotency keys (used first by manual QR payments, then by every money move).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE qr_codes (
      id uuid PRIMARY KEY,
      qr_id text NOT NULL UNIQUE CHECK (qr_id ~ '^[A-Z0-9]{5}$'),
      merchant_id uuid NOT NULL REFERENCES merchants (id),
      -- The API's pattern has {2,256}; PostgreSQL caps a repetition count at 255, so the length is checked apart.
      vpa text NOT NULL CHECK (
        vpa ~ '^[a-zA-Z0-9.\\-_]{2,}@[a-zA-Z][a-zA-Z0-9.\\-_]{2,64}$' AND length(split_part(vpa, '@', 1)) <= 256
      ),
      reference_name text NOT NULL CHECK (length(reference_name) BETWEEN 1 AND 100),
      description text CHECK (length(description) <= 255),
      max_amount_minor bigint NOT NULL DEFAULT 0 CHECK (max_amount_minor BETWEEN 0 AND 10000000),
      category text NOT NULL DEFAULT 'Custom' CHECK (category IN ('Retail', 'Rental', 'Education', 'Custom')),
      notes text CHECK (length(notes) <= 500),
      status text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive')),
      simulation_active boolean NOT NULL DEFAULT false,
      simulation_generated integer NOT NULL DEFAULT 0 CHECK (simulation_generated >= 0),
      simulation_next_run_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX qr_codes_merchant_idx ON qr_codes (merchant_id, created_at DESC, id DESC);
    -- What the simulator polls: only the few codes being simulated are in this index.
    CREATE INDEX qr_codes_simulation_due_idx ON qr_codes (simulation_next_run_at) WHERE simulation_active;

    CREATE TABLE qr_transactions (
      id uuid PRIMARY KEY,
      payment_id text NOT NULL UNIQUE CHECK (payment_id ~ '^PAY[0-9]{10,30}$'),
      qr_code_id uuid NOT NULL REFERENCES qr_codes (id) ON DELETE CASCADE,
      qr_id text NOT NULL,
      merchant_id uuid NOT NULL,
      amount_minor bigint NOT NULL CHECK (amount_minor BETWEEN 100 AND 10000000),
      currency text NOT NULL DEFAULT 'INR' CHECK (currency = 'INR'),
      status text NOT NULL CHECK (status IN ('Success', 'Failed', 'Pending')),
      utr text NOT NULL UNIQUE CHECK (utr ~ '^[A-Z0-9]{12}$'),
      occurred_at timestamptz NOT NULL,
      customer_name text CHECK (length(customer_name) <= 100),
      customer_phone text CHECK (customer_phone ~ '^[0-9]{10}$'),
      customer_upi_app text CHECK (customer_upi_app IN ('GPay', 'PhonePe', 'Paytm', 'BHIM', 'AmazonPay')),
      origin text NOT NULL CHECK (origin IN ('manual', 'simulator', 'simulate_request', 'seed')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    -- Lists are newest first, per merchant or per QR code; (occurred_at, id) is also the export cursor.
    CREATE INDEX qr_transactions_merchant_time_idx ON qr_transactions (merchant_id, occurred_at DESC, id DESC);
    CREATE INDEX qr_transactions_qr_time_idx ON qr_transactions (qr_code_id, occurred_at DESC, id DESC);
    CREATE INDEX qr_transactions_time_idx ON qr_transactions (occurred_at DESC, id DESC);

    CREATE TABLE qr_transaction_status_history (
      id uuid PRIMARY KEY,
      transaction_id uuid NOT NULL REFERENCES qr_transactions (id) ON DELETE CASCADE,
      from_status text,
      to_status text NOT NULL,
      cause text NOT NULL,
      actor_id uuid,
      changed_at timestamptz NOT NULL
    );
    CREATE INDEX qr_transaction_status_history_tx_idx ON qr_transaction_status_history (transaction_id, changed_at);

    -- Counts and amounts per 15-minute bucket, per QR code and per merchant, and running totals
    -- per QR code. Every time zone's day is made of whole 15-minute buckets, so daily figures in
    -- any zone add up exactly from these rows; statistics and list counts read a few thousand rows
    -- instead of scanning a merchant's millions of payments. Maintained by the triggers below, in
    -- the same transaction as the payment rows.
    CREATE TABLE qr_transaction_rollups (
      qr_code_id uuid NOT NULL REFERENCES qr_codes (id) ON DELETE CASCADE,
      bucket_start timestamptz NOT NULL,
      ${sql.raw(FIGURE_DEFINITIONS)},
      shard smallint NOT NULL DEFAULT 0,
      PRIMARY KEY (qr_code_id, bucket_start, shard)
    );
    CREATE TABLE qr_merchant_rollups (
      merchant_id uuid NOT NULL,
      bucket_start timestamptz NOT NULL,
      ${sql.raw(FIGURE_DEFINITIONS)},
      shard smallint NOT NULL DEFAULT 0,
      PRIMARY KEY (merchant_id, bucket_start, shard)
    );
    CREATE TABLE qr_transaction_totals (
      qr_code_id uuid NOT NULL REFERENCES qr_codes (id) ON DELETE CASCADE,
      merchant_id uuid NOT NULL,
      ${sql.raw(FIGURE_DEFINITIONS)},
      shard smallint NOT NULL DEFAULT 0,
      PRIMARY KEY (qr_code_id, shard)
    );
    CREATE INDEX qr_transaction_totals_merchant_idx ON qr_transaction_totals (merchant_id);

    CREATE FUNCTION qr_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${sql.raw(applyToRollups('new_rows', '+'))} RETURN NULL; END $$;
    CREATE FUNCTION qr_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${sql.raw(applyToRollups('old_rows', '-'))} RETURN NULL; END $$;
    CREATE FUNCTION qr_rollup_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${sql.raw(applyToRollups('old_rows', '-'))} ${sql.raw(applyToRollups('new_rows', '+'))} RETURN NULL; END $$;

    -- Statement triggers over transition tables: a bulk insert of a million payments updates
    -- each bucket once, not once per row.
    CREATE TRIGGER qr_transactions_rollup_insert AFTER INSERT ON qr_transactions
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION qr_rollup_on_insert();
    CREATE TRIGGER qr_transactions_rollup_delete AFTER DELETE ON qr_transactions
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION qr_rollup_on_delete();
    CREATE TRIGGER qr_transactions_rollup_update AFTER UPDATE ON qr_transactions
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION qr_rollup_on_update();

    -- Recomputes every rollup from the payments: for an operator in doubt, and for the test that
    -- proves the triggers keep them exact.
    CREATE FUNCTION qr_rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        LOCK TABLE qr_transactions IN SHARE MODE;
        DELETE FROM qr_transaction_rollups;
        DELETE FROM qr_merchant_rollups;
        DELETE FROM qr_transaction_totals;
        ${sql.raw(applyToRollups('qr_transactions', '+'))}
      END $$;

    CREATE TABLE idempotency_keys (
      scope text NOT NULL,
      key text NOT NULL,
      request_fingerprint text NOT NULL,
      claim_token uuid NOT NULL,
      state text NOT NULL CHECK (state IN ('in_flight', 'completed')),
      response_status integer,
      response_body jsonb,
      locked_until timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
  `.execute(db);
}

/** 15-minute buckets: every time zone in use has an offset that is a multiple of 15 minutes. */
const BUCKET = "date_bin('15 minutes', occurred_at, timestamptz '2000-01-01 00:00:00+00')";

const FIGURE_COLUMNS = [
  'success_count',
  'success_amount_minor',
  'failed_count',
  'failed_amount_minor',
  'pending_count',
  'pending_amount_minor',
];

const FIGURE_DEFINITIONS = FIGURE_COLUMNS.map((column) => `${column} bigint NOT NULL DEFAULT 0`).join(
  ',\n      ',
);

const GROUPED_FIGURES = `
  count(*) FILTER (WHERE status = 'Success') AS success_count,
  coalesce(sum(amount_minor) FILTER (WHERE status = 'Success'), 0) AS success_amount_minor,
  count(*) FILTER (WHERE status = 'Failed') AS failed_count,
  coalesce(sum(amount_minor) FILTER (WHERE status = 'Failed'), 0) AS failed_amount_minor,
  count(*) FILTER (WHERE status = 'Pending') AS pending_count,
  coalesce(sum(amount_minor) FILTER (WHERE status = 'Pending'), 0) AS pending_amount_minor`;

/**
 * Adds (+) or takes away (-) a transition table's rows. Rows are grouped first, so a bulk insert
 * touches each bucket once. Each database connection writes its own shard of a bucket (one of
 * ROLLUP_SHARDS rows), so concurrent payments of one busy merchant do not queue on one row lock
 * until commit; readers sum the shards, and a shard may go below zero when a payment counted in
 * another is removed, while the sum stays exact. Figures of a QR code being deleted are not kept:
 * its rows go with it (cascade), and its payments' delete trigger finds the code gone.
 */
export function applyToRollups(source: string, sign: '+' | '-', shards = ROLLUP_SHARDS): string {
  const shard = `(pg_backend_pid() % ${shards})::smallint`;
  const targets = [
    {
      table: 'qr_transaction_rollups',
      keys: ['qr_code_id', 'bucket_start'],
      extra: [] as string[],
      perQr: true,
    },
    {
      table: 'qr_merchant_rollups',
      keys: ['merchant_id', 'bucket_start'],
      extra: [] as string[],
      perQr: false,
    },
    { table: 'qr_transaction_totals', keys: ['qr_code_id'], extra: ['merchant_id'], perQr: true },
  ];
  return targets
    .map(({ table, keys, extra, perQr }) => {
      const columns = [...keys, ...extra];
      const selected = columns.map((column) =>
        column === 'bucket_start' ? `${BUCKET} AS bucket_start` : column,
      );
      const figures = sign === '+' ? GROUPED_FIGURES : NEGATED_GROUPED_FIGURES;
      const grouped = `SELECT ${selected.join(', ')}, ${figures}, ${shard} AS shard FROM ${source}
        ${perQr && sign === '-' ? 'WHERE EXISTS (SELECT 1 FROM qr_codes q WHERE q.id = qr_code_id)' : ''}
        GROUP BY ${columns.map((_, index) => index + 1).join(', ')}`;
      return `INSERT INTO ${table} AS r (${[...columns, ...FIGURE_COLUMNS, 'shard'].join(', ')})
        SELECT * FROM (${grouped}) AS g
        ON CONFLICT (${[...keys, 'shard'].join(', ')}) DO UPDATE SET ${FIGURE_COLUMNS.map(
          (column) => `${column} = r.${column} + excluded.${column}`,
        ).join(', ')};`;
    })
    .join('\n');
}

/** The shard a connection writes: its backend process id, spread over this many rows (0006: 16; 0013 numbers connections instead). */
const ROLLUP_SHARDS = 8;

const NEGATED_GROUPED_FIGURES = `
  -count(*) FILTER (WHERE status = 'Success') AS success_count,
  -coalesce(sum(amount_minor) FILTER (WHERE status = 'Success'), 0) AS success_amount_minor,
  -count(*) FILTER (WHERE status = 'Failed') AS failed_count,
  -coalesce(sum(amount_minor) FILTER (WHERE status = 'Failed'), 0) AS failed_amount_minor,
  -count(*) FILTER (WHERE status = 'Pending') AS pending_count,
  -coalesce(sum(amount_minor) FILTER (WHERE status = 'Pending'), 0) AS pending_amount_minor`;
