import { loadConfigOrExit } from '../src/config.ts';
import { openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { consoleLog } from './cli.ts';

const config = loadConfigOrExit();
const opened = await openDatabase(config, consoleLog, 'tijori-migrate');
try {
  const { applied } = await migrateToLatest(opened.database);
  process.stdout.write(
    applied.length === 0 ? 'database is up to date\n' : `applied: ${applied.join(', ')}\n`,
  );
} finally {
  await opened.close();
}
