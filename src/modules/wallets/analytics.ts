import { sql } from 'kysely';
import type { Db, Executor } from '../../db/database.ts';
import { dateBound } from '../../http/date-bounds.ts';
import { DEFAULT_TIME_ZONE, isTimeZone, startOfZonedDay, zoneOffsetMs } from '../../lib/time-zone.ts';
import { invalidField } from './errors.ts';

/**
 * Wallet analytics: income and spending of one user's wallet in one currency over a date range,
 * by period (day, ISO week or month in a time zone), by entry type, and with the top transfer
 * counterparties. Read from the ledger postings on the user's own wallet account(s) only.
 */

export type GroupBy = 'day' | 'week' | 'month';

export interface AnalyticsCurrency {
  readonly code: string;
  readonly scale: number;
}

export interface AnalyticsRange {
  /** Inclusive. */
  readonly from: Date;
  /** Exclusive. */
  readonly to: Date;
  readonly groupBy: GroupBy;
  readonly currency: string;
  readonly timeZone: string;
}

/** Amounts in minor units; income is money in (credits), spending money out (debits). */
export interface Flow {
  incomeMinor: bigint;
  spendingMinor: bigint;
  count: number;
}

export interface WalletAnalytics {
  totals: Flow;
  /** Oldest first; only periods with activity. `period` is the local date the period starts on. */
  periods: (Flow & { period: string })[];
  /** Largest volume (income + spending) first. */
  byType: (Flow & { type: string })[];
  /** At most TOP_COUNTERPARTIES, largest volume (sent + received) first; transfers only. */
  topCounterparties: {
    userId: string;
    name: string;
    email: string;
    sentMinor: bigint;
    receivedMinor: bigint;
    count: number;
  }[];
}

export const DEFAULT_RANGE_DAYS = 30;
export const MAX_RANGE_DAYS = 366;
export const TOP_COUNTERPARTIES = 5;

const DAY_MS = 86_400_000;
/** A range of whole local days can be an hour longer than its days where a clock change falls in it. */
const CLOCK_CHANGE_MS = 3_600_000;

/** The query string as a range, or a 400 naming the field at fault. */
export function resolveAnalyticsRange(
  query: { startDate?: string; endDate?: string; groupBy?: GroupBy; currency?: string; tz?: string },
  options: { currencies: readonly AnalyticsCurrency[]; now: Date },
): AnalyticsRange {
  const { currencies } = options;
  const currency = query.currency ?? currencies[0]?.code;
  if (currency === undefined || !currencies.some((item) => item.code === currency)) {
    throw invalidField('currency', `must be one of ${currencies.map((item) => item.code).join(', ')}`);
  }
  const timeZone = query.tz ?? DEFAULT_TIME_ZONE;
  if (!isTimeZone(timeZone)) throw invalidField('tz', 'must be an IANA time zone such as Asia/Kolkata');
  const start =
    query.startDate === undefined ? undefined : dateBound('startDate', query.startDate, timeZone, 'start');
  const end = query.endDate === undefined ? undefined : dateBound('endDate', query.endDate, timeZone, 'end');
  // Without an end the range runs up to now, the current instant included.
  const to = end ?? new Date(options.now.getTime() + 1);
  const from = start ?? new Date(to.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
  if (from.getTime() >= to.getTime()) throw invalidField('endDate', 'must be after startDate');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS + CLOCK_CHANGE_MS) {
    throw query.endDate === undefined
      ? invalidField('startDate', `must be at most ${MAX_RANGE_DAYS} days before now`)
      : invalidField('endDate', `must be at most ${MAX_RANGE_DAYS} days after startDate`);
  }
  return { from, to, groupBy: query.groupBy ?? 'day', currency, timeZone };
}

/** Income, spending and counts of `userId`'s wallet in one currency, in one read-only snapshot. */
export async function walletAnalytics(
  db: Db,
  userId: string,
  range: AnalyticsRange,
): Promise<WalletAnalytics> {
  const periods = periodStarts(range);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const byType = await sumByType(trx, userId, range);
      const byPeriod = await sumByPeriod(trx, userId, range, periods.starts);
      const topCounterparties = await findTopCounterparties(trx, userId, range);
      const totals = byType.reduce<Flow>(
        (sum, row) => ({
          incomeMinor: sum.incomeMinor + row.incomeMinor,
          spendingMinor: sum.spendingMinor + row.spendingMinor,
          count: sum.count + row.count,
        }),
        { incomeMinor: 0n, spendingMinor: 0n, count: 0 },
      );
      return {
        totals,
        periods: byPeriod.map(({ bucket, ...flow }) => ({
          period: periods.labels[bucket - 1] ?? '',
          ...flow,
        })),
        byType,
        topCounterparties,
      };
    });
}

/**
 * The caller's postings in the range: every posting on the user's wallet account(s) in the
 * currency. A wallet is credit-normal, so a negative posting is money in, a positive one money out.
 */
function ownPostings(userId: string, range: AnalyticsRange) {
  return sql`
    SELECT p.entry_id, p.account_id, p.amount_minor, p.created_at
    FROM ledger_postings p
    JOIN ledger_accounts a ON a.id = p.account_id
    WHERE a.owner_type = 'user' AND a.owner_id = ${userId} AND a.purpose = 'wallet'
      AND a.currency = ${range.currency} AND p.currency = ${range.currency}
      AND p.created_at >= ${range.from} AND p.created_at < ${range.to}`;
}

const INCOME = sql`coalesce(sum(-m.amount_minor) FILTER (WHERE m.amount_minor < 0), 0)::bigint`;
const SPENDING = sql`coalesce(sum(m.amount_minor) FILTER (WHERE m.amount_minor > 0), 0)::bigint`;

async function sumByType(
  executor: Executor,
  userId: string,
  range: AnalyticsRange,
): Promise<(Flow & { type: string })[]> {
  const result = await sql<Flow & { type: string }>`
    WITH m AS (${ownPostings(userId, range)})
    SELECT e.type, ${INCOME} AS income_minor, ${SPENDING} AS spending_minor, count(*)::int AS count
    FROM m JOIN ledger_entries e ON e.id = m.entry_id
    GROUP BY e.type
    ORDER BY sum(abs(m.amount_minor)) DESC, e.type`.execute(executor);
  return result.rows;
}

async function sumByPeriod(
  executor: Executor,
  userId: string,
  range: AnalyticsRange,
  starts: readonly Date[],
): Promise<(Flow & { bucket: number })[]> {
  // width_bucket gives i when starts[i] <= created_at < starts[i + 1] (1-based): the period's index.
  const thresholds = starts.map((start) => start.toISOString());
  const result = await sql<Flow & { bucket: number }>`
    WITH m AS (${ownPostings(userId, range)})
    SELECT b.bucket, ${INCOME} AS income_minor, ${SPENDING} AS spending_minor, count(*)::int AS count
    FROM m CROSS JOIN LATERAL (
      SELECT width_bucket(m.created_at, ${thresholds}::timestamptz[]) AS bucket
    ) b
    GROUP BY b.bucket
    ORDER BY b.bucket`.execute(executor);
  return result.rows;
}

async function findTopCounterparties(
  executor: Executor,
  userId: string,
  range: AnalyticsRange,
): Promise<WalletAnalytics['topCounterparties']> {
  // The counterparty of a transfer is the owner of the other wallet posted in the same entry.
  const result = await sql<WalletAnalytics['topCounterparties'][number]>`
    WITH m AS (${ownPostings(userId, range)})
    SELECT oa.owner_id AS user_id, u.name, u.email,
      ${SPENDING} AS sent_minor, ${INCOME} AS received_minor, count(*)::int AS count
    FROM m
    JOIN ledger_entries e ON e.id = m.entry_id AND e.type = 'transfer'
    JOIN ledger_postings op ON op.entry_id = m.entry_id AND op.account_id <> m.account_id
    JOIN ledger_accounts oa ON oa.id = op.account_id
      AND oa.purpose = 'wallet' AND oa.owner_type = 'user' AND oa.owner_id <> ${userId}
    JOIN users u ON u.id = oa.owner_id
    GROUP BY oa.owner_id, u.name, u.email
    ORDER BY sum(abs(m.amount_minor)) DESC, count(*) DESC, oa.owner_id
    LIMIT ${TOP_COUNTERPARTIES}`.execute(executor);
  return result.rows;
}

/**
 * The local dates periods start on (labels) and the instants they start at, from the period
 * holding `from` to the first one starting at or after `to`: the thresholds for width_bucket.
 */
function periodStarts(range: AnalyticsRange): { labels: string[]; starts: Date[] } {
  const labels: string[] = [];
  const starts: Date[] = [];
  let label = periodOf(localDateOf(range.from, range.timeZone), range.groupBy);
  for (;;) {
    const start = startOfZonedDay(label, range.timeZone);
    labels.push(label);
    starts.push(start);
    if (start.getTime() >= range.to.getTime()) return { labels, starts };
    label = nextPeriod(label, range.groupBy);
  }
}

/** The calendar date (YYYY-MM-DD) in `zone` at the instant `at`. */
function localDateOf(at: Date, zone: string): string {
  return new Date(at.getTime() + zoneOffsetMs(at, zone)).toISOString().slice(0, 10);
}

/** The first day of the day, ISO week (Monday) or month holding the local date `day`. */
function periodOf(day: string, groupBy: GroupBy): string {
  if (groupBy === 'month') return `${day.slice(0, 7)}-01`;
  if (groupBy === 'day') return day;
  const date = new Date(`${day}T00:00:00Z`);
  const daysSinceMonday = (date.getUTCDay() + 6) % 7;
  return addDays(day, -daysSinceMonday);
}

function nextPeriod(period: string, groupBy: GroupBy): string {
  if (groupBy === 'day') return addDays(period, 1);
  if (groupBy === 'week') return addDays(period, 7);
  const date = new Date(`${period}T00:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() + 1);
  return date.toISOString().slice(0, 10);
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * A query bound as an instant. A date alone is a whole day in `timeZone` (its start, or the start
 * of the next day for an end); a date-time with an offset is that instant; one without an offset
 * is a wall-clock time in `timeZone`. An end date-time is inclusive, so the bound is 1 ms later.
 */
