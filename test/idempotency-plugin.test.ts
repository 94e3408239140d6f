import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { IdempotencyStore } from '../src/http/idempotency.ts';
import { registerIdempotency } from '../src/http/idempotency.ts';

/** The store is never reached: these tests are about route registration. */
const unusedStore = {} as IdempotencyStore;

describe('the Idempotency-Key plugin', () => {
  it('refuses to register an /api POST that does not say how it treats Idempotency-Key', async () => {
    const app = Fastify();
    registerIdempotency(app, unusedStore);
    // The check runs as the route is added, so the mistake stops the process at start-up.
    expect(() => app.post('/api/v1/things', async () => ({ ok: true }))).toThrow(
      'route POST /api/v1/things does not declare config.idempotency',
    );
  });

  it('accepts a declared POST, and leaves other methods and non-/api routes alone', async () => {
    const app = Fastify();
    registerIdempotency(app, unusedStore);
    app.post('/api/v1/things', { config: { idempotency: 'none' } }, async () => ({ ok: true }));
    app.get('/api/v1/things', async () => ({ ok: true }));
    app.post('/webhooks/inbound', async () => ({ ok: true }));
    await expect(app.ready()).resolves.toBeDefined();
    const reply = await app.inject({ method: 'POST', url: '/api/v1/things', payload: {} });
    expect(reply.json()).toEqual({ ok: true });
    await app.close();
  });
});
