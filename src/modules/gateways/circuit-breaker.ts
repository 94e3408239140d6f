import type { Clock } from '../../lib/clock.ts';

/**
 * A circuit breaker per gateway, in memory (each process keeps its own view of the gateways it
 * calls; nothing here touches the database).
 *
 * What counts as a failure is the caller's call: only the gateway's own fault (an error, a timeout,
 * unavailable, our credentials refused) is a `failure`. A payer's decline, insufficient funds or an
 * expired payment say the gateway is working, so the caller records them as `success`; otherwise a
 * run of declines would cut a healthy gateway off.
 */

export interface CircuitPolicy {
  consecutiveFailuresMax: number;
  failureRateMax: number;
  windowAttemptsMin: number;
  windowMs: number;
  coolDownMs: number;
}

export const DEFAULT_CIRCUIT_POLICY: CircuitPolicy = {
  consecutiveFailuresMax: 5,
  failureRateMax: 0.5,
  windowAttemptsMin: 20,
  windowMs: 60_000,
  coolDownMs: 30_000,
};

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  windowAttempts: number;
  windowFailures: number;
  openedAt: Date | null;
}

/**
 * A rolling window is this many buckets of `windowMs / WINDOW_BUCKET_COUNT` each (one second for
 * the default 60 s window), so its memory is fixed however many attempts arrive. The price is
 * granularity: an attempt leaves the window up to one bucket late.
 */
export const WINDOW_BUCKET_COUNT = 60;

/** Attempts and failures over a rolling window, in a fixed ring of time buckets. */
export class RollingWindowCounts {
  private readonly bucketMs: number;
  /** Which bucket (time / bucketMs) each slot holds now; a slot from an older lap is stale. */
  private readonly bucketIndexes = new Array<number>(WINDOW_BUCKET_COUNT).fill(-1);
  private readonly attempts = new Array<number>(WINDOW_BUCKET_COUNT).fill(0);
  private readonly failures = new Array<number>(WINDOW_BUCKET_COUNT).fill(0);

  constructor(windowMs: number) {
    assertPositiveInteger('windowMs', windowMs);
    this.bucketMs = Math.max(1, Math.ceil(windowMs / WINDOW_BUCKET_COUNT));
  }

  add(at: Date, failed: boolean): void {
    const bucketIndex = Math.floor(at.getTime() / this.bucketMs);
    const slot = bucketIndex % WINDOW_BUCKET_COUNT;
    if (this.bucketIndexes[slot] !== bucketIndex) {
      this.bucketIndexes[slot] = bucketIndex;
      this.attempts[slot] = 0;
      this.failures[slot] = 0;
    }
    this.attempts[slot]! += 1;
    if (failed) this.failures[slot]! += 1;
  }

  totals(at: Date): { attempts: number; failures: number } {
    const currentIndex = Math.floor(at.getTime() / this.bucketMs);
    let attempts = 0;
    let failures = 0;
    for (let slot = 0; slot < WINDOW_BUCKET_COUNT; slot += 1) {
      const age = currentIndex - this.bucketIndexes[slot]!;
      if (age < 0 || age >= WINDOW_BUCKET_COUNT) continue;
      attempts += this.attempts[slot]!;
      failures += this.failures[slot]!;
    }
    return { attempts, failures };
  }

  clear(): void {
    this.bucketIndexes.fill(-1);
    this.attempts.fill(0);
    this.failures.fill(0);
  }
}

interface GatewayCircuit {
  /** `open` covers half_open too: an open circuit past its cool-down is half open. */
  tripped: boolean;
  openedAt: Date | null;
  /** When the half-open trial was let through; null while none is out. */
  trialStartedAt: Date | null;
  consecutiveFailures: number;
  window: RollingWindowCounts;
}

export class CircuitBreakers {
  private readonly circuits = new Map<string, GatewayCircuit>();

  constructor(
    private readonly policy: CircuitPolicy,
    private readonly clock: Clock,
  ) {
    assertPolicy(policy);
  }

  /**
   * May an attempt go to this gateway now? Closed: yes. Open: no until `coolDownMs` has passed
   * since it opened; then it is half open and lets ONE trial attempt through, refusing the rest
   * until that trial is recorded. A trial never recorded (its caller crashed) is given up after
   * `coolDownMs` and another is let through, so the circuit cannot stay wedged.
   *
   * It has a side effect in half open (it takes the trial), so call it right before an attempt,
   * not to filter candidates; `snapshot(...).state !== 'open'` is the side-effect-free check.
   */
  tryAcquire(gatewayId: string): boolean {
    const circuit = this.circuitOf(gatewayId);
    const now = this.clock.now();
    switch (this.stateOf(circuit, now)) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half_open': {
        const trialOut =
          circuit.trialStartedAt !== null && elapsedMs(circuit.trialStartedAt, now) < this.policy.coolDownMs;
        if (trialOut) return false;
        circuit.trialStartedAt = now;
        return true;
      }
    }
  }

  /**
   * The outcome of an attempt `tryAcquire` let through: `failure` only for the gateway's fault
   * (error, timeout, unavailable); a payer's decline is recorded as `success` (see the file's head).
   * Half open with a trial out: a failure reopens (openedAt = now), a success closes and resets the
   * counts. Closed: opens on `consecutiveFailuresMax` failures in a row, or when the last `windowMs`
   * hold at least `windowAttemptsMin` attempts and more than `failureRateMax` of them failed.
   * While open with no trial out, outcomes are of attempts let through before it opened: ignored.
   */
  record(gatewayId: string, outcome: 'success' | 'failure'): void {
    const circuit = this.circuitOf(gatewayId);
    const now = this.clock.now();
    if (circuit.tripped) {
      if (circuit.trialStartedAt === null) return;
      if (outcome === 'failure') this.open(circuit, now);
      else this.close(circuit);
      return;
    }
    circuit.window.add(now, outcome === 'failure');
    circuit.consecutiveFailures = outcome === 'failure' ? circuit.consecutiveFailures + 1 : 0;
    if (this.shouldOpen(circuit, now)) this.open(circuit, now);
  }

  /** The state as of now: an open circuit past its cool-down reports half_open. */
  snapshot(gatewayId: string): CircuitSnapshot {
    const circuit = this.circuitOf(gatewayId);
    const now = this.clock.now();
    const totals = circuit.window.totals(now);
    return {
      state: this.stateOf(circuit, now),
      consecutiveFailures: circuit.consecutiveFailures,
      windowAttempts: totals.attempts,
      windowFailures: totals.failures,
      openedAt: circuit.openedAt,
    };
  }

  private shouldOpen(circuit: GatewayCircuit, now: Date): boolean {
    if (circuit.consecutiveFailures >= this.policy.consecutiveFailuresMax) return true;
    const totals = circuit.window.totals(now);
    if (totals.attempts < this.policy.windowAttemptsMin) return false;
    return totals.failures / totals.attempts > this.policy.failureRateMax;
  }

  private open(circuit: GatewayCircuit, now: Date): void {
    circuit.tripped = true;
    circuit.openedAt = now;
    circuit.trialStartedAt = null;
  }

  private close(circuit: GatewayCircuit): void {
    circuit.tripped = false;
    circuit.openedAt = null;
    circuit.trialStartedAt = null;
    circuit.consecutiveFailures = 0;
    circuit.window.clear();
  }

  private stateOf(circuit: GatewayCircuit, now: Date): CircuitState {
    if (!circuit.tripped) return 'closed';
    const openedAt = circuit.openedAt!;
    return elapsedMs(openedAt, now) >= this.policy.coolDownMs ? 'half_open' : 'open';
  }

  /** One entry per gateway id: bounded by the gateways an admin configured. */
  private circuitOf(gatewayId: string): GatewayCircuit {
    let circuit = this.circuits.get(gatewayId);
    if (circuit === undefined) {
      circuit = {
        tripped: false,
        openedAt: null,
        trialStartedAt: null,
        consecutiveFailures: 0,
        window: new RollingWindowCounts(this.policy.windowMs),
      };
      this.circuits.set(gatewayId, circuit);
    }
    return circuit;
  }
}

function elapsedMs(since: Date, now: Date): number {
  return now.getTime() - since.getTime();
}

function assertPolicy(policy: CircuitPolicy): void {
  assertPositiveInteger('consecutiveFailuresMax', policy.consecutiveFailuresMax);
  assertPositiveInteger('windowAttemptsMin', policy.windowAttemptsMin);
  assertPositiveInteger('windowMs', policy.windowMs);
  assertPositiveInteger('coolDownMs', policy.coolDownMs);
  const rate = policy.failureRateMax;
  if (!(rate >= 0 && rate <= 1)) {
    throw new Error(`Circuit policy: failureRateMax must be in [0, 1], got ${rate}`);
  }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`Circuit policy: ${name} must be a positive integer, got ${value}`);
  }
}
