import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type NodeEnv = 'development' | 'test' | 'production';
const NODE_ENVS: readonly NodeEnv[] = ['development', 'test', 'production'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  /** Unset: an embedded PostgreSQL is started under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly dbPoolMax: number;
  readonly dbStatementTimeoutMs: number;
  /** Undefined until `resolveSecrets` fills it in from the environment or `dataDir`. */
  readonly jwtSecret: string | undefined;
  readonly encryptionKey: string | undefined;
  readonly corsOrigins: readonly string[];
  readonly rateLimitWindowMs: number;
  readonly rateLimitMaxRequests: number;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly adminEmail: string | undefined;
  readonly adminPassword: string | undefined;
  readonly metricsToken: string | undefined;
  readonly trustProxy: boolean;
  /**
   * The payment simulator (background runs and POST /transactions/simulate). Simulated payments
   * are real ledger credits, so it is off by default in production.
   */
  readonly simulatorEnabled: boolean;
  /** WORKERS=off: an API-only process (run `npm run worker` elsewhere). */
  readonly workersEnabled: boolean;
  readonly workerConcurrency: number;
  /** How often workers look for jobs scheduled for later (new jobs arrive by LISTEN/NOTIFY). */
  readonly workerPollIntervalMs: number;
  /** Crontab entries switched off, by task name. */
  readonly cronDisabled: readonly string[];
  /** Waits before each retry of a failed webhook delivery (1m, 5m, 30m, 2h, 6h, 12h). */
  readonly webhookRetryScheduleMs: readonly number[];
  /** Allow webhook URLs on private, loopback or link-local addresses (development and tests). */
  readonly webhookAllowPrivate: boolean;
  readonly webhookTimeoutMs: number;
  /** An endpoint failing every delivery this long is disabled. */
  readonly webhookDisableAfterMs: number;
  /** How long a rotated-out secret keeps signing beside the new one. */
  readonly webhookSecretOverlapMs: number;
  /** How often workers look for committed events to deliver. */
  readonly eventDispatchIntervalMs: number;
  /** An alert is raised when a task's oldest due job has waited longer than this. */
  readonly alertQueueBacklogSec: number;
  /** An alert is raised when `SELECT 1` takes longer than this. */
  readonly alertDatabaseSlowMs: number;
  /** Email notifications over SMTP (`smtp://user:pass@host:587`); unset: no email channel. */
  readonly smtpUrl: string | undefined;
  readonly smtpFrom: string;
  /** SMS and WhatsApp through Twilio's Messages API at this base URL, with these credentials. */
  readonly twilioApiUrl: string;
  readonly twilioAccountSid: string | undefined;
  readonly twilioAuthToken: string | undefined;
  readonly smsFrom: string | undefined;
  readonly whatsappFrom: string | undefined;
  /** A user's Slack incoming-webhook URL must start with this. */
  readonly slackWebhookBaseUrl: string;
  readonly simulationIntervalMs: number;
  readonly maxTransactionsPerQr: number;
  /** Every call to a payment gateway gives up after this long. */
  readonly gatewayTimeoutMs: number;
  /** Gateways one payment may try (the first plus failovers). */
  readonly paymentAttemptsMax: number;
  /** A payment still pending this long after it was made expires. */
  readonly paymentTtlMs: number;
  readonly circuitConsecutiveFailuresMax: number;
  readonly circuitFailureRatePercent: number;
  readonly circuitWindowAttemptsMin: number;
  readonly circuitWindowMs: number;
  readonly circuitCoolDownMs: number;
  /** Share of success-rate routes sent to another gateway first, so a recovered one is noticed. */
  readonly routingExplorationPercent: number;
  readonly routingSuccessRateWindowMs: number;
  /** A signed gateway webhook older (or newer) than this is refused where its scheme is timed. */
  readonly gatewayWebhookToleranceSec: number;
  /**
   * The in-process sandbox gateway: on by default outside production (payments work out of the
   * box), off in production unless asked for (a load test, a staging system).
   */
  readonly sandboxGateway: boolean;
  /** This server's address as gateways reach it (the webhook URL handed to them). */
  readonly publicBaseUrl: string;
  readonly razorpayBaseUrl: string;
  readonly payuBaseUrl: string;
  readonly paytmBaseUrl: string;
  /** Fee on a successful UPI QR payment, in basis points of its amount (100 = 1%). */
  readonly upiFeeBasisPoints: number;
  /** Wallet currencies and their minor-unit scales (INR 2, USDT 6); the first is the default. */
  readonly currencies: readonly { readonly code: string; readonly scale: number }[];
  /** The handle of wallets' deposit VPAs: `<code>@<handle>`. */
  readonly walletVpaHandle: string;
  /** Starting exchange rates (`USD/INR=83.25`); admins change them at /admin/fx-rates. */
  readonly fxRates: readonly { readonly base: string; readonly quote: string; readonly rate: string }[];
  /** What a currency swap keeps, in basis points of the converted amount, booked to fees revenue. */
  readonly fxSpreadBasisPoints: number;
}

/** A configuration whose secrets are known: what the running application is built with. */
const DEFAULT_WEBHOOK_RETRY_SCHEDULE = ['1m', '5m', '30m', '2h', '6h', '12h'];
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1m,5m,30m` (units ms, s, m, h, d) as milliseconds; a problem is reported for a bad item. */
function parseDurations(name: string, items: readonly string[], problems: string[]): number[] {
  const parsed: number[] = [];
  for (const item of items) {
    const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(item);
    const unit = match?.[2] === undefined ? undefined : DURATION_UNITS_MS[match[2]];
    if (match === null || unit === undefined) {
      problems.push(`${name}: "${item}" is not a duration like 30s, 5m or 2h`);
      continue;
    }
    parsed.push(Number(match[1]) * unit);
  }
  return parsed;
}

export type ResolvedConfig = Config & { readonly jwtSecret: string; readonly encryptionKey: string };

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads `.env` into the environment when present; variables already set win. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}

const JWT_SECRET_LENGTH_MIN = 32;
const ENCRYPTION_KEY_PATTERN = /^[0-9a-fA-F]{64}$/;
const DEVELOPMENT_CORS_ORIGINS = ['http://localhost:3000', 'http://localhost:5173'];
const DEFAULT_CURRENCIES = ['INR:2', 'USD:2', 'USDT:6'];
const CURRENCY_PATTERN = /^([A-Z0-9]{2,10}):([0-8])$/;

const DEFAULT_FX_RATES = ['USD/INR=83.25', 'USDT/INR=83.10', 'USDT/USD=0.9995'];
const FX_RATE_PATTERN = /^([A-Z0-9]{2,10})\/([A-Z0-9]{2,10})=(\d{1,18}(?:\.\d{1,12})?)$/;

/** `USD/INR=83.25,...`: units of the second currency per one of the first. */
function parseFxRates(items: readonly string[], problems: string[]) {
  const rates = items.map((item) => FX_RATE_PATTERN.exec(item));
  if (rates.some((match) => match === null || Number(match[3]) <= 0)) {
    problems.push(
      `FX_RATES: expected BASE/QUOTE=RATE items such as USD/INR=83.25, got ${JSON.stringify(items.join(','))}`,
    );
    return [];
  }
  return rates.map((match) => ({ base: match?.[1] ?? '', quote: match?.[2] ?? '', rate: match?.[3] ?? '' }));
}

/** `INR:2,USD:2,USDT:6`: codes with their minor-unit scales, the first being the default. */
function parseCurrencies(items: readonly string[], problems: string[]) {
  const currencies = items.map((item) => CURRENCY_PATTERN.exec(item));
  if (currencies.length === 0 || currencies.some((match) => match === null)) {
    problems.push(
      `CURRENCIES: expected CODE:SCALE items such as INR:2,USDT:6, got ${JSON.stringify(items.join(','))}`,
    );
    return DEFAULT_CURRENCIES.map((item) => {
      const [code = '', scale = '2'] = item.split(':');
      return { code, scale: Number(scale) };
    });
  }
  return currencies.map((match) => ({ code: match?.[1] ?? '', scale: Number(match?.[2]) }));
}

/**
 * Parses the environment once into a frozen, typed configuration. Every bad variable is
 * collected, so an operator fixes them all in one go rather than one restart at a time.
 */
export function parseConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const reader = createReader(env, problems);

  const nodeEnv = reader.oneOf('NODE_ENV', NODE_ENVS, 'development');
  const isProduction = nodeEnv === 'production';
  const config: Config = {
    nodeEnv,
    port: reader.integer('PORT', 5000, { min: 0, max: 65535 }),
    host: reader.string('HOST', '0.0.0.0'),
    logLevel: reader.oneOf('LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'silent' : 'info'),
    databaseUrl: reader.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: path.resolve(reader.string('DATA_DIR', './.data')),
    dbPoolMax: reader.integer('DB_POOL_MAX', 10, { min: 1, max: 500 }),
    dbStatementTimeoutMs: reader.integer('DB_STATEMENT_TIMEOUT_MS', 15_000, { min: 100, max: 3_600_000 }),
    jwtSecret: reader.secret('JWT_SECRET', isProduction, (value) =>
      value.length >= JWT_SECRET_LENGTH_MIN ? null : `at least ${JWT_SECRET_LENGTH_MIN} characters`,
    ),
    encryptionKey: reader.secret('ENCRYPTION_KEY', isProduction, (value) =>
      ENCRYPTION_KEY_PATTERN.test(value) ? null : '64 hex characters (32 bytes)',
    ),
    corsOrigins: reader.list('CORS_ORIGINS', nodeEnv === 'development' ? DEVELOPMENT_CORS_ORIGINS : []),
    rateLimitWindowMs: reader.integer('RATE_LIMIT_WINDOW_MS', 60_000, { min: 1000, max: 86_400_000 }),
    rateLimitMaxRequests: reader.integer('RATE_LIMIT_MAX_REQUESTS', 600, { min: 1, max: 10_000_000 }),
    bodyLimitBytes: reader.integer('BODY_LIMIT_BYTES', 1_048_576, { min: 1024, max: 104_857_600 }),
    requestTimeoutMs: reader.integer('REQUEST_TIMEOUT_MS', 30_000, { min: 1000, max: 600_000 }),
    shutdownTimeoutMs: reader.integer('SHUTDOWN_TIMEOUT_MS', 15_000, { min: 100, max: 600_000 }),
    adminEmail: reader.optional('ADMIN_EMAIL', (value) =>
      /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value) ? null : 'an email address',
    ),
    adminPassword: reader.optional(
      'ADMIN_PASSWORD',
      (value) => (value.length >= 8 ? null : 'at least 8 characters'),
      { secret: true },
    ),
    metricsToken: reader.optional(
      'METRICS_TOKEN',
      (value) => (value.length >= 16 ? null : 'at least 16 characters'),
      { secret: true },
    ),
    trustProxy: reader.boolean('TRUST_PROXY', false),
    simulatorEnabled: reader.boolean('SIMULATOR_ENABLED', !isProduction),
    workersEnabled: reader.oneOf('WORKERS', ['on', 'off'] as const, 'on') === 'on',
    workerConcurrency: reader.integer('WORKER_CONCURRENCY', 4, { min: 1, max: 100 }),
    workerPollIntervalMs: reader.integer('WORKER_POLL_INTERVAL_MS', 1_000, { min: 50, max: 60_000 }),
    cronDisabled: reader.list('CRON_DISABLED', []),
    webhookRetryScheduleMs: parseDurations(
      'WEBHOOK_RETRY_SCHEDULE',
      reader.list('WEBHOOK_RETRY_SCHEDULE', DEFAULT_WEBHOOK_RETRY_SCHEDULE),
      problems,
    ),
    webhookAllowPrivate: reader.boolean('WEBHOOK_ALLOW_PRIVATE', !isProduction),
    webhookTimeoutMs: reader.integer('WEBHOOK_TIMEOUT_MS', 10_000, { min: 100, max: 60_000 }),
    webhookDisableAfterMs: reader.integer('WEBHOOK_DISABLE_AFTER_MS', 86_400_000, {
      min: 1_000,
      max: 2_592_000_000,
    }),
    webhookSecretOverlapMs: reader.integer('WEBHOOK_SECRET_OVERLAP_MS', 86_400_000, {
      min: 0,
      max: 2_592_000_000,
    }),
    eventDispatchIntervalMs: reader.integer('EVENT_DISPATCH_INTERVAL_MS', 200, { min: 10, max: 60_000 }),
    alertQueueBacklogSec: reader.integer('ALERT_QUEUE_BACKLOG_SEC', 300, { min: 1, max: 86_400 }),
    alertDatabaseSlowMs: reader.integer('ALERT_DATABASE_SLOW_MS', 500, { min: 1, max: 60_000 }),
    smtpUrl: reader.url('SMTP_URL', ['smtp:', 'smtps:']),
    smtpFrom: reader.string('SMTP_FROM', 'Tijori <no-reply@tijori.local>'),
    twilioApiUrl: reader.url('TWILIO_API_URL', ['https:', 'http:']) ?? 'https://api.twilio.com',
    twilioAccountSid: reader.optional('TWILIO_ACCOUNT_SID', (value) =>
      /^[A-Za-z0-9]{8,64}$/.test(value) ? null : 'letters and digits',
    ),
    twilioAuthToken: reader.optional('TWILIO_AUTH_TOKEN', () => null, { secret: true }),
    smsFrom: reader.optional('SMS_FROM', (value) =>
      /^\+[1-9]\d{6,14}$/.test(value) ? null : 'an E.164 number',
    ),
    whatsappFrom: reader.optional('WHATSAPP_FROM', (value) =>
      /^\+[1-9]\d{6,14}$/.test(value) ? null : 'an E.164 number',
    ),
    slackWebhookBaseUrl:
      reader.url('SLACK_WEBHOOK_BASE_URL', ['https:', 'http:']) ?? 'https://hooks.slack.com/',
    simulationIntervalMs: reader.integer('SIMULATION_INTERVAL_MS', 5_000, { min: 10, max: 3_600_000 }),
    maxTransactionsPerQr: reader.integer('MAX_TRANSACTIONS_PER_QR', 100, { min: 1, max: 1_000_000 }),
    upiFeeBasisPoints: reader.integer('UPI_FEE_BASIS_POINTS', 0, { min: 0, max: 10_000 }),
    gatewayTimeoutMs: reader.integer('GATEWAY_TIMEOUT_MS', 10_000, { min: 50, max: 120_000 }),
    paymentAttemptsMax: reader.integer('PAYMENT_ATTEMPTS_MAX', 3, { min: 1, max: 10 }),
    paymentTtlMs: reader.integer('PAYMENT_TTL_MINUTES', 15, { min: 1, max: 10_080 }) * 60_000,
    circuitConsecutiveFailuresMax: reader.integer('CIRCUIT_CONSECUTIVE_FAILURES', 5, { min: 1, max: 1_000 }),
    circuitFailureRatePercent: reader.integer('CIRCUIT_FAILURE_RATE_PERCENT', 50, { min: 1, max: 100 }),
    circuitWindowAttemptsMin: reader.integer('CIRCUIT_WINDOW_ATTEMPTS_MIN', 20, { min: 1, max: 100_000 }),
    circuitWindowMs: reader.integer('CIRCUIT_WINDOW_MS', 60_000, { min: 1_000, max: 3_600_000 }),
    circuitCoolDownMs: reader.integer('CIRCUIT_COOL_DOWN_MS', 30_000, { min: 100, max: 3_600_000 }),
    routingExplorationPercent: reader.integer('ROUTING_EXPLORATION_PERCENT', 5, { min: 0, max: 50 }),
    routingSuccessRateWindowMs: reader.integer('ROUTING_SUCCESS_RATE_WINDOW_MS', 900_000, {
      min: 10_000,
      max: 86_400_000,
    }),
    gatewayWebhookToleranceSec: reader.integer('GATEWAY_WEBHOOK_TOLERANCE_SEC', 300, {
      min: 10,
      max: 86_400,
    }),
    sandboxGateway:
      reader.oneOf('SANDBOX_GATEWAY', ['on', 'off'] as const, isProduction ? 'off' : 'on') === 'on',
    publicBaseUrl: (reader.url('PUBLIC_BASE_URL', ['https:', 'http:']) ?? '').replace(/\/+$/, ''),
    razorpayBaseUrl: reader.url('RAZORPAY_BASE_URL', ['https:', 'http:']) ?? 'https://api.razorpay.com',
    payuBaseUrl: reader.url('PAYU_BASE_URL', ['https:', 'http:']) ?? 'https://secure.payu.in',
    paytmBaseUrl: reader.url('PAYTM_BASE_URL', ['https:', 'http:']) ?? 'https://securegw.paytm.in',
    currencies: parseCurrencies(reader.list('CURRENCIES', DEFAULT_CURRENCIES), problems),
    walletVpaHandle: reader.string('WALLET_VPA_HANDLE', 'tijori'),
    fxRates: parseFxRates(reader.list('FX_RATES', DEFAULT_FX_RATES), problems),
    fxSpreadBasisPoints: reader.integer('FX_SPREAD_BASIS_POINTS', 50, { min: 0, max: 5_000 }),
  };
  if (config.publicBaseUrl === '') {
    Object.assign(config, { publicBaseUrl: `http://localhost:${config.port}` });
  }
  if ((config.adminEmail === undefined) !== (config.adminPassword === undefined)) {
    problems.push('ADMIN_EMAIL and ADMIN_PASSWORD: set both or neither');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

function createReader(env: Env, problems: string[]) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  /** `shown`: what to echo of the bad value; null for a secret, which never reaches a log. */
  const fail = <T>(
    name: string,
    expected: string,
    fallback: T,
    shown: string | null = env[name] ?? '',
  ): T => {
    problems.push(`${name}: expected ${expected}${shown === null ? '' : `, got ${JSON.stringify(shown)}`}`);
    return fallback;
  };
  return {
    string: (name: string, fallback: string) => raw(name) ?? fallback,
    integer(name: string, fallback: number, range: { min: number; max: number }): number {
      const value = raw(name);
      if (value === undefined) return fallback;
      const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(parsed) || parsed < range.min || parsed > range.max) {
        return fail(name, `an integer from ${range.min} to ${range.max}`, fallback);
      }
      return parsed;
    },
    boolean(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      return fail(name, 'true or false', fallback);
    },
    oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
      const value = raw(name);
      if (value === undefined) return fallback;
      return (allowed as readonly string[]).includes(value)
        ? (value as T)
        : fail(name, `one of ${allowed.join(', ')}`, fallback);
    },
    url(name: string, protocols: readonly string[]): string | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      // Only the scheme is echoed: the rest of a connection string may hold a password.
      let shown: string | null = null;
      try {
        const url = new URL(value);
        if (protocols.includes(url.protocol)) return value;
        shown = url.protocol;
      } catch {
        // reported below
      }
      return fail(
        name,
        `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
        undefined,
        shown,
      );
    },
    list: (name: string, fallback: readonly string[]) =>
      raw(name)
        ?.split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '') ?? fallback,
    optional(
      name: string,
      check: (value: string) => string | null,
      { secret = false }: { secret?: boolean } = {},
    ): string | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      const expected = check(value);
      return expected === null ? value : fail(name, expected, undefined, secret ? null : value);
    },
    secret(name: string, required: boolean, check: (value: string) => string | null): string | undefined {
      if (required && raw(name) === undefined) problems.push(`${name}: required when NODE_ENV=production`);
      return this.optional(name, check, { secret: true });
    },
  };
}

/**
 * What the server and every script start with: `.env`, the environment, generated development
 * secrets. A bad configuration ends the process with one line on stderr and exit code 78 (EX_CONFIG).
 */
export function loadConfigOrExit(): ResolvedConfig {
  loadDotEnv();
  try {
    return resolveSecrets(parseConfig());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`Invalid configuration: ${error.problems.join('; ')}\n`);
    process.exit(78);
  }
}

const SECRETS_FILE = 'secrets.json';

/**
 * Outside production a missing JWT_SECRET or ENCRYPTION_KEY is generated once and kept in
 * DATA_DIR, so tokens and encrypted values survive a restart of a development server.
 */
export function resolveSecrets(config: Config): ResolvedConfig {
  if (config.jwtSecret !== undefined && config.encryptionKey !== undefined) {
    return config as ResolvedConfig;
  }
  const file = path.join(config.dataDir, SECRETS_FILE);
  let stored: { jwtSecret?: string; encryptionKey?: string } = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8'));
  const secrets = {
    jwtSecret: stored.jwtSecret ?? randomBytes(48).toString('base64url'),
    encryptionKey: stored.encryptionKey ?? randomBytes(32).toString('hex'),
  };
  if (stored.jwtSecret === undefined || stored.encryptionKey === undefined) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  }
  return Object.freeze({
    ...config,
    jwtSecret: config.jwtSecret ?? secrets.jwtSecret,
    encryptionKey: config.encryptionKey ?? secrets.encryptionKey,
  });
}
