export { queueRoutes } from './routes.ts';
export { createQueueService, type QueueService, type TaskQueueStats } from './service.ts';
