import type { Migration } from 'kysely/migration';
import * as identity from './0001_identity.ts';
import * as qrCollections from './0002_qr_collections.ts';
import * as ledger from './0003_ledger.ts';
import * as wallets from './0004_wallets.ts';
import * as events from './0005_events.ts';
import * as postingInOneRoundTrip from './0006_posting_in_one_round_trip.ts';
import * as jobs from './0007_jobs.ts';
import * as webhooks from './0008_webhooks.ts';
import * as notifications from './0009_notifications.ts';
import * as lowBalanceCheck from './0010_low_balance_check.ts';
import * as systemAlerts from './0011_system_alerts.ts';
import * as roomForHotUpdates from './0012_room_for_hot_updates.ts';
import * as shardPerConnection from './0013_shard_per_connection.ts';
import * as paymentOrchestration from './0014_payment_orchestration.ts';
import * as paymentLookups from './0015_payment_lookups.ts';
import * as ledgerPostLockPlan from './0016_ledger_post_lock_plan.ts';

/**
 * Migrations in the order they apply. Listed statically (not read from the directory) so the
 * same list works under tsx, in a build, and in tests. Forward-only: no `down`.
 */
export const migrations: Record<string, Migration> = {
  '0001_identity': identity,
  '0002_qr_collections': qrCollections,
  '0003_ledger': ledger,
  '0004_wallets': wallets,
  '0005_events': events,
  '0006_posting_in_one_round_trip': postingInOneRoundTrip,
  '0007_jobs': jobs,
  '0008_webhooks': webhooks,
  '0009_notifications': notifications,
  '0010_low_balance_check': lowBalanceCheck,
  '0011_system_alerts': systemAlerts,
  '0012_room_for_hot_updates': roomForHotUpdates,
  '0013_shard_per_connection': shardPerConnection,
  '0014_payment_orchestration': paymentOrchestration,
  '0015_payment_lookups': paymentLookups,
  '0016_ledger_post_lock_plan': ledgerPostLockPlan,
};
