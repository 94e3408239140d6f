import { randomUUID } from 'node:crypto';
import type { DatabaseHandle } from '../../src/db/database.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { createAlertService } from '../../src/modules/alerts/index.ts';
import { createAuditService } from '../../src/modules/audit/index.ts';
import {
  createConnectors,
  createGatewayService,
  DEFAULT_CIRCUIT_POLICY,
} from '../../src/modules/gateways/index.ts';
import type { MerchantBalanceService } from '../../src/modules/ledger/index.ts';
import { createPaymentService } from '../../src/modules/payments/index.ts';
import { registerMerchant, type Scenario } from './scenario.ts';

const PAYMENT_AMOUNT = 120.5;

/**
 * Issue 6's scenario. `pay-initiate`: payments through `POST /api/v1/pay` for one merchant, each
 * with its own order and Idempotency-Key, on the sandbox gateway (no latency, always succeeds), so
 * every request also credits the merchant through the ledger. The baseline runs the same use
 * case (the same SQL, the same in-process routing) in the bench process, without HTTP.
 */
export function paymentScenarios(context: {
  baseUrl: string;
  database: DatabaseHandle;
  encryptionKey: string;
  merchantBalances: MerchantBalanceService;
}): Scenario[] {
  const db = context.database.db;
  const clock = systemClock;
  const gateways = createGatewayService({
    db,
    clock,
    audit: createAuditService({ db, clock }),
    connectors: createConnectors(Math.random),
    random: Math.random,
    settings: {
      encryptionKey: context.encryptionKey,
      sandboxAllowed: true,
      timeoutMs: 10_000,
      circuit: DEFAULT_CIRCUIT_POLICY,
      successRateWindowMs: 900_000,
      explorationShare: 0.05,
      baseUrls: { sandbox: context.baseUrl, razorpay: '', payu: '', paytm: '' },
    },
  });
  const payments = createPaymentService({
    db,
    clock,
    gateways,
    merchantBalances: context.merchantBalances,
    alerts: createAlertService({ db, clock, thresholds: { queueBacklogSec: 300, databaseSlowMs: 500 } }),
    settings: {
      attemptsMax: 3,
      ttlMs: 900_000,
      currencies: [{ code: 'INR', scale: 2 }],
      publicBaseUrl: context.baseUrl,
    },
  });
  const merchant = { token: '', userId: '', merchantId: '' };
  const order = () => ({
    amount: PAYMENT_AMOUNT,
    currency: 'INR',
    orderId: `bench-${randomUUID()}`,
    method: 'upi_intent' as const,
    customer: { name: 'Bench Payer', email: 'payer@example.test' },
  });

  return [
    {
      name: 'pay-initiate',
      method: 'POST',
      path: '/api/v1/pay',
      headers: { 'content-type': 'application/json' },
      fixedRate: 500,
      prepare: async () => {
        const data = await registerMerchant(
          context.baseUrl,
          'Paying Merchant',
          'paying-merchant@example.test',
        );
        merchant.token = data.accessToken;
        merchant.userId = data.user.id;
        merchant.merchantId = data.user.merchantId;
      },
      nextRequest: () => ({
        headers: { authorization: `Bearer ${merchant.token}`, 'idempotency-key': randomUUID() },
        body: JSON.stringify(order()),
      }),
      baseline: async () => {
        await payments.pay(
          { userId: merchant.userId, role: 'merchant', merchantId: merchant.merchantId, via: 'jwt' },
          order(),
          {
            request: { scope: `merchant:${merchant.merchantId}`, key: randomUUID(), fingerprint: 'baseline' },
            statusCode: 201,
            body: () => ({ success: true }),
          },
        );
      },
    },
  ];
}
