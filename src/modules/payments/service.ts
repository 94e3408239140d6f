import type { Db, Executor } from '../../db/database.ts';
import type { PaymentMethodName, PaymentStatus } from '../../db/types.ts';
import { periodOf } from '../../http/date-bounds.ts';
import { conflict, invalidField, notFound, serviceUnavailable, unprocessable } from '../../http/errors.ts';
import {
  type KeyedReply,
  keyRefusal,
  requireNewKey,
  requireNewKeyCall,
  settleKey,
  settleKeyCall,
  type WithinTransaction,
} from '../../http/idempotency.ts';
import type { Principal } from '../../http/principal.ts';
import type { Clock } from '../../lib/clock.ts';
import { isUuid, uuidv7 } from '../../lib/ids.ts';
import { type MinorUnits, toMinorUnits } from '../../lib/money.ts';
import type { AlertService } from '../alerts/index.ts';
import { recordEvents } from '../events/record.ts';
import type {
  AttemptErrorCode,
  AttemptOutcome,
  NextAction,
  PayerDevice,
  PaymentCustomer,
  RefundStatusOutcome,
} from '../gateways/connectors/connector.ts';
import { feeMinor, type GatewayService, isRetryable, type LiveGateway } from '../gateways/index.ts';
import { type MerchantBalanceService, withRetry } from '../ledger/index.ts';
import * as repo from './repo.ts';
import { canMove } from './transitions.ts';

export interface PaymentSettings {
  /** Gateways one payment may try (the first plus failovers). */
  readonly attemptsMax: number;
  /** A payment still open this long after it was made expires. */
  readonly ttlMs: number;
  readonly currencies: readonly { readonly code: string; readonly scale: number }[];
  /** This server's public address, for the webhook URL handed to gateways. */
  readonly publicBaseUrl: string;
}

/**
 * Per-payment limits of each method, in minor units: UPI follows NPCI's per-transaction limit
 * (₹1,00,000); cards and netbanking what Indian gateways commonly accept. A gateway's or the
 * merchant's own limit may be lower.
 */
export const METHOD_LIMITS_MINOR: Readonly<Record<PaymentMethodName, { min: bigint; max: bigint }>> = {
  upi_intent: { min: 100n, max: 10_000_000n },
  upi_collect: { min: 100n, max: 10_000_000n },
  upi_qr: { min: 100n, max: 10_000_000n },
  card: { min: 100n, max: 100_000_000n },
  netbanking: { min: 100n, max: 1_000_000_000n },
};

export interface PayInput {
  readonly amount: number;
  readonly currency: string;
  readonly orderId: string;
  readonly method: PaymentMethodName;
  readonly customer: PaymentCustomer;
  readonly description?: string;
  readonly returnUrl?: string;
  readonly metadata?: Record<string, unknown>;
  /** The payer's device as the merchant's server forwarded it: passed to the gateways, not stored. */
  readonly payer?: PayerDevice;
}

/** One try at a gateway, as it happened. */
export interface Try {
  readonly attempt: repo.AttemptRow;
  readonly gateway: LiveGateway;
  readonly outcome: AttemptOutcome;
}

export interface RefundView extends PaymentView {
  readonly refund: repo.RefundRow;
}

export interface PaymentView {
  readonly payment: repo.PaymentRow;
  readonly attempts: readonly (repo.AttemptRow & { readonly gatewayName: string })[];
}

/**
 * A pending refund is asked about again once nothing was heard of it for this long: its refund
 * call and the gateway's webhook get the first minute.
 */
export const REFUND_RECHECK_AFTER_MS = 60_000;

/** Answers that say the gateway itself is out of reach: its other refunds wait for the next run. */
const GATEWAY_DOWN_CODES: ReadonlySet<AttemptErrorCode> = new Set<AttemptErrorCode>([
  'GATEWAY_TIMEOUT',
  'GATEWAY_UNAVAILABLE',
  'AUTHENTICATION_FAILED',
]);

/** What one refund check did: gateway questions asked, and what their answers did. */
export interface RefundCheckSummary {
  readonly asked: number;
  /** Settled succeeded or failed (money moved or the debit was reversed). */
  readonly settled: number;
  /** Still pending at the gateway, or settled by a webhook meanwhile. */
  readonly pending: number;
  /** No answer (or a success for another amount): left as it was. */
  readonly unanswered: number;
}

export const paymentNotFound = () => notFound('Payment', 'PAYMENT_NOT_FOUND');
const orderAlreadyPaid = (orderId: string) =>
  conflict('ORDER_ALREADY_PAID', `Order ${orderId} is already paid`);

/** The transactions list's filter, shared with QR payments. */
export interface TransactionListQuery {
  readonly status?: 'Success' | 'Failed' | 'Pending' | undefined;
  readonly startDate?: string | undefined;
  readonly endDate?: string | undefined;
  readonly tz?: string | undefined;
  readonly merchantId?: string | undefined;
}

const STATUSES_BY_QR_STATUS: Readonly<Record<'Success' | 'Failed' | 'Pending', readonly PaymentStatus[]>> = {
  Success: ['succeeded', 'partially_refunded', 'refunded'],
  Failed: ['failed', 'expired'],
  Pending: ['created', 'pending'],
};

export function createPaymentService(deps: {
  db: Db;
  clock: Clock;
  gateways: GatewayService;
  merchantBalances: MerchantBalanceService;
  alerts: AlertService;
  settings: PaymentSettings;
}) {
  const { db, clock, gateways, merchantBalances, alerts, settings } = deps;
  const currencies = new Map(settings.currencies.map((currency) => [currency.code, currency]));

  function money(amount: number, currencyCode: string): { currency: string; amountMinor: MinorUnits } {
    const currency = currencies.get(currencyCode);
    if (currency === undefined) {
      throw invalidField('currency', `must be one of ${[...currencies.keys()].join(', ')}`);
    }
    const amountMinor = toMinorUnits(amount, currency.scale);
    if (amountMinor === null || amountMinor <= 0n) {
      throw invalidField(
        'amount',
        `must be positive with at most ${currency.scale} decimals for ${currency.code}`,
      );
    }
    return { currency: currency.code, amountMinor };
  }

  /** Amount rules that need the database: the merchant's own limit, and a registered order's amount. */
  async function checkLimits(merchantId: string, input: PayInput, amountMinor: bigint, currency: string) {
    // UPI and netbanking are Indian rails; the limits below are in paise-like units (two decimals).
    const indianRail = input.method !== 'card';
    if ((indianRail && currency !== 'INR') || currencies.get(currency)?.scale !== 2) {
      throw unprocessable('METHOD_CURRENCY_UNSUPPORTED', `${input.method} does not take ${currency}`);
    }
    const limits = METHOD_LIMITS_MINOR[input.method];
    if (amountMinor < limits.min || amountMinor > limits.max) {
      throw unprocessable(
        'AMOUNT_OUT_OF_RANGE',
        `${input.method} takes ${limits.min} to ${limits.max} minor units`,
        {
          minMinor: limits.min.toString(),
          maxMinor: limits.max.toString(),
        },
      );
    }
    const merchantMax = await gateways.merchantPaymentLimit(merchantId);
    if (merchantMax !== null && amountMinor > merchantMax) {
      throw unprocessable('AMOUNT_OVER_MERCHANT_LIMIT', 'The amount is over your per-payment limit', {
        maxMinor: merchantMax.toString(),
      });
    }
  }

  /**
   * A payment for an order registered earlier must be for its amount. Checked before a gateway
   * across the network is called; a payment decided in the process checks it in its statement.
   */
  async function checkOrder(merchantId: string, input: PayInput, amountMinor: bigint, currency: string) {
    const order = await repo.findOrder(db, merchantId, input.orderId);
    if (order !== undefined && (order.amountMinor !== amountMinor || order.currency !== currency)) {
      throw unprocessable('AMOUNT_MISMATCH', `Order ${input.orderId} was registered for a different amount`, {
        orderAmountMinor: order.amountMinor.toString(),
        orderCurrency: order.currency,
      });
    }
  }

  /** What an attempt told of its gateway, for the circuit breaker and the success-rate router. */
  function recordTry(made: Try, method: PaymentMethodName): void {
    const { outcome } = made;
    gateways.recordAttempt(
      made.gateway.id,
      method,
      outcome.status !== 'failed'
        ? 'succeeded'
        : isRetryable(outcome.errorCode)
          ? 'gateway_failure'
          : 'declined',
    );
  }

  /** Tries the ranked gateways in turn until one succeeds, leaves it pending, or fails for good. */
  async function attemptAll(
    payment: repo.PaymentRow,
    ranked: readonly LiveGateway[],
    options: {
      beforeCall: (attempt: repo.AttemptRow) => Promise<void>;
      /** Tell the circuit and the success rate at once, rather than after the payment commits. */
      recordNow: boolean;
      /** Not on the payment row: each gateway is told it from the request. */
      payer: PayerDevice | undefined;
    },
  ): Promise<Try[]> {
    const tries: Try[] = [];
    for (const gateway of ranked) {
      if (tries.length >= settings.attemptsMax) break;
      // Its circuit opened since routing, or its half-open trial is taken.
      if (!gateways.tryAcquire(gateway.id)) continue;
      const startedAt = clock.now();
      const attempt: repo.AttemptRow = {
        id: uuidv7(startedAt.getTime()),
        paymentId: payment.id,
        gatewayId: gateway.id,
        attemptNumber: tries.length + 1,
        status: 'pending',
        gatewayReference: null,
        errorCode: null,
        errorMessage: null,
        retryable: null,
        latencyMs: null,
        createdAt: startedAt,
        updatedAt: startedAt,
      };
      await options.beforeCall(attempt);
      const started = performance.now();
      const outcome = await gateway.connector.initiate(gateway.context, {
        paymentId: payment.id,
        attemptId: attempt.id,
        orderId: payment.orderId,
        amountMinor: payment.amountMinor,
        currency: payment.currency,
        method: payment.method,
        customer: payment.customer as PaymentCustomer,
        ...(payment.description === null ? {} : { description: payment.description }),
        ...(payment.returnUrl === null ? {} : { returnUrl: payment.returnUrl }),
        notifyUrl: `${settings.publicBaseUrl}/api/v1/webhooks/gateways/${gateway.id}`,
        ...(options.payer === undefined ? {} : { payer: options.payer }),
      });
      const latencyMs = Math.round(performance.now() - started);
      const made: Try = {
        attempt: settledAttempt(attempt, outcome, latencyMs, clock.now()),
        gateway,
        outcome,
      };
      if (options.recordNow) recordTry(made, payment.method);
      tries.push(made);
      if (outcome.status !== 'failed' || !outcome.retryable) break;
    }
    return tries;
  }

  /**
   * Writes what the tries decided, in the caller's transaction: the attempts, the payment's move
   * from `created`, its history, its event, and on success the ledger posting.
   */
  async function recordDecision(
    trx: Executor,
    payment: repo.PaymentRow,
    tries: readonly Try[],
  ): Promise<repo.PaymentRow> {
    const now = clock.now();
    await repo.upsertAttempts(
      trx,
      tries.map((one) => one.attempt),
    );
    const last = tries.at(-1);
    const change = decisionOf(payment, last);
    const moved = await repo.movePayment(trx, payment.id, 'created', change, now);
    if (moved === undefined) throw new Error(`payment ${payment.id} left created while its attempts ran`);
    await repo.insertHistory(trx, [
      {
        id: uuidv7(now.getTime()),
        paymentId: payment.id,
        fromStatus: 'created',
        toStatus: moved.status,
        cause: 'initiate',
        attemptId: last?.attempt.id ?? null,
        createdAt: now,
      },
    ]);
    if (moved.status === 'succeeded') await credit(trx, moved);
    await recordEvents(trx, [paymentEvent(moved, now)]);
    return moved;
  }

  /**
   * A payment whose tries are all done (in-process gateways), written in one statement: its row
   * in its final status, attempts, history, event, and the ledger credit or the key's reply alone.
   */
  async function recordDecided(
    payment: repo.PaymentRow,
    input: PayInput,
    tries: readonly Try[],
    keyed: KeyedReply<PaymentView>,
  ): Promise<PaymentView> {
    const now = clock.now();
    const last = tries.at(-1);
    const decided: repo.PaymentRow = { ...payment, ...decisionOf(payment, last), updatedAt: now };
    const result: PaymentView = {
      payment: decided,
      attempts: tries.map((made) => ({ ...made.attempt, gatewayName: made.gateway.name })),
    };
    const keyAndReply = { request: keyed.request, statusCode: keyed.statusCode, body: keyed.body(result) };
    const settlement =
      decided.status === 'succeeded'
        ? await merchantBalances.gatewayPaymentCreditCall(creditOf(decided), keyAndReply)
        : settleKeyCall(keyAndReply, now);
    const event = paymentEvent(decided, now);
    let recorded: boolean;
    try {
      recorded = await withRetry(() =>
        repo.recordDecidedPayment(db, {
          payment: decided,
          attempts: tries.map((made) => made.attempt),
          history: [
            historyRow(payment.id, null, 'created', null, payment.createdAt),
            historyRow(payment.id, 'created', decided.status, last?.attempt.id ?? null, now),
          ],
          event: { id: uuidv7(now.getTime()), type: event.type, data: event.data },
          keyCheck: requireNewKeyCall(keyed.request, now),
          settlement,
        }),
      );
    } catch (error) {
      const refusal = keyRefusal(error);
      if (refusal !== null) throw refusal;
      if ((error as { code?: string }).code !== '23505') throw error;
      // Another payment for the order committed while this one waited on it: paid, or in flight.
      if (await repo.orderIsPaid(db, payment.merchantId, payment.orderId))
        throw orderAlreadyPaid(payment.orderId);
      throw conflict('PAYMENT_IN_PROGRESS', `A payment for order ${payment.orderId} is already in progress`);
    }
    if (!recorded) {
      // Unless this very request was answered already (a replay): the order was registered for
      // another amount, or is paid.
      await db.transaction().execute((trx) => requireNewKey(trx, keyed.request, now));
      await checkOrder(payment.merchantId, input, payment.amountMinor, payment.currency);
      throw orderAlreadyPaid(payment.orderId);
    }
    return result;
  }

  function historyRow(
    paymentId: string,
    fromStatus: PaymentStatus | null,
    toStatus: PaymentStatus,
    attemptId: string | null,
    at: Date,
  ): repo.HistoryRow {
    return {
      id: uuidv7(at.getTime()),
      paymentId,
      fromStatus,
      toStatus,
      cause: 'initiate',
      attemptId,
      createdAt: at,
    };
  }

  function creditOf(payment: repo.PaymentRow) {
    return {
      paymentId: payment.id,
      merchantId: payment.merchantId,
      amountMinor: payment.amountMinor,
      feeMinor: payment.feeMinor,
      currency: payment.currency,
    };
  }

  async function credit(trx: Executor, payment: repo.PaymentRow): Promise<void> {
    await merchantBalances.creditGatewayPayment(trx, creditOf(payment));
  }

  async function view(executor: Executor, payment: repo.PaymentRow): Promise<PaymentView> {
    return { payment, attempts: await repo.attemptsOf(executor, [payment.id]) };
  }

  /** The payment row as first written, `created`, before any gateway is tried. */
  function newPayment(
    merchantId: string,
    input: PayInput,
    amountMinor: bigint,
    currency: string,
  ): repo.PaymentRow {
    const now = clock.now();
    return {
      id: uuidv7(now.getTime()),
      merchantId,
      orderId: input.orderId,
      amountMinor,
      currency,
      method: input.method,
      status: 'created',
      customer: input.customer,
      description: input.description ?? null,
      returnUrl: input.returnUrl ?? null,
      metadata: input.metadata ?? {},
      gatewayId: null,
      feeMinor: 0n,
      refundedMinor: 0n,
      nextAction: null,
      errorCode: null,
      errorMessage: null,
      expiresAt: new Date(now.getTime() + settings.ttlMs),
      succeededAt: null,
      createdAt: now,
      updatedAt: now,
    };
  }

  /** The payment's first rows, after the key and the order's state are checked. */
  async function start(
    trx: Executor,
    payment: repo.PaymentRow,
    keyed: KeyedReply<PaymentView>,
  ): Promise<void> {
    await requireNewKey(trx, keyed.request, payment.createdAt);
    const alreadyPaid = () => orderAlreadyPaid(payment.orderId);
    if (await repo.orderIsPaid(trx, payment.merchantId, payment.orderId)) throw alreadyPaid();
    try {
      await repo.insertPayment(trx, payment);
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      // Another payment for the order committed while this one waited on it: paid, or in flight.
      if (await repo.orderIsPaid(db, payment.merchantId, payment.orderId)) throw alreadyPaid();
      throw conflict('PAYMENT_IN_PROGRESS', `A payment for order ${payment.orderId} is already in progress`);
    }
    await repo.insertHistory(trx, [
      {
        id: uuidv7(payment.createdAt.getTime()),
        paymentId: payment.id,
        fromStatus: null,
        toStatus: 'created',
        cause: 'initiate',
        attemptId: null,
        createdAt: payment.createdAt,
      },
    ]);
  }

  /** Whether what a gateway now says moves the payment (by the transition table). */
  function wouldMove(payment: repo.PaymentRow, to: PaymentStatus): boolean {
    return payment.status !== to && canMove(payment.status, to);
  }

  /**
   * Moves a payment on what a gateway now says (a verify call or a webhook), in the caller's
   * transaction; null when the move is not allowed (a late `pending` after `succeeded`).
   */
  async function applyGatewayStatus(
    trx: Executor,
    payment: repo.PaymentRow,
    to: Extract<PaymentStatus, 'pending' | 'succeeded' | 'failed'>,
    detail: { attemptId: string | null; cause: string; errorCode?: string; errorMessage?: string },
  ): Promise<repo.PaymentRow | null> {
    if (!wouldMove(payment, to)) return null;
    const now = clock.now();
    const moved = await repo.movePayment(
      trx,
      payment.id,
      payment.status,
      {
        status: to,
        ...(to === 'succeeded'
          ? {
              succeededAt: now,
              errorCode: null,
              errorMessage: null,
              lateSuccess: payment.status === 'expired' || payment.status === 'failed',
            }
          : {}),
        ...(to === 'failed'
          ? { errorCode: detail.errorCode ?? 'UNKNOWN', errorMessage: detail.errorMessage ?? null }
          : {}),
      },
      now,
    );
    if (moved === undefined) return null;
    await repo.insertHistory(trx, [
      {
        id: uuidv7(now.getTime()),
        paymentId: payment.id,
        fromStatus: payment.status,
        toStatus: to,
        cause: detail.cause,
        attemptId: detail.attemptId,
        createdAt: now,
      },
    ]);
    if (to === 'succeeded') {
      await credit(trx, moved);
      if (payment.status === 'expired' || payment.status === 'failed') {
        await alerts.raise(trx, {
          kind: 'late_payment_success',
          subject: payment.id,
          message: `Payment ${payment.id} (order ${payment.orderId}) succeeded after it was ${payment.status}`,
          details: { paymentId: payment.id, merchantId: payment.merchantId, orderId: payment.orderId },
        });
      }
    }
    await recordEvents(trx, [paymentEvent(moved, now)]);
    return moved;
  }

  /** A refund the gateway made: the payment's refunded total, its status, the event (posted when asked). */
  async function refunded(
    trx: Executor,
    payment: repo.PaymentRow,
    refund: repo.RefundRow,
  ): Promise<repo.PaymentRow> {
    const now = clock.now();
    const refundedMinor = payment.refundedMinor + refund.amountMinor;
    const to: PaymentStatus = refundedMinor === payment.amountMinor ? 'refunded' : 'partially_refunded';
    if (!canMove(payment.status, to)) throw new Error(`a ${payment.status} payment cannot become ${to}`);
    const moved = await repo.movePayment(trx, payment.id, payment.status, { status: to, refundedMinor }, now);
    if (moved === undefined) throw new Error(`payment ${payment.id} moved under its lock`);
    await repo.insertHistory(trx, [
      {
        id: uuidv7(now.getTime()),
        paymentId: payment.id,
        fromStatus: payment.status,
        toStatus: to,
        cause: 'refund',
        attemptId: null,
        createdAt: now,
      },
    ]);
    await recordEvents(trx, [paymentEvent(moved, now)]);
    return moved;
  }

  /**
   * Settles a refund the gateway had left pending, on its refund event or its answer to the
   * refund check, in the caller's transaction: a success moves the payment (the money left the
   * merchant when it was asked for), a failure reverses that debit. The payment row is locked
   * first and the refund moves only from pending, so a webhook and the check arriving together
   * settle it once. False when there was nothing to settle.
   */
  async function settleRefundFromGateway(
    trx: Executor,
    refund: repo.RefundRow,
    outcome: { status: 'succeeded' | 'failed'; errorCode?: string; errorMessage?: string },
  ): Promise<boolean> {
    const payment = await repo.findPayment(trx, refund.paymentId, null, { forUpdate: true });
    if (payment === undefined) return false;
    const settled = await repo.settleRefund(
      trx,
      refund.id,
      {
        status: outcome.status,
        gatewayReference: refund.gatewayReference,
        errorCode: outcome.status === 'failed' ? (outcome.errorCode ?? 'UNKNOWN') : null,
        errorMessage: outcome.status === 'failed' ? (outcome.errorMessage ?? null) : null,
      },
      clock.now(),
    );
    if (settled === undefined) return false;
    if (settled.status === 'failed') await merchantBalances.reverseGatewayRefund(trx, settled.id);
    else await refunded(trx, payment, settled);
    return true;
  }

  /**
   * What the gateway said of a pending refund, applied: a decision settles it (one transaction);
   * a plain `pending` is noted (the refund goes behind the others); no answer, or a success for
   * another amount than asked, changes nothing.
   */
  async function applyRefundStatus(
    refund: repo.RefundToCheck,
    outcome: RefundStatusOutcome,
  ): Promise<'settled' | 'pending' | 'unanswered'> {
    if (outcome.status === 'pending') {
      if (outcome.unanswered !== undefined) return 'unanswered';
      await repo.notePendingRefund(db, refund.id, clock.now());
      return 'pending';
    }
    if (
      outcome.status === 'succeeded' &&
      outcome.amountMinor !== undefined &&
      outcome.amountMinor !== refund.amountMinor
    ) {
      // Money moved at the gateway that our books do not match: nothing is settled on it, and
      // the alert (one while it is open) asks someone to reconcile it with the gateway.
      await alerts.raise(db, {
        kind: 'refund_amount_mismatch',
        subject: refund.id,
        message: `Refund ${refund.id} of payment ${refund.paymentId}: the gateway reports ${outcome.amountMinor} refunded, ${refund.amountMinor} was asked (minor units)`,
        details: {
          refundId: refund.id,
          paymentId: refund.paymentId,
          merchantId: refund.merchantId,
          askedMinor: refund.amountMinor.toString(),
          reportedMinor: outcome.amountMinor.toString(),
        },
      });
      return 'unanswered';
    }
    const decision =
      outcome.status === 'succeeded'
        ? { status: 'succeeded' as const }
        : { status: 'failed' as const, errorCode: outcome.errorCode, errorMessage: outcome.errorMessage };
    const settled = await withRetry(() =>
      db.transaction().execute((trx) => settleRefundFromGateway(trx, refund, decision)),
    );
    // Not settled here: a webhook settled it first. Either way it is no longer pending.
    return settled ? 'settled' : 'pending';
  }

  return {
    /**
     * Initiates a payment. Gateways inside the process (the sandbox) are tried first and everything
     * is written in one transaction. For a gateway across the network, the payment is written
     * first (so a double click meets it, and a crash leaves a trace the expiry sweep ends), each
     * attempt is written before its call, and the outcome in a last transaction.
     */
    async pay(principal: Principal, input: PayInput, keyed: KeyedReply<PaymentView>): Promise<PaymentView> {
      const merchantId = requireMerchant(principal);
      const { currency, amountMinor } = money(input.amount, input.currency);
      await checkLimits(merchantId, input, amountMinor, currency);
      const route = await gateways.route(merchantId, input.method, amountMinor);
      if (!route.ok) {
        throw unprocessable('NO_ELIGIBLE_GATEWAY', 'No gateway can take this payment now', {
          skipped: route.skipped,
        });
      }
      const payment = newPayment(merchantId, input, amountMinor, currency);
      const settle = async (trx: Executor, decided: repo.PaymentRow) => {
        const result = await view(trx, decided);
        await settleKey(
          trx,
          { request: keyed.request, statusCode: keyed.statusCode, body: keyed.body(result) },
          clock.now(),
        );
        return result;
      };
      if (route.gateways.every((gateway) => gateway.connectorName === 'sandbox')) {
        // In-process attempts count only once their payment is written: a replay or a losing
        // double click, refused by the statement, tried nothing as far as the gateways know.
        const tries = await attemptAll(payment, route.gateways, {
          beforeCall: async () => {},
          recordNow: false,
          payer: input.payer,
        });
        const result = await recordDecided(payment, input, tries, keyed);
        for (const made of tries) recordTry(made, payment.method);
        return result;
      }
      await checkOrder(merchantId, input, amountMinor, currency);
      await db.transaction().execute((trx) => start(trx, payment, keyed));
      const tries = await attemptAll(payment, route.gateways, {
        beforeCall: (attempt) => repo.insertAttempt(db, attempt),
        recordNow: true,
        payer: input.payer,
      });
      return db.transaction().execute(async (trx) => settle(trx, await recordDecision(trx, payment, tries)));
    },

    async registerOrder(
      principal: Principal,
      input: { orderId: string; amount: number; currency: string },
      within?: WithinTransaction<repo.OrderRow>,
    ) {
      const merchantId = requireMerchant(principal);
      const { currency, amountMinor } = money(input.amount, input.currency);
      return db.transaction().execute(async (trx) => {
        const order = await repo.insertOrder(trx, {
          id: uuidv7(clock.now().getTime()),
          merchantId,
          orderId: input.orderId,
          amountMinor,
          currency,
          createdAt: clock.now(),
        });
        if (order === undefined)
          throw conflict('ORDER_EXISTS', `Order ${input.orderId} is already registered`);
        await within?.(trx, order);
        return order;
      });
    },

    async get(principal: Principal, id: string): Promise<PaymentView & { history: repo.HistoryRow[] }> {
      const payment = await repo.findPayment(db, id, scopeOf(principal));
      if (payment === undefined) throw paymentNotFound();
      const [attempts, history] = await Promise.all([repo.attemptsOf(db, [id]), repo.historyOf(db, id)]);
      return { payment, attempts, history };
    },

    applyGatewayStatus,
    wouldMove,

    settleRefundFromGateway,

    /**
     * Asks the gateways about refunds they left pending (queued) and settles those they have
     * decided, as their refund webhooks would: `settle_pending_refunds` runs it every few minutes.
     * Each refund is one question and, when the gateway decided it, one transaction, which
     * settles it only if no webhook did meanwhile (the payment row is locked, the refund moved
     * only from pending). A gateway that does not answer leaves its refunds for the next run.
     */
    async settlePendingRefunds(batchSizeMax: number): Promise<RefundCheckSummary> {
      const heardBefore = new Date(clock.now().getTime() - REFUND_RECHECK_AFTER_MS);
      const due = await repo.refundsToCheck(db, heardBefore, batchSizeMax);
      const summary = { asked: 0, settled: 0, pending: 0, unanswered: 0 };
      const unreachable = new Set<string>();
      const errors: unknown[] = [];
      for (const refund of due) {
        if (unreachable.has(refund.gatewayId)) continue;
        const gateway = await gateways.liveGateway(refund.gatewayId);
        if (gateway === undefined) continue;
        summary.asked += 1;
        try {
          const outcome = await gateway.connector.fetchRefundStatus(gateway.context, {
            refundId: refund.id,
            refundReference: refund.gatewayReference,
            paymentId: refund.paymentId,
            attemptId: refund.attemptId,
            paymentReference: refund.paymentReference,
            amountMinor: refund.amountMinor,
            currency: refund.currency,
          });
          const unanswered = outcome.status === 'pending' ? outcome.unanswered : undefined;
          if (unanswered !== undefined && GATEWAY_DOWN_CODES.has(unanswered.errorCode)) {
            unreachable.add(refund.gatewayId);
          }
          summary[await applyRefundStatus(refund, outcome)] += 1;
        } catch (error) {
          // One refund that cannot be settled (a bug) must not hold back the others.
          errors.push(error);
        }
      }
      if (errors.length > 0) {
        throw new AggregateError(errors, `${errors.length} of ${summary.asked} refund checks failed`);
      }
      return summary;
    },

    /**
     * Gateway payments for the transactions list, newest first. Its status filter speaks the QR
     * vocabulary: Success is paid (refunds included), Failed is failed or expired, Pending is open.
     */
    async listAsTransactions(
      principal: Principal,
      query: TransactionListQuery,
      limit: number,
      offset: number,
    ): Promise<{ views: PaymentView[]; total: number }> {
      const { from, to } = periodOf(query);
      const filter: repo.PaymentFilter = {
        merchantId: principal.role === 'admin' ? (query.merchantId ?? null) : scopeOf(principal),
        statuses: query.status === undefined ? undefined : STATUSES_BY_QR_STATUS[query.status],
        from,
        to,
      };
      const [payments, total] = await Promise.all([
        repo.findPaymentPage(db, filter, limit, offset),
        repo.countPayments(db, filter),
      ]);
      const attempts = await repo.attemptsOf(
        db,
        payments.map((payment) => payment.id),
      );
      return {
        views: payments.map((payment) => ({
          payment,
          attempts: attempts.filter((attempt) => attempt.paymentId === payment.id),
        })),
        total,
      };
    },

    /** One gateway payment by id for the transactions resource; null when there is none to see. */
    async findAsTransaction(principal: Principal, id: string): Promise<PaymentView | null> {
      if (!isUuid(id)) return null;
      const payment = await repo.findPayment(db, id, scopeOf(principal));
      return payment === undefined ? null : view(db, payment);
    },

    /**
     * Asks the gateway of the payment's last attempt where the payment stands and applies the
     * answer by the transition table. A gateway that cannot be asked is a 503; nothing changes.
     */
    async verify(principal: Principal, id: string): Promise<PaymentView> {
      const payment = await repo.findPayment(db, id, scopeOf(principal));
      if (payment === undefined) throw paymentNotFound();
      const attempt = await repo.lastAttempt(db, id);
      const gateway = attempt === undefined ? undefined : await gateways.liveGateway(attempt.gatewayId);
      if (attempt === undefined || gateway === undefined) return view(db, payment);
      const status = await gateway.connector.fetchStatus(gateway.context, {
        paymentId: payment.id,
        attemptId: attempt.id,
        ...(attempt.gatewayReference === null ? {} : { gatewayReference: attempt.gatewayReference }),
        amountMinor: payment.amountMinor,
        currency: payment.currency,
      });
      // A failure to ask (timeout, 5xx, credentials) says nothing about the payment.
      if (status.status === 'failed' && isRetryable(status.errorCode)) {
        throw serviceUnavailable(
          `${gateway.name} could not be asked: ${status.errorMessage}`,
          'GATEWAY_UNAVAILABLE',
        );
      }
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const locked = await repo.findPayment(trx, id, null, { forUpdate: true });
          if (locked === undefined) throw paymentNotFound();
          const amountDiffers =
            status.status === 'succeeded' &&
            status.amountMinor !== undefined &&
            status.amountMinor !== locked.amountMinor;
          if (!amountDiffers && wouldMove(locked, status.status)) {
            // The attempt's own record follows only a move the payment makes: a late, stale
            // answer leaves both as they are.
            await repo.updateAttemptFromGateway(trx, attempt.id, status, clock.now());
            const moved = await applyGatewayStatus(trx, locked, status.status, {
              attemptId: attempt.id,
              cause: 'verify',
              ...(status.status === 'failed'
                ? { errorCode: status.errorCode, errorMessage: status.errorMessage }
                : {}),
            });
            return view(trx, moved ?? locked);
          }
          return view(trx, locked);
        }),
      );
    },

    /**
     * Refunds all or part of what was captured. The refund is recorded (pending, counted against
     * what is left) and the merchant's payable debited before the gateway is asked, so two
     * refunds at once cannot together exceed the payment and a refund the merchant cannot cover
     * never reaches the gateway; a refund the gateway refuses posts the reversal of that debit.
     */
    async refund(
      principal: Principal,
      id: string,
      input: { amount?: number | undefined; reason: string },
      keyed: KeyedReply<RefundView>,
    ): Promise<RefundView> {
      const started = await db.transaction().execute(async (trx) => {
        await requireNewKey(trx, keyed.request, clock.now());
        const payment = await repo.findPayment(trx, id, scopeOf(principal), { forUpdate: true });
        if (payment === undefined) throw paymentNotFound();
        if (payment.status !== 'succeeded' && payment.status !== 'partially_refunded') {
          throw conflict('PAYMENT_NOT_REFUNDABLE', `A ${payment.status} payment cannot be refunded`);
        }
        const leftMinor =
          payment.amountMinor - payment.refundedMinor - (await repo.pendingRefundsMinor(trx, id));
        const amountMinor =
          input.amount === undefined ? leftMinor : money(input.amount, payment.currency).amountMinor;
        if (amountMinor <= 0n || amountMinor > leftMinor) {
          throw unprocessable('REFUND_EXCEEDS_CAPTURED', 'The refund is more than is left to refund', {
            refundableMinor: (leftMinor > 0n ? leftMinor : 0n).toString(),
          });
        }
        const now = clock.now();
        const refund: repo.RefundRow = {
          id: uuidv7(now.getTime()),
          paymentId: id,
          merchantId: payment.merchantId,
          amountMinor,
          currency: payment.currency,
          reason: input.reason,
          status: 'pending',
          gatewayReference: null,
          errorCode: null,
          errorMessage: null,
          createdAt: now,
          updatedAt: now,
        };
        await repo.insertRefund(trx, refund);
        // The merchant's money leaves now, before the gateway is asked: a refund the merchant
        // cannot cover is refused here (422) rather than after the payer was refunded.
        await merchantBalances.debitGatewayRefund(trx, {
          refundId: refund.id,
          paymentId: payment.id,
          merchantId: payment.merchantId,
          amountMinor,
          currency: payment.currency,
        });
        return { payment, refund };
      });
      const { payment, refund } = started;
      const attempt = await repo.lastAttempt(db, id);
      const gateway = payment.gatewayId === null ? undefined : await gateways.liveGateway(payment.gatewayId);
      const outcome =
        gateway === undefined || attempt === undefined || attempt.gatewayReference === null
          ? ({
              status: 'failed',
              errorCode: 'UNKNOWN',
              errorMessage: 'The payment has no gateway reference',
              retryable: false,
            } as const)
          : await gateway.connector.refund(gateway.context, {
              refundId: refund.id,
              paymentId: id,
              attemptId: attempt.id,
              gatewayReference: attempt.gatewayReference,
              amountMinor: refund.amountMinor,
              currency: refund.currency,
              reason: refund.reason,
            });
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const settled = await repo.settleRefund(
            trx,
            refund.id,
            outcome.status === 'failed'
              ? {
                  status: 'failed',
                  gatewayReference: null,
                  errorCode: outcome.errorCode,
                  errorMessage: outcome.errorMessage,
                }
              : {
                  status: outcome.status,
                  gatewayReference: outcome.gatewayReference,
                  errorCode: null,
                  errorMessage: null,
                },
            clock.now(),
          );
          if (settled === undefined)
            throw new Error(`refund ${refund.id} was settled while its gateway was asked`);
          const current = await repo.findPayment(trx, id, null, { forUpdate: true });
          if (current === undefined) throw paymentNotFound();
          if (settled.status === 'failed') await merchantBalances.reverseGatewayRefund(trx, settled.id);
          const after = settled.status === 'succeeded' ? await refunded(trx, current, settled) : current;
          const result = { refund: settled, ...(await view(trx, after)) };
          await settleKey(
            trx,
            { request: keyed.request, statusCode: keyed.statusCode, body: keyed.body(result) },
            clock.now(),
          );
          return result;
        }),
      );
    },

    /** Expires open payments past their time; returns how many. Bounded per call. */
    async expireDue(batchSizeMax: number): Promise<number> {
      return expireDue(db, clock.now(), batchSizeMax);
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;

function requireMerchant(principal: Principal): string {
  if (principal.merchantId === null)
    throw unprocessable('MERCHANT_REQUIRED', 'Only a merchant takes payments');
  return principal.merchantId;
}

/** Admins see every merchant's payments; a merchant its own. */
function scopeOf(principal: Principal): string | null {
  return principal.role === 'admin' ? null : (principal.merchantId ?? '00000000-0000-0000-0000-000000000000');
}

function settledAttempt(
  attempt: repo.AttemptRow,
  outcome: AttemptOutcome,
  latencyMs: number,
  at: Date,
): repo.AttemptRow {
  return {
    ...attempt,
    status: outcome.status,
    gatewayReference: outcome.gatewayReference ?? null,
    errorCode: outcome.status === 'failed' ? outcome.errorCode : null,
    errorMessage: outcome.status === 'failed' ? outcome.errorMessage : null,
    retryable: outcome.status === 'failed' ? outcome.retryable : null,
    latencyMs,
    updatedAt: at,
  };
}

/** What the last try means for the payment. No try at all: every gateway's circuit refused. */
function decisionOf(payment: repo.PaymentRow, last: Try | undefined): repo.PaymentChange {
  if (last === undefined) {
    return {
      status: 'failed',
      errorCode: 'GATEWAY_UNAVAILABLE',
      errorMessage: 'Every eligible gateway is refusing attempts (circuit open)',
    };
  }
  const { outcome, gateway } = last;
  if (outcome.status === 'failed') {
    return {
      status: 'failed',
      gatewayId: gateway.id,
      errorCode: outcome.errorCode,
      errorMessage: outcome.errorMessage,
    };
  }
  return {
    status: outcome.status,
    gatewayId: gateway.id,
    feeMinor: feeMinor(gateway, payment.amountMinor),
    nextAction: outcome.nextAction ?? ({ type: 'none' } satisfies NextAction),
    ...(outcome.status === 'succeeded' ? { succeededAt: last.attempt.updatedAt } : {}),
  };
}

const EVENT_TYPE_OF = {
  created: null,
  pending: 'payment.pending',
  succeeded: 'payment.succeeded',
  failed: 'payment.failed',
  expired: 'payment.expired',
  partially_refunded: 'payment.refunded',
  refunded: 'payment.refunded',
} as const satisfies Record<PaymentStatus, string | null>;

function paymentEvent(payment: repo.PaymentRow, at: Date) {
  const type = EVENT_TYPE_OF[payment.status];
  if (type === null) throw new Error('a created payment records no event');
  return {
    type,
    merchantId: payment.merchantId,
    data: {
      id: payment.id,
      source: 'gateway',
      merchantId: payment.merchantId,
      orderId: payment.orderId,
      status: payment.status,
      amountMinor: payment.amountMinor.toString(),
      currency: payment.currency,
      method: payment.method,
      gatewayId: payment.gatewayId,
      errorCode: payment.errorCode,
      refundedMinor: payment.refundedMinor.toString(),
      createdAt: payment.createdAt,
      updatedAt: payment.updatedAt,
    },
    createdAt: at,
  };
}

async function expireDue(db: Db, now: Date, batchSizeMax: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const expired = await repo.expireDue(trx, now, batchSizeMax);
    if (expired.length === 0) return 0;
    await repo.insertHistory(
      trx,
      expired.map((payment) => ({
        id: uuidv7(now.getTime()),
        paymentId: payment.id,
        fromStatus: payment.fromStatus,
        toStatus: 'expired' as const,
        cause: 'expiry',
        attemptId: null,
        createdAt: now,
      })),
    );
    await recordEvents(
      trx,
      expired.map((payment) => paymentEvent(payment, now)),
    );
    return expired.length;
  });
}
