import { toMajorUnitsOf } from '../../lib/money.ts';
import type { NextAction } from '../gateways/connectors/connector.ts';
import type { AttemptRow, PaymentRow } from './repo.ts';

/** Minor-unit scale of a currency (2 for INR); amounts leave the API in major units. */
export type ScaleOf = (currency: string) => number;

export function presentPayment(
  payment: PaymentRow,
  attempts: readonly (AttemptRow & { gatewayName: string })[],
  scaleOf: ScaleOf,
) {
  const scale = scaleOf(payment.currency);
  return {
    id: payment.id,
    source: 'gateway' as const,
    orderId: payment.orderId,
    status: payment.status,
    amount: toMajorUnitsOf(payment.amountMinor, scale),
    currency: payment.currency,
    method: payment.method,
    gatewayId: payment.gatewayId,
    fee: toMajorUnitsOf(payment.feeMinor, scale),
    refundedAmount: toMajorUnitsOf(payment.refundedMinor, scale),
    customer: payment.customer,
    description: payment.description,
    metadata: payment.metadata,
    errorCode: payment.errorCode,
    errorMessage: payment.errorMessage,
    attempts: attempts.map((attempt) => ({
      id: attempt.id,
      gatewayId: attempt.gatewayId,
      gatewayName: attempt.gatewayName,
      status: attempt.status,
      gatewayReference: attempt.gatewayReference,
      errorCode: attempt.errorCode,
      errorMessage: attempt.errorMessage,
      latencyMs: attempt.latencyMs,
      createdAt: attempt.createdAt,
    })),
    expiresAt: payment.expiresAt,
    succeededAt: payment.succeededAt,
    createdAt: payment.createdAt,
    updatedAt: payment.updatedAt,
  };
}

/** The payer's next step while it matters: a UPI link also as a QR image this server renders. */
export function presentNextAction(payment: PaymentRow) {
  if (payment.status !== 'pending' && payment.status !== 'succeeded') return null;
  const action = payment.nextAction as NextAction | null;
  if (action === null) return null;
  if (action.type === 'upi_intent' || action.type === 'upi_qr') {
    return { ...action, qrImageUrl: `/api/v1/payments/${payment.id}/qr.png` };
  }
  return action;
}
