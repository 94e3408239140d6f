export { createPaymentAnalytics, type PaymentAnalytics } from './analytics.ts';
export { createInboundWebhooks, type InboundWebhooks } from './inbound.ts';
export { paymentRoutes } from './routes.ts';
export { createPaymentService, type PaymentService } from './service.ts';
export { paymentTasks } from './tasks.ts';
