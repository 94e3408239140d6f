import { Type } from 'typebox';
import { DateTime, Ok, StringEnum, Uuid } from '../../http/schemas.ts';
import { CONNECTOR_NAMES, PAYMENT_METHODS } from './connectors/connector.ts';
import { ROUTING_STRATEGIES } from './routing.ts';

/** Rupees, at most two decimals (checked when converted). */
const Rupees = Type.Number({ minimum: 0, maximum: 1e12, description: 'Major units (rupees)' });
const PositiveRupees = Type.Number({
  exclusiveMinimum: 0,
  maximum: 1e12,
  description: 'Major units (rupees)',
});

export const Method = StringEnum(PAYMENT_METHODS);
export const Strategy = StringEnum(ROUTING_STRATEGIES);

const Fees = Type.Object(
  {
    percent: Type.Number({
      minimum: 0,
      maximum: 100,
      description: 'Percent of the amount, at most two decimals (1.75)',
    }),
    fixed: Rupees,
  },
  { additionalProperties: false },
);

const Network = Type.String({ minLength: 2, maxLength: 64, description: 'An IP address or CIDR network' });

const gatewayFields = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  connector: StringEnum(CONNECTOR_NAMES),
  credentials: Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.String({ maxLength: 4096 }), {
    maxProperties: 16,
    description: 'Stored encrypted (AES-256-GCM); never returned, only a masked hint',
  }),
  config: Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.Unknown(), {
    maxProperties: 32,
    description:
      'Connector settings: baseUrl (the gateway API root); sandbox: successRate, latencyMs, failureMode',
  }),
  enabled: Type.Boolean(),
  priority: Type.Integer({ minimum: -1_000_000, maximum: 1_000_000, description: 'Lower is tried first' }),
  weight: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Share in a weighted split' }),
  methods: Type.Array(Method, { minItems: 1, uniqueItems: true }),
  fees: Fees,
  minAmount: Type.Union([PositiveRupees, Type.Null()]),
  maxAmount: Type.Union([PositiveRupees, Type.Null()]),
  webhookIpAllowlist: Type.Union([Type.Array(Network, { maxItems: 64 }), Type.Null()], {
    description: 'Inbound webhooks only from these networks; null accepts any',
  }),
};

/** Everything but the name and connector is optional on create; every field but the connector on update. */
const optionalFields = {
  credentials: Type.Optional(gatewayFields.credentials),
  config: Type.Optional(gatewayFields.config),
  enabled: Type.Optional(gatewayFields.enabled),
  priority: Type.Optional(gatewayFields.priority),
  weight: Type.Optional(gatewayFields.weight),
  methods: Type.Optional(gatewayFields.methods),
  fees: Type.Optional(gatewayFields.fees),
  minAmount: Type.Optional(gatewayFields.minAmount),
  maxAmount: Type.Optional(gatewayFields.maxAmount),
  webhookIpAllowlist: Type.Optional(gatewayFields.webhookIpAllowlist),
};

export const GatewayCreateBody = Type.Object(
  { name: gatewayFields.name, connector: gatewayFields.connector, ...optionalFields },
  { additionalProperties: false },
);

export const GatewayUpdateBody = Type.Object(
  { name: Type.Optional(gatewayFields.name), ...optionalFields },
  { additionalProperties: false, minProperties: 1 },
);

export const Gateway = Type.Object({
  id: Uuid,
  name: Type.String(),
  connector: StringEnum(CONNECTOR_NAMES),
  credentialsHint: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  config: Type.Record(Type.String(), Type.Unknown()),
  enabled: Type.Boolean(),
  priority: Type.Integer(),
  weight: Type.Integer(),
  methods: Type.Array(Method),
  fees: Type.Object({ percent: Type.Number(), fixed: Type.Number() }),
  minAmount: Type.Union([Type.Number(), Type.Null()]),
  maxAmount: Type.Union([Type.Number(), Type.Null()]),
  webhookIpAllowlist: Type.Union([Type.Array(Type.String()), Type.Null()]),
  webhookUrl: Type.String({
    description: 'Where this gateway must send its webhooks (a path on this server)',
  }),
  createdAt: DateTime,
  updatedAt: DateTime,
});

export const GatewayReply = Ok(Type.Object({ gateway: Gateway }));
export const GatewayListReply = Ok(Type.Object({ gateways: Type.Array(Gateway) }));

export const GatewayHealth = Type.Object({
  gatewayId: Uuid,
  name: Type.String(),
  connector: Type.String(),
  enabled: Type.Boolean(),
  volume: Type.Integer({ description: 'Attempts in the window' }),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  successRate: Type.Union([Type.Number(), Type.Null()]),
  p50LatencyMs: Type.Union([Type.Number(), Type.Null()]),
  p95LatencyMs: Type.Union([Type.Number(), Type.Null()]),
  errors: Type.Record(Type.String(), Type.Integer(), { description: 'Failed attempts by error code' }),
  circuit: Type.Object({
    state: StringEnum(['closed', 'open', 'half_open']),
    consecutiveFailures: Type.Integer(),
    openedAt: Type.Union([DateTime, Type.Null()]),
  }),
});
export const HealthQuery = Type.Object(
  { windowMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, default: 60 })) },
  { additionalProperties: false },
);
export const HealthReply = Ok(
  Type.Object({ windowMinutes: Type.Integer(), gateways: Type.Array(GatewayHealth) }),
);

export const RoutingBody = Type.Object({ strategy: Strategy }, { additionalProperties: false });
export const MerchantRoutingBody = Type.Object(
  { strategy: Type.Union([Strategy, Type.Null()], { description: 'null: follow the global strategy' }) },
  { additionalProperties: false },
);
export const RoutingReply = Ok(Type.Object({ strategy: Strategy }));
export const MerchantRoutingReply = Ok(
  Type.Object({ merchantId: Uuid, strategy: Type.Union([Strategy, Type.Null()]) }),
);

export const PreferencesBody = Type.Object(
  {
    gatewayIds: Type.Union(
      [Type.Array(Uuid, { minItems: 1, maxItems: 50, uniqueItems: true }), Type.Null()],
      {
        description: 'Gateways you allow, in your order; null allows every enabled gateway',
      },
    ),
  },
  { additionalProperties: false },
);
export const PreferencesReply = Ok(Type.Object({ gatewayIds: Type.Union([Type.Array(Uuid), Type.Null()]) }));

export const PaymentLimitBody = Type.Object(
  {
    maxAmount: Type.Union([PositiveRupees, Type.Null()], {
      description: 'The most one payment of this merchant may be; null: the method limits only',
    }),
  },
  { additionalProperties: false },
);
export const PaymentLimitReply = Ok(
  Type.Object({ merchantId: Uuid, maxAmount: Type.Union([Type.Number(), Type.Null()]) }),
);
