export { webhookRoutes } from './routes.ts';
export { createWebhookService, type WebhookService } from './service.ts';
export { verifyWebhookSignature } from './signature.ts';
export { scheduleDeliveryAttempts, webhookTasks } from './tasks.ts';
