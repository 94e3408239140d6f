import { type Kysely, sql } from 'kysely';

/** System alerts for admins: one open alert per kind and subject, raised and cleared by checks. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE system_alerts (
      id uuid PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('queue_backlog', 'webhook_endpoint_disabled', 'database_slow')),
      -- What it is about (a task, an endpoint id, 'database'): at most one open alert per kind and subject.
      subject text NOT NULL,
      message text NOT NULL,
      details jsonb NOT NULL DEFAULT '{}',
      raised_at timestamptz NOT NULL,
      cleared_at timestamptz
    );
    CREATE UNIQUE INDEX system_alerts_open_key ON system_alerts (kind, subject) WHERE cleared_at IS NULL;
    CREATE INDEX system_alerts_raised_idx ON system_alerts (raised_at DESC);
  `.execute(db);
}
