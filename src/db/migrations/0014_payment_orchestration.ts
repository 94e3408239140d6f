import { type Kysely, sql } from 'kysely';

/**
 * Payment orchestration (issue 6): gateways an admin configures, the merchant-facing payment kept
 * apart from each try at a gateway (an attempt), registered orders, refunds, the payment's status
 * history, every inbound gateway webhook with its verification outcome, and routing settings.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE gateways (
      id uuid PRIMARY KEY,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      connector text NOT NULL CHECK (connector IN ('sandbox', 'razorpay', 'payu', 'paytm')),
      -- AES-256-GCM under ENCRYPTION_KEY (lib/crypto.ts); only a masked hint is ever shown.
      credentials_sealed text,
      credentials_hint text,
      config jsonb NOT NULL DEFAULT '{}',
      enabled boolean NOT NULL DEFAULT true,
      priority integer NOT NULL DEFAULT 100,
      weight integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 0 AND 1000000),
      methods text[] NOT NULL CHECK (methods <@ ARRAY['upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking']),
      fee_percent_basis_points integer NOT NULL DEFAULT 0 CHECK (fee_percent_basis_points BETWEEN 0 AND 10000),
      fee_fixed_minor bigint NOT NULL DEFAULT 0 CHECK (fee_fixed_minor >= 0),
      min_amount_minor bigint CHECK (min_amount_minor > 0),
      max_amount_minor bigint CHECK (max_amount_minor > 0),
      -- Inbound webhooks only from these networks, when set.
      webhook_ip_allowlist text[],
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (min_amount_minor IS NULL OR max_amount_minor IS NULL OR min_amount_minor <= max_amount_minor)
    );
    CREATE UNIQUE INDEX gateways_name_key ON gateways (lower(name));

    -- Global settings (the routing strategy) by key.
    CREATE TABLE platform_settings (
      key text PRIMARY KEY,
      value jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE merchant_payment_settings (
      merchant_id uuid PRIMARY KEY REFERENCES merchants (id) ON DELETE CASCADE,
      -- Set by an admin; null follows the global strategy.
      routing_strategy text CHECK (routing_strategy IN ('priority', 'weighted', 'success_rate', 'lowest_cost')),
      -- Set by the merchant: the gateways it allows, in its order; null allows every enabled one.
      preferred_gateway_ids uuid[],
      -- Set by an admin: the most one payment of this merchant may be; null: the method's limit only.
      payment_max_amount_minor bigint CHECK (payment_max_amount_minor > 0),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    -- An order registered before paying: a payment for it must be for exactly this amount.
    CREATE TABLE payment_orders (
      id uuid PRIMARY KEY,
      merchant_id uuid NOT NULL REFERENCES merchants (id),
      order_id text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 100),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      currency text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (merchant_id, order_id)
    );

    CREATE TABLE payments (
      id uuid PRIMARY KEY,
      merchant_id uuid NOT NULL REFERENCES merchants (id),
      order_id text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 100),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      currency text NOT NULL,
      method text NOT NULL CHECK (method IN ('upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking')),
      status text NOT NULL CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'expired',
        'partially_refunded', 'refunded')),
      customer jsonb NOT NULL,
      description text,
      return_url text,
      metadata jsonb NOT NULL DEFAULT '{}',
      -- The gateway of the attempt that decided the payment (or is deciding it).
      gateway_id uuid REFERENCES gateways (id),
      fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
      refunded_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
      next_action jsonb,
      error_code text,
      error_message text,
      expires_at timestamptz NOT NULL,
      succeeded_at timestamptz,
      late_success boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    -- One payment in flight or paid per order: a second one at the same moment (a double click)
    -- waits on the first's index entry and fails once the first commits, whatever the first
    -- became (pending or succeeded). A failed or expired payment leaves room for the next; one
    -- that succeeded after that (late_success: the payer was charged late) must still be
    -- recordable, so it stays out of the index.
    CREATE UNIQUE INDEX payments_order_key ON payments (merchant_id, order_id)
      WHERE status NOT IN ('failed', 'expired') AND NOT late_success;
    CREATE INDEX payments_order_idx ON payments (merchant_id, order_id);
    CREATE INDEX payments_merchant_time_idx ON payments (merchant_id, created_at DESC, id DESC);
    CREATE INDEX payments_open_expiry_idx ON payments (expires_at) WHERE status IN ('created', 'pending');

    CREATE TABLE payment_attempts (
      id uuid PRIMARY KEY,
      payment_id uuid NOT NULL REFERENCES payments (id),
      -- RESTRICT: a gateway that took payments is disabled, never deleted.
      gateway_id uuid NOT NULL REFERENCES gateways (id),
      attempt_number smallint NOT NULL CHECK (attempt_number BETWEEN 1 AND 20),
      status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
      gateway_reference text,
      error_code text,
      error_message text,
      retryable boolean,
      latency_ms integer CHECK (latency_ms >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (payment_id, attempt_number)
    );
    CREATE INDEX payment_attempts_gateway_time_idx ON payment_attempts (gateway_id, created_at);
    CREATE INDEX payment_attempts_reference_idx ON payment_attempts (gateway_id, gateway_reference)
      WHERE gateway_reference IS NOT NULL;

    CREATE TABLE payment_status_history (
      id uuid PRIMARY KEY,
      payment_id uuid NOT NULL REFERENCES payments (id),
      from_status text,
      to_status text NOT NULL,
      -- What moved it: initiate, failover, gateway_webhook, verify, expiry, refund.
      cause text NOT NULL,
      attempt_id uuid,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payment_status_history_payment_idx ON payment_status_history (payment_id, created_at);

    CREATE TABLE payment_refunds (
      id uuid PRIMARY KEY,
      payment_id uuid NOT NULL REFERENCES payments (id),
      merchant_id uuid NOT NULL REFERENCES merchants (id),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      currency text NOT NULL,
      reason text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
      gateway_reference text,
      error_code text,
      error_message text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payment_refunds_payment_idx ON payment_refunds (payment_id);

    -- Every inbound gateway webhook, kept with what verifying it found, for audit.
    CREATE TABLE gateway_webhooks (
      id uuid PRIMARY KEY,
      gateway_id uuid REFERENCES gateways (id) ON DELETE SET NULL,
      remote_address text,
      headers jsonb NOT NULL,
      body text NOT NULL,
      verification text NOT NULL CHECK (verification IN ('verified', 'bad_signature', 'stale', 'malformed',
        'ip_refused', 'replayed', 'unknown_gateway')),
      event_id text,
      payment_id uuid,
      -- What it did: applied, no_change (a late or out-of-order status), unmatched, ignored.
      effect text,
      received_at timestamptz NOT NULL DEFAULT now()
    );
    -- A gateway's event is acted on once; a replay finds it here.
    CREATE UNIQUE INDEX gateway_webhooks_event_key ON gateway_webhooks (gateway_id, event_id)
      WHERE verification = 'verified';
    CREATE INDEX gateway_webhooks_time_idx ON gateway_webhooks (received_at);

    -- A payment that succeeded after it expired or failed: the payer was charged late, someone must look.
    ALTER TABLE system_alerts DROP CONSTRAINT system_alerts_kind_check;
    ALTER TABLE system_alerts ADD CONSTRAINT system_alerts_kind_check CHECK (kind IN ('queue_backlog',
      'webhook_endpoint_disabled', 'database_slow', 'late_payment_success'));

    ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_type_check;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_type_check CHECK (type IN ('deposit',
      'withdrawal', 'transfer', 'qr_payment', 'fee', 'swap', 'hold', 'capture', 'void', 'reversal',
      'adjustment', 'payment', 'refund'));
  `.execute(db);
}
