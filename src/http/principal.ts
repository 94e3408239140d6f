import type { Role } from '../db/types.ts';

/** Who is calling: resolved once per request from a JWT or merchant API credentials. */
export interface Principal {
  readonly userId: string;
  readonly role: Role;
  /** Set for a merchant user, and for every API-credential call. */
  readonly merchantId: string | null;
  readonly via: 'jwt' | 'api_key';
}

/**
 * Who may call a route. `public`: anyone; `authenticated`: any signed-in principal; a role list:
 * those roles only. Every /api route must declare one (checked when routes are registered).
 */
export type Access = 'public' | 'authenticated' | readonly Role[];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** For handlers behind a non-public guard, where the principal is known to be set. */
export function requirePrincipal(principal: Principal | null): Principal {
  if (principal === null) throw new Error('route guard let an anonymous request through');
  return principal;
}
