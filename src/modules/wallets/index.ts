export { walletAnalyticsRoutes } from './analytics.routes.ts';
export { walletRoutes } from './routes.ts';
export { createWalletService, type WalletService } from './service.ts';
