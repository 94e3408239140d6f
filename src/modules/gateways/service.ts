import { BlockList, isIP } from 'node:net';
import type { Db } from '../../db/database.ts';
import type { PaymentMethodName, RoutingStrategyName } from '../../db/types.ts';
import { badRequest, notFound, unprocessable } from '../../http/errors.ts';
import type { WithinTransaction } from '../../http/idempotency.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { decryptSecret, encryptSecret } from '../../lib/crypto.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import { CircuitBreakers, type CircuitPolicy, type CircuitSnapshot } from './circuit-breaker.ts';
import type { ConnectorContext, ConnectorName, GatewayConnector } from './connectors/connector.ts';
import {
  connectorNotAllowed,
  credentialsIncomplete,
  gatewayInUse,
  gatewayNameTaken,
  gatewayNotFound,
  limitsInverted,
  methodsUnsupported,
  unknownPreferredGateways,
} from './errors.ts';
import * as repo from './repo.ts';
import {
  eligibleGateways,
  type RoutableGateway,
  rankGateways,
  type Skipped,
  SuccessRateWindow,
} from './routing.ts';

export interface GatewaySettings {
  /** AES-256-GCM key (hex) sealing gateway credentials at rest. */
  readonly encryptionKey: string;
  /** Off in production by default (SANDBOX_GATEWAY): the sandbox would credit merchants for nothing. */
  readonly sandboxAllowed: boolean;
  /** Every outbound call to a gateway gives up after this long. */
  readonly timeoutMs: number;
  readonly circuit: CircuitPolicy;
  /** The rolling window the success-rate strategy ranks by. */
  readonly successRateWindowMs: number;
  /** Share of success-rate routes that try another gateway first, so a recovered one is noticed. */
  readonly explorationShare: number;
  /** Base URL per connector (a gateway's config.baseUrl overrides it). */
  readonly baseUrls: Readonly<Record<ConnectorName, string>>;
}

/** A gateway as the router and the payment service use it: its credentials opened. */
export interface LiveGateway extends RoutableGateway {
  readonly connectorName: ConnectorName;
  readonly connector: GatewayConnector;
  readonly context: ConnectorContext;
  readonly webhookAllowlist: BlockList | null;
}

export interface GatewayInput {
  readonly name: string;
  readonly connector: ConnectorName;
  readonly credentials?: Record<string, string>;
  readonly config?: Record<string, unknown>;
  readonly enabled?: boolean;
  readonly priority?: number;
  readonly weight?: number;
  readonly methods?: PaymentMethodName[];
  readonly feePercentBasisPoints?: number;
  readonly feeFixedMinor?: bigint;
  readonly minAmountMinor?: bigint | null;
  readonly maxAmountMinor?: bigint | null;
  readonly webhookIpAllowlist?: string[] | null;
}

export type GatewayChange = Partial<GatewayInput>;

export interface GatewayView extends Omit<repo.GatewayRow, 'credentialsSealed' | 'credentialsHint'> {
  readonly credentialsHint: Record<string, string> | null;
}

/** Gateways change rarely and every payment reads them: kept in memory, re-read this often. */
const GATEWAY_CACHE_TTL_MS = 5_000;
const MERCHANT_SETTINGS_CACHE_TTL_MS = 5_000;
const MERCHANT_SETTINGS_CACHE_SIZE_MAX = 10_000;
const HINT_VISIBLE_CHARACTERS = 4;
/** Bounds of a gateway's own webhook tolerance (config.webhookToleranceSec): 10 s to a week. */
const WEBHOOK_TOLERANCE_SEC_MIN = 10;
const WEBHOOK_TOLERANCE_SEC_MAX = 604_800;

export type RouteResult =
  | { readonly ok: true; readonly gateways: LiveGateway[] }
  | { readonly ok: false; readonly skipped: Skipped[] };

export function createGatewayService(deps: {
  db: Db;
  clock: Clock;
  audit: AuditService;
  connectors: Readonly<Record<ConnectorName, GatewayConnector>>;
  settings: GatewaySettings;
  random: () => number;
}) {
  const { db, clock, audit, connectors, settings, random } = deps;
  const circuits = new CircuitBreakers(settings.circuit, clock);
  const successRates = new SuccessRateWindow(settings.successRateWindowMs, clock);
  let cache: {
    readonly at: number;
    readonly gateways: LiveGateway[];
    readonly strategy: RoutingStrategyName;
  } | null = null;
  const merchantCache = new Map<
    string,
    { at: number; settings: repo.MerchantPaymentSettingsRow | undefined }
  >();

  function openCredentials(sealedCredentials: string | null): Record<string, string> {
    return sealedCredentials === null
      ? {}
      : (JSON.parse(decryptSecret(sealedCredentials, settings.encryptionKey)) as Record<string, string>);
  }

  function live(row: repo.GatewayRow): LiveGateway {
    const credentials = openCredentials(row.credentialsSealed);
    const baseUrl =
      typeof row.config.baseUrl === 'string' ? row.config.baseUrl : settings.baseUrls[row.connector];
    return {
      id: row.id,
      name: row.name,
      // Where the sandbox is not allowed it takes no payment, whatever its record says.
      enabled: row.enabled && (settings.sandboxAllowed || row.connector !== 'sandbox'),
      priority: row.priority,
      weight: row.weight,
      methods: row.methods,
      feePercentBasisPoints: row.feePercentBasisPoints,
      feeFixedMinor: row.feeFixedMinor,
      minAmountMinor: row.minAmountMinor,
      maxAmountMinor: row.maxAmountMinor,
      connectorName: row.connector,
      connector: connectors[row.connector],
      context: { gatewayId: row.id, baseUrl, credentials, config: row.config, timeoutMs: settings.timeoutMs },
      webhookAllowlist: row.webhookIpAllowlist === null ? null : blockListOf(row.webhookIpAllowlist),
    };
  }

  async function loaded() {
    const now = clock.now().getTime();
    if (cache !== null && now - cache.at < GATEWAY_CACHE_TTL_MS) return cache;
    const [rows, strategy] = await Promise.all([repo.listGateways(db), repo.globalRoutingStrategy(db)]);
    cache = { at: now, gateways: rows.map(live), strategy: strategy ?? 'priority' };
    return cache;
  }

  function forget(): void {
    cache = null;
    merchantCache.clear();
  }

  async function merchantSettings(merchantId: string) {
    const now = clock.now().getTime();
    const cached = merchantCache.get(merchantId);
    if (cached !== undefined && now - cached.at < MERCHANT_SETTINGS_CACHE_TTL_MS) return cached.settings;
    const found = await repo.merchantSettings(db, merchantId);
    if (merchantCache.size >= MERCHANT_SETTINGS_CACHE_SIZE_MAX) merchantCache.clear();
    merchantCache.set(merchantId, { at: now, settings: found });
    return found;
  }

  function view(row: repo.GatewayRow): GatewayView {
    const { credentialsSealed: _sealed, credentialsHint, ...rest } = row;
    return { ...rest, credentialsHint: credentialsHint === null ? null : JSON.parse(credentialsHint) };
  }

  function checked(values: repo.GatewayValues): repo.GatewayValues {
    if (!settings.sandboxAllowed && values.connector === 'sandbox') throw connectorNotAllowed();
    const supported = connectors[values.connector].methods;
    const unsupported = values.methods.filter((method) => !supported.includes(method));
    if (unsupported.length > 0) throw methodsUnsupported(values.connector, unsupported);
    if (
      values.minAmountMinor !== null &&
      values.maxAmountMinor !== null &&
      values.minAmountMinor > values.maxAmountMinor
    ) {
      throw limitsInverted();
    }
    const tolerance = values.config.webhookToleranceSec;
    if (
      tolerance !== undefined &&
      !(
        Number.isInteger(tolerance) &&
        (tolerance as number) >= WEBHOOK_TOLERANCE_SEC_MIN &&
        (tolerance as number) <= WEBHOOK_TOLERANCE_SEC_MAX
      )
    ) {
      throw badRequest(
        `config.webhookToleranceSec must be a whole number of seconds from ${WEBHOOK_TOLERANCE_SEC_MIN} to ${WEBHOOK_TOLERANCE_SEC_MAX}`,
        undefined,
        'VALIDATION_FAILED',
      );
    }
    for (const entry of values.webhookIpAllowlist ?? []) {
      if (!isNetwork(entry))
        throw badRequest(`"${entry}" is not an IP address or CIDR network`, undefined, 'VALIDATION_FAILED');
    }
    return values;
  }

  /** A gateway that takes payments needs every credential its connector uses. */
  function checkCredentials(
    connector: ConnectorName,
    enabled: boolean,
    credentials: Record<string, string> | null,
  ) {
    if (!enabled) return;
    const missing = connectors[connector].credentialKeys.filter((key) => !credentials?.[key]);
    if (missing.length > 0) throw credentialsIncomplete(connector, missing);
  }

  function sealed(credentials: Record<string, string>) {
    return {
      credentialsSealed: encryptSecret(JSON.stringify(credentials), settings.encryptionKey),
      credentialsHint: JSON.stringify(
        Object.fromEntries(Object.entries(credentials).map(([key, value]) => [key, masked(value)])),
      ),
    };
  }

  async function uniqueName<T>(work: () => Promise<T>, name: string): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw gatewayNameTaken(name);
      throw error;
    }
  }

  /** A change to one merchant's payment settings, audited; an unknown merchant is a 404. */
  async function saveMerchantSetting(
    merchantId: string,
    change: Partial<repo.MerchantPaymentSettingsRow>,
    context: RequestContext,
    audited: { action: string; details: Record<string, unknown> },
  ): Promise<repo.MerchantPaymentSettingsRow> {
    try {
      return await db.transaction().execute(async (trx) => {
        const row = await repo.saveMerchantSettings(trx, merchantId, change, clock.now());
        await audit.record(trx, context, { ...audited, targetType: 'merchant', targetId: merchantId });
        return row;
      });
    } catch (error) {
      if ((error as { code?: string }).code === '23503') throw notFound('Merchant', 'MERCHANT_NOT_FOUND');
      throw error;
    } finally {
      forget();
    }
  }

  return {
    async list(): Promise<GatewayView[]> {
      return (await repo.listGateways(db)).map(view);
    },

    async get(id: string): Promise<GatewayView> {
      const row = await repo.findGateway(db, id);
      if (row === undefined) throw gatewayNotFound();
      return view(row);
    },

    async create(
      input: GatewayInput,
      context: RequestContext,
      within?: WithinTransaction<GatewayView>,
    ): Promise<GatewayView> {
      const values = checked({
        name: input.name,
        connector: input.connector,
        ...(input.credentials === undefined
          ? { credentialsSealed: null, credentialsHint: null }
          : sealed(input.credentials)),
        config: input.config ?? {},
        enabled: input.enabled ?? true,
        priority: input.priority ?? 100,
        weight: input.weight ?? 1,
        methods: input.methods ?? [...connectors[input.connector].methods],
        feePercentBasisPoints: input.feePercentBasisPoints ?? 0,
        feeFixedMinor: input.feeFixedMinor ?? 0n,
        minAmountMinor: input.minAmountMinor ?? null,
        maxAmountMinor: input.maxAmountMinor ?? null,
        webhookIpAllowlist: input.webhookIpAllowlist ?? null,
      });
      checkCredentials(input.connector, values.enabled, input.credentials ?? null);
      const row = await uniqueName(
        () =>
          db.transaction().execute(async (trx) => {
            const inserted = await repo.insertGateway(trx, {
              ...values,
              id: uuidv7(),
              createdAt: clock.now(),
            });
            await audit.record(trx, context, {
              action: 'gateway.created',
              targetType: 'gateway',
              targetId: inserted.id,
              details: { name: inserted.name, connector: inserted.connector },
            });
            await within?.(trx, view(inserted));
            return inserted;
          }),
        input.name,
      );
      forget();
      return view(row);
    },

    async update(id: string, change: GatewayChange, context: RequestContext): Promise<GatewayView> {
      const row = await uniqueName(
        () =>
          db.transaction().execute(async (trx) => {
            const current = await repo.findGateway(trx, id);
            if (current === undefined) throw gatewayNotFound();
            const { credentials, ...fields } = change;

            const values = checked({
              ...current,
              ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
              ...(credentials === undefined ? {} : sealed(credentials)),
            } as repo.GatewayValues);
            checkCredentials(
              current.connector,
              values.enabled,
              credentials ?? openCredentials(current.credentialsSealed),
            );
            const updated = await repo.updateGateway(trx, id, values, clock.now());
            if (updated === undefined) throw gatewayNotFound();
            await audit.record(trx, context, {
              action: 'gateway.updated',
              targetType: 'gateway',
              targetId: id,
              details: {
                fields: Object.keys(change).filter((key) => key !== 'credentials'),
                credentialsChanged: credentials !== undefined,
              },
            });
            return updated;
          }),
        change.name ?? '',
      );
      forget();
      return view(row);
    },

    async remove(id: string, context: RequestContext): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const current = await repo.findGateway(trx, id);
        if (current === undefined) throw gatewayNotFound();
        if (!(await repo.deleteUnusedGateway(trx, id))) throw gatewayInUse();
        await audit.record(trx, context, {
          action: 'gateway.deleted',
          targetType: 'gateway',
          targetId: id,
          details: { name: current.name, connector: current.connector },
        });
      });
      forget();
    },

    /** Where the sandbox is allowed, a fresh installation gets one enabled, so payments work at once. */
    async ensureSandbox(): Promise<void> {
      if (!settings.sandboxAllowed || (await repo.countGateways(db)) > 0) return;
      await repo
        .insertGateway(db, {
          id: uuidv7(),
          createdAt: clock.now(),
          name: 'Sandbox',
          connector: 'sandbox',
          credentialsSealed: null,
          credentialsHint: null,
          config: { successRate: 1, latencyMs: 0, failureMode: 'none' },
          enabled: true,
          priority: 100,
          weight: 1,
          methods: [...connectors.sandbox.methods],
          feePercentBasisPoints: 0,
          feeFixedMinor: 0n,
          minAmountMinor: null,
          maxAmountMinor: null,
          webhookIpAllowlist: null,
        })
        .catch((error: unknown) => {
          // Another process made it first.
          if ((error as { code?: string }).code !== '23505') throw error;
        });
      forget();
    },

    async globalStrategy(): Promise<RoutingStrategyName> {
      return (await repo.globalRoutingStrategy(db)) ?? 'priority';
    },

    async setGlobalStrategy(strategy: RoutingStrategyName, context: RequestContext): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await repo.setGlobalRoutingStrategy(trx, strategy, clock.now());
        await audit.record(trx, context, {
          action: 'routing.updated',
          targetType: 'platform',
          details: { strategy },
        });
      });
      forget();
    },

    async setMerchantStrategy(
      merchantId: string,
      strategy: RoutingStrategyName | null,
      context: RequestContext,
    ) {
      return saveMerchantSetting(merchantId, { routingStrategy: strategy }, context, {
        action: 'routing.merchant_updated',
        details: { strategy },
      });
    },

    /** The most one payment of this merchant may be (null: the method's limit only); cached briefly. */
    async merchantPaymentLimit(merchantId: string): Promise<bigint | null> {
      return (await merchantSettings(merchantId))?.paymentMaxAmountMinor ?? null;
    },

    async setMerchantPaymentLimit(
      merchantId: string,
      maxAmountMinor: bigint | null,
      context: RequestContext,
    ) {
      const saved = await saveMerchantSetting(
        merchantId,
        { paymentMaxAmountMinor: maxAmountMinor },
        context,
        {
          action: 'payment_limit.updated',
          details: { maxAmountMinor: maxAmountMinor?.toString() ?? null },
        },
      );
      return saved.paymentMaxAmountMinor;
    },

    async preferences(merchantId: string): Promise<string[] | null> {
      return (await repo.merchantSettings(db, merchantId))?.preferredGatewayIds ?? null;
    },

    /** The merchant's allowed gateways in its order (null: all), within what the admin enabled. */
    async setPreferences(principal: Principal, gatewayIds: string[] | null, context: RequestContext) {
      const merchantId = requireMerchant(principal);
      if (gatewayIds !== null) {
        const enabled = new Set(
          (await loaded()).gateways.filter((gateway) => gateway.enabled).map((g) => g.id),
        );
        const unknown = gatewayIds.filter((id) => !enabled.has(id));
        if (unknown.length > 0) throw unknownPreferredGateways(unknown);
      }
      const saved = await saveMerchantSetting(merchantId, { preferredGatewayIds: gatewayIds }, context, {
        action: 'gateway_preferences.updated',
        details: { gatewayIds },
      });
      return saved.preferredGatewayIds;
    },

    /** The gateways to try, in order: the first is the routing choice, the rest the failover order. */
    async route(merchantId: string, method: PaymentMethodName, amountMinor: bigint): Promise<RouteResult> {
      const [{ gateways, strategy: globalStrategy }, merchant] = await Promise.all([
        loaded(),
        merchantSettings(merchantId),
      ]);
      const preferredGatewayIds = merchant?.preferredGatewayIds ?? null;
      const { eligible, skipped } = eligibleGateways(
        gateways,
        { method, amountMinor, preferredGatewayIds },
        (gatewayId) => circuits.snapshot(gatewayId).state !== 'open',
      );
      if (eligible.length === 0) return { ok: false, skipped };
      const ranked = rankGateways(eligible, {
        strategy: merchant?.routingStrategy ?? globalStrategy,
        amountMinor,
        method,
        random,
        successRate: (gatewayId, routedMethod) => successRates.rate(gatewayId, routedMethod),
        explorationShare: settings.explorationShare,
        preferredGatewayIds,
      });
      return { ok: true, gateways: ranked as LiveGateway[] };
    },

    /** Whether an attempt may go to this gateway now (a half-open circuit lets one trial through). */
    tryAcquire(gatewayId: string): boolean {
      return circuits.tryAcquire(gatewayId);
    },

    /**
     * What an attempt told us about the gateway. A payer's decline is the gateway working: it
     * counts as a success for the circuit, and as a failure for the success rate payments see.
     */
    recordAttempt(
      gatewayId: string,
      method: PaymentMethodName,
      outcome: 'succeeded' | 'declined' | 'gateway_failure',
    ) {
      circuits.record(gatewayId, outcome === 'gateway_failure' ? 'failure' : 'success');
      successRates.record(gatewayId, method, outcome === 'succeeded');
    },

    circuit(gatewayId: string): CircuitSnapshot {
      return circuits.snapshot(gatewayId);
    },

    /** A gateway with its credentials opened, for verifying its webhooks; disabled ones too. */
    async liveGateway(gatewayId: string): Promise<LiveGateway | undefined> {
      return (await loaded()).gateways.find((gateway) => gateway.id === gatewayId);
    },

    async health(windowMs: number) {
      const since = new Date(clock.now().getTime() - windowMs);
      const [rows, figures] = await Promise.all([repo.listGateways(db), repo.attemptFigures(db, since)]);
      const byGateway = new Map(figures.map((figure) => [figure.gatewayId, figure]));
      return rows.map((row) => {
        const figure = byGateway.get(row.id);
        const attempts = figure?.attempts ?? 0;
        const circuit = circuits.snapshot(row.id);
        return {
          gatewayId: row.id,
          name: row.name,
          connector: row.connector,
          enabled: row.enabled,
          volume: attempts,
          succeeded: figure?.succeeded ?? 0,
          failed: figure?.failed ?? 0,
          successRate: attempts === 0 ? null : (figure?.succeeded ?? 0) / attempts,
          p50LatencyMs: figure?.p50LatencyMs ?? null,
          p95LatencyMs: figure?.p95LatencyMs ?? null,
          errors: figure?.errors ?? {},
          circuit: {
            state: circuit.state,
            consecutiveFailures: circuit.consecutiveFailures,
            openedAt: circuit.openedAt,
          },
        };
      });
    },
  };
}

export type GatewayService = ReturnType<typeof createGatewayService>;

function requireMerchant(principal: Principal): string {
  if (principal.merchantId === null)
    throw unprocessable('MERCHANT_REQUIRED', 'Only a merchant has gateway preferences');
  return principal.merchantId;
}

function masked(value: string): string {
  return value.length <= HINT_VISIBLE_CHARACTERS * 2
    ? '****'
    : `****${value.slice(-HINT_VISIBLE_CHARACTERS)}`;
}

function isNetwork(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}
