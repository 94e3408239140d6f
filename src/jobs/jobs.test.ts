import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type Static, type TSchema, Type } from 'typebox';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../test/app.ts';
import { createTestDatabase, type TestDatabase } from '../../test/database.ts';
import { startJobWorkers } from '../app.ts';
import type { Db, Executor } from '../db/database.ts';
import { createManualClock } from '../lib/clock.ts';
import { createLogger } from '../logger.ts';
import { createQueueService } from '../modules/queues/index.ts';
import { type EnqueueOptions, enqueue } from './queue.ts';
import { defineTask, type TaskDefinition } from './registry.ts';
import { startWorkers, type Workers } from './runner.ts';

const POLL_INTERVAL_MS = 100;
/** The built-in tasks these tests rely on (the platform may have more). */
const BUILT_IN_TASKS = ['expire_holds', 'queue_metrics', 'system_health_report'];

/** Every task the app's workers know, sorted as the stats list them. */
function taskNamesOf(testApp: TestApp): string[] {
  const names = testApp.services.jobs.tasks.map((task) => task.name).sort();
  expect(names).toEqual(expect.arrayContaining(BUILT_IN_TASKS));
  return names;
}

/** The crontab's tasks less the disabled ones, sorted. */
function cronTasksOf(testApp: TestApp, disabled: readonly string[] = []): string[] {
  return testApp.services.jobs.crontab
    .map((entry) => entry.task.name)
    .filter((name) => !disabled.includes(name))
    .sort();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` answers something (not undefined/null/false), or fails after the deadline. */
async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await sleep(50);
  }
}

interface JobRow {
  id: string;
  queueName: string | null;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  lockedAt: Date | null;
  runAt: Date;
  flags: unknown;
  key: string | null;
}

// JSON read as text: the CamelCasePlugin would rename the keys of a json value (task names).
function parseFlags(row: JobRow): JobRow {
  return { ...row, flags: row.flags === null ? null : JSON.parse(row.flags as string) };
}

/** graphile-worker's jobs view, for one task, oldest first. */
async function jobsOf(executor: Executor, task: string): Promise<JobRow[]> {
  const { rows } = await sql<JobRow>`
    SELECT id::text AS id, queue_name AS "queueName", attempts, max_attempts AS "maxAttempts",
      last_error AS "lastError", locked_at AS "lockedAt", run_at AS "runAt", flags::text AS flags, key
    FROM graphile_worker.jobs WHERE task_identifier = ${task} ORDER BY id`.execute(executor);
  return rows.map(parseFlags);
}

async function jobById(db: Db, id: string): Promise<JobRow | undefined> {
  const { rows } = await sql<JobRow>`
    SELECT id::text AS id, queue_name AS "queueName", attempts, max_attempts AS "maxAttempts",
      last_error AS "lastError", locked_at AS "lockedAt", run_at AS "runAt", flags::text AS flags, key
    FROM graphile_worker.jobs WHERE id = ${id}::bigint`.execute(db);
  return rows.map(parseFlags)[0];
}

async function payloadOf(db: Db, id: string): Promise<unknown> {
  const { rows } = await sql<{ payload: string }>`
    SELECT payload::text AS payload FROM graphile_worker._private_jobs WHERE id = ${id}::bigint`.execute(db);
  return rows[0] === undefined ? undefined : JSON.parse(rows[0].payload);
}

/** Time travel on the data: the job's backoff is over now. */
async function dueNow(db: Db, id: string): Promise<void> {
  const { numAffectedRows } = await sql`
    UPDATE graphile_worker._private_jobs SET run_at = now() WHERE id = ${id}::bigint`.execute(db);
  expect(numAffectedRows).toBe(1n);
}

/** Waits until the job has been tried `attempts` times and no worker holds it. */
function settledAfter(db: Db, id: string, attempts: number): Promise<JobRow> {
  return waitFor(`job ${id} to settle after ${attempts} attempt(s)`, async () => {
    const job = await jobById(db, id);
    return job !== undefined && job.attempts === attempts && job.lockedAt === null ? job : undefined;
  });
}

function gone(db: Db, id: string): Promise<true> {
  return waitFor(`job ${id} to leave the queue`, async () => (await jobById(db, id)) === undefined);
}

async function completionsOf(db: Db, task: string) {
  return db
    .selectFrom('jobCompletions')
    .select(['task', 'jobId', 'attempts'])
    .where('task', '=', task)
    .orderBy('id')
    .execute();
}

/** A job's completion is recorded just after graphile-worker deletes it: wait for the row. */
function completionOf(db: Db, jobId: string) {
  return waitFor(`completion of job ${jobId}`, () =>
    db
      .selectFrom('jobCompletions')
      .select(['task', 'jobId', 'attempts'])
      .where('jobId', '=', BigInt(jobId))
      .executeTakeFirst(),
  );
}

/** Completions of a task, once there is at least one. */
function completionsOfEventually(db: Db, task: string) {
  return waitFor(`a completion of ${task}`, async () => {
    const rows = await completionsOf(db, task);
    return rows.length > 0 ? rows : undefined;
  });
}

interface Run {
  key: string;
  attempt: number;
  maxAttempts: number;
  jobId: string;
}

/** A test task that fails the first `failures` runs of each payload key, recording every run. */
function scriptedTask(
  name: string,
  options: { maxAttempts: number; failures: number; concurrency?: 'serial' | 'parallel' },
) {
  const runs: Run[] = [];
  const task = defineTask({
    name,
    payload: Type.Object({ key: Type.String() }, { additionalProperties: false }),
    maxAttempts: options.maxAttempts,
    concurrency: options.concurrency ?? 'parallel',
    async run(payload, context) {
      runs.push({
        key: payload.key,
        attempt: context.attempt,
        maxAttempts: context.maxAttempts,
        jobId: context.jobId,
      });
      const count = runs.filter((run) => run.key === payload.key).length;
      if (count <= options.failures) throw new Error(`${name} ${payload.key}: run ${count} fails`);
    },
  });
  return { task, runs, runsOf: (key: string) => runs.filter((run) => run.key === key) };
}

/**
 * Enqueues in a transaction and reads the new job's id before the commit: running workers may
 * finish the job before a read after the commit could see it.
 */
async function enqueueJob<S extends TSchema>(
  db: Db,
  task: TaskDefinition<S>,
  payload: Static<S>,
  options?: EnqueueOptions,
): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await enqueue(trx, task, payload, options);
    return newestJobId(trx, task.name);
  });
}

async function newestJobId(executor: Executor, task: string): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    SELECT id::text AS id FROM graphile_worker.jobs WHERE task_identifier = ${task}
    ORDER BY id DESC LIMIT 1`.execute(executor);
  const id = rows[0]?.id;
  if (id === undefined) throw new Error(`no job of ${task}`);
  return id;
}

/** The single job this task has in the queue. */
async function onlyJob(db: Db, task: string): Promise<JobRow> {
  const jobs = await jobsOf(db, task);
  expect(jobs).toHaveLength(1);
  return jobs[0] as JobRow;
}

describe('job queue on the application database', () => {
  let database: TestDatabase;
  let testApp: TestApp;
  let db: Db;
  let admin: Account;
  let merchant: Account;
  let workers: Workers | null = null;
  let testStart: Date;

  beforeAll(async () => {
    // Room for the workers' LISTEN connection and their jobs beside the API's queries.
    database = await createTestDatabase({ poolMax: 12 });
    testApp = await createTestApp({ database });
    db = database.handle.db;
    admin = await createAccount(testApp, 'admin');
    merchant = await createAccount(testApp, 'merchant');
  });
  afterAll(async () => {
    await workers?.stop();
    await testApp?.close();
    await database?.destroy();
  });

  beforeEach(async () => {
    testStart = new Date();
    // Each test starts with an empty queue, no pauses and no completion records.
    await sql`SELECT graphile_worker.complete_jobs(array(SELECT id FROM graphile_worker.jobs))`.execute(db);
    expect((await sql`SELECT id FROM graphile_worker.jobs`.execute(db)).rows).toEqual([]);
    await db.deleteFrom('jobTaskPauses').execute();
    await db.deleteFrom('jobCompletions').execute();
  });
  afterEach(async () => {
    testApp.services.jobWorkers.current = null;
    const running = workers;
    workers = null;
    await running?.stop();
  });

  /** Workers for these tasks only; `tellApp` makes the app's pause/resume reach them at once. */
  async function start(tasks: readonly TaskDefinition[], tellApp = true): Promise<Workers> {
    workers = await startWorkers({
      db,
      pool: database.handle.pool,
      logger: createLogger(testApp.config),
      tasks,
      crontab: [],
      concurrency: 2,
      pollIntervalMs: POLL_INTERVAL_MS,
    });
    if (tellApp) testApp.services.jobWorkers.current = workers;
    return workers;
  }

  async function stats(): Promise<Array<Record<string, unknown>>> {
    const reply = await admin.client.get('/api/v1/admin/queues/stats');
    expect(reply.statusCode, reply.body).toBe(200);
    return reply.json().data.tasks;
  }

  async function statsOf(task: string): Promise<Record<string, unknown> | undefined> {
    return (await stats()).find((row) => row.task === task);
  }

  async function auditSince(action: string) {
    return db
      .selectFrom('auditLogs')
      .select(['actorId', 'actorRole', 'action', 'targetType', 'targetId', 'details'])
      .where('action', '=', action)
      .where('createdAt', '>=', testStart)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
  }

  describe('enqueue', () => {
    const payloadTask = defineTask({
      name: 'test_enqueue',
      payload: Type.Object({ n: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
      maxAttempts: 7,
      concurrency: 'serial',
      async run() {},
    });

    it('adds the job with its transaction: nothing when it rolls back, one job when it commits', async () => {
      const refused = db.transaction().execute(async (trx) => {
        await enqueue(trx, payloadTask, { n: 1 });
        // Visible inside the transaction...
        expect(await jobsOf(trx, 'test_enqueue')).toHaveLength(1);
        throw new Error('use case failed after enqueueing');
      });
      await expect(refused).rejects.toThrow('use case failed after enqueueing');
      // ...and gone with it.
      expect(await jobsOf(db, 'test_enqueue')).toEqual([]);

      await db.transaction().execute(async (trx) => {
        await enqueue(trx, payloadTask, { n: 2 });
      });
      const job = await onlyJob(db, 'test_enqueue');
      expect(job).toMatchObject({
        attempts: 0,
        maxAttempts: 7,
        lastError: null,
        lockedAt: null,
        key: null,
        // A serial task runs in a queue of its own name.
        queueName: 'test_enqueue',
        flags: { test_enqueue: true },
      });
      expect(await payloadOf(db, job.id)).toEqual({ n: 2 });
    });

    it('a parallel task has no queue; runAt schedules; a job key replaces the pending job', async () => {
      const parallel = defineTask({ ...payloadTask, name: 'test_enqueue_keyed', concurrency: 'parallel' });
      const later = new Date(Date.now() + 3_600_000);
      await enqueue(db, parallel, { n: 1 }, { runAt: later, jobKey: 'only-one' });
      await enqueue(db, parallel, { n: 2 }, { runAt: later, jobKey: 'only-one' });
      const job = await onlyJob(db, 'test_enqueue_keyed');
      expect(job).toMatchObject({ queueName: null, key: 'only-one', maxAttempts: 7 });
      expect(new Date(job.runAt).getTime()).toBe(later.getTime());
      expect(await payloadOf(db, job.id)).toEqual({ n: 2 });
      // Scheduled for later: queued, not yet waiting.
      const own = createOwnQueueService(testApp, ['test_enqueue_keyed']);
      expect((await own.stats()).find((row) => row.task === 'test_enqueue_keyed')).toMatchObject({
        queued: 1,
        oldestWaitingSec: 0,
      });
    });

    it('refuses a payload its task does not accept, adding nothing', async () => {
      await expect(enqueue(db, payloadTask, { n: -1 })).rejects.toThrow(/job test_enqueue: invalid payload/);
      await expect(enqueue(db, payloadTask, { n: 1, extra: true } as never)).rejects.toThrow(
        /invalid payload/,
      );
      await expect(enqueue(db, payloadTask, {} as never)).rejects.toThrow(/invalid payload/);
      // Inside a transaction that goes on to commit: still nothing added.
      await db.transaction().execute(async (trx) => {
        await expect(enqueue(trx, payloadTask, { n: 'one' } as never)).rejects.toThrow(/invalid payload/);
      });
      expect(await jobsOf(db, 'test_enqueue')).toEqual([]);
    });

    it('a job whose payload bypassed enqueue fails in the worker without running the task', async () => {
      const scripted = scriptedTask('test_bad_payload', { maxAttempts: 1, failures: 0 });
      await sql`SELECT graphile_worker.add_job('test_bad_payload', '{"key": 42}'::json, max_attempts => 1)`.execute(
        db,
      );
      const [added] = await jobsOf(db, 'test_bad_payload');
      await start([scripted.task]);
      const failed = await settledAfter(db, (added as JobRow).id, 1);
      expect(failed.lastError).toMatch(/job test_bad_payload: invalid payload/);
      expect(scripted.runs).toEqual([]);
    });

    it('defineTask refuses bad names and attempt counts', () => {
      const base = { payload: Type.Object({}), concurrency: 'parallel' as const, async run() {} };
      expect(() => defineTask({ ...base, name: 'Bad-Name', maxAttempts: 1 })).toThrow(
        'bad task name Bad-Name',
      );
      expect(() => defineTask({ ...base, name: 'trailing_', maxAttempts: 1 })).toThrow(/bad task name/);
      expect(() => defineTask({ ...base, name: 'ok_name', maxAttempts: 0 })).toThrow(
        'task ok_name: maxAttempts must be a positive integer',
      );
      expect(() => defineTask({ ...base, name: 'ok_name', maxAttempts: 1.5 })).toThrow(/maxAttempts/);
      expect(defineTask({ ...base, name: 'ok_name2', maxAttempts: 1 }).name).toBe('ok_name2');
    });
  });

  it('a failed run is retried after its backoff and the success is recorded', async () => {
    const flaky = scriptedTask('test_flaky', { maxAttempts: 3, failures: 1 });
    await start([flaky.task]);
    const id = await enqueueJob(db, flaky.task, { key: 'a' });

    const afterFailure = await settledAfter(db, id, 1);
    expect(afterFailure.lastError).toMatch(/test_flaky a: run 1 fails/);
    expect(afterFailure.maxAttempts).toBe(3);
    // Backoff: e^1 s from the failure, so not due yet.
    expect(new Date(afterFailure.runAt).getTime()).toBeGreaterThan(Date.now() + 1_000);
    await sleep(3 * POLL_INTERVAL_MS);
    expect(flaky.runs).toHaveLength(1);

    await dueNow(db, id);
    await gone(db, id);
    expect(await completionOf(db, id)).toEqual({ task: 'test_flaky', jobId: BigInt(id), attempts: 2 });
    expect(flaky.runs).toEqual([
      { key: 'a', attempt: 1, maxAttempts: 3, jobId: id },
      { key: 'a', attempt: 2, maxAttempts: 3, jobId: id },
    ]);
    expect(await completionsOf(db, 'test_flaky')).toHaveLength(1);
  });

  // The application's INT8 type parser (src/db/database.ts) makes graphile-worker's job.id a
  // bigint; the runner hands tasks the string JobContext declares (JSON.stringify would throw).
  it('a task is given its job id as a string, as JobContext declares', async () => {
    const seen: unknown[] = [];
    const task = defineTask({
      name: 'test_job_id',
      payload: Type.Object({}),
      maxAttempts: 1,
      concurrency: 'parallel',
      async run(_payload, context) {
        seen.push(context.jobId);
      },
    });
    await start([task]);
    const id = await enqueueJob(db, task, {});
    await gone(db, id);
    expect(seen).toHaveLength(1);
    expect(typeof seen[0]).toBe('string');
    expect(seen[0]).toBe(id);
  });

  it('attempts exhausted: the job stays failed; stats count it; retry (by task or id) runs it again; audited', async () => {
    // A task of a built-in name, so the admin routes know it: fails twice per key, then succeeds.
    const failing = scriptedTask('queue_metrics', { maxAttempts: 2, failures: 2 });
    await start([failing.task]);
    const id = await enqueueJob(db, failing.task, { key: 'a' });

    await settledAfter(db, id, 1);
    await dueNow(db, id);
    const failed = await settledAfter(db, id, 2);
    expect(failed).toMatchObject({ attempts: 2, maxAttempts: 2 });
    expect(failed.lastError).toMatch(/queue_metrics a: run 2 fails/);
    // Exhausted: even due now, it is not run again.
    await dueNow(db, id);
    await sleep(5 * POLL_INTERVAL_MS);
    expect(failing.runsOf('a')).toHaveLength(2);
    expect(await jobById(db, id)).toMatchObject({ attempts: 2 });

    expect(await statsOf('queue_metrics')).toEqual({
      task: 'queue_metrics',
      queued: 0,
      running: 0,
      failed: 1,
      completedLastHour: 0,
      oldestWaitingSec: 0,
      paused: false,
    });
    expect((await stats()).map((row) => row.task)).toEqual(taskNamesOf(testApp));
    expect(await statsOf('expire_holds')).toMatchObject({ queued: 0, failed: 0, paused: false });

    // Nothing failed for this task: nothing retried.
    let reply = await admin.client.post('/api/v1/admin/queues/retry', { task: 'expire_holds' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { retried: 0 } });

    reply = await admin.client.post('/api/v1/admin/queues/retry', { task: 'queue_metrics' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { retried: 1 } });
    await gone(db, id);
    // Fresh attempts: the third run is attempt 1 of 2 again.
    expect(await completionOf(db, id)).toEqual({ task: 'queue_metrics', jobId: BigInt(id), attempts: 1 });
    expect(failing.runsOf('a').map((run) => run.attempt)).toEqual([1, 2, 1]);
    await waitFor('the stats to count the completion', async () => {
      const row = await statsOf('queue_metrics');
      return row?.completedLastHour === 1 ? row : undefined;
    });
    expect(await statsOf('queue_metrics')).toMatchObject({ failed: 0, queued: 0 });

    // By job id.
    const second = { id: await enqueueJob(db, failing.task, { key: 'b' }) };
    await settledAfter(db, second.id, 1);
    await dueNow(db, second.id);
    await settledAfter(db, second.id, 2);
    reply = await admin.client.post('/api/v1/admin/queues/retry', { jobId: second.id });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { retried: 1 } });
    await gone(db, second.id);
    expect(failing.runsOf('b')).toHaveLength(3);

    // A job that is not there (or not failed) and a task nobody knows.
    expectError(
      await admin.client.post('/api/v1/admin/queues/retry', { jobId: '999999999' }),
      404,
      'JOB_NOT_FOUND',
    );
    const pending = {
      id: await enqueueJob(db, failing.task, { key: 'c' }, { runAt: new Date(Date.now() + 3_600_000) }),
    };
    expectError(
      await admin.client.post('/api/v1/admin/queues/retry', { jobId: pending.id }),
      404,
      'JOB_NOT_FOUND',
    );
    expectError(
      await admin.client.post('/api/v1/admin/queues/retry', { task: 'no_such_task' }),
      404,
      'TASK_NOT_FOUND',
    );
    // Bad bodies.
    expectError(await admin.client.post('/api/v1/admin/queues/retry', {}), 400, 'VALIDATION_FAILED');
    expectError(
      await admin.client.post('/api/v1/admin/queues/retry', { jobId: 'abc' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await admin.client.post('/api/v1/admin/queues/retry', { task: 'queue_metrics', all: true }),
      400,
      'VALIDATION_FAILED',
    );

    // The three retries that were done are audited, the refusals are not.
    expect(await auditSince('queue.retried')).toEqual([
      {
        actorId: admin.user.id,
        actorRole: 'admin',
        action: 'queue.retried',
        targetType: 'task',
        targetId: 'expire_holds',
        details: { task: 'expire_holds', jobs: 0 },
      },
      {
        actorId: admin.user.id,
        actorRole: 'admin',
        action: 'queue.retried',
        targetType: 'task',
        targetId: 'queue_metrics',
        details: { task: 'queue_metrics', jobs: 1 },
      },
      {
        actorId: admin.user.id,
        actorRole: 'admin',
        action: 'queue.retried',
        targetType: 'task',
        targetId: second.id,
        details: { jobId: second.id, jobs: 1 },
      },
    ]);
  }, 60_000);

  describe('pause and resume', () => {
    it('a paused task’s queued jobs wait; resumed, they run; both audited', async () => {
      const task = scriptedTask('expire_holds', { maxAttempts: 3, failures: 0 });
      const other = scriptedTask('queue_metrics', { maxAttempts: 3, failures: 0 });
      await start([task.task, other.task]);

      let reply = await admin.client.post('/api/v1/admin/queues/pause', { task: 'expire_holds' });
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json()).toEqual({ success: true, data: { task: 'expire_holds', paused: true } });
      // Pausing again is harmless.
      reply = await admin.client.post('/api/v1/admin/queues/pause', { task: 'expire_holds' });
      expect(reply.statusCode, reply.body).toBe(200);

      const id = await enqueueJob(db, task.task, { key: 'p' });
      await enqueue(db, other.task, { key: 'q' });
      // The other task is not paused: it runs.
      const otherJob = await completionsOfEventually(db, 'queue_metrics');
      expect(otherJob).toHaveLength(1);
      await sleep(2_000);
      expect(task.runs).toEqual([]);
      expect(await jobById(db, id)).toMatchObject({ attempts: 0, lockedAt: null, lastError: null });
      expect(await statsOf('expire_holds')).toMatchObject({ queued: 1, running: 0, failed: 0, paused: true });
      expect(await statsOf('queue_metrics')).toMatchObject({
        queued: 0,
        paused: false,
        completedLastHour: 1,
      });
      expect(await db.selectFrom('jobTaskPauses').select(['task', 'pausedBy']).execute()).toEqual([
        { task: 'expire_holds', pausedBy: admin.user.id },
      ]);

      reply = await admin.client.post('/api/v1/admin/queues/resume', { task: 'expire_holds' });
      expect(reply.statusCode, reply.body).toBe(200);
      expect(reply.json()).toEqual({ success: true, data: { task: 'expire_holds', paused: false } });
      await gone(db, id);
      expect(task.runs).toEqual([{ key: 'p', attempt: 1, maxAttempts: 3, jobId: id }]);
      expect(await statsOf('expire_holds')).toMatchObject({ queued: 0, paused: false });

      const paused = await auditSince('queue.paused');
      expect(paused).toHaveLength(2);
      expect(paused[0]).toEqual({
        actorId: admin.user.id,
        actorRole: 'admin',
        action: 'queue.paused',
        targetType: 'task',
        targetId: 'expire_holds',
        details: {},
      });
      expect(await auditSince('queue.resumed')).toMatchObject([
        { actorId: admin.user.id, targetType: 'task', targetId: 'expire_holds' },
      ]);
    }, 30_000);

    it('workers the app does not tell learn of a pause within a second', async () => {
      const task = scriptedTask('expire_holds', { maxAttempts: 3, failures: 0 });
      await start([task.task], false);
      const reply = await admin.client.post('/api/v1/admin/queues/pause', { task: 'expire_holds' });
      expect(reply.statusCode, reply.body).toBe(200);
      await sleep(1_500);
      const id = await enqueueJob(db, task.task, { key: 'late' });
      await sleep(1_500);
      expect(task.runs).toEqual([]);
      expect(await jobById(db, id)).toMatchObject({ attempts: 0 });

      expect(
        (await admin.client.post('/api/v1/admin/queues/resume', { task: 'expire_holds' })).statusCode,
      ).toBe(200);
      await gone(db, id);
      expect(task.runsOf('late')).toHaveLength(1);
    }, 30_000);

    it('a scheduled (cron) run of a paused task is skipped, and runs with its own payload once resumed', async () => {
      const runs: unknown[] = [];
      const cronTask = defineTask({
        name: 'system_health_report',
        payload: Type.Object({}, { additionalProperties: false }),
        maxAttempts: 2,
        concurrency: 'serial',
        async run(payload) {
          runs.push(payload);
        },
      });
      await start([cronTask]);
      const tick = async () => {
        // What graphile-worker's cron adds: the task's payload plus `_cron`, no flags.
        const { rows } = await sql<{ id: string }>`SELECT (graphile_worker.add_job('system_health_report',
          json_build_object('_cron', json_build_object('ts', now(), 'backfilled', false)),
          queue_name => 'system_health_report', max_attempts => 2)).id::text AS id`.execute(db);
        return (rows[0] as { id: string }).id;
      };
      expect(
        (await admin.client.post('/api/v1/admin/queues/pause', { task: 'system_health_report' })).statusCode,
      ).toBe(200);
      const skipped = await tick();
      await gone(db, skipped);
      expect(runs).toEqual([]);

      expect(
        (await admin.client.post('/api/v1/admin/queues/resume', { task: 'system_health_report' })).statusCode,
      ).toBe(200);
      const ran = await tick();
      await gone(db, ran);
      // `_cron` is taken off before the payload is checked and given to the task.
      expect(runs).toEqual([{}]);
      expect((await completionOf(db, ran)).attempts).toBe(1);
    });

    it('refuses non-admins, unknown tasks and bad bodies', async () => {
      for (const [url, body] of [
        ['/api/v1/admin/queues/pause', { task: 'expire_holds' }],
        ['/api/v1/admin/queues/resume', { task: 'expire_holds' }],
        ['/api/v1/admin/queues/retry', { task: 'expire_holds' }],
        ['/api/v1/admin/queues/clean', { state: 'failed', olderThanSec: 0 }],
      ] as const) {
        expectError(await merchant.client.post(url, body), 403, 'FORBIDDEN');
      }
      expectError(await merchant.client.get('/api/v1/admin/queues/stats'), 403, 'FORBIDDEN');
      expectError(await merchant.apiClient!.get('/api/v1/admin/queues/stats'), 403, 'FORBIDDEN');
      const anonymous = await testApp.app.inject({ method: 'GET', url: '/api/v1/admin/queues/stats' });
      expect(anonymous.statusCode).toBe(401);
      expect(await db.selectFrom('jobTaskPauses').selectAll().execute()).toEqual([]);

      expectError(
        await admin.client.post('/api/v1/admin/queues/pause', { task: 'no_such_task' }),
        404,
        'TASK_NOT_FOUND',
      );
      expectError(
        await admin.client.post('/api/v1/admin/queues/resume', { task: 'no_such_task' }),
        404,
        'TASK_NOT_FOUND',
      );
      expectError(await admin.client.post('/api/v1/admin/queues/pause', {}), 400, 'VALIDATION_FAILED');
      expectError(
        await admin.client.post('/api/v1/admin/queues/pause', { task: 'Expire-Holds' }),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await admin.client.post('/api/v1/admin/queues/pause', { task: 'expire_holds', now: true }),
        400,
        'VALIDATION_FAILED',
      );
      expect(await db.selectFrom('jobTaskPauses').selectAll().execute()).toEqual([]);
      expect(await auditSince('queue.paused')).toEqual([]);
    });
  });

  it('clean removes failed jobs and completion records older than the given age; audited', async () => {
    const broken = scriptedTask('system_health_report', {
      maxAttempts: 1,
      failures: Number.POSITIVE_INFINITY,
    });
    const fine = scriptedTask('queue_metrics', { maxAttempts: 3, failures: 0 });
    const alsoFine = scriptedTask('expire_holds', { maxAttempts: 3, failures: 0 });
    await start([broken.task, fine.task, alsoFine.task]);

    await enqueue(db, broken.task, { key: 'x' });
    await enqueue(db, broken.task, { key: 'y' });
    await enqueue(db, fine.task, { key: '1' });
    await enqueue(db, fine.task, { key: '2' });
    await enqueue(db, alsoFine.task, { key: '3' });
    const brokenJobs = await jobsOf(db, 'system_health_report');
    expect(brokenJobs).toHaveLength(2);
    for (const job of brokenJobs) await settledAfter(db, job.id, 1);
    await waitFor('three completions', async () => {
      const rows = await db.selectFrom('jobCompletions').select('id').execute();
      return rows.length === 3;
    });
    expect(await statsOf('system_health_report')).toMatchObject({ failed: 2, queued: 0 });

    const clean = (body: unknown) => admin.client.post('/api/v1/admin/queues/clean', body);
    // Not older than an hour: nothing removed.
    let reply = await clean({ state: 'failed', olderThanSec: 3600 });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { removed: 0 } });
    expect(await jobsOf(db, 'system_health_report')).toHaveLength(2);

    reply = await clean({ state: 'failed', olderThanSec: 0, task: 'system_health_report' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { removed: 2 } });
    expect(await jobsOf(db, 'system_health_report')).toEqual([]);
    expect(await statsOf('system_health_report')).toMatchObject({ failed: 0, queued: 0 });
    expect(broken.runs).toHaveLength(2);

    reply = await clean({ state: 'completed', olderThanSec: 3600 });
    expect(reply.json()).toEqual({ success: true, data: { removed: 0 } });
    reply = await clean({ state: 'completed', olderThanSec: 0, task: 'queue_metrics' });
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toEqual({ success: true, data: { removed: 2 } });
    expect(await completionsOf(db, 'queue_metrics')).toEqual([]);
    expect(await completionsOf(db, 'expire_holds')).toHaveLength(1);
    expect(await statsOf('queue_metrics')).toMatchObject({ completedLastHour: 0 });
    reply = await clean({ state: 'completed', olderThanSec: 0 });
    expect(reply.json()).toEqual({ success: true, data: { removed: 1 } });
    expect(await db.selectFrom('jobCompletions').select('id').execute()).toEqual([]);

    for (const body of [
      { state: 'failed', olderThanSec: -1 },
      { state: 'running', olderThanSec: 0 },
      { state: 'failed', olderThanSec: 1.5 },
      { state: 'failed', olderThanSec: 31_536_001 },
      { state: 'failed', olderThanSec: 0, extra: 1 },
      { olderThanSec: 0 },
      { state: 'failed' },
      { state: 'failed', olderThanSec: 0, task: 'Not A Task' },
    ]) {
      expectError(await clean(body), 400, 'VALIDATION_FAILED');
    }
    expectError(
      await clean({ state: 'failed', olderThanSec: 0, task: 'no_such_task' }),
      404,
      'TASK_NOT_FOUND',
    );

    expect((await auditSince('queue.cleaned')).map((row) => [row.targetId, row.details])).toEqual([
      ['all', { state: 'failed', olderThanSec: 3600, removed: 0 }],
      [
        'system_health_report',
        { state: 'failed', olderThanSec: 0, task: 'system_health_report', removed: 2 },
      ],
      ['all', { state: 'completed', olderThanSec: 3600, removed: 0 }],
      ['queue_metrics', { state: 'completed', olderThanSec: 0, task: 'queue_metrics', removed: 2 }],
      ['all', { state: 'completed', olderThanSec: 0, removed: 1 }],
    ]);
  }, 30_000);

  describe('startJobWorkers and the crontab', () => {
    async function knownCrontabs(): Promise<string[]> {
      const { rows } = await sql<{ identifier: string }>`
        SELECT identifier FROM graphile_worker._private_known_crontabs ORDER BY identifier`.execute(db);
      return rows.map((row) => row.identifier);
    }

    it('CRON_DISABLED leaves a task out of the crontab; an unknown name refuses to start, naming it', async () => {
      expect(await knownCrontabs()).toEqual([]);
      const env = { WORKER_POLL_INTERVAL_MS: String(POLL_INTERVAL_MS), WORKER_CONCURRENCY: '2' };

      const unknown = await createTestApp({
        database,
        env: { ...env, CRON_DISABLED: 'no_such_task,system_health_report' },
      });
      try {
        expect(unknown.config.cronDisabled).toEqual(['no_such_task', 'system_health_report']);
        await expect(
          startJobWorkers({ config: unknown.config, database: database.handle }, unknown.services),
        ).rejects.toThrow('CRON_DISABLED names unknown tasks: no_such_task');
        expect(unknown.services.jobWorkers.current).toBeNull();
      } finally {
        await unknown.close();
      }
      expect(await knownCrontabs()).toEqual([]);

      const partial = await createTestApp({
        database,
        env: { ...env, CRON_DISABLED: 'system_health_report' },
      });
      try {
        expect(partial.config.cronDisabled).toEqual(['system_health_report']);
        expect(partial.config.workerPollIntervalMs).toBe(POLL_INTERVAL_MS);
        const started = await startJobWorkers(
          { config: partial.config, database: database.handle },
          partial.services,
        );
        try {
          expect(partial.services.jobWorkers.current).not.toBeNull();
          await waitFor('the crontab to be registered', async () => (await knownCrontabs()).length > 0);
          expect(await knownCrontabs()).toEqual(cronTasksOf(partial, ['system_health_report']));
          expect(await knownCrontabs()).toEqual(expect.arrayContaining(['expire_holds', 'queue_metrics']));
          expect(await knownCrontabs()).not.toContain('system_health_report');
          // The built-in tasks run in these workers: a queued one is done.
          const metrics = partial.services.jobs.tasks.find((task) => task.name === 'queue_metrics');
          const id = await enqueueJob(db, metrics as TaskDefinition, {});
          await gone(db, id);
          expect((await completionOf(db, id)).task).toBe('queue_metrics');
        } finally {
          await started.stop();
        }
        expect(partial.services.jobWorkers.current).toBeNull();
      } finally {
        await partial.close();
      }

      // Without CRON_DISABLED every entry is scheduled.
      const all = await startJobWorkers(
        { config: { ...testApp.config, workerPollIntervalMs: POLL_INTERVAL_MS }, database: database.handle },
        testApp.services,
      );
      try {
        expect(testApp.services.jobWorkers.current).not.toBeNull();
        await waitFor('the disabled entry to be scheduled too', async () =>
          (await knownCrontabs()).includes('system_health_report'),
        );
        expect(await knownCrontabs()).toEqual(cronTasksOf(testApp));
      } finally {
        await all.stop();
      }
      expect(testApp.services.jobWorkers.current).toBeNull();
    }, 30_000);
  });
});

/** A queue service over the test app's database that knows the given (test) task names. */
function createOwnQueueService(testApp: TestApp, taskNames: readonly string[]) {
  return createQueueService({
    db: testApp.database.handle.db,
    clock: { now: () => new Date() },
    audit: testApp.services.audit,
    taskNames: () => taskNames,
  });
}

describe('built-in tasks', () => {
  // A manual clock near real time: hold expiry moves with it, while graphile-worker keeps real time.
  const clock = createManualClock(new Date());
  let testApp: TestApp;
  let database: TestDatabase;
  let db: Db;
  let workers: Workers | null = null;

  beforeAll(async () => {
    database = await createTestDatabase({ poolMax: 12 });
    testApp = await createTestApp({ database, clock });
    db = database.handle.db;
  });
  afterAll(async () => {
    await workers?.stop();
    await testApp?.close();
    await database?.destroy();
  });
  beforeEach(async () => {
    workers = await startWorkers({
      db,
      pool: database.handle.pool,
      logger: createLogger(testApp.config),
      tasks: testApp.services.jobs.tasks,
      crontab: [],
      concurrency: 2,
      pollIntervalMs: POLL_INTERVAL_MS,
    });
    testApp.services.jobWorkers.current = workers;
  });
  afterEach(async () => {
    testApp.services.jobWorkers.current = null;
    const running = workers;
    workers = null;
    await running?.stop();
  });

  function builtIn(name: string): TaskDefinition {
    const task = testApp.services.jobs.tasks.find((candidate) => candidate.name === name);
    if (task === undefined) throw new Error(`no built-in task ${name}`);
    return task;
  }

  /** Enqueues the built-in task and waits until a worker has done it. */
  async function runTask(name: string): Promise<void> {
    const id = await enqueueJob(db, builtIn(name), {});
    await gone(db, id);
    expect(await completionOf(db, id)).toMatchObject({ task: name, attempts: 1 });
  }

  it('the task list and crontab', () => {
    expect(
      testApp.services.jobs.tasks.map((task) => [task.name, task.maxAttempts, task.concurrency]),
    ).toEqual(
      expect.arrayContaining([
        ['expire_holds', 3, 'serial'],
        ['queue_metrics', 3, 'serial'],
        ['system_health_report', 3, 'serial'],
      ]),
    );
    expect(testApp.services.jobs.crontab.map((entry) => [entry.task.name, entry.match])).toEqual(
      expect.arrayContaining([
        ['queue_metrics', '* * * * *'],
        ['expire_holds', '* * * * *'],
        ['system_health_report', '0 6 * * *'],
      ]),
    );
    // Every scheduled task is a known task, each scheduled once.
    const names = taskNamesOf(testApp);
    const scheduled = cronTasksOf(testApp);
    expect(new Set(scheduled).size).toBe(scheduled.length);
    for (const name of scheduled) expect(names).toContain(name);
  });

  it('expire_holds voids the holds past their expiry, and only those', async () => {
    const { ledger } = testApp.services;
    const wallet = await ledger.ownerAccount(db, { type: 'user', id: randomUUID() }, 'wallet', 'INR');
    const source = await ledger.platformAccount('external_funding', 'INR');
    await ledger.post(db, {
      type: 'deposit',
      idempotencyRef: `deposit-${randomUUID()}`,
      postings: [
        { accountId: source, amountMinor: 10_000n },
        { accountId: wallet.id, amountMinor: -10_000n },
      ],
    });
    const at = clock.now().getTime();
    const soon = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 2_000n,
      reference: 'soon',
      expiresAt: new Date(at + 10 * 60_000),
    });
    const later = await ledger.authorizeHold(db, {
      accountId: wallet.id,
      amountMinor: 1_500n,
      reference: 'later',
      expiresAt: new Date(at + 60 * 60_000),
    });
    const holdStatus = async (id: string) =>
      (await db.selectFrom('ledgerHolds').select('status').where('id', '=', id).executeTakeFirstOrThrow())
        .status;
    const held = async () =>
      (
        await db
          .selectFrom('ledgerAccounts')
          .select('heldMinor')
          .where('id', '=', wallet.id)
          .executeTakeFirstOrThrow()
      ).heldMinor;

    // Not yet expired: the task runs and leaves both.
    await runTask('expire_holds');
    expect(await holdStatus(soon.id)).toBe('active');
    expect(await held()).toBe(3_500n);

    clock.advance(10 * 60_000);
    await runTask('expire_holds');
    expect(await holdStatus(soon.id)).toBe('expired');
    expect(await holdStatus(later.id)).toBe('active');
    expect(await held()).toBe(1_500n);
    expect((await ledger.verify()).differences).toEqual([]);
  });

  it('queue_metrics records a row per task; system_health_report records the health of the system', async () => {
    clock.set(new Date());
    await db.deleteFrom('jobCompletions').execute();
    await runTask('expire_holds');
    // One job scheduled for later (queued, not waiting) and one failed job of an unknown task.
    await enqueue(db, builtIn('system_health_report'), {}, { runAt: new Date(Date.now() + 3_600_000) });
    await sql`SELECT graphile_worker.add_job('test_orphan', '{}'::json, max_attempts => 1)`.execute(db);
    await sql`SELECT graphile_worker.permanently_fail_jobs(array(
      SELECT id FROM graphile_worker.jobs WHERE task_identifier = 'test_orphan'), 'gave up')`.execute(db);

    const recordedAt = clock.now();
    await runTask('queue_metrics');
    const metrics = await db.selectFrom('queueMetrics').selectAll().orderBy('task').execute();
    const differences: Record<string, object> = {
      expire_holds: { completedLastMinute: 1 },
      // Itself, running as it measures.
      queue_metrics: { running: 1 },
      system_health_report: { queued: 1 },
      test_orphan: { failed: 1 },
    };
    expect(metrics).toEqual(
      [...taskNamesOf(testApp), 'test_orphan'].sort().map((task) => ({
        recordedAt,
        task,
        queued: 0,
        running: 0,
        failed: 0,
        completedLastMinute: 0,
        oldestWaitingSec: 0,
        ...differences[task],
      })),
    );

    // The scheduled report is replaced by one due now (same task, serial queue).
    await sql`SELECT graphile_worker.complete_jobs(array(
      SELECT id FROM graphile_worker.jobs WHERE task_identifier = 'system_health_report'))`.execute(db);
    clock.advance(1_000);
    await runTask('system_health_report');
    const reports = await db.selectFrom('systemHealthReports').selectAll().execute();
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(report?.createdAt).toEqual(clock.now());
    expect(report?.report).toMatchObject({
      ledger: { ok: true, differences: 0 },
      queues: { failed: 1, queued: 0, oldestWaitingSec: 0, paused: [] },
    });
    const body = report?.report as {
      database: { sizeBytes: number; connections: number };
      ledger: { accountsChecked: number };
      durationMs: number;
    };
    expect(body.database.sizeBytes).toBeGreaterThan(0);
    expect(body.database.connections).toBeGreaterThan(0);
    expect(body.durationMs).toBeGreaterThanOrEqual(0);
  });
});
