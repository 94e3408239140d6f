import type { Logger } from 'pino';
import type { Db } from '../../db/database.ts';
import type { Principal } from '../../http/principal.ts';
import type { Clock } from '../../lib/clock.ts';
import { withRetry } from '../ledger/index.ts';
import { qrInactive, simulationLimitReached, simulatorDisabled } from './errors.ts';
import * as repo from './repo.ts';
import type { QrCodeService } from './service.ts';
import { tenantOf } from './service.ts';
import { paymentsPerRun, type Random, simulatePayment } from './simulation-data.ts';
import type { TransactionService } from './transactions.service.ts';

export interface SimulatorSettings {
  /** How often an active simulation adds payments (SIMULATION_INTERVAL_MS). */
  readonly intervalMs: number;
  /** A QR code's simulation stops at exactly this many simulated payments (MAX_TRANSACTIONS_PER_QR). */
  readonly transactionsPerQrMax: number;
  /** SIMULATOR_ENABLED: when false, nothing may start a simulation or simulate payments. */
  readonly enabled: boolean;
}

export type SimulationAction = 'start' | 'stop' | 'toggle';

export interface SimulationState {
  qrId: string;
  simulationActive: boolean;
  generated: number;
  nextRunAt: Date | null;
}

/** QR codes claimed per poll; the rest wait for the next poll. */
const CLAIM_BATCH_SIZE = 50;
const POLL_MS_MIN = 20;
const POLL_MS_MAX = 1_000;
const ACTIVE_COUNT_CACHE_MS = 1_000;

/**
 * Starting and stopping simulations. The state lives on the QR code row, so `/api/qr/:id/simulation`
 * and `/api/simulation/...` are the same switch, and it survives restarts.
 */
export function createSimulationService(deps: {
  db: Db;
  clock: Clock;
  qrCodes: QrCodeService;
  settings: SimulatorSettings;
}) {
  const { db, clock, qrCodes, settings } = deps;
  let activeCount: { readAt: number; value: Promise<number> } | null = null;
  return {
    async change(principal: Principal, idOrQrId: string, action: SimulationAction): Promise<SimulationState> {
      const state = await db.transaction().execute(async (trx) => {
        const qrCode = await qrCodes.loadVisible(trx, principal, idOrQrId, 'update');
        const start = action === 'toggle' ? !qrCode.simulationActive : action === 'start';
        if (start === qrCode.simulationActive) return stateOf(qrCode);
        if (start && !settings.enabled) throw simulatorDisabled();
        if (start && qrCode.status !== 'Active') throw qrInactive(qrCode.qrId);
        if (start && qrCode.simulationGenerated >= settings.transactionsPerQrMax) {
          throw simulationLimitReached(qrCode.qrId, settings.transactionsPerQrMax);
        }
        const now = clock.now();
        const updated = await repo.updateQrCode(trx, qrCode.id, {
          simulationActive: start,
          // The first run comes one interval after the start, like every later one.
          simulationNextRunAt: start ? new Date(now.getTime() + settings.intervalMs) : null,
          updatedAt: now,
        });
        return stateOf(updated);
      });
      activeCount = null; // after the commit, so a concurrent read cannot cache the old count
      return state;
    },

    async status(principal: Principal): Promise<{ activeCount: number; simulations: SimulationState[] }> {
      const merchantId = principal.role === 'admin' ? null : tenantOf(principal);
      const rows = await repo.findSimulations(db, merchantId);
      const simulations = rows.map(stateOf);
      return { activeCount: simulations.filter((state) => state.simulationActive).length, simulations };
    },

    /** The caller's simulations; an admin's call stops every one. */
    async stopAll(principal: Principal): Promise<string[]> {
      const merchantId = principal.role === 'admin' ? null : tenantOf(principal);
      const stopped = await repo.stopSimulations(db, merchantId, clock.now());
      activeCount = null;
      return stopped;
    },

    /**
     * QR codes being simulated, across all processes. Cached for a second (changes made through
     * this process clear it), since load balancers call /health many times a second.
     */
    activeCount(): Promise<number> {
      const now = performance.now();
      if (activeCount !== null && now - activeCount.readAt < ACTIVE_COUNT_CACHE_MS) return activeCount.value;
      const value = repo.countActiveSimulations(db);
      activeCount = { readAt: now, value };
      value.catch(() => {
        activeCount = null;
      });
      return value;
    },
  };
}

export type SimulationService = ReturnType<typeof createSimulationService>;

function stateOf(qrCode: repo.QrCodeRow): SimulationState {
  return {
    qrId: qrCode.qrId,
    simulationActive: qrCode.simulationActive,
    generated: qrCode.simulationGenerated,
    nextRunAt: qrCode.simulationNextRunAt,
  };
}

/**
 * The background simulator of one process. Each poll claims the due QR codes with
 * `FOR UPDATE SKIP LOCKED` and, in the same transaction, adds their payments and moves their next
 * run forward: with several processes on one database, every run happens in exactly one of them.
 * Per-process housekeeping by design (DESIGN.md section 5): the schedule itself is in the database.
 */
export function createSimulationRunner(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  transactions: TransactionService;
  settings: SimulatorSettings;
  random?: Random;
}) {
  const { db, clock, logger, transactions, settings } = deps;
  const random = deps.random ?? Math.random;
  const pollMs = Math.min(POLL_MS_MAX, Math.max(POLL_MS_MIN, Math.floor(settings.intervalMs / 5)));
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  let started = false;

  /** One poll: returns how many payments were added. */
  async function runDue(): Promise<number> {
    // Its payments lock the same rollup rows and ledger accounts as the API's: a deadlock is retried.
    return withRetry(() =>
      db.transaction().execute(async (trx) => {
        const now = clock.now();
        const due = await repo.claimDueSimulations(trx, now, CLAIM_BATCH_SIZE);
        let added = 0;
        for (const qrCode of due) {
          const room = settings.transactionsPerQrMax - qrCode.simulationGenerated;
          const count = qrCode.status === 'Active' ? Math.max(0, Math.min(paymentsPerRun(random), room)) : 0;
          const payments = Array.from({ length: count }, () => ({
            ...simulatePayment(random, qrCode),
            occurredAt: now,
          }));
          await transactions.recordGeneratedPayments(trx, qrCode, payments, 'simulator');
          const finished = count >= room || qrCode.status !== 'Active';
          await repo.recordSimulationRun(trx, qrCode.id, {
            generated: count,
            nextRunAt: finished ? null : new Date(now.getTime() + settings.intervalMs),
            now,
          });
          added += count;
        }
        return added;
      }),
    );
  }

  function schedule(): void {
    if (!started) return;
    timer = setTimeout(() => {
      running = runDue()
        .catch((error: unknown) => logger.error({ err: error }, 'simulator run failed'))
        .finally(() => {
          running = null;
          schedule();
        });
    }, pollMs);
    timer.unref();
  }

  return {
    runDue,
    start(): void {
      if (started) return;
      started = true;
      schedule();
      logger.info({ intervalMs: settings.intervalMs, pollMs }, 'payment simulator started');
    },
    /** Stops polling and waits for a run in progress to commit or roll back. */
    async stop(): Promise<void> {
      started = false;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      await running;
    },
    get initialized(): boolean {
      return started;
    },
  };
}

export type SimulationRunner = ReturnType<typeof createSimulationRunner>;
