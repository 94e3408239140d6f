import { buildApp, createServices } from './app.ts';
import { loadConfigOrExit } from './config.ts';
import { openDatabase } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createLogger } from './logger.ts';

/**
 * Expired holds are voided every minute. Per-process housekeeping until the jobs issue brings the
 * crontab: the sweep locks each hold, so processes running it together do each hold once.
 */
const HOLD_SWEEP_INTERVAL_MS = 60_000;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config);
  const opened = await openDatabase(config, logger);
  const { applied } = await migrateToLatest(opened.database.db);
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  const deps = { config, database: opened.database, logger };
  const services = createServices(deps);
  await services.ledger.ensurePlatformAccounts(config.currencies.map((currency) => currency.code));
  const holdSweep = setInterval(() => {
    services.ledger
      .expireHolds()
      .then((expired) => {
        if (expired > 0) logger.info({ expired }, 'expired holds voided');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'hold expiry sweep failed'));
  }, HOLD_SWEEP_INTERVAL_MS);
  holdSweep.unref();
  if (config.adminEmail !== undefined && config.adminPassword !== undefined) {
    const outcome = await services.auth.ensureAdmin(config.adminEmail, config.adminPassword);
    logger.info({ email: config.adminEmail, outcome }, 'bootstrap admin');
  }
  const app = await buildApp(deps, services);

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
    clearInterval(holdSweep);
    try {
      await app.close();
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
  if (config.simulatorEnabled) services.simulationRunner.start();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Tijori failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
