import { webcrypto } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { ROLES, type Role } from '../../db/types.ts';
import { unauthorized } from '../../http/errors.ts';
import type { Principal } from '../../http/principal.ts';
import type { Clock } from '../../lib/clock.ts';
import { randomToken, sha256Hex } from '../../lib/crypto.ts';

export const ACCESS_TOKEN_TTL_SEC = 15 * 60;
export const REFRESH_TOKEN_TTL_MS = 30 * 86_400_000;
const ISSUER = 'tijori';
const AUDIENCE = 'tijori-api';
const REFRESH_TOKEN_PREFIX = 'rt_';

export interface AccessTokenSubject {
  readonly userId: string;
  readonly role: Role;
  readonly merchantId: string | null;
}

/** Verified tokens remembered (oldest dropped first): a few MB at most. */
const VERIFIED_CACHE_MAX = 10_000;

export function createAccessTokens(deps: { secret: string; clock: Clock }) {
  // Imported once: given raw bytes, jose imports a fresh CryptoKey on every sign and verify,
  // which was the largest cost of an authenticated request.
  const key = webcrypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(deps.secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  );
  // A client sends the same token on every call for 15 minutes: its signature is checked once.
  // Keyed by the whole token, signature included, so only a token that verified can match.
  const verified = new Map<string, { principal: Principal; expiresAtSec: number }>();
  return {
    async sign(subject: AccessTokenSubject): Promise<string> {
      const issuedAtSec = Math.floor(deps.clock.now().getTime() / 1000);
      return new SignJWT({ role: subject.role, mid: subject.merchantId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(subject.userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(issuedAtSec)
        .setExpirationTime(issuedAtSec + ACCESS_TOKEN_TTL_SEC)
        .sign(await key);
    },

    async verify(token: string): Promise<Principal> {
      const nowSec = deps.clock.now().getTime() / 1000;
      const known = verified.get(token);
      if (known !== undefined && known.expiresAtSec > nowSec) return known.principal;
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: deps.clock.now(),
        });
        const role = payload.role as Role;
        if (typeof payload.sub !== 'string' || !ROLES.includes(role))
          throw unauthorized('Malformed access token', 'INVALID_TOKEN');
        const merchantId = typeof payload.mid === 'string' ? payload.mid : null;
        const principal: Principal = Object.freeze({ userId: payload.sub, role, merchantId, via: 'jwt' });
        if (typeof payload.exp === 'number') {
          if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value as string);
          verified.set(token, { principal, expiresAtSec: payload.exp });
        }
        return principal;
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired)
          throw unauthorized('Access token has expired', 'TOKEN_EXPIRED');
        throw unauthorized('Access token is not valid', 'INVALID_TOKEN');
      }
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;

/** An opaque refresh token; only its SHA-256 is stored. */
export function newRefreshToken(): { token: string; tokenHash: string } {
  const token = `${REFRESH_TOKEN_PREFIX}${randomToken(32)}`;
  return { token, tokenHash: sha256Hex(token) };
}

export function refreshTokenHash(token: string): string {
  return sha256Hex(token);
}
