/**
 * Money inside Tijori is an integer of minor units (paise for INR). The HTTP API speaks major
 * units (rupees) as JSON numbers with at most two decimals; these functions convert exactly at
 * that edge. A value with more decimals is refused, never rounded: `1.005` is not a price.
 */

export type MinorUnits = bigint;

const MINOR_PER_MAJOR = 100n;
const MAJOR_DECIMALS = 2;
/** Plain decimal notation only: `String(n)` of a JSON number in our range never uses an exponent. */
const DECIMAL_PATTERN = /^(\d+)(?:\.(\d+))?$/;

/**
 * Rupees (a JSON number) to paise (or any major unit to its minor units, `scale` decimals), or null when the value is not a non-negative amount with at
 * most two decimals. `String(value)` is the shortest text that reads back as the same double,
 * so `250.1` converts as "250.1" and `1.005` as "1.005" (refused), with no float arithmetic.
 */
export function toMinorUnits(major: number, scale: number = MAJOR_DECIMALS): MinorUnits | null {
  if (!Number.isFinite(major) || major < 0) return null;
  const match = DECIMAL_PATTERN.exec(String(major));
  if (match === null) return null;
  const [, whole = '0', fraction = ''] = match;
  if (fraction.length > scale) return null;
  return BigInt(whole) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, '0') || '0');
}

/** Minor units to a JSON number in a currency of `scale` decimals (exact below 2^53 minor units). */
export function toMajorUnitsOf(minor: MinorUnits, scale: number): number {
  return Number(minor) / 10 ** scale;
}

/** Paise to rupees as a JSON number; exact for every amount below 2^53 paise. */
export function toMajorUnits(minor: MinorUnits | number): number {
  return toMajorUnitsOf(BigInt(minor), MAJOR_DECIMALS);
}

/** `25000n` -> `"250.00"`: the fixed two-decimal form UPI links and CSV files use. */
export function formatMajorUnits(minor: MinorUnits): string {
  const negative = minor < 0n;
  const absolute = negative ? -minor : minor;
  const whole = absolute / MINOR_PER_MAJOR;
  const fraction = (absolute % MINOR_PER_MAJOR).toString().padStart(MAJOR_DECIMALS, '0');
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

/** Rounded half up to the nearest paisa: averages are reported, never stored. */
export function divideRounded(total: MinorUnits, count: bigint): MinorUnits {
  if (count <= 0n) return 0n;
  return (total * 2n + count) / (count * 2n);
}
