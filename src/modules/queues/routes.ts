import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { requestContext } from '../../http/request-context.ts';
import { Ok, replies, StringEnum } from '../../http/schemas.ts';
import type { QueueService } from './service.ts';

const ACCESS = { access: ['admin'] as const };
const ADMIN_ACTION = { ...ACCESS, idempotency: 'none' as const };
const TAGS = ['queues'];

const TaskName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$', description: 'A task identifier' });

const TaskStats = Type.Object({
  task: Type.String(),
  queued: Type.Integer(),
  running: Type.Integer(),
  failed: Type.Integer(),
  completedLastHour: Type.Integer(),
  oldestWaitingSec: Type.Integer(),
  paused: Type.Boolean(),
});

const TaskBody = Type.Object({ task: TaskName }, { additionalProperties: false });

const RetryBody = Type.Object(
  {
    task: Type.Optional(TaskName),
    jobId: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,18}$', description: 'A job id' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

const CleanBody = Type.Object(
  {
    state: StringEnum(['completed', 'failed']),
    olderThanSec: Type.Integer({ minimum: 0, maximum: 31_536_000 }),
    task: Type.Optional(TaskName),
  },
  { additionalProperties: false },
);

export const queueRoutes: FastifyPluginAsyncTypebox<{ queues: QueueService }> = async (app, { queues }) => {
  app.get(
    '/admin/queues/stats',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Per task: queued, running, failed, completed in the last hour, oldest wait, paused',
        response: replies({ 200: Ok(Type.Object({ tasks: Type.Array(TaskStats) })) }),
      },
    },
    async () => ({ success: true as const, data: { tasks: await queues.stats() } }),
  );

  app.post(
    '/admin/queues/pause',
    {
      config: ADMIN_ACTION,
      schema: {
        tags: TAGS,
        summary: 'Pause a task: its queued jobs wait, its scheduled runs are skipped',
        body: TaskBody,
        response: replies({ 200: Ok(Type.Object({ task: Type.String(), paused: Type.Literal(true) })) }),
      },
    },
    async (request) => {
      await queues.pause(request.body.task, requestContext(request));
      return { success: true as const, data: { task: request.body.task, paused: true as const } };
    },
  );

  app.post(
    '/admin/queues/resume',
    {
      config: ADMIN_ACTION,
      schema: {
        tags: TAGS,
        summary: 'Resume a paused task',
        body: TaskBody,
        response: replies({ 200: Ok(Type.Object({ task: Type.String(), paused: Type.Literal(false) })) }),
      },
    },
    async (request) => {
      await queues.resume(request.body.task, requestContext(request));
      return { success: true as const, data: { task: request.body.task, paused: false as const } };
    },
  );

  app.post(
    '/admin/queues/retry',
    {
      config: ADMIN_ACTION,
      schema: {
        tags: TAGS,
        summary: 'Run failed jobs again now, with fresh attempts: those of a task, or one by id',
        body: RetryBody,
        response: replies({ 200: Ok(Type.Object({ retried: Type.Integer() })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { retried: await queues.retry(request.body, requestContext(request)) },
    }),
  );

  app.post(
    '/admin/queues/clean',
    {
      config: ADMIN_ACTION,
      schema: {
        tags: TAGS,
        summary: 'Remove failed jobs, or records of completed ones, older than the given age',
        body: CleanBody,
        response: replies({ 200: Ok(Type.Object({ removed: Type.Integer() })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { removed: await queues.clean(request.body, requestContext(request)) },
    }),
  );
};
