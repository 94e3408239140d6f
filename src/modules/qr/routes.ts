import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageRequest } from '../../http/pagination.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { replies } from '../../http/schemas.ts';
import { trimBodyStrings } from '../../http/trim.ts';
import { presentQrCode, presentTransaction } from './present.ts';
import {
  QrCreateBody,
  QrDeleteReply,
  QrDetailReply,
  QrImageQuery,
  QrListQuery,
  QrListReply,
  QrParams,
  QrReply,
  QrStatusBody,
  QrTransactionListQuery,
  QrUpdateBody,
  SimulationReply,
  TransactionListReply,
  UpiLinkQuery,
  UpiLinkReply,
} from './schemas.ts';
import type { QrCodeRow, QrCodeService } from './service.ts';
import type { SimulationService } from './simulator.ts';
import type { TransactionService } from './transactions.service.ts';

const ACCESS = { access: ['merchant', 'admin'] as const };
const TAGS = ['qr'];
const IMAGE_CACHE_CONTROL = 'private, max-age=300';

export const qrRoutes: FastifyPluginAsyncTypebox<{
  qrCodes: QrCodeService;
  transactions: TransactionService;
  simulations: SimulationService;
}> = async (app, { qrCodes, transactions, simulations }) => {
  app.get(
    '/qr',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'List QR codes (a merchant its own; an admin all, or one merchant with merchantId)',
        querystring: QrListQuery,
        response: replies({ 200: QrListReply }),
      },
    },
    async (request) => {
      const { category, status, search, merchantId } = request.query;
      const { qrCodes: rows, pagination } = await qrCodes.list(
        requirePrincipal(request.principal),
        { category, status, search, merchantId },
        pageRequest(request.query),
      );
      return { success: true as const, data: { qrCodes: rows.map(presentQrCode), pagination } };
    },
  );

  app.post(
    '/qr',
    {
      config: { ...ACCESS, idempotency: 'optional' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Create a QR code (an admin passes merchantId); honours Idempotency-Key',
        body: QrCreateBody,
        response: replies({ 201: QrReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (qrCode: QrCodeRow) => ({
        success: true as const,
        data: { qrCode: presentQrCode(qrCode) },
        message: 'QR Code created successfully',
      });
      const result = await qrCodes.create(
        requirePrincipal(request.principal),
        request.body,
        requestContext(request),
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.get(
    '/qr/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'A QR code (by UUID or qrId) with its payment statistics',
        params: QrParams,
        response: replies({ 200: QrDetailReply }),
      },
    },
    async (request) => {
      const { qrCode, statistics } = await qrCodes.get(
        requirePrincipal(request.principal),
        request.params.id,
      );
      return { success: true as const, data: { qrCode: presentQrCode(qrCode), statistics } };
    },
  );

  app.put(
    '/qr/:id',
    {
      config: ACCESS,
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Update a QR code; qrId cannot change; becoming Inactive stops its simulation',
        params: QrParams,
        body: QrUpdateBody,
        response: replies({ 200: QrReply }),
      },
    },
    async (request) => {
      const qrCode = await qrCodes.update(
        requirePrincipal(request.principal),
        request.params.id,
        request.body,
        requestContext(request),
      );
      return {
        success: true as const,
        data: { qrCode: presentQrCode(qrCode) },
        message: 'QR Code updated successfully',
      };
    },
  );

  app.delete(
    '/qr/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Delete a QR code with all its payments (one transaction); its simulation stops',
        params: QrParams,
        response: replies({ 200: QrDeleteReply }),
      },
    },
    async (request) => {
      const deleted = await qrCodes.remove(
        requirePrincipal(request.principal),
        request.params.id,
        requestContext(request),
      );
      return { success: true as const, data: deleted, message: 'QR Code deleted successfully' };
    },
  );

  app.post(
    '/qr/:id/status',
    {
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'Toggle Active/Inactive (or set `status`); becoming Inactive stops its simulation',
        params: QrParams,
        body: Type.Optional(QrStatusBody),
        response: replies({ 200: QrReply }),
      },
    },
    async (request) => {
      const qrCode = await qrCodes.changeStatus(
        requirePrincipal(request.principal),
        request.params.id,
        request.body?.status,
        requestContext(request),
      );
      return {
        success: true as const,
        data: { qrCode: presentQrCode(qrCode) },
        message: `QR Code is now ${qrCode.status}`,
      };
    },
  );

  app.post(
    '/qr/:id/simulation',
    {
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'Toggle the payment simulation of a QR code (same switch as /simulation/:qrId/toggle)',
        params: QrParams,
        response: replies({ 200: SimulationReply }),
      },
    },
    async (request) => {
      const simulation = await simulations.change(
        requirePrincipal(request.principal),
        request.params.id,
        'toggle',
      );
      return {
        success: true as const,
        data: { simulation },
        message: simulation.simulationActive ? 'Simulation started' : 'Simulation stopped',
      };
    },
  );

  app.get(
    '/qr/:id/transactions',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: "A QR code's payments, newest first, with the transaction list's filters",
        params: QrParams,
        querystring: QrTransactionListQuery,
        response: replies({ 200: TransactionListReply }),
      },
    },
    async (request) => {
      const { status, startDate, endDate, tz } = request.query;
      const page = await transactions.listForQrCode(
        requirePrincipal(request.principal),
        request.params.id,
        { status, startDate, endDate, tz },
        pageRequest(request.query),
      );
      return {
        success: true as const,
        data: {
          transactions: page.transactions.map((row) => presentTransaction(row)),
          pagination: page.pagination,
        },
      };
    },
  );

  app.get(
    '/qr/:id/upi-link',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'The UPI deep link the QR code encodes (`amount` fixes the amount)',
        params: QrParams,
        querystring: UpiLinkQuery,
        response: replies({ 200: UpiLinkReply }),
      },
    },
    async (request) => {
      const upiLink = await qrCodes.upiLink(
        requirePrincipal(request.principal),
        request.params.id,
        request.query.amount,
      );
      return { success: true as const, data: { upiLink } };
    },
  );

  for (const format of ['png', 'svg'] as const) {
    app.get(
      `/qr/:id/image.${format}`,
      {
        config: ACCESS,
        schema: {
          tags: TAGS,
          summary: `The QR code as a scannable ${format.toUpperCase()} image of its UPI link`,
          params: QrParams,
          querystring: QrImageQuery,
          response: replies({
            200: Type.Unsafe<Buffer | string>({
              content: {
                [format === 'png' ? 'image/png' : 'image/svg+xml']: {
                  schema: { type: 'string', format: 'binary' },
                },
              },
            }),
          }),
        },
      },
      async (request, reply) => {
        const { qrId, image } = await qrCodes.image(
          requirePrincipal(request.principal),
          request.params.id,
          format,
          {
            amount: request.query.amount,
            sizePx: request.query.size,
          },
        );
        return reply
          .type(format === 'png' ? 'image/png' : 'image/svg+xml')
          .header('cache-control', IMAGE_CACHE_CONTROL)
          .header('content-disposition', `inline; filename="qr-${qrId}.${format}"`)
          .send(image);
      },
    );
  }
};
