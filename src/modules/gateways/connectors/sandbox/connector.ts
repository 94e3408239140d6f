import { setTimeout as sleep } from 'node:timers/promises';
import { formatMajorUnits } from '../../../../lib/money.ts';
import { signatureHeader, verifyWebhookSignature } from '../../../webhooks/signature.ts';
import type {
  AttemptOutcome,
  ConnectorContext,
  GatewayConnector,
  GatewayEvent,
  InitiateRequest,
  NextAction,
  PaymentMethod,
} from '../connector.ts';

/**
 * A gateway inside the process, for development, demos and benchmarks. Its record's config:
 * `{ successRate (0-1), latencyMs, failureMode: none | error | timeout | decline }`. Each attempt
 * settles within the request after `latencyMs`: it succeeds with probability `successRate` and
 * otherwise fails the `failureMode` way (error and timeout are retryable, a decline is not; `none`
 * fails as the payer declining, the usual real-world failure). It keeps no state: the outcome is
 * written into the reference it returns (`sbx_S_<attempt>` / `sbx_F_<attempt>`), which is what
 * fetchStatus reads back.
 */
export interface SandboxConfig {
  readonly successRate: number;
  readonly latencyMs: number;
  readonly failureMode: 'none' | 'error' | 'timeout' | 'decline';
}

export const SANDBOX_DEFAULT_CONFIG: SandboxConfig = { successRate: 1, latencyMs: 0, failureMode: 'none' };
/** The sandbox's webhooks are signed like Tijori's own (t=..,v1=..), under this header. */
export const SANDBOX_SIGNATURE_HEADER = 'x-sandbox-signature';
const SANDBOX_VPA_HANDLE = 'sandbox';

export function sandboxConfig(config: Readonly<Record<string, unknown>>): SandboxConfig {
  const successRate =
    typeof config.successRate === 'number' ? config.successRate : SANDBOX_DEFAULT_CONFIG.successRate;
  const latencyMs =
    typeof config.latencyMs === 'number' ? config.latencyMs : SANDBOX_DEFAULT_CONFIG.latencyMs;
  const failureMode = ['none', 'error', 'timeout', 'decline'].includes(config.failureMode as string)
    ? (config.failureMode as SandboxConfig['failureMode'])
    : SANDBOX_DEFAULT_CONFIG.failureMode;
  return { successRate, latencyMs, failureMode };
}

function nextActionFor(method: PaymentMethod, request: InitiateRequest): NextAction {
  const link = `upi://pay?pa=tijori@${SANDBOX_VPA_HANDLE}&pn=Tijori%20Sandbox&am=${formatMajorUnits(request.amountMinor)}&cu=${request.currency}&tr=${request.attemptId}`;
  switch (method) {
    case 'upi_intent':
      return { type: 'upi_intent', url: link };
    case 'upi_qr':
      return { type: 'upi_qr', url: link };
    case 'upi_collect':
      return { type: 'upi_collect', vpa: request.customer.vpa ?? `customer@${SANDBOX_VPA_HANDLE}` };
    case 'card':
    case 'netbanking':
      return { type: 'redirect', url: `https://sandbox.tijori.invalid/checkout/${request.attemptId}` };
  }
}

async function settle(
  context: ConnectorContext,
  request: InitiateRequest,
  random: () => number,
): Promise<AttemptOutcome> {
  const config = sandboxConfig(context.config);
  if (config.latencyMs > 0) await sleep(Math.min(config.latencyMs, context.timeoutMs));
  const nextAction = nextActionFor(request.method, request);
  if (random() < config.successRate) {
    return { status: 'succeeded', gatewayReference: `sbx_S_${request.attemptId}`, nextAction };
  }
  switch (config.failureMode) {
    case 'error':
      return {
        status: 'failed',
        errorCode: 'GATEWAY_ERROR',
        errorMessage: 'sandbox: simulated gateway error',
        retryable: true,
      };
    case 'timeout':
      await sleep(Math.max(0, context.timeoutMs - config.latencyMs));
      return {
        status: 'failed',
        errorCode: 'GATEWAY_TIMEOUT',
        errorMessage: `no reply within ${context.timeoutMs} ms`,
        retryable: true,
      };
    case 'decline':
    case 'none':
      return {
        status: 'failed',
        gatewayReference: `sbx_F_${request.attemptId}`,
        errorCode: 'DECLINED',
        errorMessage: 'sandbox: the payer declined',
        retryable: false,
      };
  }
}

/** Reads a sandbox webhook body: `{ id, attemptId, status, amountMinor }`. */
function readEvent(body: unknown): GatewayEvent | null {
  if (typeof body !== 'object' || body === null) return null;
  const { id, attemptId, status, amountMinor } = body as Record<string, unknown>;
  if (typeof id !== 'string' || typeof attemptId !== 'string') return null;
  if (status !== 'succeeded' && status !== 'failed' && status !== 'pending') return null;
  return {
    eventId: id,
    kind: 'payment',
    attemptId,
    gatewayReference: `sbx_${status === 'failed' ? 'F' : 'S'}_${attemptId}`,
    status,
    ...(status === 'failed'
      ? { errorCode: 'DECLINED' as const, errorMessage: 'sandbox: the payer declined' }
      : {}),
    ...(typeof amountMinor === 'string' && /^\d+$/.test(amountMinor)
      ? { amountMinor: BigInt(amountMinor) }
      : {}),
  };
}

function webhookSecret(context: ConnectorContext): string {
  return context.credentials.webhookSecret ?? 'sandbox';
}

/** A webhook as the sandbox would send it, for demos and tests. */
export function sandboxWebhook(
  secret: string,
  event: { id: string; attemptId: string; status: 'succeeded' | 'failed' | 'pending'; amountMinor?: bigint },
  timestampSec = Math.floor(Date.now() / 1000),
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ ...event, amountMinor: event.amountMinor?.toString() });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      [SANDBOX_SIGNATURE_HEADER]: signatureHeader([secret], body, timestampSec),
    },
  };
}

export function createSandboxConnector(random: () => number = Math.random): GatewayConnector {
  return {
    name: 'sandbox',
    methods: ['upi_intent', 'upi_collect', 'upi_qr', 'card', 'netbanking'],
    credentialKeys: [],
    initiate: (context, request) => settle(context, request, random),
    async fetchStatus(_context, request) {
      const reference = request.gatewayReference;
      if (reference?.startsWith('sbx_S_')) return { status: 'succeeded', gatewayReference: reference };
      if (reference?.startsWith('sbx_F_')) {
        return {
          status: 'failed',
          gatewayReference: reference,
          errorCode: 'DECLINED',
          errorMessage: 'sandbox: the payer declined',
        };
      }
      return { status: 'pending' };
    },
    async refund(_context, request) {
      return { status: 'succeeded', gatewayReference: `sbx_R_${request.refundId}` };
    },
    // Its refunds settle in refund() itself, so any it is asked about again are done.
    async fetchRefundStatus(_context, request) {
      return {
        status: 'succeeded',
        gatewayReference: request.refundReference,
        amountMinor: request.amountMinor,
      };
    },
    verifyWebhook(context, webhook, toleranceSec) {
      const header = webhook.headers[SANDBOX_SIGNATURE_HEADER];
      const nowSec = Math.floor(webhook.receivedAt.getTime() / 1000);
      const value = Array.isArray(header) ? header[0] : header;
      if (verifyWebhookSignature(webhookSecret(context), value, webhook.rawBody, toleranceSec, nowSec))
        return { ok: true };
      // Tell a good signature that is too old apart from a bad one.
      const stale = verifyWebhookSignature(
        webhookSecret(context),
        value,
        webhook.rawBody,
        Number.MAX_SAFE_INTEGER,
        nowSec,
      );
      return { ok: false, reason: stale ? 'stale' : 'bad_signature' };
    },
    parseWebhook(_context, webhook) {
      try {
        return readEvent(JSON.parse(webhook.rawBody.toString('utf8')));
      } catch {
        return null;
      }
    },
  };
}
