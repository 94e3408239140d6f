import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound } from '../../http/errors.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { IdParams, Ok, replies } from '../../http/schemas.ts';
import { trimBodyStrings } from '../../http/trim.ts';
import { toMajorUnitsOf } from '../../lib/money.ts';
import { renderQrImage } from '../../lib/qr-image.ts';
import type { Figures, PaymentAnalytics } from './analytics.ts';
import type { InboundWebhooks } from './inbound.ts';
import { presentNextAction, presentPayment, type ScaleOf } from './present.ts';
import type { OrderRow } from './repo.ts';
import {
  AnalyticsQuery,
  AnalyticsReply,
  OrderBody,
  OrderReply,
  PayBody,
  PaymentDetailReply,
  PayReply,
  RefundBody,
  RefundReply,
} from './schemas.ts';
import type { PaymentService, PaymentView, RefundView } from './service.ts';

const MERCHANT = { access: ['merchant'] as const };
const READERS = { access: ['merchant', 'admin'] as const };
const TAGS = ['payments'];
const QR_IMAGE_SIZE_PX = 320;
/** Gateway webhooks are small; a larger body is refused before it is read. */
const GATEWAY_WEBHOOK_BODY_BYTES_MAX = 256 * 1024;

export const paymentRoutes: FastifyPluginAsyncTypebox<{
  payments: PaymentService;
  inbound: InboundWebhooks;
  analytics: PaymentAnalytics;
  scaleOf: ScaleOf;
}> = async (app, { payments, inbound, analytics, scaleOf }) => {
  const present = (view: PaymentView) => ({
    payment: presentPayment(view.payment, view.attempts, scaleOf),
    nextAction: presentNextAction(view.payment),
  });

  app.post(
    '/pay',
    {
      // The key is checked, and the reply stored, by the use case's own transaction.
      config: { ...MERCHANT, idempotency: 'required' as const, idempotencyClaim: 'use-case' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary:
          'Initiate a payment through the best eligible gateway, failing over (Idempotency-Key required)',
        body: PayBody,
        response: replies({ 201: PayReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (view: PaymentView) => ({ success: true as const, data: present(view) });
      const keyed = request.idempotentRequest;
      if (keyed === null) throw new Error('a required Idempotency-Key reached the handler unset');
      const view = await payments.pay(requirePrincipal(request.principal), request.body, {
        request: keyed,
        statusCode: 201,
        body: replyBody,
      });
      return reply.status(201).send(replyBody(view));
    },
  );

  app.post(
    '/orders',
    {
      config: { ...MERCHANT, idempotency: 'optional' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Register an order: a payment for it must be for exactly this amount',
        body: OrderBody,
        response: replies({ 201: OrderReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (order: OrderRow) => ({
        success: true as const,
        data: {
          order: {
            id: order.id,
            orderId: order.orderId,
            amount: toMajorUnitsOf(order.amountMinor, scaleOf(order.currency)),
            currency: order.currency,
            createdAt: order.createdAt,
          },
        },
      });
      const order = await payments.registerOrder(
        requirePrincipal(request.principal),
        request.body,
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(order));
    },
  );

  app.get(
    '/payments/:id',
    {
      config: READERS,
      schema: {
        tags: TAGS,
        summary: 'One gateway payment with its attempts and status history',
        params: IdParams,
        response: replies({ 200: PaymentDetailReply }),
      },
    },
    async (request) => {
      const detail = await payments.get(requirePrincipal(request.principal), request.params.id);
      return {
        success: true as const,
        data: {
          ...present(detail),
          history: detail.history.map(({ fromStatus, toStatus, cause, attemptId, createdAt }) => ({
            fromStatus,
            toStatus,
            cause,
            attemptId,
            createdAt,
          })),
        },
      };
    },
  );

  app.post(
    '/payments/:id/verify',
    {
      config: { ...READERS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'Ask the gateway where the payment stands, and apply its answer',
        params: IdParams,
        response: replies({ 200: PayReply }),
      },
    },
    async (request) => ({
      success: true as const,
      data: present(await payments.verify(requirePrincipal(request.principal), request.params.id)),
    }),
  );

  app.post(
    '/payments/:id/refund',
    {
      config: { ...MERCHANT, idempotency: 'required' as const, idempotencyClaim: 'use-case' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Refund all or part of what was captured (Idempotency-Key required)',
        params: IdParams,
        body: RefundBody,
        response: replies({ 201: RefundReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (view: RefundView) => ({
        success: true as const,
        data: {
          refund: {
            id: view.refund.id,
            paymentId: view.refund.paymentId,
            amount: toMajorUnitsOf(view.refund.amountMinor, scaleOf(view.refund.currency)),
            currency: view.refund.currency,
            reason: view.refund.reason,
            status: view.refund.status,
            gatewayReference: view.refund.gatewayReference,
            errorCode: view.refund.errorCode,
            errorMessage: view.refund.errorMessage,
            createdAt: view.refund.createdAt,
          },
          payment: presentPayment(view.payment, view.attempts, scaleOf),
        },
      });
      const keyed = request.idempotentRequest;
      if (keyed === null) throw new Error('a required Idempotency-Key reached the handler unset');
      const view = await payments.refund(
        requirePrincipal(request.principal),
        request.params.id,
        request.body,
        {
          request: keyed,
          statusCode: 201,
          body: replyBody,
        },
      );
      return reply.status(201).send(replyBody(view));
    },
  );

  app.get(
    '/analytics',
    {
      config: READERS,
      schema: {
        tags: TAGS,
        summary: 'Gateway payments: volume, success rate, average ticket, by gateway, method and day',
        querystring: AnalyticsQuery,
        response: replies({ 200: AnalyticsReply }),
      },
    },
    async (request) => {
      const report = await analytics(requirePrincipal(request.principal), request.query);
      const major = <T extends Figures>(row: T) => {
        const { amountMinor, averageTicketMinor, ...rest } = row;
        const scale = scaleOf(row.currency);
        return {
          ...rest,
          amount: toMajorUnitsOf(amountMinor, scale),
          averageTicket: toMajorUnitsOf(averageTicketMinor, scale),
        };
      };
      return {
        success: true as const,
        data: {
          from: report.from,
          to: report.to,
          timeZone: report.timeZone,
          totals: report.totals.map(major),
          byGateway: report.byGateway.map(major),
          byMethod: report.byMethod.map(major),
          byDay: report.byDay.map(major),
        },
      };
    },
  );

  app.get(
    '/payments/:id/qr.png',
    {
      config: READERS,
      schema: {
        tags: TAGS,
        summary: "The payment's UPI link as a QR image, for the payer to scan",
        params: IdParams,
        response: replies({
          200: Type.Unsafe<Buffer>({
            content: { 'image/png': { schema: { type: 'string', format: 'binary' } } },
          }),
        }),
      },
    },
    async (request, reply) => {
      const { payment } = await payments.get(requirePrincipal(request.principal), request.params.id);
      const action = presentNextAction(payment);
      if (action === null || !('qrImageUrl' in action)) throw notFound('UPI link', 'NO_UPI_LINK');
      const image = (await renderQrImage(action.url, 'png', QR_IMAGE_SIZE_PX)) as Buffer;
      return reply.type('image/png').header('cache-control', 'private, max-age=300').send(image);
    },
  );

  // The signature covers the exact bytes received: this scope reads every body as a Buffer,
  // whatever its content type (JSON for Razorpay, form fields for PayU and Paytm).
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: GATEWAY_WEBHOOK_BODY_BYTES_MAX },
      (_request, body, done) => {
        done(null, body);
      },
    );
    scope.post(
      '/webhooks/gateways/:gatewayId',
      {
        config: { access: 'public', idempotency: 'none' as const },
        schema: {
          tags: TAGS,
          summary: "A gateway's webhook: verified with its signature scheme, stored, applied once",
          params: Type.Object({ gatewayId: Type.String({ maxLength: 64 }) }),
          response: replies({
            200: Ok(
              Type.Object({
                received: Type.Boolean(),
                replayed: Type.Boolean(),
                effect: Type.Union([Type.String(), Type.Null()]),
              }),
            ),
          }),
        },
      },
      async (request) => {
        const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const { gatewayId } = request.params as { gatewayId: string };
        const result = await inbound.receive(
          gatewayId,
          { rawBody, headers: request.headers },
          request.ip ?? null,
        );
        return {
          success: true as const,
          data: { received: true, replayed: result.replayed, effect: result.effect },
        };
      },
    );
  });
};
