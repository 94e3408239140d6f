import { sql } from 'kysely';
import type { Db, Executor } from '../../db/database.ts';
import type { SystemAlertKind } from '../../db/types.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';

export interface SystemAlert {
  id: string;
  kind: SystemAlertKind;
  subject: string;
  message: string;
  details: unknown;
  raisedAt: Date;
}

export interface AlertThresholds {
  /** A task whose oldest due job has waited longer than this is backlogged. */
  readonly queueBacklogSec: number;
  /** A trivial query slower than this means the database is slow. */
  readonly databaseSlowMs: number;
}

/**
 * Open system alerts. Checks raise an alert when a condition starts (one open alert per kind
 * and subject: raising it again changes nothing) and clear it when the condition is gone, so the
 * list is what is wrong now; cleared alerts stay as history.
 */
export function createAlertService(deps: { db: Db; clock: Clock; thresholds: AlertThresholds }) {
  const { db, clock, thresholds } = deps;

  async function raise(
    executor: Executor,
    alert: { kind: SystemAlertKind; subject: string; message: string; details?: Record<string, unknown> },
  ): Promise<void> {
    const now = clock.now();
    await sql`
      INSERT INTO system_alerts (id, kind, subject, message, details, raised_at)
      VALUES (${uuidv7(now.getTime())}::uuid, ${alert.kind}, ${alert.subject}, ${alert.message},
        ${JSON.stringify(alert.details ?? {})}::jsonb, ${now}::timestamptz)
      ON CONFLICT (kind, subject) WHERE cleared_at IS NULL DO NOTHING`.execute(executor);
  }

  /** Clears the open alerts of a kind, except those whose subject is still failing. */
  async function clearExcept(executor: Executor, kind: SystemAlertKind, stillFailing: readonly string[]) {
    let query = executor
      .updateTable('systemAlerts')
      .set({ clearedAt: clock.now() })
      .where('kind', '=', kind)
      .where('clearedAt', 'is', null);
    if (stillFailing.length > 0) query = query.where('subject', 'not in', stillFailing);
    await query.execute();
  }

  return {
    raise,

    async open(): Promise<SystemAlert[]> {
      return db
        .selectFrom('systemAlerts')
        .select(['id', 'kind', 'subject', 'message', 'details', 'raisedAt'])
        .where('clearedAt', 'is', null)
        .orderBy('raisedAt', 'desc')
        .orderBy('id', 'desc')
        .execute();
    },

    /**
     * The checks run with the per-minute queue metrics: queue backlog per task, disabled webhook
     * endpoints, and the database's response time.
     */
    async check(
      queues: readonly { task: string; oldestWaitingSec: number; queued: number }[],
    ): Promise<void> {
      const started = performance.now();
      await sql`SELECT 1`.execute(db);
      const databaseMs = Math.round(performance.now() - started);
      const backlogged = queues.filter((task) => task.oldestWaitingSec > thresholds.queueBacklogSec);
      const disabled = await db
        .selectFrom('webhookEndpoints')
        .select(['id', 'url', 'merchantId', 'disabledReason'])
        .where('enabled', '=', false)
        .where('disabledReason', 'is not', null)
        .execute();
      await db.transaction().execute(async (trx) => {
        for (const task of backlogged) {
          await raise(trx, {
            kind: 'queue_backlog',
            subject: task.task,
            message: `Jobs of ${task.task} have waited over ${thresholds.queueBacklogSec} s`,
            details: { oldestWaitingSec: task.oldestWaitingSec, queued: task.queued },
          });
        }
        await clearExcept(
          trx,
          'queue_backlog',
          backlogged.map((task) => task.task),
        );
        for (const endpoint of disabled) {
          await raise(trx, {
            kind: 'webhook_endpoint_disabled',
            subject: endpoint.id,
            message: `Webhook endpoint ${endpoint.url} was disabled: ${endpoint.disabledReason}`,
            details: { endpointId: endpoint.id, merchantId: endpoint.merchantId, url: endpoint.url },
          });
        }
        await clearExcept(
          trx,
          'webhook_endpoint_disabled',
          disabled.map((endpoint) => endpoint.id),
        );
        if (databaseMs > thresholds.databaseSlowMs) {
          await raise(trx, {
            kind: 'database_slow',
            subject: 'database',
            message: `The database took ${databaseMs} ms to answer SELECT 1`,
            details: { responseMs: databaseMs },
          });
        } else {
          await clearExcept(trx, 'database_slow', []);
        }
      });
    },
  };
}

export type AlertService = ReturnType<typeof createAlertService>;
