import { Type } from 'typebox';
import { defineTask } from '../../jobs/registry.ts';
import type { PaymentService } from './service.ts';

/** Open payments expired per run; a backlog is worked off over the following minutes. */
const EXPIRY_BATCH_SIZE_MAX = 1_000;
/**
 * Pending refunds asked about per run. Each is a call to its gateway (one timeout at most per
 * gateway that does not answer), so a run stays well within its five minutes.
 */
const REFUND_CHECK_BATCH_SIZE_MAX = 100;

export function paymentTasks(payments: PaymentService) {
  const expire = defineTask({
    name: 'expire_payments',
    payload: Type.Object({}),
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      await payments.expireDue(EXPIRY_BATCH_SIZE_MAX);
    },
  });
  // Refunds a gateway queued: Razorpay's webhook usually settles them first; PayU's and Paytm's
  // are settled only by asking.
  const settleRefunds = defineTask({
    name: 'settle_pending_refunds',
    payload: Type.Object({}),
    maxAttempts: 3,
    concurrency: 'serial',
    async run() {
      await payments.settlePendingRefunds(REFUND_CHECK_BATCH_SIZE_MAX);
    },
  });
  return {
    expire,
    settleRefunds,
    crontab: [
      { task: expire, match: '* * * * *' },
      { task: settleRefunds, match: '*/5 * * * *' },
    ],
  };
}
