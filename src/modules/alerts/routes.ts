import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DateTime, Ok, replies, StringEnum, Uuid } from '../../http/schemas.ts';
import type { AlertService } from './service.ts';

const Alert = Type.Object({
  id: Uuid,
  kind: StringEnum([
    'queue_backlog',
    'webhook_endpoint_disabled',
    'database_slow',
    'late_payment_success',
    'refund_amount_mismatch',
  ]),
  subject: Type.String(),
  message: Type.String(),
  details: Type.Unknown(),
  raisedAt: DateTime,
});

export const alertRoutes: FastifyPluginAsyncTypebox<{ alerts: AlertService }> = async (app, { alerts }) => {
  app.get(
    '/alerts',
    {
      config: { access: ['admin'] as const },
      schema: {
        tags: ['alerts'],
        summary:
          'Open system alerts (queue backlog, disabled webhook endpoints, slow database, late payment successes, refund amount mismatches), newest first',
        response: replies({ 200: Ok(Type.Object({ alerts: Type.Array(Alert) })) }),
      },
    },
    async () => ({ success: true as const, data: { alerts: await alerts.open() } }),
  );
};
