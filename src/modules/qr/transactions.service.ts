import { PassThrough, type Readable } from 'node:stream';
import type { Db, Executor } from '../../db/database.ts';
import type { QrPaymentOrigin, QrPaymentStatus, UpiApp } from '../../db/types.ts';
import { dateBound } from '../../http/date-bounds.ts';
import { AppError } from '../../http/errors.ts';
import {
  type KeyedReply,
  requireNewKey,
  settleKey,
  settleKeyCall,
  type WithinTransaction,
} from '../../http/idempotency.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { isUuid, randomCode, randomDigits, uuidv7 } from '../../lib/ids.ts';
import { formatMajorUnits, type MinorUnits, toMinorUnits } from '../../lib/money.ts';
import { DEFAULT_TIME_ZONE, isTimeZone } from '../../lib/time-zone.ts';
import { type AuditRow, type AuditService, insertAuditRow } from '../audit/index.ts';
import { type NewEvent, recordEvents } from '../events/record.ts';
import { type MerchantBalanceService, postingRefusal, withRetry } from '../ledger/index.ts';
import { TRANSACTION_CSV_HEADER, transactionCsvLine } from './csv.ts';
import {
  amountAboveMax,
  invalidField,
  invalidStatusTransition,
  qrInactive,
  simulatorDisabled,
  transactionNotFound,
  utrTaken,
} from './errors.ts';
import { presentTransaction } from './present.ts';
import type { QrCodeIdentity, QrCodeRow, QrCodeService } from './service.ts';
import { isVisible, tenantOf } from './service.ts';
import { type Random, type SimulatedPayment, simulatePayment } from './simulation-data.ts';
import { countOf, summarize, type TransactionStats } from './stats.ts';
import * as repo from './transactions.repo.ts';

export type TransactionRow = repo.TransactionRow;

/** The ledger side of a QR payment: credited when it becomes Success, reversed when deleted. */
export type MerchantBalancePort = Pick<
  MerchantBalanceService,
  'creditQrPayment' | 'qrPaymentCreditCall' | 'reverseQrPayment'
>;
export type TransactionDetail = TransactionRow & { statusHistory?: repo.StatusChangeRow[] };

export interface TransactionInput {
  readonly qrId: string;
  readonly amount: number;
  readonly status?: QrPaymentStatus;
  readonly utr?: string;
  readonly timestamp?: string;
  readonly customerInfo?: {
    readonly name?: string | null;
    readonly phone?: string | null;
    readonly upiApp?: UpiApp | null;
  };
}

/** Filters as the API takes them: dates are `YYYY-MM-DD` (a whole day in `tz`) or date-times. */
export interface TransactionQuery {
  readonly qrId?: string;
  readonly status?: QrPaymentStatus;
  readonly startDate?: string;
  readonly endDate?: string;
  readonly tz?: string;
  readonly merchantId?: string;
}

const EXPORT_BATCH_SIZE = 1_000;
const PAYMENT_ID_RANDOM_DIGITS = 15;
/** The only moves a payment's status may make; a Success or Failed payment is final. */
const STATUS_MOVES: Record<QrPaymentStatus, readonly QrPaymentStatus[]> = {
  Pending: ['Success', 'Failed'],
  Success: [],
  Failed: [],
};

export function createTransactionService(deps: {
  db: Db;
  clock: Clock;
  audit: AuditService;
  qrCodes: QrCodeService;
  merchantBalances: MerchantBalancePort;
  /** SIMULATOR_ENABLED: simulated payments are real ledger credits, so production refuses them. */
  simulatorEnabled: boolean;
}) {
  const { db, clock, audit, qrCodes, merchantBalances, simulatorEnabled } = deps;

  async function loadVisible(executor: Executor, principal: Principal, idOrPaymentId: string) {
    const key = isUuid(idOrPaymentId) ? { id: idOrPaymentId } : { paymentId: idOrPaymentId.toUpperCase() };
    const transaction = await repo.findTransaction(executor, key);
    if (transaction === undefined || !isVisible(principal, transaction.merchantId))
      throw transactionNotFound();
    return transaction;
  }

  /**
   * The query as a repository filter, or null when it names a QR code the caller cannot see
   * (an empty result, not an error: it is a filter).
   */
  async function resolveFilter(
    principal: Principal,
    query: TransactionQuery,
  ): Promise<{ filter: repo.TransactionFilter; timeZone: string } | null> {
    const timeZone = query.tz ?? DEFAULT_TIME_ZONE;
    if (!isTimeZone(timeZone)) throw invalidField('tz', 'must be an IANA time zone such as Asia/Kolkata');
    const from =
      query.startDate === undefined ? undefined : dateBound('startDate', query.startDate, timeZone, 'start');
    const to = query.endDate === undefined ? undefined : dateBound('endDate', query.endDate, timeZone, 'end');
    const merchantId = principal.role === 'admin' ? query.merchantId : tenantOf(principal);
    let qrCodeId: string | undefined;
    if (query.qrId !== undefined) {
      try {
        qrCodeId = (await qrCodes.loadVisible(db, principal, query.qrId)).id;
      } catch (error) {
        if (error instanceof AppError && error.statusCode === 404) return null;
        throw error;
      }
    }
    return { filter: { merchantId, qrCodeId, status: query.status, from, to }, timeZone };
  }

  async function countMatching(filter: repo.TransactionFilter): Promise<number> {
    if (filter.from === undefined && filter.to === undefined) {
      return countOf(await repo.sumTotals(db, filter), filter.status);
    }
    const days = await repo.sumByDay(db, filter, 'UTC');
    return days.reduce((sum, day) => sum + countOf(day, filter.status), 0);
  }

  async function listMatching(filter: repo.TransactionFilter, page: PageRequest) {
    const [transactions, totalRecords] = await Promise.all([
      repo.findTransactionPage(db, filter, page),
      countMatching(filter),
    ]);
    return { transactions, pagination: pageInfo(page, transactions.length, totalRecords) };
  }

  /**
   * A use case's transaction, run again on a deadlock or serialization failure: payments, their
   * status moves and the simulator lock rollup rows and ledger accounts of one merchant.
   */
  function inTransaction<T>(run: (trx: Executor) => Promise<T>): Promise<T> {
    return withRetry(() => db.transaction().execute(run));
  }

  /**
   * The payment, its history and audit rows, and its ledger credit (or, for one not Success, the
   * key's settling) in one autocommitted statement; null when the code is gone or not payable.
   */
  async function recordInOneStatement(
    qrCode: QrCodeIdentity,
    payment: PaymentInput,
    actorId: string,
    auditRow: (transaction: TransactionRow) => AuditRow,
    keyed: KeyedReply<TransactionRow> | undefined,
  ): Promise<TransactionRow | null> {
    const now = clock.now();
    const row = paymentRow(qrCode, payment, 'manual', now);
    const idempotency =
      keyed === undefined
        ? undefined
        : { request: keyed.request, statusCode: keyed.statusCode, body: keyed.body(row) };
    const settlement =
      row.status === 'Success'
        ? await merchantBalances.qrPaymentCreditCall(creditOf(row), idempotency)
        : idempotency === undefined
          ? null
          : settleKeyCall(idempotency, now);
    try {
      const inserted = await repo.recordPayment(db, {
        row,
        history: { id: uuidv7(now.getTime()), cause: 'created', actorId },
        audit: auditRow(row),
        event: {
          id: uuidv7(now.getTime()),
          type: paymentEventType(row.status),
          data: presentTransaction(row),
        },
        settlement,
      });
      return inserted ? row : null;
    } catch (error) {
      throw postingRefusal(error) ?? error;
    }
  }

  /** Writes payments with generated identifiers, and their first history rows. */
  async function insertPayments(
    trx: Executor,
    qrCode: QrCodeRow,
    payments: readonly PaymentInput[],
    origin: QrPaymentOrigin,
    actorId: string | null,
    /** For one payment recorded by a request: its key and the reply to store with the payment. */
    keyed?: KeyedReply<TransactionRow>,
  ): Promise<TransactionRow[]> {
    const now = clock.now();
    const rows = payments.map((payment) => paymentRow(qrCode, payment, origin, now));
    // Ledger accounts first, rollup rows (locked by the insert's triggers) second: the order the
    // one-statement path takes, so the two cannot deadlock each other.
    for (const row of rows) {
      const idempotency =
        keyed === undefined
          ? undefined
          : { request: keyed.request, statusCode: keyed.statusCode, body: keyed.body(row) };
      if (row.status === 'Success') {
        await merchantBalances.creditQrPayment(trx, creditOf(row), idempotency);
      } else if (idempotency !== undefined) {
        await settleKey(trx, idempotency, now);
      }
    }
    const inserted = await repo.insertTransactions(trx, rows, {
      cause: origin === 'manual' ? 'created' : origin,
      actorId,
      ids: rows.map(() => uuidv7(now.getTime())),
    });
    await recordEvents(
      trx,
      inserted.map((transaction) => paymentEvent(transaction, now)),
    );
    return inserted;
  }

  return {
    /** Records a payment received through a QR code (manual entry or back-fill). */
    async create(
      principal: Principal,
      input: TransactionInput,
      context: RequestContext,
      keyed?: KeyedReply<TransactionRow>,
    ): Promise<TransactionRow> {
      const amountMinor = toMinorUnits(input.amount);
      if (amountMinor === null || amountMinor < 100n) {
        throw invalidField('amount', 'must be from 1 to 100000 rupees with at most two decimals');
      }
      const now = clock.now();
      const occurredAt = input.timestamp === undefined ? now : new Date(input.timestamp);
      if (Number.isNaN(occurredAt.getTime()))
        throw invalidField('timestamp', 'must be an ISO-8601 date-time');
      if (occurredAt > now) throw invalidField('timestamp', 'must not be in the future');
      const customer = input.customerInfo ?? {};
      const payment: PaymentInput = {
        amountMinor,
        status: input.status ?? 'Success',
        ...(input.utr === undefined ? {} : { utr: input.utr }),
        occurredAt,
        customerName: customer.name === '' ? null : (customer.name ?? null),
        customerPhone: customer.phone ?? null,
        customerUpiApp: customer.upiApp ?? null,
      };
      const recorded = (transaction: TransactionRow) =>
        audit.row(context, {
          action: 'qr_payment.recorded',
          targetType: 'qr_transaction',
          targetId: transaction.id,
          details: { paymentId: transaction.paymentId, qrId: transaction.qrId, utr: transaction.utr },
        });
      try {
        // A code this process has seen: one statement, one round trip (checks under its lock).
        const known = qrCodes.knownIdentity(input.qrId);
        if (known !== undefined && isVisible(principal, known.merchantId)) {
          const transaction = await withRetry(() =>
            recordInOneStatement(known, payment, principal.userId, recorded, keyed),
          );
          if (transaction !== null) return transaction;
        }
        // Otherwise (or when that statement found the code not payable, to say why): a transaction.
        return await inTransaction(async (trx) => {
          if (keyed !== undefined) await requireNewKey(trx, keyed.request, clock.now());
          // Shared lock: the code cannot be deactivated or deleted under a payment being recorded.
          const qrCode = await qrCodes.loadVisible(trx, principal, input.qrId, 'share');
          assertPayable(qrCode, amountMinor);
          const [transaction] = await insertPayments(
            trx,
            qrCode,
            [payment],
            'manual',
            principal.userId,
            keyed,
          );
          if (transaction === undefined) throw new Error('insert returned no row');
          await insertAuditRow(trx, recorded(transaction));
          return transaction;
        });
      } catch (error) {
        if (isUniqueViolation(error, 'qr_transactions_utr_key') && input.utr !== undefined) {
          // The one statement inserts before it checks the key: a retry of an answered request
          // meets its own UTR. The key decides first (replay, 422, 409).
          if (keyed !== undefined) await requireNewKey(db, keyed.request, clock.now());
          throw utrTaken(input.utr);
        }
        throw error;
      }
    },

    async list(
      principal: Principal,
      query: TransactionQuery,
      page: PageRequest,
    ): Promise<{ transactions: TransactionRow[]; pagination: PageInfo }> {
      const resolved = await resolveFilter(principal, query);
      if (resolved === null) return { transactions: [], pagination: pageInfo(page, 0, 0) };
      return listMatching(resolved.filter, page);
    },

    /** A QR code's payments: 404 when the code is not the caller's. */
    async listForQrCode(
      principal: Principal,
      idOrQrId: string,
      query: Omit<TransactionQuery, 'qrId' | 'merchantId'>,
      page: PageRequest,
    ): Promise<{ transactions: TransactionRow[]; pagination: PageInfo }> {
      const qrCode = await qrCodes.loadVisible(db, principal, idOrQrId);
      const resolved = await resolveFilter(principal, { ...query, merchantId: qrCode.merchantId });
      if (resolved === null) throw new Error('filter without a QR code cannot be empty');
      return listMatching({ ...resolved.filter, merchantId: qrCode.merchantId, qrCodeId: qrCode.id }, page);
    },

    async get(principal: Principal, idOrPaymentId: string): Promise<TransactionDetail> {
      const transaction = await loadVisible(db, principal, idOrPaymentId);
      return { ...transaction, statusHistory: await repo.findStatusHistory(db, transaction.id) };
    },

    /** Pending -> Success or Failed, the only moves; each is kept in the payment's history. */
    async changeStatus(
      principal: Principal,
      idOrPaymentId: string,
      to: QrPaymentStatus,
      context: RequestContext,
    ): Promise<TransactionDetail> {
      return inTransaction(async (trx) => {
        const before = await loadVisible(trx, principal, idOrPaymentId);
        if (!STATUS_MOVES[before.status].includes(to)) throw invalidStatusTransition(before.status, to);
        const now = clock.now();
        const updated = await repo.transitionStatus(trx, {
          id: before.id,
          from: before.status,
          to,
          cause: 'manual',
          actorId: principal.userId,
          historyId: uuidv7(now.getTime()),
          at: now,
        });
        // Lost a race with another move: the status is no longer the one checked above.
        if (updated === undefined) throw invalidStatusTransition(before.status, to);
        if (to === 'Success') await merchantBalances.creditQrPayment(trx, creditOf(updated));
        await recordEvents(trx, [paymentEvent(updated, now)]);
        await audit.record(trx, context, {
          action: 'qr_payment.status_changed',
          targetType: 'qr_transaction',
          targetId: before.id,
          details: { paymentId: before.paymentId, from: before.status, to },
        });
        return { ...updated, statusHistory: await repo.findStatusHistory(trx, before.id) };
      });
    },

    async remove(principal: Principal, idOrPaymentId: string, context: RequestContext): Promise<string> {
      return inTransaction(async (trx) => {
        const transaction = await loadVisible(trx, principal, idOrPaymentId);
        // What the merchant was credited goes back first (422 if it has already been paid out).
        if (transaction.status === 'Success') await merchantBalances.reverseQrPayment(trx, transaction.id);
        await repo.deleteTransaction(trx, transaction.id);
        await audit.record(trx, context, {
          action: 'qr_payment.deleted',
          targetType: 'qr_transaction',
          targetId: transaction.id,
          details: {
            paymentId: transaction.paymentId,
            qrId: transaction.qrId,
            status: transaction.status,
            amount: formatMajorUnits(transaction.amountMinor),
            utr: transaction.utr,
          },
        });
        return transaction.paymentId;
      });
    },

    async stats(principal: Principal, query: TransactionQuery): Promise<TransactionStats> {
      const resolved = await resolveFilter(principal, query);
      if (resolved === null) return summarize([]);
      const days = await repo.sumByDay(db, resolved.filter, resolved.timeZone);
      return summarize(days, resolved.filter.status);
    },

    /**
     * The filtered list as CSV, newest first, read in keyset batches inside one read-only
     * snapshot: memory stays flat for a million rows and the file is one consistent moment.
     */
    async exportCsv(principal: Principal, query: TransactionQuery): Promise<Readable> {
      const resolved = await resolveFilter(principal, query);
      const output = new PassThrough();
      const write = async (chunk: string): Promise<boolean> => {
        if (output.destroyed) return false;
        if (output.write(chunk)) return true;
        // Wait for the client to read, or to go away (then stop and release the connection).
        await new Promise((resume) => {
          output.once('drain', resume);
          output.once('close', resume);
        });
        return !output.destroyed;
      };
      db.transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (trx) => {
          if (!(await write(TRANSACTION_CSV_HEADER)) || resolved === null) return;
          let after: { occurredAt: Date; id: string } | null = null;
          for (;;) {
            const batch = await repo.findTransactionBatch(trx, resolved.filter, after, EXPORT_BATCH_SIZE);
            if (batch.length > 0 && !(await write(batch.map(transactionCsvLine).join('')))) return;
            if (batch.length < EXPORT_BATCH_SIZE) return;
            const last = batch[batch.length - 1] as TransactionRow;
            after = { occurredAt: last.occurredAt, id: last.id };
          }
        })
        .then(
          () => output.end(),
          (error: unknown) => output.destroy(error instanceof Error ? error : new Error(String(error))),
        );
      return output;
    },

    /** `count` realistic payments at once, for demos (not capped like the background simulator). */
    async simulate(
      principal: Principal,
      qrId: string,
      count: number,
      context: RequestContext,
      random: Random,
      within?: WithinTransaction<TransactionRow[]>,
    ): Promise<TransactionRow[]> {
      if (!simulatorEnabled) throw simulatorDisabled();
      return inTransaction(async (trx) => {
        const qrCode = await qrCodes.loadVisible(trx, principal, qrId, 'share');
        if (qrCode.status !== 'Active') throw qrInactive(qrCode.qrId);
        const now = clock.now();
        const payments = Array.from({ length: count }, () => ({
          ...simulatePayment(random, qrCode),
          occurredAt: now,
        }));
        const rows = await insertPayments(trx, qrCode, payments, 'simulate_request', principal.userId);
        await audit.record(trx, context, {
          action: 'qr_payment.simulated',
          targetType: 'qr_code',
          targetId: qrCode.id,
          details: { qrId: qrCode.qrId, count: rows.length },
        });
        await within?.(trx, rows);
        return rows;
      });
    },

    /**
     * Payments made up by the background simulator (inside its claiming transaction) or by the
     * seed script: no actor, no audit entry, each with its own time.
     */
    async recordGeneratedPayments(
      trx: Executor,
      qrCode: QrCodeRow,
      payments: readonly (SimulatedPayment & { occurredAt: Date })[],
      origin: 'simulator' | 'seed',
    ): Promise<TransactionRow[]> {
      return insertPayments(trx, qrCode, payments, origin, null);
    },
  };
}

export type TransactionService = ReturnType<typeof createTransactionService>;

function creditOf(transaction: TransactionRow) {
  return {
    transactionId: transaction.id,
    paymentId: transaction.paymentId,
    merchantId: transaction.merchantId,
    amountMinor: transaction.amountMinor,
    currency: transaction.currency,
  };
}

/** A payment as recorded (manually, by the simulator, or in bulk), before its identifiers. */
type PaymentInput = Omit<SimulatedPayment, 'customerName' | 'customerPhone' | 'customerUpiApp'> & {
  utr?: string;
  occurredAt: Date;
  customerName: string | null;
  customerPhone: string | null;
  customerUpiApp: UpiApp | null;
};

/** QR payments report `payment.*` events like gateway payments, with `data.source: "qr"`. */
function paymentEventType(
  status: QrPaymentStatus,
): 'payment.succeeded' | 'payment.failed' | 'payment.pending' {
  return status === 'Success'
    ? 'payment.succeeded'
    : status === 'Failed'
      ? 'payment.failed'
      : 'payment.pending';
}

function paymentEvent(transaction: TransactionRow, now: Date): NewEvent {
  return {
    type: paymentEventType(transaction.status),
    merchantId: transaction.merchantId,
    data: presentTransaction(transaction),
    createdAt: now,
  };
}

/** QR payments are UPI, in rupees (the column's only allowed value). */
const QR_CURRENCY = 'INR';

function paymentRow(
  qrCode: QrCodeIdentity,
  payment: PaymentInput,
  origin: QrPaymentOrigin,
  now: Date,
): TransactionRow {
  return {
    id: uuidv7(now.getTime()),
    paymentId: newPaymentId(now),
    qrCodeId: qrCode.id,
    qrId: qrCode.qrId,
    merchantId: qrCode.merchantId,
    amountMinor: payment.amountMinor,
    currency: QR_CURRENCY,
    status: payment.status,
    utr: payment.utr ?? randomCode(12),
    occurredAt: payment.occurredAt,
    customerName: payment.customerName,
    customerPhone: payment.customerPhone,
    customerUpiApp: payment.customerUpiApp,
    origin,
    createdAt: now,
    updatedAt: now,
  };
}

function assertPayable(qrCode: QrCodeRow, amountMinor: MinorUnits): void {
  if (qrCode.status !== 'Active') throw qrInactive(qrCode.qrId);
  if (qrCode.maxAmountMinor > 0n && amountMinor > qrCode.maxAmountMinor) {
    throw amountAboveMax(formatMajorUnits(qrCode.maxAmountMinor));
  }
}

/**
 * `PAY` + the millisecond clock + 15 random digits. A bulk insert writes thousands in one
 * millisecond, so the random part must be wide: 2,000 ids share a millisecond with odds of a
 * clash about 2e-9. The column is UNIQUE all the same.
 */
function newPaymentId(now: Date): string {
  return `PAY${now.getTime()}${randomDigits(PAYMENT_ID_RANDOM_DIGITS)}`;
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === '23505' && pgError.constraint === constraint;
}
