import { QR_PAYMENT_STATUSES, type QrPaymentStatus } from '../../db/types.ts';
import { divideRounded, toMajorUnits } from '../../lib/money.ts';
import type { DayFigures, StatusFigures } from './transactions.repo.ts';

export interface StatusTotals {
  readonly count: bigint;
  readonly amountMinor: bigint;
}

export interface TransactionStats {
  summary: {
    totalTransactions: number;
    totalAmount: number;
    successfulTransactions: number;
    failedTransactions: number;
    pendingTransactions: number;
    successRate: string;
    averageAmount: number;
  };
  statusBreakdown: { _id: QrPaymentStatus; count: number; totalAmount: number }[];
  dailyStats: { _id: string; count: number; amount: number }[];
}

export const EMPTY_FIGURES: StatusFigures = {
  successCount: 0n,
  successAmountMinor: 0n,
  failedCount: 0n,
  failedAmountMinor: 0n,
  pendingCount: 0n,
  pendingAmountMinor: 0n,
};

/** One status's count and amount. */
export function totalsFor(figures: StatusFigures, status: QrPaymentStatus): StatusTotals {
  switch (status) {
    case 'Success':
      return { count: figures.successCount, amountMinor: figures.successAmountMinor };
    case 'Failed':
      return { count: figures.failedCount, amountMinor: figures.failedAmountMinor };
    case 'Pending':
      return { count: figures.pendingCount, amountMinor: figures.pendingAmountMinor };
  }
}

/** The statuses a filter keeps: one, or all of them. */
export function statusesIn(only: QrPaymentStatus | undefined): readonly QrPaymentStatus[] {
  return only === undefined ? QR_PAYMENT_STATUSES : [only];
}

/** How many transactions the figures hold, for the statuses a filter keeps. */
export function countOf(figures: StatusFigures, only?: QrPaymentStatus): number {
  return Number(statusesIn(only).reduce((sum, status) => sum + totalsFor(figures, status).count, 0n));
}

/** `"80.00"`: part of whole as a percentage with two decimals, rounded half up; `"0.00"` of nothing. */
export function percentage(part: bigint, whole: bigint): string {
  if (whole === 0n) return '0.00';
  const hundredths = (part * 20_000n + whole) / (whole * 2n);
  return `${hundredths / 100n}.${(hundredths % 100n).toString().padStart(2, '0')}`;
}

export function addFigures(a: StatusFigures, b: StatusFigures): StatusFigures {
  return {
    successCount: a.successCount + b.successCount,
    successAmountMinor: a.successAmountMinor + b.successAmountMinor,
    failedCount: a.failedCount + b.failedCount,
    failedAmountMinor: a.failedAmountMinor + b.failedAmountMinor,
    pendingCount: a.pendingCount + b.pendingCount,
    pendingAmountMinor: a.pendingAmountMinor + b.pendingAmountMinor,
  };
}

/**
 * The statistics reply from per-day figures (newest day first). Amounts are money received:
 * `totalAmount`, `averageAmount` and each day's `amount` count successful payments only, while
 * counts include every status the filter keeps; `statusBreakdown.totalAmount` is per status.
 */
export function summarize(days: readonly DayFigures[], only?: QrPaymentStatus): TransactionStats {
  const total = days.reduce<StatusFigures>((sum, day) => addFigures(sum, day), EMPTY_FIGURES);
  const kept = statusesIn(only);
  const keeps = (status: QrPaymentStatus) => kept.includes(status);
  const count = (status: QrPaymentStatus) => (keeps(status) ? totalsFor(total, status).count : 0n);
  const received = keeps('Success') ? total.successAmountMinor : 0n;
  const totalCount = kept.reduce((sum, status) => sum + totalsFor(total, status).count, 0n);
  return {
    summary: {
      totalTransactions: Number(totalCount),
      totalAmount: toMajorUnits(received),
      successfulTransactions: Number(count('Success')),
      failedTransactions: Number(count('Failed')),
      pendingTransactions: Number(count('Pending')),
      successRate: percentage(count('Success'), totalCount),
      averageAmount: toMajorUnits(divideRounded(received, count('Success'))),
    },
    statusBreakdown: kept
      .map((status) => ({ status, ...totalsFor(total, status) }))
      .filter((entry) => entry.count > 0n)
      .map((entry) => ({
        _id: entry.status,
        count: Number(entry.count),
        totalAmount: toMajorUnits(entry.amountMinor),
      })),
    dailyStats: days
      .map((day) => ({
        _id: day.day,
        count: countOf(day, only),
        amount: toMajorUnits(keeps('Success') ? day.successAmountMinor : 0n),
      }))
      .filter((day) => day.count > 0),
  };
}
