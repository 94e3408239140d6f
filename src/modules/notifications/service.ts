import type { Logger } from 'pino';
import type { Db, Executor } from '../../db/database.ts';
import type { Role } from '../../db/types.ts';
import { invalidField, notFound } from '../../http/errors.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import type { DispatchedEvent } from '../events/dispatcher.ts';
import { recordEvents } from '../events/record.ts';

export interface Notification {
  id: string;
  kind: string;
  title: string;
  body: string;
  data: unknown;
  read: boolean;
  readAt: Date | null;
  createdAt: Date;
}

interface NewNotification {
  readonly userId: string;
  readonly kind: string;
  readonly title: string;
  readonly body: string;
  readonly data: Record<string, unknown>;
  readonly eventId?: string;
}

/**
 * Where a notification also goes besides the in-app list. The log channel is the default; email,
 * SMS, WhatsApp and Slack join behind this interface (issue 5, in progress).
 */
export interface NotificationChannel {
  readonly name: string;
  send(notification: NewNotification): Promise<void>;
}

export function logChannel(logger: Logger): NotificationChannel {
  return {
    name: 'log',
    async send(notification) {
      logger.info(
        { userId: notification.userId, kind: notification.kind, title: notification.title },
        'notification',
      );
    },
  };
}

const NOTIFICATION_COLUMNS = ['id', 'kind', 'title', 'body', 'data', 'readAt', 'createdAt'] as const;

/**
 * In-app notifications. Each new one records a `notification.created` event for its user, so it
 * reaches the user's sockets like any event. Some events notify their owner by themselves (low
 * balance, a webhook endpoint disabled, a withdrawal failed): the event dispatcher hands them
 * here (`fromEvents`), in its transaction, at most once per event.
 */
export function createNotificationService(deps: {
  db: Db;
  clock: Clock;
  audit: AuditService;
  channels: readonly NotificationChannel[];
  logger: Logger;
}) {
  const { db, clock, audit, logger } = deps;

  async function insert(executor: Executor, notifications: readonly NewNotification[]): Promise<string[]> {
    if (notifications.length === 0) return [];
    const now = clock.now();
    const rows = await executor
      .insertInto('notifications')
      .values(
        notifications.map((notification) => ({
          id: uuidv7(now.getTime()),
          userId: notification.userId,
          kind: notification.kind,
          title: notification.title,
          body: notification.body,
          data: JSON.stringify(notification.data),
          eventId: notification.eventId ?? null,
          createdAt: now,
        })),
      )
      .onConflict((oc) => oc.columns(['eventId', 'userId']).doNothing())
      .returning(['id', 'userId', 'kind', 'title', 'body', 'createdAt'])
      .execute();
    await recordEvents(
      executor,
      rows.map((row) => ({
        type: 'notification.created' as const,
        merchantId: null,
        userId: row.userId,
        data: { id: row.id, kind: row.kind, title: row.title, body: row.body, createdAt: row.createdAt },
        createdAt: now,
      })),
    );
    return rows.map((row) => row.userId);
  }

  /** Outside any transaction (a channel may be slow); a failing channel is logged, not retried. */
  function sendToChannels(notifications: readonly NewNotification[]): void {
    for (const notification of notifications) {
      for (const channel of deps.channels) {
        channel.send(notification).catch((error: unknown) => {
          logger.warn(
            { err: error, channel: channel.name, userId: notification.userId },
            'notification not sent',
          );
        });
      }
    }
  }

  /** The events that notify their owner, and how they read. */
  async function notificationsFor(trx: Executor, event: DispatchedEvent): Promise<NewNotification[]> {
    const data = (event.payload ?? {}) as Record<string, unknown>;
    const base = { eventId: event.id, data: { eventType: event.type, ...data } };
    if (event.type === 'wallet.low_balance' && event.userId !== null) {
      return [
        {
          ...base,
          userId: event.userId,
          kind: 'wallet.low_balance',
          title: 'Low balance',
          body: `Your ${String(data.currency ?? '')} wallet's available balance fell below your threshold.`,
        },
      ];
    }
    if (event.type === 'withdrawal.failed' && event.userId !== null) {
      return [
        {
          ...base,
          userId: event.userId,
          kind: 'withdrawal.failed',
          title: 'Withdrawal failed',
          body: `Your withdrawal was not paid out${data.failureReason ? `: ${String(data.failureReason)}` : ''}. The amount is available in your wallet again.`,
        },
      ];
    }
    if (event.type === 'webhook.endpoint_disabled' && event.merchantId !== null) {
      const merchant = await trx
        .selectFrom('merchants')
        .select('userId')
        .where('id', '=', event.merchantId)
        .executeTakeFirst();
      if (merchant === undefined) return [];
      return [
        {
          ...base,
          userId: merchant.userId,
          kind: 'webhook.endpoint_disabled',
          title: 'Webhook endpoint disabled',
          body: `Deliveries to ${String(data.url ?? 'an endpoint')} failed for too long; it was disabled. Fix it and enable it again.`,
        },
      ];
    }
    return [];
  }

  return {
    /** The event dispatcher's consumer (see the service's description). */
    fromEvents: async (trx: Executor, events: readonly DispatchedEvent[]): Promise<void> => {
      const notifications: NewNotification[] = [];
      for (const event of events) notifications.push(...(await notificationsFor(trx, event)));
      await insert(trx, notifications);
      sendToChannels(notifications);
    },

    /** An admin's message to one user, or to every active user of a role. */
    async create(
      input: { userId?: string; role?: Role; title: string; body: string; kind?: string },
      context: RequestContext,
    ): Promise<{ recipients: number }> {
      if ((input.userId === undefined) === (input.role === undefined)) {
        throw invalidField('userId', 'give a userId or a role, not both');
      }
      const notifications = await db.transaction().execute(async (trx) => {
        let query = trx.selectFrom('users').select('id').where('isActive', '=', true);
        query =
          input.userId !== undefined
            ? query.where('id', '=', input.userId)
            : query.where('role', '=', input.role as Role);
        const users = await query.execute();
        if (input.userId !== undefined && users.length === 0) throw notFound('User', 'USER_NOT_FOUND');
        const created = users.map((user) => ({
          userId: user.id,
          kind: input.kind ?? 'announcement',
          title: input.title,
          body: input.body,
          data: {},
        }));
        await insert(trx, created);
        await audit.record(trx, context, {
          action: 'notification.sent',
          targetType: input.userId !== undefined ? 'user' : 'role',
          targetId: input.userId ?? input.role ?? '',
          details: { title: input.title, recipients: created.length },
        });
        return created;
      });
      sendToChannels(notifications);
      return { recipients: notifications.length };
    },

    async list(
      principal: Principal,
      page: PageRequest,
    ): Promise<{ notifications: Notification[]; pagination: PageInfo; unreadCount: number }> {
      const [rows, counts] = await Promise.all([
        db
          .selectFrom('notifications')
          .select(NOTIFICATION_COLUMNS)
          .where('userId', '=', principal.userId)
          // Unread first, then newest first (the index's order).
          .orderBy((eb) => eb('readAt', 'is not', null))
          .orderBy('createdAt', 'desc')
          .orderBy('id', 'desc')
          .limit(page.limit)
          .offset(page.offset)
          .execute(),
        db
          .selectFrom('notifications')
          .select((eb) => [
            eb.fn.countAll<string>().as('total'),
            eb.fn.count<string>('id').filterWhere('readAt', 'is', null).as('unread'),
          ])
          .where('userId', '=', principal.userId)
          .executeTakeFirstOrThrow(),
      ]);
      return {
        notifications: rows.map((row) => ({ ...row, read: row.readAt !== null })),
        pagination: pageInfo(page, rows.length, Number(counts.total)),
        unreadCount: Number(counts.unread),
      };
    },

    /** Marks one of the caller's notifications read (or unread again). */
    async markRead(principal: Principal, id: string, read: boolean): Promise<Notification> {
      const row = await db
        .updateTable('notifications')
        .set({ readAt: read ? clock.now() : null })
        .where('id', '=', id)
        .where('userId', '=', principal.userId)
        .returning(NOTIFICATION_COLUMNS)
        .executeTakeFirst();
      if (row === undefined) throw notFound('Notification', 'NOTIFICATION_NOT_FOUND');
      return { ...row, read: row.readAt !== null };
    },

    async remove(principal: Principal, id: string): Promise<void> {
      const result = await db
        .deleteFrom('notifications')
        .where('id', '=', id)
        .where('userId', '=', principal.userId)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) throw notFound('Notification', 'NOTIFICATION_NOT_FOUND');
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
