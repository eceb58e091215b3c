import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { CertificateStatus } from '@certctl/domain';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { rowsOf } from '../database/sql';
import { SHORT_LIVED_MAX_TTL_SECONDS } from './renewal-rules';

@Injectable()
export class ShortLivedExpiryRepository {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditRepository,
  ) {}

  /**
   * Marks up to `limit` expired certificates of short-lived profiles Expired, oldest
   * expiry first, with one audit row in the same transaction. Same transitions as the
   * renewal check (renewal-rules.ts): Active, Expiring and Failed become Expired, and
   * RenewalInProgress only when no renewal job of it is still open. SKIP LOCKED lets a
   * concurrent tick or a certificate being changed elsewhere pass by.
   */
  async expireBatch(limit: number): Promise<{ id: string; from: CertificateStatus }[]> {
    return this.ds.transaction(async (m) => {
      const rows = rowsOf<{ id: string; from: CertificateStatus }>(
        await m.query(
          `WITH due AS (
             SELECT mc.id, mc.status
               FROM managed_certificates mc
               JOIN certificate_profiles p ON p.id = mc.profile_id
              WHERE p.max_ttl_seconds < $1
                AND mc.expires_at <= now()
                AND mc.archived_at IS NULL
                AND (mc.status IN ('Active', 'Expiring', 'Failed')
                     OR (mc.status = 'RenewalInProgress' AND NOT EXISTS (
                           SELECT 1 FROM jobs j
                            WHERE j.certificate_id = mc.id AND j.type IN ('Issuance', 'Renewal')
                              AND (j.status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'AwaitingIssuer', 'Running')
                                   OR (j.status = 'Failed' AND j.attempts < j.max_attempts)))))
              ORDER BY mc.expires_at, mc.id
              LIMIT $2
              FOR UPDATE OF mc SKIP LOCKED)
           UPDATE managed_certificates mc
              SET status = 'Expired', updated_at = now()
             FROM due
            WHERE mc.id = due.id
            RETURNING mc.id, due.status AS "from"`,
          [SHORT_LIVED_MAX_TTL_SECONDS, limit],
        ),
      );
      if (rows.length > 0) {
        await this.audit.recordDomain(m, SYSTEM_ACTOR, 'certificate_expiry_status_changed', 'certificate', '', {
          loop: 'short-lived-expiry',
          count: rows.length,
          changes: rows.map((r) => ({ ...r, to: 'Expired' })),
        });
      }
      return rows;
    });
  }
}
