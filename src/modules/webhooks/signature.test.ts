import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../index.ts';
import { signatureHeader } from './signature.ts';

/**
 * Unit tests of the webhook signature: the header Tijori sends (`t=<unix>,v1=<hex>`) and the
 * check receivers import from the package entry. Every case fixes `nowSec`, except the one that
 * proves the default "now" is the wall clock.
 */

const SECRET = 'whsec_unit_test_secret';
const OTHER_SECRET = 'whsec_another_secret';
const BODY = JSON.stringify({
  id: '0190f5d2-0000-7000-8000-000000000001',
  type: 'payment.succeeded',
  createdAt: '2026-03-10T18:00:00.000Z',
  data: { source: 'qr', amount: 120.5 },
});
const NOW = 1_773_165_600; // 2026-03-10T18:00:00Z

function hmac(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

describe('signatureHeader', () => {
  it('is t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> per secret, in the given order', () => {
    expect(signatureHeader([SECRET], BODY, NOW)).toBe(`t=${NOW},v1=${hmac(SECRET, NOW, BODY)}`);
    expect(signatureHeader([SECRET, OTHER_SECRET], BODY, NOW)).toBe(
      `t=${NOW},v1=${hmac(SECRET, NOW, BODY)},v1=${hmac(OTHER_SECRET, NOW, BODY)}`,
    );
  });
});

describe('verifyWebhookSignature', () => {
  it('accepts a header made by signatureHeader, for the body as a string or as the raw bytes', () => {
    const header = signatureHeader([SECRET], BODY, NOW);
    expect(verifyWebhookSignature(SECRET, header, BODY, 300, NOW)).toBe(true);
    expect(verifyWebhookSignature(SECRET, header, Buffer.from(BODY, 'utf8'), 300, NOW)).toBe(true);
  });

  it('checks the time against the wall clock by default', () => {
    const nowSec = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(SECRET, signatureHeader([SECRET], BODY, nowSec), BODY)).toBe(true);
    // Signed an hour ago: beyond the default tolerance of 300 seconds.
    expect(verifyWebhookSignature(SECRET, signatureHeader([SECRET], BODY, nowSec - 3600), BODY)).toBe(false);
  });

  it('rejects a tampered body: a changed value, re-serialised JSON, an added byte', () => {
    const header = signatureHeader([SECRET], BODY, NOW);
    expect(verifyWebhookSignature(SECRET, header, BODY.replace('120.5', '1205'), 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, JSON.stringify(JSON.parse(BODY), null, 2), 300, NOW)).toBe(
      false,
    );
    expect(verifyWebhookSignature(SECRET, header, `${BODY}\n`, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, header, '', 300, NOW)).toBe(false);
  });

  it('rejects a wrong secret, and an empty one even against a header signed with it', () => {
    const header = signatureHeader([SECRET], BODY, NOW);
    expect(verifyWebhookSignature(OTHER_SECRET, header, BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(`${SECRET}x`, header, BODY, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature('', signatureHeader([''], BODY, NOW), BODY, 300, NOW)).toBe(false);
  });

  it('rejects a timestamp beyond the tolerance, in the past or the future; the bound itself passes', () => {
    for (const [offset, expected] of [
      [-301, false],
      [-300, true],
      [0, true],
      [300, true],
      [301, false],
      [-86_400, false],
      [86_400, false],
    ] as const) {
      const header = signatureHeader([SECRET], BODY, NOW + offset);
      expect(verifyWebhookSignature(SECRET, header, BODY, 300, NOW), `offset ${offset}s`).toBe(expected);
    }
    // A tolerance of its own.
    expect(verifyWebhookSignature(SECRET, signatureHeader([SECRET], BODY, NOW - 11), BODY, 10, NOW)).toBe(
      false,
    );
    expect(verifyWebhookSignature(SECRET, signatureHeader([SECRET], BODY, NOW - 10), BODY, 10, NOW)).toBe(
      true,
    );
  });

  it('rejects a stale header even though its signature is right (a replay)', () => {
    // The signature covers the timestamp: moving t forward to look fresh breaks it.
    const old = signatureHeader([SECRET], BODY, NOW - 3600);
    expect(verifyWebhookSignature(SECRET, old, BODY, 300, NOW)).toBe(false);
    const refreshed = old.replace(`t=${NOW - 3600}`, `t=${NOW}`);
    expect(verifyWebhookSignature(SECRET, refreshed, BODY, 300, NOW)).toBe(false);
  });

  it('rejects a missing or malformed header', () => {
    const signature = hmac(SECRET, NOW, BODY);
    const malformed: (string | undefined)[] = [
      undefined,
      '',
      'garbage',
      `${signature}`,
      `t=${NOW}`,
      `v1=${signature}`,
      `t=${NOW},v1=`,
      `t=,v1=${signature}`,
      `t=soon,v1=${signature}`,
      `t=${NOW}.5,v1=${signature}`,
      `t=-${NOW},v1=${signature}`,
      `t=${NOW},v1=${signature.slice(0, 63)}`,
      `t=${NOW},v1=${signature}0`,
      `t=${NOW},v1=${signature.toUpperCase()}`,
      `t=${NOW},v0=${signature}`,
      `t=${NOW},sha256=${signature}`,
      `t=${NOW};v1=${signature}`,
    ];
    for (const header of malformed) {
      expect(verifyWebhookSignature(SECRET, header, BODY, 300, NOW), String(header)).toBe(false);
    }
    // Not a string at all (a receiver passing what its framework gives for a repeated header).
    expect(
      verifyWebhookSignature(SECRET, [`t=${NOW},v1=${signature}`] as unknown as string, BODY, 300, NOW),
    ).toBe(false);
    // The well-formed one, for contrast, also with spaces after the commas.
    expect(verifyWebhookSignature(SECRET, `t=${NOW},v1=${signature}`, BODY, 300, NOW)).toBe(true);
    expect(verifyWebhookSignature(SECRET, `t=${NOW}, v1=${signature}`, BODY, 300, NOW)).toBe(true);
  });

  it('accepts when any of several v1 signatures matches (a rotated secret overlapping)', () => {
    const both = signatureHeader([SECRET, OTHER_SECRET], BODY, NOW);
    expect(verifyWebhookSignature(SECRET, both, BODY, 300, NOW)).toBe(true);
    expect(verifyWebhookSignature(OTHER_SECRET, both, BODY, 300, NOW)).toBe(true);
    expect(verifyWebhookSignature('whsec_neither', both, BODY, 300, NOW)).toBe(false);
    // The matching one last, after a malformed part and a signature under another secret.
    const mixed = `t=${NOW},v1=zz,v1=${hmac('whsec_neither', NOW, BODY)},v1=${hmac(SECRET, NOW, BODY)}`;
    expect(verifyWebhookSignature(SECRET, mixed, BODY, 300, NOW)).toBe(true);
    // Several signatures do not loosen the other checks.
    expect(verifyWebhookSignature(SECRET, both, `${BODY} `, 300, NOW)).toBe(false);
    expect(verifyWebhookSignature(SECRET, both, BODY, 300, NOW + 301)).toBe(false);
  });
});
