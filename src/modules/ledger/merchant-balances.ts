import { sql } from 'kysely';
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

  /**
   * `gateway clearing -> merchant payable`, less the fee to fees revenue, for a payment of either
   * kind; every account is a hot one, named by its shards.
   */
  async function creditEntry(
    executor: Executor,
    credit: { merchantId: string; amountMinor: bigint; feeMinor: bigint; currency: string },
    entry: Pick<EntryRequest, 'type' | 'idempotencyRef' | 'description' | 'metadata'>,
    idempotency: KeyAndReply | undefined,
  ): Promise<EntryRequest> {
    const [clearing, payable, fees] = await Promise.all([
      ledger.platformAccountShards('gateway_clearing', credit.currency, executor),
      ledger.ownerAccountShards(
        { type: 'merchant', id: credit.merchantId },
        'merchant_payable',
        credit.currency,
        MERCHANT_PAYABLE_SHARDS,
        executor,
      ),
      credit.feeMinor > 0n
        ? ledger.platformAccountShards('fees_revenue', credit.currency, executor)
        : Promise.resolve(null),
    ]);
    return {
      ...entry,
      postings: [
        { shardIds: clearing, amountMinor: credit.amountMinor },
        { shardIds: payable, amountMinor: -(credit.amountMinor - credit.feeMinor) },
        ...(fees === null ? [] : [{ shardIds: fees, amountMinor: -credit.feeMinor }]),
      ],
      ...(idempotency === undefined ? {} : { idempotency }),
    };
  }

  /** A QR payment's credit, less the UPI fee of the schedule (UPI_FEE_BASIS_POINTS). */
  function qrPaymentEntry(
    executor: Executor,
    payment: QrPaymentCredit,
    idempotency: KeyAndReply | undefined,
  ) {
    const feeMinor = (payment.amountMinor * feeBasisPoints * 2n + BASIS_POINTS) / (BASIS_POINTS * 2n);
    return creditEntry(
      executor,
      { ...payment, feeMinor },
      {
        type: 'qr_payment',
        idempotencyRef: `qr:${payment.transactionId}`,
        description: `UPI QR payment ${payment.paymentId}`,
        metadata: {
          transactionId: payment.transactionId,
          paymentId: payment.paymentId,
          feeMinor: feeMinor.toString(),
        },
      },
      idempotency,
    );
  }

  /** A gateway payment's credit, less the gateway's fee (passed on to the merchant). */
  function gatewayPaymentEntry(
    executor: Executor,
    payment: GatewayPaymentCredit,
    idempotency: KeyAndReply | undefined,
  ) {
    return creditEntry(
      executor,
      payment,
      {
        type: 'payment',
        idempotencyRef: `payment:${payment.paymentId}`,
        description: `Gateway payment ${payment.paymentId}`,
        metadata: { paymentId: payment.paymentId, feeMinor: payment.feeMinor.toString() },
      },
      idempotency,
    );
  }

  /** The mirror image of the entry posted for `original`; null when none was posted. */
  async function reverse(
    trx: Executor,
    original: { type: EntryRequest['type']; ref: string },
    description: string,
    metadata: Record<string, unknown>,
  ): Promise<PostResult | null> {
    const entry = await repo.findEntryByRef(trx, original.type, original.ref);
    if (entry === undefined) return null;
    return ledger.post(trx, {
      type: 'reversal',
      idempotencyRef: `reversal:${entry.id}`,
      reversesEntryId: entry.id,
      description,
      metadata,
      postings: entry.postings.map((posting) => ({
        accountId: posting.accountId,
        amountMinor: -posting.amountMinor,
      })),
    });
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
      return ledger.post(trx, await gatewayPaymentEntry(trx, payment, undefined));
    },

    /**
     * The same credit as an SQL expression, for a use case that records the payment and posts in
     * one statement; `idempotency`, the request's key and reply, is checked and stored by it.
     */
    async gatewayPaymentCreditCall(payment: GatewayPaymentCredit, idempotency?: KeyAndReply) {
      return ledger.postingCall(await gatewayPaymentEntry(db, payment, idempotency));
    },

    /**
     * Inside the transaction that records a gateway refund: `merchant payable -> gateway
     * clearing`. The merchant's payable shards are locked (in id order, as every posting locks)
     * and debited from the fullest down, so no shard goes below zero while the total covers it;
     * a total that does not is INSUFFICIENT_FUNDS.
     */
    async debitGatewayRefund(
      trx: Executor,
      refund: {
        refundId: string;
        paymentId: string;
        merchantId: string;
        amountMinor: bigint;
        currency: string;
      },
    ): Promise<PostResult> {
      const [clearing, payableIds] = await Promise.all([
        ledger.platformAccountShards('gateway_clearing', refund.currency, trx),
        ledger.ownerAccountShards(
          { type: 'merchant', id: refund.merchantId },
          'merchant_payable',
          refund.currency,
          MERCHANT_PAYABLE_SHARDS,
          trx,
        ),
      ]);
      const shards = await sql<{ id: string; available: string }>`
        SELECT id, balance_minor - held_minor AS available FROM ledger_accounts
        WHERE id = ANY (${payableIds}::uuid[]) ORDER BY id FOR UPDATE`.execute(trx);
      const debits = fillFrom(
        shards.rows.map((row) => ({ accountId: row.id, availableMinor: BigInt(row.available) })),
        refund.amountMinor,
      );
      return ledger.post(trx, {
        type: 'refund',
        idempotencyRef: `refund:${refund.refundId}`,
        description: `Refund ${refund.refundId} of gateway payment ${refund.paymentId}`,
        metadata: { paymentId: refund.paymentId, refundId: refund.refundId },
        postings: [
          ...debits.map((debit) => ({ accountId: debit.accountId, amountMinor: debit.amountMinor })),
          { shardIds: clearing, amountMinor: -refund.amountMinor },
        ],
      });
    },

    /** Inside the transaction that records a refund the gateway refused: its debit, reversed. */
    async reverseGatewayRefund(trx: Executor, refundId: string): Promise<PostResult | null> {
      return reverse(trx, { type: 'refund', ref: `refund:${refundId}` }, 'Refund refused by the gateway', {
        refundId,
      });
    },

    /** Inside the transaction that deletes the payment; nothing to do for one never posted. */
    async reverseQrPayment(trx: Executor, transactionId: string): Promise<PostResult | null> {
      return reverse(trx, { type: 'qr_payment', ref: `qr:${transactionId}` }, 'QR payment deleted', {
        transactionId,
      });
    },

    /** What the merchant is owed, per currency (every shard summed). */
    async balances(merchantId: string) {
      return repo.sumOwnerBalances(db, { type: 'merchant', id: merchantId }, 'merchant_payable');
    },
  };
}

/**
 * Takes `amountMinor` from the fullest shards first. When they cannot cover it, the whole amount
 * goes to the fullest shard, so the posting itself refuses it with INSUFFICIENT_FUNDS.
 */
function fillFrom(
  shards: readonly { accountId: string; availableMinor: bigint }[],
  amountMinor: bigint,
): { accountId: string; amountMinor: bigint }[] {
  const fullest = [...shards].sort((a, b) =>
    a.availableMinor === b.availableMinor ? 0 : a.availableMinor > b.availableMinor ? -1 : 1,
  );
  const total = fullest.reduce(
    (sum, shard) => sum + (shard.availableMinor > 0n ? shard.availableMinor : 0n),
    0n,
  );
  const first = fullest[0];
  if (first === undefined) throw new Error('a merchant payable account has no shards');
  if (total < amountMinor) return [{ accountId: first.accountId, amountMinor }];
  const debits: { accountId: string; amountMinor: bigint }[] = [];
  let left = amountMinor;
  for (const shard of fullest) {
    if (left === 0n) break;
    const take = shard.availableMinor < left ? shard.availableMinor : left;
    if (take <= 0n) continue;
    // A payable account is credit-normal: a debit is a positive posting.
    debits.push({ accountId: shard.accountId, amountMinor: take });
    left -= take;
  }
  return debits;
}

export type MerchantBalanceService = ReturnType<typeof createMerchantBalanceService>;
