import { type Kysely, sql } from 'kysely';

/** In-app notifications, one row per user; unread ones first. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE notifications (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind ~ '^[a-z_]+(\\.[a-z_]+)?$'),
      title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
      body text NOT NULL CHECK (length(body) <= 2000),
      data jsonb NOT NULL DEFAULT '{}',
      -- The event it tells about, when it came from one: at most one notification per event and user.
      event_id uuid,
      read_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (event_id, user_id)
    );
    CREATE INDEX notifications_user_idx ON notifications (user_id, (read_at IS NOT NULL), created_at DESC, id DESC);
  `.execute(db);
}
