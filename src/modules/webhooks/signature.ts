import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `Tijori-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with one `v1` per
 * secret that signs (two while a rotated secret overlaps with its successor).
 */
export function signatureHeader(secrets: readonly string[], rawBody: string, timestampSec: number): string {
  const signed = `${timestampSec}.${rawBody}`;
  const signatures = secrets.map(
    (secret) => `v1=${createHmac('sha256', secret).update(signed).digest('hex')}`,
  );
  return [`t=${timestampSec}`, ...signatures].join(',');
}

/**
 * For receivers of Tijori's webhooks: true when `header` (the `Tijori-Signature` value) carries
 * a valid signature of exactly `rawBody` (the bytes received, before any JSON parsing) under
 * `secret`, made within `toleranceSec` of now. A replayed old request fails the time check; a
 * changed body or another secret fails the signature.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  rawBody: string | Buffer,
  toleranceSec = 300,
  nowSec = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== 'string' || secret === '') return false;
  let timestamp: number | null = null;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 0) continue;
    const name = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (name === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    if (name === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === null || candidates.length === 0) return false;
  if (Math.abs(nowSec - timestamp) > toleranceSec) return false;
  const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  return candidates.some((candidate) => timingSafeEqual(candidate, expected));
}
