import { Type } from 'typebox';
import { MERCHANT_STATUSES } from '../../db/types.ts';
import { DateTime, Ok, Pagination, PaginationQuery, StringEnum, Uuid } from '../../http/schemas.ts';

export const VPA_PATTERN = '^[a-zA-Z0-9.\\-_]{2,256}@[a-zA-Z][a-zA-Z0-9.\\-_]{2,64}$';
export const PHONE_PATTERN = '^\\+?[0-9]{10,15}$';

export const MerchantStatusSchema = StringEnum(MERCHANT_STATUSES);

export const MerchantSchema = Type.Object({
  id: Uuid,
  userId: Uuid,
  businessName: Type.String(),
  contactEmail: Type.String(),
  contactPhone: Type.Union([Type.String(), Type.Null()]),
  settlementVpa: Type.Union([Type.String(), Type.Null()]),
  status: MerchantStatusSchema,
  clientKey: Type.Union([Type.String(), Type.Null()]),
  credentialsIssuedAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
});

export const CredentialsSchema = Type.Object({
  clientKey: Type.String(),
  clientSecret: Type.String({ description: 'Shown only in this reply; store it now' }),
});

export const MerchantPatchBody = Type.Object(
  {
    businessName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    contactEmail: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
    contactPhone: Type.Optional(Type.Union([Type.String({ pattern: PHONE_PATTERN }), Type.Null()])),
    settlementVpa: Type.Optional(Type.Union([Type.String({ pattern: VPA_PATTERN }), Type.Null()])),
    status: Type.Optional(MerchantStatusSchema),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const UsageQuery = Type.Object(
  { days: Type.Optional(Type.Integer({ minimum: 1, maximum: 366, default: 30 })) },
  { additionalProperties: false },
);

export const MerchantListQuery = Type.Object(
  {
    ...PaginationQuery,
    status: Type.Optional(MerchantStatusSchema),
    search: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);

export const MerchantReply = Ok(Type.Object({ merchant: MerchantSchema }));
export const CredentialsReply = Ok(CredentialsSchema);
export const UsageReply = Ok(
  Type.Object({
    usage: Type.Array(Type.Object({ day: Type.String({ format: 'date' }), requests: Type.Integer() })),
    totalRequests: Type.Integer(),
  }),
);
export const MerchantListReply = Ok(
  Type.Object({ merchants: Type.Array(MerchantSchema), pagination: Pagination }),
);
