import type { Logger } from 'pino';
import { Type } from 'typebox';
import type { Executor } from '../../db/database.ts';
import { enqueueMany } from '../../jobs/queue.ts';
import { defineTask, type TaskSpec } from '../../jobs/registry.ts';
import type { WebhookService } from './service.ts';

const DeliveryPayload = Type.Object({ deliveryId: Type.String({ format: 'uuid' }) });

/** The delivery job's own retries are for our failures (the database); the receiver's have the schedule. */
export const deliverWebhook: TaskSpec<typeof DeliveryPayload> = {
  name: 'deliver_webhook',
  payload: DeliveryPayload,
  maxAttempts: 5,
  concurrency: 'parallel',
};

/** The attempts' jobs, through the caller's transaction. */
export function scheduleDeliveryAttempts(
  executor: Executor,
  attempts: readonly { deliveryId: string; runAt?: Date }[],
): Promise<void> {
  return enqueueMany(
    executor,
    deliverWebhook,
    attempts.map((attempt) => ({
      payload: { deliveryId: attempt.deliveryId },
      ...(attempt.runAt === undefined ? {} : { runAt: attempt.runAt }),
    })),
  );
}

export function webhookTasks(webhooks: WebhookService, logger: Logger) {
  const deliver = {
    ...deliverWebhook,
    run: (payload: { deliveryId: string }) => webhooks.attempt(payload.deliveryId),
  };
  const archive = defineTask({
    name: 'archive_webhook_deliveries',
    payload: Type.Object({}),
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      const moved = await webhooks.archiveDelivered();
      if (moved > 0) logger.info({ moved }, 'delivered webhook attempts archived');
    },
  });
  return { deliver, archive };
}
