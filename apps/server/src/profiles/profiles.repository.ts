import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { PROFILE_FIELDS, ProfileDto, type ProfileListQueryDto } from './dto/profile.dto';
import { ProfileEntity } from './profile.entity';

export type ProfileWrite = Omit<ProfileEntity, 'id' | 'createdAt' | 'updatedAt'>;

@Injectable()
export class ProfilesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<ProfileEntity | null> {
    return m.getRepository(ProfileEntity).findOneBy({ id });
  }

  /** Locks the row for the rest of the transaction (update/delete read-modify-write). */
  findForUpdate(m: EntityManager, id: string): Promise<ProfileEntity | null> {
    return m.getRepository(ProfileEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(m: EntityManager, profile: ProfileWrite & { id: string }): Promise<ProfileEntity> {
    await m.getRepository(ProfileEntity).insert(profile);
    return (await this.findById(profile.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: Partial<ProfileWrite>): Promise<ProfileEntity> {
    await m.getRepository(ProfileEntity).update({ id }, { ...patch, updatedAt: new Date() });
    return (await this.findById(id, m))!;
  }

  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(ProfileEntity).delete({ id });
  }

  list(q: ProfileListQueryDto): Promise<ListResult<Partial<ProfileDto>>> {
    const qb = this.ds.getRepository(ProfileEntity).createQueryBuilder('p');
    if (q.q) qb.andWhere('p.name ILIKE :q', { q: `%${q.q.replace(/[\\%_]/g, '\\$&')}%` });
    return paginate(qb, q, {
      sortable: {
        created_at: 'p.created_at',
        updated_at: 'p.updated_at',
        name: { column: 'p.name', kind: 'text' },
        max_ttl_seconds: { column: 'p.max_ttl_seconds', kind: 'number' },
      },
      defaultSort: 'name',
      fields: PROFILE_FIELDS,
      toDto: ProfileDto.from,
    });
  }
}
