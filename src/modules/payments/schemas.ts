import { Type } from 'typebox';
import { DateTime, Ok, StringEnum, Uuid } from '../../http/schemas.ts';
import { PAYMENT_METHODS } from '../gateways/connectors/connector.ts';

const PAYMENT_STATUSES = [
  'created',
  'pending',
  'succeeded',
  'failed',
  'expired',
  'partially_refunded',
  'refunded',
] as const;

const Amount = Type.Number({
  exclusiveMinimum: 0,
  maximum: 1e12,
  description: 'Major units (rupees for INR)',
});
const CurrencyCode = Type.String({ pattern: '^[A-Z0-9]{2,10}$', description: 'A configured currency' });
const OrderId = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._:/-]+$' });
const USER_AGENT_LENGTH_MAX = 512;
const URL_LENGTH_MAX = 2048;

/** The payer's device, which the merchant's server saw and forwards; we are called by that server. */
const Payer = Type.Object(
  {
    ip: Type.Optional(
      Type.Union([Type.String({ format: 'ipv4' }), Type.String({ format: 'ipv6' })], {
        description: "The payer's IP address (IPv4 or IPv6), not the merchant server's",
      }),
    ),
    userAgent: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: USER_AGENT_LENGTH_MAX,
        description: "The User-Agent of the payer's browser or app",
      }),
    ),
    referer: Type.Optional(
      Type.String({
        format: 'uri',
        maxLength: URL_LENGTH_MAX,
        pattern: '^https?://',
        description: 'The page the payer was on when they chose to pay',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Where the payer is paying from, for the gateways' fraud checks: each gateway is sent the fields its API takes. Passed on, not stored.",
  },
);

export const PayBody = Type.Object(
  {
    amount: Amount,
    currency: CurrencyCode,
    orderId: OrderId,
    method: StringEnum(PAYMENT_METHODS),
    customer: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 100 }),
        email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
        phone: Type.Optional(Type.String({ pattern: '^\\+?[0-9]{10,15}$' })),
        vpa: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}$' })),
      },
      { additionalProperties: false },
    ),
    description: Type.Optional(Type.String({ maxLength: 255 })),
    returnUrl: Type.Optional(
      Type.String({ format: 'uri', maxLength: URL_LENGTH_MAX, pattern: '^https?://' }),
    ),
    metadata: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 32 }),
    ),
    payer: Type.Optional(Payer),
  },
  { additionalProperties: false },
);

export const OrderBody = Type.Object(
  { orderId: OrderId, amount: Amount, currency: CurrencyCode },
  { additionalProperties: false },
);

export const Order = Type.Object({
  id: Uuid,
  orderId: Type.String(),
  amount: Type.Number(),
  currency: Type.String(),
  createdAt: DateTime,
});
export const OrderReply = Ok(Type.Object({ order: Order }));

const Attempt = Type.Object({
  id: Uuid,
  gatewayId: Uuid,
  gatewayName: Type.String(),
  status: StringEnum(['pending', 'succeeded', 'failed']),
  gatewayReference: Type.Union([Type.String(), Type.Null()]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  latencyMs: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: DateTime,
});

export const NextActionSchema = Type.Union([
  Type.Object({
    type: StringEnum(['upi_intent', 'upi_qr']),
    url: Type.String({ description: 'The upi://pay link' }),
    qrImageUrl: Type.String({ description: 'The link as a QR code (PNG)' }),
  }),
  Type.Object({
    type: Type.Literal('upi_collect'),
    vpa: Type.String({ description: 'Collect request sent to this VPA' }),
  }),
  Type.Object({ type: Type.Literal('redirect'), url: Type.String() }),
  Type.Object({ type: Type.Literal('none') }),
  Type.Null(),
]);

export const Payment = Type.Object({
  id: Uuid,
  source: Type.Literal('gateway'),
  orderId: Type.String(),
  status: StringEnum(PAYMENT_STATUSES),
  amount: Type.Number(),
  currency: Type.String(),
  method: StringEnum(PAYMENT_METHODS),
  gatewayId: Type.Union([Uuid, Type.Null()]),
  fee: Type.Number({ description: "The gateway's fee, deducted from what the merchant is owed" }),
  refundedAmount: Type.Number(),
  customer: Type.Unknown(),
  description: Type.Union([Type.String(), Type.Null()]),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Array(Attempt),
  expiresAt: DateTime,
  succeededAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
});

const History = Type.Object({
  fromStatus: Type.Union([StringEnum(PAYMENT_STATUSES), Type.Null()]),
  toStatus: StringEnum(PAYMENT_STATUSES),
  cause: Type.String(),
  attemptId: Type.Union([Uuid, Type.Null()]),
  createdAt: DateTime,
});

export const PayReply = Ok(Type.Object({ payment: Payment, nextAction: NextActionSchema }));
export const PaymentDetailReply = Ok(
  Type.Object({ payment: Payment, nextAction: NextActionSchema, history: Type.Array(History) }),
);

export const RefundBody = Type.Object(
  {
    amount: Type.Optional(Amount),
    reason: Type.String({ minLength: 1, maxLength: 255 }),
  },
  { additionalProperties: false, description: 'Without amount: all that is left to refund' },
);

export const Refund = Type.Object({
  id: Uuid,
  paymentId: Uuid,
  amount: Type.Number(),
  currency: Type.String(),
  reason: Type.String(),
  status: StringEnum(['pending', 'succeeded', 'failed']),
  gatewayReference: Type.Union([Type.String(), Type.Null()]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
});

export const RefundReply = Ok(Type.Object({ refund: Refund, payment: Payment }));

export const AnalyticsQuery = Type.Object(
  {
    startDate: Type.Optional(
      Type.String({ maxLength: 40, description: 'Date or date-time; default 30 days before endDate' }),
    ),
    endDate: Type.Optional(
      Type.String({ maxLength: 40, description: 'Date or date-time (inclusive); default now' }),
    ),
    tz: Type.Optional(
      Type.String({ maxLength: 64, description: 'IANA time zone for days; default Asia/Kolkata' }),
    ),
    merchantId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

const Figures = {
  currency: Type.String(),
  payments: Type.Integer(),
  succeeded: Type.Integer(),
  successRate: Type.Union([Type.Number(), Type.Null()]),
  amount: Type.Number({ description: 'Succeeded payments, major units' }),
  averageTicket: Type.Number(),
};

export const AnalyticsReply = Ok(
  Type.Object({
    from: DateTime,
    to: DateTime,
    timeZone: Type.String(),
    totals: Type.Array(Type.Object(Figures)),
    byGateway: Type.Array(
      Type.Object({
        gatewayId: Type.Union([Type.String(), Type.Null()]),
        gatewayName: Type.Union([Type.String(), Type.Null()]),
        ...Figures,
      }),
    ),
    byMethod: Type.Array(Type.Object({ method: Type.String(), ...Figures })),
    byDay: Type.Array(Type.Object({ day: Type.String(), ...Figures })),
  }),
);
