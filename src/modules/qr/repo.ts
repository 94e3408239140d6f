import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { containsPattern } from '../../db/search.ts';
import type { QrCategory, QrCodesTable, QrStatus } from '../../db/types.ts';
import type { PageRequest } from '../../http/pagination.ts';

export const QR_CODE_COLUMNS = [
  'id',
  'qrId',
  'merchantId',
  'vpa',
  'referenceName',
  'description',
  'maxAmountMinor',
  'category',
  'notes',
  'status',
  'simulationActive',
  'simulationGenerated',
  'simulationNextRunAt',
  'createdAt',
  'updatedAt',
] as const;

export interface QrCodeRow {
  id: string;
  qrId: string;
  merchantId: string;
  vpa: string;
  referenceName: string;
  description: string | null;
  maxAmountMinor: bigint;
  category: QrCategory;
  notes: string | null;
  status: QrStatus;
  simulationActive: boolean;
  simulationGenerated: number;
  simulationNextRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type QrCodeInsert = Omit<QrCodeRow, 'simulationGenerated'>;
export type QrCodePatch = Partial<
  Pick<
    QrCodesTable,
    | 'vpa'
    | 'referenceName'
    | 'description'
    | 'category'
    | 'notes'
    | 'status'
    | 'simulationActive'
    | 'simulationNextRunAt'
  > & { maxAmountMinor: bigint }
> & { updatedAt: Date };

export interface QrCodeFilter {
  readonly merchantId?: string;
  readonly category?: QrCategory;
  readonly status?: QrStatus;
  readonly search?: string;
}

/** Null when the qrId is taken (the caller answers 409). */
export async function insertQrCode(executor: Executor, row: QrCodeInsert): Promise<QrCodeRow | null> {
  const inserted = await executor
    .insertInto('qrCodes')
    .values(row)
    .onConflict((oc) => oc.column('qrId').doNothing())
    .returning(QR_CODE_COLUMNS)
    .executeTakeFirst();
  return inserted ?? null;
}

/** By UUID or qrId. `lock` takes the row for the rest of the transaction. */
export async function findQrCode(
  executor: Executor,
  key: { id: string } | { qrId: string },
  lock: 'update' | 'share' | null = null,
): Promise<QrCodeRow | undefined> {
  let query = executor.selectFrom('qrCodes').select(QR_CODE_COLUMNS);
  query = 'id' in key ? query.where('id', '=', key.id) : query.where('qrId', '=', key.qrId);
  if (lock === 'update') query = query.forUpdate();
  if (lock === 'share') query = query.forShare();
  return query.executeTakeFirst();
}

export async function updateQrCode(executor: Executor, id: string, patch: QrCodePatch): Promise<QrCodeRow> {
  return executor
    .updateTable('qrCodes')
    .set(patch)
    .where('id', '=', id)
    .returning(QR_CODE_COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function deleteQrCode(executor: Executor, id: string): Promise<void> {
  await executor.deleteFrom('qrCodes').where('id', '=', id).execute();
}

export async function findQrCodes(
  executor: Executor,
  filter: QrCodeFilter,
  page: PageRequest,
): Promise<{ rows: QrCodeRow[]; totalRecords: number }> {
  let query = executor.selectFrom('qrCodes');
  if (filter.merchantId !== undefined) query = query.where('merchantId', '=', filter.merchantId);
  if (filter.category !== undefined) query = query.where('category', '=', filter.category);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.search !== undefined && filter.search !== '') {
    const pattern = containsPattern(filter.search);
    query = query.where((eb) =>
      eb.or([
        eb('qrId', 'ilike', pattern),
        eb('referenceName', 'ilike', pattern),
        eb('vpa', 'ilike', pattern),
        eb('description', 'ilike', pattern),
      ]),
    );
  }
  const [rows, total] = await Promise.all([
    query
      .select(QR_CODE_COLUMNS)
      .orderBy('createdAt', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalRecords: Number(total.count) };
}

/** Stops every simulation in scope; returns the qrIds stopped. */
export async function stopSimulations(
  executor: Executor,
  merchantId: string | null,
  now: Date,
): Promise<string[]> {
  let query = executor
    .updateTable('qrCodes')
    .set({ simulationActive: false, simulationNextRunAt: null, updatedAt: now })
    .where('simulationActive', '=', true);
  if (merchantId !== null) query = query.where('merchantId', '=', merchantId);
  const rows = await query.returning('qrId').execute();
  return rows.map((row) => row.qrId);
}

/** A status page, not an export, so it is bounded. */
export const SIMULATIONS_LISTED_MAX = 500;

export async function findSimulations(executor: Executor, merchantId: string | null): Promise<QrCodeRow[]> {
  let query = executor
    .selectFrom('qrCodes')
    .select(QR_CODE_COLUMNS)
    .where((eb) => eb.or([eb('simulationActive', '=', true), eb('simulationGenerated', '>', 0)]))
    .orderBy('qrId')
    .limit(SIMULATIONS_LISTED_MAX);
  if (merchantId !== null) query = query.where('merchantId', '=', merchantId);
  return query.execute();
}

export async function countActiveSimulations(executor: Executor): Promise<number> {
  const row = await executor
    .selectFrom('qrCodes')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('simulationActive', '=', true)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Claims the simulations due now. SKIP LOCKED lets several server processes poll the same
 * table: each due QR code goes to exactly one of them, which moves its next run forward
 * before committing, so no run happens twice.
 */
export async function claimDueSimulations(
  executor: Executor,
  now: Date,
  batchSize: number,
): Promise<QrCodeRow[]> {
  return executor
    .selectFrom('qrCodes')
    .select(QR_CODE_COLUMNS)
    .where('simulationActive', '=', true)
    .where('simulationNextRunAt', '<=', now)
    .orderBy('simulationNextRunAt')
    .limit(batchSize)
    .forUpdate()
    .skipLocked()
    .execute();
}

export async function recordSimulationRun(
  executor: Executor,
  id: string,
  update: { generated: number; nextRunAt: Date | null; now: Date },
): Promise<void> {
  await executor
    .updateTable('qrCodes')
    .set({
      simulationGenerated: sql<number>`simulation_generated + ${update.generated}`,
      simulationActive: update.nextRunAt !== null,
      simulationNextRunAt: update.nextRunAt,
      updatedAt: update.now,
    })
    .where('id', '=', id)
    .execute();
}
