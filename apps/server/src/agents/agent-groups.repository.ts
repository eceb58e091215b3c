import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { AgentEntity } from './agent.entity';
import { AgentGroupEntity, type MembershipType } from './agent-group.entity';
import type { ListQueryDto } from '../http/list-query.dto';
import { AgentDto } from './dto/agent.dto';
import {
  AGENT_GROUP_FIELDS,
  AGENT_GROUP_MEMBER_FIELDS,
  AgentGroupDto,
  type AgentGroupListQueryDto,
  type AgentGroupMemberDto,
} from './dto/agent-group.dto';
import { compileVersionPattern, hasCriteria, readStoredCriteria, type MatchCriteria } from './match-criteria';

export type AgentGroupPatch = Partial<Pick<AgentGroupEntity, 'name' | 'description' | 'matchCriteria' | 'enabled'>>;

export interface ExplicitMembers {
  include: string[];
  exclude: string[];
}

const likeEscape = (s: string): string => s.replace(/[\\%_]/g, '\\$&');

/**
 * The dynamic-membership predicate on agents alias `a`, with its parameters: every given
 * criterion must hold. Without criteria nothing matches (a group of explicit includes).
 */
function criteriaPredicate(c: MatchCriteria | null): { sql: string; params: Record<string, unknown> } {
  if (!c || !hasCriteria(c)) return { sql: 'false', params: {} };
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  if (c.os?.length) {
    parts.push('lower(a.os) = ANY(CAST(:critOs AS text[]))');
    params.critOs = c.os.map((s) => s.toLowerCase());
  }
  if (c.architecture?.length) {
    parts.push('lower(a.architecture) = ANY(CAST(:critArch AS text[]))');
    params.critArch = c.architecture.map((s) => s.toLowerCase());
  }
  if (c.ip_cidrs?.length) {
    // ip_address is '' (unknown) or a valid inet (CHECK constraint), so the cast is safe.
    parts.push(`CASE WHEN a.ip_address = '' THEN false
                     ELSE CAST(a.ip_address AS inet) <<= ANY(CAST(:critCidrs AS inet[])) END`);
    params.critCidrs = c.ip_cidrs;
  }
  if (c.version) {
    const v = compileVersionPattern(c.version);
    if (v.kind === 'exact') {
      parts.push(`a.version <> '' AND lower(a.version) = :critVersion`);
      params.critVersion = v.value;
    } else {
      parts.push(`a.version <> '' AND lower(a.version) LIKE :critVersion ESCAPE '\\'`);
      params.critVersion = v.like;
    }
  }
  return { sql: parts.map((p) => `(${p})`).join(' AND '), params };
}

@Injectable()
export class AgentGroupsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<AgentGroupEntity | null> {
    return m.getRepository(AgentGroupEntity).findOneBy({ id });
  }

  findForUpdate(m: EntityManager, id: string): Promise<AgentGroupEntity | null> {
    return m.getRepository(AgentGroupEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(
    m: EntityManager,
    g: Pick<AgentGroupEntity, 'id' | 'name' | 'description' | 'matchCriteria' | 'enabled'>,
  ): Promise<AgentGroupEntity> {
    await m.getRepository(AgentGroupEntity).insert(g);
    return (await this.findById(g.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: AgentGroupPatch): Promise<AgentGroupEntity> {
    await m.getRepository(AgentGroupEntity).update({ id }, { ...patch, updatedAt: new Date() });
    return (await this.findById(id, m))!;
  }

  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(AgentGroupEntity).delete({ id });
  }

  /** The ids among `ids` that name no agent. */
  async missingAgents(m: EntityManager, ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows: { id: string }[] = await m.query(
      `SELECT wanted.id
         FROM unnest($1::text[]) AS wanted(id)
        WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = wanted.id)`,
      [ids],
    );
    return rows.map((r) => r.id);
  }

  /** Explicit members of each group, sorted by agent id. */
  async explicitMembers(groupIds: string[], m: EntityManager = this.ds.manager): Promise<Map<string, ExplicitMembers>> {
    const out = new Map<string, ExplicitMembers>(groupIds.map((id) => [id, { include: [], exclude: [] }]));
    if (!groupIds.length) return out;
    const rows: { agent_group_id: string; agent_id: string; membership_type: MembershipType }[] = await m.query(
      `SELECT agent_group_id, agent_id, membership_type
         FROM agent_group_members
        WHERE agent_group_id = ANY($1::text[])
        ORDER BY agent_id`,
      [groupIds],
    );
    for (const r of rows) out.get(r.agent_group_id)?.[r.membership_type].push(r.agent_id);
    return out;
  }

  /** Replaces the group's explicit members (both kinds share the (group, agent) key). */
  async setExplicitMembers(m: EntityManager, groupId: string, members: ExplicitMembers): Promise<void> {
    await m.query(`DELETE FROM agent_group_members WHERE agent_group_id = $1`, [groupId]);
    await m.query(
      `INSERT INTO agent_group_members (agent_group_id, agent_id, membership_type)
       SELECT $1, agent_id, 'include' FROM unnest($2::text[]) AS ids(agent_id)
       UNION ALL
       SELECT $1, agent_id, 'exclude' FROM unnest($3::text[]) AS ids(agent_id)`,
      [groupId, members.include, members.exclude],
    );
  }

  async list(q: AgentGroupListQueryDto): Promise<ListResult<Partial<AgentGroupDto>>> {
    const qb = this.ds.getRepository(AgentGroupEntity).createQueryBuilder('g');
    if (q.q) qb.andWhere('g.name ILIKE :q', { q: `%${likeEscape(q.q)}%` });
    if (q.enabled !== undefined) qb.andWhere('g.enabled = :enabled', { enabled: q.enabled });
    const page = await paginate(qb, q, {
      sortable: {
        name: { column: 'g.name', kind: 'text' },
        created_at: 'g.created_at',
        updated_at: 'g.updated_at',
      },
      defaultSort: 'name',
      fields: AGENT_GROUP_FIELDS,
      toDto: (g) => AgentGroupDto.from(g),
    });
    // The explicit member lists live in agent_group_members: one query for the page.
    const members = await this.explicitMembers(page.data.map((g) => g.id!));
    for (const g of page.data) {
      const mine = members.get(g.id!)!;
      if ('include_agent_ids' in g) g.include_agent_ids = mine.include;
      if ('exclude_agent_ids' in g) g.exclude_agent_ids = mine.exclude;
    }
    return page;
  }

  /**
   * The group's members: non-retired agents that are explicitly included or match the
   * criteria, minus the excluded ones. An included agent reports `include` even when it
   * also matches.
   */
  listMembers(
    group: AgentGroupEntity,
    includes: ReadonlySet<string>,
    q: ListQueryDto,
  ): Promise<ListResult<Partial<AgentGroupMemberDto>>> {
    const crit = criteriaPredicate(readStoredCriteria(group.matchCriteria));
    const qb = this.ds
      .getRepository(AgentEntity)
      .createQueryBuilder('a')
      .where('a.retired_at IS NULL')
      .andWhere(
        `NOT EXISTS (SELECT 1 FROM agent_group_members x
                      WHERE x.agent_group_id = :groupId AND x.agent_id = a.id AND x.membership_type = 'exclude')`,
      )
      .andWhere(
        `(EXISTS (SELECT 1 FROM agent_group_members i
                   WHERE i.agent_group_id = :groupId AND i.agent_id = a.id AND i.membership_type = 'include')
          OR (${crit.sql}))`,
      )
      .setParameters({ groupId: group.id, ...crit.params });
    return paginate(qb, q, {
      sortable: {
        name: { column: 'a.name', kind: 'text' },
        last_heartbeat_at: { column: 'a.last_heartbeat_at', kind: 'timestamp', nullable: true },
        created_at: 'a.created_at',
      },
      defaultSort: 'name',
      fields: AGENT_GROUP_MEMBER_FIELDS,
      toDto: (a): AgentGroupMemberDto => ({
        ...AgentDto.from(a),
        membership: includes.has(a.id) ? 'include' : 'dynamic',
      }),
    });
  }
}
