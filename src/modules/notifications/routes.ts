import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageRequest } from '../../http/pagination.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import {
  DateTime,
  IdParams,
  Ok,
  Pagination,
  PaginationQuery,
  replies,
  StringEnum,
  Uuid,
} from '../../http/schemas.ts';
import { trimBodyStrings } from '../../http/trim.ts';
import type { NotificationService } from './service.ts';

const SIGNED_IN = { access: 'authenticated' as const };
const TAGS = ['notifications'];

const Notification = Type.Object({
  id: Uuid,
  kind: Type.String(),
  title: Type.String(),
  body: Type.String(),
  data: Type.Unknown(),
  read: Type.Boolean(),
  readAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
});

const CreateBody = Type.Object(
  {
    userId: Type.Optional(Uuid),
    role: Type.Optional(StringEnum(['user', 'merchant', 'vendor', 'admin'])),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    body: Type.String({ maxLength: 2000 }),
    kind: Type.Optional(Type.String({ pattern: '^[a-z_]+(\\.[a-z_]+)?$', maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const notificationRoutes: FastifyPluginAsyncTypebox<{ notifications: NotificationService }> = async (
  app,
  { notifications },
) => {
  app.get(
    '/notifications',
    {
      config: SIGNED_IN,
      schema: {
        tags: TAGS,
        summary: 'Your notifications, unread first, and how many are unread',
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: replies({
          200: Ok(
            Type.Object({
              notifications: Type.Array(Notification),
              pagination: Pagination,
              unreadCount: Type.Integer(),
            }),
          ),
        }),
      },
    },
    async (request) => ({
      success: true as const,
      data: await notifications.list(requirePrincipal(request.principal), pageRequest(request.query)),
    }),
  );

  app.post(
    '/notifications',
    {
      config: { access: ['admin'] as const, idempotency: 'optional' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Notify one user (userId) or every active user of a role (admin)',
        body: CreateBody,
        response: replies({ 201: Ok(Type.Object({ recipients: Type.Integer() })) }),
      },
    },
    async (request, reply) => {
      const sent = await notifications.create(request.body, requestContext(request));
      return reply.status(201).send({ success: true as const, data: sent });
    },
  );

  app.patch(
    '/notifications/:id',
    {
      config: SIGNED_IN,
      schema: {
        tags: TAGS,
        summary: 'Mark a notification read (or unread again with { read: false })',
        params: IdParams,
        // No body at all is "mark read" too (a missing body validates as null).
        body: Type.Union([
          Type.Object({ read: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          Type.Null(),
        ]),
        response: replies({ 200: Ok(Type.Object({ notification: Notification })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: {
        notification: await notifications.markRead(
          requirePrincipal(request.principal),
          request.params.id,
          request.body?.read ?? true,
        ),
      },
    }),
  );

  app.delete(
    '/notifications/:id',
    {
      config: SIGNED_IN,
      schema: {
        tags: TAGS,
        summary: 'Delete one of your notifications',
        params: IdParams,
        response: replies({ 200: Ok(Type.Object({ id: Uuid })) }),
      },
    },
    async (request) => {
      await notifications.remove(requirePrincipal(request.principal), request.params.id);
      return { success: true as const, data: { id: request.params.id } };
    },
  );
};
