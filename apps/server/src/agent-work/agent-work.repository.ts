import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { JobStatus, JobType, KeyAlgorithmRule } from '@certctl/domain';
import { agentState, type AgentState } from '../agents/agent-state';
import { rowsOf } from '../database/sql';

export interface WorkRow {
  id: string;
  type: JobType;
  status: JobStatus;
  certificate_id: string;
  created_at: Date;
  common_name: string;
  sans: string[];
  allowed_key_algorithms: KeyAlgorithmRule[] | null;
  target_id: string | null;
  target_type: string | null;
  target_name: string | null;
  target_config: Record<string, unknown> | null;
  secret_fields: string[] | null;
  version_id: string | null;
  total: string;
}

export interface AgentJobRow {
  id: string;
  type: JobType;
  status: JobStatus;
  agent_id: string | null;
  certificate_id: string;
  target_id: string | null;
  version_id: string | null;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  scheduled_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

/** Whether a Deployment job can be carried out now, and with which version. */
export interface DeploymentContext {
  certificate_live: boolean;
  target_active: boolean;
  target_agent_id: string | null;
  latest_version_id: string | null;
}

export interface VersionRow {
  id: string;
  serial_number: string;
  fingerprint_sha256: string;
  pem_chain: string;
  not_before: Date;
  not_after: Date;
}

const JOB_COLUMNS = `id, type, status, agent_id, certificate_id, target_id, version_id, attempts, max_attempts,
  last_error, scheduled_at, started_at, completed_at, updated_at`;

/** The newest version of certificate `$cert` (the same order as exports and POST /deploy use). */
const latestVersionOf = (cert: string) =>
  `SELECT id FROM certificate_versions WHERE certificate_id = ${cert} ORDER BY created_at DESC, id DESC LIMIT 1`;

/** The agent work API's SQL. Job state changes are guarded statements inside the caller's transaction. */
@Injectable()
export class AgentWorkRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  /**
   * The agent row. With `m`, a KEY SHARE lock holds off a concurrent retirement (which locks
   * the row FOR UPDATE and cancels the agent's open jobs) until this transaction ends.
   */
  async agent(id: string, m?: EntityManager): Promise<AgentState | null> {
    return agentState(m ?? this.ds.manager, id, m !== undefined);
  }

  /**
   * Actionable jobs routed to the agent, oldest first: Issuance/Renewal waiting for its CSR,
   * and Pending, due Deployment jobs whose target is active and whose certificate has a
   * version to deploy. Jobs of archived or revoked certificates are not actionable.
   */
  async work(agentId: string, limit: number): Promise<WorkRow[]> {
    return rowsOf<WorkRow>(
      await this.ds.query(
        `SELECT j.id, j.type, j.status, j.certificate_id, j.created_at,
                c.common_name, c.sans, p.allowed_key_algorithms,
                j.target_id, t.type AS target_type, t.name AS target_name,
                t.config AS target_config, t.secret_fields,
                v.id AS version_id,
                count(*) OVER () AS total
           FROM jobs j
           JOIN managed_certificates c ON c.id = j.certificate_id
           LEFT JOIN certificate_profiles p ON p.id = c.profile_id
           LEFT JOIN deployment_targets t ON t.id = j.target_id
           LEFT JOIN LATERAL (${latestVersionOf('j.certificate_id')}) v ON j.type = 'Deployment'
          WHERE j.agent_id = $1
            AND c.archived_at IS NULL AND c.status <> 'Revoked'
            AND (   (j.status = 'AwaitingCSR' AND j.type IN ('Issuance', 'Renewal'))
                 OR (j.status = 'Pending' AND j.type = 'Deployment' AND j.scheduled_at <= now()
                     AND t.enabled AND t.retired_at IS NULL AND v.id IS NOT NULL))
          ORDER BY j.created_at, j.id
          LIMIT $2`,
        [agentId, limit],
      ),
    );
  }

  /** The job row, locked for the rest of the transaction. */
  async lockJob(m: EntityManager, id: string): Promise<AgentJobRow | null> {
    const rows = rowsOf<AgentJobRow>(await m.query(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`, [id]));
    return rows[0] ?? null;
  }

  async deploymentContext(m: EntityManager, certificateId: string, targetId: string): Promise<DeploymentContext> {
    const rows = rowsOf<DeploymentContext>(
      await m.query(
        `SELECT (c.archived_at IS NULL AND c.status <> 'Revoked') AS certificate_live,
                COALESCE(t.enabled AND t.retired_at IS NULL, false) AS target_active,
                t.agent_id AS target_agent_id,
                (${latestVersionOf('c.id')}) AS latest_version_id
           FROM managed_certificates c
           LEFT JOIN deployment_targets t ON t.id = $2
          WHERE c.id = $1`,
        [certificateId, targetId],
      ),
    );
    return rows[0] ?? { certificate_live: false, target_active: false, target_agent_id: null, latest_version_id: null };
  }

  /**
   * The agent's claim: Pending -> Running, pinning the version it deploys. Guarded on the
   * status and the agent, so of two concurrent claims exactly one gets the row.
   */
  async claimDeployment(m: EntityManager, id: string, agentId: string, versionId: string): Promise<AgentJobRow | null> {
    const rows = rowsOf<AgentJobRow>(
      await m.query(
        `UPDATE jobs
            SET status = 'Running', attempts = attempts + 1, started_at = now(), completed_at = NULL,
                last_error = NULL, version_id = $3, updated_at = now()
          WHERE id = $1 AND agent_id = $2 AND type = 'Deployment' AND status = 'Pending' AND scheduled_at <= now()
          RETURNING ${JOB_COLUMNS}`,
        [id, agentId, versionId],
      ),
    );
    return rows[0] ?? null;
  }

  /** Running -> Completed | Failed, for the agent the job is routed to. */
  async finishDeployment(
    m: EntityManager,
    id: string,
    agentId: string,
    to: 'Completed' | 'Failed',
    error: string | null,
  ): Promise<AgentJobRow | null> {
    const rows = rowsOf<AgentJobRow>(
      await m.query(
        `UPDATE jobs
            SET status = $3,
                last_error = $4,
                completed_at = CASE WHEN $3 = 'Completed' THEN now() ELSE NULL END,
                updated_at = now()
          WHERE id = $1 AND agent_id = $2 AND type = 'Deployment' AND status = 'Running'
          RETURNING ${JOB_COLUMNS}`,
        [id, agentId, to, error],
      ),
    );
    return rows[0] ?? null;
  }

  async versionSerial(m: EntityManager, versionId: string): Promise<string | null> {
    const rows = rowsOf<{ serial_number: string }>(
      await m.query(`SELECT serial_number FROM certificate_versions WHERE id = $1`, [versionId]),
    );
    return rows[0]?.serial_number ?? null;
  }

  /** The agent serves the certificate: it is the certificate's agent, or owns a live target mapped to it. */
  async serves(agentId: string, certificateId: string): Promise<boolean> {
    const rows = rowsOf<{ serves: boolean }>(
      await this.ds.query(
        `SELECT EXISTS (SELECT 1 FROM managed_certificates WHERE id = $2 AND agent_id = $1)
             OR EXISTS (SELECT 1 FROM certificate_target_mappings ctm
                          JOIN deployment_targets t ON t.id = ctm.target_id
                         WHERE ctm.certificate_id = $2 AND t.agent_id = $1 AND t.retired_at IS NULL) AS serves`,
        [agentId, certificateId],
      ),
    );
    return rows[0]?.serves === true;
  }

  /** A version of the certificate (the newest without `versionId`); public columns only. */
  async version(certificateId: string, versionId?: string): Promise<VersionRow | null> {
    const rows = rowsOf<VersionRow>(
      await this.ds.query(
        `SELECT id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after
           FROM certificate_versions
          WHERE certificate_id = $1 AND ($2::text IS NULL OR id = $2)
          ORDER BY created_at DESC, id DESC
          LIMIT 1`,
        [certificateId, versionId ?? null],
      ),
    );
    return rows[0] ?? null;
  }
}
