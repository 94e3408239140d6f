export { walletRoutes } from './routes.ts';
export { createWalletService, type WalletService } from './service.ts';
