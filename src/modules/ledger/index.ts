export { ledgerRoutes } from './routes.ts';
export {
  type AccountRow,
  createLedgerService,
  type EntryRequest,
  type HoldRow,
  type LedgerService,
  PLATFORM_ACCOUNT_SHARDS,
  type Posting,
  type PostResult,
  withRetry,
} from './service.ts';
