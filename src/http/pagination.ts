import { PAGE_SIZE_DEFAULT } from './schemas.ts';

export interface PageRequest {
  readonly page: number;
  readonly limit: number;
  readonly offset: number;
}

export interface PageInfo {
  readonly current: number;
  readonly total: number;
  readonly count: number;
  readonly totalRecords: number;
}

/** `take` is accepted as an alias of `limit`, which wins when both are given. */
export function pageRequest(query: { page?: number; limit?: number; take?: number }): PageRequest {
  const page = query.page ?? 1;
  const limit = query.limit ?? query.take ?? PAGE_SIZE_DEFAULT;
  return { page, limit, offset: (page - 1) * limit };
}

export function pageInfo(request: PageRequest, count: number, totalRecords: number): PageInfo {
  return {
    current: request.page,
    total: Math.ceil(totalRecords / request.limit),
    count,
    totalRecords,
  };
}
