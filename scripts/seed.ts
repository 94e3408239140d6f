import { createServices } from '../src/app.ts';
import { loadConfigOrExit } from '../src/config.ts';
import { openDatabase } from '../src/db/connect.ts';
import type { DatabaseHandle } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { QrCategory } from '../src/db/types.ts';
import type { Principal } from '../src/http/principal.ts';
import { systemContext } from '../src/http/request-context.ts';
import { type Random, seededRandom, simulatePayment } from '../src/modules/qr/index.ts';
import { consoleLog } from './cli.ts';

/**
 * Demo accounts, QR codes and a few thousand QR payments over the last 60 days for a development
 * database. Safe to run twice: an account or QR code that exists is left alone (each QR code is
 * written with its payments in one transaction). Refuses to run against production.
 */
const DEMO_PASSWORD = 'tijori-demo-password';
const DEMO_ACCOUNTS = [
  { name: 'Asha Traders', email: 'merchant@tijori.local', role: 'merchant', businessName: 'Asha Traders' },
  { name: 'Vikram Vendor', email: 'vendor@tijori.local', role: 'vendor' },
  { name: 'Uma User', email: 'user@tijori.local', role: 'user' },
] as const;

const DEMO_MERCHANT_EMAIL = 'merchant@tijori.local';
const SEED_DAYS = 60;
const DAY_MS = 86_400_000;
const DEMO_QR_CODES: readonly {
  qrId: string;
  category: QrCategory;
  referenceName: string;
  description: string;
  maxAmount: number;
  paymentsPerDay: number;
}[] = [
  {
    qrId: 'DEMO1',
    category: 'Retail',
    referenceName: 'Asha Traders Counter 1',
    description: 'Groceries',
    maxAmount: 5000,
    paymentsPerDay: 30,
  },
  {
    qrId: 'DEMO2',
    category: 'Retail',
    referenceName: 'Asha Traders Counter 2',
    description: 'Snacks and tea',
    maxAmount: 0,
    paymentsPerDay: 20,
  },
  {
    qrId: 'DEMO3',
    category: 'Rental',
    referenceName: 'Flat 4B Rent',
    description: 'Monthly rent',
    maxAmount: 50000,
    paymentsPerDay: 1,
  },
  {
    qrId: 'DEMO4',
    category: 'Education',
    referenceName: 'Asha Tuition Fees',
    description: 'Term fees',
    maxAmount: 25000,
    paymentsPerDay: 3,
  },
  {
    qrId: 'DEMO5',
    category: 'Custom',
    referenceName: 'Asha Donations',
    description: 'Temple donations',
    maxAmount: 10000,
    paymentsPerDay: 6,
  },
];

const config = loadConfigOrExit();
if (config.nodeEnv === 'production') {
  process.stderr.write('seed: refusing to add demo accounts with NODE_ENV=production\n');
  process.exit(1);
}
const opened = await openDatabase(config, consoleLog, 'tijori-seed');
try {
  await migrateToLatest(opened.database);
  const services = createServices({ config, database: opened.database });
  const { auth } = services;
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
  await seedQrCodes(opened.database, services);
} finally {
  await opened.close();
}

async function seedQrCodes(
  database: DatabaseHandle,
  services: ReturnType<typeof createServices>,
): Promise<void> {
  const db = database.db;
  const user = await db
    .selectFrom('users')
    .select(['id'])
    .where('email', '=', DEMO_MERCHANT_EMAIL)
    .executeTakeFirst();
  const merchantId = user === undefined ? null : await services.merchants.merchantIdForUser(db, user.id);
  if (user === undefined || merchantId === null)
    throw new Error(`demo merchant ${DEMO_MERCHANT_EMAIL} is missing`);
  const principal: Principal = { userId: user.id, role: 'merchant', merchantId, via: 'jwt' };
  const random = seededRandom(2026);
  const now = Date.now();
  for (const demo of DEMO_QR_CODES) {
    const { qrId, paymentsPerDay, ...fields } = demo;
    const existing = await db.selectFrom('qrCodes').select('id').where('qrId', '=', qrId).executeTakeFirst();
    const qrCode =
      existing === undefined
        ? await services.qrCodes.create(
            principal,
            { qrId, vpa: 'ashatraders@okaxis', ...fields },
            systemContext,
          )
        : await services.qrCodes.loadVisible(db, principal, qrId);
    const seeded = await db
      .selectFrom('qrTransactions')
      .select('id')
      .where('qrCodeId', '=', qrCode.id)
      .where('origin', '=', 'seed')
      .limit(1)
      .executeTakeFirst();
    if (seeded !== undefined) {
      process.stdout.write(`QR code ${qrId}: exists with its payments\n`);
      continue;
    }
    const payments = spreadOverDays(random, paymentsPerDay, now).map((occurredAt) => ({
      ...simulatePayment(random, qrCode),
      occurredAt,
    }));
    // All of a code's payments in one transaction: a rerun finds all of them or none.
    await db
      .transaction()
      .execute((trx) => services.transactions.recordGeneratedPayments(trx, qrCode, payments, 'seed'));
    process.stdout.write(`QR code ${qrId} (${demo.category}): created with ${payments.length} payments\n`);
  }
}

/** About `perDay` payment times on each of the last SEED_DAYS days, in shop hours (IST), oldest first. */
function spreadOverDays(random: Random, perDay: number, now: number): Date[] {
  const times: Date[] = [];
  for (let day = SEED_DAYS; day >= 0; day -= 1) {
    const count = Math.round(perDay * (0.5 + random()));
    for (let index = 0; index < count; index += 1) {
      // 09:00 to 21:00 IST is 03:30 to 15:30 UTC.
      const at = now - day * DAY_MS - (now % DAY_MS) + 3.5 * 3_600_000 + random() * 12 * 3_600_000;
      if (at <= now) times.push(new Date(at));
    }
  }
  return times;
}
