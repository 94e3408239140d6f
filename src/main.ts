import { buildApp, createServices, startJobWorkers } from './app.ts';
import { loadConfigOrExit } from './config.ts';
import { openDatabase } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';
import type { Workers } from './jobs/runner.ts';
import { createLogger } from './logger.ts';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config);
  const opened = await openDatabase(config, logger);
  const { applied } = await migrateToLatest(opened.database);
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  const deps = { config, database: opened.database, logger };
  const services = createServices(deps);
  await services.ledger.ensurePlatformAccounts(config.currencies.map((currency) => currency.code));
  await services.gateways.ensureSandbox();
  if (config.adminEmail !== undefined && config.adminPassword !== undefined) {
    const outcome = await services.auth.ensureAdmin(config.adminEmail, config.adminPassword);
    logger.info({ email: config.adminEmail, outcome }, 'bootstrap admin');
  }
  const app = await buildApp(deps, services);

  let workers: Workers | null = null;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: no new connections, draining in-flight requests');
    const forced = setTimeout(() => {
      app.log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs);
    forced.unref();
    try {
      await app.close();
      // After the HTTP server: a request finishing now may still add a job (in its transaction).
      await workers?.stop();
      await opened.close();
      app.log.info('shutdown complete');
      process.exit(0);
    } catch (error) {
      app.log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ port: config.port, host: config.host });
  // Jobs and the crontab run here too unless WORKERS=off (then `npm run worker` runs them).
  workers = config.workersEnabled ? await startJobWorkers(deps, services) : null;
  logger.info({ workers: config.workersEnabled }, 'job workers');
  if (config.simulatorEnabled) services.simulationRunner.start();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Tijori failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
