import { readFileSync } from 'node:fs';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { ResolvedConfig } from './config.ts';
import type { DatabaseHandle } from './db/database.ts';
import { registerErrorHandling } from './http/error-handler.ts';
import { AppError, tooManyRequests } from './http/errors.ts';
import { registerGuard } from './http/guard.ts';
import { createIdempotencyStore, registerIdempotency } from './http/idempotency.ts';
import { createMetrics, registerRequestMetrics } from './http/metrics.ts';
import { ErrorEnvelope } from './http/schemas.ts';
import { SECURITY_HEADERS } from './http/security-headers.ts';
import { registerValidation } from './http/validation.ts';
import { startWorkers, type Workers } from './jobs/runner.ts';
import { platformTasks } from './jobs/tasks.ts';
import { type Clock, systemClock } from './lib/clock.ts';
import { uuidv7 } from './lib/ids.ts';
import { createLogger } from './logger.ts';
import { alertRoutes, createAlertService } from './modules/alerts/index.ts';
import { auditRoutes, createAuditService } from './modules/audit/index.ts';
import {
  authRoutes,
  createAccessTokens,
  createAuthService,
  type LoginThrottlePolicy,
} from './modules/auth/index.ts';
import { dispatchPending, startEventDispatcher } from './modules/events/dispatcher.ts';
import { createConnectors, createGatewayService, gatewayRoutes } from './modules/gateways/index.ts';
import {
  createLedgerService,
  createMerchantBalanceService,
  ledgerRoutes,
  merchantBalanceRoutes,
} from './modules/ledger/index.ts';
import { createMerchantService, merchantRoutes } from './modules/merchants/index.ts';
import {
  configuredChannels,
  createNotificationService,
  notificationRoutes,
  notificationTasks,
} from './modules/notifications/index.ts';
import {
  createInboundWebhooks,
  createPaymentAnalytics,
  createPaymentService,
  type PaymentView,
  paymentRoutes,
  paymentTasks,
  presentPayment,
} from './modules/payments/index.ts';
import {
  createQrCodeService,
  createSimulationRunner,
  createSimulationService,
  createTransactionService,
  qrRoutes,
  type Random,
  simulationRoutes,
  transactionRoutes,
} from './modules/qr/index.ts';
import { createQueueService, queueRoutes } from './modules/queues/index.ts';
import { createSystemService, operationsRoutes, systemRoutes } from './modules/system/index.ts';
import {
  createSwapService,
  createWalletService,
  swapRoutes,
  walletAnalyticsRoutes,
  walletRoutes,
} from './modules/wallets/index.ts';
import {
  createWebhookService,
  scheduleDeliveryAttempts,
  webhookRoutes,
  webhookTasks,
} from './modules/webhooks/index.ts';
import { attachRealtime } from './realtime/sockets.ts';

export const API_PREFIX = '/api/v1';
const UNVERSIONED_PREFIX = '/api/';
const OPENAPI_PATH = '/api/openapi.json';
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

export interface AppDeps {
  readonly config: ResolvedConfig;
  readonly database: DatabaseHandle;
  readonly clock?: Clock;
  readonly loginThrottle?: LoginThrottlePolicy;
  /** The process's logger (src/logger.ts); one is made from the configuration when absent. */
  readonly logger?: Logger;
  /** What simulated payments are drawn from; Math.random when absent. */
  readonly random?: Random;
}

export function createServices(deps: AppDeps) {
  const { config, database } = deps;
  const db = database.db;
  const clock = deps.clock ?? systemClock;
  const audit = createAuditService({ db, clock });
  const merchants = createMerchantService({ db, clock, audit });
  const accessTokens = createAccessTokens({ secret: config.jwtSecret, clock });
  const auth = createAuthService({ db, clock, audit, merchants, accessTokens, throttle: deps.loginThrottle });
  const idempotency = createIdempotencyStore({ db, clock });
  const ledger = createLedgerService({ db, clock, audit });
  const merchantBalances = createMerchantBalanceService({
    db,
    ledger,
    upiFeeBasisPoints: config.upiFeeBasisPoints,
  });
  const wallets = createWalletService({
    db,
    clock,
    ledger,
    auth,
    audit,
    currencies: config.currencies,
    vpaHandle: config.walletVpaHandle,
    sandboxDeposits: config.nodeEnv !== 'production',
  });
  const swaps = createSwapService({
    db,
    clock,
    ledger,
    audit,
    currencies: config.currencies,
    configuredRates: config.fxRates,
    spreadBasisPoints: config.fxSpreadBasisPoints,
  });
  const random = deps.random ?? Math.random;
  const simulatorSettings = {
    intervalMs: config.simulationIntervalMs,
    transactionsPerQrMax: config.maxTransactionsPerQr,
    enabled: config.simulatorEnabled,
  };
  const qrCodes = createQrCodeService({
    db,
    clock,
    audit,
    merchants,
    simulationIntervalMs: simulatorSettings.intervalMs,
    simulatorEnabled: config.simulatorEnabled,
    merchantBalances,
  });
  const transactions = createTransactionService({
    db,
    clock,
    audit,
    qrCodes,
    merchantBalances,
    simulatorEnabled: config.simulatorEnabled,
  });
  const simulations = createSimulationService({ db, clock, qrCodes, settings: simulatorSettings });
  // One logger for the services and the workers (pino instances are not free to make).
  const logger = deps.logger ?? createLogger(config);
  const simulationRunner = createSimulationRunner({
    db,
    clock,
    logger,
    transactions,
    settings: simulatorSettings,
    random,
  });
  // The job workers are started by the process that runs them (main.ts, worker.ts, a test); the
  // queue administration works without them.
  const jobWorkers: { current: Workers | null } = { current: null };
  let taskNames: readonly string[] = [];
  const queues = createQueueService({
    db,
    clock,
    audit,
    taskNames: () => taskNames,
    onPausesChanged: () => jobWorkers.current?.refreshPauses(),
  });
  const webhooks = createWebhookService({
    db,
    clock,
    audit,
    logger,
    settings: {
      retryScheduleMs: config.webhookRetryScheduleMs,
      allowPrivate: config.webhookAllowPrivate,
      timeoutMs: config.webhookTimeoutMs,
      disableAfterMs: config.webhookDisableAfterMs,
      secretOverlapMs: config.webhookSecretOverlapMs,
      encryptionKey: config.encryptionKey,
    },
    scheduleAttempts: scheduleDeliveryAttempts,
  });
  const notifications = createNotificationService({
    db,
    clock,
    audit,
    channels: configuredChannels(config),
    logger,
    slackWebhookBaseUrl: config.slackWebhookBaseUrl,
    allowPrivateTargets: config.webhookAllowPrivate,
  });
  const alerts = createAlertService({
    db,
    clock,
    thresholds: { queueBacklogSec: config.alertQueueBacklogSec, databaseSlowMs: config.alertDatabaseSlowMs },
  });
  const gateways = createGatewayService({
    db,
    clock,
    audit,
    connectors: createConnectors(random),
    random,
    settings: {
      encryptionKey: config.encryptionKey,
      sandboxAllowed: config.sandboxGateway,
      timeoutMs: config.gatewayTimeoutMs,
      circuit: {
        consecutiveFailuresMax: config.circuitConsecutiveFailuresMax,
        failureRateMax: config.circuitFailureRatePercent / 100,
        windowAttemptsMin: config.circuitWindowAttemptsMin,
        windowMs: config.circuitWindowMs,
        coolDownMs: config.circuitCoolDownMs,
      },
      successRateWindowMs: config.routingSuccessRateWindowMs,
      explorationShare: config.routingExplorationPercent / 100,
      baseUrls: {
        sandbox: config.publicBaseUrl,
        razorpay: config.razorpayBaseUrl,
        payu: config.payuBaseUrl,
        paytm: config.paytmBaseUrl,
      },
    },
  });
  const payments = createPaymentService({
    db,
    clock,
    gateways,
    merchantBalances,
    alerts,
    settings: {
      attemptsMax: config.paymentAttemptsMax,
      ttlMs: config.paymentTtlMs,
      currencies: config.currencies,
      publicBaseUrl: config.publicBaseUrl,
    },
  });
  const inboundWebhooks = createInboundWebhooks({
    db,
    clock,
    gateways,
    payments,
    toleranceSec: config.gatewayWebhookToleranceSec,
  });
  const paymentJobs = paymentTasks(payments);
  const platform = platformTasks({ db, clock, logger, ledger, queues, idempotency, alerts });
  const webhookJobs = webhookTasks(webhooks, logger);
  const jobs = {
    tasks: [
      ...platform.tasks,
      webhookJobs.deliver,
      webhookJobs.archive,
      notificationTasks(notifications).send,
      paymentJobs.expire,
      paymentJobs.settleRefunds,
    ],
    crontab: [...platform.crontab, { task: webhookJobs.archive, match: '0 2 * * *' }, ...paymentJobs.crontab],
  };
  taskNames = jobs.tasks.map((task) => task.name);
  const system = createSystemService({
    db,
    pool: database.pool,
    poolMax: config.dbPoolMax,
    version: VERSION,
    environment: config.nodeEnv,
    simulator: {
      get initialized() {
        return simulationRunner.initialized;
      },
      activeCount: simulations.activeCount,
    },
  });
  return {
    audit,
    merchants,
    auth,
    idempotency,
    ledger,
    merchantBalances,
    wallets,
    swaps,
    random,
    qrCodes,
    transactions,
    simulations,
    simulationRunner,
    system,
    queues,
    jobs,
    jobWorkers,
    webhooks,
    notifications,
    alerts,
    gateways,
    payments,
    inboundWebhooks,
    logger,
  };
}

export type Services = ReturnType<typeof createServices>;

/**
 * Starts the job workers and the crontab (less the entries CRON_DISABLED names) in this process;
 * `stop()` on the result finishes the jobs in hand.
 */
export async function startJobWorkers(deps: AppDeps, services: Services): Promise<Workers> {
  const { config } = deps;
  const known = new Set(services.jobs.tasks.map((task) => task.name));
  const unknown = config.cronDisabled.filter((name) => !known.has(name));
  if (unknown.length > 0) throw new Error(`CRON_DISABLED names unknown tasks: ${unknown.join(', ')}`);
  const workers = await startWorkers({
    db: deps.database.db,
    pool: deps.database.pool,
    logger: services.logger,
    tasks: services.jobs.tasks,
    crontab: services.jobs.crontab.filter((entry) => !config.cronDisabled.includes(entry.task.name)),
    concurrency: config.workerConcurrency,
    pollIntervalMs: config.workerPollIntervalMs,
  });
  services.jobWorkers.current = workers;
  const dispatcher = startEventDispatcher({
    dispatch: () =>
      dispatchPending(deps.database.db, deps.clock ?? systemClock, [
        services.webhooks.fanOut,
        services.notifications.fromEvents,
      ]),
    intervalMs: config.eventDispatchIntervalMs,
    logger: services.logger,
  });
  return {
    ...workers,
    async stop() {
      services.jobWorkers.current = null;
      await dispatcher.stop();
      await workers.stop();
    },
  };
}

/** The HTTP application. Callers that also use the services directly pass the same instance. */
export async function buildApp(
  deps: AppDeps,
  services: Services = createServices(deps),
): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    // Typed as Fastify's base logger so the instance keeps the FastifyInstance type plugins expect.
    loggerInstance: services.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    requestTimeout: config.requestTimeoutMs,
    trustProxy: config.trustProxy,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : uuidv7();
    },
    // `/api/...` without a version is the current version, so clients written against the
    // documented unversioned paths keep working.
    rewriteUrl: (request) => {
      const url = request.url ?? '/';
      return url.startsWith(UNVERSIONED_PREFIX) &&
        !url.startsWith(`${API_PREFIX}/`) &&
        !url.startsWith(OPENAPI_PATH)
        ? `${API_PREFIX}/${url.slice(UNVERSIONED_PREFIX.length)}`
        : url;
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorEnvelope);
  registerValidation(app);
  // The API speaks JSON only: a text/plain body is refused with 415, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  // On every reply, errors and 404s included.
  app.addHook('onSend', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('x-request-id', request.id);
  });
  registerErrorHandling(app, config.nodeEnv === 'development');
  // The simulator's run in progress commits before the database pool closes.
  app.addHook('onClose', async () => services.simulationRunner.stop());

  await app.register(cors, {
    origin: config.corsOrigins.includes('*') ? true : [...config.corsOrigins],
    credentials: !config.corsOrigins.includes('*'),
    exposedHeaders: ['x-request-id', 'retry-after', 'idempotent-replayed'],
  });
  await app.register(rateLimit, {
    max: config.rateLimitMaxRequests,
    timeWindow: config.rateLimitWindowMs,
    errorResponseBuilder: (_request, context) =>
      tooManyRequests(
        context.ttl / 1000,
        `Rate limit of ${context.max} requests per ${context.after} exceeded`,
      ),
  });
  await app.register(compress, { global: true, threshold: 1024 });
  await registerOpenApi(app);

  const metrics = createMetrics(deps.database.pool, config.dbPoolMax);
  registerRequestMetrics(app, metrics);
  registerGuard(app, {
    verifyAccessToken: services.auth.verifyAccessToken,
    authenticateApiCredentials: services.merchants.authenticateApiCredentials,
  });
  registerIdempotency(app, services.idempotency);
  app.get(OPENAPI_PATH, { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());

  await app.register(operationsRoutes, {
    system: services.system,
    metrics,
    metricsToken: config.metricsToken,
  });
  await app.register(
    async (api) => {
      await api.register(authRoutes, { auth: services.auth });
      await api.register(merchantRoutes, { merchants: services.merchants });
      await api.register(auditRoutes, { audit: services.audit });
      await api.register(systemRoutes, { system: services.system });
      await api.register(qrRoutes, {
        qrCodes: services.qrCodes,
        transactions: services.transactions,
        simulations: services.simulations,
      });
      const scaleOf = (code: string) =>
        config.currencies.find((currency) => currency.code === code)?.scale ?? 2;
      const asTransaction = (view: PaymentView) => ({
        id: view.payment.id,
        createdAt: view.payment.createdAt,
        transaction: presentPayment(view.payment, view.attempts, scaleOf),
      });
      await api.register(transactionRoutes, {
        transactions: services.transactions,
        random: services.random,
        gatewayTransactions: {
          async list(principal, query, limit, offset) {
            const found = await services.payments.listAsTransactions(principal, query, limit, offset);
            return { items: found.views.map(asTransaction), total: found.total };
          },
          async find(principal, id) {
            const view = await services.payments.findAsTransaction(principal, id);
            return view === null ? null : asTransaction(view);
          },
        },
      });
      await api.register(simulationRoutes, { simulations: services.simulations });
      await api.register(ledgerRoutes, { ledger: services.ledger });
      await api.register(queueRoutes, { queues: services.queues });
      await api.register(webhookRoutes, { webhooks: services.webhooks });
      await api.register(notificationRoutes, { notifications: services.notifications });
      await api.register(alertRoutes, { alerts: services.alerts });
      await api.register(gatewayRoutes, { gateways: services.gateways });
      await api.register(paymentRoutes, {
        payments: services.payments,
        inbound: services.inboundWebhooks,
        analytics: createPaymentAnalytics({ db: deps.database.db, clock: deps.clock ?? systemClock }),
        scaleOf,
      });
      await api.register(merchantBalanceRoutes, { merchantBalances: services.merchantBalances });
      await api.register(walletRoutes, { wallets: services.wallets, ledger: services.ledger });
      await api.register(swapRoutes, { swaps: services.swaps });
      await api.register(walletAnalyticsRoutes, {
        db: deps.database.db,
        clock: deps.clock ?? systemClock,
        currencies: config.currencies,
      });
    },
    { prefix: API_PREFIX },
  );

  const realtime = await attachRealtime({
    server: app.server,
    db: deps.database.db,
    pool: deps.database.pool,
    logger: app.log as unknown as Logger,
    authenticators: {
      verifyAccessToken: services.auth.verifyAccessToken,
      authenticateApiCredentials: services.merchants.authenticateApiCredentials,
    },
    findVisibleQrCode: (principal, qrId) =>
      services.qrCodes.loadVisible(deps.database.db, principal, qrId).then(
        (qrCode) => qrCode,
        (error: unknown) => {
          if (error instanceof AppError && error.statusCode === 404) return null;
          throw error;
        },
      ),
    corsOrigins: config.corsOrigins,
  });
  // Sockets go first, so the HTTP server's close is not held open by their connections.
  app.addHook('preClose', async () => {
    await realtime.close();
  });
  return app;
}

async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tijori API',
        version: VERSION,
        description:
          'Self-hostable payments backend. Replies are `{ success, data, message? }`; errors are ' +
          '`{ success: false, error: { code, message, details? }, requestId }`. Money is in rupees at ' +
          'the edge and paise inside. `/api/...` is an alias of `/api/v1/...`.',
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          clientKey: { type: 'apiKey', in: 'header', name: 'X-Client-Key' },
          clientSecret: { type: 'apiKey', in: 'header', name: 'X-Client-Secret' },
        },
      },
      security: [{ bearerAuth: [] }, { clientKey: [], clientSecret: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
