import { randomUUID } from 'node:crypto';
import type { DatabaseHandle } from '../../src/db/database.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { uuidv7 } from '../../src/lib/ids.ts';
import { createAccessTokens } from '../../src/modules/auth/index.ts';
import { createLedgerService, type MerchantBalanceService } from '../../src/modules/ledger/index.ts';
import { postToActiveUser } from '../../src/modules/wallets/repo.ts';
import { recordQrPaymentAsTheRouteDoes } from './qr-payment.ts';
import { registerMerchant, type Scenario } from './scenario.ts';

const WALLET_COUNT = 1_000;
/** Each wallet starts with 10,000,000.00 rupees: transfers of 1.50 never run one dry. */
const WALLET_FUNDING_MINOR = 1_000_000_000n;
const TRANSFER_AMOUNT = 1.5;
const MERCHANT_QR_CODES = 10;

/**
 * Issue 4's scenarios. `ledger-transfer`: wallet transfers through the API, each with its own
 * Idempotency-Key, among 1,000 wallets. `merchant-credit`: QR payments recorded as Success for one
 * busy merchant, each crediting its payable account (the hot account) through the ledger.
 * Baselines issue the same SQL straight on the pool.
 */
export function ledgerScenarios(context: {
  baseUrl: string;
  database: DatabaseHandle;
  jwtSecret: string;
  merchantBalances: MerchantBalanceService;
}): Scenario[] {
  const db = context.database.db;
  const ledger = createLedgerService({ db, clock: systemClock });
  const { merchantBalances } = context;
  const tokens = createAccessTokens({ secret: context.jwtSecret, clock: systemClock });

  const users: { id: string; token: string; wallet: string }[] = [];
  const pickPair = () => {
    const from = Math.floor(Math.random() * users.length);
    let to = Math.floor(Math.random() * (users.length - 1));
    if (to >= from) to += 1;
    return [users[from], users[to]] as [(typeof users)[number], (typeof users)[number]];
  };

  const merchant = { token: '', userId: '', qrIds: [] as string[] };

  return [
    {
      name: 'ledger-transfer',
      method: 'POST',
      path: '/api/v1/wallet/transfer',
      headers: { 'content-type': 'application/json' },
      fixedRate: 500,
      prepare: async () => {
        const rows = Array.from({ length: WALLET_COUNT }, (_, index) => ({
          id: uuidv7(),
          name: `Bench wallet ${index}`,
          email: `bench-wallet-${index}@example.test`,
          passwordHash: 'not-a-password',
          role: 'user' as const,
        }));
        await db.insertInto('users').values(rows).execute();
        const funding = await ledger.platformAccount('external_funding', 'INR');
        for (const row of rows) {
          const wallet = await ledger.shardedOwnerAccount({ type: 'user', id: row.id }, 'wallet', 'INR', 1);
          await ledger.post(db, {
            type: 'deposit',
            idempotencyRef: `bench:${row.id}`,
            postings: [
              { accountId: funding, amountMinor: WALLET_FUNDING_MINOR },
              { accountId: wallet, amountMinor: -WALLET_FUNDING_MINOR },
            ],
          });
          const token = await tokens.sign({ userId: row.id, role: 'user', merchantId: null });
          users.push({ id: row.id, token, wallet });
        }
      },
      nextRequest: () => {
        const [from, to] = pickPair();
        return {
          headers: { authorization: `Bearer ${from.token}`, 'idempotency-key': randomUUID() },
          body: JSON.stringify({ to: to.id, amount: TRANSFER_AMOUNT }),
        };
      },
      // The route's SQL (payee's wallet known): one statement checking the payee is active and
      // the key is new, posting the entry, recording transfer.completed and
      // storing the reply.
      baseline: async () => {
        const [from, to] = pickPair();
        const posting = ledger.postingCall({
          type: 'transfer',
          idempotencyRef: `transfer:${uuidv7()}`,
          postings: [
            { accountId: from.wallet, amountMinor: 150n },
            { accountId: to.wallet, amountMinor: -150n },
          ],
          idempotency: {
            request: { scope: `user:${from.id}`, key: randomUUID(), fingerprint: 'baseline' },
            statusCode: 201,
            body: { success: true },
          },
        });
        const event = {
          id: uuidv7(),
          type: 'transfer.completed',
          userId: from.id,
          data: { fromUserId: from.id, toUserId: to.id, currency: 'INR', amountMinor: '150', note: null },
          createdAt: new Date(),
        };
        if (!(await postToActiveUser(db, to.id, posting, event))) throw new Error('bench payee missing');
      },
    },
    {
      name: 'merchant-credit',
      method: 'POST',
      path: '/api/v1/transactions',
      headers: { 'content-type': 'application/json' },
      fixedRate: 500,
      prepare: async () => {
        const data = await registerMerchant(context.baseUrl, 'Busy Merchant', 'busy-merchant@example.test');
        merchant.token = data.accessToken;
        merchant.userId = data.user.id;
        for (let index = 0; index < MERCHANT_QR_CODES; index += 1) {
          const qrId = `BM${String(index).padStart(3, '0')}`;
          const created = await fetch(`${context.baseUrl}/api/v1/qr`, {
            method: 'POST',
            headers: { authorization: `Bearer ${merchant.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              qrId,
              vpa: 'busy@okaxis',
              referenceName: `Busy counter ${index}`,
              category: 'Retail',
            }),
          });
          if (created.status !== 201) throw new Error(`creating a bench QR code: ${created.status}`);
          merchant.qrIds.push(qrId);
        }
      },
      nextRequest: () => ({
        headers: { authorization: `Bearer ${merchant.token}`, 'idempotency-key': randomUUID() },
        body: JSON.stringify({
          qrId: merchant.qrIds[Math.floor(Math.random() * merchant.qrIds.length)],
          amount: 120.5,
          customerInfo: { name: 'Bench Payer', upiApp: 'GPay' },
        }),
      }),
      // The route's SQL: one statement recording the payment, its ledger credit checking the key
      // and storing the reply.
      baseline: async () => {
        const qrId = merchant.qrIds[Math.floor(Math.random() * merchant.qrIds.length)] as string;
        await recordQrPaymentAsTheRouteDoes(db, {
          qrId,
          actorId: merchant.userId,
          merchantBalances,
          idempotency: {
            request: { scope: `merchant:${merchant.userId}`, key: randomUUID(), fingerprint: 'baseline' },
            statusCode: 201,
            body: { success: true },
          },
        });
      },
    },
  ];
}
