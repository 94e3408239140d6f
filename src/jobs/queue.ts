import { sql } from 'kysely';
import type { Static, TSchema } from 'typebox';
import type { Executor } from '../db/database.ts';
import { assertPayload, type TaskSpec } from './registry.ts';

export interface EnqueueOptions {
  /** Not before this time (a scheduled retry, a reminder). */
  readonly runAt?: Date;
  /** At most one pending job per key: a second add replaces the first (graphile-worker job keys). */
  readonly jobKey?: string;
}

/**
 * Adds a job through the caller's executor: given the use case's transaction, the job exists
 * only if the change commits (DESIGN.md section 5). Each job carries its task as a flag, which is
 * how a paused task's jobs are skipped while they wait.
 */
export async function enqueue<S extends TSchema>(
  executor: Executor,
  task: TaskSpec<S>,
  payload: Static<S>,
  options: EnqueueOptions = {},
): Promise<void> {
  assertPayload(task, payload);
  await sql`SELECT graphile_worker.add_job(
    ${task.name},
    ${JSON.stringify(payload)}::json,
    queue_name => ${task.concurrency === 'serial' ? task.name : null}::text,
    run_at => ${options.runAt ?? null}::timestamptz,
    max_attempts => ${task.maxAttempts}::integer,
    job_key => ${options.jobKey ?? null}::text,
    flags => ARRAY[${task.name}]::text[])`.execute(executor);
}

/** Many jobs of one task in one statement (a fan-out), with the same guarantees as `enqueue`. */
export async function enqueueMany<S extends TSchema>(
  executor: Executor,
  task: TaskSpec<S>,
  jobs: readonly { payload: Static<S>; runAt?: Date }[],
): Promise<void> {
  if (jobs.length === 0) return;
  for (const job of jobs) assertPayload(task, job.payload);
  const specs = JSON.stringify(
    jobs.map((job) => ({ payload: job.payload, runAt: job.runAt?.toISOString() ?? null })),
  );
  await sql`SELECT graphile_worker.add_job(
      ${task.name},
      spec->'payload',
      queue_name => ${task.concurrency === 'serial' ? task.name : null}::text,
      run_at => (spec->>'runAt')::timestamptz,
      max_attempts => ${task.maxAttempts}::integer,
      flags => ARRAY[${task.name}]::text[])
    FROM json_array_elements(${specs}::json) AS spec`.execute(executor);
}
