import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      email text NOT NULL CHECK (email = lower(email)),
      password_hash text NOT NULL,
      role text NOT NULL CHECK (role IN ('user', 'merchant', 'vendor', 'admin')),
      is_verified boolean NOT NULL DEFAULT false,
      is_active boolean NOT NULL DEFAULT true,
      last_login_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_email_key ON users (lower(email));

    CREATE TABLE refresh_tokens (
      id uuid PRIMARY KEY,
      family_id uuid NOT NULL,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      token_hash text NOT NULL UNIQUE,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      revoked_at timestamptz,
      revoked_reason text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
    CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

    CREATE TABLE login_throttle (
      key text PRIMARY KEY,
      failure_count integer NOT NULL,
      window_started_at timestamptz NOT NULL,
      locked_until timestamptz
    );

    CREATE TABLE merchants (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL UNIQUE REFERENCES users (id),
      business_name text NOT NULL CHECK (length(business_name) BETWEEN 1 AND 200),
      contact_email text NOT NULL,
      contact_phone text,
      settlement_vpa text,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
      client_key text UNIQUE,
      client_secret_hash text,
      credentials_issued_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((client_key IS NULL) = (client_secret_hash IS NULL))
    );

    CREATE TABLE merchant_api_usage (
      merchant_id uuid NOT NULL REFERENCES merchants (id),
      day date NOT NULL,
      request_count bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (merchant_id, day)
    );

    CREATE TABLE audit_logs (
      id uuid PRIMARY KEY,
      actor_id uuid,
      actor_role text,
      action text NOT NULL,
      target_type text,
      target_id text,
      ip text,
      user_agent text,
      request_id text,
      details jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC, id DESC);
    CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_id, created_at DESC);
    CREATE INDEX audit_logs_action_idx ON audit_logs (action, created_at DESC);
    CREATE INDEX audit_logs_target_idx ON audit_logs (target_type, target_id);

    -- The audit trail is append-only for every role, the table owner included: a trigger holds
    -- where privileges alone would not (the application connects as the owner).
    CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER audit_logs_no_update_delete BEFORE UPDATE OR DELETE ON audit_logs
      FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();
    CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
      FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();
  `.execute(db);
}
