import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { dateBound } from '../../http/date-bounds.ts';
import { invalidField } from '../../http/errors.ts';
import type { Principal } from '../../http/principal.ts';
import type { Clock } from '../../lib/clock.ts';
import { divideRounded } from '../../lib/money.ts';
import { DEFAULT_TIME_ZONE, isTimeZone } from '../../lib/time-zone.ts';

/** Without a start date the figures cover this many days back. */
const ANALYTICS_DAYS_DEFAULT = 30;
const DAY_MS = 86_400_000;

export interface AnalyticsQuery {
  readonly startDate?: string | undefined;
  readonly endDate?: string | undefined;
  readonly tz?: string | undefined;
  readonly merchantId?: string | undefined;
}

interface FigureRow {
  readonly key: string | null;
  readonly label: string | null;
  readonly currency: string;
  readonly payments: string;
  readonly succeeded: string;
  readonly amountMinor: string;
}

export interface Figures {
  readonly currency: string;
  readonly payments: number;
  readonly succeeded: number;
  readonly successRate: number | null;
  /** Succeeded amount (refunds not deducted) and its average per succeeded payment. */
  readonly amountMinor: bigint;
  readonly averageTicketMinor: bigint;
}

function figures(row: FigureRow): Figures {
  const payments = Number(row.payments);
  const succeeded = Number(row.succeeded);
  const amountMinor = BigInt(row.amountMinor);
  return {
    currency: row.currency,
    payments,
    succeeded,
    successRate: payments === 0 ? null : succeeded / payments,
    amountMinor,
    averageTicketMinor: divideRounded(amountMinor, BigInt(succeeded)),
  };
}

/**
 * Gateway payments in a period: volume, success rate, amount and average ticket, overall and by
 * gateway, method and day (in `tz`). A merchant sees its own; an admin all, or one merchant's.
 */
export function createPaymentAnalytics(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  return async function analytics(principal: Principal, query: AnalyticsQuery) {
    const timeZone = query.tz ?? DEFAULT_TIME_ZONE;
    if (!isTimeZone(timeZone)) throw invalidField('tz', 'must be an IANA time zone such as Asia/Kolkata');
    const to =
      query.endDate === undefined ? clock.now() : dateBound('endDate', query.endDate, timeZone, 'end');
    const from =
      query.startDate === undefined
        ? new Date(to.getTime() - ANALYTICS_DAYS_DEFAULT * DAY_MS)
        : dateBound('startDate', query.startDate, timeZone, 'start');
    if (from >= to) throw invalidField('startDate', 'must be before endDate');
    const merchantId =
      principal.role === 'admin'
        ? (query.merchantId ?? null)
        : (principal.merchantId ?? '00000000-0000-0000-0000-000000000000');
    const scope = merchantId === null ? sql`true` : sql`p.merchant_id = ${merchantId}::uuid`;
    const grouped = (key: ReturnType<typeof sql>, label: ReturnType<typeof sql>, join = sql``) =>
      sql<FigureRow>`
      SELECT ${key} AS key, ${label} AS label, p.currency,
             count(*) AS payments,
             count(*) FILTER (WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')) AS succeeded,
             coalesce(sum(p.amount_minor) FILTER (WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')), 0) AS amount_minor
      FROM payments p ${join}
      WHERE ${scope} AND p.created_at >= ${from} AND p.created_at < ${to}
      GROUP BY 1, 2, 3 ORDER BY 1, 3`.execute(db);
    const [total, byGateway, byMethod, byDay] = await Promise.all([
      grouped(sql`NULL::text`, sql`NULL::text`),
      grouped(sql`p.gateway_id::text`, sql`g.name`, sql`LEFT JOIN gateways g ON g.id = p.gateway_id`),
      grouped(sql`p.method`, sql`NULL::text`),
      grouped(sql`to_char(p.created_at AT TIME ZONE ${timeZone}, 'YYYY-MM-DD')`, sql`NULL::text`),
    ]);
    return {
      from,
      to,
      timeZone,
      totals: total.rows.map(figures),
      byGateway: byGateway.rows.map((row) => ({
        gatewayId: row.key,
        gatewayName: row.label,
        ...figures(row),
      })),
      byMethod: byMethod.rows.map((row) => ({ method: row.key ?? '', ...figures(row) })),
      byDay: byDay.rows.map((row) => ({ day: row.key ?? '', ...figures(row) })),
    };
  };
}

export type PaymentAnalytics = ReturnType<typeof createPaymentAnalytics>;
