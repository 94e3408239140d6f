import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db, Executor } from '../../db/database.ts';
import type { Clock } from '../../lib/clock.ts';
import { EVENTS_CHANNEL } from './catalog.ts';

const DISPATCH_BATCH = 500;
/** An advisory lock key of its own: held by the one process dispatching at a time. */
const DISPATCH_LOCK = 7_314_205_881_117_032n;
/** 37 bytes per id with its comma: 200 stay under the 8000-byte NOTIFY payload limit. */
const NOTIFY_IDS_MAX = 200;

export interface DispatchedEvent {
  readonly id: string;
  readonly type: string;
  readonly merchantId: string | null;
  readonly userId: string | null;
  readonly payload: unknown;
  readonly createdAt: Date;
}

/** What happens to committed events (webhook fan-out, notifications), in the dispatch transaction. */
export type EventConsumer = (trx: Executor, events: readonly DispatchedEvent[]) => Promise<void>;

/**
 * One dispatch step: committed events not yet dispatched are handed to every consumer and marked
 * dispatched, in one transaction (one process at a time, by an advisory lock); sockets on
 * every API process hear of them when it commits (NOTIFY is transactional). Answers how many.
 */
export async function dispatchPending(
  db: Db,
  clock: Clock,
  consumers: readonly EventConsumer[],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    // One dispatcher at a time across processes (the others find the lock taken and wait for
    // their next turn): cheaper than locking every event row, which costs a write per event.
    const { rows: turn } = await sql<{ mine: boolean }>`
      SELECT pg_try_advisory_xact_lock(${DISPATCH_LOCK}) AS mine`.execute(trx);
    if (turn[0]?.mine !== true) return 0;
    const { rows: events } = await sql<DispatchedEvent>`
      SELECT id, type, merchant_id AS "merchantId", user_id AS "userId", payload, created_at AS "createdAt"
      FROM events WHERE dispatched_at IS NULL ORDER BY created_at, id
      LIMIT ${DISPATCH_BATCH}`.execute(trx);
    if (events.length === 0) return 0;
    for (const consume of consumers) await consume(trx, events);
    for (let offset = 0; offset < events.length; offset += NOTIFY_IDS_MAX) {
      const ids = events.slice(offset, offset + NOTIFY_IDS_MAX).map((event) => event.id);
      await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${ids.join(',')})`.execute(trx);
    }
    await trx
      .updateTable('events')
      .set({ dispatchedAt: clock.now() })
      .where(
        'id',
        'in',
        events.map((event) => event.id),
      )
      .execute();
    return events.length;
  });
}

/**
 * Runs with the job workers: picks up committed events and hands them on (webhook deliveries),
 * a batch at a time, straight away while there is a backlog and every `intervalMs` otherwise.
 * Events wait in their table while no dispatcher runs, so none is lost across a restart.
 */
export function startEventDispatcher(deps: {
  dispatch: () => Promise<number>;
  intervalMs: number;
  logger: Logger;
}): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  const tick = () => {
    timer = null;
    running = deps
      .dispatch()
      .then(
        (taken) => taken,
        (error: unknown) => {
          deps.logger.error({ err: error }, 'event dispatch failed');
          return 0;
        },
      )
      .then((taken) => {
        running = null;
        if (stopped) return;
        // Straight on only while a full batch came back (a backlog): a busy stream of events is
        // then taken a few hundred at a time, not a handful per round.
        timer = setTimeout(tick, taken >= DISPATCH_BATCH ? 0 : deps.intervalMs);
      });
  };
  timer = setTimeout(tick, 0);

  return {
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      await running;
    },
  };
}
