import { type Kysely, sql } from 'kysely';

/**
 * Outbound webhooks. An event is dispatched once (`dispatched_at`): the dispatcher turns it into
 * one delivery per subscribed endpoint, in the same transaction that marks it. Each attempt at a
 * delivery is a row of its own; an endpoint's signing secret is stored sealed (AES-256-GCM under
 * ENCRYPTION_KEY), as is the previous one while a rotation overlaps.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE events ADD COLUMN dispatched_at timestamptz;
    CREATE INDEX events_undispatched_idx ON events (created_at, id) WHERE dispatched_at IS NULL;

    CREATE TABLE webhook_endpoints (
      id uuid PRIMARY KEY,
      merchant_id uuid NOT NULL REFERENCES merchants (id),
      url text NOT NULL CHECK (url ~ '^https?://'),
      event_types text[] NOT NULL CHECK (cardinality(event_types) > 0),
      enabled boolean NOT NULL DEFAULT true,
      secret_sealed text NOT NULL,
      previous_secret_sealed text,
      previous_secret_expires_at timestamptz,
      -- The first failed attempt since the last success: 24 hours of failures disable the endpoint.
      failing_since timestamptz,
      disabled_reason text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_endpoints_merchant_idx ON webhook_endpoints (merchant_id);

    CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY,
      event_id uuid NOT NULL REFERENCES events (id),
      endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
      attempt integer NOT NULL CHECK (attempt >= 1),
      status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
      response_status integer,
      duration_ms integer,
      error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      -- On a failed attempt with another to come: when that one is due.
      next_attempt_at timestamptz,
      UNIQUE (event_id, endpoint_id, attempt)
    );
    CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
    CREATE INDEX webhook_deliveries_archive_idx ON webhook_deliveries (created_at) WHERE status = 'succeeded';

    -- Succeeded attempts older than the retention move here (the daily archive job): the live
    -- table stays small; the history is kept.
    CREATE TABLE webhook_deliveries_archive (LIKE webhook_deliveries INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    ALTER TABLE webhook_deliveries_archive ADD PRIMARY KEY (id);
  `.execute(db);
}
