import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type { Db } from '../../src/db/database.ts';
import { uuidv7 } from '../../src/lib/ids.ts';

const EVENT_COUNT = 10_000;
const COMMIT_BATCH = 500;
const DEADLINE_MS = 600_000;

export interface FanoutResult {
  scenario: 'webhook-fanout';
  mode: 'fanout';
  events: number;
  durationSec: number;
  /** Deliveries per second, from the first commit to the last delivery. */
  throughput: number;
  /** Commit of the event to its arrival at the receiver. */
  p50Ms: number;
  p99Ms: number;
  /** Events not delivered by the deadline, plus deliveries of an event already received. */
  errors: number;
}

/**
 * Issue 5's `webhook-fanout`: 10,000 events committed for one merchant (500 per transaction, as a
 * busy merchant's payments would record them) and delivered by the server's workers to a local
 * receiver subscribed to everything. Measures deliveries per second and, per event, the delay
 * from its commit to its arrival.
 */
export async function runWebhookFanout(context: { baseUrl: string; db: Db }): Promise<FanoutResult> {
  const registered = await fetch(`${context.baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Fan-out Merchant',
      email: 'fanout-merchant@example.test',
      password: 'bench-password',
      role: 'merchant',
    }),
  });
  const { data } = (await registered.json()) as {
    data: { accessToken: string; user: { merchantId: string } };
  };
  const merchantToken = data.accessToken;
  const merchantId = data.user.merchantId;
  const arrivals = new Map<string, number>();
  let duplicates = 0;
  let allArrived: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allArrived = resolve;
  });
  const receiver = http.createServer((request, response) => {
    const id = request.headers['tijori-event-id'];
    request.resume();
    request.on('end', () => {
      if (typeof id === 'string') {
        if (arrivals.has(id)) duplicates += 1;
        else arrivals.set(id, performance.now());
        if (arrivals.size >= EVENT_COUNT) allArrived();
      }
      response.statusCode = 204;
      response.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  try {
    const created = await fetch(`${context.baseUrl}/api/v1/merchant/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${merchantToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/hooks`, eventTypes: ['*'] }),
    });
    if (created.status !== 201)
      throw new Error(`creating the bench endpoint: ${created.status} ${await created.text()}`);

    const committedAt = new Map<string, number>();
    const started = performance.now();
    for (let offset = 0; offset < EVENT_COUNT; offset += COMMIT_BATCH) {
      const ids = Array.from({ length: Math.min(COMMIT_BATCH, EVENT_COUNT - offset) }, () => uuidv7());
      await sql`
        INSERT INTO events (id, merchant_id, user_id, type, payload, created_at)
        SELECT line.id, ${merchantId}::uuid, NULL, 'payment.succeeded',
          jsonb_build_object('bench', true, 'sequence', ${offset}::int + line.position), now()
        FROM unnest(${ids}::uuid[]) WITH ORDINALITY AS line (id, position)`.execute(context.db);
      const at = performance.now();
      for (const id of ids) committedAt.set(id, at);
    }
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, DEADLINE_MS).unref());
    await Promise.race([done, deadline]);
    const delays = [...arrivals.entries()]
      .flatMap(([id, at]) => {
        const committed = committedAt.get(id);
        return committed === undefined ? [] : [at - committed];
      })
      .sort((a, b) => a - b);
    const last = Math.max(...arrivals.values());
    const seconds = (last - started) / 1000;
    return {
      scenario: 'webhook-fanout',
      mode: 'fanout',
      events: EVENT_COUNT,
      durationSec: Math.round(seconds * 10) / 10,
      throughput: Math.round((arrivals.size / seconds) * 10) / 10,
      p50Ms: Math.round(percentile(delays, 0.5) * 10) / 10,
      p99Ms: Math.round(percentile(delays, 0.99) * 10) / 10,
      errors: EVENT_COUNT - arrivals.size + duplicates,
    };
  } finally {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  }
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}
