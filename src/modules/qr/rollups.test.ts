import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTestApp, type TestApp } from '../../../test/app.ts';
import type { Db } from '../../db/database.ts';
import { seededRandom } from './simulation-data.ts';

let testApp: TestApp;
let db: Db;

beforeAll(async () => {
  testApp = await createTestApp({ random: seededRandom(7) });
  db = testApp.database.handle.db;
});
afterAll(async () => testApp.close());

/**
 * Every rollup figure summed over its shards (each connection writes its own shard), sorted,
 * with keys whose figures are all zero left out (a bucket emptied by deletes may remain).
 */
async function snapshot() {
  const figures = sql`sum(success_count)::int8 AS success_count, sum(success_amount_minor)::int8 AS success_amount_minor,
    sum(failed_count)::int8 AS failed_count, sum(failed_amount_minor)::int8 AS failed_amount_minor,
    sum(pending_count)::int8 AS pending_count, sum(pending_amount_minor)::int8 AS pending_amount_minor`;
  const nonZero = sql`(sum(success_count), sum(failed_count), sum(pending_count), sum(success_amount_minor),
    sum(failed_amount_minor), sum(pending_amount_minor)) <> (0, 0, 0, 0, 0, 0)`;
  const [perQr, perMerchant, totals] = await Promise.all([
    sql`SELECT qr_code_id, bucket_start, ${figures} FROM qr_transaction_rollups
      GROUP BY 1, 2 HAVING ${nonZero} ORDER BY 1, 2`.execute(db),
    sql`SELECT merchant_id, bucket_start, ${figures} FROM qr_merchant_rollups
      GROUP BY 1, 2 HAVING ${nonZero} ORDER BY 1, 2`.execute(db),
    sql`SELECT qr_code_id, merchant_id, ${figures} FROM qr_transaction_totals
      GROUP BY 1, 2 HAVING ${nonZero} ORDER BY 1`.execute(db),
  ]);
  return { perQr: perQr.rows, perMerchant: perMerchant.rows, totals: totals.rows };
}

describe('rollups kept by the triggers', () => {
  it('equal a recomputation from the payments after inserts, status moves, deletes and a QR deletion', async () => {
    const merchants = [await createAccount(testApp, 'merchant'), await createAccount(testApp, 'merchant')];
    const qrIds: string[] = [];
    for (const [index, merchant] of merchants.entries()) {
      for (const category of ['Retail', 'Rental', 'Education']) {
        const reply = await merchant.client.post('/api/qr', {
          vpa: `shop${index}@okaxis`,
          referenceName: `${category} ${index}`,
          category,
        });
        expect(reply.statusCode, reply.body).toBe(201);
        qrIds.push(reply.json().data.qrCode.qrId);
        const simulated = await merchant.client.post('/api/transactions/simulate', {
          qrId: reply.json().data.qrCode.qrId,
          count: 60,
        });
        expect(simulated.statusCode, simulated.body).toBe(201);
      }
      // Back-filled payments spread over earlier days and buckets.
      for (let day = 1; day <= 5; day += 1) {
        const reply = await merchant.client.post('/api/transactions', {
          qrId: qrIds[qrIds.length - 1],
          amount: 100 + day,
          status: 'Pending',
          timestamp: new Date(Date.now() - day * 86_400_000 - day * 7 * 60_000).toISOString(),
        });
        expect(reply.statusCode, reply.body).toBe(201);
      }
    }
    const pending = await db
      .selectFrom('qrTransactions')
      .select(['paymentId', 'merchantId'])
      .where('status', '=', 'Pending')
      .execute();
    expect(pending.length).toBeGreaterThan(4);
    for (const [index, { paymentId, merchantId }] of pending.entries()) {
      const owner = merchants.find((merchant) => merchant.user.merchantId === merchantId);
      const moved = await owner?.client.patch(`/api/transactions/${paymentId}`, {
        status: index % 2 === 0 ? 'Success' : 'Failed',
      });
      expect(moved?.statusCode, moved?.body).toBe(200);
    }
    const some = await db.selectFrom('qrTransactions').select('id').orderBy('id').limit(25).execute();
    await db
      .deleteFrom('qrTransactions')
      .where(
        'id',
        'in',
        some.map((row) => row.id),
      )
      .execute();
    const deleted = await merchants[0]?.client.delete(`/api/qr/${qrIds[1]}`);
    expect(deleted?.statusCode, deleted?.body).toBe(200);

    const maintained = await snapshot();
    expect(maintained.perQr.length).toBeGreaterThan(5);
    await sql`SELECT qr_rollups_rebuild()`.execute(db);
    expect(await snapshot()).toEqual(maintained);
  });
});
