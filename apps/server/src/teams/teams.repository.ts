import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { TEAM_FIELDS, TeamDto, type TeamListQueryDto } from './dto/team.dto';
import { TeamEntity } from './team.entity';

@Injectable()
export class TeamsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<TeamEntity | null> {
    return m.getRepository(TeamEntity).findOneBy({ id });
  }

  /** Locks the row for the rest of the transaction (update/delete read-modify-write). */
  findForUpdate(m: EntityManager, id: string): Promise<TeamEntity | null> {
    return m.getRepository(TeamEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(m: EntityManager, team: Pick<TeamEntity, 'id' | 'name' | 'description'>): Promise<TeamEntity> {
    await m.getRepository(TeamEntity).insert(team);
    return (await this.findById(team.id, m))!;
  }

  async update(
    m: EntityManager,
    id: string,
    patch: Partial<Pick<TeamEntity, 'name' | 'description'>>,
  ): Promise<TeamEntity> {
    await m.getRepository(TeamEntity).update({ id }, { ...patch, updatedAt: new Date() });
    return (await this.findById(id, m))!;
  }

  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(TeamEntity).delete({ id });
  }

  list(q: TeamListQueryDto): Promise<ListResult<Partial<TeamDto>>> {
    const qb = this.ds.getRepository(TeamEntity).createQueryBuilder('t');
    if (q.q) qb.andWhere('t.name ILIKE :q', { q: `%${q.q.replace(/[\\%_]/g, '\\$&')}%` });
    return paginate(qb, q, {
      sortable: { created_at: 't.created_at', updated_at: 't.updated_at', name: { column: 't.name', kind: 'text' } },
      defaultSort: 'name',
      fields: TEAM_FIELDS,
      toDto: TeamDto.from,
    });
  }
}
