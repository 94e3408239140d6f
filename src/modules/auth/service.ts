import type { Db, Executor } from '../../db/database.ts';
import type { Role } from '../../db/types.ts';
import {
  type AppError,
  conflict,
  forbidden,
  notFound,
  tooManyRequests,
  unauthorized,
  unprocessable,
} from '../../http/errors.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import { type RequestContext, systemContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import type { ApiCredentials, MerchantService } from '../merchants/index.ts';
import { hashPassword, verifyDecoy, verifyPassword } from './passwords.ts';
import * as repo from './repo.ts';
import { type AccessTokens, newRefreshToken, REFRESH_TOKEN_TTL_MS, refreshTokenHash } from './tokens.ts';

export interface LoginThrottlePolicy {
  /** Failures counted within this window... */
  readonly windowMs: number;
  /** ...lock an account after this many... */
  readonly accountFailuresMax: number;
  /** ...or an address after this many (an address may serve many people behind one NAT)... */
  readonly addressFailuresMax: number;
  /** ...for this long. */
  readonly lockoutMs: number;
  /** Each failure after the first two slows the reply by this much more. */
  readonly delayStepMs: number;
  readonly delayMaxMs: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = {
  windowMs: 15 * 60_000,
  accountFailuresMax: 10,
  addressFailuresMax: 50,
  lockoutMs: 15 * 60_000,
  delayStepMs: 250,
  delayMaxMs: 2_000,
};

const FAILURES_BEFORE_DELAY = 2;
const SELF_REGISTRATION_ROLES: readonly Role[] = ['user', 'merchant', 'vendor'];

export type PublicUser = repo.UserRow & { merchantId: string | null };

export interface Session {
  readonly user: PublicUser;
  readonly accessToken: string;
  readonly refreshToken: string;
}

export interface RegisterInput {
  readonly name: string;
  readonly email: string;
  readonly password: string;
  readonly role?: Role;
  readonly businessName?: string;
  readonly phone?: string;
}

interface AuthDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditService;
  readonly merchants: MerchantService;
  readonly accessTokens: AccessTokens;
  readonly throttle?: LoginThrottlePolicy;
}

export function createAuthService(deps: AuthDeps) {
  const { db, clock, audit, merchants, accessTokens } = deps;
  const throttle = deps.throttle ?? DEFAULT_LOGIN_THROTTLE;

  async function startSession(
    trx: Executor,
    user: PublicUser,
    familyId: string = uuidv7(),
  ): Promise<Session> {
    const now = clock.now();
    const refresh = newRefreshToken();
    await repo.insertRefreshToken(trx, {
      id: uuidv7(now.getTime()),
      familyId,
      userId: user.id,
      tokenHash: refresh.tokenHash,
      expiresAt: new Date(now.getTime() + REFRESH_TOKEN_TTL_MS),
      createdAt: now,
    });
    const accessToken = await accessTokens.sign({
      userId: user.id,
      role: user.role,
      merchantId: user.merchantId,
    });
    return { user, accessToken, refreshToken: refresh.token };
  }

  async function withMerchantId(executor: Executor, user: repo.UserRow): Promise<PublicUser> {
    const merchantId = user.role === 'merchant' ? await merchants.merchantIdForUser(executor, user.id) : null;
    return { ...user, merchantId };
  }

  async function refuseWhileLocked(email: string, ip: string | null): Promise<void> {
    const rows = await repo.findThrottles(db, throttleKeys(email, ip));
    const now = clock.now().getTime();
    const lockedUntil = Math.max(0, ...rows.map((row) => row.lockedUntil?.getTime() ?? 0));
    if (lockedUntil > now) {
      throw tooManyRequests(
        (lockedUntil - now) / 1000,
        'Too many failed sign-in attempts; try again later',
        'TOO_MANY_LOGIN_ATTEMPTS',
      );
    }
  }

  /** Counts a failed login; answers whether its account or address was already past its limit. */
  async function recordFailedLogin(
    email: string,
    reason: string,
    userId: string | null,
    context: RequestContext,
  ): Promise<boolean> {
    const now = clock.now();
    const [account, address] = await db.transaction().execute(async (trx) => {
      const [accountRow, addressRow] = await Promise.all(
        throttleKeys(email, context.ip).map((key) =>
          repo.recordFailure(trx, key, now, {
            windowMs: throttle.windowMs,
            lockoutMs: throttle.lockoutMs,
            maxFailures: key.startsWith('ip:') ? throttle.addressFailuresMax : throttle.accountFailuresMax,
          }),
        ),
      );
      await audit.record(trx, context, {
        action: 'auth.login_failed',
        targetType: 'user',
        ...(userId === null ? {} : { targetId: userId }),
        details: { email, reason, failures: accountRow?.failureCount },
      });
      return [accountRow, addressRow];
    });
    const failures = account?.failureCount ?? 1;
    const delayMs = Math.min(
      throttle.delayMaxMs,
      Math.max(0, failures - FAILURES_BEFORE_DELAY) * throttle.delayStepMs,
    );
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return (
      failures > throttle.accountFailuresMax || (address?.failureCount ?? 0) > throttle.addressFailuresMax
    );
  }

  return {
    async register(
      input: RegisterInput,
      context: RequestContext,
    ): Promise<Session & { credentials?: ApiCredentials }> {
      const role = input.role ?? 'user';
      if (!SELF_REGISTRATION_ROLES.includes(role)) {
        throw forbidden(`Self-registration as ${role} is not allowed`, 'ROLE_NOT_ALLOWED');
      }
      const email = normalizeEmail(input.email);
      const passwordHash = await hashPassword(input.password);
      try {
        return await db.transaction().execute(async (trx) => {
          const now = clock.now();
          const user = await repo.insertUser(trx, {
            id: uuidv7(now.getTime()),
            name: input.name,
            email,
            passwordHash,
            role,
            createdAt: now,
            updatedAt: now,
          });
          const created =
            role === 'merchant'
              ? await merchants.createForUser(trx, {
                  userId: user.id,
                  businessName: input.businessName ?? input.name,
                  contactEmail: email,
                  contactPhone: input.phone ?? null,
                })
              : undefined;
          await audit.record(trx, context, {
            action: 'auth.registered',
            actor: { id: user.id, role },
            targetType: 'user',
            targetId: user.id,
            details: { role, ...(created === undefined ? {} : { merchantId: created.merchant.id }) },
          });
          const session = await startSession(trx, { ...user, merchantId: created?.merchant.id ?? null });
          return created === undefined ? session : { ...session, credentials: created.credentials };
        });
      } catch (error) {
        if (isUniqueViolation(error))
          throw conflict('EMAIL_TAKEN', 'An account with this email already exists');
        throw error;
      }
    },

    async login(input: { email: string; password: string }, context: RequestContext): Promise<Session> {
      const email = normalizeEmail(input.email);
      await refuseWhileLocked(email, context.ip);
      const user = await repo.findUserForLogin(db, email);
      const passwordMatches =
        user === undefined
          ? await verifyDecoy(input.password)
          : await verifyPassword(user.passwordHash, input.password);
      if (user === undefined || !passwordMatches) {
        const pastLimit = await recordFailedLogin(
          email,
          user === undefined ? 'unknown_email' : 'wrong_password',
          user?.id ?? null,
          context,
        );
        // Parallel guesses all pass the check above before any of them is counted. Those counted
        // past the limit answer as locked, so a burst gets no more verdicts than the limit allows...
        if (pastLimit) await refuseWhileLocked(email, context.ip);
        throw unauthorized('Email or password is incorrect', 'INVALID_CREDENTIALS');
      }
      // ...and a right guess in such a burst gets no session once the burst has locked the account.
      await refuseWhileLocked(email, context.ip);
      if (!user.isActive) {
        await audit.record(db, context, {
          action: 'auth.login_failed',
          actor: { id: user.id, role: user.role },
          targetType: 'user',
          targetId: user.id,
          details: { email, reason: 'account_disabled' },
        });
        throw forbidden('This account is disabled', 'ACCOUNT_DISABLED');
      }
      return db.transaction().execute(async (trx) => {
        const now = clock.now();
        await repo.clearThrottle(trx, `email:${email}`);
        const updated = await repo.updateUser(trx, user.id, { lastLoginAt: now });
        const publicUser = await withMerchantId(trx, updated ?? user);
        await audit.record(trx, context, {
          action: 'auth.login',
          actor: { id: user.id, role: user.role },
          targetType: 'user',
          targetId: user.id,
        });
        return startSession(trx, publicUser);
      });
    },

    /** Rotates a refresh token. Presenting one already rotated means it leaked: its whole family dies. */
    async refresh(refreshToken: string, context: RequestContext): Promise<Session> {
      const outcome = await db.transaction().execute(async (trx) => {
        const now = clock.now();
        const token = await repo.lockRefreshToken(trx, refreshTokenHash(refreshToken));
        if (token === undefined)
          return { error: unauthorized('Refresh token is not valid', 'INVALID_REFRESH_TOKEN') };
        if (token.revokedAt !== null) {
          return { error: unauthorized('Refresh token has been revoked', 'REFRESH_TOKEN_REVOKED') };
        }
        if (token.usedAt !== null) {
          await repo.revokeFamily(trx, token.familyId, now, 'reuse_detected');
          await audit.record(trx, context, {
            action: 'auth.token_family_revoked',
            targetType: 'user',
            targetId: token.userId,
            details: { familyId: token.familyId, reason: 'reuse_detected' },
          });
          // Committed on purpose: the revocation must stand although this request fails.
          return {
            error: unauthorized(
              'Refresh token was already used; all sessions from it are revoked',
              'REFRESH_TOKEN_REUSED',
            ),
          };
        }
        if (token.expiresAt.getTime() <= now.getTime()) {
          return { error: unauthorized('Refresh token has expired', 'REFRESH_TOKEN_EXPIRED') };
        }
        const user = await repo.findUserById(trx, token.userId);
        if (user === undefined || !user.isActive) {
          await repo.revokeFamily(trx, token.familyId, now, 'account_disabled');
          return { error: forbidden('This account is disabled', 'ACCOUNT_DISABLED') };
        }
        await repo.markRefreshTokenUsed(trx, token.id, now);
        return { session: await startSession(trx, await withMerchantId(trx, user), token.familyId) };
      });
      if ('error' in outcome) throw outcome.error as AppError;
      return outcome.session;
    },

    async logout(refreshToken: string, context: RequestContext): Promise<{ revoked: boolean }> {
      return db.transaction().execute(async (trx) => {
        const token = await repo.lockRefreshToken(trx, refreshTokenHash(refreshToken));
        if (token === undefined) return { revoked: false };
        const revokedCount = await repo.revokeFamily(trx, token.familyId, clock.now(), 'logout');
        if (revokedCount > 0) {
          // Holding a live refresh token proves who is signing out, though the route is public.
          const owner = await repo.findUserById(trx, token.userId);
          await audit.record(trx, context, {
            action: 'auth.token_family_revoked',
            ...(owner === undefined ? {} : { actor: { id: owner.id, role: owner.role } }),
            targetType: 'user',
            targetId: token.userId,
            details: { familyId: token.familyId, reason: 'logout' },
          });
        }
        return { revoked: revokedCount > 0 };
      });
    },

    async me(principal: Principal): Promise<PublicUser> {
      const user = await repo.findUserById(db, principal.userId);
      if (user === undefined) throw notFound('User');
      // The principal already knows its merchant (the token's claim, or the API credentials'
      // merchant), and a merchant user never changes role: no second query.
      return { ...user, merchantId: principal.merchantId };
    },

    verifyAccessToken: (token: string) => accessTokens.verify(token),

    /** An active user by id or email (a payee, say); null when there is none. */
    async findActiveUser(
      key: { id: string } | { email: string },
    ): Promise<{ id: string; email: string; name: string } | null> {
      const user =
        'id' in key ? await repo.findUserById(db, key.id) : await repo.findUserForLogin(db, key.email);
      if (user === undefined || !user.isActive) return null;
      return { id: user.id, email: user.email, name: user.name };
    },

    async listUsers(
      filter: { role?: Role; search?: string },
      page: PageRequest,
    ): Promise<{ users: repo.UserRow[]; pagination: PageInfo }> {
      const { rows, totalRecords } = await repo.findUsers(db, filter, page);
      return { users: rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },

    /** Admin: change a user's role or standing. Disabling a user revokes every refresh token it holds. */
    async updateUser(
      principal: Principal,
      userId: string,
      patch: { role?: Role; isActive?: boolean; isVerified?: boolean },
      context: RequestContext,
    ): Promise<PublicUser> {
      if (userId === principal.userId && (patch.role !== undefined || patch.isActive === false)) {
        throw unprocessable(
          'SELF_CHANGE_REFUSED',
          'Admins cannot change their own role or disable themselves',
        );
      }
      return db.transaction().execute(async (trx) => {
        const before = await repo.findUserById(trx, userId);
        if (before === undefined) throw notFound('User');
        if (
          patch.role !== undefined &&
          patch.role !== before.role &&
          (before.role === 'merchant' || patch.role === 'merchant')
        ) {
          throw unprocessable(
            'ROLE_CHANGE_REFUSED',
            'A merchant account cannot change role; create a new account',
          );
        }
        const now = clock.now();
        const after = (await repo.updateUser(trx, userId, { ...patch, updatedAt: now }))!;
        if (patch.role !== undefined && patch.role !== before.role) {
          await audit.record(trx, context, {
            action: 'user.role_changed',
            targetType: 'user',
            targetId: userId,
            details: { from: before.role, to: patch.role },
          });
        }
        const statusChanged = (['isActive', 'isVerified'] as const).filter(
          (field) => patch[field] !== undefined && patch[field] !== before[field],
        );
        if (statusChanged.length > 0) {
          await audit.record(trx, context, {
            action: 'user.status_changed',
            targetType: 'user',
            targetId: userId,
            details: Object.fromEntries(
              statusChanged.map((field) => [field, { from: before[field], to: after[field] }]),
            ),
          });
        }
        if (patch.isActive === false) await repo.revokeAllForUser(trx, userId, now, 'account_disabled');
        return withMerchantId(trx, after);
      });
    },

    /** Creates the bootstrap admin from ADMIN_EMAIL/ADMIN_PASSWORD once; later starts leave it alone. */
    async ensureAdmin(email: string, password: string): Promise<'created' | 'exists'> {
      const normalized = normalizeEmail(email);
      if ((await repo.findUserForLogin(db, normalized)) !== undefined) return 'exists';
      const passwordHash = await hashPassword(password);
      try {
        await db.transaction().execute(async (trx) => {
          const now = clock.now();
          const user = await repo.insertUser(trx, {
            id: uuidv7(now.getTime()),
            name: 'Administrator',
            email: normalized,
            passwordHash,
            role: 'admin',
            isVerified: true,
            createdAt: now,
            updatedAt: now,
          });
          await audit.record(trx, systemContext, {
            action: 'admin.bootstrapped',
            targetType: 'user',
            targetId: user.id,
            details: { email: normalized },
          });
        });
        return 'created';
      } catch (error) {
        // Another process starting at the same moment created it first.
        if (isUniqueViolation(error)) return 'exists';
        throw error;
      }
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function throttleKeys(email: string, ip: string | null): string[] {
  return ip === null ? [`email:${email}`] : [`email:${email}`, `ip:${ip}`];
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}
