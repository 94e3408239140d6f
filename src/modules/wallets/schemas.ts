import { Type } from 'typebox';
import { DateTime, Ok, Pagination, PaginationQuery, StringEnum, Uuid } from '../../http/schemas.ts';

export const CurrencyCode = Type.String({
  pattern: '^[A-Z0-9]{2,10}$',
  description: 'A configured currency; default the first',
});
/** Major units; checked against the currency's decimals when converted. */
const Amount = Type.Number({
  exclusiveMinimum: 0,
  maximum: 1e12,
  description: 'Major units (rupees for INR)',
});

export const DepositBody = Type.Object(
  {
    amount: Amount,
    currency: Type.Optional(CurrencyCode),
    reference: Type.String({ minLength: 1, maxLength: 100, description: 'Unique per wallet' }),
    userId: Type.Optional(Type.String({ format: 'uuid', description: 'Admins: credit this user' })),
  },
  { additionalProperties: false },
);
export const TransferBody = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 254, description: 'User id or email' }),
    amount: Amount,
    currency: Type.Optional(CurrencyCode),
    note: Type.Optional(Type.String({ maxLength: 255 })),
  },
  { additionalProperties: false },
);
export const WithdrawBody = Type.Object(
  {
    amount: Amount,
    currency: Type.Optional(CurrencyCode),
    destination: Type.String({
      minLength: 3,
      maxLength: 320,
      // A UPI VPA, or a bank account as <account number>@<IFSC>.
      pattern: '^([a-zA-Z0-9.\\-_]{2,256}@[a-zA-Z][a-zA-Z0-9.\\-_]{2,64}|[0-9]{9,18}@[A-Z]{4}0[A-Z0-9]{6})$',
      description: 'A UPI VPA (name@bank) or a bank account as accountNumber@IFSC',
    }),
  },
  { additionalProperties: false },
);
export const FailWithdrawalBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 255 }) },
  { additionalProperties: false },
);

export const WalletBalance = Type.Object({
  currency: Type.String(),
  balance: Type.Number(),
  availableBalance: Type.Number(),
  heldAmount: Type.Number(),
  lowBalanceThreshold: Type.Union([Type.Number(), Type.Null()]),
});
export const BalanceReply = Ok(Type.Object({ wallets: Type.Array(WalletBalance) }));

export const DepositReply = Ok(
  Type.Object({
    deposit: Type.Object({
      entryId: Uuid,
      amount: Type.Number(),
      currency: Type.String(),
      reference: Type.String(),
    }),
  }),
);
export const TransferReply = Ok(
  Type.Object({
    transfer: Type.Object({
      entryId: Uuid,
      to: Uuid,
      amount: Type.Number(),
      currency: Type.String(),
      note: Type.Union([Type.String(), Type.Null()]),
    }),
  }),
);
export const Withdrawal = Type.Object({
  id: Uuid,
  amount: Type.Number(),
  currency: Type.String(),
  destination: Type.String(),
  status: StringEnum(['pending', 'completed', 'failed'] as const),
  failureReason: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export const WithdrawalReply = Ok(Type.Object({ withdrawal: Withdrawal }));

export const HistoryQuery = Type.Object({
  ...PaginationQuery,
  type: Type.Optional(
    StringEnum(['deposit', 'withdrawal', 'transfer', 'capture', 'swap', 'reversal', 'adjustment'] as const),
  ),
  direction: Type.Optional(StringEnum(['credit', 'debit'] as const)),
  currency: Type.Optional(CurrencyCode),
  startDate: Type.Optional(Type.String({ format: 'date-time' })),
  endDate: Type.Optional(Type.String({ format: 'date-time' })),
});
export const HistoryReply = Ok(
  Type.Object({
    transactions: Type.Array(
      Type.Object({
        id: Uuid,
        entryId: Type.Union([Uuid, Type.Null()], { description: 'Null for a withdrawal not paid out' }),
        type: Type.String(),
        direction: StringEnum(['credit', 'debit'] as const),
        amount: Type.Number(),
        currency: Type.String(),
        balanceAfter: Type.Union([Type.Number(), Type.Null()]),
        counterpartyUserId: Type.Union([Uuid, Type.Null()]),
        reference: Type.String(),
        description: Type.String(),
        status: StringEnum(['completed', 'pending', 'failed'] as const),
        createdAt: DateTime,
      }),
    ),
    pagination: Pagination,
  }),
);
export const AddressReply = Ok(Type.Object({ vpa: Type.String(), currency: Type.String() }));
export const AdminWalletQuery = Type.Object({
  ...PaginationQuery,
  userId: Type.Optional(Uuid),
  currency: Type.Optional(CurrencyCode),
});
export const AdminWalletReply = Ok(
  Type.Object({
    wallets: Type.Array(
      Type.Object({
        accountId: Uuid,
        userId: Uuid,
        currency: Type.String(),
        balance: Type.Number(),
        availableBalance: Type.Number(),
        heldAmount: Type.Number(),
        status: Type.String(),
        createdAt: DateTime,
      }),
    ),
    pagination: Pagination,
  }),
);
export const WithdrawalParams = Type.Object({ id: Uuid });

export const ThresholdBody = Type.Object(
  {
    currency: Type.Optional(CurrencyCode),
    threshold: Type.Union([Type.Number({ minimum: 0, maximum: 1e12 }), Type.Null()], {
      description: 'Major units; null clears it',
    }),
  },
  { additionalProperties: false },
);
