import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { invalidField } from '../../http/errors.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { IdParams, Ok, replies } from '../../http/schemas.ts';
import { trimBodyStrings } from '../../http/trim.ts';
import { toMajorUnits, toMinorUnits } from '../../lib/money.ts';
import {
  GatewayCreateBody,
  GatewayListReply,
  GatewayReply,
  GatewayUpdateBody,
  HealthQuery,
  HealthReply,
  MerchantRoutingBody,
  MerchantRoutingReply,
  PaymentLimitBody,
  PaymentLimitReply,
  PreferencesBody,
  PreferencesReply,
  RoutingBody,
  RoutingReply,
} from './schemas.ts';
import type { GatewayChange, GatewayService, GatewayView } from './service.ts';

const ADMIN = { access: ['admin'] as const };
const TAGS = ['gateways'];
const MINUTE_MS = 60_000;
const HEALTH_WINDOW_MINUTES_DEFAULT = 60;

/** Where a gateway posts its webhooks: the path its dashboard must be given, after this server's address. */
export function gatewayWebhookPath(gatewayId: string): string {
  return `/api/v1/webhooks/gateways/${gatewayId}`;
}

function present(gateway: GatewayView) {
  return {
    id: gateway.id,
    name: gateway.name,
    connector: gateway.connector,
    credentialsHint: gateway.credentialsHint,
    config: gateway.config,
    enabled: gateway.enabled,
    priority: gateway.priority,
    weight: gateway.weight,
    methods: gateway.methods,
    fees: { percent: gateway.feePercentBasisPoints / 100, fixed: toMajorUnits(gateway.feeFixedMinor) },
    minAmount: gateway.minAmountMinor === null ? null : toMajorUnits(gateway.minAmountMinor),
    maxAmount: gateway.maxAmountMinor === null ? null : toMajorUnits(gateway.maxAmountMinor),
    webhookIpAllowlist: gateway.webhookIpAllowlist,
    webhookUrl: gatewayWebhookPath(gateway.id),
    createdAt: gateway.createdAt,
    updatedAt: gateway.updatedAt,
  };
}

function minorOf(field: string, rupees: number): bigint {
  const minor = toMinorUnits(rupees);
  if (minor === null) throw invalidField(field, 'must have at most two decimals');
  return minor;
}

function limitOf(field: string, rupees: number | null | undefined): bigint | null | undefined {
  return rupees === undefined || rupees === null ? rupees : minorOf(field, rupees);
}

/** The HTTP body (rupees, percent) as the service takes it (paise, basis points). */
function changeOf(body: Static<typeof GatewayUpdateBody>): GatewayChange {
  const { fees, minAmount, maxAmount, ...rest } = body;
  return {
    ...rest,
    ...(fees === undefined
      ? {}
      : {
          feePercentBasisPoints: Number(minorOf('fees.percent', fees.percent)),
          feeFixedMinor: minorOf('fees.fixed', fees.fixed),
        }),
    ...(minAmount === undefined ? {} : { minAmountMinor: limitOf('minAmount', minAmount) }),
    ...(maxAmount === undefined ? {} : { maxAmountMinor: limitOf('maxAmount', maxAmount) }),
  };
}

export const gatewayRoutes: FastifyPluginAsyncTypebox<{ gateways: GatewayService }> = async (
  app,
  { gateways },
) => {
  app.get(
    '/admin/gateways',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: 'Payment gateways, by priority',
        response: replies({ 200: GatewayListReply }),
      },
    },
    async () => ({ success: true as const, data: { gateways: (await gateways.list()).map(present) } }),
  );

  app.post(
    '/admin/gateways',
    {
      config: { ...ADMIN, idempotency: 'optional' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Add a payment gateway (credentials are stored encrypted and never returned)',
        body: GatewayCreateBody,
        response: replies({ 201: GatewayReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (gateway: GatewayView) => ({
        success: true as const,
        data: { gateway: present(gateway) },
        message: 'Gateway created',
      });
      const { name, connector } = request.body;
      const created = await gateways.create(
        { ...changeOf(request.body), name, connector },
        requestContext(request),
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(created));
    },
  );

  app.get(
    '/admin/gateways/health',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: 'Per gateway: rolling success rate, p50/p95 latency, volume, errors, circuit state',
        querystring: HealthQuery,
        response: replies({ 200: HealthReply }),
      },
    },
    async (request) => {
      const windowMinutes = request.query.windowMinutes ?? HEALTH_WINDOW_MINUTES_DEFAULT;
      return {
        success: true as const,
        data: { windowMinutes, gateways: await gateways.health(windowMinutes * MINUTE_MS) },
      };
    },
  );

  app.get(
    '/admin/gateways/:id',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: 'One gateway',
        params: IdParams,
        response: replies({ 200: GatewayReply }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { gateway: present(await gateways.get(request.params.id)) },
    }),
  );

  app.put(
    '/admin/gateways/:id',
    {
      config: ADMIN,
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Change the fields given',
        params: IdParams,
        body: GatewayUpdateBody,
        response: replies({ 200: GatewayReply }),
      },
    },
    async (request) => ({
      success: true as const,
      data: {
        gateway: present(
          await gateways.update(request.params.id, changeOf(request.body), requestContext(request)),
        ),
      },
      message: 'Gateway updated',
    }),
  );

  app.delete(
    '/admin/gateways/:id',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: 'Delete a gateway that never took a payment (409 otherwise: disable it)',
        params: IdParams,
        response: replies({ 200: Ok(Type.Null()) }),
      },
    },
    async (request) => {
      await gateways.remove(request.params.id, requestContext(request));
      return { success: true as const, data: null, message: 'Gateway deleted' };
    },
  );

  app.get(
    '/admin/routing',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: 'The global routing strategy',
        response: replies({ 200: RoutingReply }),
      },
    },
    async () => ({ success: true as const, data: { strategy: await gateways.globalStrategy() } }),
  );

  app.put(
    '/admin/routing',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: 'Set the global routing strategy (priority, weighted, success_rate, lowest_cost)',
        body: RoutingBody,
        response: replies({ 200: RoutingReply }),
      },
    },
    async (request) => {
      await gateways.setGlobalStrategy(request.body.strategy, requestContext(request));
      return { success: true as const, data: { strategy: request.body.strategy } };
    },
  );

  app.put(
    '/admin/merchants/:id/routing',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: "Set one merchant's routing strategy (null: follow the global one)",
        params: IdParams,
        body: MerchantRoutingBody,
        response: replies({ 200: MerchantRoutingReply }),
      },
    },
    async (request) => {
      const saved = await gateways.setMerchantStrategy(
        request.params.id,
        request.body.strategy,
        requestContext(request),
      );
      return {
        success: true as const,
        data: { merchantId: request.params.id, strategy: saved.routingStrategy },
      };
    },
  );

  app.put(
    '/admin/merchants/:id/payment-limits',
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: "Set one merchant's per-payment maximum (null: the method limits only)",
        params: IdParams,
        body: PaymentLimitBody,
        response: replies({ 200: PaymentLimitReply }),
      },
    },
    async (request) => {
      const saved = await gateways.setMerchantPaymentLimit(
        request.params.id,
        limitOf('maxAmount', request.body.maxAmount) ?? null,
        requestContext(request),
      );
      return {
        success: true as const,
        data: { merchantId: request.params.id, maxAmount: saved === null ? null : toMajorUnits(saved) },
      };
    },
  );

  app.get(
    '/merchant/gateway-preferences',
    {
      config: { access: ['merchant'] as const },
      schema: {
        tags: TAGS,
        summary: 'The gateways you allow, in your order',
        response: replies({ 200: PreferencesReply }),
      },
    },
    async (request) => ({
      success: true as const,
      data: { gatewayIds: await gateways.preferences(requireMerchantId(request.principal)) },
    }),
  );

  app.put(
    '/merchant/gateway-preferences',
    {
      config: { access: ['merchant'] as const },
      schema: {
        tags: TAGS,
        summary: 'Allow only these gateways, in this order (within what the admin enabled)',
        body: PreferencesBody,
        response: replies({ 200: PreferencesReply }),
      },
    },
    async (request) => ({
      success: true as const,
      data: {
        gatewayIds: await gateways.setPreferences(
          requirePrincipal(request.principal),
          request.body.gatewayIds,
          requestContext(request),
        ),
      },
    }),
  );
};

function requireMerchantId(principal: Parameters<typeof requirePrincipal>[0]): string {
  return requirePrincipal(principal).merchantId ?? '';
}
