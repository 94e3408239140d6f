import type { Db } from '../../db/database.ts';
import { type KeyedReply, requireNewKey, type WithinTransaction } from '../../http/idempotency.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { sha256Hex } from '../../lib/crypto.ts';
import { isUuid, uuidv7 } from '../../lib/ids.ts';
import { type MinorUnits, toMinorUnits } from '../../lib/money.ts';
import type { AuditService } from '../audit/index.ts';
import type { AuthService } from '../auth/index.ts';
import { recordEvents } from '../events/record.ts';
import { type EntryRequest, type LedgerService, postingRefusal, withRetry } from '../ledger/index.ts';
import {
  duplicateReference,
  invalidField,
  recipientNotFound,
  selfTransfer,
  untrustedDeposit,
  withdrawalNotFound,
  withdrawalNotPending,
} from './errors.ts';
import * as repo from './repo.ts';

export interface Currency {
  readonly code: string;
  readonly scale: number;
}

export interface WalletBalance {
  currency: string;
  scale: number;
  balanceMinor: bigint;
  heldMinor: bigint;
  lowBalanceThresholdMinor: bigint | null;
}

export interface TransferResult {
  readonly entryId: string;
  readonly currency: Currency;
  readonly amountMinor: bigint;
  readonly toUserId: string;
}

export type WithdrawalRow = repo.WithdrawalRow;
export type HistoryRow = repo.HistoryRow;

const VPA_CODE_LENGTH = 10;

export function createWalletService(deps: {
  db: Db;
  clock: Clock;
  ledger: LedgerService;
  auth: Pick<AuthService, 'findActiveUser'>;
  audit: AuditService;
  currencies: readonly Currency[];
  vpaHandle: string;
  /** Production: only trusted sources (an admin) may credit a wallet from outside. */
  sandboxDeposits: boolean;
}) {
  const { db, clock, ledger, auth, audit, vpaHandle } = deps;
  const currencies = new Map(deps.currencies.map((currency) => [currency.code, currency]));
  const defaultCurrency = deps.currencies[0]?.code ?? 'INR';

  /** The currency (default first) and the amount in its minor units, or a 400 naming the field. */
  function money(
    amount: number,
    currencyCode: string | undefined,
  ): { currency: Currency; amountMinor: MinorUnits } {
    const currency = currencies.get(currencyCode ?? defaultCurrency);
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
    return { currency, amountMinor };
  }

  /** A wallet exists from its owner's first use; its account is made outside any transaction. */
  function walletAccount(userId: string, currency: string): Promise<string> {
    return ledger.shardedOwnerAccount({ type: 'user', id: userId }, 'wallet', currency, 1);
  }

  return {
    currencies: deps.currencies,

    async balances(userId: string): Promise<WalletBalance[]> {
      const accounts = await ledger.findOwnerAccounts(db, { type: 'user', id: userId }, 'wallet');
      return deps.currencies.map((currency) => {
        const account = accounts.find((row) => row.currency === currency.code);
        return {
          currency: currency.code,
          scale: currency.scale,
          balanceMinor: account?.balanceMinor ?? 0n,
          heldMinor: account?.heldMinor ?? 0n,
          lowBalanceThresholdMinor: account?.lowBalanceThresholdMinor ?? null,
        };
      });
    },

    /** Below this available balance one `wallet.low_balance` event is recorded; null clears it. */
    async setLowBalanceThreshold(
      userId: string,
      input: { currency?: string; threshold: number | null },
    ): Promise<WalletBalance> {
      const currency = currencies.get(input.currency ?? defaultCurrency);
      if (currency === undefined) {
        throw invalidField('currency', `must be one of ${[...currencies.keys()].join(', ')}`);
      }
      let thresholdMinor: bigint | null = null;
      if (input.threshold !== null) {
        thresholdMinor = toMinorUnits(input.threshold, currency.scale);
        if (thresholdMinor === null) {
          throw invalidField('threshold', `must be 0 or more with at most ${currency.scale} decimals`);
        }
      }
      const account = await ledger.setLowBalanceThreshold(
        await walletAccount(userId, currency.code),
        thresholdMinor,
      );
      return {
        currency: currency.code,
        scale: currency.scale,
        balanceMinor: account.balanceMinor,
        heldMinor: account.heldMinor,
        lowBalanceThresholdMinor: account.lowBalanceThresholdMinor,
      };
    },

    /** Credit from outside (a bank, a card, the sandbox); `reference` is unique per wallet. */
    async deposit(
      principal: Principal,
      input: { amount: number; currency?: string; reference: string; userId?: string },
      context: RequestContext,
      within?: WithinTransaction<{ entryId: string; currency: Currency; amountMinor: bigint }>,
    ) {
      if (!deps.sandboxDeposits && principal.role !== 'admin') throw untrustedDeposit();
      if (input.userId !== undefined && principal.role !== 'admin') {
        throw invalidField('userId', 'can only be given by an admin');
      }
      const userId = input.userId ?? principal.userId;
      if (input.userId !== undefined && (await auth.findActiveUser({ id: input.userId })) === null) {
        throw recipientNotFound();
      }
      const { currency, amountMinor } = money(input.amount, input.currency);
      const [wallet, funding] = await Promise.all([
        walletAccount(userId, currency.code),
        ledger.platformAccount('external_funding', currency.code),
      ]);
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const entry = await ledger.post(trx, {
            type: 'deposit',
            // Unique per wallet: one user's reference may come back in another currency.
            idempotencyRef: `deposit:${userId}:${currency.code}:${input.reference}`,
            description: `Deposit ${input.reference}`,
            metadata: {
              reference: input.reference,
              userId,
              source: principal.role === 'admin' ? 'admin' : 'sandbox',
            },
            postings: [
              { accountId: funding, amountMinor },
              { accountId: wallet, amountMinor: -amountMinor },
            ],
          });
          if (entry.replayed) throw duplicateReference(input.reference);
          if (principal.role === 'admin') {
            await audit.record(trx, context, {
              action: 'wallet.deposit_by_admin',
              targetType: 'user',
              targetId: userId,
              details: {
                amountMinor: amountMinor.toString(),
                currency: currency.code,
                reference: input.reference,
              },
            });
          }
          const result = { entryId: entry.entryId, currency, amountMinor };
          await within?.(trx, result);
          return result;
        }),
      );
    },

    /** Between two users' wallets in one currency. */
    async transfer(
      principal: Principal,
      input: { to: string; amount: number; currency?: string; note?: string },
      keyed?: KeyedReply<TransferResult>,
    ): Promise<TransferResult> {
      const { currency, amountMinor } = money(input.amount, input.currency);
      // A refusal that depends on the payee's state still answers a key already used first: the
      // stored reply (the money moved before the payee was deactivated), a 422 or a 409.
      const refuse = async (error: Error): Promise<never> => {
        if (keyed !== undefined) await requireNewKey(db, keyed.request, clock.now());
        throw error;
      };
      if (input.to === principal.userId) return refuse(selfTransfer());
      const transferEntry = (toUserId: string, from: string, to: string) => {
        const entryId = uuidv7(clock.now().getTime());
        const result = { entryId, currency, amountMinor, toUserId };
        const entry: EntryRequest = {
          id: entryId,
          type: 'transfer',
          idempotencyRef: `transfer:${entryId}`,
          description: input.note ?? '',
          metadata: { fromUserId: principal.userId, toUserId, note: input.note ?? null },
          postings: [
            { accountId: from, amountMinor },
            { accountId: to, amountMinor: -amountMinor },
          ],
          ...(keyed === undefined
            ? {}
            : {
                idempotency: {
                  request: keyed.request,
                  statusCode: keyed.statusCode,
                  body: keyed.body(result),
                },
              }),
        };
        return { result, entry };
      };
      // The payee's check, the key's check, the posting, the event and the stored reply: one statement.
      const post = async (entry: EntryRequest, result: TransferResult): Promise<boolean> => {
        const now = clock.now();
        try {
          // One event for both users (sockets tell the payee too); a transfer records no
          // wallet.credited / debited of its own.
          return await repo.postToActiveUser(db, result.toUserId, ledger.postingCall(entry), {
            id: uuidv7(now.getTime()),
            type: 'transfer.completed',
            userId: principal.userId,
            data: {
              entryId: result.entryId,
              fromUserId: principal.userId,
              toUserId: result.toUserId,
              currency: result.currency.code,
              amountMinor: result.amountMinor.toString(),
              note: input.note ?? null,
            },
            createdAt: now,
          });
        } catch (error) {
          throw postingRefusal(error) ?? error;
        }
      };
      return withRetry(async () => {
        // A payee whose wallet this process has seen: checked (still active) in that statement.
        const knownPayee = isUuid(input.to)
          ? ledger.knownOwnerAccount({ type: 'user', id: input.to }, 'wallet', currency.code)
          : undefined;
        if (knownPayee !== undefined) {
          const from = await walletAccount(principal.userId, currency.code);
          const { result, entry } = transferEntry(input.to, from, knownPayee);
          if (!(await post(entry, result))) return refuse(recipientNotFound());
          return result;
        }
        const recipient = await auth.findActiveUser(
          isUuid(input.to) ? { id: input.to } : { email: input.to },
        );
        if (recipient === null) return refuse(recipientNotFound());
        if (recipient.id === principal.userId) return refuse(selfTransfer());
        const [from, to] = await Promise.all([
          walletAccount(principal.userId, currency.code),
          walletAccount(recipient.id, currency.code),
        ]);
        const { result, entry } = transferEntry(recipient.id, from, to);
        // Deactivated since the lookup: refused like a payee never found.
        if (!(await post(entry, result))) return refuse(recipientNotFound());
        return result;
      });
    },

    /** Holds the amount now (available balance drops); an admin completes or fails it later. */
    async withdraw(
      principal: Principal,
      input: { amount: number; currency?: string; destination: string },
      within?: WithinTransaction<WithdrawalRow>,
    ): Promise<WithdrawalRow> {
      const { currency, amountMinor } = money(input.amount, input.currency);
      const wallet = await walletAccount(principal.userId, currency.code);
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const now = clock.now();
          const id = uuidv7(now.getTime());
          const hold = await ledger.authorizeHold(trx, {
            accountId: wallet,
            amountMinor,
            reference: `withdrawal:${id}`,
          });
          const withdrawal = await repo.insertWithdrawal(trx, {
            id,
            userId: principal.userId,
            accountId: wallet,
            holdId: hold.id,
            amountMinor,
            currency: currency.code,
            destination: input.destination,
            createdAt: now,
          });
          await within?.(trx, withdrawal);
          return withdrawal;
        }),
      );
    },

    /** Admin: the payout went out (capture into payouts in transit) or failed (release the hold). */
    async settleWithdrawal(
      id: string,
      outcome: { status: 'completed' } | { status: 'failed'; reason: string },
      context: RequestContext,
      within?: WithinTransaction<WithdrawalRow>,
    ): Promise<WithdrawalRow> {
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const withdrawal = await repo.findWithdrawal(trx, id, true);
          if (withdrawal === undefined) throw withdrawalNotFound();
          if (withdrawal.status !== 'pending') throw withdrawalNotPending(withdrawal.status);
          const now = clock.now();
          let entryId: string | null = null;
          if (outcome.status === 'completed') {
            const inTransit = await ledger.platformAccount('payouts_in_transit', withdrawal.currency, trx);
            const captured = await ledger.captureHold(trx, {
              holdId: withdrawal.holdId,
              amountMinor: withdrawal.amountMinor,
              toAccountId: inTransit,
              idempotencyRef: `withdrawal:${withdrawal.id}`,
              description: `Withdrawal to ${withdrawal.destination}`,
              entryType: 'withdrawal',
            });
            entryId = captured.entry.entryId;
          } else {
            await ledger.voidHold(trx, withdrawal.holdId);
          }
          const settled = await repo.settleWithdrawal(trx, id, {
            status: outcome.status,
            failureReason: outcome.status === 'failed' ? outcome.reason : null,
            entryId,
            updatedAt: now,
          });
          await audit.record(trx, context, {
            action: `wallet.withdrawal_${outcome.status}`,
            targetType: 'wallet_withdrawal',
            targetId: id,
            details: { userId: withdrawal.userId, amountMinor: withdrawal.amountMinor.toString() },
          });
          await recordEvents(trx, [
            {
              type: outcome.status === 'completed' ? 'withdrawal.completed' : 'withdrawal.failed',
              merchantId: null,
              userId: settled.userId,
              data: {
                withdrawalId: settled.id,
                currency: settled.currency,
                amountMinor: settled.amountMinor.toString(),
                destination: settled.destination,
                status: settled.status,
                failureReason: settled.failureReason,
              },
              createdAt: now,
            },
          ]);
          await within?.(trx, settled);
          return settled;
        }),
      );
    },

    async history(
      userId: string,
      filter: repo.HistoryFilter,
      page: PageRequest,
    ): Promise<{ rows: HistoryRow[]; pagination: PageInfo }> {
      const { rows, totalRecords } = await repo.findHistory(db, userId, filter, page);
      return { rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },

    /** The virtual UPI address that credits this user's INR wallet: stable, not guessable from the id. */
    depositAddress(userId: string): { vpa: string; currency: string } {
      return {
        vpa: `tj${sha256Hex(`wallet-vpa:${userId}`).slice(0, VPA_CODE_LENGTH)}@${vpaHandle}`,
        currency: 'INR',
      };
    },
  };
}

export type WalletService = ReturnType<typeof createWalletService>;
