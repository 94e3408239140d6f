import type { Db, Executor } from '../../db/database.ts';
import type { Merchant, MerchantStatus } from '../../db/types.ts';
import { forbidden, notFound } from '../../http/errors.ts';
import { type PageInfo, type PageRequest, pageInfo } from '../../http/pagination.ts';
import type { Principal } from '../../http/principal.ts';
import type { RequestContext } from '../../http/request-context.ts';
import type { Clock } from '../../lib/clock.ts';
import { randomToken, sha256Hex } from '../../lib/crypto.ts';
import { uuidv7 } from '../../lib/ids.ts';
import type { AuditService } from '../audit/index.ts';
import * as repo from './repo.ts';

export type MerchantProfile = repo.MerchantRow;

export interface ApiCredentials {
  readonly clientKey: string;
  /** Shown once; only its SHA-256 is stored. */
  readonly clientSecret: string;
}

export interface MerchantProfilePatch {
  readonly businessName?: string;
  readonly contactEmail?: string;
  readonly contactPhone?: string | null;
  readonly settlementVpa?: string | null;
  /** Admins only. */
  readonly status?: MerchantStatus;
}

const USAGE_DAYS_DEFAULT = 30;
const USAGE_DAYS_MAX = 366;
const DAY_MS = 86_400_000;

export function createMerchantService(deps: { db: Db; clock: Clock; audit: AuditService }) {
  const { db, clock, audit } = deps;

  /** Tenant check: a merchant sees only itself; anyone else's merchant is "not found". */
  async function loadVisible(
    executor: Executor,
    principal: Principal,
    merchantId: string,
  ): Promise<MerchantProfile> {
    const merchant = await repo.findMerchantById(executor, merchantId);
    if (merchant === undefined || (principal.role !== 'admin' && principal.merchantId !== merchant.id)) {
      throw notFound('Merchant');
    }
    return merchant;
  }

  return {
    /** Called inside the registering transaction: a merchant user never exists without its profile. */
    async createForUser(
      trx: Executor,
      input: { userId: string; businessName: string; contactEmail: string; contactPhone?: string | null },
    ): Promise<{ merchant: MerchantProfile; credentials: ApiCredentials }> {
      const now = clock.now();
      const credentials = generateCredentials();
      const merchant = await repo.insertMerchant(trx, {
        id: uuidv7(now.getTime()),
        userId: input.userId,
        businessName: input.businessName,
        contactEmail: input.contactEmail,
        contactPhone: input.contactPhone ?? null,
        clientKey: credentials.clientKey,
        clientSecretHash: sha256Hex(credentials.clientSecret),
        credentialsIssuedAt: now,
      });
      return { merchant, credentials };
    },

    async merchantIdForUser(executor: Executor, userId: string): Promise<string | null> {
      return (await repo.findMerchantByUserId(executor, userId))?.id ?? null;
    },

    async authenticateApiCredentials(clientKey: string, clientSecret: string): Promise<Principal | null> {
      const day = clock.now().toISOString().slice(0, 10);
      const match = await repo.authenticateAndCountUsage(db, clientKey, sha256Hex(clientSecret), day);
      if (match === undefined) return null;
      return { userId: match.userId, role: match.role, merchantId: match.merchantId, via: 'api_key' };
    },

    async get(principal: Principal, merchantId: string): Promise<MerchantProfile> {
      return loadVisible(db, principal, merchantId);
    },

    async update(
      principal: Principal,
      merchantId: string,
      patch: MerchantProfilePatch,
      context: RequestContext,
    ): Promise<MerchantProfile> {
      if (patch.status !== undefined && principal.role !== 'admin') {
        throw forbidden('Only an admin may change a merchant status');
      }
      return db.transaction().execute(async (trx) => {
        const before = await loadVisible(trx, principal, merchantId);
        const updated = await repo.updateMerchant(trx, merchantId, { ...patch, updatedAt: clock.now() });
        if (updated === undefined) throw notFound('Merchant');
        if (patch.status !== undefined && patch.status !== before.status) {
          await audit.record(trx, context, {
            action: 'merchant.status_changed',
            targetType: 'merchant',
            targetId: merchantId,
            details: { from: before.status, to: patch.status },
          });
        }
        // Recorded even alongside a status change, so a profile edit (a settlement VPA, say)
        // cannot slip through unrecorded by riding on one.
        const profileFields = Object.keys(patch).filter((field) => field !== 'status');
        if (principal.role === 'admin' && principal.merchantId !== merchantId && profileFields.length > 0) {
          await audit.record(trx, context, {
            action: 'admin.merchant_updated',
            targetType: 'merchant',
            targetId: merchantId,
            details: { fields: profileFields },
          });
        }
        return updated;
      });
    },

    async regenerateCredentials(principal: Principal, context: RequestContext): Promise<ApiCredentials> {
      if (principal.merchantId === null) throw notFound('Merchant');
      const merchantId = principal.merchantId;
      const credentials = generateCredentials();
      await db.transaction().execute(async (trx) => {
        await repo.replaceCredentials(trx, merchantId, {
          clientKey: credentials.clientKey,
          clientSecretHash: sha256Hex(credentials.clientSecret),
          credentialsIssuedAt: clock.now(),
        });
        await audit.record(trx, context, {
          action: 'merchant.credentials_regenerated',
          targetType: 'merchant',
          targetId: merchantId,
          details: { clientKey: credentials.clientKey, via: principal.via },
        });
      });
      return credentials;
    },

    /** Requests made with the merchant's API credentials, per UTC day, oldest first. */
    async usage(
      principal: Principal,
      range: { days?: number },
    ): Promise<{ day: string; requests: number }[]> {
      if (principal.merchantId === null) throw notFound('Merchant');
      const days = Math.min(range.days ?? USAGE_DAYS_DEFAULT, USAGE_DAYS_MAX);
      const today = clock.now();
      const from = new Date(today.getTime() - (days - 1) * DAY_MS).toISOString().slice(0, 10);
      const rows = await repo.findUsage(db, principal.merchantId, from, today.toISOString().slice(0, 10));
      return rows.map((row) => ({ day: row.day, requests: Number(row.requestCount) }));
    },

    async list(
      filter: { status?: Merchant['status']; search?: string },
      page: PageRequest,
    ): Promise<{ merchants: MerchantProfile[]; pagination: PageInfo }> {
      const { rows, totalRecords } = await repo.findMerchants(db, filter, page);
      return { merchants: rows, pagination: pageInfo(page, rows.length, totalRecords) };
    },
  };
}

export type MerchantService = ReturnType<typeof createMerchantService>;

function generateCredentials(): ApiCredentials {
  return { clientKey: `ck_${randomToken(18)}`, clientSecret: `cs_${randomToken(32)}` };
}
