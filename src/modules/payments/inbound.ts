import { isIP } from 'node:net';
import type { Db, Executor } from '../../db/database.ts';
import type { WebhookVerificationOutcome } from '../../db/types.ts';
import { type AppError, badRequest, forbidden, notFound, unauthorized } from '../../http/errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { isUuid, uuidv7 } from '../../lib/ids.ts';
import type { GatewayEvent, InboundWebhook } from '../gateways/connectors/connector.ts';
import type { GatewayService } from '../gateways/index.ts';
import * as repo from './repo.ts';
import type { PaymentService } from './service.ts';

/** Headers kept with each stored webhook: enough to re-check its signature later, nothing else. */
const STORED_HEADERS_MAX = 40;

export type InboundEffect = 'applied' | 'no_change' | 'unmatched' | 'ignored' | 'amount_mismatch';

export interface InboundResult {
  readonly replayed: boolean;
  readonly effect: InboundEffect | null;
}

/**
 * Webhooks from gateways: every one is stored with what verifying it found (for audit) before
 * anything else; the signature is checked over the raw bytes with the gateway's scheme before the
 * body is read; a gateway's event id is acted on once (a replay is acknowledged, with no effect);
 * a status the payment may not move to (a late `pending` after `succeeded`) changes nothing.
 */
export function createInboundWebhooks(deps: {
  db: Db;
  clock: Clock;
  gateways: GatewayService;
  payments: PaymentService;
  toleranceSec: number;
}) {
  const { db, clock, gateways, payments, toleranceSec } = deps;

  /** The webhook as received, with what became of it; false when a verified twin was there first. */
  function store(
    executor: Executor,
    received: { gatewayId: string | null; webhook: InboundWebhook; remoteAddress: string | null },
    outcome: {
      id?: string;
      verification: WebhookVerificationOutcome;
      eventId?: string;
      effect?: InboundEffect;
    },
  ): Promise<boolean> {
    return repo.insertGatewayWebhook(executor, {
      id: outcome.id ?? uuidv7(received.webhook.receivedAt.getTime()),
      gatewayId: received.gatewayId,
      remoteAddress: received.remoteAddress,
      headers: storedHeaders(received.webhook.headers),
      body: received.webhook.rawBody.toString('utf8'),
      verification: outcome.verification,
      eventId: outcome.eventId ?? null,
      paymentId: null,
      effect: outcome.effect ?? null,
      receivedAt: received.webhook.receivedAt,
    });
  }

  async function apply(
    received: { gatewayId: string; webhook: InboundWebhook; remoteAddress: string | null },
    event: GatewayEvent,
  ) {
    return db.transaction().execute(async (trx): Promise<InboundResult> => {
      const id = uuidv7(received.webhook.receivedAt.getTime());
      if (!(await store(trx, received, { id, verification: 'verified', eventId: event.eventId }))) {
        await store(trx, received, {
          id,
          verification: 'replayed',
          eventId: event.eventId,
          effect: 'no_change',
        });
        return { replayed: true, effect: null };
      }
      const { effect, paymentId } = await applyEvent(trx, received.gatewayId, event);
      await repo.settleGatewayWebhook(trx, id, { effect, paymentId });
      return { replayed: false, effect };
    });
  }

  async function applyEvent(trx: Executor, gatewayId: string, event: GatewayEvent) {
    if (event.kind === 'refund') return applyRefundEvent(trx, gatewayId, event);
    const attempt = await repo.findAttempt(trx, gatewayId, {
      attemptId: event.attemptId,
      gatewayReference: event.gatewayReference,
    });
    if (attempt === undefined) return { effect: 'unmatched' as const, paymentId: null };
    const payment = await repo.findPayment(trx, attempt.paymentId, null, { forUpdate: true });
    if (payment === undefined) return { effect: 'unmatched' as const, paymentId: null };
    // A success for another amount than was asked is not taken as payment of this one.
    if (
      event.status === 'succeeded' &&
      event.amountMinor !== undefined &&
      event.amountMinor !== payment.amountMinor
    ) {
      return { effect: 'amount_mismatch' as const, paymentId: payment.id };
    }
    if (!payments.wouldMove(payment, event.status))
      return { effect: 'no_change' as const, paymentId: payment.id };
    // The attempt's record follows only a move the payment makes (a late `failed` leaves both).
    await repo.updateAttemptFromGateway(trx, attempt.id, event, clock.now());
    const moved = await payments.applyGatewayStatus(trx, payment, event.status, {
      attemptId: attempt.id,
      cause: 'gateway_webhook',
      ...(event.errorCode === undefined ? {} : { errorCode: event.errorCode }),
      ...(event.errorMessage === undefined ? {} : { errorMessage: event.errorMessage }),
    });
    return { effect: moved === null ? ('no_change' as const) : ('applied' as const), paymentId: payment.id };
  }

  /** A refund the gateway had queued, now settled (or not yet: a `pending` changes nothing). */
  async function applyRefundEvent(trx: Executor, gatewayId: string, event: GatewayEvent) {
    if (event.gatewayReference === undefined) return { effect: 'unmatched' as const, paymentId: null };
    const refund = await repo.findRefundByReference(trx, gatewayId, event.gatewayReference);
    if (refund === undefined) return { effect: 'unmatched' as const, paymentId: null };
    if (event.status === 'pending') return { effect: 'no_change' as const, paymentId: refund.paymentId };
    const settled = await payments.settleRefundFromGateway(trx, refund, {
      status: event.status,
      ...(event.errorCode === undefined ? {} : { errorCode: event.errorCode }),
      ...(event.errorMessage === undefined ? {} : { errorMessage: event.errorMessage }),
    });
    return { effect: settled ? ('applied' as const) : ('no_change' as const), paymentId: refund.paymentId };
  }

  /**
   * A gateway's own `config.webhookToleranceSec`, else the installation's. Paytm's signed time is
   * the payment's, not the webhook's, so a Paytm gateway may need longer than a payer takes.
   */
  function toleranceOf(gateway: { context: { config: Readonly<Record<string, unknown>> } }): number {
    const own = gateway.context.config.webhookToleranceSec;
    return typeof own === 'number' ? own : toleranceSec;
  }

  return {
    async receive(
      gatewayIdParam: string,
      bytes: Omit<InboundWebhook, 'receivedAt'>,
      remoteAddress: string | null,
    ): Promise<InboundResult> {
      const webhook: InboundWebhook = { ...bytes, receivedAt: clock.now() };
      const gateway = isUuid(gatewayIdParam) ? await gateways.liveGateway(gatewayIdParam) : undefined;
      if (gateway === undefined) {
        await store(db, { gatewayId: null, webhook, remoteAddress }, { verification: 'unknown_gateway' });
        throw notFound('Gateway', 'GATEWAY_NOT_FOUND');
      }
      const received = { gatewayId: gateway.id, webhook, remoteAddress };
      if (gateway.webhookAllowlist !== null && !allowed(gateway.webhookAllowlist, remoteAddress)) {
        await store(db, received, { verification: 'ip_refused' });
        throw forbidden('This address may not send webhooks for this gateway', 'IP_NOT_ALLOWED');
      }
      const verification = gateway.connector.verifyWebhook(gateway.context, webhook, toleranceOf(gateway));
      if (!verification.ok) {
        await store(db, received, { verification: verification.reason });
        throw refusal(verification.reason);
      }
      const event = gateway.connector.parseWebhook(gateway.context, webhook);
      if (event === null) {
        await store(db, received, { verification: 'verified', effect: 'ignored' });
        return { replayed: false, effect: 'ignored' };
      }
      return apply(received, event);
    },
  };
}

export type InboundWebhooks = ReturnType<typeof createInboundWebhooks>;

function refusal(reason: 'bad_signature' | 'stale' | 'malformed'): AppError {
  switch (reason) {
    case 'bad_signature':
      return unauthorized('The webhook signature does not verify', 'INVALID_SIGNATURE');
    case 'stale':
      return badRequest('The webhook is outside the accepted time window', undefined, 'STALE_WEBHOOK');
    case 'malformed':
      return badRequest('The webhook could not be read', undefined, 'MALFORMED_WEBHOOK');
  }
}

function allowed(list: import('node:net').BlockList, address: string | null): boolean {
  if (address === null) return false;
  // An IPv4 client seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  if (family === 0) return false;
  return list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

function storedHeaders(headers: InboundWebhook['headers']): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers).slice(0, STORED_HEADERS_MAX)) {
    if (value === undefined || name === 'authorization' || name === 'cookie') continue;
    kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}
