export { operationsRoutes, systemRoutes } from './routes.ts';
export { createSystemService, type SystemService } from './service.ts';
