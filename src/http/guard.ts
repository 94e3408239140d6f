import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from './errors.ts';
import type { Access, Principal } from './principal.ts';

export interface Authenticators {
  /** Verifies a Bearer access token; throws an AppError (401) when it is not valid. */
  verifyAccessToken(token: string): Promise<Principal>;
  /** Checks merchant API credentials and counts the request; null when they do not match. */
  authenticateApiCredentials(clientKey: string, clientSecret: string): Promise<Principal | null>;
}

const PROTECTED_PREFIX = '/api';

/**
 * Authentication and role checks for every route, driven by the route's `config.access`.
 * Tenant checks (a merchant reading only its own rows) belong to the services, which answer 404.
 * Register it after the rate limiter and before every /api route: only routes registered after it
 * are checked and guarded.
 */
export function registerGuard(app: FastifyInstance, authenticators: Authenticators): void {
  app.decorateRequest('principal', null);

  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (access === undefined && route.url.startsWith(PROTECTED_PREFIX)) {
      throw new Error(`route ${route.method} ${route.url} does not declare config.access`);
    }
    if (access === undefined || access === 'public') return;
    // A route-level hook placed after those already attached (the rate limiter's), so a caller
    // over its limit is refused before its credentials are checked, and failed attempts count.
    const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [...existing, (request: FastifyRequest) => guard(request, access)];
  });

  async function guard(request: FastifyRequest, access: Exclude<Access, 'public'>): Promise<void> {
    const principal = await authenticate(request, authenticators);
    if (principal === null) throw unauthorized();
    request.principal = principal;
    if (access !== 'authenticated' && !access.includes(principal.role)) {
      throw forbidden(`This route is for ${access.join(' or ')} callers`);
    }
  }
}

async function authenticate(
  request: FastifyRequest,
  authenticators: Authenticators,
): Promise<Principal | null> {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const [scheme, token] = authorization.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || token === undefined || token === '') {
      throw unauthorized('Authorization header must be "Bearer <access token>"', 'INVALID_TOKEN');
    }
    return authenticators.verifyAccessToken(token);
  }
  const clientKey = request.headers['x-client-key'];
  const clientSecret = request.headers['x-client-secret'];
  if (typeof clientKey === 'string' || typeof clientSecret === 'string') {
    if (typeof clientKey !== 'string' || typeof clientSecret !== 'string') {
      throw unauthorized('Send both X-Client-Key and X-Client-Secret', 'INVALID_API_CREDENTIALS');
    }
    const principal = await authenticators.authenticateApiCredentials(clientKey, clientSecret);
    if (principal === null) throw unauthorized('API credentials are not valid', 'INVALID_API_CREDENTIALS');
    return principal;
  }
  return null;
}
