import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type RawBuilder, sql } from 'kysely';
import type { Db, Executor } from '../db/database.ts';
import type { Clock } from '../lib/clock.ts';
import { sha256Hex } from '../lib/crypto.ts';
import { uuidv7 } from '../lib/ids.ts';
import { type AppError, badRequest, conflict, unprocessable } from './errors.ts';
import { requirePrincipal } from './principal.ts';

/** How long a key answers with the first response (DESIGN.md section 3). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * How long a claimed key may stay in flight before another request with it may take over.
 * Longer than any request may run, so a live request is never overtaken; a process that died
 * mid-request committed nothing (the reply is stored in the same transaction as the change).
 */
export const IDEMPOTENCY_LOCK_MS = 120_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** Who sent which request with which key: what a use case needs to claim the key itself. */
export interface IdempotentRequest {
  readonly scope: string;
  readonly key: string;
  readonly fingerprint: string;
}

/**
 * For a use case that claims its key in the very statement making its change (one round trip):
 * the request's key and the reply to store with the change, built from the use case's result.
 */
export interface KeyedReply<T> {
  readonly request: IdempotentRequest;
  readonly statusCode: number;
  body(result: T): unknown;
}

/** A request's key with the reply to store for it. */
export interface KeyAndReply {
  readonly request: IdempotentRequest;
  readonly statusCode: number;
  readonly body: unknown;
}

/** The key as the database functions take it (`idempotency_check`, `idempotency_store`). */
export function keyArgument(keyed: KeyAndReply, now: Date): string {
  return JSON.stringify({
    ...keyed.request,
    statusCode: keyed.statusCode,
    body: keyed.body,
    now: now.toISOString(),
    expiresAt: new Date(now.getTime() + IDEMPOTENCY_KEY_TTL_MS).toISOString(),
  });
}

/**
 * For a use case whose change does not go through `ledger_post`: checks the key and stores the
 * reply in one statement, inside the use case's transaction (call it last; a key that is not new
 * throws, and the transaction rolls back).
 */
export async function settleKey(trx: Executor, keyed: KeyAndReply, now: Date): Promise<void> {
  try {
    await sql`SELECT ${settleKeyCall(keyed, now)}`.execute(trx);
  } catch (error) {
    throw keyRefusal(error) ?? error;
  }
}

/** `settleKey` as an SQL expression, for a use case that writes and settles in one statement. */
export function settleKeyCall(keyed: KeyAndReply, now: Date): RawBuilder<unknown> {
  return sql`idempotency_settle(${keyArgument(keyed, now)}::jsonb)`;
}

/**
 * Refuses (replay, 422 or 409) a key that is not new, before a use case does anything; the key
 * stays locked by this transaction until it ends, and its reply is stored later (`ledger_post`
 * or `settleKey`).
 */
export async function requireNewKey(trx: Executor, request: IdempotentRequest, now: Date): Promise<void> {
  try {
    await sql`SELECT ${requireNewKeyCall(request, now)}`.execute(trx);
  } catch (error) {
    throw keyRefusal(error) ?? error;
  }
}

/** `requireNewKey` as an SQL expression, for a use case that checks its key within its one statement. */
export function requireNewKeyCall(request: IdempotentRequest, now: Date): RawBuilder<unknown> {
  return sql`idempotency_require_new(${JSON.stringify({ ...request, now: now.toISOString() })}::jsonb)`;
}

/**
 * What a statement that checked a key (`idempotency_require_new`, through `ledger_post` or
 * `idempotency_settle`) raised: the stored reply to replay, a 422 or a 409; null for other errors.
 */
export function keyRefusal(error: unknown): IdempotentReplay | AppError | null {
  const pgError = error as { code?: string; message?: string; detail?: string };
  if (pgError.code !== 'P0001' || typeof pgError.message !== 'string') return null;
  // Claimed by a request hook on another route between the check and the store.
  if (pgError.message.startsWith('IDEMPOTENCY_KEY_IN_FLIGHT:')) return keyInFlight();
  if (!pgError.message.startsWith('IDEMPOTENCY_KEY_NOT_NEW:') || pgError.detail === undefined) return null;
  const outcome = JSON.parse(pgError.detail) as KeyOutcome;
  if (outcome.outcome === 'replay' && outcome.statusCode !== undefined) {
    return new IdempotentReplay(outcome.statusCode, outcome.body);
  }
  return outcome.outcome === 'reused' ? keyReused() : keyInFlight();
}

/** How the database answered a key checked in a use case's statement (`idempotency_check`). */
export interface KeyOutcome {
  readonly outcome: 'new' | 'replay' | 'reused' | 'in_flight';
  readonly statusCode?: number;
  readonly body?: unknown;
}

/**
 * Thrown by a use case whose key was already answered: the error handler sends the stored
 * reply with `Idempotent-Replayed: true`, and the use case's transaction has rolled back.
 */
export class IdempotentReplay extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
  ) {
    super('idempotent replay');
  }
}

const keyInFlight = (message = 'A request with this Idempotency-Key is still in progress') =>
  conflict('IDEMPOTENCY_KEY_IN_FLIGHT', message);
const keyReused = () =>
  unprocessable(
    'IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was used for a different request; use a new key',
  );

/** Runs inside a use case's transaction, after its writes, with what the use case produced. */
export type WithinTransaction<T> = (trx: Executor, result: T) => Promise<void>;

export interface Claim {
  /** Stores the reply through the use case's transaction: it commits or rolls back with the change. */
  complete(trx: Executor, statusCode: number, body: unknown): Promise<void>;
  /** The use case failed and changed nothing: the key may be used again. */
  release(): Promise<void>;
}

type ClaimOutcome =
  | { readonly kind: 'claimed'; readonly claim: Claim }
  | { readonly kind: 'replay'; readonly statusCode: number; readonly body: unknown };

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

export function createIdempotencyStore(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  async function claim(
    scope: string,
    key: string,
    fingerprint: string,
    retried = false,
  ): Promise<ClaimOutcome> {
    const now = clock.now();
    const claimToken = uuidv7(now.getTime());
    // One round trip: a new key is inserted; an expired one, or one left in flight by a request
    // that never finished, is taken over (the latter only for the same request).
    const claimed = await db
      .insertInto('idempotencyKeys')
      .values({
        scope,
        key,
        requestFingerprint: fingerprint,
        claimToken,
        state: 'in_flight',
        responseStatus: null,
        responseBody: null,
        lockedUntil: new Date(now.getTime() + IDEMPOTENCY_LOCK_MS),
        expiresAt: new Date(now.getTime() + IDEMPOTENCY_KEY_TTL_MS),
        createdAt: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['scope', 'key'])
          .doUpdateSet((eb) => ({
            requestFingerprint: eb.ref('excluded.requestFingerprint'),
            claimToken: eb.ref('excluded.claimToken'),
            state: eb.ref('excluded.state'),
            responseStatus: null,
            responseBody: null,
            lockedUntil: eb.ref('excluded.lockedUntil'),
            expiresAt: eb.ref('excluded.expiresAt'),
            createdAt: eb.ref('excluded.createdAt'),
          }))
          .where((eb) =>
            eb.or([
              eb('idempotencyKeys.expiresAt', '<=', now),
              eb.and([
                eb('idempotencyKeys.state', '=', 'in_flight'),
                eb('idempotencyKeys.lockedUntil', '<=', now),
                eb('idempotencyKeys.requestFingerprint', '=', fingerprint),
              ]),
            ]),
          ),
      )
      .returning('claimToken')
      .executeTakeFirst();
    if (claimed !== undefined) return { kind: 'claimed', claim: claimFor(scope, key, claimToken) };

    const existing = await db
      .selectFrom('idempotencyKeys')
      .select(['requestFingerprint', 'state', 'responseStatus', 'responseBody'])
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst();
    // Released by a failed first request between our two statements: claim it again, once.
    if (existing === undefined && !retried) return claim(scope, key, fingerprint, true);
    if (existing === undefined) throw keyInFlight();
    if (existing.requestFingerprint !== fingerprint) throw keyReused();
    if (existing.state === 'in_flight' || existing.responseStatus === null) throw keyInFlight();
    return { kind: 'replay', statusCode: existing.responseStatus, body: existing.responseBody };
  }

  function claimFor(scope: string, key: string, claimToken: string): Claim {
    return {
      async complete(trx, statusCode, body) {
        const result = await trx
          .updateTable('idempotencyKeys')
          .set({ state: 'completed', responseStatus: statusCode, responseBody: JSON.stringify(body) })
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('claimToken', '=', claimToken)
          .executeTakeFirst();
        // Taken over after the lock ran out: refuse, so the change rolls back rather than happen twice.
        if (result.numUpdatedRows !== 1n) {
          throw keyInFlight('The Idempotency-Key was taken over by a later request');
        }
      },
      async release() {
        await db
          .deleteFrom('idempotencyKeys')
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('claimToken', '=', claimToken)
          .where('state', '=', 'in_flight')
          .execute();
      },
    };
  }

  return {
    claim,
    /** Drops keys past their 24 hours; returns how many. */
    async purgeExpired(): Promise<number> {
      const result = await sql`DELETE FROM idempotency_keys WHERE expires_at <= ${clock.now()}`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}

/**
 * How a POST treats `Idempotency-Key`: `required` for money moves (a retry without a key could
 * move money twice), `optional` for creations, `none` for the rest (sign-in, toggles). Every
 * /api POST must say which (checked when routes are registered), so a new route cannot forget.
 */
export type IdempotencyMode = 'required' | 'optional' | 'none';

/** What a route hands its service: stores the reply, built from the use case's result, in its transaction. */
export interface IdempotencyHandle {
  within<T>(statusCode: number, body: (result: T) => unknown): WithinTransaction<T>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    idempotency?: IdempotencyMode;
    /**
     * `use-case`: the hook only reads the key (`request.idempotentRequest`); the use case checks
     * it and stores its reply in the statement that makes its change (see `KeyedReply`). For
     * hot money routes: one round trip and one commit instead of three and two.
     */
    idempotencyClaim?: 'hook' | 'use-case';
  }
  interface FastifyRequest {
    /** Set when the request carries a key claimed by the hook; null otherwise. */
    idempotency: IdempotencyHandle | null;
    /** Set when the request carries a key its use case claims; null otherwise. */
    idempotentRequest: IdempotentRequest | null;
  }
}

const PROTECTED_PREFIX = '/api';

/**
 * The Idempotency-Key plugin. For a route whose `config.idempotency` is `required` or
 * `optional`, a hook after authentication claims the key: the same key with the same request
 * replays the first reply (`Idempotent-Replayed: true`) without running the handler; with a
 * different request it is a 422; while the first is still running, a 409. The handler passes
 * `request.idempotency.within(...)` to its service, which stores the reply inside its own
 * transaction, so the stored reply and the change commit together. A request that fails releases
 * its key (nothing was committed). Keys are scoped to the caller (the merchant, or the user).
 * Register after the guard, before the routes.
 */
export function registerIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  app.decorateRequest('idempotency', null);
  app.decorateRequest('idempotentRequest', null);
  const claims = new WeakMap<FastifyRequest, Claim>();

  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    const mode = (route.config as { idempotency?: IdempotencyMode } | undefined)?.idempotency;
    if (methods.includes('POST') && route.url.startsWith(PROTECTED_PREFIX) && mode === undefined) {
      throw new Error(`route POST ${route.url} does not declare config.idempotency`);
    }
    if (mode === undefined || mode === 'none') return;
    const byUseCase =
      (route.config as { idempotencyClaim?: string } | undefined)?.idempotencyClaim === 'use-case';
    const existing = route.preHandler === undefined ? [] : [route.preHandler].flat();
    route.preHandler = [
      ...existing,
      byUseCase
        ? async (request: FastifyRequest) => {
            request.idempotentRequest = idempotentRequestOf(request, mode);
          }
        : (request: FastifyRequest, reply: FastifyReply) => claim(request, reply, mode),
    ];
  });

  // The use case failed and committed nothing: the key may be used again.
  app.addHook('onError', async (request) => {
    const held = claims.get(request);
    if (held === undefined) return;
    claims.delete(request);
    await held.release().catch((error: unknown) => {
      request.log.error({ err: error }, 'could not release an idempotency key');
    });
  });

  async function claim(request: FastifyRequest, reply: FastifyReply, mode: 'required' | 'optional') {
    const keyed = idempotentRequestOf(request, mode);
    if (keyed === null) return;
    const outcome = await store.claim(keyed.scope, keyed.key, keyed.fingerprint);
    if (outcome.kind === 'replay') {
      return reply.status(outcome.statusCode).header('idempotent-replayed', 'true').send(outcome.body);
    }
    claims.set(request, outcome.claim);
    request.idempotency = {
      within: (statusCode, body) => (trx, result) => outcome.claim.complete(trx, statusCode, body(result)),
    };
  }
}

/** The request's key, scoped to the caller (the merchant, or the user); null when optional and absent. */
function idempotentRequestOf(
  request: FastifyRequest,
  mode: 'required' | 'optional',
): IdempotentRequest | null {
  const key = idempotencyKeyOf(request);
  if (key === undefined) {
    if (mode === 'optional') return null;
    throw badRequest(
      'This request moves money: send an Idempotency-Key header',
      { field: 'Idempotency-Key' },
      'IDEMPOTENCY_KEY_REQUIRED',
    );
  }
  const principal = requirePrincipal(request.principal);
  const scope =
    principal.merchantId === null ? `user:${principal.userId}` : `merchant:${principal.merchantId}`;
  return { scope, key, fingerprint: requestFingerprint(request) };
}

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers[IDEMPOTENCY_HEADER];
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
    throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters', {
      field: 'Idempotency-Key',
    });
  }
  return header;
}

/** The same key must come with the same request: method, route, parameters and body. */
function requestFingerprint(request: FastifyRequest): string {
  return sha256Hex(
    [
      request.method,
      request.routeOptions.url,
      canonicalJson(request.params),
      canonicalJson(request.body),
    ].join('\n'),
  );
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
