import { describe, expect, it } from 'vitest';
import { countOf, percentage, summarize } from './stats.ts';
import type { DayFigures, StatusFigures } from './transactions.repo.ts';

function day(date: string, figures: Partial<StatusFigures>): DayFigures {
  return {
    day: date,
    successCount: 0n,
    successAmountMinor: 0n,
    failedCount: 0n,
    failedAmountMinor: 0n,
    pendingCount: 0n,
    pendingAmountMinor: 0n,
    ...figures,
  };
}

/**
 * Newest first, as the repository gives them. Totals by hand:
 * Success 4 (1260.50 + 200.00 = 1460.50), Failed 2 (50.00 + 15.00 = 65.00), Pending 2 (300.00).
 */
const DAYS: readonly DayFigures[] = [
  day('2026-03-12', {
    successCount: 3n,
    successAmountMinor: 126050n,
    failedCount: 1n,
    failedAmountMinor: 5000n,
  }),
  day('2026-03-11', {}),
  day('2026-03-10', {
    successCount: 1n,
    successAmountMinor: 20000n,
    pendingCount: 2n,
    pendingAmountMinor: 30000n,
  }),
  day('2026-03-09', { failedCount: 1n, failedAmountMinor: 1500n }),
];

describe('percentage', () => {
  it.each([
    [2n, 3n, '66.67'],
    [1n, 3n, '33.33'],
    [0n, 0n, '0.00'],
    [5n, 0n, '0.00'],
    [0n, 5n, '0.00'],
    [1n, 1n, '100.00'],
    [4n, 5n, '80.00'],
    [1n, 8n, '12.50'],
    [7n, 8n, '87.50'],
    [1n, 6n, '16.67'],
    [5n, 6n, '83.33'],
    [1n, 7n, '14.29'],
    [1n, 200n, '0.50'],
    [1n, 20_000n, '0.01'], // 0.005 % -> half up
    [3n, 40_000n, '0.01'], // 0.0075 %
    [1n, 40_000n, '0.00'], // 0.0025 %
    [19_999n, 20_000n, '100.00'], // 99.995 % -> half up
    [39_999n, 40_000n, '100.00'], // 99.9975 %
    [1n, 3_000_000_000_000n, '0.00'],
    [1_000_000_000_000n, 3_000_000_000_000n, '33.33'],
  ])('%s of %s is %s', (part, whole, expected) => {
    expect(percentage(part, whole)).toBe(expected);
  });
});

describe('countOf', () => {
  const figures = DAYS[0]!;

  it('counts every status without a filter', () => {
    expect(countOf(figures)).toBe(4);
    expect(countOf(DAYS[2]!)).toBe(3);
    expect(countOf(DAYS[1]!)).toBe(0);
  });

  it('counts only the filtered status', () => {
    expect(countOf(figures, 'Success')).toBe(3);
    expect(countOf(figures, 'Failed')).toBe(1);
    expect(countOf(figures, 'Pending')).toBe(0);
    expect(countOf(DAYS[2]!, 'Pending')).toBe(2);
  });
});

describe('summarize', () => {
  it('gives all-zero figures and empty lists for no days', () => {
    expect(summarize([])).toEqual({
      summary: {
        totalTransactions: 0,
        totalAmount: 0,
        successfulTransactions: 0,
        failedTransactions: 0,
        pendingTransactions: 0,
        successRate: '0.00',
        averageAmount: 0,
      },
      statusBreakdown: [],
      dailyStats: [],
    });
  });

  it('gives all-zero figures for days that hold nothing', () => {
    const stats = summarize([day('2026-03-12', {}), day('2026-03-11', {})]);
    expect(stats.summary.successRate).toBe('0.00');
    expect(stats.summary.totalTransactions).toBe(0);
    expect(stats.statusBreakdown).toEqual([]);
    expect(stats.dailyStats).toEqual([]);
  });

  it('sums the days: amounts received count Success only, counts every status', () => {
    expect(summarize(DAYS)).toEqual({
      summary: {
        totalTransactions: 8,
        totalAmount: 1460.5,
        successfulTransactions: 4,
        failedTransactions: 2,
        pendingTransactions: 2,
        successRate: '50.00',
        // 146050 paise / 4 = 36512.5 paise, rounded half up to 365.13 rupees
        averageAmount: 365.13,
      },
      statusBreakdown: [
        { _id: 'Success', count: 4, totalAmount: 1460.5 },
        { _id: 'Failed', count: 2, totalAmount: 65 },
        { _id: 'Pending', count: 2, totalAmount: 300 },
      ],
      dailyStats: [
        { _id: '2026-03-12', count: 4, amount: 1260.5 },
        { _id: '2026-03-10', count: 3, amount: 200 },
        { _id: '2026-03-09', count: 1, amount: 0 },
      ],
    });
  });

  it('keeps the order of the days as given', () => {
    const oldestFirst = [...DAYS].reverse();
    expect(summarize(oldestFirst).dailyStats.map((entry) => entry._id)).toEqual([
      '2026-03-09',
      '2026-03-10',
      '2026-03-12',
    ]);
  });

  it('leaves statuses with no transactions out of the breakdown', () => {
    const stats = summarize([
      day('2026-03-12', { successCount: 2n, successAmountMinor: 50001n }),
      day('2026-03-11', { successCount: 1n, successAmountMinor: 99n }),
    ]);
    expect(stats.statusBreakdown).toEqual([{ _id: 'Success', count: 3, totalAmount: 501 }]);
    expect(stats.summary).toEqual({
      totalTransactions: 3,
      totalAmount: 501,
      successfulTransactions: 3,
      failedTransactions: 0,
      pendingTransactions: 0,
      successRate: '100.00',
      averageAmount: 167, // 50100 / 3 = 16700 paise
    });
  });

  it('rounds the success rate and the average half up', () => {
    const stats = summarize([
      day('2026-03-12', {
        successCount: 2n,
        successAmountMinor: 1001n,
        failedCount: 1n,
        failedAmountMinor: 700n,
      }),
    ]);
    expect(stats.summary.successRate).toBe('66.67');
    expect(stats.summary.averageAmount).toBe(5.01); // 500.5 paise -> 501
    expect(stats.summary.totalAmount).toBe(10.01);
  });

  it("with only 'Failed' counts failed payments and reports no money received", () => {
    expect(summarize(DAYS, 'Failed')).toEqual({
      summary: {
        totalTransactions: 2,
        totalAmount: 0,
        successfulTransactions: 0,
        failedTransactions: 2,
        pendingTransactions: 0,
        successRate: '0.00',
        averageAmount: 0,
      },
      statusBreakdown: [{ _id: 'Failed', count: 2, totalAmount: 65 }],
      dailyStats: [
        { _id: '2026-03-12', count: 1, amount: 0 },
        { _id: '2026-03-09', count: 1, amount: 0 },
      ],
    });
  });

  it("with only 'Success' keeps successful payments alone", () => {
    expect(summarize(DAYS, 'Success')).toEqual({
      summary: {
        totalTransactions: 4,
        totalAmount: 1460.5,
        successfulTransactions: 4,
        failedTransactions: 0,
        pendingTransactions: 0,
        successRate: '100.00',
        averageAmount: 365.13,
      },
      statusBreakdown: [{ _id: 'Success', count: 4, totalAmount: 1460.5 }],
      dailyStats: [
        { _id: '2026-03-12', count: 3, amount: 1260.5 },
        { _id: '2026-03-10', count: 1, amount: 200 },
      ],
    });
  });

  it("with only 'Pending' keeps pending payments alone", () => {
    expect(summarize(DAYS, 'Pending')).toEqual({
      summary: {
        totalTransactions: 2,
        totalAmount: 0,
        successfulTransactions: 0,
        failedTransactions: 0,
        pendingTransactions: 2,
        successRate: '0.00',
        averageAmount: 0,
      },
      statusBreakdown: [{ _id: 'Pending', count: 2, totalAmount: 300 }],
      dailyStats: [{ _id: '2026-03-10', count: 2, amount: 0 }],
    });
  });

  it('with a filter that matches nothing gives zeros and empty lists', () => {
    const stats = summarize([day('2026-03-12', { successCount: 1n, successAmountMinor: 100n })], 'Pending');
    expect(stats.summary).toMatchObject({ totalTransactions: 0, totalAmount: 0, successRate: '0.00' });
    expect(stats.statusBreakdown).toEqual([]);
    expect(stats.dailyStats).toEqual([]);
  });

  it('keeps amounts exact in paise over large sums', () => {
    // 1,000,000 payments of 99,999.99 rupees (9,999,999 paise) each: 9,999,999,000,000 paise.
    const stats = summarize([
      day('2026-03-12', { successCount: 1_000_000n, successAmountMinor: 9_999_999_000_000n }),
    ]);
    expect(stats.summary.totalAmount).toBe(99_999_990_000);
    expect(stats.summary.averageAmount).toBe(99_999.99);
  });
});
