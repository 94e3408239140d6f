import { type RawBuilder, sql } from 'kysely';
import { type Executor, preparedStatement } from '../../db/database.ts';
import type { PageRequest } from '../../http/pagination.ts';

const POST_TO_ACTIVE_USER = preparedStatement('post_to_active_user');

/**
 * Runs the posting (`ledger_post(...)`) only while the user is active, in one statement; false
 * when the user is not (or no longer) there, and nothing was posted.
 */
export async function postToActiveUser(
  executor: Executor,
  userId: string,
  posting: RawBuilder<unknown>,
  /** Recorded with the posting (same statement), for the user who moved the money. */
  event: { id: string; type: string; userId: string; data: unknown; createdAt: Date },
): Promise<boolean> {
  const { rows } = await sql`${POST_TO_ACTIVE_USER}
    WITH posted AS (
      SELECT ${posting} AS result FROM users WHERE id = ${userId} AND is_active
    ), event AS (
      INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
      SELECT ${event.id}::uuid, NULL, ${event.userId}::uuid, ${event.type}::text,
        ${JSON.stringify(event.data)}::jsonb, ${event.createdAt}::timestamptz
      FROM posted
    )
    SELECT 1 FROM posted`.execute(executor);
  return rows.length === 1;
}

export const WITHDRAWAL_COLUMNS = [
  'id',
  'userId',
  'accountId',
  'holdId',
  'amountMinor',
  'currency',
  'destination',
  'status',
  'failureReason',
  'entryId',
  'createdAt',
  'updatedAt',
] as const;

export interface WithdrawalRow {
  id: string;
  userId: string;
  accountId: string;
  holdId: string;
  amountMinor: bigint;
  currency: string;
  destination: string;
  status: 'pending' | 'completed' | 'failed';
  failureReason: string | null;
  entryId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export async function insertWithdrawal(
  executor: Executor,
  row: Omit<WithdrawalRow, 'status' | 'failureReason' | 'entryId' | 'updatedAt'>,
): Promise<WithdrawalRow> {
  return executor
    .insertInto('walletWithdrawals')
    .values({ ...row, updatedAt: row.createdAt })
    .returning(WITHDRAWAL_COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function findWithdrawal(
  executor: Executor,
  id: string,
  lock = false,
): Promise<WithdrawalRow | undefined> {
  let query = executor.selectFrom('walletWithdrawals').select(WITHDRAWAL_COLUMNS).where('id', '=', id);
  if (lock) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function settleWithdrawal(
  executor: Executor,
  id: string,
  patch: {
    status: 'completed' | 'failed';
    failureReason?: string | null;
    entryId?: string | null;
    updatedAt: Date;
  },
): Promise<WithdrawalRow> {
  return executor
    .updateTable('walletWithdrawals')
    .set(patch)
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .returning(WITHDRAWAL_COLUMNS)
    .executeTakeFirstOrThrow();
}

export interface HistoryFilter {
  readonly type?: string;
  readonly direction?: 'credit' | 'debit';
  readonly from?: Date;
  readonly to?: Date;
  readonly currency?: string;
}

export interface HistoryRow {
  id: string;
  /** Null for a withdrawal not (yet) paid out: it holds money but has posted nothing. */
  entryId: string | null;
  type: string;
  description: string;
  metadata: Record<string, unknown>;
  idempotencyRef: string | null;
  amountMinor: bigint;
  currency: string;
  balanceAfterMinor: bigint | null;
  createdAt: Date;
  counterpartyUserId: string | null;
  status: 'completed' | 'pending' | 'failed';
}

/**
 * A user's wallet history, newest first: every posting on their wallets (completed), and the
 * withdrawals that posted nothing yet or ever (pending, failed). A paid-out withdrawal shows once,
 * as its posting.
 */
export async function findHistory(
  executor: Executor,
  userId: string,
  filter: HistoryFilter,
  page: PageRequest,
): Promise<{ rows: HistoryRow[]; totalRecords: number }> {
  const conditions = [sql`true`];
  if (filter.type !== undefined) conditions.push(sql`type = ${filter.type}`);
  // A wallet is credit-normal: a credit (negative amount) raises it.
  if (filter.direction === 'credit') conditions.push(sql`amount_minor < 0`);
  if (filter.direction === 'debit') conditions.push(sql`amount_minor > 0`);
  if (filter.from !== undefined) conditions.push(sql`created_at >= ${filter.from}`);
  if (filter.to !== undefined) conditions.push(sql`created_at < ${filter.to}`);
  if (filter.currency !== undefined) conditions.push(sql`currency = ${filter.currency}`);
  const where = sql.join(conditions, sql` AND `);
  const items = sql`
    SELECT p.id, p.entry_id, e.type, e.description, e.metadata, e.idempotency_ref, p.amount_minor, p.currency,
      p.balance_after_minor, p.created_at, 'completed' AS status,
      (SELECT oa.owner_id FROM ledger_postings op JOIN ledger_accounts oa ON oa.id = op.account_id
        WHERE op.entry_id = p.entry_id AND op.account_id <> p.account_id AND oa.purpose = 'wallet'
        LIMIT 1) AS counterparty_user_id
    FROM ledger_postings p
    JOIN ledger_accounts a ON a.id = p.account_id
    JOIN ledger_entries e ON e.id = p.entry_id
    WHERE a.owner_type = 'user' AND a.owner_id = ${userId} AND a.purpose = 'wallet'
    UNION ALL
    SELECT w.id, NULL, 'withdrawal', 'Withdrawal to ' || w.destination,
      jsonb_build_object('destination', w.destination), 'withdrawal:' || w.id, w.amount_minor, w.currency,
      NULL, w.created_at, w.status, NULL
    FROM wallet_withdrawals w
    WHERE w.user_id = ${userId} AND w.status <> 'completed'`;
  const [rows, total] = await Promise.all([
    sql<HistoryRow>`
      SELECT * FROM (${items}) AS items WHERE ${where}
      ORDER BY created_at DESC, id DESC
      LIMIT ${page.limit} OFFSET ${page.offset}`.execute(executor),
    sql<{ count: string }>`SELECT count(*) AS count FROM (${items}) AS items WHERE ${where}`.execute(
      executor,
    ),
  ]);
  return { rows: rows.rows, totalRecords: Number(total.rows[0]?.count ?? 0) };
}
