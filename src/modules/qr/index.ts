export { qrRoutes } from './routes.ts';
export { createQrCodeService, type QrCodeService } from './service.ts';
export { simulationRoutes } from './simulation.routes.ts';
export { type Random, seededRandom, simulatePayment } from './simulation-data.ts';
export {
  createSimulationRunner,
  createSimulationService,
  type SimulationRunner,
  type SimulationService,
  type SimulatorSettings,
} from './simulator.ts';
export { transactionRoutes } from './transactions.routes.ts';
export { createTransactionService, type TransactionService } from './transactions.service.ts';
