import type { Clock } from '../../lib/clock.ts';
import type { MinorUnits } from '../../lib/money.ts';
import { RollingWindowCounts } from './circuit-breaker.ts';
import type { PaymentMethod } from './connectors/connector.ts';

/**
 * Which gateways may take a payment, and in what order to try them. Pure and in memory: the caller
 * loads the gateway records, passes the circuit check and the success rates, and supplies the
 * random source, so a route is reproducible in tests.
 */

export const ROUTING_STRATEGIES = ['priority', 'weighted', 'success_rate', 'lowest_cost'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

export interface RoutableGateway {
  id: string;
  name: string;
  enabled: boolean;
  /** Lower is tried first. */
  priority: number;
  /** >= 0; the share of first picks under the weighted strategy. */
  weight: number;
  methods: readonly PaymentMethod[];
  /** 175 = 1.75%. */
  feePercentBasisPoints: number;
  feeFixedMinor: bigint;
  minAmountMinor: bigint | null;
  maxAmountMinor: bigint | null;
}

export interface RouteRequest {
  method: PaymentMethod;
  amountMinor: bigint;
  /** The merchant's allowed gateways in its preferred order, or null for all. */
  preferredGatewayIds: readonly string[] | null;
}

/** Why each skipped gateway was skipped (for logs and the NO_ELIGIBLE_GATEWAY error details). */
export interface Skipped {
  gatewayId: string;
  reason:
    | 'disabled'
    | 'method_unsupported'
    | 'below_minimum'
    | 'above_maximum'
    | 'circuit_open'
    | 'not_preferred';
}

/**
 * Splits the gateways into those that may take this payment (in the order given) and those skipped,
 * with the first reason found. The circuit is asked last and only for otherwise eligible gateways;
 * pass a side-effect-free check (`snapshot(id).state !== 'open'`), and take the half-open trial
 * with `tryAcquire` right before the attempt itself.
 */
export function eligibleGateways(
  gateways: readonly RoutableGateway[],
  request: RouteRequest,
  circuitAllows: (gatewayId: string) => boolean,
): { eligible: RoutableGateway[]; skipped: Skipped[] } {
  const eligible: RoutableGateway[] = [];
  const skipped: Skipped[] = [];
  for (const gateway of gateways) {
    const reason = skipReason(gateway, request) ?? (circuitAllows(gateway.id) ? null : 'circuit_open');
    if (reason === null) eligible.push(gateway);
    else skipped.push({ gatewayId: gateway.id, reason });
  }
  return { eligible, skipped };
}

function skipReason(gateway: RoutableGateway, request: RouteRequest): Skipped['reason'] | null {
  const preferred = request.preferredGatewayIds;
  if (preferred !== null && !preferred.includes(gateway.id)) return 'not_preferred';
  if (!gateway.enabled) return 'disabled';
  if (!gateway.methods.includes(request.method)) return 'method_unsupported';
  if (gateway.minAmountMinor !== null && request.amountMinor < gateway.minAmountMinor) return 'below_minimum';
  if (gateway.maxAmountMinor !== null && request.amountMinor > gateway.maxAmountMinor) return 'above_maximum';
  return null;
}

export interface RankingInputs {
  strategy: RoutingStrategy;
  amountMinor: bigint;
  /** Uniform in [0, 1). */
  random: () => number;
  successRate: (gatewayId: string, method: PaymentMethod) => { successes: number; attempts: number };
  method: PaymentMethod;
  /** The share of routes whose first pick explores under success_rate, e.g. 0.05. */
  explorationShare: number;
  preferredGatewayIds: readonly string[] | null;
}

/**
 * The order to try eligible gateways in: the first is the routing choice, the rest the failover
 * order. Every strategy breaks ties, and orders what it does not rank, by the priority order: the
 * merchant's preferred order when it has one, else ascending priority, then name (then id).
 */
export function rankGateways(eligible: readonly RoutableGateway[], inputs: RankingInputs): RoutableGateway[] {
  const byPriority = priorityOrder(eligible, inputs.preferredGatewayIds);
  switch (inputs.strategy) {
    case 'priority':
      return byPriority;
    case 'weighted':
      return weightedOrder(byPriority, inputs.random);
    case 'success_rate':
      return successRateOrder(byPriority, inputs);
    case 'lowest_cost':
      return lowestCostOrder(byPriority, inputs.amountMinor);
  }
}

function priorityOrder(
  eligible: readonly RoutableGateway[],
  preferredGatewayIds: readonly string[] | null,
): RoutableGateway[] {
  const byPriority = [...eligible].sort(
    (left, right) =>
      left.priority - right.priority || compareText(left.name, right.name) || compareText(left.id, right.id),
  );
  if (preferredGatewayIds === null) return byPriority;
  const rankOf = (gateway: RoutableGateway) => {
    const index = preferredGatewayIds.indexOf(gateway.id);
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  // Stable sort: gateways the merchant did not list (none, after eligibleGateways) keep priority.
  return byPriority.sort((left, right) => rankOf(left) - rankOf(right));
}

/** The first pick drawn with probability weight / total; zero weights never first unless all are. */
function weightedOrder(byPriority: RoutableGateway[], random: () => number): RoutableGateway[] {
  for (const gateway of byPriority) assertWeight(gateway);
  const totalWeight = byPriority.reduce((sum, gateway) => sum + gateway.weight, 0);
  if (totalWeight === 0) return byPriority;
  const draw = random() * totalWeight;
  let cumulativeWeight = 0;
  let chosen = byPriority.findLast((gateway) => gateway.weight > 0)!;
  for (const gateway of byPriority) {
    cumulativeWeight += gateway.weight;
    if (draw < cumulativeWeight) {
      chosen = gateway;
      break;
    }
  }
  return moveToFront(byPriority, chosen);
}

/**
 * Highest smoothed success rate first: (successes + 1) / (attempts + 2), so a gateway with no
 * recent attempts scores one half, neither shunned nor favoured over proven ones. With probability
 * `explorationShare` the first pick is instead a uniformly random other gateway: a gateway that
 * failed and recovered gets no traffic otherwise, and its rate would never show the recovery.
 */
function successRateOrder(byPriority: RoutableGateway[], inputs: RankingInputs): RoutableGateway[] {
  const scored = byPriority.map((gateway) => ({
    gateway,
    rate: inputs.successRate(gateway.id, inputs.method),
  }));
  // Cross-multiplied so equal rates tie exactly (no float rounding); the sort is stable.
  scored.sort(
    (left, right) =>
      (right.rate.successes + 1) * (left.rate.attempts + 2) -
      (left.rate.successes + 1) * (right.rate.attempts + 2),
  );
  const ranked = scored.map((entry) => entry.gateway);
  if (ranked.length < 2 || inputs.random() >= inputs.explorationShare) return ranked;
  const explored = ranked[1 + Math.floor(inputs.random() * (ranked.length - 1))]!;
  return moveToFront(ranked, explored);
}

function lowestCostOrder(byPriority: RoutableGateway[], amountMinor: bigint): RoutableGateway[] {
  const priced = byPriority.map((gateway) => ({ gateway, feeMinor: feeMinor(gateway, amountMinor) }));
  priced.sort((left, right) => compareBigint(left.feeMinor, right.feeMinor));
  return priced.map((entry) => entry.gateway);
}

const BASIS_POINTS_PER_WHOLE = 10_000n;

/** The gateway's fee for this amount: the percentage rounded half up to the paisa, plus the fixed. */
export function feeMinor(gateway: RoutableGateway, amountMinor: bigint): MinorUnits {
  const basisPoints = gateway.feePercentBasisPoints;
  if (!Number.isSafeInteger(basisPoints) || basisPoints < 0) {
    throw new Error(`Gateway ${gateway.id}: feePercentBasisPoints must be a non-negative integer`);
  }
  if (amountMinor < 0n) throw new Error(`feeMinor: amountMinor must not be negative, got ${amountMinor}`);
  const scaled = amountMinor * BigInt(basisPoints);
  const percentMinor = (scaled + BASIS_POINTS_PER_WHOLE / 2n) / BASIS_POINTS_PER_WHOLE;
  return percentMinor + gateway.feeFixedMinor;
}

/**
 * Successes and attempts per gateway and method over a rolling window, in a fixed ring of time
 * buckets per pair, so memory is bounded by gateways × methods whatever the traffic.
 */
export class SuccessRateWindow {
  private readonly windows = new Map<string, RollingWindowCounts>();

  constructor(
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  record(gatewayId: string, method: PaymentMethod, succeeded: boolean): void {
    const key = windowKey(gatewayId, method);
    let window = this.windows.get(key);
    if (window === undefined) {
      window = new RollingWindowCounts(this.windowMs);
      this.windows.set(key, window);
    }
    window.add(this.clock.now(), !succeeded);
  }

  rate(gatewayId: string, method: PaymentMethod): { successes: number; attempts: number } {
    const window = this.windows.get(windowKey(gatewayId, method));
    if (window === undefined) return { successes: 0, attempts: 0 };
    const totals = window.totals(this.clock.now());
    return { successes: totals.attempts - totals.failures, attempts: totals.attempts };
  }
}

function windowKey(gatewayId: string, method: PaymentMethod): string {
  return `${gatewayId}\u0000${method}`;
}

function moveToFront(ranked: RoutableGateway[], chosen: RoutableGateway): RoutableGateway[] {
  return [chosen, ...ranked.filter((gateway) => gateway !== chosen)];
}

function assertWeight(gateway: RoutableGateway): void {
  if (!(Number.isFinite(gateway.weight) && gateway.weight >= 0)) {
    throw new Error(`Gateway ${gateway.id}: weight must be a finite number >= 0, got ${gateway.weight}`);
  }
}

function compareBigint(left: bigint, right: bigint): number {
  if (left === right) return 0;
  return left < right ? -1 : 1;
}

/** Code-point order, not the locale's, so the order is the same on every machine. */
function compareText(left: string, right: string): number {
  if (left === right) return 0;
  return left < right ? -1 : 1;
}
