export { createPaymentAnalytics, type PaymentAnalytics } from './analytics.ts';
export { createInboundWebhooks, type InboundWebhooks } from './inbound.ts';
export { presentPayment } from './present.ts';
export { paymentRoutes } from './routes.ts';
export { Payment as GatewayPaymentSchema } from './schemas.ts';
export type { PaymentView, TransactionListQuery } from './service.ts';
export { createPaymentService, type PaymentService } from './service.ts';
export { paymentTasks } from './tasks.ts';
