import { type Kysely, sql } from 'kysely';

/**
 * The double-entry ledger: accounts with running totals, append-only journal entries and their
 * postings, holds. `ledger_post` writes an entry in one round trip: it locks the accounts in id
 * order, refuses what would break a rule, updates the running totals and records each posting
 * with the balance it left. A deferred trigger refuses any entry that does not sum to zero per
 * currency, whatever wrote it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE ledger_accounts (
      id uuid PRIMARY KEY,
      owner_type text NOT NULL CHECK (owner_type IN ('user', 'merchant', 'platform')),
      owner_id uuid,
      purpose text NOT NULL CHECK (purpose IN (
        'wallet', 'merchant_payable', 'gateway_clearing', 'fees_revenue', 'payouts_in_transit',
        'fx', 'suspense', 'external_funding')),
      currency text NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
      -- A hot account is spread over shards 0..n-1; its balance is the sum of theirs.
      shard smallint NOT NULL DEFAULT 0 CHECK (shard >= 0),
      normal_side text NOT NULL CHECK (normal_side IN ('debit', 'credit')),
      allow_negative boolean NOT NULL,
      debits_minor bigint NOT NULL DEFAULT 0 CHECK (debits_minor >= 0),
      credits_minor bigint NOT NULL DEFAULT 0 CHECK (credits_minor >= 0),
      -- In the account's normal side: debits - credits for a debit-normal account, else the reverse.
      balance_minor bigint NOT NULL DEFAULT 0,
      held_minor bigint NOT NULL DEFAULT 0 CHECK (held_minor >= 0),
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'frozen', 'closed')),
      low_balance_threshold_minor bigint CHECK (low_balance_threshold_minor >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (balance_minor = CASE normal_side WHEN 'debit' THEN debits_minor - credits_minor
                                              ELSE credits_minor - debits_minor END),
      CHECK (allow_negative OR balance_minor >= held_minor),
      CHECK ((owner_type = 'platform') = (owner_id IS NULL))
    );
    CREATE UNIQUE INDEX ledger_accounts_key ON ledger_accounts (owner_type, owner_id, purpose, currency, shard)
      NULLS NOT DISTINCT;
    CREATE INDEX ledger_accounts_owner_idx ON ledger_accounts (owner_id) WHERE owner_id IS NOT NULL;

    CREATE TABLE ledger_entries (
      id uuid PRIMARY KEY,
      type text NOT NULL CHECK (type IN ('deposit', 'withdrawal', 'transfer', 'qr_payment', 'fee', 'swap',
        'hold', 'capture', 'void', 'reversal', 'adjustment')),
      description text NOT NULL DEFAULT '',
      metadata jsonb NOT NULL DEFAULT '{}',
      -- Why this entry exists, unique per type: the same reference never posts twice.
      idempotency_ref text NOT NULL,
      reverses_entry_id uuid REFERENCES ledger_entries (id),
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (type, idempotency_ref)
    );
    CREATE INDEX ledger_entries_time_idx ON ledger_entries (created_at DESC, id DESC);
    CREATE UNIQUE INDEX ledger_entries_reversal_key ON ledger_entries (reverses_entry_id)
      WHERE reverses_entry_id IS NOT NULL;

    CREATE TABLE ledger_postings (
      id uuid PRIMARY KEY,
      entry_id uuid NOT NULL REFERENCES ledger_entries (id),
      account_id uuid NOT NULL REFERENCES ledger_accounts (id),
      -- Signed: a debit is positive, a credit negative; an entry's postings sum to zero per currency.
      amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
      currency text NOT NULL,
      balance_after_minor bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ledger_postings_entry_idx ON ledger_postings (entry_id);
    CREATE INDEX ledger_postings_account_idx ON ledger_postings (account_id, created_at DESC, id DESC);

    CREATE TABLE ledger_holds (
      id uuid PRIMARY KEY,
      account_id uuid NOT NULL REFERENCES ledger_accounts (id),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      captured_minor bigint NOT NULL DEFAULT 0 CHECK (captured_minor >= 0),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'captured', 'voided', 'expired')),
      reference text NOT NULL,
      expires_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (captured_minor <= amount_minor),
      UNIQUE (account_id, reference)
    );
    CREATE INDEX ledger_holds_expiry_idx ON ledger_holds (expires_at) WHERE status = 'active';

    -- Entries and postings are written once: a correction is a reversing entry.
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$;
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
      FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

    -- Checked at commit, once every posting of the entry is in.
    CREATE FUNCTION ledger_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (
          SELECT 1 FROM ledger_postings WHERE entry_id = NEW.entry_id
          GROUP BY currency HAVING sum(amount_minor) <> 0
        ) OR (SELECT count(*) FROM ledger_postings WHERE entry_id = NEW.entry_id) < 2 THEN
          RAISE EXCEPTION 'UNBALANCED_ENTRY: entry % does not sum to zero per currency', NEW.entry_id
            USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$;
    CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_must_balance();

    -- p_entry: { id, type, description, metadata, idempotencyRef, reversesEntryId, createdAt }
    -- p_lines: [{ id, accountId, amountMinor (text: a bigint survives JSON) }], in posting order.
    -- Returns { entryId, replayed, postings: [{ accountId, amountMinor, balanceAfterMinor }] }.
    -- Refusals raise P0001 with a message that starts with a stable code.
    CREATE FUNCTION ledger_post(p_entry jsonb, p_lines jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
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
      BEGIN
        -- The lines, parsed once, in posting order.
        SELECT array_agg((line->>'id')::uuid ORDER BY position),
               array_agg((line->>'accountId')::uuid ORDER BY position),
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
          -- Edge-triggered: one event when the available balance goes from at or above the
          -- owner's threshold to below it; it re-arms once the balance is back above.
          IF v_account.low_balance_threshold_minor IS NOT NULL
            AND v_account.balance_minor - v_account.held_minor >= v_account.low_balance_threshold_minor
            AND v_balance - v_account.held_minor < v_account.low_balance_threshold_minor THEN
            INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
            VALUES (gen_random_uuid(),
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
        RETURN jsonb_build_object('entryId', v_entry_id, 'replayed', false, 'postings', v_postings);
      END $$;
  `.execute(db);
}
