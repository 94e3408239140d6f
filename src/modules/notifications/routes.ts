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

const Phone = Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164, e.g. +919876543210' });

const Channels = Type.Object({
  email: Type.Boolean({ description: "To the account's email address" }),
  phone: Type.Union([Phone, Type.Null()]),
  sms: Type.Boolean(),
  whatsapp: Type.Boolean(),
  slack: Type.Boolean({ description: 'Whether a Slack incoming-webhook URL is set (never shown)' }),
});

const ChannelsBody = Type.Object(
  {
    email: Type.Optional(Type.Boolean()),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    sms: Type.Optional(Type.Boolean()),
    whatsapp: Type.Optional(Type.Boolean()),
    slackWebhookUrl: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 2048 }), Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
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

  app.get(
    '/notifications/channels',
    {
      config: SIGNED_IN,
      schema: {
        tags: TAGS,
        summary: 'Where your notifications also go: email, SMS, WhatsApp, Slack',
        response: replies({ 200: Ok(Type.Object({ channels: Channels })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { channels: await notifications.channelPreferences(requirePrincipal(request.principal)) },
    }),
  );

  app.put(
    '/notifications/channels',
    {
      config: SIGNED_IN,
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Change your channels (the fields given); SMS and WhatsApp need a phone (E.164)',
        body: ChannelsBody,
        response: replies({ 200: Ok(Type.Object({ channels: Channels })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: {
        channels: await notifications.updateChannelPreferences(
          requirePrincipal(request.principal),
          request.body,
          requestContext(request),
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
