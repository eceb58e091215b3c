import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { rowsOf } from '../database/sql';

export interface LatestVersion {
  id: string;
  serial_number: string;
  not_after: Date;
  /** Who signed it: set for versions this server issued. */
  issuer_id: string | null;
  /** The CA of this server that signed it (its CRL and OCSP answers change on revocation). */
  ca_id: string | null;
}

export interface NewRevocation {
  id: string;
  certificateId: string;
  versionId: string;
  issuerId: string | null;
  serial: string;
  reason: string;
  reasonCode: number;
  invalidityDate: Date | null;
  revokedBy: string;
}

/** SQL of revocations: the rows CRLs and OCSP answers are built from. */
@Injectable()
export class RevocationRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async latestVersion(m: EntityManager, certificateId: string): Promise<LatestVersion | null> {
    const rows: LatestVersion[] = await m.query(
      `SELECT id, serial_number, not_after, issuer_id, ca_id FROM certificate_versions
        WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [certificateId],
    );
    return rows[0] ?? null;
  }

  /** True when this call recorded it; false when the serial was already revoked (idempotent). */
  async record(m: EntityManager, r: NewRevocation): Promise<boolean> {
    const rows = rowsOf<{ id: string }>(
      await m.query(
        `INSERT INTO certificate_revocations
           (id, certificate_id, version_id, issuer_id, serial_number, reason, reason_code, invalidity_date, revoked_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT ((COALESCE(issuer_id, '')), serial_number) DO NOTHING
         RETURNING id`,
        [
          r.id,
          r.certificateId,
          r.versionId,
          r.issuerId,
          r.serial,
          r.reason,
          r.reasonCode,
          r.invalidityDate,
          r.revokedBy,
        ],
      ),
    );
    return rows.length === 1;
  }

  async markRevoked(m: EntityManager, certificateId: string): Promise<void> {
    await m.query(`UPDATE managed_certificates SET status = 'Revoked', updated_at = now() WHERE id = $1`, [
      certificateId,
    ]);
  }

  async markIssuerNotified(revocationId: string): Promise<void> {
    await this.ds.query(`UPDATE certificate_revocations SET issuer_notified = true WHERE id = $1`, [revocationId]);
  }
}
