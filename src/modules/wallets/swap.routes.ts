import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { requirePrincipal } from '../../http/principal.ts';
import { requestContext } from '../../http/request-context.ts';
import { DateTime, Ok, replies, Uuid } from '../../http/schemas.ts';
import { toMajorUnitsOf } from '../../lib/money.ts';
import { CurrencyCode } from './schemas.ts';
import type { Quote, SwapResult, SwapService } from './swap.ts';

const SwapRequest = {
  from: CurrencyCode,
  to: CurrencyCode,
  amount: Type.Number({
    exclusiveMinimum: 0,
    maximum: 1e12,
    description: 'In the from currency (major units)',
  }),
};
const Priced = {
  from: Type.String(),
  to: Type.String(),
  amount: Type.Number(),
  rate: Type.String({ description: 'Units of `to` per unit of `from`' }),
  spreadBasisPoints: Type.Integer(),
  grossAmount: Type.Number({ description: 'amount × rate, in `to`' }),
  spread: Type.Number({ description: 'Kept as a fee, in `to`' }),
  receiveAmount: Type.Number({ description: 'Credited to the `to` wallet' }),
};
const QuoteReply = Ok(Type.Object({ quote: Type.Object({ id: Uuid, ...Priced, expiresAt: DateTime }) }));
const SwapReply = Ok(
  Type.Object({ swap: Type.Object({ entryId: Uuid, quoteId: Type.Union([Uuid, Type.Null()]), ...Priced }) }),
);
const FxRate = Type.Object({
  base: CurrencyCode,
  quote: CurrencyCode,
  rate: Type.String({ pattern: '^\\d{1,18}(\\.\\d{1,12})?$' }),
});

function priced(result: Quote | SwapResult) {
  return {
    from: result.from.code,
    to: result.to.code,
    amount: toMajorUnitsOf(result.amountMinor, result.from.scale),
    rate: result.rate,
    spreadBasisPoints: result.spreadBasisPoints,
    grossAmount: toMajorUnitsOf(result.grossMinor, result.to.scale),
    spread: toMajorUnitsOf(result.spreadMinor, result.to.scale),
    receiveAmount: toMajorUnitsOf(result.receiveMinor, result.to.scale),
  };
}

export const swapRoutes: FastifyPluginAsyncTypebox<{
  swaps: SwapService;
}> = async (app, { swaps }) => {
  app.get(
    '/wallet/swap/quote',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['wallets'],
        summary:
          'Price a currency swap; the price is honoured for 30 seconds when its id is passed to the swap',
        querystring: Type.Object(SwapRequest),
        response: replies({ 200: QuoteReply }),
      },
    },
    async (request) => {
      const quote = await swaps.quote(requirePrincipal(request.principal), request.query);
      return {
        success: true as const,
        data: { quote: { id: quote.id, ...priced(quote), expiresAt: quote.expiresAt } },
      };
    },
  );

  app.post(
    '/wallet/swap',
    {
      config: { ...{ access: 'authenticated' }, idempotency: 'required' as const },
      schema: {
        tags: ['wallets'],
        summary: 'Convert between your wallets at the current rate (or a quote’s); Idempotency-Key required',
        body: Type.Object({ ...SwapRequest, quoteId: Type.Optional(Uuid) }, { additionalProperties: false }),
        response: replies({ 201: SwapReply }),
      },
    },
    async (request, reply) => {
      const replyBody = (swap: SwapResult) => ({
        success: true as const,
        data: { swap: { entryId: swap.entryId, quoteId: swap.quoteId, ...priced(swap) } },
        message: 'Swap completed',
      });
      const result = await swaps.swap(
        requirePrincipal(request.principal),
        request.body,
        request.idempotency?.within(201, replyBody),
      );
      return reply.status(201).send(replyBody(result));
    },
  );

  app.get(
    '/admin/fx-rates',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: 'Exchange rates in force (configured, or set by an admin)',
        response: replies({ 200: Ok(Type.Object({ rates: Type.Array(FxRate) })) }),
      },
    },
    async () => ({ success: true as const, data: { rates: await swaps.rates() } }),
  );

  app.put(
    '/admin/fx-rates',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['admin'],
        summary: 'Set the rate of a currency pair (audited)',
        body: Type.Object(FxRate.properties, { additionalProperties: false }),
        response: replies({ 200: Ok(Type.Object({ rate: FxRate })) }),
      },
    },
    async (request) => {
      const rate = await swaps.setRate(
        requirePrincipal(request.principal),
        request.body,
        requestContext(request),
      );
      return { success: true as const, data: { rate }, message: 'Rate updated' };
    },
  );
};
