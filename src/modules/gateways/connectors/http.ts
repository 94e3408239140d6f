import type { AttemptErrorCode, RefundStatusOutcome } from './connector.ts';

/** A gateway's answer, or why there was none. Never throws for the network or the gateway. */
export type GatewayReply =
  | { readonly ok: true; readonly status: number; readonly body: string }
  | {
      readonly ok: false;
      readonly errorCode: AttemptErrorCode;
      readonly errorMessage: string;
      readonly status?: number;
    };

export interface GatewayCall {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
}

/** Gateway replies are small; a longer one is cut off rather than buffered without limit. */
const REPLY_BYTES_MAX = 1024 * 1024;

/**
 * One call to a gateway. A 2xx or 4xx reply comes back as `ok` with its body, for the connector to
 * read the gateway's own error format; what says nothing about the payment itself becomes a
 * retryable code: a timeout (`GATEWAY_TIMEOUT`), no connection, a 5xx or a 429
 * (`GATEWAY_UNAVAILABLE`), our credentials refused (`AUTHENTICATION_FAILED`).
 */
export async function callGateway(call: GatewayCall): Promise<GatewayReply> {
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: call.method ?? 'POST',
      headers: call.headers,
      body: call.body,
      signal: AbortSignal.timeout(call.timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return {
        ok: false,
        errorCode: 'GATEWAY_TIMEOUT',
        errorMessage: `no reply within ${call.timeoutMs} ms`,
      };
    }
    return {
      ok: false,
      errorCode: 'GATEWAY_UNAVAILABLE',
      errorMessage: `could not reach the gateway: ${describe(error)}`,
    };
  }
  let body: string;
  try {
    body = await readLimited(response);
  } catch (error) {
    const name = (error as { name?: string }).name;
    const errorCode =
      name === 'TimeoutError' || name === 'AbortError' ? 'GATEWAY_TIMEOUT' : 'GATEWAY_UNAVAILABLE';
    return {
      ok: false,
      errorCode,
      errorMessage: `reply cut short: ${describe(error)}`,
      status: response.status,
    };
  }
  if (response.status === 401 || response.status === 403) {
    return {
      ok: false,
      errorCode: 'AUTHENTICATION_FAILED',
      errorMessage: `credentials refused (HTTP ${response.status})`,
      status: response.status,
    };
  }
  if (response.status >= 500 || response.status === 429) {
    return {
      ok: false,
      errorCode: 'GATEWAY_UNAVAILABLE',
      errorMessage: `HTTP ${response.status}`,
      status: response.status,
    };
  }
  return { ok: true, status: response.status, body };
}

async function readLimited(response: Response): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += chunk.byteLength;
    if (bytes > REPLY_BYTES_MAX) throw new Error(`reply over ${REPLY_BYTES_MAX} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/** Whether another gateway may be tried after this code. */
export function isRetryable(errorCode: AttemptErrorCode): boolean {
  return (
    errorCode === 'GATEWAY_TIMEOUT' ||
    errorCode === 'GATEWAY_UNAVAILABLE' ||
    errorCode === 'GATEWAY_ERROR' ||
    errorCode === 'AUTHENTICATION_FAILED'
  );
}

/** Parses a gateway's JSON reply; null when it is not JSON (the connector reports GATEWAY_ERROR). */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return null;
  }
}

/**
 * The gateway said nothing about a refund (unreachable, refused our credentials, unreadable, or
 * does not know the id): it stays pending, with why, and no money moves on it.
 */
export function refundUnanswered(
  gatewayReference: string,
  errorCode: AttemptErrorCode,
  errorMessage: string,
): RefundStatusOutcome {
  return { status: 'pending', gatewayReference, unanswered: { errorCode, errorMessage } };
}
