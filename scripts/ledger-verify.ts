import { loadConfigOrExit } from '../src/config.ts';
import { openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createLedgerService } from '../src/modules/ledger/index.ts';
import { consoleLog } from './cli.ts';

/**
 * `npm run ledger:verify`: recomputes every ledger account from its postings, checks every entry
 * and the whole ledger against zero per currency. Prints the report as JSON; exit code 0 when the
 * ledger is exact, 1 when there are differences.
 */
const config = loadConfigOrExit();
const opened = await openDatabase(config, consoleLog, 'tijori-ledger-verify');
let ok = false;
try {
  await migrateToLatest(opened.database);
  const report = await createLedgerService({ db: opened.database.db, clock: systemClock }).verify();
  ok = report.ok;
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await opened.close();
}
process.exit(ok ? 0 : 1);
