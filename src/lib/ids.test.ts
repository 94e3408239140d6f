import { describe, expect, it } from 'vitest';
import { isUuid, uuidv7 } from './ids.ts';

describe('uuidv7', () => {
  it('carries the timestamp in its first 48 bits, version 7 and the RFC variant', () => {
    const at = Date.UTC(2026, 10, 23, 14, 0, 0, 123);
    const id = uuidv7(at);
    expect(isUuid(id)).toBe(true);
    expect(Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)).toBe(at);
    expect(id[14]).toBe('7');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
  });

  it('sorts by creation time and does not repeat', () => {
    const ids = Array.from({ length: 1000 }, (_, index) => uuidv7(1_800_000_000_000 + index));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const sameMillisecond = new Set(Array.from({ length: 1000 }, () => uuidv7(1_800_000_000_000)));
    expect(sameMillisecond.size).toBe(1000);
  });

  it('sorts ids made in one millisecond in the order they were made', () => {
    for (let round = 0; round < 50; round += 1) {
      const at = 1_900_000_000_000 + round;
      const ids = Array.from({ length: 20 }, () => uuidv7(at));
      expect([...ids].sort()).toEqual(ids);
    }
  });
});
