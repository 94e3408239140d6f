import type { Db, Executor } from '../../db/database.ts';
import type { QrCategory, QrStatus } from '../../db/types.ts';
import type { WithinTransaction } from '../../http/idempotency.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { isUuid, randomCode, uuidv7 } from '../../lib/ids.ts';
import { formatMajorUnits, type MinorUnits, toMajorUnits, toMinorUnits } from '../../lib/money.ts';
import { type QrImageFormat, renderQrImage } from '../../lib/qr-image.ts';
import { upiPaymentLink } from '../../lib/upi.ts';
import type { AuditService } from '../audit/index.ts';
import { recordEvents } from '../events/record.ts';
import { type MerchantBalanceService, withRetry } from '../ledger/index.ts';
import type { MerchantService } from '../merchants/index.ts';
import {
  amountAboveMax,
  invalidField,
  qrCodeNotFound,
  qrIdTaken,
  qrInactive,
  simulatorDisabled,
} from './errors.ts';
import { presentQrCode } from './present.ts';
import * as repo from './repo.ts';
import { percentage } from './stats.ts';
import * as transactionsRepo from './transactions.repo.ts';

export type QrCodeRow = repo.QrCodeRow;

export interface QrCodeInput {
  readonly qrId?: string;
  readonly vpa: string;
  readonly referenceName: string;
  readonly description?: string | null;
  readonly maxAmount?: number;
  readonly category?: QrCategory;
  readonly notes?: string | null;
  readonly status?: QrStatus;
  readonly simulationActive?: boolean;
  readonly merchantId?: string;
}

export type QrCodePatch = Partial<Omit<QrCodeInput, 'simulationActive' | 'merchantId'>>;

export interface QrStatistics {
  totalTransactions: number;
  successfulTransactions: number;
  totalAmount: number;
  successRate: string;
  lastTransactionAt: Date | null;
}

const QR_ID_ATTEMPTS_MAX = 5;
const QR_ID_LENGTH = 5;
const IMAGE_SIZE_DEFAULT_PX = 512;
/** An Active code may be simulated; an Inactive one may not (and stops when it becomes Inactive). */
const STATUS_MOVES: Record<QrStatus, readonly QrStatus[]> = { Active: ['Inactive'], Inactive: ['Active'] };

export interface QrCodeIdentity {
  readonly id: string;
  readonly qrId: string;
  readonly merchantId: string;
}

/** Two entries per code; a merchant's counters are a handful, so this is ample. */
const IDENTITY_CACHE_MAX = 20_000;

export function createQrCodeService(deps: {
  db: Db;
  clock: Clock;
  audit: AuditService;
  merchants: MerchantService;
  /** A simulation's first run comes one interval after it starts, however it is started. */
  simulationIntervalMs: number;
  simulatorEnabled: boolean;
  merchantBalances: Pick<MerchantBalanceService, 'reverseQrPayment'>;
}) {
  const { db, clock, audit, merchants, simulationIntervalMs, simulatorEnabled, merchantBalances } = deps;

  /** `qr.*` events carry the code as the API shows it. */
  function recordQrEvent(
    executor: Executor,
    type: 'qr.created' | 'qr.updated' | 'qr.deleted',
    qrCode: QrCodeRow,
  ) {
    return recordEvents(executor, [
      { type, merchantId: qrCode.merchantId, data: presentQrCode(qrCode), createdAt: clock.now() },
    ]);
  }

  /** A QR code the principal may see, by UUID or qrId; another tenant's is "not found". */
  async function loadVisible(
    executor: Executor,
    principal: Principal,
    idOrQrId: string,
    lock: 'update' | 'share' | null = null,
  ): Promise<QrCodeRow> {
    const key = isUuid(idOrQrId) ? { id: idOrQrId } : { qrId: idOrQrId.toUpperCase() };
    const qrCode = await repo.findQrCode(executor, key, lock);
    if (qrCode === undefined || !isVisible(principal, qrCode.merchantId)) throw qrCodeNotFound();
    remember(qrCode);
    return qrCode;
  }

  /**
   * A code's id, qrId and merchant never change, so they are remembered from every load: a payment
   * can then be recorded in one statement that checks the rest (status, limit) under its lock. A
   * deleted code stays remembered harmlessly: that statement finds no row and the caller reloads.
   */
  const identities = new Map<string, QrCodeIdentity>();
  function remember(qrCode: QrCodeIdentity): void {
    if (identities.size >= IDENTITY_CACHE_MAX) identities.clear();
    const identity = { id: qrCode.id, qrId: qrCode.qrId, merchantId: qrCode.merchantId };
    identities.set(qrCode.id, identity);
    identities.set(qrCode.qrId, identity);
  }

  async function statistics(qrCode: QrCodeRow): Promise<QrStatistics> {
    const [figures, lastTransactionAt] = await Promise.all([
      transactionsRepo.sumTotals(db, { qrCodeId: qrCode.id }),
      transactionsRepo.findLastTransactionAt(db, qrCode.id),
    ]);
    const total = figures.successCount + figures.failedCount + figures.pendingCount;
    return {
      totalTransactions: Number(total),
      successfulTransactions: Number(figures.successCount),
      totalAmount: toMajorUnits(figures.successAmountMinor),
      successRate: percentage(figures.successCount, total),
      lastTransactionAt,
    };
  }

  return {
    loadVisible,

    /** A code's identity, when this process has loaded the code before (by UUID or qrId). */
    knownIdentity(idOrQrId: string): QrCodeIdentity | undefined {
      return identities.get(isUuid(idOrQrId) ? idOrQrId : idOrQrId.toUpperCase());
    },

    async create(
      principal: Principal,
      input: QrCodeInput,
      context: RequestContext,
      within?: WithinTransaction<QrCodeRow>,
    ): Promise<QrCodeRow> {
      const merchantId = owningMerchant(principal, input.merchantId);
      // An admin names the merchant: it must exist (404 otherwise, not a foreign-key failure).
      if (principal.role === 'admin') await merchants.get(principal, merchantId);
      const now = clock.now();
      const status = input.status ?? 'Active';
      if (input.simulationActive === true && status === 'Inactive') throw qrInactive(input.qrId ?? 'new');
      if (input.simulationActive === true && !simulatorEnabled) throw simulatorDisabled();
      const fields = {
        vpa: input.vpa,
        referenceName: input.referenceName,
        description: blankToNull(input.description),
        maxAmountMinor: maxAmountMinorOf(input.maxAmount) ?? 0n,
        category: input.category ?? 'Custom',
        notes: blankToNull(input.notes),
        status,
        simulationActive: input.simulationActive === true,
        simulationNextRunAt:
          input.simulationActive === true ? new Date(now.getTime() + simulationIntervalMs) : null,
      };
      return db.transaction().execute(async (trx) => {
        for (let attempt = 1; attempt <= QR_ID_ATTEMPTS_MAX; attempt += 1) {
          const qrId = input.qrId ?? randomCode(QR_ID_LENGTH);
          const qrCode = await repo.insertQrCode(trx, {
            id: uuidv7(now.getTime()),
            qrId,
            merchantId,
            ...fields,
            createdAt: now,
            updatedAt: now,
          });
          if (qrCode !== null) {
            await audit.record(trx, context, {
              action: 'qr.created',
              targetType: 'qr_code',
              targetId: qrCode.id,
              details: { qrId, merchantId, vpa: qrCode.vpa },
            });
            await recordQrEvent(trx, 'qr.created', qrCode);
            await within?.(trx, qrCode);
            return qrCode;
          }
          if (input.qrId !== undefined) throw qrIdTaken(qrId);
        }
        throw new Error(`no free qrId after ${QR_ID_ATTEMPTS_MAX} random draws`);
      });
    },

    async list(
      principal: Principal,
      filter: Omit<repo.QrCodeFilter, 'merchantId'> & { merchantId?: string },
      page: PageRequest,
    ): Promise<{ qrCodes: QrCodeRow[]; pagination: PageInfo }> {
      const merchantId = principal.role === 'admin' ? filter.merchantId : tenantOf(principal);
      const { rows, totalRecords } = await repo.findQrCodes(db, { ...filter, merchantId }, page);
      return { qrCodes: rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },

    async get(
      principal: Principal,
      idOrQrId: string,
    ): Promise<{ qrCode: QrCodeRow; statistics: QrStatistics }> {
      const qrCode = await loadVisible(db, principal, idOrQrId);
      return { qrCode, statistics: await statistics(qrCode) };
    },

    async update(
      principal: Principal,
      idOrQrId: string,
      patch: QrCodePatch,
      context: RequestContext,
    ): Promise<QrCodeRow> {
      return db.transaction().execute(async (trx) => {
        const before = await loadVisible(trx, principal, idOrQrId, 'update');
        if (patch.qrId !== undefined && patch.qrId !== before.qrId) {
          throw invalidField('qrId', 'cannot change');
        }
        const now = clock.now();
        const { qrId: _unchanged, maxAmount, description, notes, ...rest } = patch;
        const stopsSimulation = patch.status === 'Inactive' && before.simulationActive;
        const updated = await repo.updateQrCode(trx, before.id, {
          ...rest,
          ...(maxAmount === undefined ? {} : { maxAmountMinor: maxAmountMinorOf(maxAmount) as MinorUnits }),
          ...(description === undefined ? {} : { description: blankToNull(description) }),
          ...(notes === undefined ? {} : { notes: blankToNull(notes) }),
          ...(stopsSimulation ? { simulationActive: false, simulationNextRunAt: null } : {}),
          updatedAt: now,
        });
        const changed = Object.keys(patch).filter((field) => field !== 'qrId');
        if (changed.length > 0) {
          await audit.record(trx, context, {
            action: 'qr.updated',
            targetType: 'qr_code',
            targetId: before.id,
            details: {
              fields: changed,
              ...(patch.vpa !== undefined && patch.vpa !== before.vpa
                ? { vpa: { from: before.vpa, to: patch.vpa } }
                : {}),
            },
          });
          await recordQrEvent(trx, 'qr.updated', updated);
        }
        return updated;
      });
    },

    /** Deletes the code with its payments in one transaction; its simulation ends with it. */
    async remove(
      principal: Principal,
      idOrQrId: string,
      context: RequestContext,
    ): Promise<{ qrId: string; deletedTransactions: number }> {
      // Reversing its payments locks ledger accounts other payments lock too: retried on a deadlock.
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const qrCode = await loadVisible(trx, principal, idOrQrId, 'update');
          const figures = await transactionsRepo.sumTotals(trx, { qrCodeId: qrCode.id });
          const deletedTransactions = Number(
            figures.successCount + figures.failedCount + figures.pendingCount,
          );
          // Its successful payments were credited to the merchant: each is reversed before it goes.
          for (const transactionId of await transactionsRepo.findSuccessfulIds(trx, qrCode.id)) {
            await merchantBalances.reverseQrPayment(trx, transactionId);
          }
          await repo.deleteQrCode(trx, qrCode.id);
          await audit.record(trx, context, {
            action: 'qr.deleted',
            targetType: 'qr_code',
            targetId: qrCode.id,
            details: { qrId: qrCode.qrId, merchantId: qrCode.merchantId, deletedTransactions },
          });
          await recordQrEvent(trx, 'qr.deleted', qrCode);
          return { qrId: qrCode.qrId, deletedTransactions };
        }),
      );
    },

    /** Sets the status, or toggles it when none is given. Becoming Inactive stops a simulation. */
    async changeStatus(
      principal: Principal,
      idOrQrId: string,
      requested: QrStatus | undefined,
      context: RequestContext,
    ): Promise<QrCodeRow> {
      return db.transaction().execute(async (trx) => {
        const before = await loadVisible(trx, principal, idOrQrId, 'update');
        const to = requested ?? (before.status === 'Active' ? 'Inactive' : 'Active');
        if (to === before.status) return before;
        if (!STATUS_MOVES[before.status].includes(to))
          throw new Error(`no move from ${before.status} to ${to}`);
        const updated = await repo.updateQrCode(trx, before.id, {
          status: to,
          ...(to === 'Inactive' ? { simulationActive: false, simulationNextRunAt: null } : {}),
          updatedAt: clock.now(),
        });
        await audit.record(trx, context, {
          action: 'qr.status_changed',
          targetType: 'qr_code',
          targetId: before.id,
          details: { qrId: before.qrId, from: before.status, to },
        });
        await recordQrEvent(trx, 'qr.updated', updated);
        return updated;
      });
    },

    async upiLink(principal: Principal, idOrQrId: string, amount?: number): Promise<string> {
      const qrCode = await loadVisible(db, principal, idOrQrId);
      return upiLinkOf(qrCode, fixedAmountMinor(qrCode, amount));
    },

    async image(
      principal: Principal,
      idOrQrId: string,
      format: QrImageFormat,
      options: { amount?: number; sizePx?: number },
    ): Promise<{ qrId: string; image: Buffer | string }> {
      const qrCode = await loadVisible(db, principal, idOrQrId);
      const link = upiLinkOf(qrCode, fixedAmountMinor(qrCode, options.amount));
      return {
        qrId: qrCode.qrId,
        image: await renderQrImage(link, format, options.sizePx ?? IMAGE_SIZE_DEFAULT_PX),
      };
    },
  };
}

export type QrCodeService = ReturnType<typeof createQrCodeService>;

export function upiLinkOf(qrCode: QrCodeRow, amountMinor: MinorUnits | null = null): string {
  return upiPaymentLink({
    payeeVpa: qrCode.vpa,
    payeeName: qrCode.referenceName,
    reference: qrCode.qrId,
    note: qrCode.description,
    amountMinor,
  });
}

export function isVisible(principal: Principal, merchantId: string): boolean {
  return principal.role === 'admin' || principal.merchantId === merchantId;
}

/** The merchant a non-admin acts for; a principal without one sees nothing. */
export function tenantOf(principal: Principal): string {
  if (principal.merchantId === null) throw qrCodeNotFound();
  return principal.merchantId;
}

function owningMerchant(principal: Principal, requested: string | undefined): string {
  if (principal.role !== 'admin') {
    if (requested !== undefined && requested !== principal.merchantId) {
      throw invalidField('merchantId', 'can only be given by an admin');
    }
    return tenantOf(principal);
  }
  if (requested === undefined)
    throw invalidField('merchantId', 'is required when an admin creates a QR code');
  return requested;
}

/** 0 means no limit; anything else must be a payable amount (at least one rupee). */
function maxAmountMinorOf(maxAmount: number | undefined): MinorUnits | undefined {
  if (maxAmount === undefined) return undefined;
  const minor = toMinorUnits(maxAmount);
  if (minor === null) throw invalidField('maxAmount', 'must have at most two decimals');
  if (minor > 0n && minor < 100n) throw invalidField('maxAmount', 'must be 0 (no limit) or at least 1 rupee');
  return minor;
}

function fixedAmountMinor(qrCode: QrCodeRow, amount: number | undefined): MinorUnits | null {
  if (amount === undefined) return null;
  const minor = toMinorUnits(amount);
  if (minor === null || minor === 0n)
    throw invalidField('amount', 'must be positive with at most two decimals');
  if (qrCode.maxAmountMinor > 0n && minor > qrCode.maxAmountMinor) {
    throw amountAboveMax(formatMajorUnits(qrCode.maxAmountMinor));
  }
  return minor;
}

function blankToNull(value: string | null | undefined): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}
