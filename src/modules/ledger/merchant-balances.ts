import type { Db, Executor } from '../../db/database.ts';
import type { KeyAndReply } from '../../http/idempotency.ts';
import * as repo from './repo.ts';
import type { EntryRequest, LedgerService, PostResult } from './service.ts';

/**
 * A busy merchant's QR payments all credit its payable account: spread over this many shards so
 * concurrent payments take different row locks (each connection posts to its own shard; more
 * shards than the pool has connections). Its balance is the sum of the shards.
 */
export const MERCHANT_PAYABLE_SHARDS = 32;
const BASIS_POINTS = 10_000n;

export interface QrPaymentCredit {
  readonly transactionId: string;
  readonly paymentId: string;
  readonly merchantId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
}

/** A gateway payment that succeeded; the fee is the gateway's, passed on to the merchant. */
export interface GatewayPaymentCredit {
  readonly paymentId: string;
  readonly merchantId: string;
  readonly amountMinor: bigint;
  readonly feeMinor: bigint;
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

  /** `gateway clearing -> merchant payable`, less the fee to fees revenue; hot accounts by shard. */
  async function qrPaymentEntry(
    executor: Executor,
    payment: QrPaymentCredit,
    idempotency: KeyAndReply | undefined,
  ): Promise<EntryRequest> {
    const feeMinor = (payment.amountMinor * feeBasisPoints * 2n + BASIS_POINTS) / (BASIS_POINTS * 2n);
    const [clearing, payable, fees] = await Promise.all([
      ledger.platformAccountShards('gateway_clearing', payment.currency, executor),
      ledger.ownerAccountShards(
        { type: 'merchant', id: payment.merchantId },
        'merchant_payable',
        payment.currency,
        MERCHANT_PAYABLE_SHARDS,
        executor,
      ),
      feeMinor > 0n
        ? ledger.platformAccountShards('fees_revenue', payment.currency, executor)
        : Promise.resolve(null),
    ]);
    return {
      type: 'qr_payment',
      idempotencyRef: `qr:${payment.transactionId}`,
      description: `UPI QR payment ${payment.paymentId}`,
      metadata: {
        transactionId: payment.transactionId,
        paymentId: payment.paymentId,
        feeMinor: feeMinor.toString(),
      },
      postings: [
        { shardIds: clearing, amountMinor: payment.amountMinor },
        { shardIds: payable, amountMinor: -(payment.amountMinor - feeMinor) },
        ...(fees === null ? [] : [{ shardIds: fees, amountMinor: -feeMinor }]),
      ],
      ...(idempotency === undefined ? {} : { idempotency }),
    };
  }

  return {
    /**
     * Inside the transaction that makes the payment Success; `idempotency`, the request's key and
     * reply, is checked and stored by the posting's own statement.
     */
    async creditQrPayment(
      trx: Executor,
      payment: QrPaymentCredit,
      idempotency?: KeyAndReply,
    ): Promise<PostResult> {
      return ledger.post(trx, await qrPaymentEntry(trx, payment, idempotency));
    },

    /**
     * The same credit as an SQL expression, for a use case that records the payment and posts in
     * one statement (see `LedgerService.postingCall`).
     */
    async qrPaymentCreditCall(payment: QrPaymentCredit, idempotency?: KeyAndReply) {
      return ledger.postingCall(await qrPaymentEntry(db, payment, idempotency));
    },

    /**
     * Inside the transaction that makes a gateway payment succeed: `gateway clearing -> merchant
     * payable`, less the fee to fees revenue; once per payment, whichever path got there first.
     */
    async creditGatewayPayment(trx: Executor, payment: GatewayPaymentCredit): Promise<PostResult> {
      const [clearing, payable, fees] = await Promise.all([
        ledger.platformAccountShards('gateway_clearing', payment.currency, trx),
        ledger.ownerAccountShards(
          { type: 'merchant', id: payment.merchantId },
          'merchant_payable',
          payment.currency,
          MERCHANT_PAYABLE_SHARDS,
          trx,
        ),
        payment.feeMinor > 0n
          ? ledger.platformAccountShards('fees_revenue', payment.currency, trx)
          : Promise.resolve(null),
      ]);
      return ledger.post(trx, {
        type: 'payment',
        idempotencyRef: `payment:${payment.paymentId}`,
        description: `Gateway payment ${payment.paymentId}`,
        metadata: { paymentId: payment.paymentId, feeMinor: payment.feeMinor.toString() },
        postings: [
          { shardIds: clearing, amountMinor: payment.amountMinor },
          { shardIds: payable, amountMinor: -(payment.amountMinor - payment.feeMinor) },
          ...(fees === null ? [] : [{ shardIds: fees, amountMinor: -payment.feeMinor }]),
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
