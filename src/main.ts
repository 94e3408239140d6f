import { buildApp, createServices } from './app.ts';
import { ConfigError, loadDotEnv, parseConfig, resolveSecrets } from './config.ts';
import { openDatabase } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';

async function main(): Promise<void> {
  loadDotEnv();
  let config: ReturnType<typeof resolveSecrets>;
  try {
    config = resolveSecrets(parseConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Invalid configuration: ${error.problems.join('; ')}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }

  const bootLog = {
    info: (message: string) => app?.log.info(message) ?? process.stdout.write(`${message}\n`),
    debug: (message: string) => app?.log.debug(message),
  };
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;

  const opened = await openDatabase(config, bootLog);
  const { applied } = await migrateToLatest(opened.database.db);
  app = await buildApp({ config, database: opened.database });
  if (applied.length > 0) app.log.info({ applied }, 'migrations applied');
  if (config.adminEmail !== undefined && config.adminPassword !== undefined) {
    const outcome = await createServices({ config, database: opened.database }).auth.ensureAdmin(
      config.adminEmail,
      config.adminPassword,
    );
    app.log.info({ email: config.adminEmail, outcome }, 'bootstrap admin');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const running = app!;
    running.log.info({ signal }, 'shutting down: no new connections, draining in-flight requests');
    const forced = setTimeout(() => {
      running.log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs);
    forced.unref();
    try {
      await running.close();
      await opened.close();
      running.log.info('shutdown complete');
      process.exit(0);
    } catch (error) {
      running.log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ port: config.port, host: config.host });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Tijori failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
