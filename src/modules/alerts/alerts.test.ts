import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';
import { systemClock } from '../../lib/clock.ts';
import { createAlertService } from './service.ts';

let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp();
});
afterAll(async () => testApp.close());

async function openAlerts() {
  const admin = await createAccount(testApp, 'admin');
  const reply = await admin.client.get('/api/v1/alerts');
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json().data.alerts as { kind: string; subject: string; message: string; details: unknown }[];
}

describe('GET /api/v1/alerts', () => {
  it('lists what the checks raised and drops what they cleared, one open alert per subject', async () => {
    const alerts = testApp.services.alerts;
    expect(await openAlerts()).toEqual([]);

    await alerts.check([
      { task: 'deliver_webhook', oldestWaitingSec: 301, queued: 12 },
      { task: 'expire_holds', oldestWaitingSec: 300, queued: 1 },
    ]);
    await alerts.check([{ task: 'deliver_webhook', oldestWaitingSec: 400, queued: 20 }]);
    expect(await openAlerts()).toEqual([
      expect.objectContaining({
        kind: 'queue_backlog',
        subject: 'deliver_webhook',
        details: { oldestWaitingSec: 301, queued: 12 },
      }),
    ]);
    await alerts.check([{ task: 'deliver_webhook', oldestWaitingSec: 0, queued: 0 }]);
    expect(await openAlerts()).toEqual([]);

    // A webhook endpoint disabled after failing: alerted until it is enabled again.
    const merchant = await createAccount(testApp, 'merchant');
    const created = await merchant.client.post('/api/v1/merchant/webhooks', {
      url: 'http://127.0.0.1:9/hooks',
      eventTypes: ['*'],
    });
    expect(created.statusCode, created.body).toBe(201);
    const endpointId = created.json().data.webhook.id as string;
    await testApp.database.handle.db
      .updateTable('webhookEndpoints')
      .set({ enabled: false, disabledReason: 'every delivery failed for 24 hours' })
      .where('id', '=', endpointId)
      .execute();
    await alerts.check([]);
    await alerts.check([]);
    expect(await openAlerts()).toEqual([
      expect.objectContaining({ kind: 'webhook_endpoint_disabled', subject: endpointId }),
    ]);
    expect(
      (await merchant.client.patch(`/api/v1/merchant/webhooks/${endpointId}`, { enabled: true })).statusCode,
    ).toBe(200);
    await alerts.check([]);
    expect(await openAlerts()).toEqual([]);

    // Cleared alerts stay as history.
    const history = await testApp.database.handle.db
      .selectFrom('systemAlerts')
      .select(['kind', 'clearedAt'])
      .execute();
    expect(history).toHaveLength(2);
    expect(history.every((alert) => alert.clearedAt !== null)).toBe(true);
  });

  it('raises and clears the slow-database alert against its threshold', async () => {
    const db = testApp.database.handle.db;
    const slow = createAlertService({
      db,
      clock: systemClock,
      thresholds: { queueBacklogSec: 300, databaseSlowMs: -1 },
    });
    const fast = createAlertService({
      db,
      clock: systemClock,
      thresholds: { queueBacklogSec: 300, databaseSlowMs: 60_000 },
    });
    await slow.check([]);
    expect(await openAlerts()).toEqual([
      expect.objectContaining({ kind: 'database_slow', subject: 'database' }),
    ]);
    await fast.check([]);
    expect(await openAlerts()).toEqual([]);
  });

  it('is for admins only', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    expectError(await merchant.client.get('/api/v1/alerts'), 403, 'FORBIDDEN');
  });
});
