import type { AttemptErrorCode } from '../connector.ts';

/**
 * PayU India's statuses and codes, mapped onto ours. PayU reports a payment twice over: `status`
 * (its own three-way summary: success, failure, pending) and `unmappedstatus` (the finer state:
 * captured, bounced, userCancelled...). The finer one decides when we know it; the summary is the
 * fallback, so a new fine state PayU adds still lands on the side PayU itself puts it.
 */

/** What one PayU status says about a payment. */
export type PaymentReading =
  | { readonly status: 'succeeded' }
  | { readonly status: 'pending' }
  | { readonly status: 'failed'; readonly errorCode: AttemptErrorCode; readonly retryable: boolean };

const SUCCEEDED: PaymentReading = { status: 'succeeded' };
const PENDING: PaymentReading = { status: 'pending' };
const DECLINED: PaymentReading = { status: 'failed', errorCode: 'DECLINED', retryable: false };
const EXPIRED: PaymentReading = { status: 'failed', errorCode: 'EXPIRED', retryable: false };
/** A status nobody mapped: failed and not tried elsewhere, since the payer may have paid. */
const UNKNOWN: PaymentReading = { status: 'failed', errorCode: 'UNKNOWN', retryable: false };

/**
 * `status` in verify_payment's transaction_details, in callbacks, and (as `txnStatus`) in the S2S
 * reply. `Not Found` is what verify_payment says of a txnid it has no transaction for.
 */
export const PAYU_STATUSES = [
  'success',
  'failure',
  'failed',
  'pending',
  'userCancelled',
  'Not Found',
] as const;
export type PayuStatus = (typeof PAYU_STATUSES)[number];

const STATUS_READINGS: Record<PayuStatus, PaymentReading> = {
  success: SUCCEEDED,
  failure: DECLINED,
  // The S2S reply's txnStatus says `failed` where the callbacks say `failure`.
  failed: DECLINED,
  pending: PENDING,
  userCancelled: DECLINED,
  // No transaction yet: a hosted-page (invoice) payer who has not opened the page, or a request
  // that never reached PayU. It may still be paid, so pending; our payment's expiry ends it.
  'Not Found': PENDING,
};

/** `unmappedstatus` (`unmappedStatus` in the S2S reply): PayU's "Payment State Explanations". */
export const PAYU_UNMAPPED_STATUSES = [
  'captured',
  'auth',
  'userCancelled',
  'bounced',
  'dropped',
  'failed',
  'autoRefund',
  'initiated',
  'in progress',
  'pending',
] as const;
export type PayuUnmappedStatus = (typeof PAYU_UNMAPPED_STATUSES)[number];

const UNMAPPED_STATUS_READINGS: Record<PayuUnmappedStatus, PaymentReading> = {
  captured: SUCCEEDED,
  // Authorized and debited but not yet captured at PayU: PayU files it under success.
  auth: SUCCEEDED,
  userCancelled: DECLINED,
  // The payer left the PayU page without paying.
  bounced: EXPIRED,
  // The bank never answered PayU: the payment failed, but not through the payer's choice.
  dropped: { status: 'failed', errorCode: 'GATEWAY_ERROR', retryable: true },
  failed: DECLINED,
  // PayU saw success only at reconciliation and refunded it on its own: no money for us.
  autoRefund: { status: 'failed', errorCode: 'GATEWAY_ERROR', retryable: false },
  initiated: PENDING,
  'in progress': PENDING,
  pending: PENDING,
};

/**
 * A few error codes (`error`, `error_code`, the S2S `statusCode`) that say more than the status.
 * PayU has hundreds of bank-specific codes; the rest leave the status's reading as it is.
 */
export const PAYU_ERROR_CODES = ['E000', 'E700', 'E500', 'E348'] as const;
export type PayuErrorCode = (typeof PAYU_ERROR_CODES)[number];

const ERROR_CODE_MEANINGS: Record<PayuErrorCode, AttemptErrorCode | null> = {
  E000: null, // "No Error"
  E700: 'AUTHENTICATION_FAILED', // "Validation of secure hash failed": our key or salt is wrong
  E500: 'DECLINED', // "Bank failed to authenticate the customer"
  E348: 'DECLINED', // "Transaction declined by the issuer"
};

function isOneOf<T extends string>(values: readonly T[], value: string | undefined): value is T {
  return value !== undefined && (values as readonly string[]).includes(value);
}

/**
 * Reads a payment's state from `status` and `unmappedstatus`. Unknown strings: when the summary
 * still says pending, PayU says the payment may complete, so it stays pending; otherwise it is
 * `UNKNOWN`, failed and not retryable (another gateway must not charge a payer who may have paid).
 */
export function readPaymentStatus(
  status: string | undefined,
  unmappedStatus: string | undefined,
): PaymentReading {
  if (isOneOf(PAYU_UNMAPPED_STATUSES, unmappedStatus)) return UNMAPPED_STATUS_READINGS[unmappedStatus];
  if (isOneOf(PAYU_STATUSES, status)) return STATUS_READINGS[status];
  return UNKNOWN;
}

/** Our code for a PayU error code, or null when it adds nothing (or is not one we know). */
export function errorCodeMeaning(code: string | undefined): AttemptErrorCode | null {
  return isOneOf(PAYU_ERROR_CODES, code) ? ERROR_CODE_MEANINGS[code] : null;
}

/** Narrows a failed reading by the error code PayU gave with it. */
export function refineByErrorCode(reading: PaymentReading, code: string | undefined): PaymentReading {
  const meaning = errorCodeMeaning(code);
  if (reading.status !== 'failed' || meaning === null) return reading;
  return { status: 'failed', errorCode: meaning, retryable: meaning === 'AUTHENTICATION_FAILED' };
}

/** What a cancel_refund_transaction reply's `error_code` says about the refund. */
export type RefundReading =
  | { readonly status: 'succeeded' | 'pending' }
  | { readonly status: 'already_requested' }
  | { readonly status: 'failed'; readonly errorCode: AttemptErrorCode; readonly retryable: boolean };

/** PayU's "Error Codes for Refund Initiation", as the numbers its JSON carries. */
export const PAYU_REFUND_CODES = [
  '100',
  '101',
  '102',
  '103',
  '104',
  '105',
  '106',
  '107',
  '108',
  '109',
  '110',
  '111',
  '112',
  '113',
  '115',
  '116',
  '117',
  '119',
  '120',
  '121',
  '122',
  '123',
  '124',
  '125',
  '126',
  '127',
  '128',
  '129',
  '214',
  '225',
  '226',
  '227',
  '230',
] as const;
export type PayuRefundCode = (typeof PAYU_REFUND_CODES)[number];

const REFUND_PENDING: RefundReading = { status: 'pending' };
const REFUND_REFUSED: RefundReading = { status: 'failed', errorCode: 'INVALID_REQUEST', retryable: false };
const REFUND_TRY_AGAIN: RefundReading = { status: 'failed', errorCode: 'GATEWAY_ERROR', retryable: true };
const REFUND_UNKNOWN: RefundReading = { status: 'failed', errorCode: 'UNKNOWN', retryable: false };

const REFUND_CODE_READINGS: Record<PayuRefundCode, RefundReading> = {
  '100': { status: 'succeeded' }, // Refund Successful
  '101': REFUND_PENDING, // PENDING
  '102': REFUND_PENDING, // Refund Queued
  '103': REFUND_REFUSED, // Request rejected on reconfirmation
  '104': REFUND_PENDING, // Confirmation required
  '105': REFUND_REFUSED, // Invalid amount (e.g. over what is left to refund)
  // Token already exists: this refund id was accepted before; the refund is under way.
  '106': { status: 'already_requested' },
  '107': REFUND_PENDING, // Upgraded to refund
  '108': REFUND_UNKNOWN, // documented without a message
  '109': { status: 'already_requested' }, // Request is already logged
  '110': REFUND_REFUSED, // More than one partial refund of Maestro transactions
  '111': REFUND_REFUSED, // Invalid transaction status (not captured)
  '112': REFUND_PENDING, // RISK_QUEUED
  '113': REFUND_REFUSED, // Chargeback present
  '115': REFUND_REFUSED, // Invalid status to be updated
  '116': REFUND_REFUSED, // Transaction Not Found
  '117': REFUND_REFUSED, // Amount Does not Match
  '119': REFUND_REFUSED, // No such Request Found
  '120': REFUND_TRY_AGAIN, // Transaction lock could not be obtained
  '121': REFUND_REFUSED, // Incorrect/Empty value passed in retry
  '122': REFUND_PENDING, // APPROVAL PENDING
  '123': REFUND_PENDING, // Set as pending, manual follow-up
  '124': REFUND_REFUSED, // Input Data missing
  '125': REFUND_REFUSED, // Merchant Failed the pending refund
  '126': REFUND_PENDING, // IN_PROGRESS
  '127': REFUND_PENDING, // REQUESTED
  '128': REFUND_REFUSED, // Partial refunds not allowed
  '129': REFUND_REFUSED, // Remark is mandatory
  '214': REFUND_REFUSED, // Same amount, same transaction within 5 minutes
  '225': REFUND_PENDING, // Overdraft: recheck tomorrow
  '226': REFUND_PENDING, // Capture initiated today: recheck tomorrow
  '227': REFUND_REFUSED, // Same amount and same token
  '230': REFUND_REFUSED, // Purged transaction
};

/** Reads a refund reply's code; a code not in PayU's list is `UNKNOWN`, failed, not retryable. */
export function readRefundCode(code: string | undefined): RefundReading {
  return isOneOf(PAYU_REFUND_CODES, code) ? REFUND_CODE_READINGS[code] : REFUND_UNKNOWN;
}

/**
 * A refund's `status` in check_action_status's transaction_details (PayU's "refund states"),
 * compared lower-cased: PayU writes some in capitals (`SUCCESS`, `QUEUED`) and some not.
 */
export const PAYU_REFUND_STATUSES = [
  'success',
  'failure',
  'queued',
  'in progress',
  'requested',
  'pending',
  'od_hit',
] as const;
export type PayuRefundStatus = (typeof PAYU_REFUND_STATUSES)[number];

const REFUND_STATUS_READINGS: Record<PayuRefundStatus, 'succeeded' | 'pending' | 'failed'> = {
  success: 'succeeded',
  // "No funds are deducted for such refunds from the merchant's settlement."
  failure: 'failed',
  // Accepted by PayU, not yet sent to the bank.
  queued: 'pending',
  // Raised to the bank.
  'in progress': 'pending',
  // Sent to the bank for offline processing: 5-7 business days.
  requested: 'pending',
  // PayU's overdraft (the merchant's PayU balance is short): processed once it is not.
  pending: 'pending',
  od_hit: 'pending',
};

/**
 * Where a refund stands, from its check_action_status `status`. A status PayU has not documented
 * is pending: the refund exists at PayU, and settling on a guess could pay it out twice or not at all.
 */
export function readRefundStatus(status: string | undefined): 'succeeded' | 'pending' | 'failed' {
  const normalized = status?.trim().toLowerCase();
  return isOneOf(PAYU_REFUND_STATUSES, normalized) ? REFUND_STATUS_READINGS[normalized] : 'pending';
}
