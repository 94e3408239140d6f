import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Written by the database (DEFAULT now()), readable as a Date, settable explicitly. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;

export type Role = 'user' | 'merchant' | 'vendor' | 'admin';
export const ROLES: readonly Role[] = ['user', 'merchant', 'vendor', 'admin'];

export type MerchantStatus = 'active' | 'suspended' | 'closed';
export const MERCHANT_STATUSES: readonly MerchantStatus[] = ['active', 'suspended', 'closed'];

export interface UsersTable {
  id: string;
  name: string;
  email: string;
  passwordHash: string;
  role: Role;
  isVerified: Generated<boolean>;
  isActive: Generated<boolean>;
  lastLoginAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface RefreshTokensTable {
  id: string;
  familyId: string;
  userId: string;
  tokenHash: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
  revokedReason: string | null;
  createdAt: Timestamp;
}

export interface LoginThrottleTable {
  key: string;
  failureCount: number;
  windowStartedAt: Date;
  lockedUntil: Date | null;
}

export interface MerchantsTable {
  id: string;
  userId: string;
  businessName: string;
  contactEmail: string;
  contactPhone: string | null;
  settlementVpa: string | null;
  status: Generated<MerchantStatus>;
  clientKey: string | null;
  clientSecretHash: string | null;
  credentialsIssuedAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface MerchantApiUsageTable {
  merchantId: string;
  day: ColumnType<string, string, string>;
  requestCount: ColumnType<bigint, bigint | number, bigint | number>;
}

export interface AuditLogsTable {
  id: string;
  actorId: string | null;
  actorRole: Role | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Json;
  createdAt: Timestamp;
}

export interface Database {
  users: UsersTable;
  refreshTokens: RefreshTokensTable;
  loginThrottle: LoginThrottleTable;
  merchants: MerchantsTable;
  merchantApiUsage: MerchantApiUsageTable;
  auditLogs: AuditLogsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Merchant = Selectable<MerchantsTable>;
export type AuditLog = Selectable<AuditLogsTable>;
