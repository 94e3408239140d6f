import type { FastifyRequest } from 'fastify';
import type { Principal } from './principal.ts';

/** What the audit log needs to know about the request that caused an action. */
export interface RequestContext {
  readonly principal: Principal | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly requestId: string | null;
}

const USER_AGENT_LENGTH_MAX = 512;

export function requestContext(request: FastifyRequest): RequestContext {
  return {
    principal: request.principal,
    ip: request.ip ?? null,
    userAgent: request.headers['user-agent']?.slice(0, USER_AGENT_LENGTH_MAX) ?? null,
    requestId: request.id,
  };
}

/** For work not caused by an HTTP request (start-up, jobs, scripts). */
export const systemContext: RequestContext = { principal: null, ip: null, userAgent: null, requestId: null };
