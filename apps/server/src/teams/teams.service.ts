import { Injectable } from '@nestjs/common';
import { IdPrefix, newId, notFound, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { rethrowConstraint } from '../database/pg-errors';
import type { Principal } from '../http/request-context';
import { TeamDto, type CreateTeamDto, type TeamListQueryDto, type UpdateTeamDto } from './dto/team.dto';
import { TeamsRepository } from './teams.repository';

@Injectable()
export class TeamsService {
  constructor(
    private readonly repo: TeamsRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: TeamListQueryDto): Promise<ListResult<Partial<TeamDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<TeamDto> {
    const team = await this.repo.findById(id);
    if (!team) throw notFound('team', id);
    return TeamDto.from(team);
  }

  async create(actor: Principal, body: CreateTeamDto): Promise<TeamDto> {
    const id = body.id ?? newId(IdPrefix.Team);
    try {
      return await this.repo.transaction(async (m) => {
        const team = await this.repo.insert(m, { id, name: body.name, description: body.description ?? '' });
        await this.audit.recordDomain(m, actor, 'team_created', 'team', id, { name: team.name });
        return TeamDto.from(team);
      });
    } catch (e) {
      rethrowConstraint(e, `team ${JSON.stringify(id)} or name ${JSON.stringify(body.name)}`);
    }
  }

  async update(actor: Principal, id: string, body: UpdateTeamDto): Promise<TeamDto> {
    try {
      return await this.repo.transaction(async (m) => {
        const before = await this.repo.findForUpdate(m, id);
        if (!before) throw notFound('team', id);
        // DTO instances carry every declared field (undefined when not sent): compare values.
        const patch = Object.fromEntries(
          Object.entries(body).filter(([k, v]) => v !== undefined && v !== before[k as keyof typeof before]),
        ) as UpdateTeamDto;
        if (Object.keys(patch).length === 0) return TeamDto.from(before);
        const team = await this.repo.update(m, id, patch);
        await this.audit.recordDomain(m, actor, 'team_updated', 'team', id, { changed: Object.keys(patch) });
        return TeamDto.from(team);
      });
    } catch (e) {
      rethrowConstraint(e, `team name ${JSON.stringify(body.name)}`);
    }
  }

  /** 409 while owners or certificates still belong to the team. */
  async delete(actor: Principal, id: string): Promise<void> {
    try {
      await this.repo.transaction(async (m) => {
        const team = await this.repo.findForUpdate(m, id);
        if (!team) throw notFound('team', id);
        await this.repo.delete(m, id);
        await this.audit.recordDomain(m, actor, 'team_deleted', 'team', id, { name: team.name });
      });
    } catch (e) {
      rethrowConstraint(e, `team ${JSON.stringify(id)}`);
    }
  }
}
