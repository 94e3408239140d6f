export { type AuditRow, insertAuditRow } from './repo.ts';
export { auditRoutes } from './routes.ts';
export { type AuditEntry, type AuditService, createAuditService } from './service.ts';
