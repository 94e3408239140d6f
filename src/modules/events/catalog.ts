/**
 * Every event type a webhook endpoint may subscribe to (`["*"]` for all), and sockets receive.
 * docs/EVENTS.md shows each one's payload.
 */
export const EVENT_TYPES = [
  'payment.succeeded',
  'payment.failed',
  'payment.pending',
  'payment.expired',
  'payment.refunded',
  'qr.created',
  'qr.updated',
  'qr.deleted',
  'wallet.credited',
  'wallet.debited',
  'wallet.low_balance',
  'transfer.completed',
  'withdrawal.completed',
  'withdrawal.failed',
  'webhook.test',
  'webhook.endpoint_disabled',
  'notification.created',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const KNOWN = new Set<string>(EVENT_TYPES);

export function isEventType(value: string): value is EventType {
  return KNOWN.has(value);
}

/** The channel the event dispatcher notifies, with the ids of each batch it dispatched. */
export const EVENTS_CHANNEL = 'tijori_events';
