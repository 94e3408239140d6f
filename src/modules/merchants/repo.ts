import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { containsPattern } from '../../db/search.ts';
import type { Merchant, MerchantsTable, Role } from '../../db/types.ts';

export const MERCHANT_COLUMNS = [
  'id',
  'userId',
  'businessName',
  'contactEmail',
  'contactPhone',
  'settlementVpa',
  'status',
  'clientKey',
  'credentialsIssuedAt',
  'createdAt',
  'updatedAt',
] as const;

export type MerchantRow = Omit<Merchant, 'clientSecretHash'>;

export async function insertMerchant(
  executor: Executor,
  row: Pick<MerchantsTable, 'id' | 'userId' | 'businessName' | 'contactEmail' | 'contactPhone'> & {
    clientKey: string;
    clientSecretHash: string;
    credentialsIssuedAt: Date;
  },
): Promise<MerchantRow> {
  return executor.insertInto('merchants').values(row).returning(MERCHANT_COLUMNS).executeTakeFirstOrThrow();
}

export async function findMerchantById(executor: Executor, id: string): Promise<MerchantRow | undefined> {
  return executor.selectFrom('merchants').select(MERCHANT_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function findMerchantByUserId(
  executor: Executor,
  userId: string,
): Promise<MerchantRow | undefined> {
  return executor
    .selectFrom('merchants')
    .select(MERCHANT_COLUMNS)
    .where('userId', '=', userId)
    .executeTakeFirst();
}

export async function updateMerchant(
  executor: Executor,
  id: string,
  patch: Partial<Pick<MerchantsTable, 'businessName' | 'contactEmail' | 'contactPhone' | 'settlementVpa'>> & {
    status?: Merchant['status'];
    updatedAt: Date;
  },
): Promise<MerchantRow | undefined> {
  return executor
    .updateTable('merchants')
    .set(patch)
    .where('id', '=', id)
    .returning(MERCHANT_COLUMNS)
    .executeTakeFirst();
}

export async function replaceCredentials(
  executor: Executor,
  id: string,
  credentials: { clientKey: string; clientSecretHash: string; credentialsIssuedAt: Date },
): Promise<void> {
  await executor
    .updateTable('merchants')
    .set({ ...credentials, updatedAt: credentials.credentialsIssuedAt })
    .where('id', '=', id)
    .execute();
}

/**
 * Checks API credentials and counts the request in one round trip: the usage row is bumped only
 * when the key, the secret's hash and an active merchant (with an active user) all match.
 */
export async function authenticateAndCountUsage(
  executor: Executor,
  clientKey: string,
  clientSecretHash: string,
  day: string,
): Promise<{ merchantId: string; userId: string; role: Role } | undefined> {
  const result = await sql<{ merchantId: string; userId: string; role: Role }>`
    WITH matched AS (
      SELECT m.id, m.user_id, u.role
      FROM merchants m JOIN users u ON u.id = m.user_id
      WHERE m.client_key = ${clientKey} AND m.client_secret_hash = ${clientSecretHash}
        AND m.status = 'active' AND u.is_active
    ), counted AS (
      INSERT INTO merchant_api_usage (merchant_id, day, request_count)
      SELECT id, ${day}::date, 1 FROM matched
      ON CONFLICT (merchant_id, day) DO UPDATE SET request_count = merchant_api_usage.request_count + 1
    )
    SELECT id AS merchant_id, user_id, role FROM matched
  `.execute(executor);
  return result.rows[0];
}

export async function findUsage(
  executor: Executor,
  merchantId: string,
  fromDay: string,
  toDay: string,
): Promise<{ day: string; requestCount: bigint }[]> {
  return executor
    .selectFrom('merchantApiUsage')
    .select([sql<string>`to_char(day, 'YYYY-MM-DD')`.as('day'), 'requestCount'])
    .where('merchantId', '=', merchantId)
    .where('day', '>=', fromDay)
    .where('day', '<=', toDay)
    .orderBy('day', 'asc')
    .execute();
}

export async function findMerchants(
  executor: Executor,
  filter: { status?: Merchant['status']; search?: string },
  page: { limit: number; offset: number },
): Promise<{ rows: MerchantRow[]; totalRecords: number }> {
  let query = executor.selectFrom('merchants');
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.search !== undefined) {
    const pattern = containsPattern(filter.search);
    query = query.where((eb) =>
      eb.or([eb('businessName', 'ilike', pattern), eb('contactEmail', 'ilike', pattern)]),
    );
  }
  const [rows, count] = await Promise.all([
    query
      .select(MERCHANT_COLUMNS)
      .orderBy('createdAt', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalRecords: Number(count.count) };
}
