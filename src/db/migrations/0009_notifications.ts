import { type Kysely, sql } from 'kysely';

/** In-app notifications, one row per user (unread ones first), and each user's other channels. */
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

    -- Where a user also wants notifications, besides the in-app list and the log.
    CREATE TABLE notification_channels (
      user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      email_enabled boolean NOT NULL DEFAULT false,
      phone text CHECK (phone ~ '^[+][1-9][0-9]{6,14}$'),
      sms_enabled boolean NOT NULL DEFAULT false,
      whatsapp_enabled boolean NOT NULL DEFAULT false,
      slack_webhook_url text,
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (NOT (sms_enabled OR whatsapp_enabled) OR phone IS NOT NULL)
    );
  `.execute(db);
}
