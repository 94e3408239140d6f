import { EventEmitter } from 'node:events';
import { parseCronItems, type Runner, run, type TaskList, type WorkerEvents } from 'graphile-worker';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import { jobLogger } from './logger.ts';
import { assertPayload, type TaskDefinition } from './registry.ts';

/** A crontab line: which task, when (five cron fields, UTC), and its config switch. */
export interface CronEntry {
  readonly task: TaskDefinition;
  readonly match: string;
}

export interface WorkerOptions {
  readonly db: Db;
  readonly pool: pg.Pool;
  readonly logger: Logger;
  readonly tasks: readonly TaskDefinition[];
  readonly crontab: readonly CronEntry[];
  readonly concurrency: number;
  readonly pollIntervalMs: number;
}

/** How long a pause takes to reach workers in other processes (this one learns at once). */
const PAUSES_TTL_MS = 1_000;

export interface Workers {
  /** Finishes the jobs in hand, takes no more. */
  stop(): Promise<void>;
  /** Re-reads the paused tasks now (after this process paused or resumed one). */
  refreshPauses(): void;
  readonly events: WorkerEvents;
}

/**
 * The job workers, on the application's database through graphile-worker. A paused task's
 * queued jobs are skipped (they carry their task as a flag) and wait; its scheduled ticks are
 * skipped, the next one after the resume doing the work.
 */
export async function startWorkers(options: WorkerOptions): Promise<Workers> {
  const { db, logger } = options;
  let pauses: { tasks: Set<string>; readAt: number } | null = null;
  async function pausedTasks(): Promise<Set<string>> {
    if (pauses !== null && Date.now() - pauses.readAt < PAUSES_TTL_MS) return pauses.tasks;
    const rows = await db.selectFrom('jobTaskPauses').select('task').execute();
    pauses = { tasks: new Set(rows.map((row) => row.task)), readAt: Date.now() };
    return pauses.tasks;
  }

  const taskList: TaskList = {};
  for (const task of options.tasks) {
    taskList[task.name] = async (payload, helpers) => {
      const { _cron: cron, ...own } = (payload ?? {}) as { _cron?: unknown };
      if (cron !== undefined && (await pausedTasks()).has(task.name)) {
        helpers.logger.info(`${task.name} is paused: scheduled run skipped`);
        return;
      }
      const body = cron === undefined ? payload : own;
      assertPayload(task, body);
      await task.run(body, {
        jobId: String(helpers.job.id),
        attempt: helpers.job.attempts,
        maxAttempts: helpers.job.max_attempts,
      });
    };
  }

  const events: WorkerEvents = new EventEmitter();
  events.on('job:success', ({ job }) => {
    db.insertInto('jobCompletions')
      .values({ task: job.task_identifier, jobId: BigInt(job.id), attempts: job.attempts })
      .execute()
      .catch((error: unknown) => logger.error({ err: error }, 'could not record a completed job'));
  });

  const runner: Runner = await run({
    pgPool: options.pool,
    taskList,
    parsedCronItems: parseCronItems(
      options.crontab.map((entry) => ({
        task: entry.task.name,
        match: entry.match,
        identifier: entry.task.name,
        // A tick missed while no worker ran is not made up: each run covers what is due then.
        options: {
          backfillPeriod: 0,
          maxAttempts: entry.task.maxAttempts,
          ...(entry.task.concurrency === 'serial' ? { queueName: entry.task.name } : {}),
        },
      })),
    ),
    concurrency: options.concurrency,
    pollInterval: options.pollIntervalMs,
    noHandleSignals: true,
    logger: jobLogger(logger),
    forbiddenFlags: async () => [...(await pausedTasks())],
    events,
  });
  return {
    stop: () => runner.stop(),
    refreshPauses() {
      pauses = null;
    },
    events,
  };
}
