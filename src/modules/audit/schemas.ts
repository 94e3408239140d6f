import { Type } from 'typebox';
import { DateTime, Ok, Pagination, PaginationQuery, Uuid } from '../../http/schemas.ts';

export const AuditLogSchema = Type.Object({
  id: Uuid,
  actorId: Type.Union([Uuid, Type.Null()]),
  actorRole: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  targetType: Type.Union([Type.String(), Type.Null()]),
  targetId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  details: Type.Unknown(),
  createdAt: DateTime,
});

export const AuditLogQuery = Type.Object(
  {
    ...PaginationQuery,
    actorId: Type.Optional(Uuid),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
    targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
  },
  { additionalProperties: false },
);

export const AuditLogList = Ok(
  Type.Object({ auditLogs: Type.Array(AuditLogSchema), pagination: Pagination }),
);
