import type { Executor } from '../../db/database.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { EventType } from './catalog.ts';

export interface NewEvent {
  readonly type: EventType;
  /** The merchant whose webhooks and sockets hear it. */
  readonly merchantId: string | null;
  /** The user whose sockets hear it too (wallet events). */
  readonly userId?: string | null;
  /** The object's state when the event happened (`data` in webhooks and sockets). */
  readonly data: Record<string, unknown>;
  readonly createdAt: Date;
}

/**
 * Records domain events through the caller's executor, so they commit with the change they
 * report (DESIGN.md section 5); the dispatcher delivers them after the commit.
 */
export async function recordEvents(executor: Executor, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await executor
    .insertInto('events')
    .values(
      events.map((event) => ({
        id: uuidv7(event.createdAt.getTime()),
        merchantId: event.merchantId,
        userId: event.userId ?? null,
        type: event.type,
        payload: JSON.stringify(event.data),
        createdAt: event.createdAt,
      })),
    )
    .execute();
}
