import { createServices, startJobWorkers } from './app.ts';
import { loadConfigOrExit } from './config.ts';
import { openDatabase } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createLogger } from './logger.ts';

/**
 * `npm run worker`: the job workers and the crontab without the HTTP API, so API and workers scale
 * separately (run the API with WORKERS=off). Same configuration and database as `npm start`.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config);
  const opened = await openDatabase(config, logger);
  const { applied } = await migrateToLatest(opened.database);
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  const deps = { config, database: opened.database, logger };
  const services = createServices(deps);
  await services.ledger.ensurePlatformAccounts(config.currencies.map((currency) => currency.code));
  const workers = await startJobWorkers(deps, services);
  logger.info({ concurrency: config.workerConcurrency }, 'job workers running');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping job workers: finishing the jobs in hand');
    const forced = setTimeout(() => {
      logger.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs);
    forced.unref();
    try {
      await workers.stop();
      await opened.close();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Tijori worker failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
