import type { PaymentStatus } from '../../db/types.ts';

/**
 * The moves a payment may make (STYLE.md habit 9). An allow-list: a status added later can go
 * nowhere until it is listed here. A success may arrive after the payment expired (the payer paid
 * late) or after it was marked failed (a timeout that in fact went through): the money was taken,
 * so it is recorded, and an alert is raised.
 */
export const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  created: ['pending', 'succeeded', 'failed', 'expired'],
  pending: ['succeeded', 'failed', 'expired'],
  succeeded: ['partially_refunded', 'refunded'],
  failed: ['succeeded'],
  expired: ['succeeded'],
  partially_refunded: ['partially_refunded', 'refunded'],
  refunded: [],
};

export function canMove(from: PaymentStatus, to: PaymentStatus): boolean {
  return PAYMENT_TRANSITIONS[from].includes(to);
}

/** Paid: the order may take no other payment. */
export const PAID_STATUSES: readonly PaymentStatus[] = ['succeeded', 'partially_refunded', 'refunded'];
