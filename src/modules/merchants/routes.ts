import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pageRequest } from '../../http/pagination.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { IdParams, replies } from '../../http/schemas.ts';
import {
  CredentialsReply,
  MerchantListQuery,
  MerchantListReply,
  MerchantPatchBody,
  MerchantReply,
  UsageQuery,
  UsageReply,
} from './schemas.ts';
import type { MerchantService } from './service.ts';

export const merchantRoutes: FastifyPluginAsyncTypebox<{ merchants: MerchantService }> = async (
  app,
  { merchants },
) => {
  app.post(
    '/merchant/credentials/regenerate',
    {
      config: { access: ['merchant'], idempotency: 'none' as const },
      schema: {
        tags: ['merchants'],
        summary: 'Replace the API client key and secret (the old pair stops working at once)',
        response: replies({ 200: CredentialsReply }),
      },
    },
    async (request) => {
      const credentials = await merchants.regenerateCredentials(
        requirePrincipal(request.principal),
        requestContext(request),
      );
      return { success: true as const, data: credentials, message: 'API credentials regenerated' };
    },
  );

  app.get(
    '/merchant/usage',
    {
      config: { access: ['merchant'] },
      schema: {
        tags: ['merchants'],
        summary: 'Requests made with the API credentials, per UTC day',
        querystring: UsageQuery,
        response: replies({ 200: UsageReply }),
      },
    },
    async (request) => {
      const usage = await merchants.usage(requirePrincipal(request.principal), request.query);
      const totalRequests = usage.reduce((sum, day) => sum + day.requests, 0);
      return { success: true as const, data: { usage, totalRequests } };
    },
  );

  app.get(
    '/merchant/:id',
    {
      config: { access: ['merchant', 'admin'] },
      schema: {
        tags: ['merchants'],
        summary: 'A merchant profile (the merchant itself or an admin)',
        params: IdParams,
        response: replies({ 200: MerchantReply }),
      },
    },
    async (request) => {
      const merchant = await merchants.get(requirePrincipal(request.principal), request.params.id);
      return { success: true as const, data: { merchant } };
    },
  );

  app.patch(
    '/merchant/:id',
    {
      config: { access: ['merchant', 'admin'] },
      schema: {
        tags: ['merchants'],
        summary: 'Update a merchant profile; only an admin may change its status',
        params: IdParams,
        body: MerchantPatchBody,
        response: replies({ 200: MerchantReply }),
      },
    },
    async (request) => {
      const merchant = await merchants.update(
        requirePrincipal(request.principal),
        request.params.id,
        request.body,
        requestContext(request),
      );
      return { success: true as const, data: { merchant }, message: 'Merchant updated' };
    },
  );

  app.get(
    '/admin/merchants',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: 'List merchants',
        querystring: MerchantListQuery,
        response: replies({ 200: MerchantListReply }),
      },
    },
    async (request) => {
      const { status, search } = request.query;
      const data = await merchants.list({ status, search }, pageRequest(request.query));
      return { success: true as const, data };
    },
  );
};
