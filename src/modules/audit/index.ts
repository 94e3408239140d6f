export { auditRoutes } from './routes.ts';
export { type AuditEntry, type AuditService, createAuditService } from './service.ts';
