export { configuredChannels } from './channels.ts';
export { notificationRoutes } from './routes.ts';
export { createNotificationService, type NotificationService, notificationTasks } from './service.ts';
