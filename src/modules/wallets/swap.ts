import type { Db, Executor } from '../../db/database.ts';
import { conflict, notFound, unprocessable } from '../../http/errors.ts';
import type { WithinTransaction } from '../../http/idempotency.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { toMinorUnits } from '../../lib/money.ts';
import type { AuditService } from '../audit/index.ts';
import { type LedgerService, withRetry } from '../ledger/index.ts';
import { invalidField } from './errors.ts';
import { type Conversion, convert, type Fraction, formatRate, invert, parseRate } from './fx.ts';
import type { Currency } from './service.ts';

/** A quote is honoured for this long when its id comes back with the swap. */
export const QUOTE_TTL_MS = 30_000;

export interface SwapResult extends Conversion {
  readonly entryId: string;
  readonly from: Currency;
  readonly to: Currency;
  readonly amountMinor: bigint;
  readonly rate: string;
  readonly spreadBasisPoints: number;
  readonly quoteId: string | null;
}

export interface Quote extends Conversion {
  readonly id: string;
  readonly from: Currency;
  readonly to: Currency;
  readonly amountMinor: bigint;
  readonly rate: string;
  readonly spreadBasisPoints: number;
  readonly expiresAt: Date;
}

/**
 * Converts between a user's wallets at the current rate (or a quote's, within 30 s), less a spread
 * booked to fees revenue. One `swap` entry, balanced per currency through the platform's FX
 * accounts: wallet(from) → FX(from); FX(to) → wallet(to) + fees revenue(to).
 */
export function createSwapService(deps: {
  db: Db;
  clock: Clock;
  ledger: LedgerService;
  audit: AuditService;
  currencies: readonly Currency[];
  configuredRates: readonly { base: string; quote: string; rate: string }[];
  spreadBasisPoints: number;
}) {
  const { db, clock, ledger, audit, spreadBasisPoints } = deps;
  const currencies = new Map(deps.currencies.map((currency) => [currency.code, currency]));

  function currency(field: string, code: string): Currency {
    const found = currencies.get(code);
    if (found === undefined) throw invalidField(field, `must be one of ${[...currencies.keys()].join(', ')}`);
    return found;
  }

  /** Admin-set rates over the configured ones; a pair may also be used the other way round. */
  async function currentRates(executor: Executor): Promise<Map<string, string>> {
    const rates = new Map(deps.configuredRates.map((rate) => [`${rate.base}/${rate.quote}`, rate.rate]));
    const stored = await executor.selectFrom('fxRates').select(['base', 'quote', 'rate']).execute();
    for (const row of stored) {
      const rate = parseStored(row.rate);
      if (rate !== null) rates.set(`${row.base}/${row.quote}`, formatRate(rate));
    }
    return rates;
  }

  async function rateFor(executor: Executor, from: string, to: string): Promise<Fraction> {
    const rates = await currentRates(executor);
    const direct = parseStored(rates.get(`${from}/${to}`));
    if (direct !== null) return direct;
    const reverse = parseStored(rates.get(`${to}/${from}`));
    if (reverse !== null) return invert(reverse);
    throw unprocessable('NO_FX_RATE', `There is no exchange rate between ${from} and ${to}`);
  }

  function request(input: { from: string; to: string; amount: number }) {
    const from = currency('from', input.from);
    const to = currency('to', input.to);
    if (from.code === to.code) throw invalidField('to', 'must differ from from');
    const amountMinor = toMinorUnits(input.amount, from.scale);
    if (amountMinor === null || amountMinor <= 0n) {
      throw invalidField('amount', `must be positive with at most ${from.scale} decimals for ${from.code}`);
    }
    return { from, to, amountMinor };
  }

  function checked(conversion: Conversion): Conversion {
    if (conversion.receiveMinor <= 0n) {
      throw unprocessable('AMOUNT_TOO_SMALL', 'After conversion and spread nothing would be received');
    }
    return conversion;
  }

  return {
    async rates(): Promise<{ base: string; quote: string; rate: string }[]> {
      const rates = await currentRates(db);
      return [...rates.entries()].map(([pair, rate]) => {
        const [base = '', quote = ''] = pair.split('/');
        return { base, quote, rate };
      });
    },

    async setRate(
      principal: Principal,
      input: { base: string; quote: string; rate: string },
      context: RequestContext,
    ): Promise<{ base: string; quote: string; rate: string }> {
      currency('base', input.base);
      currency('quote', input.quote);
      if (input.base === input.quote) throw invalidField('quote', 'must differ from base');
      if (parseRate(input.rate) === null)
        throw invalidField('rate', 'must be a positive decimal with at most 12 places');
      return db.transaction().execute(async (trx) => {
        const before = (await currentRates(trx)).get(`${input.base}/${input.quote}`) ?? null;
        await trx
          .insertInto('fxRates')
          .values({ ...input, updatedBy: principal.userId, updatedAt: clock.now() })
          .onConflict((oc) =>
            oc
              .columns(['base', 'quote'])
              .doUpdateSet({ rate: input.rate, updatedBy: principal.userId, updatedAt: clock.now() }),
          )
          .execute();
        await audit.record(trx, context, {
          action: 'fx.rate_set',
          targetType: 'fx_rate',
          targetId: `${input.base}/${input.quote}`,
          details: { from: before, to: input.rate },
        });
        return input;
      });
    },

    /** Prices a swap now and keeps the price for 30 seconds. */
    async quote(principal: Principal, input: { from: string; to: string; amount: number }): Promise<Quote> {
      const { from, to, amountMinor } = request(input);
      const rate = await rateFor(db, from.code, to.code);
      const conversion = checked(
        convert(amountMinor, { from: from.scale, to: to.scale }, rate, spreadBasisPoints),
      );
      const now = clock.now();
      const quote: Quote = {
        id: uuidv7(now.getTime()),
        from,
        to,
        amountMinor,
        rate: formatRate(rate),
        spreadBasisPoints,
        ...conversion,
        expiresAt: new Date(now.getTime() + QUOTE_TTL_MS),
      };
      await db
        .insertInto('fxQuotes')
        .values({
          id: quote.id,
          userId: principal.userId,
          fromCurrency: from.code,
          toCurrency: to.code,
          amountMinor,
          rate: quote.rate,
          spreadBasisPoints,
          receiveMinor: conversion.receiveMinor,
          expiresAt: quote.expiresAt,
          createdAt: now,
        })
        .execute();
      return quote;
    },

    async swap(
      principal: Principal,
      input: { from: string; to: string; amount: number; quoteId?: string },
      within?: WithinTransaction<SwapResult>,
    ): Promise<SwapResult> {
      const { from, to, amountMinor } = request(input);
      const owner = { type: 'user' as const, id: principal.userId };
      const [walletFrom, walletTo, fxFrom, fxTo, fees] = await Promise.all([
        ledger.shardedOwnerAccount(owner, 'wallet', from.code, 1),
        ledger.shardedOwnerAccount(owner, 'wallet', to.code, 1),
        ledger.platformAccount('fx', from.code),
        ledger.platformAccount('fx', to.code),
        ledger.platformAccount('fees_revenue', to.code),
      ]);
      return withRetry(() =>
        db.transaction().execute(async (trx) => {
          const now = clock.now();
          let rate: Fraction;
          let spread = spreadBasisPoints;
          if (input.quoteId === undefined) {
            rate = await rateFor(trx, from.code, to.code);
          } else {
            const quote = await trx
              .selectFrom('fxQuotes')
              .selectAll()
              .where('id', '=', input.quoteId)
              .where('userId', '=', principal.userId)
              .forUpdate()
              .executeTakeFirst();
            if (quote === undefined) throw notFound('Quote', 'QUOTE_NOT_FOUND');
            if (quote.usedAt !== null) throw conflict('QUOTE_USED', 'This quote has already been used');
            if (quote.expiresAt <= now)
              throw conflict('QUOTE_EXPIRED', 'This quote has expired; ask for a new one');
            if (
              quote.fromCurrency !== from.code ||
              quote.toCurrency !== to.code ||
              quote.amountMinor !== amountMinor
            ) {
              throw unprocessable('QUOTE_MISMATCH', 'The swap differs from the quote (currencies or amount)');
            }
            const quoted = parseStored(quote.rate);
            if (quoted === null) throw new Error(`quote ${quote.id} holds an unreadable rate`);
            rate = quoted;
            spread = quote.spreadBasisPoints;
            await trx.updateTable('fxQuotes').set({ usedAt: now }).where('id', '=', quote.id).execute();
          }
          const conversion = checked(convert(amountMinor, { from: from.scale, to: to.scale }, rate, spread));
          const entry = await ledger.post(trx, {
            type: 'swap',
            idempotencyRef: `swap:${uuidv7(now.getTime())}`,
            description: `${from.code} to ${to.code}`,
            metadata: {
              userId: principal.userId,
              rate: formatRate(rate),
              spreadBasisPoints: spread,
              quoteId: input.quoteId ?? null,
            },
            postings: [
              { accountId: walletFrom, amountMinor },
              { accountId: fxFrom, amountMinor: -amountMinor },
              { accountId: fxTo, amountMinor: conversion.grossMinor },
              { accountId: walletTo, amountMinor: -conversion.receiveMinor },
              ...(conversion.spreadMinor > 0n
                ? [{ accountId: fees, amountMinor: -conversion.spreadMinor }]
                : []),
            ],
          });
          const result: SwapResult = {
            entryId: entry.entryId,
            from,
            to,
            amountMinor,
            rate: formatRate(rate),
            spreadBasisPoints: spread,
            quoteId: input.quoteId ?? null,
            ...conversion,
          };
          await within?.(trx, result);
          return result;
        }),
      );
    },
  };
}

export type SwapService = ReturnType<typeof createSwapService>;

/** A stored rate (numeric, possibly with trailing zeros) as a fraction. */
function parseStored(rate: string | undefined): Fraction | null {
  if (rate === undefined) return null;
  return parseRate(rate.includes('.') ? rate.replace(/0+$/, '').replace(/\.$/, '') : rate);
}
