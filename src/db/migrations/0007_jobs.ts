import { type Kysely, sql } from 'kysely';

/**
 * What the job queue (graphile-worker, in its own `graphile_worker` schema) does not keep:
 * which tasks an admin paused, when jobs completed (graphile-worker deletes a job once it
 * succeeds), and the queue figures recorded every minute.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE job_task_pauses (
      task text PRIMARY KEY,
      paused_by uuid,
      paused_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE job_completions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      task text NOT NULL,
      job_id bigint NOT NULL,
      attempts integer NOT NULL,
      completed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX job_completions_task_idx ON job_completions (task, completed_at DESC);
    CREATE INDEX job_completions_time_idx ON job_completions (completed_at);

    CREATE TABLE queue_metrics (
      recorded_at timestamptz NOT NULL,
      task text NOT NULL,
      queued integer NOT NULL,
      running integer NOT NULL,
      failed integer NOT NULL,
      completed_last_minute integer NOT NULL,
      oldest_waiting_sec integer NOT NULL,
      PRIMARY KEY (recorded_at, task)
    );

    CREATE TABLE system_health_reports (
      id uuid PRIMARY KEY,
      report jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}
