import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager, type QueryDeepPartialEntity } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { ISSUER_FIELDS, IssuerDto, type IssuerListQueryDto } from './dto/issuer.dto';
import { IssuerEntity } from './issuer.entity';

export type IssuerRow = Pick<
  IssuerEntity,
  'id' | 'name' | 'type' | 'config' | 'secretConfig' | 'secretFields' | 'enabled'
>;

@Injectable()
export class IssuersRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<IssuerEntity | null> {
    return m.getRepository(IssuerEntity).findOneBy({ id });
  }

  /**
   * Locks the row for the rest of the transaction (update/delete read-modify-write) and
   * loads the sealed secrets too, which plain reads leave out.
   */
  findForUpdate(m: EntityManager, id: string): Promise<IssuerEntity | null> {
    return m
      .getRepository(IssuerEntity)
      .createQueryBuilder('i')
      .addSelect('i.secretConfig')
      .where('i.id = :id', { id })
      .setLock('pessimistic_write')
      .getOne();
  }

  /** The row with its sealed secrets (connection tests). */
  findWithSecrets(id: string): Promise<IssuerEntity | null> {
    return this.ds
      .getRepository(IssuerEntity)
      .createQueryBuilder('i')
      .addSelect('i.secretConfig')
      .where('i.id = :id', { id })
      .getOne();
  }

  async insert(m: EntityManager, row: IssuerRow): Promise<IssuerEntity> {
    // jsonb config: TypeORM's deep-partial type does not take Record<string, unknown>
    await m.getRepository(IssuerEntity).insert(row as QueryDeepPartialEntity<IssuerEntity>);
    return (await this.findById(row.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: Partial<Omit<IssuerRow, 'id'>>): Promise<IssuerEntity> {
    const values = { ...patch, updatedAt: new Date() } as QueryDeepPartialEntity<IssuerEntity>;
    await m.getRepository(IssuerEntity).update({ id }, values);
    return (await this.findById(id, m))!;
  }

  /** Hard delete; the managed_certificates foreign key (RESTRICT) refuses it while referenced. */
  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(IssuerEntity).delete({ id });
  }

  list(q: IssuerListQueryDto): Promise<ListResult<Partial<IssuerDto>>> {
    const qb = this.ds.getRepository(IssuerEntity).createQueryBuilder('i');
    if (q.q) qb.andWhere('i.name ILIKE :q', { q: `%${q.q.replace(/[\\%_]/g, '\\$&')}%` });
    if (q.type) qb.andWhere('i.type = :type', { type: q.type });
    if (q.enabled !== undefined) qb.andWhere('i.enabled = :enabled', { enabled: q.enabled });
    return paginate(qb, q, {
      sortable: {
        created_at: 'i.created_at',
        updated_at: 'i.updated_at',
        name: { column: 'i.name', kind: 'text' },
        type: { column: 'i.type', kind: 'text' },
      },
      defaultSort: 'name',
      fields: ISSUER_FIELDS,
      toDto: IssuerDto.from,
    });
  }
}
