import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Helmet's headers, worked out once. Helmet's headers depend only on its options, yet
 * `@fastify/helmet` runs `helmet(options)` (re-parsing the CSP) on every request, which halved the
 * throughput of a small route on our 2-core machine. We run it once against a recording response
 * and send the recorded headers with every reply.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let applied = false;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {
    applied = true;
  });
  // Helmet's middleware is synchronous; if that ever changes, fail at start-up, not silently.
  if (!applied) throw new Error('helmet did not apply its headers synchronously');
  return Object.freeze(headers);
}

/** The only HTML we serve is the API explorer at /docs, which needs its own inline styles. */
export const SECURITY_HEADERS = securityHeaders({
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
      styleSrc: ["'self'", "'unsafe-inline'"],
      scriptSrc: ["'self'"],
    },
  },
});
