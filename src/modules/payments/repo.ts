import { type ExpressionBuilder, type RawBuilder, sql } from 'kysely';
import { type Executor, preparedStatement } from '../../db/database.ts';
import type {
  AttemptStatus,
  Database,
  PaymentMethodName,
  PaymentStatus,
  RefundStatus,
  WebhookVerificationOutcome,
} from '../../db/types.ts';
import { isUuid } from '../../lib/ids.ts';
import { PAID_STATUSES } from './transitions.ts';

export interface OrderRow {
  readonly id: string;
  readonly merchantId: string;
  readonly orderId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly createdAt: Date;
}

export interface PaymentRow {
  readonly id: string;
  readonly merchantId: string;
  readonly orderId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly method: PaymentMethodName;
  readonly status: PaymentStatus;
  readonly customer: unknown;
  readonly description: string | null;
  readonly returnUrl: string | null;
  readonly metadata: Record<string, unknown>;
  readonly gatewayId: string | null;
  readonly feeMinor: bigint;
  readonly refundedMinor: bigint;
  readonly nextAction: unknown;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly expiresAt: Date;
  readonly succeededAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface AttemptRow {
  readonly id: string;
  readonly paymentId: string;
  readonly gatewayId: string;
  readonly attemptNumber: number;
  readonly status: AttemptStatus;
  readonly gatewayReference: string | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly retryable: boolean | null;
  readonly latencyMs: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const PAYMENT_COLUMNS = [
  'id',
  'merchantId',
  'orderId',
  'amountMinor',
  'currency',
  'method',
  'status',
  'customer',
  'description',
  'returnUrl',
  'gatewayId',
  'feeMinor',
  'refundedMinor',
  'nextAction',
  'errorCode',
  'errorMessage',
  'expiresAt',
  'succeededAt',
  'createdAt',
  'updatedAt',
] as const;
/** The merchant's metadata as text: keys of JSON read through the query builder are camel-cased. */
const metadataText = sql<string>`metadata::text`.as('metadataJson');

function toPaymentRow<T extends { metadataJson: string }>(
  row: T,
): Omit<T, 'metadataJson'> & { metadata: Record<string, unknown> } {
  const { metadataJson, ...rest } = row;
  return { ...rest, metadata: JSON.parse(metadataJson) as Record<string, unknown> };
}

const ATTEMPT_COLUMNS = [
  'id',
  'paymentId',
  'gatewayId',
  'attemptNumber',
  'status',
  'gatewayReference',
  'errorCode',
  'errorMessage',
  'retryable',
  'latencyMs',
  'createdAt',
  'updatedAt',
] as const;

export async function findOrder(
  executor: Executor,
  merchantId: string,
  orderId: string,
): Promise<OrderRow | undefined> {
  return executor
    .selectFrom('paymentOrders')
    .select(['id', 'merchantId', 'orderId', 'amountMinor', 'currency', 'createdAt'])
    .where('merchantId', '=', merchantId)
    .where('orderId', '=', orderId)
    .executeTakeFirst();
}

/** The new order, or undefined when the merchant already registered one with this id. */
export async function insertOrder(executor: Executor, order: OrderRow): Promise<OrderRow | undefined> {
  return executor
    .insertInto('paymentOrders')
    .values(order)
    .onConflict((oc) => oc.columns(['merchantId', 'orderId']).doNothing())
    .returning(['id', 'merchantId', 'orderId', 'amountMinor', 'currency', 'createdAt'])
    .executeTakeFirst();
}

export async function orderIsPaid(executor: Executor, merchantId: string, orderId: string): Promise<boolean> {
  const row = await executor
    .selectFrom('payments')
    .select('id')
    .where('merchantId', '=', merchantId)
    .where('orderId', '=', orderId)
    .where('status', 'in', PAID_STATUSES)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export type NewPayment = Omit<PaymentRow, 'metadata' | 'updatedAt'> & {
  readonly metadata: Record<string, unknown>;
};

export async function insertPayment(executor: Executor, payment: NewPayment): Promise<void> {
  await executor
    .insertInto('payments')
    .values({
      ...payment,
      customer: JSON.stringify(payment.customer),
      metadata: JSON.stringify(payment.metadata),
      nextAction: payment.nextAction === null ? null : JSON.stringify(payment.nextAction),
      updatedAt: payment.createdAt,
    })
    .execute();
}

export interface PaymentChange {
  readonly status: PaymentStatus;
  readonly gatewayId?: string | null;
  readonly feeMinor?: bigint;
  readonly refundedMinor?: bigint;
  readonly nextAction?: unknown;
  readonly errorCode?: string | null;
  readonly errorMessage?: string | null;
  readonly succeededAt?: Date | null;
  readonly lateSuccess?: boolean;
}

/** Moves the payment only if it is still `from` (STYLE.md habit 9); undefined when it was not. */
export async function movePayment(
  executor: Executor,
  id: string,
  from: PaymentStatus,
  change: PaymentChange,
  at: Date,
): Promise<PaymentRow | undefined> {
  const { nextAction, ...rest } = change;
  const row = await executor
    .updateTable('payments')
    .set({
      ...rest,
      ...(nextAction === undefined
        ? {}
        : { nextAction: nextAction === null ? null : JSON.stringify(nextAction) }),
      updatedAt: at,
    })
    .where('id', '=', id)
    .where('status', '=', from)
    .returning([...PAYMENT_COLUMNS, metadataText])
    .executeTakeFirst();
  return row === undefined ? undefined : toPaymentRow(row);
}

/**
 * Open payments past their time, expired (at most `batchSizeMax`), as they now are with the
 * status each had. Skip locked: a payment being decided right now is left to its own transaction.
 */
export async function expireDue(
  executor: Executor,
  now: Date,
  batchSizeMax: number,
): Promise<(PaymentRow & { readonly fromStatus: PaymentStatus })[]> {
  const { rows } = await sql<PaymentRow & { metadataJson: string; fromStatus: PaymentStatus }>`
    UPDATE payments AS p
    SET status = 'expired', error_code = 'EXPIRED', error_message = 'Not completed in time', updated_at = ${now}
    FROM (SELECT id, status FROM payments
          WHERE status IN ('created', 'pending') AND expires_at <= ${now}
          ORDER BY expires_at LIMIT ${batchSizeMax} FOR UPDATE SKIP LOCKED) AS due
    WHERE p.id = due.id
    RETURNING p.*, p.metadata::text AS metadata_json, due.status AS from_status`.execute(executor);
  return rows.map(toPaymentRow);
}

export async function findPayment(
  executor: Executor,
  id: string,
  merchantId: string | null,
  options: { forUpdate?: boolean } = {},
): Promise<PaymentRow | undefined> {
  let query = executor
    .selectFrom('payments')
    .select([...PAYMENT_COLUMNS, metadataText])
    .where('id', '=', id);
  if (merchantId !== null) query = query.where('merchantId', '=', merchantId);
  if (options.forUpdate === true) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row === undefined ? undefined : toPaymentRow(row);
}

export async function insertAttempt(
  executor: Executor,
  attempt: Omit<AttemptRow, 'updatedAt'>,
): Promise<void> {
  await executor
    .insertInto('paymentAttempts')
    .values({ ...attempt, updatedAt: attempt.createdAt })
    .execute();
}

export async function upsertAttempts(executor: Executor, attempts: readonly AttemptRow[]): Promise<void> {
  if (attempts.length === 0) return;
  await executor
    .insertInto('paymentAttempts')
    .values([...attempts])
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        status: eb.ref('excluded.status'),
        gatewayReference: eb.ref('excluded.gatewayReference'),
        errorCode: eb.ref('excluded.errorCode'),
        errorMessage: eb.ref('excluded.errorMessage'),
        retryable: eb.ref('excluded.retryable'),
        latencyMs: eb.ref('excluded.latencyMs'),
        updatedAt: eb.ref('excluded.updatedAt'),
      })),
    )
    .execute();
}

export async function attemptsOf(
  executor: Executor,
  paymentIds: readonly string[],
): Promise<(AttemptRow & { gatewayName: string })[]> {
  if (paymentIds.length === 0) return [];
  return executor
    .selectFrom('paymentAttempts')
    .innerJoin('gateways', 'gateways.id', 'paymentAttempts.gatewayId')
    .select([
      ...ATTEMPT_COLUMNS.map((column) => `paymentAttempts.${column}` as const),
      'gateways.name as gatewayName',
    ])
    .where('paymentAttempts.paymentId', 'in', paymentIds)
    .orderBy('paymentAttempts.paymentId')
    .orderBy('paymentAttempts.attemptNumber')
    .execute();
}

export interface HistoryRow {
  readonly id: string;
  readonly paymentId: string;
  readonly fromStatus: PaymentStatus | null;
  readonly toStatus: PaymentStatus;
  readonly cause: string;
  readonly attemptId: string | null;
  readonly createdAt: Date;
}

export async function insertHistory(executor: Executor, rows: readonly HistoryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await executor
    .insertInto('paymentStatusHistory')
    .values([...rows])
    .execute();
}

export async function historyOf(executor: Executor, paymentId: string): Promise<HistoryRow[]> {
  return executor
    .selectFrom('paymentStatusHistory')
    .select(['id', 'paymentId', 'fromStatus', 'toStatus', 'cause', 'attemptId', 'createdAt'])
    .where('paymentId', '=', paymentId)
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
}

export interface GatewayWebhookRow {
  readonly id: string;
  readonly gatewayId: string | null;
  readonly remoteAddress: string | null;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly verification: WebhookVerificationOutcome;
  readonly eventId: string | null;
  readonly paymentId: string | null;
  readonly effect: string | null;
  readonly receivedAt: Date;
}

/** Stores an inbound webhook; false when a verified one with the same event id is already there. */
export async function insertGatewayWebhook(executor: Executor, row: GatewayWebhookRow): Promise<boolean> {
  const inserted = await executor
    .insertInto('gatewayWebhooks')
    .values({ ...row, headers: JSON.stringify(row.headers) })
    .onConflict((oc) =>
      oc.columns(['gatewayId', 'eventId']).where('verification', '=', 'verified').doNothing(),
    )
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function settleGatewayWebhook(
  executor: Executor,
  id: string,
  outcome: { effect: string; paymentId: string | null },
): Promise<void> {
  await executor.updateTable('gatewayWebhooks').set(outcome).where('id', '=', id).execute();
}

/** The attempt a gateway's event is about: by our attempt id when echoed, else the gateway's reference. */
export async function findAttempt(
  executor: Executor,
  gatewayId: string,
  by: { attemptId?: string | undefined; gatewayReference?: string | undefined },
): Promise<AttemptRow | undefined> {
  if (by.attemptId !== undefined && isUuid(by.attemptId)) {
    const found = await executor
      .selectFrom('paymentAttempts')
      .select(ATTEMPT_COLUMNS)
      .where('id', '=', by.attemptId)
      .where('gatewayId', '=', gatewayId)
      .executeTakeFirst();
    if (found !== undefined) return found;
  }
  if (by.gatewayReference === undefined) return undefined;
  return executor
    .selectFrom('paymentAttempts')
    .select(ATTEMPT_COLUMNS)
    .where('gatewayId', '=', gatewayId)
    .where('gatewayReference', '=', by.gatewayReference)
    .orderBy('createdAt', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** What the gateway now says of one attempt (its own status; the payment moves by its table). */
export async function updateAttemptFromGateway(
  executor: Executor,
  attemptId: string,
  report: {
    status: AttemptStatus;
    gatewayReference?: string | undefined;
    errorCode?: string | undefined;
    errorMessage?: string | undefined;
  },
  at: Date,
): Promise<void> {
  await executor
    .updateTable('paymentAttempts')
    .set({
      status: report.status,
      ...(report.gatewayReference === undefined ? {} : { gatewayReference: report.gatewayReference }),
      errorCode: report.status === 'failed' ? (report.errorCode ?? 'UNKNOWN') : null,
      errorMessage: report.status === 'failed' ? (report.errorMessage ?? null) : null,
      updatedAt: at,
    })
    .where('id', '=', attemptId)
    .execute();
}

/** The attempt that decided (or is deciding) a payment: its last one. */
export async function lastAttempt(executor: Executor, paymentId: string): Promise<AttemptRow | undefined> {
  return executor
    .selectFrom('paymentAttempts')
    .select(ATTEMPT_COLUMNS)
    .where('paymentId', '=', paymentId)
    .orderBy('attemptNumber', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export interface RefundRow {
  readonly id: string;
  readonly paymentId: string;
  readonly merchantId: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly reason: string;
  readonly status: RefundStatus;
  readonly gatewayReference: string | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const REFUND_COLUMNS = [
  'id',
  'paymentId',
  'merchantId',
  'amountMinor',
  'currency',
  'reason',
  'status',
  'gatewayReference',
  'errorCode',
  'errorMessage',
  'createdAt',
  'updatedAt',
] as const;

export async function insertRefund(executor: Executor, refund: RefundRow): Promise<void> {
  await executor.insertInto('paymentRefunds').values(refund).execute();
}

/** Refunds asked for and not yet answered: counted against what is left to refund. */
export async function pendingRefundsMinor(executor: Executor, paymentId: string): Promise<bigint> {
  const row = await executor
    .selectFrom('paymentRefunds')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<string>('amountMinor'), sql<string>`0`).as('total'))
    .where('paymentId', '=', paymentId)
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow();
  return BigInt(row.total);
}

/** Settles a pending refund; undefined when it was settled already. */
export async function settleRefund(
  executor: Executor,
  id: string,
  change: Pick<RefundRow, 'status' | 'gatewayReference' | 'errorCode' | 'errorMessage'>,
  at: Date,
): Promise<RefundRow | undefined> {
  return executor
    .updateTable('paymentRefunds')
    .set({ ...change, updatedAt: at })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .returning(REFUND_COLUMNS)
    .executeTakeFirst();
}

/** The refund a gateway's refund event is about: by the gateway's refund id, among its payments. */
export async function findRefundByReference(
  executor: Executor,
  gatewayId: string,
  gatewayReference: string,
): Promise<RefundRow | undefined> {
  return executor
    .selectFrom('paymentRefunds')
    .innerJoin('payments', 'payments.id', 'paymentRefunds.paymentId')
    .select(REFUND_COLUMNS.map((column) => `paymentRefunds.${column}` as const))
    .where('payments.gatewayId', '=', gatewayId)
    .where('paymentRefunds.gatewayReference', '=', gatewayReference)
    .executeTakeFirst();
}

/** A refund a gateway left pending, with what asking the gateway about it takes. */
export interface RefundToCheck extends RefundRow {
  readonly gatewayReference: string;
  /** The refunded payment's gateway. */
  readonly gatewayId: string;
  /** The payment's last attempt (the one its refunds go through) and that attempt's reference. */
  readonly attemptId: string;
  readonly paymentReference: string;
}

/**
 * Pending refunds a gateway queued (they carry its reference) and last changed or heard of at or
 * before `heardBefore`. Least recently heard of first, the gateways taking turns (each one's
 * oldest, then each one's second oldest...), so a gateway that does not answer holds back its own
 * refunds only. At most `limit`.
 */
export async function refundsToCheck(
  executor: Executor,
  heardBefore: Date,
  limit: number,
): Promise<RefundToCheck[]> {
  const { rows } = await sql<RefundToCheck>`
    SELECT id, payment_id, merchant_id, amount_minor, currency, reason, status, gateway_reference,
      error_code, error_message, created_at, updated_at, gateway_id, attempt_id, payment_reference
    FROM (
      SELECT r.*, p.gateway_id, a.id AS attempt_id, a.gateway_reference AS payment_reference,
        row_number() OVER (PARTITION BY p.gateway_id ORDER BY r.updated_at, r.id) AS turn
      FROM payment_refunds AS r
      JOIN payments AS p ON p.id = r.payment_id AND p.gateway_id IS NOT NULL
      JOIN LATERAL (
        SELECT id, gateway_reference FROM payment_attempts
        WHERE payment_id = r.payment_id ORDER BY attempt_number DESC LIMIT 1
      ) AS a ON a.gateway_reference IS NOT NULL
      WHERE r.status = 'pending' AND r.gateway_reference IS NOT NULL AND r.updated_at <= ${heardBefore}
    ) AS due
    ORDER BY turn, updated_at, id
    LIMIT ${limit}`.execute(executor);
  return rows;
}

/** The gateway still has the refund pending: noted, so the refund waits behind the others. */
export async function notePendingRefund(executor: Executor, id: string, at: Date): Promise<void> {
  await executor
    .updateTable('paymentRefunds')
    .set({ updatedAt: at })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

export interface PaymentFilter {
  /** null: every merchant's (admins). */
  readonly merchantId: string | null;
  readonly statuses?: readonly PaymentStatus[] | undefined;
  readonly from?: Date | undefined;
  readonly to?: Date | undefined;
}

function paymentConditions(filter: PaymentFilter) {
  return (eb: ExpressionBuilder<Database, 'payments'>) =>
    eb.and([
      ...(filter.merchantId === null ? [] : [eb('merchantId', '=', filter.merchantId)]),
      ...(filter.statuses === undefined ? [] : [eb('status', 'in', filter.statuses)]),
      ...(filter.from === undefined ? [] : [eb('createdAt', '>=', filter.from)]),
      ...(filter.to === undefined ? [] : [eb('createdAt', '<', filter.to)]),
    ]);
}

/** Newest first, as the transactions list shows them. */
export async function findPaymentPage(
  executor: Executor,
  filter: PaymentFilter,
  limit: number,
  offset: number,
): Promise<PaymentRow[]> {
  const rows = await executor
    .selectFrom('payments')
    .select([...PAYMENT_COLUMNS, metadataText])
    .where(paymentConditions(filter))
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .offset(offset)
    .execute();
  return rows.map(toPaymentRow);
}

export async function countPayments(executor: Executor, filter: PaymentFilter): Promise<number> {
  const row = await executor
    .selectFrom('payments')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where(paymentConditions(filter))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

const RECORD_DECIDED_PAYMENT = preparedStatement('record_decided_payment');

/**
 * A payment decided before anything was written (every gateway tried was in the process), in one
 * statement: the request's key checked first (a replay or a reused key stops everything), the
 * payment unless its order is already paid, its attempts, its history, its event, and
 * `settlement` (the ledger credit storing the key's reply, or the reply alone). False when the
 * order was already paid or registered for another amount (nothing written; the key may then not
 * have been checked: the caller asks).
 */
export async function recordDecidedPayment(
  executor: Executor,
  input: {
    readonly payment: PaymentRow;
    readonly attempts: readonly AttemptRow[];
    readonly history: readonly HistoryRow[];
    readonly event: { readonly id: string; readonly type: string; readonly data: unknown };
    readonly keyCheck: RawBuilder<unknown>;
    readonly settlement: RawBuilder<unknown>;
  },
): Promise<boolean> {
  const { payment, attempts, history, event } = input;
  const { rows } = await sql<{ id: string }>`${RECORD_DECIDED_PAYMENT}
    WITH key_checked AS MATERIALIZED (SELECT ${input.keyCheck} AS checked),
    payment AS (
      INSERT INTO payments (id, merchant_id, order_id, amount_minor, currency, method, status, customer,
        description, return_url, metadata, gateway_id, fee_minor, refunded_minor, next_action, error_code,
        error_message, expires_at, succeeded_at, created_at, updated_at)
      SELECT ${payment.id}::uuid, ${payment.merchantId}::uuid, ${payment.orderId}::text, ${payment.amountMinor}::bigint,
        ${payment.currency}::text, ${payment.method}::text, ${payment.status}::text, ${JSON.stringify(payment.customer)}::jsonb,
        ${payment.description}::text, ${payment.returnUrl}::text, ${JSON.stringify(payment.metadata)}::jsonb,
        ${payment.gatewayId}::uuid, ${payment.feeMinor}::bigint, 0, ${payment.nextAction === null ? null : JSON.stringify(payment.nextAction)}::jsonb,
        ${payment.errorCode}::text, ${payment.errorMessage}::text, ${payment.expiresAt}::timestamptz,
        ${payment.succeededAt}::timestamptz, ${payment.createdAt}::timestamptz, ${payment.updatedAt}::timestamptz
      FROM key_checked
      -- The paid statuses written out as constants, as in payments_paid_order_idx's predicate
      -- (0015): passed as parameters, a prepared statement's generic plan could not use that index.
      WHERE NOT EXISTS (
        SELECT 1 FROM payments WHERE merchant_id = ${payment.merchantId}::uuid AND order_id = ${payment.orderId}::text
          AND status IN ('succeeded', 'partially_refunded', 'refunded'))
      AND NOT EXISTS (
        SELECT 1 FROM payment_orders WHERE merchant_id = ${payment.merchantId}::uuid AND order_id = ${payment.orderId}::text
          AND (amount_minor <> ${payment.amountMinor}::bigint OR currency <> ${payment.currency}::text))
      RETURNING id
    ), attempts AS (
      INSERT INTO payment_attempts (id, payment_id, gateway_id, attempt_number, status, gateway_reference,
        error_code, error_message, retryable, latency_ms, created_at, updated_at)
      SELECT a.id, payment.id, a.gateway_id, a.attempt_number, a.status, a.gateway_reference, a.error_code,
        a.error_message, a.retryable, a.latency_ms, a.created_at, a.updated_at
      FROM payment, jsonb_to_recordset(${JSON.stringify(attempts.map(attemptRecord))}::jsonb) AS a (id uuid,
        gateway_id uuid, attempt_number smallint, status text, gateway_reference text, error_code text,
        error_message text, retryable boolean, latency_ms integer, created_at timestamptz, updated_at timestamptz)
    ), history AS (
      INSERT INTO payment_status_history (id, payment_id, from_status, to_status, cause, attempt_id, created_at)
      SELECT h.id, payment.id, h.from_status, h.to_status, h.cause, h.attempt_id, h.created_at
      FROM payment, jsonb_to_recordset(${JSON.stringify(history.map(historyRecord))}::jsonb) AS h (id uuid,
        from_status text, to_status text, cause text, attempt_id uuid, created_at timestamptz)
    ), event AS (
      INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
      SELECT ${event.id}::uuid, ${payment.merchantId}::uuid, NULL, ${event.type}::text,
        ${JSON.stringify(event.data)}::jsonb, ${payment.updatedAt}::timestamptz
      FROM payment
    )
    SELECT payment.id, ${input.settlement} AS settled FROM payment`.execute(executor);
  return rows.length === 1;
}

/** Snake-case keys: jsonb_to_recordset matches the record's column names. */
function attemptRecord(attempt: AttemptRow) {
  return {
    id: attempt.id,
    gateway_id: attempt.gatewayId,
    attempt_number: attempt.attemptNumber,
    status: attempt.status,
    gateway_reference: attempt.gatewayReference,
    error_code: attempt.errorCode,
    error_message: attempt.errorMessage,
    retryable: attempt.retryable,
    latency_ms: attempt.latencyMs,
    created_at: attempt.createdAt,
    updated_at: attempt.updatedAt,
  };
}

function historyRecord(row: HistoryRow) {
  return {
    id: row.id,
    from_status: row.fromStatus,
    to_status: row.toStatus,
    cause: row.cause,
    attempt_id: row.attemptId,
    created_at: row.createdAt,
  };
}
