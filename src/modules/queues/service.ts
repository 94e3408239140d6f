import { sql } from 'kysely';
import type { Db, Executor } from '../../db/database.ts';
import { notFound } from '../../http/errors.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import type { AuditService } from '../audit/index.ts';

export interface TaskQueueStats {
  task: string;
  /** Waiting to run (due or scheduled), attempts left. */
  queued: number;
  /** Locked by a worker now. */
  running: number;
  /** Attempts exhausted: kept until an admin retries or cleans them. */
  failed: number;
  completedLastHour: number;
  /** How long the oldest due job has waited, in seconds (0 when none is due). */
  oldestWaitingSec: number;
  paused: boolean;
}

/**
 * Queue administration over graphile-worker's jobs view (`graphile_worker.jobs`), its documented
 * functions (`reschedule_jobs`, `complete_jobs`) and our own tables (pauses, completions).
 */
export function createQueueService(deps: {
  db: Db;
  clock: Clock;
  audit: AuditService;
  /** Every task the workers know, listed even when it has no job. */
  taskNames: () => readonly string[];
  /** Tells this process's workers about a pause at once (others learn within a second). */
  onPausesChanged?: () => void;
}) {
  const { db, clock, audit, taskNames } = deps;

  /** Jobs whose attempts are exhausted (and not running), of a task, by id, or last tried before. */
  async function failedJobIds(
    executor: Executor,
    filter: { task?: string; jobId?: string; before?: Date },
  ): Promise<{ id: string }[]> {
    const { rows } = await sql<{ id: string }>`
      SELECT id::text FROM graphile_worker.jobs
      WHERE locked_at IS NULL AND attempts >= max_attempts
        AND (${filter.task ?? null}::text IS NULL OR task_identifier = ${filter.task ?? null})
        AND (${filter.jobId ?? null}::bigint IS NULL OR id = ${filter.jobId ?? null}::bigint)
        AND (${filter.before ?? null}::timestamptz IS NULL OR updated_at < ${filter.before ?? null})`.execute(
      executor,
    );
    return rows;
  }

  function requireKnown(task: string): void {
    if (!taskNames().includes(task)) throw notFound('Task', 'TASK_NOT_FOUND');
  }

  return {
    async stats(): Promise<TaskQueueStats[]> {
      const now = clock.now();
      const hourAgo = new Date(now.getTime() - 3_600_000);
      const [jobs, completions, pauses] = await Promise.all([
        sql<{ task: string; queued: number; running: number; failed: number; oldestDue: Date | null }>`
          SELECT task_identifier AS task,
            count(*) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts)::int AS queued,
            count(*) FILTER (WHERE locked_at IS NOT NULL)::int AS running,
            count(*) FILTER (WHERE locked_at IS NULL AND attempts >= max_attempts)::int AS failed,
            min(run_at) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts AND run_at <= ${now})
              AS "oldestDue"
          FROM graphile_worker.jobs GROUP BY task_identifier`.execute(db),
        db
          .selectFrom('jobCompletions')
          .select(['task', (eb) => eb.fn.countAll<string>().as('count')])
          .where('completedAt', '>', hourAgo)
          .groupBy('task')
          .execute(),
        db.selectFrom('jobTaskPauses').select('task').execute(),
      ]);
      const byTask = new Map(jobs.rows.map((row) => [row.task, row]));
      const completed = new Map(completions.map((row) => [row.task, Number(row.count)]));
      const paused = new Set(pauses.map((row) => row.task));
      const names = [...new Set([...taskNames(), ...byTask.keys()])].sort();
      return names.map((task) => {
        const row = byTask.get(task);
        const oldestDue = row?.oldestDue ?? null;
        return {
          task,
          queued: row?.queued ?? 0,
          running: row?.running ?? 0,
          failed: row?.failed ?? 0,
          completedLastHour: completed.get(task) ?? 0,
          oldestWaitingSec:
            oldestDue === null
              ? 0
              : Math.max(0, Math.floor((now.getTime() - new Date(oldestDue).getTime()) / 1000)),
          paused: paused.has(task),
        };
      });
    },

    /** Its queued jobs wait (they stay in the queue); its scheduled ticks are skipped. */
    async pause(task: string, context: RequestContext): Promise<void> {
      requireKnown(task);
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('jobTaskPauses')
          .values({ task, pausedBy: context.principal?.userId ?? null, pausedAt: clock.now() })
          .onConflict((oc) => oc.column('task').doNothing())
          .execute();
        await audit.record(trx, context, { action: 'queue.paused', targetType: 'task', targetId: task });
      });
      deps.onPausesChanged?.();
    },

    async resume(task: string, context: RequestContext): Promise<void> {
      requireKnown(task);
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('jobTaskPauses').where('task', '=', task).execute();
        await audit.record(trx, context, { action: 'queue.resumed', targetType: 'task', targetId: task });
      });
      deps.onPausesChanged?.();
    },

    /** Failed jobs (attempts exhausted) of a task, or one by id, run again now with fresh attempts. */
    async retry(target: { task?: string; jobId?: string }, context: RequestContext): Promise<number> {
      if (target.task !== undefined) requireKnown(target.task);
      return db.transaction().execute(async (trx) => {
        const rows = await failedJobIds(trx, target);
        if (target.jobId !== undefined && rows.length === 0) throw notFound('Failed job', 'JOB_NOT_FOUND');
        if (rows.length > 0) {
          await sql`SELECT graphile_worker.reschedule_jobs(${rows.map((row) => row.id)}::bigint[],
            run_at => ${clock.now()}::timestamptz, attempts => 0)`.execute(trx);
        }
        await audit.record(trx, context, {
          action: 'queue.retried',
          targetType: 'task',
          targetId: target.task ?? target.jobId ?? 'all',
          details: { ...target, jobs: rows.length },
        });
        return rows.length;
      });
    },

    /**
     * Removes failed jobs (attempts exhausted, last tried before the cutoff) or the records of
     * completed ones, older than `olderThanSec`; answers how many.
     */
    async clean(
      target: { state: 'completed' | 'failed'; olderThanSec: number; task?: string },
      context: RequestContext,
    ): Promise<number> {
      if (target.task !== undefined) requireKnown(target.task);
      const cutoff = new Date(clock.now().getTime() - target.olderThanSec * 1000);
      return db.transaction().execute(async (trx) => {
        let removed: number;
        if (target.state === 'failed') {
          const rows = await failedJobIds(trx, { ...target, before: cutoff });
          if (rows.length > 0) {
            await sql`SELECT graphile_worker.complete_jobs(${rows.map((row) => row.id)}::bigint[])`.execute(
              trx,
            );
          }
          removed = rows.length;
        } else {
          let query = trx.deleteFrom('jobCompletions').where('completedAt', '<', cutoff);
          if (target.task !== undefined) query = query.where('task', '=', target.task);
          removed = Number((await query.executeTakeFirst()).numDeletedRows);
        }
        await audit.record(trx, context, {
          action: 'queue.cleaned',
          targetType: 'task',
          targetId: target.task ?? 'all',
          details: { ...target, removed },
        });
        return removed;
      });
    },
  };
}

export type QueueService = ReturnType<typeof createQueueService>;
