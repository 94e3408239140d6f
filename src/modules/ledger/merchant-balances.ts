import type { Db, Executor } from '../../db/database.ts';
import * as repo from './repo.ts';
import type { LedgerService, PostResult } from './service.ts';

/**
 * A busy merchant's QR payments all credit its payable account: spread over this many shards so
 * concurrent payments take different row locks. Its balance is the sum of the shards.
 */
export const MERCHANT_PAYABLE_SHARDS = 8;
const BASIS_POINTS = 10_000n;

export interface QrPaymentCredit {
  readonly transactionId: string;
  readonly paymentId: string;
  readonly merchantId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}

/**
 * What a merchant is owed for payments received. A successful QR payment posts
 * `gateway clearing (UPI) -> merchant payable`, less the fee (to fees revenue), exactly once per
 * payment (the entry's reference is the payment's id); deleting a posted payment posts the
 * mirror-image reversal.
 */
export function createMerchantBalanceService(deps: {
  db: Db;
  ledger: LedgerService;
  upiFeeBasisPoints: number;
}) {
  const { db, ledger } = deps;
  const feeBasisPoints = BigInt(deps.upiFeeBasisPoints);

  return {
    /** Inside the transaction that makes the payment Success. */
    async creditQrPayment(trx: Executor, payment: QrPaymentCredit): Promise<PostResult> {
      const feeMinor = (payment.amountMinor * feeBasisPoints * 2n + BASIS_POINTS) / (BASIS_POINTS * 2n);
      const [clearing, payable, fees] = await Promise.all([
        ledger.platformAccount('gateway_clearing', payment.currency, trx),
        ledger.shardedOwnerAccount(
          { type: 'merchant', id: payment.merchantId },
          'merchant_payable',
          payment.currency,
          MERCHANT_PAYABLE_SHARDS,
          trx,
        ),
        feeMinor > 0n ? ledger.platformAccount('fees_revenue', payment.currency, trx) : Promise.resolve(null),
      ]);
      return ledger.post(trx, {
        type: 'qr_payment',
        idempotencyRef: `qr:${payment.transactionId}`,
        description: `UPI QR payment ${payment.paymentId}`,
        metadata: {
          transactionId: payment.transactionId,
          paymentId: payment.paymentId,
          feeMinor: feeMinor.toString(),
        },
        postings: [
          { accountId: clearing, amountMinor: payment.amountMinor },
          { accountId: payable, amountMinor: -(payment.amountMinor - feeMinor) },
          ...(fees === null ? [] : [{ accountId: fees, amountMinor: -feeMinor }]),
        ],
      });
    },

    /** Inside the transaction that deletes the payment; nothing to do for one never posted. */
    async reverseQrPayment(trx: Executor, transactionId: string): Promise<PostResult | null> {
      const original = await repo.findEntryByRef(trx, 'qr_payment', `qr:${transactionId}`);
      if (original === undefined) return null;
      return ledger.post(trx, {
        type: 'reversal',
        idempotencyRef: `reversal:${original.id}`,
        reversesEntryId: original.id,
        description: 'QR payment deleted',
        metadata: { transactionId },
        postings: original.postings.map((posting) => ({
          accountId: posting.accountId,
          amountMinor: -posting.amountMinor,
        })),
      });
    },

    /** What the merchant is owed, per currency (every shard summed). */
    async balances(merchantId: string) {
      return repo.sumOwnerBalances(db, { type: 'merchant', id: merchantId }, 'merchant_payable');
    },
  };
}

export type MerchantBalanceService = ReturnType<typeof createMerchantBalanceService>;
