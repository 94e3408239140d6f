/**
 * Currency conversion in exact integer arithmetic. A rate is a decimal string (`83.25` rupees per
 * dollar) read as a fraction; amounts are minor units of each currency's own scale.
 */

const RATE_PATTERN = /^(\d{1,18})(?:\.(\d{1,12}))?$/;
const BASIS_POINTS = 10_000n;

export interface Fraction {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/** `"83.25"` -> 8325/100; null for anything that is not a positive plain decimal. */
export function parseRate(rate: string): Fraction | null {
  const match = RATE_PATTERN.exec(rate.trim());
  if (match === null) return null;
  const [, whole = '0', fraction = ''] = match;
  const numerator = BigInt(whole + fraction);
  if (numerator === 0n) return null;
  return { numerator, denominator: 10n ** BigInt(fraction.length) };
}

/** The rate the other way round, as a fraction (exact; printed only for display). */
export function invert(rate: Fraction): Fraction {
  return { numerator: rate.denominator, denominator: rate.numerator };
}

/** A fraction as a decimal string with up to 12 places (for replies; never used for money). */
export function formatRate(rate: Fraction): string {
  const scaled = (rate.numerator * 10n ** 12n) / rate.denominator;
  const text = scaled.toString().padStart(13, '0');
  const whole = text.slice(0, -12);
  const fraction = text.slice(-12).replace(/0+$/, '');
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

export interface Conversion {
  /** `amount × rate` in the target currency, rounded down (never more than the rate gives). */
  readonly grossMinor: bigint;
  /** The platform's spread, rounded up: what fees revenue keeps. */
  readonly spreadMinor: bigint;
  /** What the payer receives: gross − spread. */
  readonly receiveMinor: bigint;
}

export function convert(
  amountMinor: bigint,
  scales: { from: number; to: number },
  rate: Fraction,
  spreadBasisPoints: number,
): Conversion {
  const grossMinor =
    (amountMinor * rate.numerator * 10n ** BigInt(scales.to)) /
    (rate.denominator * 10n ** BigInt(scales.from));
  const spreadBps = BigInt(spreadBasisPoints);
  const spreadMinor = (grossMinor * spreadBps + BASIS_POINTS - 1n) / BASIS_POINTS;
  return { grossMinor, spreadMinor, receiveMinor: grossMinor - spreadMinor };
}
