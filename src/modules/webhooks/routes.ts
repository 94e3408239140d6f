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
import type { WebhookEndpoint, WebhookService } from './service.ts';

const ACCESS = { access: ['merchant'] as const };
const TAGS = ['webhooks'];

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'http(s) URL that receives the events',
});
const EventTypes = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  minItems: 1,
  maxItems: 32,
  uniqueItems: true,
  description: 'Event types to receive, or ["*"] for all (docs/EVENTS.md)',
});

const Webhook = Type.Object({
  id: Uuid,
  url: Type.String(),
  eventTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
});

const Delivery = Type.Object({
  id: Uuid,
  eventId: Uuid,
  eventType: Type.String(),
  attempt: Type.Integer(),
  status: StringEnum(['succeeded', 'failed', 'pending']),
  responseStatus: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
  nextAttemptAt: Type.Union([DateTime, Type.Null()]),
});

const CreateBody = Type.Object(
  { url: Url, eventTypes: EventTypes, enabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  { url: Type.Optional(Url), eventTypes: Type.Optional(EventTypes), enabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
const TestBody = Type.Object({ endpointId: Uuid }, { additionalProperties: false });
const DeliveryParams = Type.Object({ id: Uuid, deliveryId: Uuid });
const DeliveriesQuery = Type.Object(PaginationQuery, { additionalProperties: false });

const WebhookWithSecret = Ok(
  Type.Object({ webhook: Webhook, secret: Type.String({ description: 'Shown only in this reply' }) }),
);

export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (
  app,
  { webhooks },
) => {
  app.post(
    '/merchant/webhooks',
    {
      config: { ...ACCESS, idempotency: 'optional' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Add a webhook endpoint; its signing secret is in this reply only',
        body: CreateBody,
        response: replies({ 201: WebhookWithSecret }),
      },
    },
    async (request, reply) => {
      const replyBody = (created: { webhook: WebhookEndpoint; secret: string }) => ({
        success: true as const,
        data: created,
        message: 'Webhook endpoint created',
      });
      const created = await webhooks.create(
        requirePrincipal(request.principal),
        request.body,
        requestContext(request),
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(created));
    },
  );

  app.get(
    '/merchant/webhooks',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Your webhook endpoints',
        response: replies({ 200: Ok(Type.Object({ webhooks: Type.Array(Webhook) })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { webhooks: await webhooks.list(requirePrincipal(request.principal)) },
    }),
  );

  app.get(
    '/merchant/webhooks/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'One webhook endpoint',
        params: IdParams,
        response: replies({ 200: Ok(Type.Object({ webhook: Webhook })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { webhook: await webhooks.get(requirePrincipal(request.principal), request.params.id) },
    }),
  );

  app.patch(
    '/merchant/webhooks/:id',
    {
      config: ACCESS,
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary:
          'Change the URL, the event types or whether it is enabled (re-enabling forgets past failures)',
        params: IdParams,
        body: UpdateBody,
        response: replies({ 200: Ok(Type.Object({ webhook: Webhook })) }),
      },
    },
    async (request) => ({
      success: true as const,
      data: {
        webhook: await webhooks.update(
          requirePrincipal(request.principal),
          request.params.id,
          request.body,
          requestContext(request),
        ),
      },
    }),
  );

  app.delete(
    '/merchant/webhooks/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Remove a webhook endpoint (its deliveries go with it)',
        params: IdParams,
        response: replies({ 200: Ok(Type.Object({ id: Uuid })) }),
      },
    },
    async (request) => {
      await webhooks.remove(requirePrincipal(request.principal), request.params.id, requestContext(request));
      return { success: true as const, data: { id: request.params.id }, message: 'Webhook endpoint deleted' };
    },
  );

  app.post(
    '/merchant/webhooks/:id/rotate-secret',
    {
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'A new signing secret; the old one keeps signing beside it for the overlap period',
        params: IdParams,
        response: replies({
          200: Ok(
            Type.Object({
              webhook: Webhook,
              secret: Type.String({ description: 'Shown only in this reply' }),
              previousSecretExpiresAt: DateTime,
            }),
          ),
        }),
      },
    },
    async (request) => ({
      success: true as const,
      data: await webhooks.rotateSecret(
        requirePrincipal(request.principal),
        request.params.id,
        requestContext(request),
      ),
    }),
  );

  app.post(
    '/merchant/webhooks/test',
    {
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'Send a webhook.test event to an endpoint now and report how it answered',
        body: TestBody,
        response: replies({
          200: Ok(
            Type.Object({
              delivered: Type.Boolean(),
              responseStatus: Type.Union([Type.Integer(), Type.Null()]),
              durationMs: Type.Integer(),
              error: Type.Optional(Type.String()),
            }),
          ),
        }),
      },
    },
    async (request) => {
      const outcome = await webhooks.test(requirePrincipal(request.principal), request.body.endpointId);
      return {
        success: true as const,
        data: {
          delivered: outcome.delivered,
          responseStatus: outcome.responseStatus,
          durationMs: outcome.durationMs,
          ...(outcome.error === null ? {} : { error: outcome.error }),
        },
      };
    },
  );

  app.get(
    '/merchant/webhooks/:id/deliveries',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Delivery attempts to this endpoint, newest first (one row per attempt)',
        params: IdParams,
        querystring: DeliveriesQuery,
        response: replies({
          200: Ok(Type.Object({ deliveries: Type.Array(Delivery), pagination: Pagination })),
        }),
      },
    },
    async (request) => ({
      success: true as const,
      data: await webhooks.deliveries(
        requirePrincipal(request.principal),
        request.params.id,
        pageRequest(request.query),
      ),
    }),
  );

  app.post(
    '/merchant/webhooks/:id/deliveries/:deliveryId/redeliver',
    {
      // A second redelivery is one more attempt, which receivers tell apart by Tijori-Event-Id.
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'Send the delivery’s event again now (a new attempt)',
        params: DeliveryParams,
        response: replies({ 202: Ok(Type.Object({ delivery: Delivery })) }),
      },
    },
    async (request, reply) => {
      const delivery = await webhooks.redeliver(
        requirePrincipal(request.principal),
        request.params.id,
        request.params.deliveryId,
        requestContext(request),
      );
      return reply.status(202).send({ success: true as const, data: { delivery } });
    },
  );
};
