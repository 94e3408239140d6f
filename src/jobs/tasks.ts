import { sql } from 'kysely';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import type { Db } from '../db/database.ts';
import type { IdempotencyStore } from '../http/idempotency.ts';
import type { Clock } from '../lib/clock.ts';
import { uuidv7 } from '../lib/ids.ts';
import type { AlertService } from '../modules/alerts/index.ts';
import type { LedgerService } from '../modules/ledger/index.ts';
import type { QueueService } from '../modules/queues/index.ts';
import { defineTask, type TaskDefinition } from './registry.ts';
import type { CronEntry } from './runner.ts';

/** How long the per-minute queue figures and the completed-job records are kept. */
const QUEUE_METRICS_KEEP_MS = 7 * 86_400_000;
const COMPLETIONS_KEEP_MS = 86_400_000;

const NoPayload = Type.Object({});

/**
 * The platform's own background work. Tasks of later modules (webhook delivery, payment expiry)
 * join this list; each is also a crontab entry when it is scheduled.
 */
export function platformTasks(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  ledger: LedgerService;
  queues: QueueService;
  idempotency: IdempotencyStore;
  alerts: AlertService;
}) {
  const { db, clock, logger, ledger, queues, idempotency, alerts } = deps;

  const expireHolds = defineTask({
    name: 'expire_holds',
    payload: NoPayload,
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      const expired = await ledger.expireHolds();
      if (expired > 0) logger.info({ expired }, 'expired holds voided');
    },
  });

  const queueMetrics = defineTask({
    name: 'queue_metrics',
    payload: NoPayload,
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      const now = clock.now();
      const minuteAgo = new Date(now.getTime() - 60_000);
      const [stats, lastMinute] = await Promise.all([
        queues.stats(),
        db
          .selectFrom('jobCompletions')
          .select(['task', (eb) => eb.fn.countAll<string>().as('count')])
          .where('completedAt', '>', minuteAgo)
          .groupBy('task')
          .execute(),
      ]);
      const completed = new Map(lastMinute.map((row) => [row.task, Number(row.count)]));
      // The alert checks ride on this minute's figures.
      await alerts.check(stats);
      await db.transaction().execute(async (trx) => {
        if (stats.length > 0) {
          await trx
            .insertInto('queueMetrics')
            .values(
              stats.map((task) => ({
                recordedAt: now,
                task: task.task,
                queued: task.queued,
                running: task.running,
                failed: task.failed,
                completedLastMinute: completed.get(task.task) ?? 0,
                oldestWaitingSec: task.oldestWaitingSec,
              })),
            )
            .onConflict((oc) => oc.columns(['recordedAt', 'task']).doNothing())
            .execute();
        }
        await trx
          .deleteFrom('queueMetrics')
          .where('recordedAt', '<', new Date(now.getTime() - QUEUE_METRICS_KEEP_MS))
          .execute();
        await trx
          .deleteFrom('jobCompletions')
          .where('completedAt', '<', new Date(now.getTime() - COMPLETIONS_KEEP_MS))
          .execute();
      });
    },
  });

  const systemHealthReport = defineTask({
    name: 'system_health_report',
    payload: NoPayload,
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      const started = Date.now();
      const [database, ledgerCheck, queueStats] = await Promise.all([
        sql<{ sizeBytes: string; connections: number }>`
          SELECT pg_database_size(current_database())::text AS "sizeBytes",
            (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database()) AS connections`.execute(
          db,
        ),
        ledger.verify(),
        queues.stats(),
      ]);
      const report = {
        database: {
          sizeBytes: Number(database.rows[0]?.sizeBytes ?? 0),
          connections: database.rows[0]?.connections ?? 0,
        },
        ledger: {
          ok: ledgerCheck.ok,
          accountsChecked: ledgerCheck.accountsChecked,
          entriesChecked: ledgerCheck.entriesChecked,
          differences: ledgerCheck.differences.length,
        },
        queues: {
          failed: queueStats.reduce((sum, task) => sum + task.failed, 0),
          queued: queueStats.reduce((sum, task) => sum + task.queued, 0),
          oldestWaitingSec: Math.max(0, ...queueStats.map((task) => task.oldestWaitingSec)),
          paused: queueStats.filter((task) => task.paused).map((task) => task.task),
        },
        durationMs: Date.now() - started,
      };
      await db
        .insertInto('systemHealthReports')
        .values({ id: uuidv7(clock.now().getTime()), report: JSON.stringify(report), createdAt: clock.now() })
        .execute();
      (report.ledger.ok && report.queues.failed === 0 ? logger.info : logger.warn).call(
        logger,
        { report },
        'system health report',
      );
    },
  });

  const lowBalanceCheck = defineTask({
    name: 'low_balance_check',
    payload: NoPayload,
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      const recorded = await ledger.recordMissedLowBalances();
      if (recorded > 0) logger.info({ recorded }, 'low balances found by the periodic check');
    },
  });

  const purgeIdempotencyKeys = defineTask({
    name: 'purge_idempotency_keys',
    payload: NoPayload,
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      const purged = await idempotency.purgeExpired();
      if (purged > 0) logger.info({ purged }, 'expired idempotency keys purged');
    },
  });

  const tasks: readonly TaskDefinition[] = [
    expireHolds,
    queueMetrics,
    lowBalanceCheck,
    systemHealthReport,
    purgeIdempotencyKeys,
  ];
  /** Cron fields in UTC: minute hour day-of-month month day-of-week. */
  const crontab: readonly CronEntry[] = [
    { task: queueMetrics, match: '* * * * *' },
    { task: expireHolds, match: '* * * * *' },
    { task: lowBalanceCheck, match: '*/15 * * * *' },
    { task: systemHealthReport, match: '0 6 * * *' },
    { task: purgeIdempotencyKeys, match: '30 3 * * *' },
  ];
  return { tasks, crontab };
}
