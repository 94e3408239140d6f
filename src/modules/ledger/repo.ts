import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import type {
  LedgerAccountStatus,
  LedgerEntryType,
  LedgerHoldStatus,
  LedgerOwnerType,
  LedgerPurpose,
} from '../../db/types.ts';
import type { PageRequest } from '../../http/pagination.ts';

export const ACCOUNT_COLUMNS = [
  'id',
  'ownerType',
  'ownerId',
  'purpose',
  'currency',
  'shard',
  'normalSide',
  'allowNegative',
  'debitsMinor',
  'creditsMinor',
  'balanceMinor',
  'heldMinor',
  'status',
  'lowBalanceThresholdMinor',
  'createdAt',
  'updatedAt',
] as const;

export interface AccountRow {
  id: string;
  ownerType: LedgerOwnerType;
  ownerId: string | null;
  purpose: LedgerPurpose;
  currency: string;
  shard: number;
  normalSide: 'debit' | 'credit';
  allowNegative: boolean;
  debitsMinor: bigint;
  creditsMinor: bigint;
  balanceMinor: bigint;
  heldMinor: bigint;
  status: LedgerAccountStatus;
  lowBalanceThresholdMinor: bigint | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccountKey {
  readonly ownerType: LedgerOwnerType;
  readonly ownerId: string | null;
  readonly purpose: LedgerPurpose;
  readonly currency: string;
}

export interface EntryInput {
  readonly id: string;
  readonly type: LedgerEntryType;
  readonly description?: string;
  readonly metadata?: Record<string, unknown>;
  readonly idempotencyRef: string;
  readonly reversesEntryId?: string | null;
  readonly createdAt: Date;
}

/**
 * One line of an entry: an account, or the shards of a hot account (the posting goes to the shard
 * of the database connection, so concurrent postings take different row locks).
 */
export type Posting = (
  | { readonly accountId: string; readonly shardIds?: undefined }
  | { readonly shardIds: readonly string[]; readonly accountId?: undefined }
) & {
  /** Signed: a debit is positive, a credit negative. */
  readonly amountMinor: bigint;
};

export type PostingLine = Posting & { readonly id: string };

export interface PostResult {
  readonly entryId: string;
  /** True when an entry with the same type and idempotency reference already existed. */
  readonly replayed: boolean;
  readonly postings: readonly { accountId: string; amountMinor: bigint; balanceAfterMinor: bigint }[];
}

/**
 * `ledger_post(...)` as an SQL expression: the database function locks, checks, updates totals and
 * writes the entry. `key` (`keyArgument(...)`) is checked, and its reply stored, by the function
 * itself (migration 0006).
 */
export function postingCall(
  entry: EntryInput,
  lines: readonly PostingLine[],
  key: string | null,
): RawBuilder<PostingOutcome> {
  return sql<PostingOutcome>`ledger_post(
    ${JSON.stringify({ ...entry, createdAt: entry.createdAt.toISOString() })}::jsonb,
    ${JSON.stringify(lines.map((line) => ({ ...line, amountMinor: line.amountMinor.toString() })))}::jsonb,
    ${key}::jsonb)`;
}

export interface PostingOutcome {
  entryId: string;
  replayed: boolean;
  postings: Record<string, string>[];
}

/** One round trip. */
export async function post(executor: Executor, call: RawBuilder<PostingOutcome>): Promise<PostResult> {
  const { rows } = await sql<{ result: PostingOutcome }>`SELECT ${call} AS result`.execute(executor);
  const result = rows[0]?.result;
  if (result === undefined) throw new Error('ledger_post returned nothing');
  return {
    entryId: result.entryId,
    replayed: result.replayed,
    postings: result.postings.map((posting) => ({
      accountId: posting.accountId as string,
      amountMinor: BigInt(posting.amountMinor as string),
      balanceAfterMinor: BigInt(posting.balanceAfterMinor as string),
    })),
  };
}

/** Creates the account's shards 0..shards-1 that are missing. */
export async function ensureAccounts(
  executor: Executor,
  key: AccountKey,
  options: {
    shards: number;
    normalSide: 'debit' | 'credit';
    allowNegative: boolean;
    newIds: readonly string[];
  },
): Promise<void> {
  await executor
    .insertInto('ledgerAccounts')
    .values(
      options.newIds.slice(0, options.shards).map((id, shard) => ({
        id,
        ...key,
        shard,
        normalSide: options.normalSide,
        allowNegative: options.allowNegative,
      })),
    )
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** The account's shards by shard, each saying whether the current transaction created it. */
export async function findAccountIds(
  executor: Executor,
  key: AccountKey,
): Promise<{ id: string; createdByThisTransaction: boolean }[]> {
  let query = executor
    .selectFrom('ledgerAccounts')
    .select([
      'id',
      sql<boolean>`coalesce(xmin = pg_current_xact_id_if_assigned()::xid, false)`.as(
        'createdByThisTransaction',
      ),
    ])
    .where('ownerType', '=', key.ownerType)
    .where('purpose', '=', key.purpose)
    .where('currency', '=', key.currency);
  query =
    key.ownerId === null ? query.where('ownerId', 'is', null) : query.where('ownerId', '=', key.ownerId);
  const rows = await query.orderBy('shard').execute();
  return rows.map((row) => ({ id: row.id, createdByThisTransaction: row.createdByThisTransaction === true }));
}

export async function findAccounts(executor: Executor, key: AccountKey): Promise<AccountRow[]> {
  let query = executor
    .selectFrom('ledgerAccounts')
    .select(ACCOUNT_COLUMNS)
    .where('ownerType', '=', key.ownerType)
    .where('purpose', '=', key.purpose)
    .where('currency', '=', key.currency);
  query =
    key.ownerId === null ? query.where('ownerId', 'is', null) : query.where('ownerId', '=', key.ownerId);
  return query.orderBy('shard').execute();
}

export async function findAccountById(
  executor: Executor,
  id: string,
  lock: boolean = false,
): Promise<AccountRow | undefined> {
  let query = executor.selectFrom('ledgerAccounts').select(ACCOUNT_COLUMNS).where('id', '=', id);
  if (lock) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function setAccountStatus(
  executor: Executor,
  id: string,
  status: LedgerAccountStatus,
  at: Date,
) {
  return executor
    .updateTable('ledgerAccounts')
    .set({ status, updatedAt: at })
    .where('id', '=', id)
    .returning(ACCOUNT_COLUMNS)
    .executeTakeFirst();
}

export async function changeHeld(
  executor: Executor,
  accountId: string,
  deltaMinor: bigint,
  at: Date,
): Promise<void> {
  await executor
    .updateTable('ledgerAccounts')
    .set({ heldMinor: sql<bigint>`held_minor + ${deltaMinor}`, updatedAt: at })
    .where('id', '=', accountId)
    .execute();
}

export const HOLD_COLUMNS = [
  'id',
  'accountId',
  'amountMinor',
  'capturedMinor',
  'status',
  'reference',
  'expiresAt',
  'createdAt',
  'updatedAt',
] as const;

export interface HoldRow {
  id: string;
  accountId: string;
  amountMinor: bigint;
  capturedMinor: bigint;
  status: LedgerHoldStatus;
  reference: string;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export async function insertHold(
  executor: Executor,
  hold: Omit<HoldRow, 'capturedMinor' | 'status' | 'updatedAt'>,
): Promise<HoldRow | undefined> {
  return executor
    .insertInto('ledgerHolds')
    .values({ ...hold, updatedAt: hold.createdAt })
    .onConflict((oc) => oc.columns(['accountId', 'reference']).doNothing())
    .returning(HOLD_COLUMNS)
    .executeTakeFirst();
}

export async function findHold(
  executor: Executor,
  key: { id: string } | { accountId: string; reference: string },
  lock = false,
): Promise<HoldRow | undefined> {
  let query = executor.selectFrom('ledgerHolds').select(HOLD_COLUMNS);
  query =
    'id' in key
      ? query.where('id', '=', key.id)
      : query.where('accountId', '=', key.accountId).where('reference', '=', key.reference);
  if (lock) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function updateHold(
  executor: Executor,
  id: string,
  patch: { capturedMinor?: bigint; status?: LedgerHoldStatus; updatedAt: Date },
): Promise<HoldRow> {
  return executor
    .updateTable('ledgerHolds')
    .set(patch)
    .where('id', '=', id)
    .returning(HOLD_COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function findExpiredHoldIds(executor: Executor, now: Date, limit: number): Promise<string[]> {
  const rows = await executor
    .selectFrom('ledgerHolds')
    .select('id')
    .where('status', '=', 'active')
    .where('expiresAt', '<=', now)
    .orderBy('expiresAt')
    .limit(limit)
    .execute();
  return rows.map((row) => row.id);
}

export interface AccountFilter {
  readonly ownerId?: string;
  readonly purpose?: LedgerPurpose;
  readonly currency?: string;
}

export async function findAccountPage(
  executor: Executor,
  filter: AccountFilter,
  page: PageRequest,
): Promise<{ rows: AccountRow[]; totalRecords: number }> {
  let query = executor.selectFrom('ledgerAccounts');
  if (filter.ownerId !== undefined) query = query.where('ownerId', '=', filter.ownerId);
  if (filter.purpose !== undefined) query = query.where('purpose', '=', filter.purpose);
  if (filter.currency !== undefined) query = query.where('currency', '=', filter.currency);
  const [rows, total] = await Promise.all([
    query
      .select(ACCOUNT_COLUMNS)
      .orderBy('createdAt', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalRecords: Number(total.count) };
}

export interface EntryRow {
  id: string;
  type: LedgerEntryType;
  description: string;
  metadata: unknown;
  idempotencyRef: string;
  reversesEntryId: string | null;
  createdAt: Date;
  postings: { accountId: string; amountMinor: string; currency: string; balanceAfterMinor: string }[];
}

export async function findEntryPage(
  executor: Executor,
  filter: { accountId?: string; type?: LedgerEntryType },
  page: PageRequest,
): Promise<{ rows: EntryRow[]; totalRecords: number }> {
  let query = executor.selectFrom('ledgerEntries as e');
  if (filter.type !== undefined) query = query.where('e.type', '=', filter.type);
  if (filter.accountId !== undefined) {
    const accountId = filter.accountId;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('ledgerPostings as p')
          .select('p.id')
          .whereRef('p.entryId', '=', 'e.id')
          .where('p.accountId', '=', accountId),
      ),
    );
  }
  const [rows, total] = await Promise.all([
    query
      .select([
        'e.id',
        'e.type',
        'e.description',
        'e.metadata',
        'e.idempotencyRef',
        'e.reversesEntryId',
        'e.createdAt',
        sql<EntryRow['postings']>`(
          SELECT coalesce(jsonb_agg(jsonb_build_object('accountId', p.account_id, 'amountMinor', p.amount_minor::text,
            'currency', p.currency, 'balanceAfterMinor', p.balance_after_minor::text) ORDER BY p.amount_minor DESC, p.id), '[]'::jsonb)
          FROM ledger_postings p WHERE p.entry_id = e.id)`.as('postings'),
      ])
      .orderBy('e.createdAt', 'desc')
      .orderBy('e.id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalRecords: Number(total.count) };
}

export interface Difference {
  readonly kind: 'account_totals' | 'account_held' | 'entry_unbalanced' | 'ledger_unbalanced';
  readonly id: string;
  readonly detail: string;
}

/** Recomputes every account from its postings and every hold total, and checks every entry. */
export async function verify(
  executor: Executor,
): Promise<{ accountsChecked: number; entriesChecked: number; differences: Difference[] }> {
  const [accounts, held, entries, ledger, counts] = await Promise.all([
    sql<{ id: string; detail: string }>`
      SELECT a.id, format('stored debits %s credits %s balance %s; postings give debits %s credits %s balance %s',
          a.debits_minor, a.credits_minor, a.balance_minor, coalesce(p.debits, 0), coalesce(p.credits, 0),
          CASE a.normal_side WHEN 'debit' THEN coalesce(p.debits, 0) - coalesce(p.credits, 0)
                             ELSE coalesce(p.credits, 0) - coalesce(p.debits, 0) END) AS detail
      FROM ledger_accounts a
      LEFT JOIN (
        SELECT account_id, sum(greatest(amount_minor, 0)) AS debits, sum(greatest(-amount_minor, 0)) AS credits
        FROM ledger_postings GROUP BY account_id
      ) p ON p.account_id = a.id
      WHERE a.debits_minor <> coalesce(p.debits, 0) OR a.credits_minor <> coalesce(p.credits, 0)
        OR a.balance_minor <> CASE a.normal_side WHEN 'debit' THEN coalesce(p.debits, 0) - coalesce(p.credits, 0)
                                                 ELSE coalesce(p.credits, 0) - coalesce(p.debits, 0) END
      LIMIT 1000`.execute(executor),
    sql<{ id: string; detail: string }>`
      SELECT a.id, format('stored held %s; active holds give %s', a.held_minor, coalesce(h.held, 0)) AS detail
      FROM ledger_accounts a
      LEFT JOIN (
        SELECT account_id, sum(amount_minor - captured_minor) AS held FROM ledger_holds
        WHERE status = 'active' GROUP BY account_id
      ) h ON h.account_id = a.id
      WHERE a.held_minor <> coalesce(h.held, 0)
      LIMIT 1000`.execute(executor),
    sql<{ id: string; detail: string }>`
      SELECT e.id, format('%s postings; sums per currency: %s', coalesce(sum(p.n), 0), string_agg(p.currency || ' ' || p.total, ', ')) AS detail
      FROM ledger_entries e
      LEFT JOIN (
        SELECT entry_id, currency, sum(amount_minor) AS total, count(*) AS n FROM ledger_postings GROUP BY 1, 2
      ) p ON p.entry_id = e.id
      GROUP BY e.id
      HAVING coalesce(sum(p.n), 0) < 2 OR bool_or(p.total <> 0)
      LIMIT 1000`.execute(executor),
    sql<{ id: string; detail: string }>`
      SELECT currency AS id, format('postings sum to %s', sum(amount_minor)) AS detail
      FROM ledger_postings GROUP BY currency HAVING sum(amount_minor) <> 0`.execute(executor),
    sql<{ accounts: string; entries: string }>`
      SELECT (SELECT count(*) FROM ledger_accounts) AS accounts, (SELECT count(*) FROM ledger_entries) AS entries`.execute(
      executor,
    ),
  ]);
  const differences: Difference[] = [
    ...accounts.rows.map((row) => ({ kind: 'account_totals' as const, ...row })),
    ...held.rows.map((row) => ({ kind: 'account_held' as const, ...row })),
    ...entries.rows.map((row) => ({ kind: 'entry_unbalanced' as const, ...row })),
    ...ledger.rows.map((row) => ({ kind: 'ledger_unbalanced' as const, ...row })),
  ];
  const count = counts.rows[0];
  return {
    accountsChecked: Number(count?.accounts ?? 0),
    entriesChecked: Number(count?.entries ?? 0),
    differences,
  };
}

/** The entry posted for a reason, with its postings (for a reversal that mirrors it exactly). */
export async function findEntryByRef(
  executor: Executor,
  type: LedgerEntryType,
  idempotencyRef: string,
): Promise<{ id: string; postings: { accountId: string; amountMinor: bigint }[] } | undefined> {
  const entry = await executor
    .selectFrom('ledgerEntries')
    .select('id')
    .where('type', '=', type)
    .where('idempotencyRef', '=', idempotencyRef)
    .executeTakeFirst();
  if (entry === undefined) return undefined;
  const postings = await executor
    .selectFrom('ledgerPostings')
    .select(['accountId', 'amountMinor'])
    .where('entryId', '=', entry.id)
    .orderBy('id')
    .execute();
  return { id: entry.id, postings };
}

/** Balance per currency over every shard of an owner's accounts of one purpose. */
export async function sumOwnerBalances(
  executor: Executor,
  owner: { type: LedgerOwnerType; id: string },
  purpose: LedgerPurpose,
): Promise<{ currency: string; balanceMinor: bigint; heldMinor: bigint }[]> {
  const rows = await executor
    .selectFrom('ledgerAccounts')
    .select((eb) => [
      'currency',
      eb.fn.sum<string>('balanceMinor').as('balanceMinor'),
      eb.fn.sum<string>('heldMinor').as('heldMinor'),
    ])
    .where('ownerType', '=', owner.type)
    .where('ownerId', '=', owner.id)
    .where('purpose', '=', purpose)
    .groupBy('currency')
    .orderBy('currency')
    .execute();
  return rows.map((row) => ({
    currency: row.currency,
    balanceMinor: BigInt(row.balanceMinor),
    heldMinor: BigInt(row.heldMinor),
  }));
}

export async function findOwnerAccounts(
  executor: Executor,
  owner: { type: LedgerOwnerType; id: string },
  purpose: LedgerPurpose,
): Promise<AccountRow[]> {
  return executor
    .selectFrom('ledgerAccounts')
    .select(ACCOUNT_COLUMNS)
    .where('ownerType', '=', owner.type)
    .where('ownerId', '=', owner.id)
    .where('purpose', '=', purpose)
    .orderBy('currency')
    .orderBy('shard')
    .execute();
}

/** Owner-settable: below this available balance, one `wallet.low_balance` event is recorded. */
export async function setLowBalanceThreshold(
  executor: Executor,
  accountId: string,
  thresholdMinor: bigint | null,
  at: Date,
): Promise<AccountRow> {
  return executor
    .updateTable('ledgerAccounts')
    .set({ lowBalanceThresholdMinor: thresholdMinor, lowBalanceThresholdSetAt: at, updatedAt: at })
    .where('id', '=', accountId)
    .returning(ACCOUNT_COLUMNS)
    .executeTakeFirstOrThrow();
}

/**
 * The periodic check: a `wallet.low_balance` event for every account whose available balance is
 * below its threshold and that has had no such event since the threshold was set. Answers how
 * many it recorded.
 */
export async function recordMissedLowBalances(executor: Executor, at: Date): Promise<number> {
  const { rows } = await sql<{ recorded: string }>`
    WITH missed AS (
      INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
      SELECT tijori_uuidv7(),
        CASE a.owner_type WHEN 'merchant' THEN a.owner_id END,
        CASE a.owner_type WHEN 'user' THEN a.owner_id END,
        'wallet.low_balance',
        jsonb_build_object('accountId', a.id, 'currency', a.currency,
          'availableMinor', (a.balance_minor - a.held_minor)::text,
          'thresholdMinor', a.low_balance_threshold_minor::text, 'cause', 'check'),
        ${at}::timestamptz
      FROM ledger_accounts a
      WHERE a.low_balance_threshold_minor IS NOT NULL
        AND a.balance_minor - a.held_minor < a.low_balance_threshold_minor
        AND NOT EXISTS (
          SELECT 1 FROM events e
          WHERE e.type = 'wallet.low_balance'
            AND e.payload->>'accountId' = a.id::text
            AND e.created_at >= coalesce(a.low_balance_threshold_set_at, '-infinity'::timestamptz))
      RETURNING 1
    )
    SELECT count(*)::text AS recorded FROM missed`.execute(executor);
  return Number(rows[0]?.recorded ?? 0);
}

export async function insertLowBalanceEvent(
  executor: Executor,
  event: {
    id: string;
    account: AccountRow;
    availableMinor: bigint;
    at: Date;
    cause: Record<string, unknown>;
  },
): Promise<void> {
  const { account } = event;
  await executor
    .insertInto('events')
    .values({
      id: event.id,
      merchantId: account.ownerType === 'merchant' ? account.ownerId : null,
      userId: account.ownerType === 'user' ? account.ownerId : null,
      type: 'wallet.low_balance',
      payload: JSON.stringify({
        accountId: account.id,
        currency: account.currency,
        availableMinor: event.availableMinor.toString(),
        thresholdMinor: account.lowBalanceThresholdMinor?.toString() ?? null,
        ...event.cause,
      }),
      createdAt: event.at,
    })
    .execute();
}
