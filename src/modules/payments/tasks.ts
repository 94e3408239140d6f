import { Type } from 'typebox';
import { defineTask } from '../../jobs/registry.ts';
import type { PaymentService } from './service.ts';

/** Open payments expired per run; a backlog is worked off over the following minutes. */
const EXPIRY_BATCH_SIZE_MAX = 1_000;

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
  return { expire, crontab: [{ task: expire, match: '* * * * *' }] };
}
