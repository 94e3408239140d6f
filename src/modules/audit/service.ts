import type { Db, Executor } from '../../db/database.ts';
import type { AuditLog } from '../../db/types.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { type AuditFilter, type AuditRow, findAuditRows, insertAuditRow } from './repo.ts';

export interface AuditEntry {
  /** `domain.verb`, e.g. `auth.login_failed`, `merchant.credentials_regenerated`. */
  readonly action: string;
  readonly targetType?: string;
  readonly targetId?: string;
  readonly details?: Record<string, unknown>;
  /** Overrides the request's principal, e.g. for a login where nobody is signed in yet. */
  readonly actor?: { readonly id: string; readonly role: AuditLog['actorRole'] };
}

export interface AuditService {
  /** Writes through the caller's executor, so the audit row commits or rolls back with the change. */
  record(executor: Executor, context: RequestContext, entry: AuditEntry): Promise<void>;
  /** The row `record` would write, for a use case that inserts it within a statement of its own. */
  row(context: RequestContext, entry: AuditEntry): AuditRow;
  list(
    filter: AuditFilter,
    page: PageRequest & { sortOrder: 'asc' | 'desc' },
  ): Promise<{ auditLogs: AuditLog[]; pagination: PageInfo }>;
}

export function createAuditService(deps: { db: Db; clock: Clock }): AuditService {
  function row(context: RequestContext, entry: AuditEntry): AuditRow {
    const now = deps.clock.now();
    return {
      id: uuidv7(now.getTime()),
      actorId: entry.actor?.id ?? context.principal?.userId ?? null,
      actorRole: entry.actor?.role ?? context.principal?.role ?? null,
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId ?? null,
      ip: context.ip,
      userAgent: context.userAgent,
      requestId: context.requestId,
      details: entry.details ?? {},
      createdAt: now,
    };
  }

  return {
    async record(executor, context, entry) {
      await insertAuditRow(executor, row(context, entry));
    },
    row,
    async list(filter, page) {
      const { rows, totalRecords } = await findAuditRows(deps.db, filter, page);
      return { auditLogs: rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },
  };
}
