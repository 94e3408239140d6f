import { type TSchema, Type } from 'typebox';

export const ErrorEnvelope = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.Object({
      code: Type.String({ description: 'Stable UPPER_SNAKE code clients branch on' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
    requestId: Type.String(),
  },
  { $id: 'ErrorEnvelope', title: 'Error' },
);

/** `{ success: true, data, message? }` around a route's payload. */
export function Ok<T extends TSchema>(data: T) {
  return Type.Object({
    success: Type.Literal(true),
    data,
    message: Type.Optional(Type.String()),
  });
}

/** Reply schemas for a route: its success replies plus the error envelope for every 4xx/5xx. */
export function replies<T extends Record<number, TSchema>>(success: T) {
  const errorRef = Type.Unsafe<{ success: false }>(Type.Ref('ErrorEnvelope'));
  return { ...success, '4xx': errorRef, '5xx': errorRef };
}

export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid });
/** Accepts the Date objects repositories return; serialized as ISO-8601 UTC. */
export const DateTime = Type.Unsafe<Date | string>({ type: 'string', format: 'date-time' });

/** A closed set of strings, typed as their union and documented as an enum. */
export function StringEnum<const T extends string>(
  values: readonly T[],
  options: { description?: string } = {},
) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

export const PAGE_SIZE_DEFAULT = 10;
export const PAGE_SIZE_MAX = 100;
export const PAGE_MAX = 10_000;

export const PaginationQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_SIZE_MAX })),
  take: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_SIZE_MAX, description: 'Alias of limit' })),
  sortOrder: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
};

export const Pagination = Type.Object({
  current: Type.Integer({ description: 'This page, 1-based' }),
  total: Type.Integer({ description: 'Number of pages' }),
  count: Type.Integer({ description: 'Items on this page' }),
  totalRecords: Type.Integer(),
});
