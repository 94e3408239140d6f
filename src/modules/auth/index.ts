export { authRoutes } from './routes.ts';
export {
  type AuthService,
  createAuthService,
  DEFAULT_LOGIN_THROTTLE,
  type LoginThrottlePolicy,
} from './service.ts';
export { createAccessTokens } from './tokens.ts';
