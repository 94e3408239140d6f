import { type Kysely, sql } from 'kysely';
import { applyToRollups } from './0002_qr_collections.ts';

const ROLLUP_SHARDS = 16;

/**
 * A money move in one round trip: `ledger_post` takes the request's Idempotency-Key as a third
 * argument and checks it, posts, and stores the reply in the same statement (so in the same
 * commit), instead of a request hook claiming the key in a statement and a commit of its own.
 * DESIGN.md section 8: round trips are what cost; the transfer route went from six to two.
 * And a posting to a hot account may name all its shards, `ledger_post` picking the connection's;
 * the QR rollups spread over 16 shards instead of 8; and a wallet's every movement records a
 * `wallet.credited` or `wallet.debited` event.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // More rollup shards than the server's pool has connections (DB_POOL_MAX, 10 by default): with
  // 8, two of ten connections always shared a busy merchant's bucket row and queued on its lock.
  await sql`
    CREATE OR REPLACE FUNCTION qr_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${sql.raw(applyToRollups('new_rows', '+', ROLLUP_SHARDS))} RETURN NULL; END $$;
    CREATE OR REPLACE FUNCTION qr_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${sql.raw(applyToRollups('old_rows', '-', ROLLUP_SHARDS))} RETURN NULL; END $$;
    CREATE OR REPLACE FUNCTION qr_rollup_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${sql.raw(applyToRollups('old_rows', '-', ROLLUP_SHARDS))}
        ${sql.raw(applyToRollups('new_rows', '+', ROLLUP_SHARDS))} RETURN NULL; END $$;
  `.execute(db);

  await sql`
    -- A time-ordered UUID (version 7: milliseconds since the epoch, then random bits) for rows
    -- made in SQL, like those the application makes: new rows land at the end of their indexes
    -- instead of at random pages. PostgreSQL 18 has uuidv7(); 15 to 17 do not.
    CREATE FUNCTION tijori_uuidv7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
      SELECT encode(
        set_bit(set_bit(
          overlay(uuid_send(gen_random_uuid())
            PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
            FROM 1 FOR 6),
          52, 1), 53, 1), 'hex')::uuid
    $$;

    -- p_key: { scope, key, fingerprint, now }. Returns { outcome: new | replay | reused | in_flight,
    -- statusCode?, body? }. A transaction-scoped advisory lock on the key stands for "in flight":
    -- a second request with the key while the first's transaction is open is told so (409) at
    -- once, rather than waiting on the first's row.
    CREATE FUNCTION idempotency_check(p_key jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        v_now timestamptz := (p_key->>'now')::timestamptz;
        v_row idempotency_keys;
      BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtextextended((p_key->>'scope') || ' ' || (p_key->>'key'), 0)) THEN
          RETURN '{"outcome": "in_flight"}'::jsonb;
        END IF;
        SELECT * INTO v_row FROM idempotency_keys
          WHERE scope = p_key->>'scope' AND key = p_key->>'key' AND expires_at > v_now;
        IF NOT FOUND THEN
          RETURN '{"outcome": "new"}'::jsonb;
        END IF;
        IF v_row.request_fingerprint <> p_key->>'fingerprint' THEN
          RETURN '{"outcome": "reused"}'::jsonb;
        END IF;
        IF v_row.state = 'completed' THEN
          RETURN jsonb_build_object('outcome', 'replay', 'statusCode', v_row.response_status,
            'body', v_row.response_body);
        END IF;
        -- Claimed by a request hook: in flight until its lock runs out, then the same request may take over.
        IF v_row.locked_until > v_now THEN
          RETURN '{"outcome": "in_flight"}'::jsonb;
        END IF;
        RETURN '{"outcome": "new"}'::jsonb;
      END $$;

    -- p_key as above plus { expiresAt, statusCode, body }: the reply, stored as answered. A key
    -- claimed meanwhile by a request hook on another route is not overwritten: the change rolls back.
    CREATE FUNCTION idempotency_store(p_key jsonb) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        v_now timestamptz := (p_key->>'now')::timestamptz;
      BEGIN
        INSERT INTO idempotency_keys AS existing (scope, key, request_fingerprint, claim_token, state,
          response_status, response_body, locked_until, expires_at, created_at)
        VALUES (p_key->>'scope', p_key->>'key', p_key->>'fingerprint', gen_random_uuid(), 'completed',
          (p_key->>'statusCode')::integer, p_key->'body', v_now, (p_key->>'expiresAt')::timestamptz, v_now)
        ON CONFLICT (scope, key) DO UPDATE SET
          request_fingerprint = excluded.request_fingerprint, claim_token = excluded.claim_token,
          state = excluded.state, response_status = excluded.response_status,
          response_body = excluded.response_body, locked_until = excluded.locked_until,
          expires_at = excluded.expires_at, created_at = excluded.created_at
        WHERE existing.expires_at <= v_now
          OR (existing.state = 'in_flight' AND existing.locked_until <= v_now
              AND existing.request_fingerprint = excluded.request_fingerprint);
        IF NOT FOUND THEN
          RAISE EXCEPTION 'IDEMPOTENCY_KEY_IN_FLIGHT: the key was claimed by another request';
        END IF;
      END $$;

    -- Raises IDEMPOTENCY_KEY_NOT_NEW, the check's outcome as its DETAIL, unless the key is new.
    CREATE FUNCTION idempotency_require_new(p_key jsonb) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        v_outcome jsonb := idempotency_check(p_key);
      BEGIN
        IF v_outcome->>'outcome' <> 'new' THEN
          RAISE EXCEPTION 'IDEMPOTENCY_KEY_NOT_NEW: the key was used before' USING DETAIL = v_outcome::text;
        END IF;
      END $$;

    -- For a use case that posts nothing (a payment recorded as Pending): check and store in one call.
    CREATE FUNCTION idempotency_settle(p_key jsonb) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM idempotency_require_new(p_key);
        PERFORM idempotency_store(p_key);
      END $$;

    -- Every event row is written on a payment's or a transfer's path and updated once when it is
    -- dispatched: indexes nothing reads are not kept (lists by merchant or time come with a reader).
    DROP INDEX events_merchant_idx;
    DROP INDEX events_time_idx;
    -- The low-balance check's lookup, kept to the few events it reads.
    DROP INDEX events_user_idx;
    CREATE INDEX events_low_balance_idx ON events ((payload->>'accountId'), created_at)
      WHERE type = 'wallet.low_balance';

    DROP FUNCTION ledger_post(jsonb, jsonb);

    -- As in 0003, plus p_idempotency (see idempotency_check and idempotency_store): a key that is
    -- not new raises IDEMPOTENCY_KEY_NOT_NEW and posts nothing. A line names
    -- either its "accountId" or a hot account's "shardIds".
    CREATE FUNCTION ledger_post(p_entry jsonb, p_lines jsonb, p_idempotency jsonb DEFAULT NULL)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        v_entry_id uuid := (p_entry->>'id')::uuid;
        v_at timestamptz := coalesce((p_entry->>'createdAt')::timestamptz, now());
        v_existing uuid;
        v_posting_ids uuid[];
        v_account_ids uuid[];
        v_amounts bigint[];
        v_balances bigint[] := '{}';
        v_currencies text[] := '{}';
        v_account ledger_accounts;
        v_balance bigint;
        v_count integer;
        v_postings jsonb := '[]'::jsonb;
        v_wallet_owners uuid[] := '{}';
        v_increases boolean[] := '{}';
      BEGIN
        -- A key already answered (or in flight, or used for another request) stops the whole
        -- statement, so a caller that wrote before posting (in the same statement) keeps nothing.
        IF p_idempotency IS NOT NULL THEN
          PERFORM idempotency_require_new(p_idempotency);
        END IF;

        -- The lines, parsed once, in posting order.
        -- A line naming a hot account's shards ("shardIds") posts to the one this connection owns
        -- (its backend pid modulo their number): the server's connections, with consecutive pids,
        -- then never queue behind each other on one shard's row lock, as a random pick would.
        SELECT array_agg((line->>'id')::uuid ORDER BY position),
               array_agg(coalesce((line->>'accountId')::uuid,
                 (line->'shardIds'->>(pg_backend_pid() % jsonb_array_length(line->'shardIds')))::uuid)
                 ORDER BY position),
               array_agg((line->>'amountMinor')::bigint ORDER BY position)
          INTO v_posting_ids, v_account_ids, v_amounts
          FROM jsonb_array_elements(p_lines) WITH ORDINALITY AS lines (line, position);
        v_count := coalesce(array_length(v_account_ids, 1), 0);
        IF v_count < 2 THEN
          RAISE EXCEPTION 'UNBALANCED_ENTRY: an entry needs at least two postings';
        END IF;
        IF 0 = ANY (v_amounts) THEN
          RAISE EXCEPTION 'INVALID_AMOUNT: a posting of zero';
        END IF;

        INSERT INTO ledger_entries (id, type, description, metadata, idempotency_ref, reverses_entry_id, created_at)
        VALUES (v_entry_id, p_entry->>'type', coalesce(p_entry->>'description', ''),
          coalesce(p_entry->'metadata', '{}'::jsonb), p_entry->>'idempotencyRef',
          (p_entry->>'reversesEntryId')::uuid, v_at)
        ON CONFLICT (type, idempotency_ref) DO NOTHING;
        IF NOT FOUND THEN
          SELECT id INTO v_existing FROM ledger_entries
            WHERE type = p_entry->>'type' AND idempotency_ref = p_entry->>'idempotencyRef';
          IF p_idempotency IS NOT NULL THEN
            PERFORM idempotency_store(p_idempotency);
          END IF;
          RETURN jsonb_build_object('entryId', v_existing, 'replayed', true, 'postings', '[]'::jsonb);
        END IF;

        -- One fixed order (by id) for every posting: two entries over the same accounts cannot deadlock.
        PERFORM 1 FROM ledger_accounts WHERE id = ANY (v_account_ids) ORDER BY id FOR UPDATE;

        -- Check everything before writing anything.
        FOR i IN 1 .. v_count LOOP
          SELECT * INTO v_account FROM ledger_accounts WHERE id = v_account_ids[i];
          IF NOT FOUND THEN
            RAISE EXCEPTION 'UNKNOWN_ACCOUNT: a posting names an account that does not exist';
          END IF;
          IF v_account.status <> 'open' THEN
            RAISE EXCEPTION 'ACCOUNT_NOT_OPEN: account % is %', v_account.id, v_account.status;
          END IF;
          -- An account named twice in one entry sees its own earlier line.
          v_balance := coalesce(
            (SELECT b FROM unnest(v_account_ids[1:i - 1], v_balances) WITH ORDINALITY AS prior (a, b, n)
              WHERE a = v_account.id ORDER BY n DESC LIMIT 1),
            v_account.balance_minor)
            + CASE v_account.normal_side WHEN 'debit' THEN v_amounts[i] ELSE -v_amounts[i] END;
          -- Held money is not spendable (the table's CHECK is the backstop).
          IF (v_account.normal_side = 'debit') = (v_amounts[i] < 0) AND NOT v_account.allow_negative
            AND v_balance < v_account.held_minor THEN
            RAISE EXCEPTION 'INSUFFICIENT_FUNDS: account % would fall below its available balance', v_account.id;
          END IF;
          v_balances := v_balances || v_balance;
          v_currencies := v_currencies || v_account.currency;
          v_wallet_owners := v_wallet_owners || CASE WHEN v_account.purpose = 'wallet' THEN v_account.owner_id END;
          v_increases := v_increases || ((v_account.normal_side = 'debit') = (v_amounts[i] > 0));
          -- Edge-triggered: one event when the available balance goes from at or above the
          -- owner's threshold to below it; it re-arms once the balance is back above.
          IF v_account.low_balance_threshold_minor IS NOT NULL
            AND v_account.balance_minor - v_account.held_minor >= v_account.low_balance_threshold_minor
            AND v_balance - v_account.held_minor < v_account.low_balance_threshold_minor THEN
            INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
            VALUES (tijori_uuidv7(),
              CASE v_account.owner_type WHEN 'merchant' THEN v_account.owner_id END,
              CASE v_account.owner_type WHEN 'user' THEN v_account.owner_id END,
              'wallet.low_balance',
              jsonb_build_object('accountId', v_account.id, 'currency', v_account.currency,
                'availableMinor', (v_balance - v_account.held_minor)::text,
                'thresholdMinor', v_account.low_balance_threshold_minor::text, 'entryId', v_entry_id),
              v_at);
          END IF;
        END LOOP;
        IF EXISTS (
          SELECT 1 FROM unnest(v_currencies, v_amounts) AS line (currency, amount)
          GROUP BY currency HAVING sum(amount) <> 0
        ) THEN
          RAISE EXCEPTION 'UNBALANCED_ENTRY: postings do not sum to zero per currency';
        END IF;

        FOR i IN 1 .. v_count LOOP
          UPDATE ledger_accounts SET
            debits_minor = debits_minor + greatest(v_amounts[i], 0),
            credits_minor = credits_minor + greatest(-v_amounts[i], 0),
            balance_minor = v_balances[i],
            updated_at = v_at
          WHERE id = v_account_ids[i];
          v_postings := v_postings || jsonb_build_object('accountId', v_account_ids[i],
            'amountMinor', v_amounts[i]::text, 'balanceAfterMinor', v_balances[i]::text);
        END LOOP;
        INSERT INTO ledger_postings (id, entry_id, account_id, amount_minor, currency, balance_after_minor, created_at)
        SELECT posting_id, v_entry_id, account_id, amount, currency, balance_after, v_at
        FROM unnest(v_posting_ids, v_account_ids, v_amounts, v_currencies, v_balances)
          AS line (posting_id, account_id, amount, currency, balance_after);
        -- Every movement of a wallet is an event for its owner, but a transfer's: the transfer
        -- reports itself to both users in one transfer.completed event.
        IF p_entry->>'type' <> 'transfer' AND cardinality(array_remove(v_wallet_owners, NULL)) > 0 THEN
          INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
          SELECT tijori_uuidv7(), NULL, owner_id,
            CASE WHEN increase THEN 'wallet.credited' ELSE 'wallet.debited' END,
            jsonb_build_object('accountId', account_id, 'currency', currency, 'amountMinor', abs(amount)::text,
              'balanceAfterMinor', balance_after::text, 'entryId', v_entry_id, 'entryType', p_entry->>'type'),
            v_at
          FROM unnest(v_account_ids, v_amounts, v_currencies, v_balances, v_wallet_owners, v_increases)
            AS line (account_id, amount, currency, balance_after, owner_id, increase)
          WHERE owner_id IS NOT NULL;
        END IF;
        IF p_idempotency IS NOT NULL THEN
          PERFORM idempotency_store(p_idempotency);
        END IF;
        RETURN jsonb_build_object('entryId', v_entry_id, 'replayed', false, 'postings', v_postings);
      END $$;
  `.execute(db);
}
