import { sql } from 'kysely';
import type { Executor } from '../../src/db/database.ts';
import type { KeyAndReply } from '../../src/http/idempotency.ts';
import { randomCode, randomDigits, uuidv7 } from '../../src/lib/ids.ts';
import type { MerchantBalanceService } from '../../src/modules/ledger/index.ts';
import * as qrCodes from '../../src/modules/qr/repo.ts';
import * as qrTransactions from '../../src/modules/qr/transactions.repo.ts';

/**
 * The SQL of `POST /api/v1/transactions` for a 120.50 Success payment, issued straight on a
 * transaction: lock the QR code, insert the payment and its history row (the triggers upsert the
 * rollups), credit the merchant in the ledger (checking the key and storing the reply), write the
 * audit row. The baseline of the QR write
 * scenarios.
 */
export async function recordQrPaymentAsTheRouteDoes(
  trx: Executor,
  payment: {
    qrId: string;
    actorId: string;
    merchantBalances: MerchantBalanceService;
    /** The request's key, checked and stored by the ledger posting's statement. */
    idempotency?: KeyAndReply;
  },
): Promise<void> {
  const qrCode = await qrCodes.findQrCode(trx, { qrId: payment.qrId }, 'share');
  if (qrCode === undefined) throw new Error(`bench QR code ${payment.qrId} missing`);
  const now = new Date();
  const id = uuidv7(now.getTime());
  const [transaction] = await qrTransactions.insertTransactions(
    trx,
    [
      {
        id,
        paymentId: `PAY${now.getTime()}${randomDigits(15)}`,
        qrCodeId: qrCode.id,
        qrId: qrCode.qrId,
        merchantId: qrCode.merchantId,
        amountMinor: 12050n,
        status: 'Success',
        utr: randomCode(12),
        occurredAt: now,
        customerName: 'Bench Payer',
        customerPhone: null,
        customerUpiApp: 'GPay',
        origin: 'manual',
        createdAt: now,
        updatedAt: now,
      },
    ],
    { cause: 'created', actorId: payment.actorId, ids: [uuidv7(now.getTime())] },
  );
  if (transaction === undefined) throw new Error('payment not inserted');
  await payment.merchantBalances.creditQrPayment(
    trx,
    {
      transactionId: transaction.id,
      paymentId: transaction.paymentId,
      merchantId: transaction.merchantId,
      amountMinor: transaction.amountMinor,
      currency: transaction.currency,
    },
    payment.idempotency,
  );
  await sql`INSERT INTO audit_logs (id, actor_id, actor_role, action, target_type, target_id, details)
    VALUES (${uuidv7(now.getTime())}, ${payment.actorId}, 'merchant', 'qr_payment.recorded', 'qr_transaction', ${id}, '{}')`.execute(
    trx,
  );
}
