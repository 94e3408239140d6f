import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import type { GatewayConnectorName, PaymentMethodName, RoutingStrategyName } from '../../db/types.ts';

export const GATEWAY_COLUMNS = [
  'id',
  'name',
  'connector',
  'credentialsSealed',
  'credentialsHint',
  'enabled',
  'priority',
  'weight',
  'methods',
  'feePercentBasisPoints',
  'feeFixedMinor',
  'minAmountMinor',
  'maxAmountMinor',
  'webhookIpAllowlist',
  'createdAt',
  'updatedAt',
] as const;

/**
 * The config as text, parsed here: keys of JSON read back through the query builder are
 * camel-cased, and an admin's config keys must come back as written.
 */
const configText = sql<string>`config::text`.as('configJson');

function toGatewayRow<T extends { configJson: string }>(
  row: T,
): Omit<T, 'configJson'> & { config: Record<string, unknown> } {
  const { configJson, ...rest } = row;
  return { ...rest, config: JSON.parse(configJson) as Record<string, unknown> };
}

/** What an admin sets on a gateway (credentials sealed). */
export interface GatewayValues {
  readonly name: string;
  readonly connector: GatewayConnectorName;
  readonly credentialsSealed: string | null;
  readonly credentialsHint: string | null;
  readonly config: Record<string, unknown>;
  readonly enabled: boolean;
  readonly priority: number;
  readonly weight: number;
  readonly methods: PaymentMethodName[];
  readonly feePercentBasisPoints: number;
  readonly feeFixedMinor: bigint;
  readonly minAmountMinor: bigint | null;
  readonly maxAmountMinor: bigint | null;
  readonly webhookIpAllowlist: string[] | null;
}

export interface GatewayRow extends GatewayValues {
  readonly id: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export async function listGateways(executor: Executor): Promise<GatewayRow[]> {
  const rows = await executor
    .selectFrom('gateways')
    .select([...GATEWAY_COLUMNS, configText])
    .orderBy('priority')
    .orderBy('name')
    .execute();
  return rows.map(toGatewayRow);
}

export async function findGateway(executor: Executor, id: string): Promise<GatewayRow | undefined> {
  const row = await executor
    .selectFrom('gateways')
    .select([...GATEWAY_COLUMNS, configText])
    .where('id', '=', id)
    .executeTakeFirst();
  return row === undefined ? undefined : toGatewayRow(row);
}

export async function countGateways(executor: Executor): Promise<number> {
  const row = await executor
    .selectFrom('gateways')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function insertGateway(
  executor: Executor,
  row: GatewayValues & { id: string; createdAt: Date },
): Promise<GatewayRow> {
  const inserted = await executor
    .insertInto('gateways')
    .values({ ...row, config: JSON.stringify(row.config), updatedAt: row.createdAt })
    .returning([...GATEWAY_COLUMNS, configText])
    .executeTakeFirstOrThrow();
  return toGatewayRow(inserted);
}

export async function updateGateway(
  executor: Executor,
  id: string,
  values: GatewayValues,
  updatedAt: Date,
): Promise<GatewayRow | undefined> {
  const updated = await executor
    .updateTable('gateways')
    .set({ ...values, config: JSON.stringify(values.config), updatedAt })
    .where('id', '=', id)
    .returning([...GATEWAY_COLUMNS, configText])
    .executeTakeFirst();
  return updated === undefined ? undefined : toGatewayRow(updated);
}

/** Deletes a gateway no payment ever tried; false when one did (or it does not exist). */
export async function deleteUnusedGateway(executor: Executor, id: string): Promise<boolean> {
  const result = await executor
    .deleteFrom('gateways')
    .where('id', '=', id)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('paymentAttempts').select(sql`1`.as('one')).where('gatewayId', '=', id))),
    )
    .executeTakeFirst();
  return result.numDeletedRows === 1n;
}

const ROUTING_KEY = 'routing';

export async function globalRoutingStrategy(executor: Executor): Promise<RoutingStrategyName | null> {
  const row = await executor
    .selectFrom('platformSettings')
    .select('value')
    .where('key', '=', ROUTING_KEY)
    .executeTakeFirst();
  return ((row?.value as { strategy?: RoutingStrategyName } | undefined)?.strategy ??
    null) as RoutingStrategyName | null;
}

export async function setGlobalRoutingStrategy(
  executor: Executor,
  strategy: RoutingStrategyName,
  at: Date,
): Promise<void> {
  await executor
    .insertInto('platformSettings')
    .values({ key: ROUTING_KEY, value: JSON.stringify({ strategy }), updatedAt: at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify({ strategy }), updatedAt: at }))
    .execute();
}

export interface MerchantPaymentSettingsRow {
  readonly routingStrategy: RoutingStrategyName | null;
  readonly preferredGatewayIds: string[] | null;
  readonly paymentMaxAmountMinor: bigint | null;
}

export async function merchantSettings(
  executor: Executor,
  merchantId: string,
): Promise<MerchantPaymentSettingsRow | undefined> {
  return executor
    .selectFrom('merchantPaymentSettings')
    .select(['routingStrategy', 'preferredGatewayIds', 'paymentMaxAmountMinor'])
    .where('merchantId', '=', merchantId)
    .executeTakeFirst();
}

export async function saveMerchantSettings(
  executor: Executor,
  merchantId: string,
  change: Partial<MerchantPaymentSettingsRow>,
  at: Date,
): Promise<MerchantPaymentSettingsRow> {
  return executor
    .insertInto('merchantPaymentSettings')
    .values({
      merchantId,
      routingStrategy: null,
      preferredGatewayIds: null,
      paymentMaxAmountMinor: null,
      ...change,
      updatedAt: at,
    })
    .onConflict((oc) => oc.column('merchantId').doUpdateSet({ ...change, updatedAt: at }))
    .returning(['routingStrategy', 'preferredGatewayIds', 'paymentMaxAmountMinor'])
    .executeTakeFirstOrThrow();
}

export interface AttemptFigures {
  readonly gatewayId: string;
  readonly attempts: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly p50LatencyMs: number | null;
  readonly p95LatencyMs: number | null;
  readonly errors: Record<string, number>;
}

/** Per gateway over attempts made since `since`: volume, outcomes, latency percentiles, errors. */
export async function attemptFigures(executor: Executor, since: Date): Promise<AttemptFigures[]> {
  const result = await sql<{
    gatewayId: string;
    attempts: string;
    succeeded: string;
    failed: string;
    p50LatencyMs: number | null;
    p95LatencyMs: number | null;
    errors: { code: string; count: string | number }[] | null;
  }>`
    SELECT a.gateway_id,
           count(*) AS attempts,
           count(*) FILTER (WHERE a.status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE a.status = 'failed') AS failed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms) AS p50_latency_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms) AS p95_latency_ms,
           -- Pairs rather than an object keyed by code: the camel-casing of result keys would rename the codes.
           (SELECT jsonb_agg(jsonb_build_object('code', error_code, 'count', n) ORDER BY n DESC) FROM (
              SELECT error_code, count(*) AS n FROM payment_attempts e
              WHERE e.gateway_id = a.gateway_id AND e.created_at >= ${since} AND e.error_code IS NOT NULL
              GROUP BY error_code) AS per_code) AS errors
    FROM payment_attempts a
    WHERE a.created_at >= ${since}
    GROUP BY a.gateway_id
  `.execute(executor);
  return result.rows.map((row) => ({
    gatewayId: row.gatewayId,
    attempts: Number(row.attempts),
    succeeded: Number(row.succeeded),
    failed: Number(row.failed),
    p50LatencyMs: row.p50LatencyMs === null ? null : Number(row.p50LatencyMs),
    p95LatencyMs: row.p95LatencyMs === null ? null : Number(row.p95LatencyMs),
    errors: Object.fromEntries((row.errors ?? []).map((entry) => [entry.code, Number(entry.count)])),
  }));
}
