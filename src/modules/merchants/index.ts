export { merchantRoutes } from './routes.ts';
export {
  type ApiCredentials,
  createMerchantService,
  type MerchantProfile,
  type MerchantService,
} from './service.ts';
