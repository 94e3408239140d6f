import { type Expression, type ExpressionBuilder, type RawBuilder, type SqlBool, sql } from 'kysely';
import { type Executor, preparedStatement } from '../../db/database.ts';
import type { Database, QrPaymentOrigin, QrPaymentStatus, UpiApp } from '../../db/types.ts';
import type { PageRequest } from '../../http/pagination.ts';
import type { AuditRow } from '../audit/index.ts';

export const TRANSACTION_COLUMNS = [
  'id',
  'paymentId',
  'qrCodeId',
  'qrId',
  'merchantId',
  'amountMinor',
  'currency',
  'status',
  'utr',
  'occurredAt',
  'customerName',
  'customerPhone',
  'customerUpiApp',
  'origin',
  'createdAt',
  'updatedAt',
] as const;

export interface TransactionRow {
  id: string;
  paymentId: string;
  qrCodeId: string;
  qrId: string;
  merchantId: string;
  amountMinor: bigint;
  currency: string;
  status: QrPaymentStatus;
  utr: string;
  occurredAt: Date;
  customerName: string | null;
  customerPhone: string | null;
  customerUpiApp: UpiApp | null;
  origin: QrPaymentOrigin;
  createdAt: Date;
  updatedAt: Date;
}

export type TransactionInsert = Omit<TransactionRow, 'currency'>;

export interface StatusChangeRow {
  fromStatus: QrPaymentStatus | null;
  toStatus: QrPaymentStatus;
  cause: string;
  changedAt: Date;
}

/**
 * Which transactions a list, count, statistic or export covers. `from` is inclusive and `to`
 * exclusive; the tenant filter (`merchantId`) is set for every caller but an admin.
 */
export interface TransactionFilter {
  readonly merchantId?: string;
  readonly qrCodeId?: string;
  readonly status?: QrPaymentStatus;
  readonly from?: Date;
  readonly to?: Date;
}

/** Figures per status, as kept by the rollup triggers. */
export interface StatusFigures {
  successCount: bigint;
  successAmountMinor: bigint;
  failedCount: bigint;
  failedAmountMinor: bigint;
  pendingCount: bigint;
  pendingAmountMinor: bigint;
}

export type DayFigures = StatusFigures & { day: string };

/** Inserts payments with their first history row; UTR and paymentId clashes surface as 23505. */
export async function insertTransactions(
  executor: Executor,
  rows: readonly TransactionInsert[],
  history: { cause: string; actorId: string | null; ids: readonly string[] },
): Promise<TransactionRow[]> {
  if (rows.length === 0) return [];
  // One statement: the history rows' foreign keys are checked at its end, once the payments exist.
  return executor
    .with('history', (db) =>
      db.insertInto('qrTransactionStatusHistory').values(
        rows.map((row, index) => ({
          id: history.ids[index] as string,
          transactionId: row.id,
          fromStatus: null,
          toStatus: row.status,
          cause: history.cause,
          actorId: history.actorId,
          changedAt: row.createdAt,
        })),
      ),
    )
    .insertInto('qrTransactions')
    .values(rows)
    .returning(TRANSACTION_COLUMNS)
    .execute();
}

const RECORD_QR_PAYMENT = preparedStatement('record_qr_payment');

/**
 * Records one payment in a single statement: the code's shared lock and its checks (still Active,
 * the amount within its limit), the payment, its first history row, the audit row, and then
 * `settlement` (the ledger credit, or the Idempotency-Key's settling) for the inserted row.
 * False when the code was not there or not payable: nothing was written.
 */
export async function recordPayment(
  executor: Executor,
  input: {
    row: TransactionRow;
    history: { id: string; cause: string; actorId: string | null };
    audit: AuditRow;
    /** The `payment.*` event (id, type, the payment as the API shows it). */
    event: { id: string; type: string; data: unknown };
    settlement: RawBuilder<unknown> | null;
  },
): Promise<boolean> {
  const { row, history, audit, event } = input;
  const { rows } = await sql<{ id: string }>`${RECORD_QR_PAYMENT}
    WITH code AS (
      SELECT id FROM qr_codes
      WHERE id = ${row.qrCodeId}::uuid AND status = 'Active'
        AND (max_amount_minor = 0 OR max_amount_minor >= ${row.amountMinor}::bigint)
      FOR SHARE
    ), payment AS (
      INSERT INTO qr_transactions (id, payment_id, qr_code_id, qr_id, merchant_id, amount_minor, currency,
        status, utr, occurred_at, customer_name, customer_phone, customer_upi_app, origin, created_at, updated_at)
      SELECT ${row.id}::uuid, ${row.paymentId}::text, code.id, ${row.qrId}::text, ${row.merchantId}::uuid,
        ${row.amountMinor}::bigint, ${row.currency}::text, ${row.status}::text, ${row.utr}::text,
        ${row.occurredAt}::timestamptz, ${row.customerName}::text, ${row.customerPhone}::text,
        ${row.customerUpiApp}::text, ${row.origin}::text, ${row.createdAt}::timestamptz, ${row.updatedAt}::timestamptz
      FROM code
      RETURNING id
    ), history AS (
      INSERT INTO qr_transaction_status_history (id, transaction_id, from_status, to_status, cause, actor_id, changed_at)
      SELECT ${history.id}::uuid, payment.id, NULL, ${row.status}::text, ${history.cause}::text,
        ${history.actorId}::uuid, ${row.createdAt}::timestamptz
      FROM payment
    ), audit AS (
      INSERT INTO audit_logs (id, actor_id, actor_role, action, target_type, target_id, ip, user_agent,
        request_id, details, created_at)
      SELECT ${audit.id}::uuid, ${audit.actorId}::uuid, ${audit.actorRole}::text, ${audit.action}::text,
        ${audit.targetType}::text, ${audit.targetId}::text, ${audit.ip}::text, ${audit.userAgent}::text,
        ${audit.requestId}::text, ${JSON.stringify(audit.details)}::jsonb, ${audit.createdAt}::timestamptz
      FROM payment
    ), event AS (
      INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
      SELECT ${event.id}::uuid, ${row.merchantId}::uuid, NULL, ${event.type}::text,
        ${JSON.stringify(event.data)}::jsonb, ${row.createdAt}::timestamptz
      FROM payment
    )
    SELECT payment.id, ${input.settlement ?? sql`NULL`} AS settled FROM payment`.execute(executor);
  return rows.length === 1;
}

export async function findTransaction(
  executor: Executor,
  key: { id: string } | { paymentId: string },
): Promise<TransactionRow | undefined> {
  const query = executor.selectFrom('qrTransactions').select(TRANSACTION_COLUMNS);
  return (
    'id' in key ? query.where('id', '=', key.id) : query.where('paymentId', '=', key.paymentId)
  ).executeTakeFirst();
}

export async function findStatusHistory(
  executor: Executor,
  transactionId: string,
): Promise<StatusChangeRow[]> {
  return executor
    .selectFrom('qrTransactionStatusHistory')
    .select(['fromStatus', 'toStatus', 'cause', 'changedAt'])
    .where('transactionId', '=', transactionId)
    .orderBy('changedAt')
    .orderBy('id')
    .execute();
}

/**
 * Moves a transaction from `from` to `to` only if it is still `from` (a concurrent move loses),
 * and records the change. Undefined when the status was no longer `from`.
 */
export async function transitionStatus(
  executor: Executor,
  change: {
    id: string;
    from: QrPaymentStatus;
    to: QrPaymentStatus;
    cause: string;
    actorId: string | null;
    historyId: string;
    at: Date;
  },
): Promise<TransactionRow | undefined> {
  const updated = await executor
    .updateTable('qrTransactions')
    .set({ status: change.to, updatedAt: change.at })
    .where('id', '=', change.id)
    .where('status', '=', change.from)
    .returning(TRANSACTION_COLUMNS)
    .executeTakeFirst();
  if (updated === undefined) return undefined;
  await executor
    .insertInto('qrTransactionStatusHistory')
    .values({
      id: change.historyId,
      transactionId: change.id,
      fromStatus: change.from,
      toStatus: change.to,
      cause: change.cause,
      actorId: change.actorId,
      changedAt: change.at,
    })
    .execute();
  return updated;
}

export async function deleteTransaction(executor: Executor, id: string): Promise<void> {
  await executor.deleteFrom('qrTransactions').where('id', '=', id).execute();
}

function rowConditions(filter: TransactionFilter) {
  return (eb: ExpressionBuilder<Database, 'qrTransactions'>) => {
    const conditions: Expression<SqlBool>[] = [];
    if (filter.merchantId !== undefined) conditions.push(eb('merchantId', '=', filter.merchantId));
    if (filter.qrCodeId !== undefined) conditions.push(eb('qrCodeId', '=', filter.qrCodeId));
    if (filter.status !== undefined) conditions.push(eb('status', '=', filter.status));
    if (filter.from !== undefined) conditions.push(eb('occurredAt', '>=', filter.from));
    if (filter.to !== undefined) conditions.push(eb('occurredAt', '<', filter.to));
    return eb.and(conditions);
  };
}

/** One page, newest first; the index on (merchant, time, id) serves it without sorting. */
export async function findTransactionPage(
  executor: Executor,
  filter: TransactionFilter,
  page: PageRequest,
): Promise<TransactionRow[]> {
  return executor
    .selectFrom('qrTransactions')
    .select(TRANSACTION_COLUMNS)
    .where(rowConditions(filter))
    .orderBy('occurredAt', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
}

/** The next export batch after `after` (newest first), by keyset rather than by offset. */
export async function findTransactionBatch(
  executor: Executor,
  filter: TransactionFilter,
  after: { occurredAt: Date; id: string } | null,
  batchSize: number,
): Promise<TransactionRow[]> {
  let query = executor.selectFrom('qrTransactions').select(TRANSACTION_COLUMNS).where(rowConditions(filter));
  if (after !== null) {
    query = query.where((eb) =>
      eb(eb.refTuple('occurredAt', 'id'), '<', eb.tuple(after.occurredAt, after.id)),
    );
  }
  return query.orderBy('occurredAt', 'desc').orderBy('id', 'desc').limit(batchSize).execute();
}

export async function findLastTransactionAt(executor: Executor, qrCodeId: string): Promise<Date | null> {
  const row = await executor
    .selectFrom('qrTransactions')
    .select('occurredAt')
    .where('qrCodeId', '=', qrCodeId)
    .orderBy('occurredAt', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.occurredAt ?? null;
}

const FIGURE_SUMS = sql<StatusFigures>`
  coalesce(sum(success_count), 0)::int8 AS success_count,
  coalesce(sum(success_amount_minor), 0)::int8 AS success_amount_minor,
  coalesce(sum(failed_count), 0)::int8 AS failed_count,
  coalesce(sum(failed_amount_minor), 0)::int8 AS failed_amount_minor,
  coalesce(sum(pending_count), 0)::int8 AS pending_count,
  coalesce(sum(pending_amount_minor), 0)::int8 AS pending_amount_minor`;

/** Running totals per QR code (no time bounds): one row per QR code in scope. */
export async function sumTotals(
  executor: Executor,
  filter: Pick<TransactionFilter, 'merchantId' | 'qrCodeId'>,
): Promise<StatusFigures> {
  const conditions = [sql`true`];
  if (filter.merchantId !== undefined) conditions.push(sql`merchant_id = ${filter.merchantId}`);
  if (filter.qrCodeId !== undefined) conditions.push(sql`qr_code_id = ${filter.qrCodeId}`);
  const { rows } = await sql<StatusFigures>`
    SELECT ${FIGURE_SUMS} FROM qr_transaction_totals WHERE ${sql.join(conditions, sql` AND `)}`.execute(
    executor,
  );
  return rows[0] as StatusFigures;
}

/**
 * Figures per calendar day in `timeZone` for the filter's time range: whole 15-minute buckets
 * come from the rollups, and the partial buckets at either end from the payment rows themselves,
 * so the answer is exact for any bounds.
 */
export async function sumByDay(
  executor: Executor,
  filter: Omit<TransactionFilter, 'status'>,
  timeZone: string,
): Promise<DayFigures[]> {
  const split = splitAtBuckets(filter.from, filter.to);
  const parts = [];
  if (split.inner !== null) {
    // Per merchant when no QR code is named: far fewer rows than one per QR code per bucket.
    const table = filter.qrCodeId === undefined ? 'qr_merchant_rollups' : 'qr_transaction_rollups';
    const conditions =
      filter.qrCodeId === undefined && filter.merchantId !== undefined
        ? [sql`merchant_id = ${filter.merchantId}`]
        : filter.qrCodeId === undefined
          ? [sql`true`]
          : [sql`qr_code_id = ${filter.qrCodeId}`];
    if (split.inner.from !== undefined) conditions.push(sql`bucket_start >= ${split.inner.from}`);
    if (split.inner.to !== undefined) conditions.push(sql`bucket_start < ${split.inner.to}`);
    parts.push(sql`
      SELECT (bucket_start AT TIME ZONE ${timeZone})::date AS day, success_count, success_amount_minor,
        failed_count, failed_amount_minor, pending_count, pending_amount_minor
      FROM ${sql.table(table)} WHERE ${sql.join(conditions, sql` AND `)}`);
  }
  for (const edge of split.edges) {
    const conditions = [sql`occurred_at >= ${edge.from}`, sql`occurred_at < ${edge.to}`];
    if (filter.merchantId !== undefined) conditions.push(sql`merchant_id = ${filter.merchantId}`);
    if (filter.qrCodeId !== undefined) conditions.push(sql`qr_code_id = ${filter.qrCodeId}`);
    parts.push(sql`
      SELECT (occurred_at AT TIME ZONE ${timeZone})::date AS day,
        (status = 'Success')::int::int8 AS success_count,
        CASE WHEN status = 'Success' THEN amount_minor ELSE 0 END AS success_amount_minor,
        (status = 'Failed')::int::int8 AS failed_count,
        CASE WHEN status = 'Failed' THEN amount_minor ELSE 0 END AS failed_amount_minor,
        (status = 'Pending')::int::int8 AS pending_count,
        CASE WHEN status = 'Pending' THEN amount_minor ELSE 0 END AS pending_amount_minor
      FROM qr_transactions WHERE ${sql.join(conditions, sql` AND `)}`);
  }
  if (parts.length === 0) return [];
  const { rows } = await sql<DayFigures>`
    SELECT to_char(day, 'YYYY-MM-DD') AS day, ${FIGURE_SUMS}
    FROM (${sql.join(parts, sql` UNION ALL `)}) AS parts
    GROUP BY parts.day ORDER BY parts.day DESC`.execute(executor);
  return rows;
}

const BUCKET_MS = 15 * 60 * 1000;

interface BucketSplit {
  /** Whole buckets, read from the rollups; null when the range holds none. */
  readonly inner: { from?: Date; to?: Date } | null;
  /** Partial buckets at the ends, read from the payment rows. */
  readonly edges: { from: Date; to: Date }[];
}

export function splitAtBuckets(from: Date | undefined, to: Date | undefined): BucketSplit {
  const innerFrom =
    from === undefined ? undefined : new Date(Math.ceil(from.getTime() / BUCKET_MS) * BUCKET_MS);
  const innerTo = to === undefined ? undefined : new Date(Math.floor(to.getTime() / BUCKET_MS) * BUCKET_MS);
  if (innerFrom !== undefined && innerTo !== undefined && innerFrom >= innerTo) {
    return { inner: null, edges: from !== undefined && to !== undefined && from < to ? [{ from, to }] : [] };
  }
  const edges: { from: Date; to: Date }[] = [];
  if (from !== undefined && innerFrom !== undefined && from < innerFrom) edges.push({ from, to: innerFrom });
  if (to !== undefined && innerTo !== undefined && innerTo < to) edges.push({ from: innerTo, to });
  return { inner: { from: innerFrom, to: innerTo }, edges };
}

export async function findSuccessfulIds(executor: Executor, qrCodeId: string): Promise<string[]> {
  const rows = await executor
    .selectFrom('qrTransactions')
    .select('id')
    .where('qrCodeId', '=', qrCodeId)
    .where('status', '=', 'Success')
    .execute();
  return rows.map((row) => row.id);
}
