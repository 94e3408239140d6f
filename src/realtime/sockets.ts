import type { Server as HttpServer } from 'node:http';
import pg from 'pg';
import type { Logger } from 'pino';
import { Server, type Socket } from 'socket.io';
import type { Db } from '../db/database.ts';
import { AppError } from '../http/errors.ts';
import type { Authenticators } from '../http/guard.ts';
import type { Principal } from '../http/principal.ts';
import { EVENTS_CHANNEL } from '../modules/events/catalog.ts';

export interface PushedEvent {
  id: string;
  type: string;
  createdAt: Date;
  data: unknown;
}

interface SocketState {
  principal: Principal;
}

const QR_ID_PATTERN = /^[A-Za-z0-9]{5}$/;
const LISTEN_RETRY_MIN_MS = 200;
const LISTEN_RETRY_MAX_MS = 10_000;

/**
 * A QR code's feed, keyed by its merchant as well: a qrId freed by a deletion and taken by another
 * merchant is another room, so a feed never outlives its code into someone else's payments.
 */
function feedRoom(merchantId: string, qrId: string): string {
  return `qr:${merchantId}:${qrId}`;
}

/**
 * Socket.IO on the API's HTTP server. A socket authenticates in its handshake (an access token,
 * or a merchant's API credentials) and joins its user's and merchant's rooms only; it may also
 * follow one of its merchant's QR codes. Events reach sockets after they commit: the dispatcher
 * (in whichever process runs workers) notifies `tijori_events` with the ids it dispatched, and
 * every API process, listening on its own connection, reads those events and emits them to
 * their owners' rooms, so a socket on any instance hears an event committed on any other.
 */
export async function attachRealtime(deps: {
  server: HttpServer;
  db: Db;
  pool: pg.Pool;
  logger: Logger;
  authenticators: Authenticators;
  /** The QR code, when the principal may see it (by qrId); null otherwise. */
  findVisibleQrCode: (
    principal: Principal,
    qrId: string,
  ) => Promise<{ qrId: string; merchantId: string } | null>;
  corsOrigins: readonly string[];
}): Promise<{ io: Server; close(): Promise<void> }> {
  const { db, logger } = deps;
  const io = new Server(deps.server, {
    path: '/socket.io',
    serveClient: false,
    cors: { origin: deps.corsOrigins.includes('*') ? true : [...deps.corsOrigins] },
  });

  io.use((socket, next) => {
    authenticate(socket.handshake.auth)
      .then((principal) => {
        (socket.data as SocketState).principal = principal;
        next();
      })
      .catch((error: unknown) => {
        const refusal = new Error(
          error instanceof AppError ? error.message : 'Authentication failed',
        ) as Error & {
          data?: unknown;
        };
        refusal.data = { code: error instanceof AppError ? error.code : 'UNAUTHORIZED' };
        next(refusal);
      });
  });

  async function authenticate(auth: Record<string, unknown>): Promise<Principal> {
    if (typeof auth.token === 'string' && auth.token !== '') {
      return deps.authenticators.verifyAccessToken(auth.token);
    }
    if (typeof auth.clientKey === 'string' && typeof auth.clientSecret === 'string') {
      const principal = await deps.authenticators.authenticateApiCredentials(
        auth.clientKey,
        auth.clientSecret,
      );
      if (principal !== null) return principal;
      throw new AppError(401, 'INVALID_API_CREDENTIALS', 'API credentials are not valid');
    }
    throw new AppError(401, 'UNAUTHORIZED', 'Send auth: { token } or auth: { clientKey, clientSecret }');
  }

  io.on('connection', (socket: Socket) => {
    const { principal } = socket.data as SocketState;
    void socket.join(`user:${principal.userId}`);
    if (principal.merchantId !== null) void socket.join(`merchant:${principal.merchantId}`);

    type Ack = (reply: { ok: true } | { ok: false; error: { code: string; message: string } }) => void;
    const qrIdOf = (payload: unknown): string => {
      const qrId = (payload as { qrId?: unknown } | null)?.qrId;
      if (typeof qrId !== 'string' || !QR_ID_PATTERN.test(qrId)) {
        throw new AppError(400, 'VALIDATION_FAILED', 'qrId must be a 5-character QR id');
      }
      return qrId.toUpperCase();
    };
    const following = async (payload: unknown): Promise<string> => {
      // Another merchant's QR code is refused like an unknown one.
      const qrCode = await deps.findVisibleQrCode(principal, qrIdOf(payload));
      if (qrCode === null) throw new AppError(404, 'QR_NOT_FOUND', 'QR code not found');
      return feedRoom(qrCode.merchantId, qrCode.qrId);
    };
    const answer = (run: () => Promise<void>, ack: unknown) => {
      const reply = typeof ack === 'function' ? (ack as Ack) : () => {};
      run().then(
        () => reply({ ok: true }),
        (error: unknown) => {
          if (!(error instanceof AppError)) logger.error({ err: error }, 'socket request failed');
          reply({
            ok: false,
            error:
              error instanceof AppError
                ? { code: error.code, message: error.message }
                : { code: 'INTERNAL_ERROR', message: 'Internal server error' },
          });
        },
      );
    };
    socket.on('subscribe', (payload: unknown, ack: unknown) =>
      answer(async () => socket.join(await following(payload)), ack),
    );
    // A feed the socket follows is left without a check (its code may be deleted since, its qrId
    // perhaps another merchant's now); otherwise the code must be one the socket may see.
    socket.on('unsubscribe', (payload: unknown, ack: unknown) =>
      answer(async () => {
        const suffix = `:${qrIdOf(payload)}`;
        const followed = [...socket.rooms].filter((room) => room.startsWith('qr:') && room.endsWith(suffix));
        if (followed.length === 0) await following(payload);
        for (const room of followed) await socket.leave(room);
      }, ack),
    );
  });

  /** Emits committed events to their owners' rooms (and a payment's QR code feed). */
  async function push(ids: readonly string[]): Promise<void> {
    // Nobody connected to this process: nothing to read.
    if (ids.length === 0 || io.engine.clientsCount === 0) return;
    const events = await db
      .selectFrom('events')
      .select(['id', 'type', 'createdAt', 'payload', 'merchantId', 'userId'])
      .where('id', 'in', ids)
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
    for (const event of events) {
      const rooms = [
        ...(event.merchantId === null ? [] : [`merchant:${event.merchantId}`]),
        ...(event.userId === null ? [] : [`user:${event.userId}`]),
      ];
      const payload = event.payload as { qrId?: unknown; toUserId?: unknown } | null;
      // A transfer is one event for both users: the payee hears it too.
      if (event.type === 'transfer.completed' && typeof payload?.toUserId === 'string') {
        rooms.push(`user:${payload.toUserId}`);
      }
      const qrId = payload?.qrId;
      if (event.type.startsWith('payment.') && typeof qrId === 'string' && event.merchantId !== null) {
        rooms.push(feedRoom(event.merchantId, qrId));
      }
      if (rooms.length === 0) continue;
      const message: PushedEvent = {
        id: event.id,
        type: event.type,
        createdAt: event.createdAt,
        data: event.payload,
      };
      io.to(rooms).emit(event.type, message);
    }
  }

  // A connection of its own, held by LISTEN; when it is lost (a database restart, a failover) it
  // is made again, with growing waits. Notifications sent while it was down are not replayed:
  // those events reached their webhooks, and clients re-read state when they reconnect.
  let listener: pg.Client | null = null;
  let closing = false;
  let retryMs = LISTEN_RETRY_MIN_MS;
  const listen = async (): Promise<void> => {
    const client = new pg.Client(deps.pool.options);
    let lost = false;
    const reconnect = (error?: Error) => {
      if (lost || closing) return;
      lost = true;
      listener = null;
      logger.error({ err: error }, 'event listener connection lost; listening again');
      client.end().catch(() => undefined);
      setTimeout(() => void listen(), retryMs).unref();
      retryMs = Math.min(retryMs * 2, LISTEN_RETRY_MAX_MS);
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    client.on('notification', (notification) => {
      if (notification.channel !== EVENTS_CHANNEL || notification.payload === undefined) return;
      const ids = notification.payload.split(',').filter((id) => id !== '');
      push(ids).catch((error: unknown) => logger.error({ err: error }, 'could not push events to sockets'));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      listener = client;
      retryMs = LISTEN_RETRY_MIN_MS;
    } catch (error) {
      reconnect(error as Error);
    }
  };
  await listen();

  return {
    io,
    // Not io.close(): that would close the HTTP server, which belongs to Fastify.
    async close() {
      closing = true;
      io.disconnectSockets(true);
      io.engine.close();
      await listener?.end().catch(() => undefined);
    },
  };
}
