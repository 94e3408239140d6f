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
        v_line record;
        v_account ledger_accounts;
        v_postings jsonb := '[]'::jsonb;
        v_balance bigint;
      BEGIN
        IF jsonb_array_length(p_lines) < 2 THEN
          RAISE EXCEPTION 'UNBALANCED_ENTRY: an entry needs at least two postings';
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
        PERFORM 1 FROM ledger_accounts
          WHERE id IN (SELECT (line->>'accountId')::uuid FROM jsonb_array_elements(p_lines) AS line)
          ORDER BY id FOR UPDATE;
        IF EXISTS (
          SELECT 1 FROM jsonb_array_elements(p_lines) AS line
          LEFT JOIN ledger_accounts AS a ON a.id = (line->>'accountId')::uuid
          WHERE a.id IS NULL
        ) THEN
          RAISE EXCEPTION 'UNKNOWN_ACCOUNT: a posting names an account that does not exist';
        END IF;
        IF EXISTS (
          SELECT 1 FROM jsonb_array_elements(p_lines) AS line
          JOIN ledger_accounts AS a ON a.id = (line->>'accountId')::uuid
          GROUP BY a.currency HAVING sum((line->>'amountMinor')::bigint) <> 0
        ) THEN
          RAISE EXCEPTION 'UNBALANCED_ENTRY: postings do not sum to zero per currency';
        END IF;

        FOR v_line IN
          SELECT (line->>'id')::uuid AS id, (line->>'accountId')::uuid AS account_id,
            (line->>'amountMinor')::bigint AS amount
          FROM jsonb_array_elements(p_lines) WITH ORDINALITY AS lines (line, position)
          ORDER BY position
        LOOP
          IF v_line.amount = 0 THEN
            RAISE EXCEPTION 'INVALID_AMOUNT: a posting of zero';
          END IF;
          SELECT * INTO v_account FROM ledger_accounts WHERE id = v_line.account_id;
          IF v_account.status <> 'open' THEN
            RAISE EXCEPTION 'ACCOUNT_NOT_OPEN: account % is %', v_account.id, v_account.status;
          END IF;
          v_balance := v_account.balance_minor
            + CASE v_account.normal_side WHEN 'debit' THEN v_line.amount ELSE -v_line.amount END;
          -- Checked before the write (the table's CHECK is the backstop): held money is not spendable.
          IF v_balance < v_account.balance_minor AND NOT v_account.allow_negative
            AND v_balance < v_account.held_minor THEN
            RAISE EXCEPTION 'INSUFFICIENT_FUNDS: account % would fall below its available balance', v_account.id;
          END IF;
          UPDATE ledger_accounts SET
            debits_minor = debits_minor + greatest(v_line.amount, 0),
            credits_minor = credits_minor + greatest(-v_line.amount, 0),
            balance_minor = v_balance,
            updated_at = v_at
          WHERE id = v_line.account_id;
          INSERT INTO ledger_postings (id, entry_id, account_id, amount_minor, currency, balance_after_minor, created_at)
          VALUES (v_line.id, v_entry_id, v_account.id, v_line.amount, v_account.currency, v_balance, v_at);
          v_postings := v_postings || jsonb_build_object('accountId', v_account.id,
            'amountMinor', v_line.amount::text, 'balanceAfterMinor', v_balance::text);
        END LOOP;
        RETURN jsonb_build_object('entryId', v_entry_id, 'replayed', false, 'postings', v_postings);
      END $$;
  `.execute(db);
}
