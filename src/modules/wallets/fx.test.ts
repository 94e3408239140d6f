import { describe, expect, it } from 'vitest';
import { convert, formatRate, invert, parseRate } from './fx.ts';

describe('parseRate', () => {
  it('reads plain positive decimals exactly', () => {
    expect(parseRate('83.25')).toEqual({ numerator: 8325n, denominator: 100n });
    expect(parseRate('1')).toEqual({ numerator: 1n, denominator: 1n });
    expect(parseRate('0.000000000001')).toEqual({ numerator: 1n, denominator: 10n ** 12n });
  });
  it('refuses zero, negatives, exponents and too many places', () => {
    for (const bad of ['0', '0.0', '-1', '1e3', '1.0000000000001', 'abc', ''])
      expect(parseRate(bad), bad).toBeNull();
  });
});

describe('convert', () => {
  it('converts 100.00 USD at 83.25 with a 0.5% spread: 8,325.00 gross, 41.63 spread, 8,283.37 received', () => {
    const rate = parseRate('83.25');
    if (rate === null) throw new Error('rate');
    expect(convert(10_000n, { from: 2, to: 2 }, rate, 50)).toEqual({
      grossMinor: 832_500n,
      spreadMinor: 4_163n, // 4,162.5 rounded up
      receiveMinor: 828_337n,
    });
  });
  it('moves between scales: 1.000000 USDT at 83.10 INR is 83.10 INR; 83.10 INR back is 1.000000 USDT', () => {
    const rate = parseRate('83.1');
    if (rate === null) throw new Error('rate');
    expect(convert(1_000_000n, { from: 6, to: 2 }, rate, 0).grossMinor).toBe(8_310n);
    expect(convert(8_310n, { from: 2, to: 6 }, invert(rate), 0).grossMinor).toBe(1_000_000n);
  });
  it('rounds the gross down, so the payer never receives more than the rate gives', () => {
    const rate = parseRate('0.012');
    if (rate === null) throw new Error('rate');
    // 0.01 INR × 0.012 = 0.00012 USD → 0 cents.
    expect(convert(1n, { from: 2, to: 2 }, rate, 0)).toEqual({
      grossMinor: 0n,
      spreadMinor: 0n,
      receiveMinor: 0n,
    });
  });
  it('formats rates for display', () => {
    expect(formatRate({ numerator: 8325n, denominator: 100n })).toBe('83.25');
    expect(formatRate(invert({ numerator: 8n, denominator: 1n }))).toBe('0.125');
  });
});
