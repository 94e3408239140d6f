import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pageRequest } from '../../http/pagination.ts';
import { replies } from '../../http/schemas.ts';
import { AuditLogList, AuditLogQuery } from './schemas.ts';
import type { AuditService } from './service.ts';

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditService }> = async (app, { audit }) => {
  app.get(
    '/admin/audit-logs',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: 'Browse the append-only audit log',
        querystring: AuditLogQuery,
        response: replies({ 200: AuditLogList }),
      },
    },
    async (request) => {
      const { actorId, action, targetType, targetId, from, to, sortOrder } = request.query;
      const data = await audit.list(
        {
          actorId,
          action,
          targetType,
          targetId,
          from: from === undefined ? undefined : new Date(from),
          to: to === undefined ? undefined : new Date(to),
        },
        { ...pageRequest(request.query), sortOrder: sortOrder ?? 'desc' },
      );
      return { success: true as const, data };
    },
  );
};
