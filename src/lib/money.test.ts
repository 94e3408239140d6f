import { describe, expect, it } from 'vitest';
import { divideRounded, formatMajorUnits, toMajorUnits, toMinorUnits } from './money.ts';

describe('toMinorUnits', () => {
  it.each([
    [250, 25000n],
    [250.1, 25010n],
    [250.5, 25050n],
    [0.07, 7n],
    [0.1, 10n],
    [0.29, 29n],
    [1.1, 110n],
    [0, 0n],
    [1, 100n],
    [99999.99, 9999999n],
    [100000, 10000000n],
  ])('converts %s rupees to %s paise exactly', (major, minor) => {
    expect(toMinorUnits(major)).toBe(minor);
  });

  it.each([
    ['three decimals', 1.005],
    ['three decimals (2.675)', 2.675],
    ['a float sum with a long tail', 0.1 + 0.2],
    ['a tiny amount in exponent notation', 1e-7],
    ['the smallest double', 5e-324],
    ['a negative amount', -1],
    ['a negative cent', -0.01],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a number printed with an exponent', 1e21],
  ])('refuses %s', (_label, major) => {
    expect(toMinorUnits(major)).toBeNull();
  });

  it('round-trips every paise amount in the API range through rupees', () => {
    const ranges: [number, number][] = [
      [0, 200_000],
      [9_990_000, 10_000_000],
    ];
    for (const [from, to] of ranges) {
      for (let paise = from; paise <= to; paise++) {
        const major = toMajorUnits(BigInt(paise));
        if (toMinorUnits(major) !== BigInt(paise)) {
          expect.fail(`${paise} paise -> ${major} rupees -> ${toMinorUnits(major)}`);
        }
      }
    }
  });
});

describe('toMajorUnits', () => {
  it.each([
    [25000n, 250],
    [25010n, 250.1],
    [5n, 0.05],
    [1n, 0.01],
    [0n, 0],
    [9999999n, 99999.99],
    [10000000n, 100000],
    [-150n, -1.5],
  ])('converts %s paise to %s rupees', (minor, major) => {
    expect(toMajorUnits(minor)).toBe(major);
  });

  it('accepts a plain number of paise too', () => {
    expect(toMajorUnits(12345)).toBe(123.45);
  });

  it('is exact up to 2^53 paise', () => {
    expect(toMajorUnits(9_007_199_254_740_991n)).toBe(90071992547409.91);
  });
});

describe('formatMajorUnits', () => {
  it.each([
    [25000n, '250.00'],
    [25010n, '250.10'],
    [25001n, '250.01'],
    [5n, '0.05'],
    [50n, '0.50'],
    [0n, '0.00'],
    [100n, '1.00'],
    [10000000n, '100000.00'],
    [123456789012345678901n, '1234567890123456789.01'],
    [-5n, '-0.05'],
    [-25000n, '-250.00'],
    [-123456n, '-1234.56'],
  ])('formats %s paise as %s', (minor, text) => {
    expect(formatMajorUnits(minor)).toBe(text);
  });
});

describe('divideRounded', () => {
  it.each([
    [5n, 2n, 3n], // 2.5 -> 3 (half up)
    [7n, 2n, 4n], // 3.5 -> 4
    [10n, 4n, 3n], // 2.5 -> 3
    [146050n, 4n, 36513n], // 36512.5 -> 36513
    [146049n, 4n, 36512n], // 36512.25 -> 36512
    [146051n, 4n, 36513n], // 36512.75 -> 36513
    [10n, 3n, 3n], // 3.33 -> 3
    [2n, 3n, 1n], // 0.67 -> 1
    [1n, 3n, 0n], // 0.33 -> 0
    [9n, 3n, 3n],
    [0n, 7n, 0n],
  ])('%s / %s = %s', (total, count, expected) => {
    expect(divideRounded(total, count)).toBe(expected);
  });

  it('returns 0 for a count of zero or less', () => {
    expect(divideRounded(12345n, 0n)).toBe(0n);
    expect(divideRounded(0n, 0n)).toBe(0n);
    expect(divideRounded(12345n, -1n)).toBe(0n);
  });

  it('stays exact for amounts beyond 2^53', () => {
    expect(divideRounded(2n ** 64n + 1n, 2n)).toBe(2n ** 63n + 1n);
  });
});
