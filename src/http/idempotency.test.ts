import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/database.ts';
import type { Db } from '../db/database.ts';
import { createManualClock } from '../lib/clock.ts';
import { AppError } from './errors.ts';
import {
  createIdempotencyStore,
  IDEMPOTENCY_KEY_TTL_MS,
  IDEMPOTENCY_LOCK_MS,
  type IdempotencyStore,
} from './idempotency.ts';

const T0 = new Date('2026-03-10T06:00:00.000Z');
const SCOPE = 'merchant:0195d6a0-0000-7000-8000-000000000001';
const OTHER_SCOPE = 'merchant:0195d6a0-0000-7000-8000-000000000002';
const FINGERPRINT = 'a'.repeat(64);
const OTHER_FINGERPRINT = 'b'.repeat(64);
const BODY = {
  success: true,
  data: {
    paymentId: 'PAY1773122400000123',
    amount: 250.5,
    customerInfo: { name: 'Asha Verma', upiApp: null },
  },
  message: 'Transaction created — ₹250.50',
};

let database: TestDatabase;
let db: Db;
let clock: ReturnType<typeof createManualClock>;
let store: IdempotencyStore;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.handle.db;
});
afterAll(async () => {
  await database?.destroy();
});
beforeEach(async () => {
  await db.deleteFrom('idempotencyKeys').execute();
  clock = createManualClock(T0);
  store = createIdempotencyStore({ db, clock });
});

async function expectAppError(promise: Promise<unknown>, statusCode: number, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, 'expected a rejection').toBeInstanceOf(AppError);
  expect({ statusCode: (error as AppError).statusCode, code: (error as AppError).code }).toEqual({
    statusCode,
    code,
  });
}

async function claimNew(scope: string, key: string, fingerprint = FINGERPRINT) {
  const outcome = await store.claim(scope, key, fingerprint);
  if (outcome.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(outcome)}`);
  return outcome.claim;
}

async function rowOf(scope: string, key: string) {
  return db
    .selectFrom('idempotencyKeys')
    .selectAll()
    .where('scope', '=', scope)
    .where('key', '=', key)
    .executeTakeFirst();
}

async function keysInTable(): Promise<string[]> {
  const rows = await db.selectFrom('idempotencyKeys').select(['scope', 'key']).execute();
  return rows.map((row) => `${row.scope}/${row.key}`).sort();
}

describe('claiming a key', () => {
  it('claims a new key and records it in flight for the lock time and the TTL', async () => {
    const outcome = await store.claim(SCOPE, 'key-1', FINGERPRINT);
    expect(outcome.kind).toBe('claimed');
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      requestFingerprint: FINGERPRINT,
      state: 'in_flight',
      responseStatus: null,
      responseBody: null,
      lockedUntil: new Date(T0.getTime() + IDEMPOTENCY_LOCK_MS),
      expiresAt: new Date(T0.getTime() + IDEMPOTENCY_KEY_TTL_MS),
      createdAt: T0,
    });
    expect(IDEMPOTENCY_LOCK_MS).toBe(120_000);
    expect(IDEMPOTENCY_KEY_TTL_MS).toBe(86_400_000);
  });

  it('refuses the same request while the first is in flight (409 IDEMPOTENCY_KEY_IN_FLIGHT)', async () => {
    await claimNew(SCOPE, 'key-1');
    clock.advance(IDEMPOTENCY_LOCK_MS - 1);
    await expectAppError(store.claim(SCOPE, 'key-1', FINGERPRINT), 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
  });

  it('refuses a different request with the same key (422 IDEMPOTENCY_KEY_REUSED), in flight or done', async () => {
    const claim = await claimNew(SCOPE, 'key-1');
    await expectAppError(store.claim(SCOPE, 'key-1', OTHER_FINGERPRINT), 422, 'IDEMPOTENCY_KEY_REUSED');
    await db.transaction().execute((trx) => claim.complete(trx, 201, BODY));
    await expectAppError(store.claim(SCOPE, 'key-1', OTHER_FINGERPRINT), 422, 'IDEMPOTENCY_KEY_REUSED');
    // The refusals changed nothing.
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      requestFingerprint: FINGERPRINT,
      state: 'completed',
    });
  });

  it('lets exactly one of many concurrent identical requests claim a new key', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () => store.claim(SCOPE, 'key-race', FINGERPRINT)),
    );
    const claimed = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(claimed).toHaveLength(1);
    expect((claimed[0] as PromiseFulfilledResult<{ kind: string }>).value.kind).toBe('claimed');
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(AppError);
        expect((outcome.reason as AppError).code).toBe('IDEMPOTENCY_KEY_IN_FLIGHT');
        expect((outcome.reason as AppError).statusCode).toBe(409);
      }
    }
  });

  it('keeps scopes apart: the same key in two scopes is two keys', async () => {
    const first = await claimNew(SCOPE, 'shared-key', FINGERPRINT);
    const second = await claimNew(OTHER_SCOPE, 'shared-key', OTHER_FINGERPRINT);
    await db.transaction().execute((trx) => first.complete(trx, 201, { scope: 'one' }));
    expect(await store.claim(SCOPE, 'shared-key', FINGERPRINT)).toEqual({
      kind: 'replay',
      statusCode: 201,
      body: { scope: 'one' },
    });
    await expectAppError(
      store.claim(OTHER_SCOPE, 'shared-key', OTHER_FINGERPRINT),
      409,
      'IDEMPOTENCY_KEY_IN_FLIGHT',
    );
    await second.release();
    expect(await keysInTable()).toEqual([`${SCOPE}/shared-key`]);
    expect((await store.claim(OTHER_SCOPE, 'shared-key', FINGERPRINT)).kind).toBe('claimed');
  });
});

describe('completing and replaying', () => {
  it('replays the stored status and body after complete() commits', async () => {
    const claim = await claimNew(SCOPE, 'key-1');
    await db.transaction().execute((trx) => claim.complete(trx, 201, BODY));
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      state: 'completed',
      responseStatus: 201,
      responseBody: BODY,
    });
    const expected = { kind: 'replay', statusCode: 201, body: BODY };
    expect(await store.claim(SCOPE, 'key-1', FINGERPRINT)).toEqual(expected);
    // Again, and after the lock time: a completed key is never taken over before it expires.
    clock.advance(IDEMPOTENCY_LOCK_MS * 10);
    expect(await store.claim(SCOPE, 'key-1', FINGERPRINT)).toEqual(expected);
    clock.set(new Date(T0.getTime() + IDEMPOTENCY_KEY_TTL_MS - 1));
    expect(await store.claim(SCOPE, 'key-1', FINGERPRINT)).toEqual(expected);
  });

  it('replays other statuses and bodies as stored (an array, a string, null)', async () => {
    const cases: [string, number, unknown][] = [
      ['array', 200, [1, 'two', { three: 3 }]],
      ['string', 202, 'accepted'],
      ['null', 204, null],
    ];
    for (const [key, statusCode, body] of cases) {
      const claim = await claimNew(SCOPE, key);
      await db.transaction().execute((trx) => claim.complete(trx, statusCode, body));
      expect(await store.claim(SCOPE, key, FINGERPRINT)).toEqual({ kind: 'replay', statusCode, body });
    }
  });

  it('stores nothing when the transaction holding complete() rolls back: the key stays in flight', async () => {
    const claim = await claimNew(SCOPE, 'key-1');
    await expect(
      db.transaction().execute(async (trx) => {
        await claim.complete(trx, 201, BODY);
        throw new Error('the use case failed after storing the reply');
      }),
    ).rejects.toThrow('the use case failed after storing the reply');
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      state: 'in_flight',
      responseStatus: null,
      responseBody: null,
    });
    await expectAppError(store.claim(SCOPE, 'key-1', FINGERPRINT), 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
    // The claim is still valid: it can release the key, after which it is free.
    await claim.release();
    expect(await rowOf(SCOPE, 'key-1')).toBeUndefined();
    expect((await store.claim(SCOPE, 'key-1', FINGERPRINT)).kind).toBe('claimed');
  });
});

describe('releasing a key', () => {
  it('frees the key for the same or a different request', async () => {
    const claim = await claimNew(SCOPE, 'key-1');
    await claim.release();
    expect(await rowOf(SCOPE, 'key-1')).toBeUndefined();
    const again = await claimNew(SCOPE, 'key-1', OTHER_FINGERPRINT);
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      requestFingerprint: OTHER_FINGERPRINT,
      state: 'in_flight',
    });
    await again.release();
    expect((await store.claim(SCOPE, 'key-1', FINGERPRINT)).kind).toBe('claimed');
  });

  it('does not delete a completed key', async () => {
    const claim = await claimNew(SCOPE, 'key-1');
    await db.transaction().execute((trx) => claim.complete(trx, 201, BODY));
    await claim.release();
    expect(await store.claim(SCOPE, 'key-1', FINGERPRINT)).toEqual({
      kind: 'replay',
      statusCode: 201,
      body: BODY,
    });
  });

  it('touches only its own key', async () => {
    const claim = await claimNew(SCOPE, 'key-1');
    await claimNew(SCOPE, 'key-2');
    await claimNew(OTHER_SCOPE, 'key-1');
    await claim.release();
    expect(await keysInTable()).toEqual([`${SCOPE}/key-2`, `${OTHER_SCOPE}/key-1`]);
  });
});

describe('a stale in-flight key', () => {
  it('is taken over by the same request once the lock has passed; the old claim can no longer complete', async () => {
    const stale = await claimNew(SCOPE, 'key-1');
    clock.advance(IDEMPOTENCY_LOCK_MS - 1);
    await expectAppError(store.claim(SCOPE, 'key-1', FINGERPRINT), 409, 'IDEMPOTENCY_KEY_IN_FLIGHT');
    clock.advance(1);
    const takeover = await claimNew(SCOPE, 'key-1');
    const takenAt = clock.now().getTime();
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      state: 'in_flight',
      lockedUntil: new Date(takenAt + IDEMPOTENCY_LOCK_MS),
      expiresAt: new Date(takenAt + IDEMPOTENCY_KEY_TTL_MS),
    });

    // The old request finishes late: its complete() refuses, so its whole transaction rolls back.
    await expectAppError(
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto('idempotencyKeys')
          .values({
            scope: 'marker',
            key: 'change-of-the-stale-request',
            requestFingerprint: FINGERPRINT,
            claimToken: '0195d6a0-0000-7000-8000-0000000000ff',
            state: 'in_flight',
            responseStatus: null,
            responseBody: null,
            lockedUntil: T0,
            expiresAt: T0,
            createdAt: T0,
          })
          .execute();
        await stale.complete(trx, 201, { from: 'stale' });
      }),
      409,
      'IDEMPOTENCY_KEY_IN_FLIGHT',
    );
    expect(await rowOf('marker', 'change-of-the-stale-request')).toBeUndefined();
    // Nor can the old claim release the new one's key.
    await stale.release();
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({ state: 'in_flight', responseStatus: null });

    await db.transaction().execute((trx) => takeover.complete(trx, 201, { from: 'takeover' }));
    expect(await store.claim(SCOPE, 'key-1', FINGERPRINT)).toEqual({
      kind: 'replay',
      statusCode: 201,
      body: { from: 'takeover' },
    });
  });

  it('is not taken over by a different request, even after the lock (422)', async () => {
    await claimNew(SCOPE, 'key-1');
    clock.advance(IDEMPOTENCY_LOCK_MS * 2);
    await expectAppError(store.claim(SCOPE, 'key-1', OTHER_FINGERPRINT), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      requestFingerprint: FINGERPRINT,
      state: 'in_flight',
    });
  });
});

describe('an expired key', () => {
  it('can be claimed anew after 24 hours, even by a different request', async () => {
    const first = await claimNew(SCOPE, 'key-1');
    await db.transaction().execute((trx) => first.complete(trx, 201, BODY));
    clock.set(new Date(T0.getTime() + IDEMPOTENCY_KEY_TTL_MS - 1));
    await expectAppError(store.claim(SCOPE, 'key-1', OTHER_FINGERPRINT), 422, 'IDEMPOTENCY_KEY_REUSED');
    clock.advance(1);
    const fresh = await claimNew(SCOPE, 'key-1', OTHER_FINGERPRINT);
    const now = clock.now().getTime();
    expect(await rowOf(SCOPE, 'key-1')).toMatchObject({
      requestFingerprint: OTHER_FINGERPRINT,
      state: 'in_flight',
      responseStatus: null,
      responseBody: null,
      lockedUntil: new Date(now + IDEMPOTENCY_LOCK_MS),
      expiresAt: new Date(now + IDEMPOTENCY_KEY_TTL_MS),
      createdAt: new Date(now),
    });
    // The first claim's token is gone: it cannot overwrite the new request's reply.
    await expectAppError(
      db.transaction().execute((trx) => first.complete(trx, 201, BODY)),
      409,
      'IDEMPOTENCY_KEY_IN_FLIGHT',
    );
    await db.transaction().execute((trx) => fresh.complete(trx, 200, { second: true }));
    expect(await store.claim(SCOPE, 'key-1', OTHER_FINGERPRINT)).toEqual({
      kind: 'replay',
      statusCode: 200,
      body: { second: true },
    });
  });

  it('replays with the same request right up to expiry, then starts over', async () => {
    const first = await claimNew(SCOPE, 'key-1');
    await db.transaction().execute((trx) => first.complete(trx, 201, BODY));
    clock.set(new Date(T0.getTime() + IDEMPOTENCY_KEY_TTL_MS));
    expect((await store.claim(SCOPE, 'key-1', FINGERPRINT)).kind).toBe('claimed');
  });
});

describe('purgeExpired', () => {
  it('deletes only the keys past their 24 hours and says how many', async () => {
    const early = await claimNew(SCOPE, 'k-00h');
    await db.transaction().execute((trx) => early.complete(trx, 201, BODY));
    await claimNew(OTHER_SCOPE, 'k-00h-in-flight');
    clock.advance(60 * 60 * 1000);
    await claimNew(SCOPE, 'k-01h');
    clock.advance(60 * 60 * 1000);
    await claimNew(SCOPE, 'k-02h');

    clock.set(new Date(T0.getTime() + IDEMPOTENCY_KEY_TTL_MS - 1));
    expect(await store.purgeExpired()).toBe(0);
    expect(await keysInTable()).toHaveLength(4);

    clock.set(new Date(T0.getTime() + IDEMPOTENCY_KEY_TTL_MS));
    expect(await store.purgeExpired()).toBe(2);
    expect(await keysInTable()).toEqual([`${SCOPE}/k-01h`, `${SCOPE}/k-02h`]);

    clock.advance(90 * 60 * 1000);
    expect(await store.purgeExpired()).toBe(1);
    expect(await keysInTable()).toEqual([`${SCOPE}/k-02h`]);
    expect(await store.purgeExpired()).toBe(0);
  });
});
