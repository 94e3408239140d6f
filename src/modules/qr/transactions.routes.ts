import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { AppError, invalidField } from '../../http/errors.ts';
import { pageInfo, pageRequest } from '../../http/pagination.ts';
import { type Principal, requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { replies } from '../../http/schemas.ts';
import { trimBodyStrings } from '../../http/trim.ts';
import type { TransactionListQuery as GatewayListQuery, GatewayPaymentSchema } from '../payments/index.ts';
import { presentTransaction } from './present.ts';
import {
  AnyTransactionReply,
  SimulateBody,
  SimulateReply,
  StatsReply,
  TransactionCreateBody,
  TransactionDeleteReply,
  TransactionExportQuery,
  TransactionListQuery,
  TransactionListReply,
  TransactionParams,
  TransactionPatchBody,
  TransactionReply,
  TransactionStatsQuery,
} from './schemas.ts';
import type { Random } from './simulation-data.ts';
import type { TransactionRow, TransactionService } from './transactions.service.ts';

const ACCESS = { access: ['merchant', 'admin'] as const };
const TAGS = ['transactions'];

/** A gateway payment as the transactions resource shows it, with the time it is listed by. */
export interface GatewayTransaction {
  readonly id: string;
  readonly createdAt: Date;
  readonly transaction: Static<typeof GatewayPaymentSchema>;
}

/** What the transactions resource needs of gateway payments (the payments module provides it). */
export interface GatewayTransactions {
  list(
    principal: Principal,
    query: GatewayListQuery,
    limit: number,
    offset: number,
  ): Promise<{ items: GatewayTransaction[]; total: number }>;
  find(principal: Principal, id: string): Promise<GatewayTransaction | null>;
}

/**
 * Both kinds in one list are merged from the head of each, newest first: pages deeper than this
 * many rows must choose a source (or use the CSV export, which streams any number).
 */
const MERGED_WINDOW_ROWS_MAX = 10_000;

export const transactionRoutes: FastifyPluginAsyncTypebox<{
  transactions: TransactionService;
  random: Random;
  gatewayTransactions?: GatewayTransactions;
}> = async (app, { transactions, random, gatewayTransactions }) => {
  app.get(
    '/transactions',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Payments received through QR codes, newest first',
        querystring: TransactionListQuery,
        response: replies({ 200: TransactionListReply }),
      },
    },
    async (request) => {
      const { qrId, status, startDate, endDate, tz, merchantId, source } = request.query;
      const principal = requirePrincipal(request.principal);
      const page = pageRequest(request.query);
      const filter = { status, startDate, endDate, tz, merchantId };
      if (gatewayTransactions === undefined || source === 'qr' || qrId !== undefined) {
        const found = await transactions.list(principal, { ...filter, qrId }, page);
        return {
          success: true as const,
          data: {
            transactions: found.transactions.map((row) => presentTransaction(row)),
            pagination: found.pagination,
          },
        };
      }
      if (source === 'gateway') {
        const found = await gatewayTransactions.list(principal, filter, page.limit, page.offset);
        return {
          success: true as const,
          data: {
            transactions: found.items.map((item) => item.transaction),
            pagination: pageInfo(page, found.items.length, found.total),
          },
        };
      }
      const window = page.offset + page.limit;
      if (window > MERGED_WINDOW_ROWS_MAX) {
        throw invalidField('page', `beyond ${MERGED_WINDOW_ROWS_MAX} rows, choose a source (qr or gateway)`);
      }
      const [qr, gateway] = await Promise.all([
        transactions.list(principal, filter, { page: 1, limit: window, offset: 0 }),
        gatewayTransactions.list(principal, filter, window, 0),
      ]);
      const merged = [
        ...qr.transactions.map((row) => ({
          at: row.occurredAt,
          id: row.id,
          transaction: presentTransaction(row),
        })),
        ...gateway.items.map((item) => ({ at: item.createdAt, id: item.id, transaction: item.transaction })),
      ]
        .sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .slice(page.offset, window);
      return {
        success: true as const,
        data: {
          transactions: merged.map((item) => item.transaction),
          pagination: pageInfo(page, merged.length, qr.pagination.totalRecords + gateway.total),
        },
      };
    },
  );

  app.post(
    '/transactions',
    {
      // The key is checked, and the reply stored, by the statement that posts the payment.
      config: { ...ACCESS, idempotency: 'optional' as const, idempotencyClaim: 'use-case' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Record a payment received through a QR code (honours Idempotency-Key)',
        body: TransactionCreateBody,
        response: replies({ 201: TransactionReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (transaction: TransactionRow) => ({
        success: true as const,
        data: { transaction: presentTransaction(transaction) },
        message: 'Transaction recorded',
      });
      const result = await transactions.create(
        requirePrincipal(request.principal),
        request.body,
        requestContext(request),
        request.idempotentRequest === null
          ? undefined
          : { request: request.idempotentRequest, statusCode: 201, body: replyBody },
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.get(
    '/transactions/stats',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Totals, per-status breakdown and per-day figures (amounts: successful payments only)',
        querystring: TransactionStatsQuery,
        response: replies({ 200: StatsReply }),
      },
    },
    async (request) => {
      const stats = await transactions.stats(requirePrincipal(request.principal), request.query);
      return { success: true as const, data: stats };
    },
  );

  app.get(
    '/transactions/export.csv',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'The filtered list as CSV, streamed (any number of rows)',
        querystring: TransactionExportQuery,
        response: replies({
          200: Type.Unsafe<Readable>({
            content: {
              'text/csv': { schema: { type: 'string', description: 'RFC 4180, CRLF, header row first' } },
            },
          }),
        }),
      },
    },
    async (request, reply) => {
      const csv = await transactions.exportCsv(requirePrincipal(request.principal), request.query);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="transactions.csv"')
        .header('cache-control', 'no-store')
        .send(csv);
    },
  );

  app.post(
    '/transactions/simulate',
    {
      config: { ...ACCESS, idempotency: 'optional' as const },
      schema: {
        tags: TAGS,
        summary: 'Create 1 to 100 realistic payments on a QR code at once (honours Idempotency-Key)',
        body: SimulateBody,
        response: replies({ 201: SimulateReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (rows: TransactionRow[]) => ({
        success: true as const,
        data: { transactions: rows.map((row) => presentTransaction(row)), count: rows.length },
        message: `${rows.length} transactions simulated`,
      });
      const result = await transactions.simulate(
        requirePrincipal(request.principal),
        request.body.qrId,
        request.body.count ?? 1,
        requestContext(request),
        random,
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.get(
    '/transactions/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'One payment, QR (by paymentId or UUID, with its status history) or gateway (by UUID)',
        params: TransactionParams,
        response: replies({ 200: AnyTransactionReply }),
      },
    },
    async (request) => {
      const principal = requirePrincipal(request.principal);
      try {
        const transaction = await transactions.get(principal, request.params.id);
        return { success: true as const, data: { transaction: presentTransaction(transaction) } };
      } catch (error) {
        if (!(error instanceof AppError) || error.statusCode !== 404 || gatewayTransactions === undefined)
          throw error;
        const gateway = await gatewayTransactions.find(principal, request.params.id);
        if (gateway === null) throw error;
        return { success: true as const, data: { transaction: gateway.transaction } };
      }
    },
  );

  app.patch(
    '/transactions/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Move a Pending payment to Success or Failed (the only allowed moves)',
        params: TransactionParams,
        body: TransactionPatchBody,
        response: replies({ 200: TransactionReply }),
      },
    },
    async (request) => {
      const transaction = await transactions.changeStatus(
        requirePrincipal(request.principal),
        request.params.id,
        request.body.status,
        requestContext(request),
      );
      return {
        success: true as const,
        data: { transaction: presentTransaction(transaction) },
        message: `Transaction is now ${transaction.status}`,
      };
    },
  );

  app.delete(
    '/transactions/:id',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Delete a payment record (by paymentId or UUID)',
        params: TransactionParams,
        response: replies({ 200: TransactionDeleteReply }),
      },
    },
    async (request) => {
      const paymentId = await transactions.remove(
        requirePrincipal(request.principal),
        request.params.id,
        requestContext(request),
      );
      return { success: true as const, data: { paymentId }, message: 'Transaction deleted' };
    },
  );
};
