import { createServices } from '../src/app.ts';
import { loadConfigOrExit } from '../src/config.ts';
import { openDatabase } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { systemContext } from '../src/http/request-context.ts';
import { consoleLog } from './cli.ts';

/**
 * Demo accounts for a development database. Safe to run twice: an account that exists is left
 * alone. Refuses to run against production.
 */
const DEMO_PASSWORD = 'tijori-demo-password';
const DEMO_ACCOUNTS = [
  { name: 'Asha Traders', email: 'merchant@tijori.local', role: 'merchant', businessName: 'Asha Traders' },
  { name: 'Vikram Vendor', email: 'vendor@tijori.local', role: 'vendor' },
  { name: 'Uma User', email: 'user@tijori.local', role: 'user' },
] as const;

const config = loadConfigOrExit();
if (config.nodeEnv === 'production') {
  process.stderr.write('seed: refusing to add demo accounts with NODE_ENV=production\n');
  process.exit(1);
}
const opened = await openDatabase(config, consoleLog, 'tijori-seed');
try {
  await migrateToLatest(opened.database.db);
  const { auth } = createServices({ config, database: opened.database });
  const admin = await auth.ensureAdmin(
    config.adminEmail ?? 'admin@tijori.local',
    config.adminPassword ?? DEMO_PASSWORD,
  );
  process.stdout.write(`admin ${config.adminEmail ?? 'admin@tijori.local'}: ${admin}\n`);
  for (const account of DEMO_ACCOUNTS) {
    try {
      const session = await auth.register({ ...account, password: DEMO_PASSWORD }, systemContext);
      const credentials =
        'credentials' in session && session.credentials !== undefined
          ? ` clientKey=${session.credentials.clientKey} clientSecret=${session.credentials.clientSecret}`
          : '';
      process.stdout.write(`${account.role} ${account.email}: created${credentials}\n`);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EMAIL_TAKEN') throw error;
      process.stdout.write(`${account.role} ${account.email}: exists\n`);
    }
  }
  process.stdout.write(`demo password: ${DEMO_PASSWORD}\n`);
} finally {
  await opened.close();
}
