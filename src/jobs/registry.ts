import type { Static, TSchema } from 'typebox';
import { Value } from 'typebox/value';

/** What a running task gets besides its payload. */
export interface JobContext {
  readonly jobId: string;
  /** 1 on the first run; graphile-worker has already counted this attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
}

/**
 * A kind of background work. Jobs are at-least-once: `run` may see the same payload twice (a
 * worker that dies after finishing but before recording it), so it must be idempotent. A run
 * that throws is retried with exponential backoff (graphile-worker: e^attempt seconds, capped at
 * e^10) until `maxAttempts`; after that the job stays, failed, for an admin to retry or clean.
 */
export interface TaskDefinition<S extends TSchema = TSchema> extends TaskSpec<S> {
  run(payload: Static<S>, context: JobContext): Promise<void>;
}

/** What adding a job needs to know of its task (a module may enqueue before the task is bound). */
export interface TaskSpec<S extends TSchema = TSchema> {
  /** The job queue's task identifier: lowercase words joined by `_`. */
  readonly name: string;
  readonly payload: S;
  readonly maxAttempts: number;
  /** `serial`: one job of this task at a time across all workers (a named queue). */
  readonly concurrency: 'serial' | 'parallel';
}

export function defineTask<S extends TSchema>(task: TaskDefinition<S>): TaskDefinition<S> {
  if (!/^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/.test(task.name)) throw new Error(`bad task name ${task.name}`);
  if (!Number.isInteger(task.maxAttempts) || task.maxAttempts < 1) {
    throw new Error(`task ${task.name}: maxAttempts must be a positive integer`);
  }
  return task;
}

/** Refuses a payload its task would not accept: a bug in the caller, caught where it is made. */
export function assertPayload<S extends TSchema>(
  task: TaskSpec<S>,
  payload: unknown,
): asserts payload is Static<S> {
  if (!Value.Check(task.payload, payload)) {
    const [first] = Value.Errors(task.payload, payload);
    throw new Error(
      `job ${task.name}: invalid payload${first === undefined ? '' : ` (${first.instancePath} ${first.message})`}`,
    );
  }
}
