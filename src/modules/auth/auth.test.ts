import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTestApp, expectError, type TestApp } from '../../../test/app.ts';

let testApp: TestApp;
beforeAll(async () => {
  testApp = await createTestApp();
});
afterAll(async () => {
  await testApp?.close();
});

describe('smoke', () => {
  it('registers and reads me', async () => {
    const merchant = await createAccount(testApp, 'merchant');
    const me = await merchant.client.get('/api/v1/auth/me');
    expect(me.statusCode).toBe(200);
    expect(me.json().data.user.merchantId).toBe(merchant.user.merchantId);
    const viaKey = await merchant.apiClient!.get('/api/auth/me');
    expect(viaKey.statusCode).toBe(200);
    expectError(
      (await testApp.app.inject({ method: 'GET', url: '/api/v1/auth/me' })) as never,
      401,
      'UNAUTHORIZED',
    );
  });
});
