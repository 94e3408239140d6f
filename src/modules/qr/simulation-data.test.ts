import { describe, expect, it } from 'vitest';
import type { QrCategory, QrPaymentStatus } from '../../db/types.ts';
import {
  paymentsPerRun,
  pickAmountMinor,
  pickPhone,
  pickStatus,
  seededRandom,
  simulatePayment,
} from './simulation-data.ts';

const SAMPLE = 100_000;
/** ±1 percentage point: about 8 standard deviations for 80% over 100,000 draws. */
const TOLERANCE = 0.01;

/** The category ranges in paise and the step amounts are rounded to (the simulator's design). */
const RANGES: Record<QrCategory, { low: bigint; high: bigint; step: bigint }> = {
  Retail: { low: 1_000n, high: 500_000n, step: 1n },
  Rental: { low: 300_000n, high: 5_000_000n, step: 50_000n },
  Education: { low: 50_000n, high: 2_500_000n, step: 10_000n },
  Custom: { low: 100n, high: 1_000_000n, step: 100n },
};
const CATEGORIES = Object.keys(RANGES) as QrCategory[];

function shares(statuses: readonly QrPaymentStatus[]): Record<QrPaymentStatus, number> {
  const counts: Record<QrPaymentStatus, number> = { Success: 0, Failed: 0, Pending: 0 };
  for (const status of statuses) counts[status] += 1;
  return {
    Success: counts.Success / statuses.length,
    Failed: counts.Failed / statuses.length,
    Pending: counts.Pending / statuses.length,
  };
}

function expectMix(statuses: readonly QrPaymentStatus[]): void {
  const mix = shares(statuses);
  expect(statuses).toHaveLength(SAMPLE);
  expect(Math.abs(mix.Success - 0.8), `Success ${mix.Success}`).toBeLessThanOrEqual(TOLERANCE);
  expect(Math.abs(mix.Failed - 0.15), `Failed ${mix.Failed}`).toBeLessThanOrEqual(TOLERANCE);
  expect(Math.abs(mix.Pending - 0.05), `Pending ${mix.Pending}`).toBeLessThanOrEqual(TOLERANCE);
}

function draws<T>(count: number, draw: () => T): T[] {
  return Array.from({ length: count }, draw);
}

/** The amounts outside [low, high] (and, with a step, off it); [] when all fit. */
function outside(amounts: readonly bigint[], low: bigint, high: bigint, step = 1n): bigint[] {
  return amounts.filter((amount) => amount < low || amount > high || amount % step !== 0n);
}

describe('status mix (80% Success, 15% Failed, 5% Pending)', () => {
  it('holds within one percentage point over 100,000 seeded draws, for several seeds', () => {
    for (const seed of [1, 42, 2024]) {
      const random = seededRandom(seed);
      expectMix(draws(SAMPLE, () => pickStatus(random)));
    }
  });

  it('holds within one percentage point over 100,000 Math.random draws', () => {
    expectMix(draws(SAMPLE, () => pickStatus(Math.random)));
  });

  it('holds for whole simulated payments, where each payment consumes several draws', () => {
    const random = seededRandom(7);
    expectMix(
      draws(SAMPLE, () => simulatePayment(random, { category: 'Retail', maxAmountMinor: 0n }).status),
    );
    expectMix(
      draws(SAMPLE, () => simulatePayment(Math.random, { category: 'Custom', maxAmountMinor: 0n }).status),
    );
  });

  it('maps the unit interval onto the three statuses in order', () => {
    expect(pickStatus(() => 0)).toBe('Success');
    expect(pickStatus(() => 0.79)).toBe('Success');
    expect(pickStatus(() => 0.81)).toBe('Failed');
    expect(pickStatus(() => 0.94)).toBe('Failed');
    expect(pickStatus(() => 0.96)).toBe('Pending');
    expect(pickStatus(() => 0.999_999_999)).toBe('Pending');
  });
});

describe('amounts', () => {
  it("stay within each category's range and step without a maximum, at least one rupee", () => {
    const random = seededRandom(11);
    for (const category of CATEGORIES) {
      const { low, high, step } = RANGES[category];
      const amounts = draws(20_000, () => pickAmountMinor(random, category, 0n));
      expect(outside(amounts, low, high, step), category).toEqual([]);
      expect(outside(amounts, 100n, high), category).toEqual([]);
      // The range is used, not a corner of it: amounts reach into both halves.
      const middle = (low + high) / 2n;
      expect(amounts.some((amount) => amount < middle)).toBe(true);
      expect(amounts.some((amount) => amount > middle)).toBe(true);
    }
  });

  it('reach both ends of the range (lowest and highest draws)', () => {
    expect(pickAmountMinor(() => 0, 'Retail', 0n)).toBe(1_000n);
    expect(pickAmountMinor(() => 0.999_999_999_9, 'Retail', 0n)).toBe(500_000n);
    expect(pickAmountMinor(() => 0, 'Rental', 0n)).toBe(300_000n);
    expect(pickAmountMinor(() => 0.999_999_999_9, 'Rental', 0n)).toBe(5_000_000n);
    expect(pickAmountMinor(() => 0, 'Custom', 0n)).toBe(100n);
  });

  it('never exceed maxAmount when it is inside the range', () => {
    const random = seededRandom(12);
    const cases: [QrCategory, bigint, bigint][] = [
      // category, max (paise), the lowest amount expected
      ['Retail', 25_075n, 1_000n], // ₹250.75
      ['Rental', 1_000_000n, 300_000n], // ₹10,000
      ['Education', 100_000n, 50_000n], // ₹1,000
      ['Custom', 150_050n, 100n], // ₹1,500.50
    ];
    for (const [category, max, low] of cases) {
      const amounts = draws(20_000, () => pickAmountMinor(random, category, max));
      expect(outside(amounts, low, max), `${category} max ${max}`).toEqual([]);
      // The limit narrows the range rather than collapsing it: amounts come close to the maximum.
      expect(amounts.some((amount) => amount > max - max / 10n)).toBe(true);
    }
  });

  it("never exceed maxAmount when it is below the category's minimum (Rental with max ₹100)", () => {
    const random = seededRandom(13);
    const amounts = draws(20_000, () => pickAmountMinor(random, 'Rental', 10_000n));
    expect(outside(amounts, 100n, 10_000n)).toEqual([]);
    expect(new Set(amounts).size).toBeGreaterThan(100);
    for (const category of ['Retail', 'Education'] as const) {
      const amounts = draws(5_000, () => pickAmountMinor(random, category, 500n));
      expect(outside(amounts, 100n, 500n), `${category} max ₹5`).toEqual([]);
    }
  });

  it('are exactly one rupee when maxAmount is one rupee, whatever the category', () => {
    const random = seededRandom(14);
    for (const category of CATEGORIES) {
      expect(new Set(draws(1_000, () => pickAmountMinor(random, category, 100n)))).toEqual(new Set([100n]));
    }
  });

  it('never exceed maxAmount in simulated payments, with Math.random', () => {
    for (const category of CATEGORIES) {
      const amounts = draws(
        5_000,
        () => simulatePayment(Math.random, { category, maxAmountMinor: 20_000n }).amountMinor,
      );
      expect(outside(amounts, 100n, 20_000n), category).toEqual([]);
    }
  });
});

describe('customers', () => {
  it('have valid Indian mobile numbers: ten digits, the first 6 to 9, every first digit used', () => {
    const random = seededRandom(21);
    const phones = draws(10_000, () => pickPhone(random));
    expect(phones.filter((phone) => !/^[6-9]\d{9}$/.test(phone))).toEqual([]);
    expect(new Set(phones.map((phone) => phone[0]))).toEqual(new Set(['6', '7', '8', '9']));
    expect(new Set(phones).size).toBeGreaterThan(9_990);
    expect(pickPhone(() => 0)).toBe('6000000000');
    expect(pickPhone(() => 0.999_999)).toBe('9999999999');
  });

  it('are "First Last" names, varied, paying with the five UPI apps', () => {
    const random = seededRandom(22);
    const payments = draws(5_000, () =>
      simulatePayment(random, { category: 'Education', maxAmountMinor: 0n }),
    );
    const names = payments.map((payment) => payment.customerName);
    expect(names.filter((name) => !/^[A-Z][A-Za-z]+ [A-Z][A-Za-z]+$/.test(name))).toEqual([]);
    expect(payments.filter((payment) => !/^[6-9]\d{9}$/.test(payment.customerPhone))).toEqual([]);
    expect(
      new Set(payments.map((payment) => payment.customerName.split(' ')[0])).size,
    ).toBeGreaterThanOrEqual(30);
    expect(
      new Set(payments.map((payment) => payment.customerName.split(' ')[1])).size,
    ).toBeGreaterThanOrEqual(20);
    expect(new Set(payments.map((payment) => payment.customerUpiApp))).toEqual(
      new Set(['GPay', 'PhonePe', 'Paytm', 'BHIM', 'AmazonPay']),
    );
  });
});

describe('payments per run', () => {
  it('is 1, 2 or 3, each about a third of the time', () => {
    const random = seededRandom(31);
    const counts = new Map<number, number>();
    for (let index = 0; index < 30_000; index += 1) {
      const count = paymentsPerRun(random);
      counts.set(count, (counts.get(count) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([1, 2, 3]);
    for (const [count, times] of counts) {
      expect(Math.abs(times / 30_000 - 1 / 3), `${count} payments per run`).toBeLessThan(0.02);
    }
    expect(paymentsPerRun(() => 0)).toBe(1);
    expect(paymentsPerRun(() => 0.999_999)).toBe(3);
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed, differs between seeds and stays in [0, 1)', () => {
    const first = draws(1_000, seededRandom(99));
    const again = draws(1_000, seededRandom(99));
    const other = draws(1_000, seededRandom(100));
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect([...first, ...other].filter((value) => !(value >= 0 && value < 1))).toEqual([]);
    expect(new Set(first).size).toBe(1_000);
  });

  it('makes simulated payments repeatable', () => {
    const make = (seed: number) => {
      const random = seededRandom(seed);
      return draws(50, () => simulatePayment(random, { category: 'Rental', maxAmountMinor: 2_000_000n }));
    };
    expect(make(5)).toEqual(make(5));
    expect(make(5)).not.toEqual(make(6));
  });
});
