import type { Executor } from '../../db/database.ts';
import type { AuditLog, Role } from '../../db/types.ts';

export interface AuditRow {
  readonly id: string;
  readonly actorId: string | null;
  readonly actorRole: Role | null;
  readonly action: string;
  readonly targetType: string | null;
  readonly targetId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly requestId: string | null;
  readonly details: Record<string, unknown>;
  readonly createdAt: Date;
}

export interface AuditFilter {
  readonly actorId?: string;
  readonly action?: string;
  readonly targetType?: string;
  readonly targetId?: string;
  readonly from?: Date;
  readonly to?: Date;
}

export async function insertAuditRow(executor: Executor, row: AuditRow): Promise<void> {
  await executor
    .insertInto('auditLogs')
    .values({ ...row, details: JSON.stringify(row.details) })
    .execute();
}

export async function findAuditRows(
  executor: Executor,
  filter: AuditFilter,
  page: { limit: number; offset: number; sortOrder: 'asc' | 'desc' },
): Promise<{ rows: AuditLog[]; totalRecords: number }> {
  let query = executor.selectFrom('auditLogs');
  if (filter.actorId !== undefined) query = query.where('actorId', '=', filter.actorId);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.targetType !== undefined) query = query.where('targetType', '=', filter.targetType);
  if (filter.targetId !== undefined) query = query.where('targetId', '=', filter.targetId);
  if (filter.from !== undefined) query = query.where('createdAt', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('createdAt', '<=', filter.to);
  const [rows, count] = await Promise.all([
    query
      .select([
        'id',
        'actorId',
        'actorRole',
        'action',
        'targetType',
        'targetId',
        'ip',
        'userAgent',
        'requestId',
        'details',
        'createdAt',
      ])
      .orderBy('createdAt', page.sortOrder)
      .orderBy('id', page.sortOrder)
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalRecords: Number(count.count) };
}
