import type { AttemptErrorCode } from '../connector.ts';
import { isRetryable } from '../http.ts';

/**
 * Paytm's statuses and result codes, mapped onto ours. Every table is a `Record` over a union of
 * Paytm's values, so a value added to a union without a mapping is a compile error. Codes Paytm
 * sends that no table knows map to `UNKNOWN` (failed, not retryable), except where Paytm says the
 * payment may still complete, which stays `pending` (NO_RECORD_FOUND, and see `statusQueryOutcome`).
 */

/** `body.resultInfo` of every JSON reply. */
export interface PaytmResultInfo {
  readonly resultStatus: string;
  readonly resultCode: string;
  readonly resultMsg: string;
}

/** initiateTransaction and processTransaction answer S (done), F (refused) or U (unknown). */
export type PaytmRequestStatus = 'S' | 'F' | 'U';
const REQUEST_STATUSES: Record<PaytmRequestStatus, 'accepted' | 'refused'> = {
  S: 'accepted',
  F: 'refused',
  // Paytm's "U" comes with its system-error code; the code decides what it means.
  U: 'refused',
};

/** The transaction status API's resultStatus and the webhook's STATUS. */
export type PaytmTransactionStatus = 'TXN_SUCCESS' | 'TXN_FAILURE' | 'PENDING' | 'NO_RECORD_FOUND';
const TRANSACTION_STATUSES: Record<PaytmTransactionStatus, 'succeeded' | 'failed' | 'pending'> = {
  TXN_SUCCESS: 'succeeded',
  TXN_FAILURE: 'failed',
  PENDING: 'pending',
  // No transaction under this order yet: the token may be issued and the payer not yet on the
  // page, so the payment may still happen. Our attempt expiry settles an abandoned one.
  NO_RECORD_FOUND: 'pending',
};

/** RESPCODE / resultCode of a payment that failed because of the payer or their bank. */
export type PaytmPaymentFailureCode = '141' | '227' | '235' | '295' | '401' | '810';
const PAYMENT_FAILURE_CODES: Record<PaytmPaymentFailureCode, AttemptErrorCode> = {
  '141': 'DECLINED', // the payer cancelled on Paytm's page
  '227': 'DECLINED', // declined by the payer's bank
  '235': 'INSUFFICIENT_FUNDS', // wallet balance insufficient
  '295': 'INVALID_REQUEST', // the payer's UPI id is wrong: the same request fails anywhere
  '401': 'DECLINED', // declined by the payer's bank
  '810': 'DECLINED', // Paytm's generic "Txn Failed" after the payer's attempt
};

/**
 * resultCode of a request Paytm refused, saying nothing about the payer: our credentials, the
 * request's shape, or Paytm itself. Shared by every API (their code spaces agree on these).
 */
export type PaytmRequestErrorCode =
  | '196'
  | '330'
  | '334'
  | '335'
  | '501'
  | '900'
  | '00000900'
  | '1001'
  | '1006'
  | '1007'
  | '1008'
  | '2005'
  | '2006'
  | '2007'
  | '2013'
  | '2014'
  | '2023';
const REQUEST_ERROR_CODES: Record<PaytmRequestErrorCode, AttemptErrorCode> = {
  // Over the merchant's Paytm limit: a limit of this gateway, so another one may take it.
  '196': 'GATEWAY_ERROR',
  '330': 'AUTHENTICATION_FAILED', // checksum invalid (status and refund APIs)
  '334': 'INVALID_REQUEST', // invalid order id
  '335': 'AUTHENTICATION_FAILED', // MID invalid (status API)
  '501': 'GATEWAY_ERROR', // system error / server down
  '900': 'GATEWAY_ERROR',
  '00000900': 'GATEWAY_ERROR',
  '1001': 'INVALID_REQUEST', // request parameters are not valid
  '1006': 'EXPIRED', // the transaction token expired (15 minutes)
  '1007': 'INVALID_REQUEST', // missing mandatory element
  '1008': 'INVALID_REQUEST', // pipe character is not allowed
  '2005': 'AUTHENTICATION_FAILED', // checksum invalid: our merchant key is not the one Paytm holds
  '2006': 'AUTHENTICATION_FAILED', // MID invalid
  '2007': 'INVALID_REQUEST', // transaction amount invalid
  '2013': 'INVALID_REQUEST', // MID in the query differs from the body's
  '2014': 'INVALID_REQUEST', // order id in the query differs from the body's
  '2023': 'INVALID_REQUEST', // the order id was used before with other parameters
};

/** The refund API's resultStatus. */
export type PaytmRefundStatus = 'TXN_SUCCESS' | 'PENDING' | 'TXN_FAILURE';
const REFUND_STATUSES: Record<PaytmRefundStatus, 'succeeded' | 'pending' | 'failed'> = {
  TXN_SUCCESS: 'succeeded',
  PENDING: 'pending',
  TXN_FAILURE: 'failed',
};

/** resultCode of a refund Paytm did not take. */
export type PaytmRefundFailureCode = '600' | '607' | '619' | '620' | '626' | '627' | '629' | '631' | '635';
const REFUND_FAILURE_CODES: Record<PaytmRefundFailureCode, AttemptErrorCode> = {
  '600': 'INVALID_REQUEST', // invalid refund request, or restricted by the bank
  '607': 'INVALID_REQUEST', // the payment was cancelled
  '619': 'INVALID_REQUEST', // invalid refund amount (e.g. over what is left to refund)
  '620': 'GATEWAY_ERROR', // the merchant's Paytm balance is short: may pass later
  '626': 'GATEWAY_ERROR', // another refund on the order is in progress: retry in minutes
  '627': 'INVALID_REQUEST', // order details mismatch (order id and txnId disagree)
  '629': 'INVALID_REQUEST', // already refunded in full
  '631': 'INVALID_REQUEST', // no such payment
  '635': 'INVALID_REQUEST', // a partial refund under one rupee
};
/**
 * "Refund already raised": this refund id was sent within the last minutes and is in progress.
 * It is our own retry of the same refund, so it is pending, never a failure to refund again.
 */
const REFUND_ALREADY_RAISED_CODE = '617';

export type RequestResult =
  | { readonly accepted: true }
  | {
      readonly accepted: false;
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
      readonly retryable: boolean;
    };

/** initiateTransaction / processTransaction: accepted, or why not. */
export function requestResult(info: PaytmResultInfo): RequestResult {
  const status = lookup(REQUEST_STATUSES, info.resultStatus);
  if (status === 'accepted') return { accepted: true };
  const errorCode =
    lookup(REQUEST_ERROR_CODES, info.resultCode) ??
    lookup(PAYMENT_FAILURE_CODES, info.resultCode) ??
    'UNKNOWN';
  return { accepted: false, errorCode, errorMessage: describe(info), retryable: isRetryable(errorCode) };
}

export type TransactionOutcome =
  | { readonly status: 'succeeded' | 'pending' }
  | { readonly status: 'failed'; readonly errorCode: AttemptErrorCode; readonly errorMessage: string };

/** A payment's status as a webhook (or the status API) reports it: Paytm's STATUS taken as is. */
export function paymentOutcome(info: PaytmResultInfo): TransactionOutcome {
  const status = lookup(TRANSACTION_STATUSES, info.resultStatus);
  if (status === undefined) return { status: 'failed', errorCode: 'UNKNOWN', errorMessage: describe(info) };
  if (status !== 'failed') return { status };
  const errorCode =
    lookup(PAYMENT_FAILURE_CODES, info.resultCode) ??
    lookup(REQUEST_ERROR_CODES, info.resultCode) ??
    'UNKNOWN';
  return { status: 'failed', errorCode, errorMessage: describe(info) };
}

/**
 * The status API's answer. It reports a refused query (our checksum, an unknown MID, Paytm down)
 * as TXN_FAILURE too; that says nothing about the payment, so it is pending: the attempt is looked
 * at again rather than failed on a question that was not answered.
 */
export function statusQueryOutcome(info: PaytmResultInfo): TransactionOutcome {
  const refusedQuery =
    info.resultStatus === 'TXN_FAILURE' && lookup(REQUEST_ERROR_CODES, info.resultCode) !== undefined;
  return refusedQuery ? { status: 'pending' } : paymentOutcome(info);
}

export type RefundResult =
  | { readonly status: 'succeeded' | 'pending' }
  | {
      readonly status: 'failed';
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
      readonly retryable: boolean;
    };

export function refundResult(info: PaytmResultInfo): RefundResult {
  if (info.resultCode === REFUND_ALREADY_RAISED_CODE) return { status: 'pending' };
  const status = lookup(REFUND_STATUSES, info.resultStatus);
  if (status === 'succeeded' || status === 'pending') return { status };
  const errorCode =
    lookup(REFUND_FAILURE_CODES, info.resultCode) ??
    lookup(REQUEST_ERROR_CODES, info.resultCode) ??
    'UNKNOWN';
  return { status: 'failed', errorCode, errorMessage: describe(info), retryable: isRetryable(errorCode) };
}

/** The refund status API's resultCode for a refund it has no record of. */
const REFUND_NOT_FOUND_CODE = '631';

export type RefundStatusResult =
  | { readonly status: 'succeeded' | 'pending' }
  | { readonly status: 'failed'; readonly errorCode: AttemptErrorCode; readonly errorMessage: string }
  | { readonly status: 'unanswered'; readonly errorCode: AttemptErrorCode; readonly errorMessage: string };

/**
 * The refund status API's answer (`/v2/refund/status`): its resultStatus is the refund's
 * (TXN_SUCCESS, PENDING, TXN_FAILURE). As with the transaction status API, a refused query (our
 * checksum, the MID, Paytm down) comes back as TXN_FAILURE with a request-error code; that, and
 * "no record", says nothing about the refund. A resultStatus we do not know is pending.
 */
export function refundStatusResult(info: PaytmResultInfo): RefundStatusResult {
  const refusedQuery = lookup(REQUEST_ERROR_CODES, info.resultCode);
  if (info.resultStatus === 'TXN_FAILURE' && refusedQuery !== undefined) {
    return { status: 'unanswered', errorCode: refusedQuery, errorMessage: describe(info) };
  }
  if (info.resultCode === REFUND_NOT_FOUND_CODE) {
    return { status: 'unanswered', errorCode: 'INVALID_REQUEST', errorMessage: describe(info) };
  }
  const status = lookup(REFUND_STATUSES, info.resultStatus) ?? 'pending';
  if (status !== 'failed') return { status };
  const errorCode = lookup(REFUND_FAILURE_CODES, info.resultCode) ?? 'DECLINED';
  return { status: 'failed', errorCode, errorMessage: describe(info) };
}

const AMOUNT_PATTERN = /^(\d{1,15})(?:\.(\d{1,2}))?$/;

/** Paytm's rupee string ("123.45", "1.0", "100") to paise, exactly; null when it is not one. */
export function amountMinorOf(rupees: string): bigint | null {
  const match = AMOUNT_PATTERN.exec(rupees);
  if (match === null) return null;
  const [, whole = '0', fraction = ''] = match;
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

const IST_OFFSET_MS = 19_800_000;
const TXN_DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/;

/** TXNDATE ("2025-01-15 14:30:05.0", Indian time) as epoch milliseconds; null when unreadable. */
export function txnDateMs(text: string): number | null {
  const match = TXN_DATE_PATTERN.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const milliseconds = Number((match[7] ?? '').padEnd(3, '0'));
  const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second, milliseconds));
  // Date.UTC rolls over out-of-range parts (month 13, 25 o'clock); such a date is no date.
  if (local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day || local.getUTCHours() !== hour) {
    return null;
  }
  return local.getTime() - IST_OFFSET_MS;
}

/** An instant as Paytm writes TXNDATE: Indian time, tenths of a second. */
export function formatTxnDate(at: Date): string {
  const local = new Date(at.getTime() + IST_OFFSET_MS).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 19)}.${local.slice(20, 21)}`;
}

function lookup<Key extends string, Value>(table: Record<Key, Value>, key: string): Value | undefined {
  return Object.hasOwn(table, key) ? table[key as Key] : undefined;
}

function describe(info: PaytmResultInfo): string {
  return `Paytm ${info.resultStatus} ${info.resultCode}: ${info.resultMsg}`;
}

/** A parsed JSON reply's `body`, or null when the reply is not Paytm's `{ head, body }`. */
export function replyBody(reply: unknown): Readonly<Record<string, unknown>> | null {
  return objectOf(objectOf(reply)?.body);
}

/** A parsed JSON reply's `body.resultInfo`, or null when it has none. */
export function readResultInfo(reply: unknown): PaytmResultInfo | null {
  const info = objectOf(replyBody(reply)?.resultInfo);
  const resultStatus = stringOf(info?.resultStatus);
  if (info === null || resultStatus === undefined) return null;
  return {
    resultStatus,
    resultCode: stringOf(info.resultCode) ?? '',
    resultMsg: stringOf(info.resultMsg) ?? '',
  };
}

export function objectOf(value: unknown): Readonly<Record<string, unknown>> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** A non-empty string, or undefined. */
export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
