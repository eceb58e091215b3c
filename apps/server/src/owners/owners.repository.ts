import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { OWNER_FIELDS, OwnerDto, type OwnerListQueryDto } from './dto/owner.dto';
import { OwnerEntity } from './owner.entity';

export type OwnerPatch = Partial<Pick<OwnerEntity, 'name' | 'email' | 'teamId'>>;

/** The unique index that makes emails unique case-insensitively. */
export const OWNER_EMAIL_INDEX = 'owners_email_idx';

const likeEscape = (s: string): string => s.replace(/[\\%_]/g, '\\$&');

@Injectable()
export class OwnersRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<OwnerEntity | null> {
    return m.getRepository(OwnerEntity).findOneBy({ id });
  }

  /** Locks the row for the rest of the transaction (update/delete read-modify-write). */
  findForUpdate(m: EntityManager, id: string): Promise<OwnerEntity | null> {
    return m.getRepository(OwnerEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(m: EntityManager, owner: Pick<OwnerEntity, 'id' | 'name' | 'email' | 'teamId'>): Promise<OwnerEntity> {
    await m.getRepository(OwnerEntity).insert(owner);
    return (await this.findById(owner.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: OwnerPatch): Promise<OwnerEntity> {
    await m.getRepository(OwnerEntity).update({ id }, { ...patch, updatedAt: new Date() });
    return (await this.findById(id, m))!;
  }

  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(OwnerEntity).delete({ id });
  }

  /**
   * Managed certificates (archived ones included) naming this owner. Run after
   * findForUpdate: a certificate insert referencing the owner waits on that row lock,
   * so the count cannot go stale before the delete (the foreign key stays the backstop).
   */
  async countCertificateReferences(m: EntityManager, id: string): Promise<number> {
    const rows: { n: number }[] = await m.query(
      `SELECT count(*)::int AS n FROM managed_certificates WHERE owner_id = $1`,
      [id],
    );
    return rows[0]?.n ?? 0;
  }

  list(q: OwnerListQueryDto): Promise<ListResult<Partial<OwnerDto>>> {
    const qb = this.ds.getRepository(OwnerEntity).createQueryBuilder('o');
    if (q.team_id !== undefined) qb.andWhere('o.team_id = :teamId', { teamId: q.team_id });
    // lower(email) is what owners_email_idx indexes.
    if (q.email !== undefined) qb.andWhere('lower(o.email) = lower(:email)', { email: q.email });
    if (q.q) qb.andWhere('(o.name ILIKE :q OR o.email ILIKE :q)', { q: `%${likeEscape(q.q)}%` });
    return paginate(qb, q, {
      sortable: {
        created_at: 'o.created_at',
        updated_at: 'o.updated_at',
        name: { column: 'o.name', kind: 'text' },
        email: { column: 'o.email', kind: 'text' },
      },
      defaultSort: 'name',
      fields: OWNER_FIELDS,
      toDto: OwnerDto.from,
    });
  }
}
