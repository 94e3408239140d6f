import { describe, expect, it } from 'vitest';
import type { ConnectorContext } from '../connector.ts';
import { createSandboxConnector } from './connector.ts';

const CONTEXT: ConnectorContext = {
  gatewayId: 'gw_sandbox',
  baseUrl: 'http://sandbox.invalid',
  credentials: {},
  config: {},
  timeoutMs: 1_000,
};

describe('sandbox refunds', () => {
  it('settles a refund in refund() itself, and reports any refund it is asked about as succeeded', async () => {
    const connector = createSandboxConnector(() => 0);
    const refund = await connector.refund(CONTEXT, {
      refundId: 'rf_1',
      paymentId: 'pay_1',
      attemptId: 'att_1',
      gatewayReference: 'sbx_S_att_1',
      amountMinor: 2500n,
      currency: 'INR',
      reason: 'returned',
    });
    expect(refund).toEqual({ status: 'succeeded', gatewayReference: 'sbx_R_rf_1' });
    const status = await connector.fetchRefundStatus(CONTEXT, {
      refundId: 'rf_1',
      refundReference: 'sbx_R_rf_1',
      paymentId: 'pay_1',
      attemptId: 'att_1',
      paymentReference: 'sbx_S_att_1',
      amountMinor: 2500n,
      currency: 'INR',
    });
    expect(status).toEqual({ status: 'succeeded', gatewayReference: 'sbx_R_rf_1', amountMinor: 2500n });
  });
});
