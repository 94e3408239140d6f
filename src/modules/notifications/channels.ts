import nodemailer from 'nodemailer';
import type { Logger } from 'pino';

/** What a channel sends: the notification and where its user receives that channel. */
export interface OutgoingNotification {
  readonly userId: string;
  readonly title: string;
  readonly body: string;
  /** The channel's address for this user: an email, an E.164 phone, a Slack webhook URL. */
  readonly address: string;
}

export type ChannelName = 'email' | 'sms' | 'whatsapp' | 'slack';

/** One way to reach people. `send` throws when the provider refuses or cannot be reached. */
export interface NotificationChannel {
  readonly name: ChannelName;
  send(notification: OutgoingNotification): Promise<void>;
}

const PROVIDER_TIMEOUT_MS = 10_000;

/** Email over SMTP (nodemailer). */
export function emailChannel(options: { smtpUrl: string; from: string }): NotificationChannel {
  const transport = nodemailer.createTransport(options.smtpUrl);
  return {
    name: 'email',
    async send(notification) {
      await transport.sendMail({
        from: options.from,
        to: notification.address,
        subject: notification.title,
        text: notification.body,
      });
    },
  };
}

/**
 * SMS or WhatsApp through Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`,
 * form-encoded, HTTP Basic with the account SID and auth token); WhatsApp numbers carry the
 * `whatsapp:` prefix. The base URL is configurable (TWILIO_API_URL).
 */
export function twilioChannel(options: {
  name: 'sms' | 'whatsapp';
  apiUrl: string;
  accountSid: string;
  authToken: string;
  from: string;
}): NotificationChannel {
  const prefix = options.name === 'whatsapp' ? 'whatsapp:' : '';
  const endpoint = new URL(
    `/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`,
    options.apiUrl,
  ).toString();
  const authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;
  return {
    name: options.name,
    async send(notification) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          To: `${prefix}${notification.address}`,
          From: `${prefix}${options.from}`,
          Body: `${notification.title}\n${notification.body}`,
        }).toString(),
        signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
      });
      if (response.status !== 201 && response.status !== 200) {
        const detail = await response.text().catch(() => '');
        throw new Error(`${options.name} provider answered ${response.status}: ${detail.slice(0, 200)}`);
      }
      await response.arrayBuffer().catch(() => undefined);
    },
  };
}

/** Slack incoming webhooks: a JSON POST `{ text }` to the user's webhook URL. */
export function slackChannel(): NotificationChannel {
  return {
    name: 'slack',
    async send(notification) {
      const response = await fetch(notification.address, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `*${notification.title}*\n${notification.body}` }),
        redirect: 'manual',
        signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
      });
      const answer = await response.text().catch(() => '');
      if (response.status !== 200)
        throw new Error(`slack answered ${response.status}: ${answer.slice(0, 200)}`);
    },
  };
}

/** The channels this installation is configured for; the log line is written for every notification. */
export function configuredChannels(config: {
  smtpUrl: string | undefined;
  smtpFrom: string;
  twilioApiUrl: string;
  twilioAccountSid: string | undefined;
  twilioAuthToken: string | undefined;
  smsFrom: string | undefined;
  whatsappFrom: string | undefined;
}): NotificationChannel[] {
  const channels: NotificationChannel[] = [slackChannel()];
  if (config.smtpUrl !== undefined)
    channels.push(emailChannel({ smtpUrl: config.smtpUrl, from: config.smtpFrom }));
  const { twilioAccountSid: accountSid, twilioAuthToken: authToken } = config;
  if (accountSid !== undefined && authToken !== undefined) {
    if (config.smsFrom !== undefined) {
      channels.push(
        twilioChannel({
          name: 'sms',
          apiUrl: config.twilioApiUrl,
          accountSid,
          authToken,
          from: config.smsFrom,
        }),
      );
    }
    if (config.whatsappFrom !== undefined) {
      channels.push(
        twilioChannel({
          name: 'whatsapp',
          apiUrl: config.twilioApiUrl,
          accountSid,
          authToken,
          from: config.whatsappFrom,
        }),
      );
    }
  }
  return channels;
}

export function logNotification(
  logger: Logger,
  notification: { userId: string; kind: string; title: string },
): void {
  logger.info(
    { userId: notification.userId, kind: notification.kind, title: notification.title },
    'notification',
  );
}
