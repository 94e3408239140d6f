import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { containsPattern } from '../../db/search.ts';
import type { NewUser, Role, User } from '../../db/types.ts';

export const USER_COLUMNS = [
  'id',
  'name',
  'email',
  'role',
  'isVerified',
  'isActive',
  'lastLoginAt',
  'createdAt',
  'updatedAt',
] as const;

export type UserRow = Omit<User, 'passwordHash'>;

export async function insertUser(executor: Executor, user: NewUser): Promise<UserRow> {
  return executor.insertInto('users').values(user).returning(USER_COLUMNS).executeTakeFirstOrThrow();
}

export async function findUserForLogin(executor: Executor, email: string): Promise<User | undefined> {
  return executor
    .selectFrom('users')
    .select([...USER_COLUMNS, 'passwordHash'])
    .where(sql`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
}

export async function findUserById(executor: Executor, id: string): Promise<UserRow | undefined> {
  return executor.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function updateUser(
  executor: Executor,
  id: string,
  patch: Partial<{ role: Role; isActive: boolean; isVerified: boolean; lastLoginAt: Date; updatedAt: Date }>,
): Promise<UserRow | undefined> {
  return executor
    .updateTable('users')
    .set(patch)
    .where('id', '=', id)
    .returning(USER_COLUMNS)
    .executeTakeFirst();
}

export async function findUsers(
  executor: Executor,
  filter: { role?: Role; search?: string },
  page: { limit: number; offset: number },
): Promise<{ rows: UserRow[]; totalRecords: number }> {
  let query = executor.selectFrom('users');
  if (filter.role !== undefined) query = query.where('role', '=', filter.role);
  if (filter.search !== undefined) {
    const pattern = containsPattern(filter.search);
    query = query.where((eb) => eb.or([eb('name', 'ilike', pattern), eb('email', 'ilike', pattern)]));
  }
  const [rows, count] = await Promise.all([
    query
      .select(USER_COLUMNS)
      .orderBy('createdAt', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, totalRecords: Number(count.count) };
}

export interface RefreshTokenRow {
  readonly id: string;
  readonly familyId: string;
  readonly userId: string;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  readonly revokedAt: Date | null;
}

export async function insertRefreshToken(
  executor: Executor,
  row: { id: string; familyId: string; userId: string; tokenHash: string; expiresAt: Date; createdAt: Date },
): Promise<void> {
  await executor.insertInto('refreshTokens').values(row).execute();
}

/** Locks the token row: two refreshes with one token are decided one after the other. */
export async function lockRefreshToken(
  executor: Executor,
  tokenHash: string,
): Promise<RefreshTokenRow | undefined> {
  return executor
    .selectFrom('refreshTokens')
    .select(['id', 'familyId', 'userId', 'expiresAt', 'usedAt', 'revokedAt'])
    .where('tokenHash', '=', tokenHash)
    .forUpdate()
    .executeTakeFirst();
}

export async function markRefreshTokenUsed(executor: Executor, id: string, at: Date): Promise<void> {
  await executor.updateTable('refreshTokens').set({ usedAt: at }).where('id', '=', id).execute();
}

/** Revokes every live token of a family; returns how many were live. */
export async function revokeFamily(
  executor: Executor,
  familyId: string,
  at: Date,
  reason: string,
): Promise<number> {
  const result = await executor
    .updateTable('refreshTokens')
    .set({ revokedAt: at, revokedReason: reason })
    .where('familyId', '=', familyId)
    .where('revokedAt', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function revokeAllForUser(
  executor: Executor,
  userId: string,
  at: Date,
  reason: string,
): Promise<void> {
  await executor
    .updateTable('refreshTokens')
    .set({ revokedAt: at, revokedReason: reason })
    .where('userId', '=', userId)
    .where('revokedAt', 'is', null)
    .execute();
}

export interface ThrottleRow {
  readonly key: string;
  readonly failureCount: number;
  readonly lockedUntil: Date | null;
}

export async function findThrottles(executor: Executor, keys: string[]): Promise<ThrottleRow[]> {
  return executor
    .selectFrom('loginThrottle')
    .select(['key', 'failureCount', 'lockedUntil'])
    .where('key', 'in', keys)
    .execute();
}

/**
 * Counts one failed login against a key in a single statement: a window that has run out starts
 * again at one, and reaching `maxFailures` locks the key until `lockedUntil`.
 */
export async function recordFailure(
  executor: Executor,
  key: string,
  now: Date,
  policy: { windowMs: number; maxFailures: number; lockoutMs: number },
): Promise<ThrottleRow> {
  const windowStart = new Date(now.getTime() - policy.windowMs);
  const lockedUntil = new Date(now.getTime() + policy.lockoutMs);
  const result = await sql<ThrottleRow>`
    INSERT INTO login_throttle AS t (key, failure_count, window_started_at, locked_until)
    VALUES (${key}, 1, ${now}, CASE WHEN 1 >= ${policy.maxFailures}::int THEN ${lockedUntil}::timestamptz END)
    ON CONFLICT (key) DO UPDATE SET
      failure_count = CASE WHEN t.window_started_at < ${windowStart} THEN 1 ELSE t.failure_count + 1 END,
      window_started_at = CASE WHEN t.window_started_at < ${windowStart} THEN ${now} ELSE t.window_started_at END,
      locked_until = CASE
        WHEN (CASE WHEN t.window_started_at < ${windowStart} THEN 1 ELSE t.failure_count + 1 END) >= ${policy.maxFailures}::int
          THEN ${lockedUntil}::timestamptz
        ELSE t.locked_until END
    RETURNING key, failure_count, locked_until
  `.execute(executor);
  return result.rows[0]!;
}

export async function clearThrottle(executor: Executor, key: string): Promise<void> {
  await executor.deleteFrom('loginThrottle').where('key', '=', key).execute();
}
