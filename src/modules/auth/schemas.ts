import { Type } from 'typebox';
import { ROLES } from '../../db/types.ts';
import { DateTime, Ok, Pagination, PaginationQuery, StringEnum, Uuid } from '../../http/schemas.ts';
import { CredentialsSchema, PHONE_PATTERN } from '../merchants/schemas.ts';

export const RoleSchema = StringEnum(ROLES);

const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
// A pattern, not just minLength: whitespace-only names are refused.
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });

export const UserSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  email: Type.String(),
  role: RoleSchema,
  merchantId: Type.Union([Uuid, Type.Null()]),
  isVerified: Type.Boolean(),
  isActive: Type.Boolean(),
  lastLoginAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
});

export const RegisterBody = Type.Object(
  {
    name: Name,
    email: Email,
    password: Type.String({ minLength: 8, maxLength: 128 }),
    role: Type.Optional(RoleSchema),
    businessName: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' })),
    phone: Type.Optional(Type.String({ pattern: PHONE_PATTERN })),
  },
  { additionalProperties: false },
);

export const LoginBody = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);

export const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

const SessionData = {
  user: UserSchema,
  accessToken: Type.String(),
  refreshToken: Type.String(),
};

export const SessionReply = Ok(Type.Object(SessionData));
export const RegisterReply = Ok(
  Type.Object({
    ...SessionData,
    credentials: Type.Optional(
      Type.Intersect([CredentialsSchema], { description: 'Merchants only, shown once' }),
    ),
  }),
);
export const LogoutReply = Ok(Type.Object({ revoked: Type.Boolean() }));
export const MeReply = Ok(Type.Object({ user: UserSchema }));

export const UserListQuery = Type.Object(
  {
    ...PaginationQuery,
    role: Type.Optional(RoleSchema),
    search: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
export const UserListReply = Ok(
  Type.Object({ users: Type.Array(Type.Omit(UserSchema, ['merchantId'])), pagination: Pagination }),
);
export const UserPatchBody = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    isActive: Type.Optional(Type.Boolean()),
    isVerified: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const UserReply = Ok(Type.Object({ user: UserSchema }));
