import type { QrCategory, QrPaymentStatus, UpiApp } from '../../db/types.ts';
import { UPI_APPS } from '../../db/types.ts';

/** A source of uniform numbers in [0, 1); `Math.random` in production, seeded in tests. */
export type Random = () => number;

export interface SimulatedPayment {
  readonly amountMinor: bigint;
  readonly status: QrPaymentStatus;
  readonly customerName: string;
  readonly customerPhone: string;
  readonly customerUpiApp: UpiApp;
}

/** About 80% succeed, 15% fail and 5% stay pending, as UPI collections do on a good day. */
export const STATUS_WEIGHTS: readonly (readonly [QrPaymentStatus, number])[] = [
  ['Success', 0.8],
  ['Failed', 0.15],
  ['Pending', 0.05],
];

/** Rupee ranges payers typically pay through each kind of QR code, and the step amounts round to. */
export const CATEGORY_AMOUNTS: Record<
  QrCategory,
  { minRupees: number; maxRupees: number; stepMinor: bigint }
> = {
  Retail: { minRupees: 10, maxRupees: 5_000, stepMinor: 1n },
  Rental: { minRupees: 3_000, maxRupees: 50_000, stepMinor: 50_000n },
  Education: { minRupees: 500, maxRupees: 25_000, stepMinor: 10_000n },
  Custom: { minRupees: 1, maxRupees: 10_000, stepMinor: 100n },
};

const FIRST_NAMES = [
  'Aarav',
  'Vivaan',
  'Aditya',
  'Vihaan',
  'Arjun',
  'Sai',
  'Reyansh',
  'Ayaan',
  'Krishna',
  'Ishaan',
  'Rohan',
  'Rahul',
  'Amit',
  'Suresh',
  'Rajesh',
  'Vikram',
  'Karthik',
  'Manoj',
  'Sanjay',
  'Deepak',
  'Aadhya',
  'Ananya',
  'Diya',
  'Saanvi',
  'Pari',
  'Anika',
  'Navya',
  'Priya',
  'Sneha',
  'Pooja',
  'Kavya',
  'Lakshmi',
  'Meera',
  'Neha',
  'Riya',
  'Shreya',
  'Divya',
  'Anjali',
  'Sunita',
  'Fatima',
  'Imran',
  'Harpreet',
  'Gurpreet',
  'Joseph',
  'Mary',
];
const LAST_NAMES = [
  'Sharma',
  'Verma',
  'Gupta',
  'Singh',
  'Kumar',
  'Patel',
  'Shah',
  'Mehta',
  'Reddy',
  'Rao',
  'Iyer',
  'Nair',
  'Menon',
  'Pillai',
  'Das',
  'Banerjee',
  'Chatterjee',
  'Mukherjee',
  'Joshi',
  'Kulkarni',
  'Deshpande',
  'Jain',
  'Agarwal',
  'Khan',
  'Ansari',
  'Gill',
  'Sandhu',
  'Fernandes',
  'DSouza',
  'Naidu',
];

const PAISE_PER_RUPEE = 100n;

export function pickStatus(random: Random): QrPaymentStatus {
  let roll = random();
  for (const [status, weight] of STATUS_WEIGHTS) {
    if (roll < weight) return status;
    roll -= weight;
  }
  return 'Success';
}

/**
 * An amount that fits the category and never exceeds `maxAmountMinor` (0: no limit), at least
 * one rupee. When the limit is below the category's usual range, the range shrinks to fit.
 */
export function pickAmountMinor(random: Random, category: QrCategory, maxAmountMinor: bigint): bigint {
  const range = CATEGORY_AMOUNTS[category];
  let low = BigInt(range.minRupees) * PAISE_PER_RUPEE;
  let high = BigInt(range.maxRupees) * PAISE_PER_RUPEE;
  if (maxAmountMinor > 0n && high > maxAmountMinor) high = maxAmountMinor;
  if (low > high) low = PAISE_PER_RUPEE;
  const span = high - low;
  const raw = low + BigInt(Math.floor(random() * (Number(span) + 1)));
  const rounded = (raw / range.stepMinor) * range.stepMinor;
  return rounded >= low && rounded <= high ? rounded : raw;
}

/** A valid Indian mobile number: ten digits, the first 6 to 9. */
export function pickPhone(random: Random): string {
  let phone = String(6 + Math.floor(random() * 4));
  for (let digit = 1; digit < 10; digit += 1) phone += String(Math.floor(random() * 10));
  return phone;
}

function pickFrom<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

export function simulatePayment(
  random: Random,
  qrCode: { category: QrCategory; maxAmountMinor: bigint },
): SimulatedPayment {
  return {
    amountMinor: pickAmountMinor(random, qrCode.category, qrCode.maxAmountMinor),
    status: pickStatus(random),
    customerName: `${pickFrom(random, FIRST_NAMES)} ${pickFrom(random, LAST_NAMES)}`,
    customerPhone: pickPhone(random),
    customerUpiApp: pickFrom(random, UPI_APPS),
  };
}

/** How many payments one simulator run adds: 1 to 3. */
export function paymentsPerRun(random: Random): number {
  return 1 + Math.floor(random() * 3);
}

/** A seeded generator (mulberry32) so tests and the seed script are repeatable. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
