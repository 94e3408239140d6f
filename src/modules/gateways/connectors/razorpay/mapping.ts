import type { AttemptErrorCode } from '../connector.ts';

/**
 * Razorpay's statuses and error codes mapped onto ours. Each table is a `Record` over the
 * gateway's documented values, so adding a value to a list below without mapping it is a compile
 * error. What Razorpay sends at runtime is only a string: a value no table knows falls through
 * to the fail-safe answer each function documents.
 */

export type ReportedStatus = 'succeeded' | 'pending' | 'failed';

/** A payment entity's `status`. */
export const RAZORPAY_PAYMENT_STATUSES = ['created', 'authorized', 'captured', 'refunded', 'failed'] as const;
export type RazorpayPaymentStatus = (typeof RAZORPAY_PAYMENT_STATUSES)[number];

const PAYMENT_STATUS: Record<RazorpayPaymentStatus, ReportedStatus> = {
  // The collect request or intent link is out; the payer has not approved yet.
  created: 'pending',
  // The payer's money is held but not captured. We rely on the account's auto-capture setting
  // (which captures within moments); until then the payment can still be released, so it is
  // not yet ours.
  authorized: 'pending',
  captured: 'succeeded',
  // Refunded after capture: the attempt itself succeeded; the refund is tracked on our refund.
  refunded: 'succeeded',
  failed: 'failed',
};

/** A payment link's `status` (card and netbanking go through a hosted payment link). */
export const RAZORPAY_PAYMENT_LINK_STATUSES = [
  'created',
  'partially_paid',
  'paid',
  'expired',
  'cancelled',
] as const;
export type RazorpayPaymentLinkStatus = (typeof RAZORPAY_PAYMENT_LINK_STATUSES)[number];

export type LinkState =
  | { readonly status: 'succeeded' | 'pending' }
  | { readonly status: 'failed'; readonly errorCode: AttemptErrorCode };

const PAYMENT_LINK_STATUS: Record<RazorpayPaymentLinkStatus, LinkState> = {
  // Open: a failed card or bank try leaves the link open for the payer to try again.
  created: { status: 'pending' },
  // We never allow partial payments; should one appear, the amount is not all there yet.
  partially_paid: { status: 'pending' },
  paid: { status: 'succeeded' },
  expired: { status: 'failed', errorCode: 'EXPIRED' },
  // Cancelled from the dashboard: the window to pay closed without a payment, as with expiry.
  cancelled: { status: 'failed', errorCode: 'EXPIRED' },
};

/** A refund entity's `status`. */
export const RAZORPAY_REFUND_STATUSES = ['pending', 'processed', 'failed'] as const;
export type RazorpayRefundStatus = (typeof RAZORPAY_REFUND_STATUSES)[number];

const REFUND_STATUS: Record<RazorpayRefundStatus, ReportedStatus> = {
  pending: 'pending',
  processed: 'succeeded',
  failed: 'failed',
};

/** `error.code` in an API error body (and `error_code` on a failed payment). */
export const RAZORPAY_ERROR_CODES = ['BAD_REQUEST_ERROR', 'GATEWAY_ERROR', 'SERVER_ERROR'] as const;
export type RazorpayErrorCode = (typeof RAZORPAY_ERROR_CODES)[number];

const ERROR_CODE: Record<RazorpayErrorCode, AttemptErrorCode> = {
  BAD_REQUEST_ERROR: 'INVALID_REQUEST',
  GATEWAY_ERROR: 'GATEWAY_ERROR',
  SERVER_ERROR: 'GATEWAY_UNAVAILABLE',
};

/**
 * `error.reason` (and `error_reason` on a failed payment): why a payment failed, from Razorpay's
 * "Error Reasons" and UPI error code lists.
 */
export const RAZORPAY_ERROR_REASONS = [
  'payment_failed',
  'payment_declined',
  'payment_cancelled',
  'payment_timed_out',
  'payment_collect_request_expired',
  'payment_risk_check_failed',
  'authentication_failed',
  'authorisation_declined_by_psp',
  'card_declined',
  'card_expired',
  'insufficient_funds',
  'invalid_vpa',
  'vpa_resolution_failed',
  'bank_account_invalid',
  'amount_less_than_minimum_amount',
  'input_validation_failed',
  'bank_technical_error',
  'gateway_technical_error',
  'credit_failed',
] as const;
export type RazorpayErrorReason = (typeof RAZORPAY_ERROR_REASONS)[number];

const ERROR_REASON: Record<RazorpayErrorReason, AttemptErrorCode> = {
  payment_failed: 'DECLINED',
  payment_declined: 'DECLINED',
  payment_cancelled: 'DECLINED',
  payment_timed_out: 'EXPIRED',
  payment_collect_request_expired: 'EXPIRED',
  payment_risk_check_failed: 'DECLINED',
  authentication_failed: 'DECLINED',
  authorisation_declined_by_psp: 'DECLINED',
  card_declined: 'DECLINED',
  card_expired: 'DECLINED',
  insufficient_funds: 'INSUFFICIENT_FUNDS',
  // The payer's own UPI id or account is wrong: no other gateway can fix that.
  invalid_vpa: 'INVALID_REQUEST',
  vpa_resolution_failed: 'INVALID_REQUEST',
  bank_account_invalid: 'INVALID_REQUEST',
  amount_less_than_minimum_amount: 'INVALID_REQUEST',
  input_validation_failed: 'INVALID_REQUEST',
  // Downtime at the bank or Razorpay's partner bank: another gateway may route around it.
  bank_technical_error: 'GATEWAY_ERROR',
  gateway_technical_error: 'GATEWAY_ERROR',
  credit_failed: 'GATEWAY_ERROR',
};

/** Own keys only: a status of "constructor" must not find Object.prototype's. */
function lookup<Value>(table: Readonly<Record<string, Value>>, key: unknown): Value | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * A payment status as ours; null for one we do not know. The caller reports that as a failed
 * `UNKNOWN`, not retryable, rather than pending: pending would leave the payment waiting for a
 * state Razorpay may never report, while a late capture still arrives by webhook and is recorded
 * as a late success. Not retrying elsewhere avoids charging the payer twice.
 */
export function paymentStatusOf(status: unknown): ReportedStatus | null {
  return lookup(PAYMENT_STATUS, status) ?? null;
}

/** A payment link status as ours; an unknown one fails as `UNKNOWN` (same reasoning as above). */
export function paymentLinkStateOf(status: unknown): LinkState {
  return lookup(PAYMENT_LINK_STATUS, status) ?? { status: 'failed', errorCode: 'UNKNOWN' };
}

/**
 * A refund status as ours. An unknown one is `pending`, not failed: the refund exists at Razorpay,
 * and reporting it failed could lead to a second refund of the same money.
 */
export function refundStatusOf(status: unknown): ReportedStatus {
  return lookup(REFUND_STATUS, status) ?? 'pending';
}

/** Why a payment failed, from its `error_reason`; `UNKNOWN` for a reason we do not know. */
export function failureCodeOf(reason: unknown): AttemptErrorCode {
  return lookup(ERROR_REASON, reason) ?? 'UNKNOWN';
}

/**
 * An API error reply. A payment-level reason (a decline reported synchronously) says more than
 * the generic code; otherwise the code decides, and an unknown code is `UNKNOWN`.
 */
export function apiErrorCodeOf(code: unknown, reason: unknown): AttemptErrorCode {
  return lookup(ERROR_REASON, reason) ?? lookup(ERROR_CODE, code) ?? 'UNKNOWN';
}
