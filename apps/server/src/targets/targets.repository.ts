import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager, type QueryDeepPartialEntity } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { TARGET_FIELDS, TargetDto, type TargetListQueryDto } from './dto/target.dto';
import { TargetEntity } from './target.entity';

export type TargetRow = Pick<
  TargetEntity,
  'id' | 'name' | 'type' | 'agentId' | 'config' | 'secretConfig' | 'secretFields' | 'enabled'
>;

/** What the targets context reads of an agent (the agents context owns the table). */
export interface AgentLiveness {
  id: string;
  name: string;
  status: string;
  last_heartbeat_at: Date | null;
  retired_at: Date | null;
  /** A heartbeat within AGENT_FRESH_SECONDS, by the database clock. */
  fresh: boolean;
}

/** Agents heartbeat every 60 s; three missed beats and the agent no longer counts as online. */
export const AGENT_FRESH_SECONDS = 180;

@Injectable()
export class TargetsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<TargetEntity | null> {
    return m.getRepository(TargetEntity).findOneBy({ id });
  }

  private withSecrets(m: EntityManager, id: string) {
    return m
      .getRepository(TargetEntity)
      .createQueryBuilder('t')
      .addSelect('t.secretConfig')
      .where('t.id = :id', { id });
  }

  /** Locks the row (read-modify-write) and loads the sealed secrets, which plain reads leave out. */
  findForUpdate(m: EntityManager, id: string): Promise<TargetEntity | null> {
    return this.withSecrets(m, id).setLock('pessimistic_write').getOne();
  }

  /** The row with its sealed secrets (connection tests). */
  findWithSecrets(id: string): Promise<TargetEntity | null> {
    return this.withSecrets(this.ds.manager, id).getOne();
  }

  async insert(m: EntityManager, row: TargetRow): Promise<TargetEntity> {
    // jsonb config: TypeORM's deep-partial type does not take Record<string, unknown>
    await m.getRepository(TargetEntity).insert(row as QueryDeepPartialEntity<TargetEntity>);
    return (await this.findById(row.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: Partial<Omit<TargetRow, 'id'>>): Promise<TargetEntity> {
    const values = { ...patch, updatedAt: new Date() } as QueryDeepPartialEntity<TargetEntity>;
    await m.getRepository(TargetEntity).update({ id }, values);
    return (await this.findById(id, m))!;
  }

  async retire(m: EntityManager, id: string, reason: string | null): Promise<TargetEntity> {
    await m.query(
      `UPDATE deployment_targets SET retired_at = now(), retired_reason = $2, updated_at = now() WHERE id = $1`,
      [id, reason],
    );
    return (await this.findById(id, m))!;
  }

  /** How many certificates are mapped to deploy to the target. */
  async countMappings(m: EntityManager, id: string): Promise<number> {
    const rows: { n: number }[] = await m.query(
      `SELECT count(*)::int AS n FROM certificate_target_mappings WHERE target_id = $1`,
      [id],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * The agent a target is bound to. With a manager it takes FOR SHARE, so the agent
   * cannot be retired until the binding transaction commits.
   */
  async findAgent(id: string, m?: EntityManager): Promise<AgentLiveness | null> {
    const rows: AgentLiveness[] = await (m ?? this.ds.manager).query(
      `SELECT id, name, status, last_heartbeat_at, retired_at,
              coalesce(last_heartbeat_at > now() - make_interval(secs => $2), false) AS fresh
         FROM agents
        WHERE id = $1
        ${m ? 'FOR SHARE' : ''}`,
      [id, AGENT_FRESH_SECONDS],
    );
    return rows[0] ?? null;
  }

  list(q: TargetListQueryDto): Promise<ListResult<Partial<TargetDto>>> {
    const qb = this.ds.getRepository(TargetEntity).createQueryBuilder('t');
    if (!q.include_retired) qb.andWhere('t.retired_at IS NULL');
    if (q.q) qb.andWhere('t.name ILIKE :q', { q: `%${q.q.replace(/[\\%_]/g, '\\$&')}%` });
    if (q.type) qb.andWhere('t.type = :type', { type: q.type });
    if (q.agent_id) qb.andWhere('t.agent_id = :agentId', { agentId: q.agent_id });
    if (q.enabled !== undefined) qb.andWhere('t.enabled = :enabled', { enabled: q.enabled });
    return paginate(qb, q, {
      sortable: {
        created_at: 't.created_at',
        updated_at: 't.updated_at',
        name: { column: 't.name', kind: 'text' },
        type: { column: 't.type', kind: 'text' },
        retired_at: { column: 't.retired_at', kind: 'timestamp', nullable: true },
      },
      defaultSort: 'name',
      fields: TARGET_FIELDS,
      toDto: TargetDto.from,
    });
  }
}
