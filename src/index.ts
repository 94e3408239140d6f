/**
 * What the `tijori` package exports for code outside the server: the webhook signature check
 * for merchants' receivers (README, "Receiving webhooks").
 */
export { verifyWebhookSignature } from './modules/webhooks/signature.ts';
