import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IdPrefix, invalid, newId, notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { ListQueryDto } from '../http/list-query.dto';
import type { Principal } from '../http/request-context';
import { AgentGroupsRepository, type AgentGroupPatch, type ExplicitMembers } from './agent-groups.repository';
import {
  AgentGroupDto,
  type AgentGroupListQueryDto,
  type AgentGroupMemberDto,
  type CreateAgentGroupDto,
  type UpdateAgentGroupDto,
} from './dto/agent-group.dto';
import { normalizeCriteria } from './match-criteria';

const unique = (ids: string[]): string[] => [...new Set(ids)];

@Injectable()
export class AgentGroupsService {
  constructor(
    private readonly repo: AgentGroupsRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: AgentGroupListQueryDto): Promise<ListResult<Partial<AgentGroupDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<AgentGroupDto> {
    const group = await this.repo.findById(id);
    if (!group) throw notFound('agent group', id);
    const members = (await this.repo.explicitMembers([id])).get(id)!;
    return AgentGroupDto.from(group, members.include, members.exclude);
  }

  async members(id: string, q: ListQueryDto): Promise<ListResult<Partial<AgentGroupMemberDto>>> {
    const group = await this.repo.findById(id);
    if (!group) throw notFound('agent group', id);
    const explicit = (await this.repo.explicitMembers([id])).get(id)!;
    return this.repo.listMembers(group, new Set(explicit.include), q);
  }

  async create(actor: Principal, body: CreateAgentGroupDto): Promise<AgentGroupDto> {
    const id = body.id ?? newId(IdPrefix.AgentGroup);
    const explicit = { include: unique(body.include_agent_ids ?? []), exclude: unique(body.exclude_agent_ids ?? []) };
    try {
      return await this.repo.transaction(async (m) => {
        await this.checkExplicit(m, explicit, { include: true, exclude: true });
        const group = await this.repo.insert(m, {
          id,
          name: body.name,
          description: body.description ?? '',
          matchCriteria: normalizeCriteria(body.match_criteria),
          enabled: body.enabled ?? true,
        });
        await this.repo.setExplicitMembers(m, id, explicit);
        await this.audit.recordDomain(m, actor, 'agent_group_created', 'agent_group', id, {
          name: group.name,
          match_criteria: group.matchCriteria,
          include_agent_ids: explicit.include,
          exclude_agent_ids: explicit.exclude,
        });
        const stored = (await this.repo.explicitMembers([id], m)).get(id)!;
        return AgentGroupDto.from(group, stored.include, stored.exclude);
      });
    } catch (e) {
      rethrowConstraint(e, `agent group ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
  }

  async update(actor: Principal, id: string, body: UpdateAgentGroupDto): Promise<AgentGroupDto> {
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('agent group', id);
        const current = (await this.repo.explicitMembers([id], m)).get(id)!;
        const explicit = {
          include: body.include_agent_ids ? unique(body.include_agent_ids) : current.include,
          exclude: body.exclude_agent_ids ? unique(body.exclude_agent_ids) : current.exclude,
        };
        await this.checkExplicit(m, explicit, {
          include: body.include_agent_ids !== undefined,
          exclude: body.exclude_agent_ids !== undefined,
        });

        const patch: AgentGroupPatch = {};
        if (body.name !== undefined) patch.name = body.name;
        if (body.description !== undefined) patch.description = body.description;
        if (body.match_criteria !== undefined) patch.matchCriteria = normalizeCriteria(body.match_criteria);
        if (body.enabled !== undefined) patch.enabled = body.enabled;
        const group = await this.repo.update(m, id, patch);
        if (body.include_agent_ids !== undefined || body.exclude_agent_ids !== undefined) {
          await this.repo.setExplicitMembers(m, id, explicit);
        }
        await this.audit.recordDomain(m, actor, 'agent_group_updated', 'agent_group', id, {
          changed: Object.keys(body),
        });
        const after = (await this.repo.explicitMembers([id], m)).get(id)!;
        return AgentGroupDto.from(group, after.include, after.exclude);
      });
    } catch (e) {
      rethrowConstraint(e, `agent group name ${JSON.stringify(body.name)}`);
    }
  }

  /** 409 while renewal policies are scoped to the group; its member rows go with it. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const group = await this.repo.findForUpdate(m, id);
        if (!group) throw notFound('agent group', id);
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'agent_group_deleted', 'agent_group', id, { name: group.name });
      });
    } catch (e) {
      rethrowConstraint(e, `agent group ${JSON.stringify(id)}`);
    }
  }

  /** Listed agents must exist, and no agent may be both included and excluded. */
  private async checkExplicit(
    m: EntityManager,
    explicit: ExplicitMembers,
    given: { include: boolean; exclude: boolean },
  ): Promise<void> {
    for (const kind of ['include', 'exclude'] as const) {
      if (!given[kind]) continue;
      const missing = await this.repo.missingAgents(m, explicit[kind]);
      if (missing.length) {
        throw invalid(
          `body.${kind}_agent_ids: agent${missing.length > 1 ? 's' : ''} ${missing.map((x) => JSON.stringify(x)).join(', ')} ` +
            `do${missing.length > 1 ? '' : 'es'} not exist`,
        );
      }
    }
    const excluded = new Set(explicit.exclude);
    const both = explicit.include.filter((a) => excluded.has(a));
    if (both.length) {
      const field = given.include && !given.exclude ? 'include_agent_ids' : 'exclude_agent_ids';
      throw invalid(
        `body.${field}: agent${both.length > 1 ? 's' : ''} ${both.map((x) => JSON.stringify(x)).join(', ')} ` +
          'cannot be both included and excluded',
      );
    }
  }
}
