import { toMajorUnits } from '../../lib/money.ts';
import type { QrCodeRow } from './repo.ts';
import { upiLinkOf } from './service.ts';
import type { StatusChangeRow, TransactionRow } from './transactions.repo.ts';

/** The API shape of a QR code: rupees, not paise; internal scheduling fields left out. */
export function presentQrCode(qrCode: QrCodeRow) {
  return {
    id: qrCode.id,
    qrId: qrCode.qrId,
    merchantId: qrCode.merchantId,
    vpa: qrCode.vpa,
    referenceName: qrCode.referenceName,
    description: qrCode.description,
    maxAmount: toMajorUnits(qrCode.maxAmountMinor),
    category: qrCode.category,
    notes: qrCode.notes,
    status: qrCode.status,
    simulationActive: qrCode.simulationActive,
    upiLink: upiLinkOf(qrCode),
    createdAt: qrCode.createdAt,
    updatedAt: qrCode.updatedAt,
  };
}

export function presentTransaction(transaction: TransactionRow & { statusHistory?: StatusChangeRow[] }) {
  return {
    id: transaction.id,
    paymentId: transaction.paymentId,
    source: 'qr' as const,
    qrId: transaction.qrId,
    merchantId: transaction.merchantId,
    amount: toMajorUnits(transaction.amountMinor),
    currency: transaction.currency,
    status: transaction.status,
    utr: transaction.utr,
    timestamp: transaction.occurredAt,
    customerInfo: {
      name: transaction.customerName,
      phone: transaction.customerPhone,
      upiApp: transaction.customerUpiApp,
    },
    origin: transaction.origin,
    createdAt: transaction.createdAt,
    updatedAt: transaction.updatedAt,
    ...(transaction.statusHistory === undefined
      ? {}
      : {
          statusHistory: transaction.statusHistory.map((change) => ({
            from: change.fromStatus,
            to: change.toStatus,
            cause: change.cause,
            changedAt: change.changedAt,
          })),
        }),
  };
}
