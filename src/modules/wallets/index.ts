export { walletAnalyticsRoutes } from './analytics.routes.ts';
export { walletRoutes } from './routes.ts';
export { createWalletService, type WalletService } from './service.ts';
export { swapRoutes } from './swap.routes.ts';
export { createSwapService, type SwapService } from './swap.ts';
