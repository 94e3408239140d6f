import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db, Executor } from '../../db/database.ts';
import type { WebhookDeliveryStatus } from '../../db/types.ts';
import { invalidField, notFound } from '../../http/errors.ts';
import type { WithinTransaction } from '../../http/idempotency.ts';
import type { PageInfo, PageRequest } from '../../http/pagination.ts';
import { pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { decryptSecret, encryptSecret, randomToken } from '../../lib/crypto.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import { isEventType } from '../events/catalog.ts';
import type { DispatchedEvent } from '../events/dispatcher.ts';
import { recordEvents } from '../events/record.ts';
import { webhookTargetProblem } from './address.ts';
import { signatureHeader } from './signature.ts';

export interface WebhookEndpoint {
  id: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookDelivery {
  id: string;
  eventId: string;
  eventType: string;
  attempt: number;
  status: WebhookDeliveryStatus;
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  createdAt: Date;
  nextAttemptAt: Date | null;
}

export interface AttemptOutcome {
  delivered: boolean;
  responseStatus: number | null;
  durationMs: number;
  error: string | null;
}

export interface WebhookSettings {
  readonly retryScheduleMs: readonly number[];
  readonly allowPrivate: boolean;
  readonly timeoutMs: number;
  readonly disableAfterMs: number;
  readonly secretOverlapMs: number;
  readonly encryptionKey: string;
}

/** Succeeded attempts older than this move to `webhook_deliveries_archive`. */
const ARCHIVE_AFTER_MS = 30 * 86_400_000;
const ERROR_MAX_LENGTH = 500;
const SECRET_PREFIX = 'whsec_';

const ENDPOINT_COLUMNS = [
  'id',
  'url',
  'eventTypes',
  'enabled',
  'disabledReason',
  'createdAt',
  'updatedAt',
] as const;

/**
 * Merchants' webhook endpoints and the delivery of events to them. An event becomes one delivery
 * per subscribed endpoint when the dispatcher picks it up (after its transaction committed); each
 * attempt is a row, a failed one schedules the next after the retry schedule's wait, and an
 * endpoint that has failed everything for `disableAfterMs` is disabled.
 */
export function createWebhookService(deps: {
  db: Db;
  clock: Clock;
  audit: AuditService;
  logger: Logger;
  settings: WebhookSettings;
  /** Adds the delivery job for attempts, through the caller's transaction. */
  scheduleAttempts: (
    executor: Executor,
    attempts: readonly { deliveryId: string; runAt?: Date }[],
  ) => Promise<void>;
}) {
  const { db, clock, audit, logger, settings } = deps;

  function merchantOf(principal: Principal): string {
    if (principal.merchantId === null) throw notFound('Webhook endpoint', 'WEBHOOK_NOT_FOUND');
    return principal.merchantId;
  }

  async function checkInput(input: { url?: string; eventTypes?: readonly string[] }): Promise<void> {
    if (input.url !== undefined) {
      const problem = await webhookTargetProblem(input.url, settings.allowPrivate);
      if (problem !== null) throw invalidField('url', problem);
    }
    if (input.eventTypes !== undefined) {
      const unknown = input.eventTypes.filter((type) => type !== '*' && !isEventType(type));
      if (unknown.length > 0) throw invalidField('eventTypes', `unknown event types: ${unknown.join(', ')}`);
      if (input.eventTypes.includes('*') && input.eventTypes.length > 1) {
        throw invalidField('eventTypes', '"*" stands alone');
      }
    }
  }

  async function loadEndpoint(executor: Executor, principal: Principal, id: string, lock = false) {
    let query = executor
      .selectFrom('webhookEndpoints')
      .selectAll()
      .where('id', '=', id)
      .where('merchantId', '=', merchantOf(principal));
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (row === undefined) throw notFound('Webhook endpoint', 'WEBHOOK_NOT_FOUND');
    return row;
  }

  function present(row: {
    id: string;
    url: string;
    eventTypes: string[];
    enabled: boolean;
    disabledReason: string | null;
    createdAt: Date;
    updatedAt: Date;
  }): WebhookEndpoint {
    return {
      id: row.id,
      url: row.url,
      eventTypes: row.eventTypes,
      enabled: row.enabled,
      disabledReason: row.disabledReason,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  /** One POST of the event to the endpoint, signed with every secret that signs now. */
  async function send(
    endpoint: {
      url: string;
      secretSealed: string;
      previousSecretSealed: string | null;
      previousSecretExpiresAt: Date | null;
    },
    event: { id: string; type: string; createdAt: Date; payload: unknown },
  ): Promise<AttemptOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const problem = await webhookTargetProblem(endpoint.url, settings.allowPrivate);
    if (problem !== null)
      return {
        delivered: false,
        responseStatus: null,
        durationMs: elapsed(),
        error: `refused: URL ${problem}`,
      };
    const now = clock.now();
    const secrets = [decryptSecret(endpoint.secretSealed, settings.encryptionKey)];
    if (
      endpoint.previousSecretSealed !== null &&
      endpoint.previousSecretExpiresAt !== null &&
      endpoint.previousSecretExpiresAt > now
    ) {
      secrets.push(decryptSecret(endpoint.previousSecretSealed, settings.encryptionKey));
    }
    const body = JSON.stringify({
      id: event.id,
      type: event.type,
      createdAt: event.createdAt.toISOString(),
      data: event.payload,
    });
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tijori-Webhooks/1',
          'tijori-event-id': event.id,
          'tijori-event-type': event.type,
          'tijori-signature': signatureHeader(secrets, body, Math.floor(Date.now() / 1000)),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
      // Drained so the connection can be reused; its content is not kept.
      await response.arrayBuffer().catch(() => undefined);
      const delivered = response.status >= 200 && response.status < 300;
      return {
        delivered,
        responseStatus: response.status,
        durationMs: elapsed(),
        error: delivered ? null : `HTTP ${response.status}`,
      };
    } catch (error) {
      const timedOut = (error as { name?: string }).name === 'TimeoutError';
      const message = timedOut
        ? `no answer within ${settings.timeoutMs} ms`
        : ((error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message);
      return {
        delivered: false,
        responseStatus: null,
        durationMs: elapsed(),
        error: message.slice(0, ERROR_MAX_LENGTH),
      };
    }
  }

  async function listDeliveries(executor: Executor, endpointId: string, page: PageRequest) {
    const rows = await executor
      .selectFrom('webhookDeliveries as d')
      .innerJoin('events as e', 'e.id', 'd.eventId')
      .select([
        'd.id',
        'd.eventId',
        'e.type as eventType',
        'd.attempt',
        'd.status',
        'd.responseStatus',
        'd.durationMs',
        'd.error',
        'd.createdAt',
        'd.nextAttemptAt',
      ])
      .where('d.endpointId', '=', endpointId)
      .orderBy('d.createdAt', 'desc')
      .orderBy('d.id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    const total = await executor
      .selectFrom('webhookDeliveries')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('endpointId', '=', endpointId)
      .executeTakeFirstOrThrow();
    return { rows: rows as WebhookDelivery[], total: Number(total.count) };
  }

  return {
    async create(
      principal: Principal,
      input: { url: string; eventTypes: string[]; enabled?: boolean },
      context: RequestContext,
      within?: WithinTransaction<{ webhook: WebhookEndpoint; secret: string }>,
    ): Promise<{ webhook: WebhookEndpoint; secret: string }> {
      const merchantId = merchantOf(principal);
      await checkInput(input);
      const secret = `${SECRET_PREFIX}${randomToken(24)}`;
      const now = clock.now();
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('webhookEndpoints')
          .values({
            id: uuidv7(now.getTime()),
            merchantId,
            url: input.url,
            eventTypes: input.eventTypes,
            enabled: input.enabled ?? true,
            secretSealed: encryptSecret(secret, settings.encryptionKey),
            createdAt: now,
            updatedAt: now,
          })
          .returning(ENDPOINT_COLUMNS)
          .executeTakeFirstOrThrow();
        await audit.record(trx, context, {
          action: 'webhook.created',
          targetType: 'webhook_endpoint',
          targetId: row.id,
          details: { url: row.url, eventTypes: row.eventTypes },
        });
        const created = { webhook: present(row), secret };
        await within?.(trx, created);
        return created;
      });
    },

    async list(principal: Principal): Promise<WebhookEndpoint[]> {
      const rows = await db
        .selectFrom('webhookEndpoints')
        .select(ENDPOINT_COLUMNS)
        .where('merchantId', '=', merchantOf(principal))
        .orderBy('createdAt', 'desc')
        .orderBy('id', 'desc')
        .execute();
      return rows.map(present);
    },

    async get(principal: Principal, id: string): Promise<WebhookEndpoint> {
      return present(await loadEndpoint(db, principal, id));
    },

    /** Re-enabling an endpoint forgets its failures: it starts a fresh 24 hours. */
    async update(
      principal: Principal,
      id: string,
      input: { url?: string; eventTypes?: string[]; enabled?: boolean },
      context: RequestContext,
    ): Promise<WebhookEndpoint> {
      await checkInput(input);
      return db.transaction().execute(async (trx) => {
        const before = await loadEndpoint(trx, principal, id, true);
        const reenabled = input.enabled === true && !before.enabled;
        const row = await trx
          .updateTable('webhookEndpoints')
          .set({
            ...(input.url === undefined ? {} : { url: input.url }),
            ...(input.eventTypes === undefined ? {} : { eventTypes: input.eventTypes }),
            ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
            ...(reenabled ? { failingSince: null, disabledReason: null } : {}),
            updatedAt: clock.now(),
          })
          .where('id', '=', before.id)
          .returning(ENDPOINT_COLUMNS)
          .executeTakeFirstOrThrow();
        await audit.record(trx, context, {
          action: 'webhook.updated',
          targetType: 'webhook_endpoint',
          targetId: row.id,
          details: input,
        });
        return present(row);
      });
    },

    async remove(principal: Principal, id: string, context: RequestContext): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const before = await loadEndpoint(trx, principal, id, true);
        await trx.deleteFrom('webhookEndpoints').where('id', '=', before.id).execute();
        await audit.record(trx, context, {
          action: 'webhook.deleted',
          targetType: 'webhook_endpoint',
          targetId: before.id,
          details: { url: before.url },
        });
      });
    },

    /** A new secret; the old one keeps signing beside it for the overlap, so receivers can switch. */
    async rotateSecret(
      principal: Principal,
      id: string,
      context: RequestContext,
    ): Promise<{ webhook: WebhookEndpoint; secret: string; previousSecretExpiresAt: Date }> {
      const secret = `${SECRET_PREFIX}${randomToken(24)}`;
      const now = clock.now();
      const previousSecretExpiresAt = new Date(now.getTime() + settings.secretOverlapMs);
      return db.transaction().execute(async (trx) => {
        const before = await loadEndpoint(trx, principal, id, true);
        const row = await trx
          .updateTable('webhookEndpoints')
          .set({
            secretSealed: encryptSecret(secret, settings.encryptionKey),
            previousSecretSealed: before.secretSealed,
            previousSecretExpiresAt,
            updatedAt: now,
          })
          .where('id', '=', before.id)
          .returning(ENDPOINT_COLUMNS)
          .executeTakeFirstOrThrow();
        await audit.record(trx, context, {
          action: 'webhook.secret_rotated',
          targetType: 'webhook_endpoint',
          targetId: row.id,
        });
        return { webhook: present(row), secret, previousSecretExpiresAt };
      });
    },

    /** Sends a `webhook.test` event to the endpoint now and says how it went (recorded as a delivery). */
    async test(principal: Principal, endpointId: string): Promise<AttemptOutcome> {
      const endpoint = await loadEndpoint(db, principal, endpointId);
      const now = clock.now();
      const event = {
        id: uuidv7(now.getTime()),
        type: 'webhook.test' as const,
        createdAt: now,
        payload: { endpointId: endpoint.id, message: 'A test event from Tijori' },
      };
      const outcome = await send(endpoint, event);
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('events')
          .values({
            id: event.id,
            merchantId: endpoint.merchantId,
            userId: null,
            type: event.type,
            payload: JSON.stringify(event.payload),
            createdAt: now,
            // Sent to this endpoint only, not to every endpoint subscribed to everything.
            dispatchedAt: now,
          })
          .execute();
        await trx
          .insertInto('webhookDeliveries')
          .values({
            id: uuidv7(now.getTime()),
            eventId: event.id,
            endpointId: endpoint.id,
            attempt: 1,
            status: outcome.delivered ? 'succeeded' : 'failed',
            responseStatus: outcome.responseStatus,
            durationMs: outcome.durationMs,
            error: outcome.error,
            createdAt: now,
          })
          .execute();
      });
      return outcome;
    },

    async deliveries(
      principal: Principal,
      endpointId: string,
      page: PageRequest,
    ): Promise<{ deliveries: WebhookDelivery[]; pagination: PageInfo }> {
      const endpoint = await loadEndpoint(db, principal, endpointId);
      const { rows, total } = await listDeliveries(db, endpoint.id, page);
      return { deliveries: rows, pagination: pageInfo(page, rows.length, total) };
    },

    /** One more attempt at a delivery's event, now (outside the retry schedule). */
    async redeliver(
      principal: Principal,
      endpointId: string,
      deliveryId: string,
      context: RequestContext,
    ): Promise<WebhookDelivery> {
      return db.transaction().execute(async (trx) => {
        const endpoint = await loadEndpoint(trx, principal, endpointId, true);
        const delivery = await trx
          .selectFrom('webhookDeliveries as d')
          .innerJoin('events as e', 'e.id', 'd.eventId')
          .select(['d.eventId', 'e.type as eventType'])
          .where('d.id', '=', deliveryId)
          .where('d.endpointId', '=', endpoint.id)
          .executeTakeFirst();
        if (delivery === undefined) throw notFound('Delivery', 'DELIVERY_NOT_FOUND');
        const last = await trx
          .selectFrom('webhookDeliveries')
          .select((eb) => eb.fn.max('attempt').as('attempt'))
          .where('eventId', '=', delivery.eventId)
          .where('endpointId', '=', endpoint.id)
          .executeTakeFirstOrThrow();
        const now = clock.now();
        const created = await trx
          .insertInto('webhookDeliveries')
          .values({
            id: uuidv7(now.getTime()),
            eventId: delivery.eventId,
            endpointId: endpoint.id,
            attempt: (last.attempt ?? 0) + 1,
            status: 'pending',
            createdAt: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await deps.scheduleAttempts(trx, [{ deliveryId: created.id }]);
        await audit.record(trx, context, {
          action: 'webhook.redelivered',
          targetType: 'webhook_delivery',
          targetId: created.id,
          details: { eventId: delivery.eventId, endpointId: endpoint.id },
        });
        return { ...created, eventType: delivery.eventType };
      });
    },

    /**
     * The dispatcher's consumer: each event becomes one pending delivery per subscribed, enabled
     * endpoint of its merchant, each with its job, in the dispatcher's transaction.
     */
    async fanOut(trx: Executor, events: readonly DispatchedEvent[]): Promise<void> {
      const merchantIds = [
        ...new Set(events.flatMap((event) => (event.merchantId === null ? [] : [event.merchantId]))),
      ];
      if (merchantIds.length === 0) return;
      const endpoints = await trx
        .selectFrom('webhookEndpoints')
        .select(['id', 'merchantId', 'eventTypes'])
        .where('merchantId', 'in', merchantIds)
        .where('enabled', '=', true)
        .execute();
      const now = clock.now();
      const deliveries = events.flatMap((event) =>
        endpoints
          .filter(
            (endpoint) =>
              endpoint.merchantId === event.merchantId &&
              (endpoint.eventTypes.includes('*') || endpoint.eventTypes.includes(event.type)),
          )
          .map((endpoint) => ({
            id: uuidv7(now.getTime()),
            eventId: event.id,
            endpointId: endpoint.id,
            attempt: 1,
            status: 'pending' as const,
            createdAt: now,
          })),
      );
      if (deliveries.length === 0) return;
      await trx.insertInto('webhookDeliveries').values(deliveries).execute();
      await deps.scheduleAttempts(
        trx,
        deliveries.map((delivery) => ({ deliveryId: delivery.id })),
      );
    },

    /**
     * One attempt (the delivery job). A pending attempt is sent; its outcome is recorded, and a
     * failure schedules the next attempt or, past the last, leaves the delivery failed. Run
     * twice, the second run finds the attempt settled and does nothing (the receiver may still
     * see the event twice, which is why it carries `Tijori-Event-Id`).
     */
    async attempt(deliveryId: string): Promise<void> {
      const row = await db
        .selectFrom('webhookDeliveries as d')
        .innerJoin('events as e', 'e.id', 'd.eventId')
        .innerJoin('webhookEndpoints as w', 'w.id', 'd.endpointId')
        .select([
          'd.id',
          'd.attempt',
          'd.status',
          'd.eventId',
          'd.endpointId',
          'e.type',
          'e.payload',
          'e.createdAt',
          'e.merchantId',
          'w.url',
          'w.enabled',
          'w.secretSealed',
          'w.previousSecretSealed',
          'w.previousSecretExpiresAt',
        ])
        .where('d.id', '=', deliveryId)
        .executeTakeFirst();
      if (row === undefined || row.status !== 'pending') return;
      const outcome: AttemptOutcome = row.enabled
        ? await send(row, { id: row.eventId, type: row.type, createdAt: row.createdAt, payload: row.payload })
        : { delivered: false, responseStatus: null, durationMs: 0, error: 'endpoint disabled' };
      if (outcome.delivered) {
        // The common case in one statement, without the endpoint's row lock (every delivery to a
        // busy endpoint would queue on it): settle the attempt, and end a failing streak if any.
        await sql`
          WITH settled AS (
            UPDATE webhook_deliveries
            SET status = 'succeeded', response_status = ${outcome.responseStatus}::integer,
              duration_ms = ${outcome.durationMs}::integer, error = NULL, next_attempt_at = NULL
            WHERE id = ${row.id}::uuid AND status = 'pending'
            RETURNING endpoint_id
          )
          UPDATE webhook_endpoints SET failing_since = NULL
          WHERE id IN (SELECT endpoint_id FROM settled) AND failing_since IS NOT NULL`.execute(db);
        return;
      }
      await db.transaction().execute(async (trx) => {
        const endpoint = await trx
          .selectFrom('webhookEndpoints')
          .select(['id', 'enabled', 'failingSince', 'merchantId', 'url'])
          .where('id', '=', row.endpointId)
          .forUpdate()
          .executeTakeFirst();
        const now = clock.now();
        const failingSince = endpoint?.failingSince ?? now;
        const disabling =
          endpoint?.enabled === true && now.getTime() - failingSince.getTime() >= settings.disableAfterMs;
        const waitMs = settings.retryScheduleMs[row.attempt - 1];
        const retry = endpoint?.enabled === true && !disabling && waitMs !== undefined;
        const nextAttemptAt = retry ? new Date(now.getTime() + waitMs) : null;
        const settled = await trx
          .updateTable('webhookDeliveries')
          .set({
            status: 'failed',
            responseStatus: outcome.responseStatus,
            durationMs: outcome.durationMs,
            error: outcome.error,
            nextAttemptAt,
          })
          .where('id', '=', row.id)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (settled.numUpdatedRows === 0n || endpoint === undefined) return;
        if (disabling) {
          const reason = `every delivery failed for ${describeDuration(settings.disableAfterMs)}`;
          await trx
            .updateTable('webhookEndpoints')
            .set({ enabled: false, disabledReason: reason, failingSince, updatedAt: now })
            .where('id', '=', endpoint.id)
            .execute();
          await recordEvents(trx, [
            {
              type: 'webhook.endpoint_disabled',
              merchantId: endpoint.merchantId,
              data: { endpointId: endpoint.id, url: endpoint.url, reason },
              createdAt: now,
            },
          ]);
          logger.warn({ endpointId: endpoint.id, url: endpoint.url }, 'webhook endpoint disabled');
          return;
        }
        if (endpoint.failingSince === null) {
          await trx
            .updateTable('webhookEndpoints')
            .set({ failingSince })
            .where('id', '=', endpoint.id)
            .execute();
        }
        if (nextAttemptAt !== null) {
          const next = await trx
            .insertInto('webhookDeliveries')
            .values({
              id: uuidv7(now.getTime()),
              eventId: row.eventId,
              endpointId: row.endpointId,
              attempt: row.attempt + 1,
              status: 'pending',
              createdAt: now,
            })
            .onConflict((oc) => oc.columns(['eventId', 'endpointId', 'attempt']).doNothing())
            .returning('id')
            .executeTakeFirst();
          if (next !== undefined)
            await deps.scheduleAttempts(trx, [{ deliveryId: next.id, runAt: nextAttemptAt }]);
        }
      });
    },

    /** Moves succeeded attempts past the retention into the archive table; answers how many. */
    async archiveDelivered(): Promise<number> {
      const cutoff = new Date(clock.now().getTime() - ARCHIVE_AFTER_MS);
      const { rows } = await sql<{ moved: string }>`
        WITH moved AS (
          DELETE FROM webhook_deliveries WHERE status = 'succeeded' AND created_at < ${cutoff} RETURNING *
        ), archived AS (
          INSERT INTO webhook_deliveries_archive SELECT * FROM moved ON CONFLICT (id) DO NOTHING RETURNING 1
        )
        SELECT count(*)::text AS moved FROM archived`.execute(db);
      return Number(rows[0]?.moved ?? 0);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;

/** 86400000 → "24 hours", 90000 → "90 seconds": the unit that states it exactly. */
function describeDuration(ms: number): string {
  for (const [unit, size] of [
    ['hours', 3_600_000],
    ['minutes', 60_000],
    ['seconds', 1_000],
  ] as const) {
    if (ms % size === 0 && ms >= size) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}
