import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../lib/clock.ts';
import type { PaymentMethod } from './connectors/connector.ts';
import {
  eligibleGateways,
  feeMinor,
  type RankingInputs,
  type RoutableGateway,
  rankGateways,
  SuccessRateWindow,
} from './routing.ts';

const ROUTES_COUNT = 10_000;
const START = new Date('2025-01-01T00:00:00.000Z');
const WINDOW_MS = 60_000;

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1), so every run draws the same sequence. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function gateway(id: string, overrides: Partial<RoutableGateway> = {}): RoutableGateway {
  return {
    id,
    name: id,
    enabled: true,
    priority: 10,
    weight: 1,
    methods: ['upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking'],
    feePercentBasisPoints: 200,
    feeFixedMinor: 0n,
    minAmountMinor: null,
    maxAmountMinor: null,
    ...overrides,
  };
}

const NO_HISTORY = () => ({ successes: 0, attempts: 0 });

function inputs(overrides: Partial<RankingInputs>): RankingInputs {
  return {
    strategy: 'priority',
    amountMinor: 50_000n,
    random: seededRandom(1),
    successRate: NO_HISTORY,
    method: 'upi_intent',
    explorationShare: 0.05,
    preferredGatewayIds: null,
    ...overrides,
  };
}

/** How often each gateway was the first pick over ROUTES_COUNT routes, as a share. */
function firstPickShares(eligible: readonly RoutableGateway[], rankingInputs: RankingInputs) {
  const counts = new Map<string, number>();
  for (let route = 0; route < ROUTES_COUNT; route += 1) {
    const first = rankGateways(eligible, rankingInputs)[0]!.id;
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return (id: string) => (counts.get(id) ?? 0) / ROUTES_COUNT;
}

const ids = (ranked: readonly RoutableGateway[]) => ranked.map((entry) => entry.id);

describe('feeMinor', () => {
  it.each([
    [175, 0n, 10_000n, 175n],
    [175, 0n, 1n, 0n],
    [175, 0n, 29n, 1n], // 0.5075 paise rounds up
    [25, 0n, 200n, 1n], // exactly half a paisa rounds up
    [25, 0n, 199n, 0n],
    [200, 300n, 50_000n, 1_300n],
    [0, 500n, 123_456n, 500n],
  ])('%s bp + %s fixed on %s is %s', (basisPoints, fixedMinor, amountMinor, expected) => {
    const priced = gateway('gw', { feePercentBasisPoints: basisPoints, feeFixedMinor: fixedMinor });
    expect(feeMinor(priced, amountMinor)).toBe(expected);
  });
});

describe('eligibleGateways', () => {
  const gateways = [
    gateway('off', { enabled: false }),
    gateway('cards_only', { methods: ['card'] }),
    gateway('big_only', { minAmountMinor: 100_000n }),
    gateway('small_only', { maxAmountMinor: 10_000n }),
    gateway('broken'),
    gateway('healthy'),
    gateway('edges', { minAmountMinor: 50_000n, maxAmountMinor: 50_000n }),
  ];
  const request = { method: 'upi_intent' as const, amountMinor: 50_000n, preferredGatewayIds: null };

  it('gives each skipped gateway its reason and keeps the limits inclusive', () => {
    const result = eligibleGateways(gateways, request, (id) => id !== 'broken');
    expect(ids(result.eligible)).toEqual(['healthy', 'edges']);
    expect(result.skipped).toEqual([
      { gatewayId: 'off', reason: 'disabled' },
      { gatewayId: 'cards_only', reason: 'method_unsupported' },
      { gatewayId: 'big_only', reason: 'below_minimum' },
      { gatewayId: 'small_only', reason: 'above_maximum' },
      { gatewayId: 'broken', reason: 'circuit_open' },
    ]);
  });

  it('asks the circuit only about gateways otherwise eligible', () => {
    const asked: string[] = [];
    eligibleGateways(gateways, request, (id) => {
      asked.push(id);
      return true;
    });
    expect(asked).toEqual(['broken', 'healthy', 'edges']);
  });

  it('skips gateways the merchant did not allow, before anything else', () => {
    const preferred = { ...request, preferredGatewayIds: ['edges', 'off'] };
    const result = eligibleGateways(gateways, preferred, () => true);
    expect(ids(result.eligible)).toEqual(['edges']);
    expect(result.skipped).toContainEqual({ gatewayId: 'off', reason: 'disabled' });
    expect(result.skipped).toContainEqual({ gatewayId: 'healthy', reason: 'not_preferred' });
    expect(result.skipped).toHaveLength(gateways.length - 1);
  });
});

describe('rankGateways: priority', () => {
  const gateways = [
    gateway('c', { name: 'Cashfree', priority: 20 }),
    gateway('p', { name: 'PayU', priority: 10 }),
    gateway('a', { name: 'Airpay', priority: 10 }),
    gateway('r', { name: 'Razorpay', priority: 5 }),
  ];

  it('orders by ascending priority, ties by name, every time', () => {
    const first = firstPickShares(gateways, inputs({ strategy: 'priority' }));
    expect(first('r')).toBe(1);
    expect(ids(rankGateways(gateways, inputs({ strategy: 'priority' })))).toEqual(['r', 'a', 'p', 'c']);
  });

  it("follows the merchant's preferred order over priority", () => {
    const preferred = inputs({ strategy: 'priority', preferredGatewayIds: ['c', 'a', 'r'] });
    const allowed = gateways.filter((entry) => entry.id !== 'p');
    expect(ids(rankGateways(allowed, preferred))).toEqual(['c', 'a', 'r']);
  });
});

describe('rankGateways: weighted', () => {
  it('splits first picks 70/30 within 2%, with the failover order by priority', () => {
    const gateways = [gateway('b', { priority: 2, weight: 30 }), gateway('a', { priority: 1, weight: 70 })];
    const rankingInputs = inputs({ strategy: 'weighted', random: seededRandom(7) });
    const first = firstPickShares(gateways, rankingInputs);
    expect(Math.abs(first('a') - 0.7)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(first('b') - 0.3)).toBeLessThanOrEqual(0.02);

    const three = [...gateways, gateway('c', { priority: 0, weight: 0 })];
    for (let route = 0; route < 100; route += 1) {
      const ranked = ids(rankGateways(three, rankingInputs));
      expect(ranked[0]).not.toBe('c');
      expect(ranked.slice(1)).toEqual(['c', 'a', 'b'].filter((id) => id !== ranked[0]));
    }
  });

  it('never picks a zero weight first, and falls back to priority when all are zero', () => {
    const mixed = [gateway('zero', { priority: 1, weight: 0 }), gateway('some', { priority: 2, weight: 1 })];
    expect(firstPickShares(mixed, inputs({ strategy: 'weighted', random: seededRandom(3) }))('some')).toBe(1);
    // The largest draw the source can give still lands on a weighted gateway.
    const highest = inputs({ strategy: 'weighted', random: () => 1 - 2 ** -53 });
    expect(rankGateways([...mixed, gateway('last', { priority: 3, weight: 0 })], highest)[0]!.id).toBe(
      'some',
    );

    const zeros = [gateway('b', { priority: 2, weight: 0 }), gateway('a', { priority: 1, weight: 0 })];
    expect(firstPickShares(zeros, inputs({ strategy: 'weighted' }))('a')).toBe(1);
  });

  it('draws the same routes from the same seed', () => {
    const gateways = [gateway('a', { weight: 1 }), gateway('b', { weight: 1 }), gateway('c', { weight: 1 })];
    const run = () => {
      const rankingInputs = inputs({ strategy: 'weighted', random: seededRandom(42) });
      return Array.from({ length: 50 }, () => rankGateways(gateways, rankingInputs)[0]!.id);
    };
    expect(run()).toEqual(run());
  });
});

describe('rankGateways: success_rate', () => {
  const rates: Record<string, { successes: number; attempts: number }> = {
    good: { successes: 95, attempts: 100 },
    fair: { successes: 80, attempts: 100 },
    poor: { successes: 10, attempts: 100 },
  };
  const successRate = (id: string) => rates[id] ?? { successes: 0, attempts: 0 };

  it('ranks by smoothed rate, an unseen gateway at one half, ties by priority', () => {
    const gateways = [
      gateway('poor', { priority: 1 }),
      gateway('unseen', { priority: 2 }),
      gateway('fair', { priority: 3 }),
      gateway('good', { priority: 4 }),
      gateway('even', { priority: 0 }),
    ];
    const evenRate = (id: string) => (id === 'even' ? { successes: 4, attempts: 8 } : successRate(id));
    const ranked = rankGateways(
      gateways,
      inputs({ strategy: 'success_rate', successRate: evenRate, explorationShare: 0 }),
    );
    expect(ids(ranked)).toEqual(['good', 'fair', 'even', 'unseen', 'poor']);
  });

  it('explores a uniformly random other gateway on about 5% of routes', () => {
    const gateways = [gateway('good'), gateway('fair'), gateway('poor')];
    const first = firstPickShares(
      gateways,
      inputs({ strategy: 'success_rate', successRate, random: seededRandom(11), explorationShare: 0.05 }),
    );
    expect(Math.abs(1 - first('good') - 0.05)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(first('fair') - 0.025)).toBeLessThanOrEqual(0.008);
    expect(Math.abs(first('poor') - 0.025)).toBeLessThanOrEqual(0.008);
  });

  it('moves traffic off a failing gateway and back once it recovers, thanks to exploration', () => {
    const withExploration = simulateOutage(0.05);
    expect(withExploration.beforeOutage).toBeGreaterThan(0.9);
    expect(withExploration.duringOutage).toBeLessThan(0.08);
    expect(withExploration.afterRecovery).toBeGreaterThan(0.9);

    // Without exploration the recovered gateway gets no attempts, so nothing shows it recovered:
    // once its failures age out it scores as unseen (one half), below the backup's 0.9.
    const withoutExploration = simulateOutage(0);
    expect(withoutExploration.beforeOutage).toBe(1);
    expect(withoutExploration.duringOutage).toBe(0);
    expect(withoutExploration.afterRecovery).toBe(0);
  });
});

/**
 * Two gateways at 100 routes a second: `primary` succeeds 98% of the time, `backup` 90%. The
 * primary then fails everything for two minutes, and recovers. Returns the primary's share of first
 * picks over the last minute of each phase.
 */
function simulateOutage(explorationShare: number) {
  const clock = createManualClock(START);
  const window = new SuccessRateWindow(WINDOW_MS, clock);
  const outcomes = seededRandom(99);
  const method: PaymentMethod = 'upi_collect';
  // The primary wins the tie while neither has history, so it carries the traffic from the start.
  const gateways = [gateway('primary', { priority: 1 }), gateway('backup', { priority: 2 })];
  const rankingInputs = inputs({
    strategy: 'success_rate',
    method,
    random: seededRandom(5),
    explorationShare,
    successRate: (id, rateMethod) => window.rate(id, rateMethod),
  });
  const routesPerPhase = 12_000;
  const measuredRoutes = 6_000;
  const runPhase = (primarySuccessShare: number) => {
    let primaryFirst = 0;
    for (let route = 0; route < routesPerPhase; route += 1) {
      clock.advance(10);
      const chosen = rankGateways(gateways, rankingInputs)[0]!;
      const successShare = chosen.id === 'primary' ? primarySuccessShare : 0.9;
      window.record(chosen.id, method, outcomes() < successShare);
      if (chosen.id === 'primary' && route >= routesPerPhase - measuredRoutes) primaryFirst += 1;
    }
    return primaryFirst / measuredRoutes;
  };
  return { beforeOutage: runPhase(0.98), duringOutage: runPhase(0), afterRecovery: runPhase(0.98) };
}

describe('rankGateways: lowest_cost', () => {
  // 2% and nothing fixed, against 1% plus ₹10: the same below ₹1,000, the fixed fee cheaper above.
  const gateways = [
    gateway('percent', { priority: 2, feePercentBasisPoints: 200, feeFixedMinor: 0n }),
    gateway('fixed', { priority: 1, feePercentBasisPoints: 100, feeFixedMinor: 1_000n }),
    gateway('dear', { priority: 0, feePercentBasisPoints: 300, feeFixedMinor: 500n }),
  ];
  const order = (amountMinor: bigint) =>
    ids(rankGateways(gateways, inputs({ strategy: 'lowest_cost', amountMinor })));

  it('switches with the amount between a percentage and a fixed fee', () => {
    expect(order(50_000n)).toEqual(['percent', 'fixed', 'dear']);
    expect(order(200_000n)).toEqual(['fixed', 'percent', 'dear']);
    // ₹1,000 costs ₹20 at either: the tie goes by priority.
    expect(order(100_000n)).toEqual(['fixed', 'percent', 'dear']);
  });

  it('picks the cheapest on every route', () => {
    const first = firstPickShares(gateways, inputs({ strategy: 'lowest_cost', amountMinor: 50_000n }));
    expect(first('percent')).toBe(1);
  });
});

describe('SuccessRateWindow', () => {
  it('counts per gateway and method over the rolling window', () => {
    const clock = createManualClock(START);
    const window = new SuccessRateWindow(WINDOW_MS, clock);
    window.record('a', 'card', true);
    window.record('a', 'card', false);
    window.record('a', 'upi_intent', true);
    clock.advance(30_000);
    window.record('a', 'card', true);

    expect(window.rate('a', 'card')).toEqual({ successes: 2, attempts: 3 });
    expect(window.rate('a', 'upi_intent')).toEqual({ successes: 1, attempts: 1 });
    expect(window.rate('b', 'card')).toEqual({ successes: 0, attempts: 0 });

    clock.advance(31_000);
    expect(window.rate('a', 'card')).toEqual({ successes: 1, attempts: 1 });
    clock.advance(30_000);
    expect(window.rate('a', 'card')).toEqual({ successes: 0, attempts: 0 });
  });

  it('keeps a million records to the last window', () => {
    const clock = createManualClock(START);
    const window = new SuccessRateWindow(WINDOW_MS, clock);
    for (let record = 0; record < 1_000_000; record += 1) {
      clock.advance(1);
      window.record('a', 'card', record % 10 !== 0);
    }
    const rate = window.rate('a', 'card');
    expect(rate.attempts).toBeGreaterThanOrEqual(59_000);
    expect(rate.attempts).toBeLessThanOrEqual(60_000);
    expect(rate.successes / rate.attempts).toBeCloseTo(0.9, 2);
  });
});
