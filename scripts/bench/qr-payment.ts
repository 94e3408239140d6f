import type { Executor } from '../../src/db/database.ts';
import type { KeyAndReply } from '../../src/http/idempotency.ts';
import { randomCode, randomDigits, uuidv7 } from '../../src/lib/ids.ts';
import type { MerchantBalanceService } from '../../src/modules/ledger/index.ts';
import { presentTransaction } from '../../src/modules/qr/present.ts';
import * as qrCodes from '../../src/modules/qr/repo.ts';
import * as qrTransactions from '../../src/modules/qr/transactions.repo.ts';

const identities = new Map<string, { id: string; qrId: string; merchantId: string }>();

/**
 * The SQL of `POST /api/v1/transactions` for a 120.50 Success payment by a merchant whose QR code
 * the server has seen before: one statement locking the code, inserting the payment, its history
 * and audit rows and its payment.succeeded event (the triggers upsert the rollups), and crediting
 * the merchant in the ledger (checking the key and storing the reply). The baseline of the QR write scenarios.
 */
export async function recordQrPaymentAsTheRouteDoes(
  executor: Executor,
  payment: {
    qrId: string;
    actorId: string;
    merchantBalances: MerchantBalanceService;
    idempotency?: KeyAndReply;
  },
): Promise<void> {
  let qrCode = identities.get(payment.qrId);
  if (qrCode === undefined) {
    const found = await qrCodes.findQrCode(executor, { qrId: payment.qrId });
    if (found === undefined) throw new Error(`bench QR code ${payment.qrId} missing`);
    qrCode = { id: found.id, qrId: found.qrId, merchantId: found.merchantId };
    identities.set(payment.qrId, qrCode);
  }
  const now = new Date();
  const id = uuidv7(now.getTime());
  const paymentId = `PAY${now.getTime()}${randomDigits(15)}`;
  const settlement = await payment.merchantBalances.qrPaymentCreditCall(
    { transactionId: id, paymentId, merchantId: qrCode.merchantId, amountMinor: 12050n, currency: 'INR' },
    payment.idempotency,
  );
  const row = {
    id,
    paymentId,
    qrCodeId: qrCode.id,
    qrId: qrCode.qrId,
    merchantId: qrCode.merchantId,
    amountMinor: 12050n,
    currency: 'INR',
    status: 'Success',
    utr: randomCode(12),
    occurredAt: now,
    customerName: 'Bench Payer',
    customerPhone: null,
    customerUpiApp: 'GPay',
    origin: 'manual',
    createdAt: now,
    updatedAt: now,
  } as const;
  const recorded = await qrTransactions.recordPayment(executor, {
    row,
    event: { id: uuidv7(now.getTime()), type: 'payment.succeeded', data: presentTransaction(row) },
    history: { id: uuidv7(now.getTime()), cause: 'created', actorId: payment.actorId },
    audit: {
      id: uuidv7(now.getTime()),
      actorId: payment.actorId,
      actorRole: 'merchant',
      action: 'qr_payment.recorded',
      targetType: 'qr_transaction',
      targetId: id,
      ip: '127.0.0.1',
      userAgent: null,
      requestId: null,
      details: {},
      createdAt: now,
    },
    settlement,
  });
  if (!recorded) throw new Error('payment not recorded');
}
