import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageRequest } from '../../http/pagination.ts';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { Ok, replies, StringEnum, Uuid } from '../../http/schemas.ts';
import { toMajorUnits } from '../../lib/money.ts';
import type { MerchantBalanceService } from './merchant-balances.ts';
import type { AccountRow } from './repo.ts';
import {
  AccountListQuery,
  AccountListReply,
  EntryListQuery,
  EntryListReply,
  LedgerAccount,
  MerchantBalanceReply,
  VerifyReply,
} from './schemas.ts';
import type { LedgerService } from './service.ts';

const ACCESS = { access: ['admin'] as const };
const TAGS = ['ledger'];

export const ledgerRoutes: FastifyPluginAsyncTypebox<{ ledger: LedgerService }> = async (app, { ledger }) => {
  app.get(
    '/admin/ledger/verify',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary:
          'Recompute every account from its postings and check that every entry and the ledger balance',
        response: replies({ 200: VerifyReply }),
      },
    },
    async () => ({ success: true as const, data: await ledger.verify() }),
  );

  app.get(
    '/admin/ledger/accounts',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Ledger accounts, newest first (amounts in minor units)',
        querystring: AccountListQuery,
        response: replies({ 200: AccountListReply }),
      },
    },
    async (request) => {
      const { ownerId, purpose, currency } = request.query;
      const { accounts, pagination } = await ledger.listAccounts(
        { ownerId, purpose, currency },
        pageRequest(request.query),
      );
      return { success: true as const, data: { accounts: accounts.map(presentAccount), pagination } };
    },
  );

  app.post(
    '/admin/ledger/accounts/:id/status',
    {
      config: { ...ACCESS, idempotency: 'none' as const },
      schema: {
        tags: TAGS,
        summary: 'Open, freeze or close an account (frozen and closed accounts refuse postings); audited',
        params: Type.Object({ id: Uuid }),
        body: Type.Object(
          { status: StringEnum(['open', 'frozen', 'closed'] as const) },
          { additionalProperties: false },
        ),
        response: replies({ 200: Ok(Type.Object({ account: LedgerAccount })) }),
      },
    },
    async (request) => {
      const account = await ledger.changeAccountStatus(
        request.params.id,
        request.body.status,
        requestContext(request),
      );
      return {
        success: true as const,
        data: { account: presentAccount(account) },
        message: `Account is ${account.status}`,
      };
    },
  );

  app.get(
    '/admin/ledger/entries',
    {
      config: ACCESS,
      schema: {
        tags: TAGS,
        summary: 'Journal entries with their postings, newest first (amounts in minor units)',
        querystring: EntryListQuery,
        response: replies({ 200: EntryListReply }),
      },
    },
    async (request) => {
      const { accountId, type } = request.query;
      const data = await ledger.listEntries({ accountId, type }, pageRequest(request.query));
      return { success: true as const, data };
    },
  );
};

function presentAccount(account: AccountRow) {
  return {
    id: account.id,
    ownerType: account.ownerType,
    ownerId: account.ownerId,
    purpose: account.purpose,
    currency: account.currency,
    shard: account.shard,
    normalSide: account.normalSide,
    allowNegative: account.allowNegative,
    debitsMinor: account.debitsMinor.toString(),
    creditsMinor: account.creditsMinor.toString(),
    balanceMinor: account.balanceMinor.toString(),
    heldMinor: account.heldMinor.toString(),
    availableMinor: (account.balanceMinor - account.heldMinor).toString(),
    status: account.status,
    createdAt: account.createdAt,
    updatedAt: account.updatedAt,
  };
}

/** What a merchant is owed for the payments it received, per currency. */
export const merchantBalanceRoutes: FastifyPluginAsyncTypebox<{
  merchantBalances: MerchantBalanceService;
}> = async (app, { merchantBalances }) => {
  app.get(
    '/merchant/balance',
    {
      config: { access: ['merchant'] },
      schema: {
        tags: ['merchants'],
        summary: "The merchant's payable balance per currency (successful payments less fees and reversals)",
        response: replies({ 200: MerchantBalanceReply }),
      },
    },
    async (request) => {
      const merchantId = requirePrincipal(request.principal).merchantId;
      if (merchantId === null) throw new Error('a merchant principal without a merchant');
      const balances = await merchantBalances.balances(merchantId);
      return {
        success: true as const,
        data: {
          balances: balances.map((row) => ({
            currency: row.currency,
            balance: toMajorUnits(row.balanceMinor),
            balanceMinor: row.balanceMinor.toString(),
          })),
        },
      };
    },
  );
};
