import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { CertificateStatus } from '@certctl/domain';
import { rowsOf } from '../database/sql';

/** The newest version of a certificate, with what deploy and export need. */
export interface VersionMaterial {
  id: string;
  serial_number: string;
  /** Leaf followed by its chain. */
  pem_chain: string;
  /** Present only for keys the server generated (CERTCTL_KEYGEN_MODE=server). */
  sealed_private_key: Buffer | null;
}

export interface MappedTarget {
  id: string;
  agent_id: string | null;
  /** Enabled and not retired. */
  active: boolean;
}

/** SQL of the certificate actions (renew, deploy, export). */
@Injectable()
export class CertificateActionsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async latestVersion(certificateId: string, m: EntityManager = this.ds.manager): Promise<VersionMaterial | null> {
    const rows = rowsOf<VersionMaterial>(
      await m.query(
        `SELECT id, serial_number, pem_chain, sealed_private_key FROM certificate_versions
          WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
        [certificateId],
      ),
    );
    return rows[0] ?? null;
  }

  /** The mapped targets, locked FOR SHARE so a concurrent retirement waits for this transaction. */
  async mappedTargets(m: EntityManager, certificateId: string): Promise<MappedTarget[]> {
    return rowsOf<MappedTarget>(
      await m.query(
        `SELECT t.id, t.agent_id, (t.enabled AND t.retired_at IS NULL) AS active
           FROM certificate_target_mappings cm
           JOIN deployment_targets t ON t.id = cm.target_id
          WHERE cm.certificate_id = $1
          ORDER BY t.id
            FOR SHARE OF t`,
        [certificateId],
      ),
    );
  }

  async setStatus(m: EntityManager, certificateId: string, status: CertificateStatus): Promise<void> {
    await m.query(`UPDATE managed_certificates SET status = $2, updated_at = now() WHERE id = $1`, [
      certificateId,
      status,
    ]);
  }
}
