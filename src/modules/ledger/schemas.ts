import { Type } from 'typebox';
import { DateTime, Ok, Pagination, PaginationQuery, StringEnum, Uuid } from '../../http/schemas.ts';

const PURPOSES = [
  'wallet',
  'merchant_payable',
  'gateway_clearing',
  'fees_revenue',
  'payouts_in_transit',
  'fx',
  'suspense',
  'external_funding',
] as const;
const ENTRY_TYPES = [
  'deposit',
  'withdrawal',
  'transfer',
  'qr_payment',
  'fee',
  'swap',
  'hold',
  'capture',
  'void',
  'reversal',
  'adjustment',
  'payment',
  'refund',
] as const;
/** The ledger's own view speaks minor units, as integer strings (exact at any size). */
const Minor = Type.String({ pattern: '^-?[0-9]+$', description: 'Minor units (paise for INR)' });

export const LedgerAccount = Type.Object({
  id: Uuid,
  ownerType: StringEnum(['user', 'merchant', 'platform'] as const),
  ownerId: Type.Union([Uuid, Type.Null()]),
  purpose: StringEnum(PURPOSES),
  currency: Type.String(),
  shard: Type.Integer(),
  normalSide: StringEnum(['debit', 'credit'] as const),
  allowNegative: Type.Boolean(),
  debitsMinor: Minor,
  creditsMinor: Minor,
  balanceMinor: Minor,
  heldMinor: Minor,
  availableMinor: Minor,
  status: StringEnum(['open', 'frozen', 'closed'] as const),
  createdAt: DateTime,
  updatedAt: DateTime,
});

export const LedgerEntry = Type.Object({
  id: Uuid,
  type: StringEnum(ENTRY_TYPES),
  description: Type.String(),
  metadata: Type.Unknown(),
  idempotencyRef: Type.String(),
  reversesEntryId: Type.Union([Uuid, Type.Null()]),
  createdAt: DateTime,
  postings: Type.Array(
    Type.Object({ accountId: Uuid, amountMinor: Minor, currency: Type.String(), balanceAfterMinor: Minor }),
  ),
});

export const AccountListQuery = Type.Object({
  ...PaginationQuery,
  ownerId: Type.Optional(Uuid),
  purpose: Type.Optional(StringEnum(PURPOSES)),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{2,10}$' })),
});
export const EntryListQuery = Type.Object({
  ...PaginationQuery,
  accountId: Type.Optional(Uuid),
  type: Type.Optional(StringEnum(ENTRY_TYPES)),
});

export const AccountListReply = Ok(
  Type.Object({ accounts: Type.Array(LedgerAccount), pagination: Pagination }),
);
export const EntryListReply = Ok(Type.Object({ entries: Type.Array(LedgerEntry), pagination: Pagination }));
export const VerifyReply = Ok(
  Type.Object({
    ok: Type.Boolean(),
    accountsChecked: Type.Integer(),
    entriesChecked: Type.Integer(),
    differences: Type.Array(
      Type.Object({
        kind: StringEnum([
          'account_totals',
          'account_held',
          'entry_unbalanced',
          'ledger_unbalanced',
        ] as const),
        id: Type.String(),
        detail: Type.String(),
      }),
    ),
  }),
);

export const MerchantBalanceReply = Ok(
  Type.Object({
    balances: Type.Array(
      Type.Object({
        currency: Type.String(),
        balance: Type.Number({ description: 'Major units (rupees for INR)' }),
        balanceMinor: Minor,
      }),
    ),
  }),
);
