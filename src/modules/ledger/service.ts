import type { Db, Executor } from '../../db/database.ts';
import type { LedgerEntryType, LedgerOwnerType, LedgerPurpose } from '../../db/types.ts';
import { notFound } from '../../http/errors.ts';
import { type KeyAndReply, keyArgument, keyRefusal } from '../../http/idempotency.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import {
  accountNotOpen,
  captureAboveHold,
  holdNotActive,
  holdNotFound,
  insufficientFunds,
  ledgerRefusal,
} from './errors.ts';
import * as repo from './repo.ts';

export type AccountRow = repo.AccountRow;
export type HoldRow = repo.HoldRow;
export type PostResult = repo.PostResult;

/** How each purpose behaves: which side increases it, whether it may go negative, whether it is hot. */
const PURPOSES: Record<
  LedgerPurpose,
  { normalSide: 'debit' | 'credit'; allowNegative: boolean; ownerType: LedgerOwnerType | 'any' }
> = {
  wallet: { normalSide: 'credit', allowNegative: false, ownerType: 'user' },
  merchant_payable: { normalSide: 'credit', allowNegative: false, ownerType: 'merchant' },
  gateway_clearing: { normalSide: 'debit', allowNegative: true, ownerType: 'platform' },
  fees_revenue: { normalSide: 'credit', allowNegative: true, ownerType: 'platform' },
  payouts_in_transit: { normalSide: 'debit', allowNegative: true, ownerType: 'platform' },
  fx: { normalSide: 'debit', allowNegative: true, ownerType: 'platform' },
  suspense: { normalSide: 'debit', allowNegative: true, ownerType: 'platform' },
  external_funding: { normalSide: 'debit', allowNegative: true, ownerType: 'platform' },
};

/**
 * Platform accounts touched by every payment are spread over this many shards, so concurrent
 * postings take different row locks; their balance is the sum of the shards. Owner accounts
 * (a wallet, a merchant's payable) have one shard unless asked for more.
 */
export const PLATFORM_ACCOUNT_SHARDS = 32;
const PLATFORM_PURPOSES: readonly LedgerPurpose[] = [
  'gateway_clearing',
  'fees_revenue',
  'payouts_in_transit',
  'fx',
  'suspense',
  'external_funding',
];
/** Serialization failures and deadlocks are retried this many times before they surface. */
const RETRY_ATTEMPTS_MAX = 5;
const RETRY_BACKOFF_MS = 5;
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);
const SWEEP_BATCH_SIZE = 500;
/** Remembered account ids, at most; the map starts over beyond it. */
const SHARD_CACHE_MAX = 10_000;

export type Posting = repo.Posting;

export interface CaptureRequest {
  readonly holdId: string;
  readonly amountMinor: bigint;
  readonly toAccountId: string;
  readonly idempotencyRef: string;
  readonly description?: string;
  /** What the capture is for, e.g. `withdrawal`; `capture` by default. */
  readonly entryType?: LedgerEntryType;
}

export interface EntryRequest {
  /** The entry's id, when the caller needs to name it beforehand (e.g. in its reference). */
  readonly id?: string;
  readonly type: LedgerEntryType;
  readonly idempotencyRef: string;
  readonly description?: string;
  readonly metadata?: Record<string, unknown>;
  readonly reversesEntryId?: string;
  readonly postings: readonly Posting[];
  /**
   * The request's Idempotency-Key and its reply: checked, and the reply stored, in the posting's
   * own statement. A key already answered throws `IdempotentReplay` (nothing posted); one in
   * flight or used for another request, a 409 or 422.
   */
  readonly idempotency?: KeyAndReply;
}

/** What a statement carrying `ledger_post` raised, as the client should see it; null for a bug. */
export function postingRefusal(error: unknown): Error | null {
  return keyRefusal(error) ?? ledgerRefusal(error);
}

/** The shard-id cache's key for an account key (owner, purpose, currency). */
function shardCacheKey(key: repo.AccountKey): string {
  return `${key.ownerType}:${key.ownerId ?? ''}:${key.purpose}:${key.currency}`;
}

export function createLedgerService(deps: {
  db: Db;
  clock: Clock;
  random?: () => number;
  audit?: AuditService;
}) {
  const { db, clock } = deps;
  const random = deps.random ?? Math.random;
  /** Account ids never change once created: platform shards are looked up once per process. */
  const shardIds = new Map<string, readonly string[]>();

  /**
   * The ids of an account's shards, made when missing. Looked up through the caller's executor:
   * inside a transaction, asking the pool for a second connection could deadlock a full pool.
   * Remembered only once committed for certain: rows this very transaction created are not
   * cached, since it may still roll back.
   */
  async function accountsFor(
    executor: Executor,
    key: repo.AccountKey,
    shards: number,
  ): Promise<readonly string[]> {
    const cacheKey = shardCacheKey(key);
    const cached = shardIds.get(cacheKey);
    if (cached !== undefined && cached.length >= shards) return cached;
    let rows = await repo.findAccountIds(executor, key);
    if (rows.length < shards) {
      const behaviour = PURPOSES[key.purpose];
      const now = clock.now().getTime();
      await repo.ensureAccounts(executor, key, {
        shards,
        normalSide: behaviour.normalSide,
        allowNegative: behaviour.allowNegative,
        newIds: Array.from({ length: shards }, () => uuidv7(now)),
      });
      rows = await repo.findAccountIds(executor, key);
    }
    if (!rows.some((row) => row.createdByThisTransaction)) {
      if (shardIds.size > SHARD_CACHE_MAX) shardIds.clear();
      shardIds.set(
        cacheKey,
        rows.map((row) => row.id),
      );
    }
    return rows.map((row) => row.id);
  }

  function platformShards(
    purpose: LedgerPurpose,
    currency: string,
    executor: Executor = db,
  ): Promise<readonly string[]> {
    return accountsFor(
      executor,
      { ownerType: 'platform', ownerId: null, purpose, currency },
      PLATFORM_ACCOUNT_SHARDS,
    );
  }

  function ownerShards(
    owner: { type: 'user' | 'merchant'; id: string },
    purpose: LedgerPurpose,
    currency: string,
    shards: number,
    executor: Executor = db,
  ): Promise<readonly string[]> {
    return accountsFor(executor, { ownerType: owner.type, ownerId: owner.id, purpose, currency }, shards);
  }

  const pickAtRandom = (ids: readonly string[]): string => ids[Math.floor(random() * ids.length)] as string;

  async function post(executor: Executor, request: EntryRequest): Promise<PostResult> {
    try {
      return await repo.post(executor, postingCall(request));
    } catch (error) {
      throw postingRefusal(error) ?? error;
    }
  }

  /** The posting as an SQL expression, for a use case that posts within a statement of its own. */
  function postingCall(request: EntryRequest) {
    const now = clock.now();
    return repo.postingCall(
      {
        id: request.id ?? uuidv7(now.getTime()),
        type: request.type,
        description: request.description ?? '',
        metadata: request.metadata ?? {},
        idempotencyRef: request.idempotencyRef,
        reversesEntryId: request.reversesEntryId ?? null,
        createdAt: now,
      },
      request.postings.map((posting) => ({ id: uuidv7(now.getTime()), ...posting })),
      request.idempotency === undefined ? null : keyArgument(request.idempotency, now),
    );
  }

  /**
   * Hold operations are several statements under row locks: handed the pool rather than a
   * transaction, they make a transaction of their own, so a refusal halfway leaves nothing behind.
   */
  function inTransaction<T>(executor: Executor, run: (trx: Executor) => Promise<T>): Promise<T> {
    return executor.isTransaction ? run(executor) : db.transaction().execute(run);
  }

  /** Releases what a hold has left (`expired` when the sweep does it). */
  function voidHold(
    executor: Executor,
    holdId: string,
    status: 'voided' | 'expired' = 'voided',
  ): Promise<HoldRow> {
    return inTransaction(executor, (trx) => voidHoldIn(trx, holdId, status));
  }

  async function voidHoldIn(
    executor: Executor,
    holdId: string,
    status: 'voided' | 'expired',
  ): Promise<HoldRow> {
    const now = clock.now();
    const hold = await repo.findHold(executor, { id: holdId }, true);
    if (hold === undefined) throw holdNotFound();
    if (hold.status !== 'active') throw holdNotActive(hold.status);
    await repo.changeHeld(executor, hold.accountId, -(hold.amountMinor - hold.capturedMinor), now);
    return repo.updateHold(executor, hold.id, { status, updatedAt: now });
  }

  /**
   * Reserves `amountMinor` of the account's available balance. The ledger balance is unchanged
   * until a capture; a reference is unique per account (the same reference returns the same hold).
   */
  async function authorizeHoldIn(
    executor: Executor,
    input: { accountId: string; amountMinor: bigint; reference: string; expiresAt?: Date | null },
  ): Promise<HoldRow> {
    if (input.amountMinor <= 0n) throw new Error('a hold must be positive');
    const now = clock.now();
    const account = await repo.findAccountById(executor, input.accountId, true);
    if (account === undefined) throw new Error(`unknown account ${input.accountId}`);
    const existing = await repo.findHold(executor, { accountId: account.id, reference: input.reference });
    if (existing !== undefined) return existing;
    if (account.status !== 'open') throw accountNotOpen();
    if (!account.allowNegative && account.balanceMinor - account.heldMinor < input.amountMinor) {
      throw insufficientFunds();
    }
    await repo.changeHeld(executor, account.id, input.amountMinor, now);
    // A hold lowers the available balance as a posting does: the same low-balance edge applies.
    const availableBefore = account.balanceMinor - account.heldMinor;
    const threshold = account.lowBalanceThresholdMinor;
    if (
      threshold !== null &&
      availableBefore >= threshold &&
      availableBefore - input.amountMinor < threshold
    ) {
      await repo.insertLowBalanceEvent(executor, {
        id: uuidv7(now.getTime()),
        account,
        availableMinor: availableBefore - input.amountMinor,
        at: now,
        cause: { holdReference: input.reference },
      });
    }
    const hold = await repo.insertHold(executor, {
      id: uuidv7(now.getTime()),
      accountId: account.id,
      amountMinor: input.amountMinor,
      reference: input.reference,
      expiresAt: input.expiresAt ?? null,
      createdAt: now,
    });
    if (hold === undefined) throw new Error('hold insert conflicted under the account lock');
    return hold;
  }

  /**
   * Captures part or all of what a hold has left, moving it from the held account to
   * `toAccountId`; the hold is done when nothing is left. A capture retried with the same
   * reference replays: it moves nothing and leaves the hold as it is.
   */
  async function captureHoldIn(
    executor: Executor,
    input: CaptureRequest,
  ): Promise<{ hold: HoldRow; entry: PostResult }> {
    const now = clock.now();
    const hold = await repo.findHold(executor, { id: input.holdId }, true);
    if (hold === undefined) throw holdNotFound();
    const type = input.entryType ?? 'capture';
    const previous = await repo.findEntryByRef(executor, type, input.idempotencyRef);
    if (previous !== undefined)
      return { hold, entry: { entryId: previous.id, replayed: true, postings: [] } };
    if (hold.status !== 'active') throw holdNotActive(hold.status);
    const remaining = hold.amountMinor - hold.capturedMinor;
    if (input.amountMinor <= 0n || input.amountMinor > remaining) throw captureAboveHold(remaining);
    const account = await repo.findAccountById(executor, hold.accountId, true);
    if (account === undefined) throw new Error('hold without an account');
    // Release the captured part first, so the posting may spend exactly the money it held.
    await repo.changeHeld(executor, hold.accountId, -input.amountMinor, now);
    const sign = account.normalSide === 'credit' ? 1n : -1n;
    const entry = await post(executor, {
      type,
      idempotencyRef: input.idempotencyRef,
      description: input.description ?? `capture of hold ${hold.reference}`,
      metadata: { holdId: hold.id },
      postings: [
        { accountId: hold.accountId, amountMinor: sign * input.amountMinor },
        { accountId: input.toAccountId, amountMinor: -sign * input.amountMinor },
      ],
    });
    const captured = hold.capturedMinor + input.amountMinor;
    const updated = await repo.updateHold(executor, hold.id, {
      capturedMinor: captured,
      ...(captured === hold.amountMinor ? { status: 'captured' as const } : {}),
      updatedAt: now,
    });
    return { hold: updated, entry };
  }

  return {
    /**
     * Writes one balanced entry through the caller's executor (so it commits with the change that
     * caused it). The same type and idempotency reference never posts twice: the second call
     * answers `replayed: true` and moves nothing.
     */
    post,

    /**
     * The same posting as an SQL expression (`ledger_post(...)`), for a use case that writes and
     * posts in one statement of its own; map what that statement raises with `postingRefusal`.
     */
    postingCall,

    /**
     * A platform account for this purpose and currency: one of its shards, chosen at random.
     * Inside a transaction, pass it as `executor`.
     */
    async platformAccount(
      purpose: LedgerPurpose,
      currency: string,
      executor: Executor = db,
    ): Promise<string> {
      return pickAtRandom(await platformShards(purpose, currency, executor));
    },

    /**
     * An owner's (single-shard) account, only when this process has already looked it up: no
     * database call, and no account made for an owner that may not exist.
     */
    knownOwnerAccount(
      owner: { type: 'user' | 'merchant'; id: string },
      purpose: LedgerPurpose,
      currency: string,
    ): string | undefined {
      return shardIds.get(
        shardCacheKey({ ownerType: owner.type, ownerId: owner.id, purpose, currency }),
      )?.[0];
    },

    /** Every shard of a platform account, for a posting line that names them all (`shardIds`). */
    platformAccountShards: platformShards,

    /** Every shard of an owner's hot account (created on first use), for a `shardIds` posting line. */
    ownerAccountShards: ownerShards,

    /**
     * One of an owner's account shards, at random, created on first use. For accounts that take
     * a merchant's whole traffic; with one shard, simply the owner's account.
     */
    async shardedOwnerAccount(
      owner: { type: 'user' | 'merchant'; id: string },
      purpose: LedgerPurpose,
      currency: string,
      shards: number,
      executor: Executor = db,
    ): Promise<string> {
      return pickAtRandom(await ownerShards(owner, purpose, currency, shards, executor));
    },

    /** The owner's account, created on first use (one shard). */
    async ownerAccount(
      executor: Executor,
      owner: { type: 'user' | 'merchant'; id: string },
      purpose: LedgerPurpose,
      currency: string,
    ): Promise<AccountRow> {
      const [id] = await accountsFor(
        executor,
        { ownerType: owner.type, ownerId: owner.id, purpose, currency },
        1,
      );
      const account = id === undefined ? undefined : await repo.findAccountById(executor, id);
      if (account === undefined) throw new Error('account was not created');
      return account;
    },

    /** The 15-minute check's work (see `recordMissedLowBalances`); answers how many alerts. */
    recordMissedLowBalances(): Promise<number> {
      return repo.recordMissedLowBalances(db, clock.now());
    },

    async setLowBalanceThreshold(accountId: string, thresholdMinor: bigint | null): Promise<AccountRow> {
      return repo.setLowBalanceThreshold(db, accountId, thresholdMinor, clock.now());
    },

    /** Every account of an owner for one purpose (each currency, each shard). */
    async findOwnerAccounts(
      executor: Executor,
      owner: { type: 'user' | 'merchant'; id: string },
      purpose: LedgerPurpose,
    ): Promise<AccountRow[]> {
      return repo.findOwnerAccounts(executor, owner, purpose);
    },

    async findAccounts(executor: Executor, key: repo.AccountKey): Promise<AccountRow[]> {
      return repo.findAccounts(executor, key);
    },

    /**
     * Reserves `amountMinor` of the account's available balance. The ledger balance is unchanged
     * until a capture; a reference is unique per account (the same reference returns the same hold).
     */
    authorizeHold(
      executor: Executor,
      input: { accountId: string; amountMinor: bigint; reference: string; expiresAt?: Date | null },
    ): Promise<HoldRow> {
      return inTransaction(executor, (trx) => authorizeHoldIn(trx, input));
    },

    captureHold(executor: Executor, input: CaptureRequest): Promise<{ hold: HoldRow; entry: PostResult }> {
      return inTransaction(executor, (trx) => captureHoldIn(trx, input));
    },

    voidHold,

    /** Voids holds past their expiry, a batch per transaction; returns how many. */
    async expireHolds(): Promise<number> {
      let expired = 0;
      for (;;) {
        const ids = await repo.findExpiredHoldIds(db, clock.now(), SWEEP_BATCH_SIZE);
        for (const id of ids) {
          await withRetry(() =>
            db.transaction().execute(async (trx) => {
              const hold = await repo.findHold(trx, { id }, true);
              if (hold?.status !== 'active') return;
              await voidHold(trx, id, 'expired');
              expired += 1;
            }),
          );
        }
        if (ids.length < SWEEP_BATCH_SIZE) return expired;
      }
    },

    async freezeAccount(
      accountId: string,
      status: 'open' | 'frozen' | 'closed',
    ): Promise<AccountRow | undefined> {
      return repo.setAccountStatus(db, accountId, status, clock.now());
    },

    /** Admin: open, freeze or close an account (audited); frozen and closed accounts refuse postings. */
    async changeAccountStatus(
      accountId: string,
      status: 'open' | 'frozen' | 'closed',
      context: RequestContext,
    ): Promise<AccountRow> {
      return db.transaction().execute(async (trx) => {
        const before = await repo.findAccountById(trx, accountId, true);
        if (before === undefined) throw notFound('Account', 'ACCOUNT_NOT_FOUND');
        const after = await repo.setAccountStatus(trx, accountId, status, clock.now());
        if (after === undefined) throw new Error('account vanished under its lock');
        await deps.audit?.record(trx, context, {
          action: 'ledger.account_status_changed',
          targetType: 'ledger_account',
          targetId: accountId,
          details: { from: before.status, to: status },
        });
        return after;
      });
    },

    /**
     * Platform accounts for every configured currency, made at start so no payment has to create
     * them (and every process remembers their ids from the first request).
     */
    async ensurePlatformAccounts(currencies: readonly string[]): Promise<void> {
      for (const currency of currencies) {
        for (const purpose of PLATFORM_PURPOSES) {
          await accountsFor(
            db,
            { ownerType: 'platform', ownerId: null, purpose, currency },
            PLATFORM_ACCOUNT_SHARDS,
          );
        }
      }
    },

    /** Every account against its postings and holds, every entry against zero, in one snapshot. */
    async verify(): Promise<{
      ok: boolean;
      accountsChecked: number;
      entriesChecked: number;
      differences: repo.Difference[];
    }> {
      const result = await db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute((trx) => repo.verify(trx));
      return { ok: result.differences.length === 0, ...result };
    },

    async listAccounts(
      filter: repo.AccountFilter,
      page: PageRequest,
    ): Promise<{ accounts: AccountRow[]; pagination: PageInfo }> {
      const { rows, totalRecords } = await repo.findAccountPage(db, filter, page);
      return { accounts: rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },

    async listEntries(
      filter: { accountId?: string; type?: LedgerEntryType },
      page: PageRequest,
    ): Promise<{ entries: repo.EntryRow[]; pagination: PageInfo }> {
      const { rows, totalRecords } = await repo.findEntryPage(db, filter, page);
      return { entries: rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },
  };
}

export type LedgerService = ReturnType<typeof createLedgerService>;

/**
 * Runs a whole use case again when PostgreSQL aborts it for a serialization failure or a
 * deadlock, so callers never see one. The use case must be a transaction of its own (it is
 * re-run from the start).
 */
export async function withRetry<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === undefined || !RETRYABLE_SQLSTATES.has(code) || attempt >= RETRY_ATTEMPTS_MAX) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_BACKOFF_MS * attempt * (1 + Math.random())));
    }
  }
}
