import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Db } from '../../db/database.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { DateTime, Ok, replies, StringEnum } from '../../http/schemas.ts';
import type { Clock } from '../../lib/clock.ts';
import { toMajorUnitsOf } from '../../lib/money.ts';
import {
  type AnalyticsCurrency,
  DEFAULT_RANGE_DAYS,
  MAX_RANGE_DAYS,
  resolveAnalyticsRange,
  TOP_COUNTERPARTIES,
  walletAnalytics,
} from './analytics.ts';

const DateOrDateTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})?)?$',
  description:
    'YYYY-MM-DD (a whole day in `tz`) or an ISO date-time (without an offset: a wall-clock time in `tz`)',
});

export const AnalyticsQuery = Type.Object({
  startDate: Type.Optional(DateOrDateTime),
  endDate: Type.Optional(DateOrDateTime),
  groupBy: Type.Optional(StringEnum(['day', 'week', 'month'] as const, { description: 'Default day' })),
  currency: Type.Optional(
    Type.String({ pattern: '^[A-Z0-9]{2,10}$', description: 'A configured currency; default the first' }),
  ),
  tz: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'IANA time zone for date-only bounds and periods; default Asia/Kolkata',
    }),
  ),
});

const Flow = {
  income: Type.Number({ description: 'Money in, major units' }),
  spending: Type.Number({ description: 'Money out, major units' }),
  net: Type.Number({ description: 'income - spending' }),
  count: Type.Integer({ description: 'Postings on the wallet' }),
};

export const AnalyticsReply = Ok(
  Type.Object({
    currency: Type.String(),
    from: DateTime,
    to: Type.Unsafe<Date | string>({ type: 'string', format: 'date-time', description: 'Exclusive' }),
    groupBy: StringEnum(['day', 'week', 'month'] as const),
    timeZone: Type.String(),
    totals: Type.Object(Flow),
    periods: Type.Array(
      Type.Object({
        period: Type.String({
          description: 'YYYY-MM-DD in `tz`: the day, ISO week (Monday) or month it starts',
        }),
        ...Flow,
      }),
      { description: 'Oldest first; only periods with activity' },
    ),
    byType: Type.Array(
      Type.Object({
        type: Type.String(),
        income: Flow.income,
        spending: Flow.spending,
        count: Flow.count,
      }),
      { description: 'Largest volume first' },
    ),
    topCounterparties: Type.Array(
      Type.Object({
        userId: Type.String({ format: 'uuid' }),
        name: Type.String(),
        email: Type.String(),
        sent: Type.Number(),
        received: Type.Number(),
        count: Type.Integer(),
      }),
      { description: `Transfers only; at most ${TOP_COUNTERPARTIES}, largest sent + received first` },
    ),
  }),
);

export const walletAnalyticsRoutes: FastifyPluginAsyncTypebox<{
  db: Db;
  clock: Clock;
  currencies: readonly AnalyticsCurrency[];
}> = async (app, { db, clock, currencies }) => {
  app.get(
    '/wallet/analytics',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['wallets'],
        summary: `Income and spending of the caller’s wallet by period and type, and top counterparties (default the last ${DEFAULT_RANGE_DAYS} days; at most ${MAX_RANGE_DAYS})`,
        querystring: AnalyticsQuery,
        response: replies({ 200: AnalyticsReply }),
      },
    },
    async (request) => {
      const range = resolveAnalyticsRange(request.query, { currencies, now: clock.now() });
      const scale = currencies.find((item) => item.code === range.currency)?.scale ?? 2;
      const major = (minor: bigint) => toMajorUnitsOf(minor, scale);
      const flow = (row: { incomeMinor: bigint; spendingMinor: bigint; count: number }) => ({
        income: major(row.incomeMinor),
        spending: major(row.spendingMinor),
        net: major(row.incomeMinor - row.spendingMinor),
        count: row.count,
      });
      const analytics = await walletAnalytics(db, requirePrincipal(request.principal).userId, range);
      return {
        success: true as const,
        data: {
          currency: range.currency,
          from: range.from,
          to: range.to,
          groupBy: range.groupBy,
          timeZone: range.timeZone,
          totals: flow(analytics.totals),
          periods: analytics.periods.map((row) => ({ period: row.period, ...flow(row) })),
          byType: analytics.byType.map((row) => ({
            type: row.type,
            income: major(row.incomeMinor),
            spending: major(row.spendingMinor),
            count: row.count,
          })),
          topCounterparties: analytics.topCounterparties.map((row) => ({
            userId: row.userId,
            name: row.name,
            email: row.email,
            sent: major(row.sentMinor),
            received: major(row.receivedMinor),
            count: row.count,
          })),
        },
      };
    },
  );
};
