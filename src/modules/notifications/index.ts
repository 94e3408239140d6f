export { notificationRoutes } from './routes.ts';
export { createNotificationService, logChannel, type NotificationService } from './service.ts';
