import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import { OPEN_JOB_STATUSES, type ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { AGENT_FIELDS, AgentDto, type AgentListQueryDto, type HeartbeatDto } from './dto/agent.dto';
import { AgentEntity, agentFromRow, type AgentRow } from './agent.entity';

export interface RetireDependencies {
  active_targets: number;
  active_certificates: number;
  pending_jobs: number;
}

const likeEscape = (s: string): string => s.replace(/[\\%_]/g, '\\$&');

@Injectable()
export class AgentsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<AgentEntity | null> {
    return m.getRepository(AgentEntity).findOneBy({ id });
  }

  /**
   * Locks the agent row for the rest of the transaction. Rows that reference the agent
   * (targets, certificates, jobs) take a KEY SHARE lock on it when inserted, so none can
   * be added while a retirement holds this lock.
   */
  findForUpdate(m: EntityManager, id: string): Promise<AgentEntity | null> {
    return m.getRepository(AgentEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(
    m: EntityManager,
    agent: Pick<AgentEntity, 'id' | 'name' | 'hostname' | 'apiKeyId'>,
  ): Promise<AgentEntity> {
    await m.getRepository(AgentEntity).insert(agent);
    return (await this.findById(agent.id, m))!;
  }

  /**
   * The heartbeat: one statement stamps it, sets Online and stores the reported metadata
   * (absent fields keep their value). Null when the agent is unknown or retired.
   */
  async heartbeat(id: string, meta: HeartbeatDto): Promise<AgentEntity | null> {
    const rows: AgentRow[] = await this.ds.query(
      `WITH hb AS (
         UPDATE agents
            SET os                = COALESCE($2, os),
                architecture      = COALESCE($3, architecture),
                ip_address        = COALESCE($4, ip_address),
                hostname          = COALESCE($5, hostname),
                version           = COALESCE($6, version),
                status            = 'Online',
                last_heartbeat_at = now(),
                updated_at        = now()
          WHERE id = $1 AND retired_at IS NULL
          RETURNING *
       )
       SELECT * FROM hb`,
      [
        id,
        meta.os ?? null,
        meta.architecture ?? null,
        meta.ip_address ?? null,
        meta.hostname ?? null,
        meta.version ?? null,
      ],
    );
    return rows[0] ? agentFromRow(rows[0]) : null;
  }

  /** What still depends on the agent: a clean retirement needs all three at zero. */
  async countDependencies(m: EntityManager, id: string): Promise<RetireDependencies> {
    const rows: RetireDependencies[] = await m.query(
      `SELECT
         (SELECT count(*)::int FROM deployment_targets
           WHERE agent_id = $1 AND retired_at IS NULL)                        AS active_targets,
         (SELECT count(*)::int FROM managed_certificates
           WHERE agent_id = $1 AND status NOT IN ('Archived', 'Revoked'))     AS active_certificates,
         (SELECT count(*)::int FROM jobs
           WHERE agent_id = $1 AND status = ANY($2::text[]))                  AS pending_jobs`,
      [id, OPEN_JOB_STATUSES],
    );
    return rows[0];
  }

  /** Soft-retires the agent's live deployment targets; returns how many. */
  async retireTargets(m: EntityManager, agentId: string, reason: string): Promise<number> {
    const rows: { n: number }[] = await m.query(
      `WITH retired AS (
         UPDATE deployment_targets
            SET retired_at = now(), retired_reason = $2, updated_at = now()
          WHERE agent_id = $1 AND retired_at IS NULL
          RETURNING 1
       )
       SELECT count(*)::int AS n FROM retired`,
      [agentId, reason],
    );
    return rows[0]?.n ?? 0;
  }

  /** Cancels the agent's open jobs with the reason as last_error; returns how many. */
  async cancelOpenJobs(m: EntityManager, agentId: string, reason: string): Promise<number> {
    const rows: { n: number }[] = await m.query(
      `WITH cancelled AS (
         UPDATE jobs
            SET status = 'Cancelled', last_error = $3, completed_at = now(), updated_at = now()
          WHERE agent_id = $1 AND status = ANY($2::text[])
          RETURNING 1
       )
       SELECT count(*)::int AS n FROM cancelled`,
      [agentId, OPEN_JOB_STATUSES, `agent retired: ${reason}`],
    );
    return rows[0]?.n ?? 0;
  }

  async retire(m: EntityManager, id: string, reason: string | null): Promise<AgentEntity> {
    await m.query(
      `UPDATE agents
          SET retired_at = now(), retired_reason = $2, status = 'Offline', updated_at = now()
        WHERE id = $1`,
      [id, reason],
    );
    return (await this.findById(id, m))!;
  }

  /**
   * Revokes the agent's credentials: its registration key and any other key issued to
   * the agent as actor. Returns how many keys were revoked.
   */
  async revokeAgentKeys(m: EntityManager, agentId: string, apiKeyId: string | null): Promise<number> {
    const rows: { n: number }[] = await m.query(
      `WITH revoked AS (
         UPDATE api_keys
            SET revoked_at = now()
          WHERE revoked_at IS NULL
            AND (id = $2 OR (actor_type = 'Agent' AND actor_id = $1))
          RETURNING 1
       )
       SELECT count(*)::int AS n FROM revoked`,
      [agentId, apiKeyId],
    );
    return rows[0]?.n ?? 0;
  }

  private filtered(q: AgentListQueryDto, retired: boolean): SelectQueryBuilder<AgentEntity> {
    const qb = this.ds.getRepository(AgentEntity).createQueryBuilder('a');
    qb.where(retired ? 'a.retired_at IS NOT NULL' : 'a.retired_at IS NULL');
    if (q.status) qb.andWhere('a.status = :status', { status: q.status });
    if (q.os !== undefined) qb.andWhere('lower(a.os) = lower(:os)', { os: q.os });
    if (q.architecture !== undefined) qb.andWhere('lower(a.architecture) = lower(:arch)', { arch: q.architecture });
    if (q.q) qb.andWhere('(a.name ILIKE :q OR a.hostname ILIKE :q)', { q: `%${likeEscape(q.q)}%` });
    return qb;
  }

  /** Active (non-retired) agents, or with `retired` only the retired ones. */
  list(q: AgentListQueryDto, retired = false): Promise<ListResult<Partial<AgentDto>>> {
    return paginate(this.filtered(q, retired), q, {
      sortable: {
        name: { column: 'a.name', kind: 'text' },
        last_heartbeat_at: { column: 'a.last_heartbeat_at', kind: 'timestamp', nullable: true },
        created_at: 'a.created_at',
        updated_at: 'a.updated_at',
        ...(retired ? { retired_at: 'a.retired_at' } : {}),
      },
      defaultSort: retired ? '-retired_at' : 'name',
      fields: AGENT_FIELDS,
      toDto: AgentDto.from,
    });
  }
}
