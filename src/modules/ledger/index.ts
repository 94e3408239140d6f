export {
  createMerchantBalanceService,
  MERCHANT_PAYABLE_SHARDS,
  type MerchantBalanceService,
} from './merchant-balances.ts';
export { ledgerRoutes, merchantBalanceRoutes } from './routes.ts';
export {
  type AccountRow,
  createLedgerService,
  type EntryRequest,
  type HoldRow,
  type LedgerService,
  PLATFORM_ACCOUNT_SHARDS,
  type Posting,
  type PostResult,
  postingRefusal,
  withRetry,
} from './service.ts';
