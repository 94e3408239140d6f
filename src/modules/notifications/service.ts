import type { Logger } from 'pino';
import { Type } from 'typebox';
import type { Db, Executor } from '../../db/database.ts';
import type { Role } from '../../db/types.ts';
import { invalidField, notFound } from '../../http/errors.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import { enqueueMany } from '../../jobs/queue.ts';
import { defineTask, type TaskSpec } from '../../jobs/registry.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import type { DispatchedEvent } from '../events/dispatcher.ts';
import { recordEvents } from '../events/record.ts';
import { webhookTargetProblem } from '../webhooks/address.ts';
import { type ChannelName, logNotification, type NotificationChannel } from './channels.ts';

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

const SendPayload = Type.Object({
  notificationId: Type.String({ format: 'uuid' }),
  channel: Type.Union([
    Type.Literal('email'),
    Type.Literal('sms'),
    Type.Literal('whatsapp'),
    Type.Literal('slack'),
  ]),
});

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
  /** The channels this installation can send through (configured providers). */
  channels: readonly NotificationChannel[];
  logger: Logger;
  /** Refuses a Slack webhook URL outside the configured base (and private targets). */
  slackWebhookBaseUrl: string;
  allowPrivateTargets: boolean;
}) {
  const { db, clock, audit, logger } = deps;
  const available = new Map(deps.channels.map((channel) => [channel.name, channel]));

  /** The user's channels that this installation can also serve. */
  function enabledChannels(prefs: ChannelPreferences | undefined): ChannelName[] {
    if (prefs === undefined) return [];
    const wanted: ChannelName[] = [];
    if (prefs.emailEnabled) wanted.push('email');
    if (prefs.smsEnabled && prefs.phone !== null) wanted.push('sms');
    if (prefs.whatsappEnabled && prefs.phone !== null) wanted.push('whatsapp');
    if (prefs.slackWebhookUrl !== null) wanted.push('slack');
    return wanted.filter((name) => available.has(name));
  }

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
    // All already there (an event handed over again): nothing new to tell or send.
    if (rows.length === 0) return [];
    for (const row of rows) logNotification(logger, row);
    const prefs = await executor
      .selectFrom('notificationChannels')
      .selectAll()
      .where(
        'userId',
        'in',
        rows.map((row) => row.userId),
      )
      .execute();
    const byUser = new Map(prefs.map((pref) => [pref.userId, pref]));
    // One job per notification and channel, in this transaction: sent only if it commits, and
    // a channel that fails is retried alone.
    await enqueueMany(
      executor,
      sendNotification,
      rows.flatMap((row) =>
        enabledChannels(byUser.get(row.userId)).map((channel) => ({
          payload: { notificationId: row.id, channel },
        })),
      ),
    );
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

    /** The `send_notification` job: one notification through one of its user's channels. */
    async deliver(notificationId: string, channelName: ChannelName): Promise<void> {
      const row = await db
        .selectFrom('notifications as n')
        .innerJoin('users as u', 'u.id', 'n.userId')
        .leftJoin('notificationChannels as c', 'c.userId', 'n.userId')
        .select([
          'n.userId',
          'n.title',
          'n.body',
          'u.email',
          'c.emailEnabled',
          'c.phone',
          'c.smsEnabled',
          'c.whatsappEnabled',
          'c.slackWebhookUrl',
        ])
        .where('n.id', '=', notificationId)
        .executeTakeFirst();
      const channel = available.get(channelName);
      if (row === undefined || channel === undefined) return;
      const routes: Record<ChannelName, { enabled: boolean; address: string | null }> = {
        email: { enabled: row.emailEnabled === true, address: row.email },
        sms: { enabled: row.smsEnabled === true, address: row.phone },
        whatsapp: { enabled: row.whatsappEnabled === true, address: row.phone },
        slack: { enabled: row.slackWebhookUrl !== null, address: row.slackWebhookUrl },
      };
      const { enabled, address } = routes[channelName];
      // The user switched the channel off since the job was added: nothing to send.
      if (!enabled || address === null) return;
      await channel.send({ userId: row.userId, title: row.title, body: row.body, address });
    },

    async channelPreferences(principal: Principal): Promise<ChannelSettings> {
      const prefs = await db
        .selectFrom('notificationChannels')
        .selectAll()
        .where('userId', '=', principal.userId)
        .executeTakeFirst();
      return presentChannels(prefs);
    },

    /** Changes the fields given; SMS and WhatsApp need a phone; a Slack URL must be an incoming webhook. */
    async updateChannelPreferences(
      principal: Principal,
      input: {
        email?: boolean;
        phone?: string | null;
        sms?: boolean;
        whatsapp?: boolean;
        slackWebhookUrl?: string | null;
      },
      context: RequestContext,
    ): Promise<ChannelSettings> {
      if (input.slackWebhookUrl !== undefined && input.slackWebhookUrl !== null) {
        if (!input.slackWebhookUrl.startsWith(deps.slackWebhookBaseUrl)) {
          throw invalidField('slackWebhookUrl', `must start with ${deps.slackWebhookBaseUrl}`);
        }
        const problem = await webhookTargetProblem(input.slackWebhookUrl, deps.allowPrivateTargets);
        if (problem !== null) throw invalidField('slackWebhookUrl', problem);
      }
      return db.transaction().execute(async (trx) => {
        const before = await trx
          .selectFrom('notificationChannels')
          .selectAll()
          .where('userId', '=', principal.userId)
          .forUpdate()
          .executeTakeFirst();
        const next = {
          emailEnabled: input.email ?? before?.emailEnabled ?? false,
          phone: input.phone === undefined ? (before?.phone ?? null) : input.phone,
          smsEnabled: input.sms ?? before?.smsEnabled ?? false,
          whatsappEnabled: input.whatsapp ?? before?.whatsappEnabled ?? false,
          slackWebhookUrl:
            input.slackWebhookUrl === undefined ? (before?.slackWebhookUrl ?? null) : input.slackWebhookUrl,
        };
        if ((next.smsEnabled || next.whatsappEnabled) && next.phone === null) {
          throw invalidField('phone', 'is needed for SMS and WhatsApp');
        }
        const saved = await trx
          .insertInto('notificationChannels')
          .values({ userId: principal.userId, ...next, updatedAt: clock.now() })
          .onConflict((oc) => oc.column('userId').doUpdateSet({ ...next, updatedAt: clock.now() }))
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit.record(trx, context, {
          action: 'notification.channels_updated',
          targetType: 'user',
          targetId: principal.userId,
          details: {
            email: next.emailEnabled,
            sms: next.smsEnabled,
            whatsapp: next.whatsappEnabled,
            slack: next.slackWebhookUrl !== null,
          },
        });
        return presentChannels(saved);
      });
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

type ChannelPreferences = {
  emailEnabled: boolean;
  phone: string | null;
  smsEnabled: boolean;
  whatsappEnabled: boolean;
  slackWebhookUrl: string | null;
};

export interface ChannelSettings {
  email: boolean;
  phone: string | null;
  sms: boolean;
  whatsapp: boolean;
  /** Only whether one is set: the URL is a credential. */
  slack: boolean;
}

function presentChannels(prefs: ChannelPreferences | undefined): ChannelSettings {
  return {
    email: prefs?.emailEnabled ?? false,
    phone: prefs?.phone ?? null,
    sms: prefs?.smsEnabled ?? false,
    whatsapp: prefs?.whatsappEnabled ?? false,
    slack: (prefs?.slackWebhookUrl ?? null) !== null,
  };
}

/** Sends one notification through one channel; failures retry with backoff (the provider may be down). */
export const sendNotification: TaskSpec<typeof SendPayload> = {
  name: 'send_notification',
  payload: SendPayload,
  maxAttempts: 8,
  concurrency: 'parallel',
};

export function notificationTasks(notifications: NotificationService) {
  return {
    send: defineTask({
      ...sendNotification,
      run: (payload) => notifications.deliver(payload.notificationId, payload.channel),
    }),
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
