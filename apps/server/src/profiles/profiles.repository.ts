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

  /** The role ids of `ids` that exist (approver pools name roles by id). */
  async existingRoleIds(ids: readonly string[], m: EntityManager = this.ds.manager): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const found: { id: string }[] = await m.query(`SELECT id FROM roles WHERE id = ANY($1)`, [ids]);
    return new Set(found.map((r) => r.id));
  }

  /** Another profile holding `name` (names are unique), checked before an edit is queued or applied. */
  async nameTakenBy(m: EntityManager, name: string, exceptId: string): Promise<string | undefined> {
    const found: { id: string }[] = await m.query(
      `SELECT id FROM certificate_profiles WHERE name = $1 AND id <> $2 LIMIT 1`,
      [name, exceptId],
    );
    return found[0]?.id;
  }

  /** The profile's pending profile_edit approval request, if any (at most one: a partial unique index). */
  async pendingEditId(m: EntityManager, profileId: string): Promise<string | undefined> {
    const found: { id: string }[] = await m.query(
      `SELECT id FROM approval_requests WHERE profile_id = $1 AND kind = 'profile_edit' AND state = 'pending'`,
      [profileId],
    );
    return found[0]?.id;
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
