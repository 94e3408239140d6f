import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../lib/clock.ts';
import { CircuitBreakers, DEFAULT_CIRCUIT_POLICY } from './circuit-breaker.ts';

const GATEWAY_ID = 'gw_razorpay';
const START = new Date('2025-01-01T00:00:00.000Z');

function setup() {
  const clock = createManualClock(START);
  const breakers = new CircuitBreakers(DEFAULT_CIRCUIT_POLICY, clock);
  return { clock, breakers };
}

/** Records a sequence written as letters: F a failure, S a success. */
function recordAll(breakers: CircuitBreakers, outcomes: string, gatewayId = GATEWAY_ID): void {
  for (const letter of outcomes) breakers.record(gatewayId, letter === 'F' ? 'failure' : 'success');
}

function openCircuit(breakers: CircuitBreakers): void {
  recordAll(breakers, 'FFFFF');
  expect(breakers.snapshot(GATEWAY_ID).state).toBe('open');
}

describe('CircuitBreakers, closed', () => {
  it('starts closed and lets every attempt through', () => {
    const { breakers } = setup();
    expect(breakers.snapshot(GATEWAY_ID)).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      windowAttempts: 0,
      windowFailures: 0,
      openedAt: null,
    });
    for (let attempt = 0; attempt < 10; attempt += 1) expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
  });

  it('opens on 5 consecutive failures, not on 4 then a success', () => {
    const { clock, breakers } = setup();
    recordAll(breakers, 'FFFFSFFFF');
    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({ state: 'closed', consecutiveFailures: 4 });

    clock.advance(1_000);
    breakers.record(GATEWAY_ID, 'failure');
    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({
      state: 'open',
      consecutiveFailures: 5,
      openedAt: clock.now(),
    });
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
  });

  it('opens on more than 50% failures of at least 20 attempts in the window', () => {
    const { breakers } = setup();
    // 11 failures in runs of at most 4, then successes: the rate is over half from attempt 14 on,
    // but the circuit waits for the 20th attempt.
    recordAll(breakers, 'FFFFSFFFFSFFFSSSSSS');
    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({
      state: 'closed',
      windowAttempts: 19,
      windowFailures: 11,
    });
    breakers.record(GATEWAY_ID, 'success');
    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({
      state: 'open',
      windowAttempts: 20,
      windowFailures: 11,
    });
  });

  it('stays closed at exactly 50% of 20, and at more than 50% of only 19', () => {
    const half = setup();
    recordAll(half.breakers, 'FS'.repeat(10));
    expect(half.breakers.snapshot(GATEWAY_ID)).toMatchObject({
      state: 'closed',
      windowAttempts: 20,
      windowFailures: 10,
    });

    const tooFew = setup();
    recordAll(tooFew.breakers, `${'FFFFS'.repeat(2)}${'FS'.repeat(4)}F`);
    expect(tooFew.breakers.snapshot(GATEWAY_ID)).toMatchObject({
      state: 'closed',
      windowAttempts: 19,
      windowFailures: 13,
    });
  });

  it('counts only the last 60 s: old attempts age out, spread ones within the window add up', () => {
    const aged = setup();
    recordAll(aged.breakers, `${'FFFFS'.repeat(2)}${'FS'.repeat(4)}F`);
    aged.clock.advance(61_000);
    expect(aged.breakers.snapshot(GATEWAY_ID)).toMatchObject({ windowAttempts: 0, windowFailures: 0 });
    recordAll(aged.breakers, 'SFS');
    expect(aged.breakers.snapshot(GATEWAY_ID)).toMatchObject({ state: 'closed', windowAttempts: 3 });

    const spread = setup();
    recordAll(spread.breakers, 'FFFFSFFFFS');
    spread.clock.advance(30_000);
    recordAll(spread.breakers, 'FFFSSFFFS');
    expect(spread.breakers.snapshot(GATEWAY_ID).state).toBe('closed');
    spread.breakers.record(GATEWAY_ID, 'success');
    expect(spread.breakers.snapshot(GATEWAY_ID)).toMatchObject({ state: 'open', windowAttempts: 20 });
  });

  it('keeps each gateway apart', () => {
    const { breakers } = setup();
    openCircuit(breakers);
    expect(breakers.tryAcquire('gw_payu')).toBe(true);
    expect(breakers.snapshot('gw_payu').state).toBe('closed');
  });
});

describe('CircuitBreakers, open and half open', () => {
  it('refuses until the cool-down, then lets exactly one trial through', () => {
    const { clock, breakers } = setup();
    openCircuit(breakers);
    const openedAt = clock.now();

    clock.advance(29_999);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
    expect(breakers.snapshot(GATEWAY_ID).state).toBe('open');

    clock.advance(1);
    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({ state: 'half_open', openedAt });
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
  });

  it('closes and resets the counts when the trial succeeds', () => {
    const { clock, breakers } = setup();
    openCircuit(breakers);
    clock.advance(30_000);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
    breakers.record(GATEWAY_ID, 'success');

    expect(breakers.snapshot(GATEWAY_ID)).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      windowAttempts: 0,
      windowFailures: 0,
      openedAt: null,
    });
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
  });

  it('reopens from now when the trial fails, and half-opens again a cool-down later', () => {
    const { clock, breakers } = setup();
    openCircuit(breakers);
    clock.advance(30_000);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
    clock.advance(2_000);
    breakers.record(GATEWAY_ID, 'failure');
    const reopenedAt = clock.now();

    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({ state: 'open', openedAt: reopenedAt });
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
    clock.advance(29_999);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
    clock.advance(1);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
  });

  it('releases a trial never recorded after the cool-down, so the circuit cannot wedge', () => {
    const { clock, breakers } = setup();
    openCircuit(breakers);
    clock.advance(30_000);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);

    clock.advance(29_999);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);
    clock.advance(1);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(true);
    expect(breakers.tryAcquire(GATEWAY_ID)).toBe(false);

    breakers.record(GATEWAY_ID, 'success');
    expect(breakers.snapshot(GATEWAY_ID).state).toBe('closed');
  });

  it('ignores late outcomes of attempts let through before it opened', () => {
    const { clock, breakers } = setup();
    openCircuit(breakers);
    const openedAt = clock.now();
    recordAll(breakers, 'SSSF');
    expect(breakers.snapshot(GATEWAY_ID)).toMatchObject({ state: 'open', openedAt });

    clock.advance(30_000);
    breakers.record(GATEWAY_ID, 'success');
    expect(breakers.snapshot(GATEWAY_ID).state).toBe('half_open');
  });
});

describe('CircuitBreakers, memory', () => {
  it('keeps a million records to the last window, not a million entries', () => {
    const { clock, breakers } = setup();
    const recordsCount = 1_000_000;
    for (let record = 0; record < recordsCount; record += 1) {
      clock.advance(1);
      breakers.record(GATEWAY_ID, record % 4 === 0 ? 'failure' : 'success');
    }
    const snapshot = breakers.snapshot(GATEWAY_ID);
    expect(snapshot.state).toBe('closed');
    // One record a millisecond: the 60 s window holds about 60,000 of them (to one 1 s bucket).
    expect(snapshot.windowAttempts).toBeGreaterThanOrEqual(59_000);
    expect(snapshot.windowAttempts).toBeLessThanOrEqual(60_000);
    expect(snapshot.windowFailures / snapshot.windowAttempts).toBeCloseTo(0.25, 2);
  });
});

describe('CircuitBreakers policy', () => {
  it('refuses a policy that cannot work', () => {
    const clock = createManualClock(START);
    expect(() => new CircuitBreakers({ ...DEFAULT_CIRCUIT_POLICY, windowMs: 0 }, clock)).toThrow(/windowMs/);
    expect(() => new CircuitBreakers({ ...DEFAULT_CIRCUIT_POLICY, failureRateMax: 1.5 }, clock)).toThrow(
      /failureRateMax/,
    );
  });
});
