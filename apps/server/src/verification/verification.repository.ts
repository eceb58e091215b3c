import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { JobStatus, JobType } from '@certctl/domain';
import { rowsOf } from '../database/sql';

export interface VerifiedJobRow {
  id: string;
  type: JobType;
  status: JobStatus;
  agent_id: string | null;
  certificate_id: string | null;
  target_id: string | null;
  version_id: string | null;
  /** The fingerprint of the version the job deployed (null before it pinned one). */
  version_fingerprint: string | null;
}

export interface VerificationRow {
  job_id: string;
  certificate_id: string | null;
  target_id: string | null;
  version_id: string | null;
  verified: boolean;
  expected_fingerprint: string;
  served_fingerprint: string | null;
  endpoint: string | null;
  error: string | null;
  verified_at: Date;
  reported_by: string;
}

export interface VerificationInput {
  verified: boolean;
  expectedFingerprint: string;
  servedFingerprint: string | null;
  endpoint: string | null;
  error: string | null;
  reportedBy: string;
  reportedByType: string;
}

const RESULT_COLUMNS = `v.job_id, j.certificate_id, j.target_id, j.version_id, v.verified, v.expected_fingerprint,
  v.served_fingerprint, v.endpoint, v.error, v.verified_at, v.reported_by`;

/** Post-deployment verification results: one row per job, the latest report wins. */
@Injectable()
export class VerificationRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  /** The job with its deployed version's fingerprint; KEY SHARE holds off its deletion meanwhile. */
  async job(m: EntityManager, id: string): Promise<VerifiedJobRow | null> {
    const rows = rowsOf<VerifiedJobRow>(
      await m.query(
        `SELECT j.id, j.type, j.status, j.agent_id, j.certificate_id, j.target_id, j.version_id,
                cv.fingerprint_sha256 AS version_fingerprint
           FROM jobs j
           LEFT JOIN certificate_versions cv ON cv.id = j.version_id
          WHERE j.id = $1
            FOR KEY SHARE OF j`,
        [id],
      ),
    );
    return rows[0] ?? null;
  }

  async jobExists(id: string): Promise<boolean> {
    const rows = rowsOf<{ n: number }>(await this.ds.query(`SELECT 1 AS n FROM jobs WHERE id = $1`, [id]));
    return rows.length > 0;
  }

  /** Stores the result, replacing an earlier one of the same job. */
  async upsert(m: EntityManager, jobId: string, v: VerificationInput): Promise<VerificationRow> {
    await m.query(
      `INSERT INTO job_verifications
              (job_id, verified, expected_fingerprint, served_fingerprint, endpoint, error, verified_at,
               reported_by, reported_by_type)
       VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8)
       ON CONFLICT (job_id) DO UPDATE
          SET verified = EXCLUDED.verified,
              expected_fingerprint = EXCLUDED.expected_fingerprint,
              served_fingerprint = EXCLUDED.served_fingerprint,
              endpoint = EXCLUDED.endpoint,
              error = EXCLUDED.error,
              verified_at = EXCLUDED.verified_at,
              reported_by = EXCLUDED.reported_by,
              reported_by_type = EXCLUDED.reported_by_type`,
      [
        jobId,
        v.verified,
        v.expectedFingerprint,
        v.servedFingerprint,
        v.endpoint,
        v.error,
        v.reportedBy,
        v.reportedByType,
      ],
    );
    const row = await this.find(jobId, m);
    if (!row) throw new Error(`verification of job ${jobId} vanished inside its own transaction`);
    return row;
  }

  async find(jobId: string, m?: EntityManager): Promise<VerificationRow | null> {
    const rows = rowsOf<VerificationRow>(
      await (m ?? this.ds.manager).query(
        `SELECT ${RESULT_COLUMNS}
           FROM job_verifications v
           JOIN jobs j ON j.id = v.job_id
          WHERE v.job_id = $1`,
        [jobId],
      ),
    );
    return rows[0] ?? null;
  }
}
