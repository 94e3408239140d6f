import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import { unauthorized } from '../../http/errors.ts';
import { replies } from '../../http/schemas.ts';
import { constantTimeEqual } from '../../lib/crypto.ts';
import { HealthReply, StatusReply } from './schemas.ts';
import type { SystemService } from './service.ts';

/** /health and /metrics sit outside /api: load balancers and Prometheus call them. */
export const operationsRoutes: FastifyPluginAsyncTypebox<{
  system: SystemService;
  metrics: Registry;
  metricsToken: string | undefined;
}> = async (app, { system, metrics, metricsToken }) => {
  app.get(
    '/health',
    {
      config: { access: 'public', rateLimit: false },
      schema: {
        tags: ['system'],
        summary: 'Liveness and database reachability, for load balancers (not enveloped)',
        security: [],
        response: { 200: HealthReply, 503: HealthReply },
      },
    },
    async (_request, reply) => {
      const health = await system.health();
      return reply.status(health.status === 'healthy' ? 200 : 503).send(health);
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'public', rateLimit: false },
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics; needs "Authorization: Bearer <METRICS_TOKEN>" when that is set',
        security: [],
      },
    },
    async (request, reply) => {
      if (metricsToken !== undefined) {
        // Only "Bearer <token>": a bare token (no scheme) is refused like a wrong one.
        const presented = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
        if (!constantTimeEqual(presented, metricsToken))
          throw unauthorized('Metrics token required', 'INVALID_TOKEN');
      }
      return reply.header('content-type', metrics.contentType).send(await metrics.metrics());
    },
  );
};

export const systemRoutes: FastifyPluginAsyncTypebox<{ system: SystemService }> = async (app, { system }) => {
  app.get(
    '/system/status',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: 'Database, pool, migrations and process figures',
        response: replies({ 200: StatusReply }),
      },
    },
    async () => ({ success: true as const, data: await system.status() }),
  );
};
