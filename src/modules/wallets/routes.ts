import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageRequest } from '../../http/pagination.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { Ok, replies } from '../../http/schemas.ts';
import { trimBodyStrings } from '../../http/trim.ts';
import { toMajorUnitsOf } from '../../lib/money.ts';
import type { LedgerService } from '../ledger/index.ts';
import {
  AddressReply,
  AdminWalletQuery,
  AdminWalletReply,
  BalanceReply,
  DepositBody,
  DepositReply,
  FailWithdrawalBody,
  HistoryQuery,
  HistoryReply,
  ThresholdBody,
  TransferBody,
  TransferReply,
  WalletBalance,
  WithdrawalParams,
  WithdrawalReply,
  WithdrawBody,
} from './schemas.ts';
import type {
  TransferResult,
  WalletBalance as WalletBalanceRow,
  WalletService,
  WithdrawalRow,
} from './service.ts';

const OWNER = { access: 'authenticated' as const };

function presentBalance(wallet: WalletBalanceRow) {
  return {
    currency: wallet.currency,
    balance: toMajorUnitsOf(wallet.balanceMinor, wallet.scale),
    availableBalance: toMajorUnitsOf(wallet.balanceMinor - wallet.heldMinor, wallet.scale),
    heldAmount: toMajorUnitsOf(wallet.heldMinor, wallet.scale),
    lowBalanceThreshold:
      wallet.lowBalanceThresholdMinor === null
        ? null
        : toMajorUnitsOf(wallet.lowBalanceThresholdMinor, wallet.scale),
  };
}
const ADMIN = { access: ['admin'] as const };
const TAGS = ['wallets'];

export const walletRoutes: FastifyPluginAsyncTypebox<{
  wallets: WalletService;
  ledger: LedgerService;
}> = async (app, { wallets, ledger }) => {
  const scaleOf = (currency: string) => wallets.currencies.find((item) => item.code === currency)?.scale ?? 2;
  const major = (minor: bigint, currency: string) => toMajorUnitsOf(minor, scaleOf(currency));
  const presentWithdrawal = (withdrawal: WithdrawalRow) => ({
    id: withdrawal.id,
    amount: major(withdrawal.amountMinor, withdrawal.currency),
    currency: withdrawal.currency,
    destination: withdrawal.destination,
    status: withdrawal.status,
    failureReason: withdrawal.failureReason,
    createdAt: withdrawal.createdAt,
    updatedAt: withdrawal.updatedAt,
  });

  app.get(
    '/wallet/balance',
    {
      config: OWNER,
      schema: {
        tags: TAGS,
        summary: 'Balances of the caller’s wallets, one per currency',
        response: replies({ 200: BalanceReply }),
      },
    },
    async (request) => {
      const balances = await wallets.balances(requirePrincipal(request.principal).userId);
      return {
        success: true as const,
        data: {
          wallets: balances.map(presentBalance),
        },
      };
    },
  );

  app.put(
    '/wallet/low-balance-threshold',
    {
      config: OWNER,
      schema: {
        tags: TAGS,
        summary: 'Set (or clear with null) the balance below which one wallet.low_balance event is recorded',
        body: ThresholdBody,
        response: replies({ 200: Ok(Type.Object({ wallet: WalletBalance })) }),
      },
    },
    async (request) => {
      const wallet = await wallets.setLowBalanceThreshold(
        requirePrincipal(request.principal).userId,
        request.body,
      );
      return { success: true as const, data: { wallet: presentBalance(wallet) }, message: 'Threshold saved' };
    },
  );

  app.post(
    '/wallet/deposit',
    {
      config: { ...OWNER, idempotency: 'required' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary:
          'Credit the wallet from outside (sandbox in development; admins only in production). Idempotency-Key required',
        body: DepositBody,
        response: replies({ 201: DepositReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (deposit: {
        entryId: string;
        currency: { code: string; scale: number };
        amountMinor: bigint;
      }) => ({
        success: true as const,
        data: {
          deposit: {
            entryId: deposit.entryId,
            amount: toMajorUnitsOf(deposit.amountMinor, deposit.currency.scale),
            currency: deposit.currency.code,
            reference: request.body.reference,
          },
        },
        message: 'Deposit credited',
      });
      const result = await wallets.deposit(
        requirePrincipal(request.principal),
        request.body,
        requestContext(request),
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.post(
    '/wallet/transfer',
    {
      // The hot path: the key is checked and the reply stored in the posting's own statement.
      config: { ...OWNER, idempotency: 'required' as const, idempotencyClaim: 'use-case' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Move money to another user’s wallet (same currency). Idempotency-Key required',
        body: TransferBody,
        response: replies({ 201: TransferReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (transfer: TransferResult) => ({
        success: true as const,
        data: {
          transfer: {
            entryId: transfer.entryId,
            to: transfer.toUserId,
            amount: toMajorUnitsOf(transfer.amountMinor, transfer.currency.scale),
            currency: transfer.currency.code,
            note: request.body.note ?? null,
          },
        },
        message: 'Transfer completed',
      });
      const keyed = request.idempotentRequest;
      const result = await wallets.transfer(
        requirePrincipal(request.principal),
        request.body,
        keyed === null ? undefined : { request: keyed, statusCode: 201, body: replyBody },
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.post(
    '/wallet/withdraw',
    {
      config: { ...OWNER, idempotency: 'required' as const },
      preValidation: trimBodyStrings,
      schema: {
        tags: TAGS,
        summary: 'Withdraw to a VPA or bank account: the amount is held until the payout completes or fails',
        body: WithdrawBody,
        response: replies({ 201: WithdrawalReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (withdrawal: WithdrawalRow) => ({
        success: true as const,
        data: { withdrawal: presentWithdrawal(withdrawal) },
        message: 'Withdrawal pending',
      });
      const result = await wallets.withdraw(
        requirePrincipal(request.principal),
        request.body,
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.get(
    '/wallet/transactions',
    {
      config: OWNER,
      schema: {
        tags: TAGS,
        summary: 'Wallet history, newest first',
        querystring: HistoryQuery,
        response: replies({ 200: HistoryReply }),
      },
    },
    async (request) => {
      const { type, direction, currency, startDate, endDate } = request.query;
      const { rows, pagination } = await wallets.history(
        requirePrincipal(request.principal).userId,
        {
          type,
          direction,
          currency,
          from: startDate === undefined ? undefined : new Date(startDate),
          to: endDate === undefined ? undefined : new Date(new Date(endDate).getTime() + 1),
        },
        pageRequest(request.query),
      );
      return {
        success: true as const,
        data: {
          transactions: rows.map((row) => ({
            id: row.id,
            entryId: row.entryId,
            type: row.type,
            // A wallet is credit-normal: a credit (negative posting) raises it.
            direction: row.amountMinor < 0n ? ('credit' as const) : ('debit' as const),
            amount: major(row.amountMinor < 0n ? -row.amountMinor : row.amountMinor, row.currency),
            currency: row.currency,
            balanceAfter: row.balanceAfterMinor === null ? null : major(row.balanceAfterMinor, row.currency),
            counterpartyUserId: row.counterpartyUserId,
            // The caller's own reference for a deposit; otherwise what names the movement
            // (`transfer:<entry id>`, `withdrawal:<withdrawal id>`).
            reference:
              typeof row.metadata.reference === 'string'
                ? row.metadata.reference
                : (row.idempotencyRef ?? row.id),
            description: row.description,
            status: row.status,
            createdAt: row.createdAt,
          })),
          pagination,
        },
      };
    },
  );

  app.get(
    '/wallet/address',
    {
      config: OWNER,
      schema: {
        tags: TAGS,
        summary: 'The virtual UPI address that credits the INR wallet',
        response: replies({ 200: AddressReply }),
      },
    },
    async (request) => ({
      success: true as const,
      data: wallets.depositAddress(requirePrincipal(request.principal).userId),
    }),
  );

  app.post(
    '/admin/withdrawals/:id/complete',
    {
      config: { ...ADMIN, idempotency: 'optional' as const },
      schema: {
        tags: ['admin'],
        summary: 'The payout went out: capture the held amount into payouts in transit',
        params: WithdrawalParams,
        response: replies({ 200: WithdrawalReply }),
      },
    },
    async (request) => {
      const replyBody = (withdrawal: WithdrawalRow) => ({
        success: true as const,
        data: { withdrawal: presentWithdrawal(withdrawal) },
        message: 'Withdrawal completed',
      });
      const withdrawal = await wallets.settleWithdrawal(
        request.params.id,
        { status: 'completed' },
        requestContext(request),
        request.idempotency?.within(200, replyBody),
      );
      return replyBody(withdrawal);
    },
  );

  app.post(
    '/admin/withdrawals/:id/fail',
    {
      config: { ...ADMIN, idempotency: 'optional' as const },
      schema: {
        tags: ['admin'],
        summary: 'The payout failed: release the held amount back to the wallet',
        params: WithdrawalParams,
        body: FailWithdrawalBody,
        response: replies({ 200: WithdrawalReply }),
      },
    },
    async (request) => {
      const replyBody = (withdrawal: WithdrawalRow) => ({
        success: true as const,
        data: { withdrawal: presentWithdrawal(withdrawal) },
        message: 'Withdrawal failed',
      });
      const withdrawal = await wallets.settleWithdrawal(
        request.params.id,
        { status: 'failed', reason: request.body.reason },
        requestContext(request),
        request.idempotency?.within(200, replyBody),
      );
      return replyBody(withdrawal);
    },
  );

  for (const path of ['/wallets', '/admin/wallets'])
    app.get(
      path,
      {
        config: ADMIN,
        schema: {
          tags: ['admin'],
          summary: 'Every wallet with its owner and balances',
          querystring: AdminWalletQuery,
          response: replies({ 200: AdminWalletReply }),
        },
      },
      async (request) => {
        const { userId, currency } = request.query;
        const { accounts, pagination } = await ledger.listAccounts(
          { ownerId: userId, purpose: 'wallet', currency },
          pageRequest(request.query),
        );
        return {
          success: true as const,
          data: {
            wallets: accounts.map((account) => ({
              accountId: account.id,
              userId: account.ownerId ?? '',
              currency: account.currency,
              balance: major(account.balanceMinor, account.currency),
              availableBalance: major(account.balanceMinor - account.heldMinor, account.currency),
              heldAmount: major(account.heldMinor, account.currency),
              status: account.status,
              createdAt: account.createdAt,
            })),
            pagination,
          },
        };
      },
    );
};
