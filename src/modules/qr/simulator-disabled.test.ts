import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Account, createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';
import { parseConfig } from '../../config.ts';

let testApp: TestApp;
let merchant: Account;

beforeAll(async () => {
  testApp = await createTestApp({ env: { SIMULATOR_ENABLED: 'false' } });
  merchant = await createAccount(testApp, 'merchant');
});
afterAll(async () => testApp.close());

describe('with the simulator disabled (SIMULATOR_ENABLED=false, the production default)', () => {
  it('is off by default in production only', () => {
    const secrets = { JWT_SECRET: 'j'.repeat(40), ENCRYPTION_KEY: 'ab'.repeat(32) };
    expect(parseConfig({ NODE_ENV: 'production', ...secrets }).simulatorEnabled).toBe(false);
    expect(
      parseConfig({ NODE_ENV: 'production', SIMULATOR_ENABLED: 'true', ...secrets }).simulatorEnabled,
    ).toBe(true);
    expect(parseConfig({ NODE_ENV: 'development' }).simulatorEnabled).toBe(true);
  });

  it('refuses to start simulations or simulate payments, which would be real ledger credits', async () => {
    const created = await merchant.client.post('/api/qr', { vpa: 'shop@okaxis', referenceName: 'Shop' });
    expect(created.statusCode, created.body).toBe(201);
    const { qrId } = created.json().data.qrCode;
    expectError(await merchant.client.post(`/api/simulation/${qrId}/start`), 403, 'SIMULATOR_DISABLED');
    expectError(await merchant.client.post(`/api/qr/${qrId}/simulation`), 403, 'SIMULATOR_DISABLED');
    expectError(
      await merchant.client.post('/api/transactions/simulate', { qrId, count: 5 }),
      403,
      'SIMULATOR_DISABLED',
    );
    expectError(
      await merchant.client.post('/api/qr', {
        vpa: 'shop@okaxis',
        referenceName: 'Shop',
        simulationActive: true,
      }),
      403,
      'SIMULATOR_DISABLED',
    );
    // Stopping stays possible (a simulation left active from before the switch).
    expect((await merchant.client.post(`/api/simulation/${qrId}/stop`)).statusCode).toBe(200);
    const payments = await testApp.database.handle.db
      .selectFrom('qrTransactions')
      .select('id')
      .where('qrId', '=', qrId)
      .execute();
    expect(payments).toEqual([]);
  });
});
