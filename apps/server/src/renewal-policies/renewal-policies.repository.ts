import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { RENEWAL_POLICY_FIELDS, RenewalPolicyDto, type RenewalPolicyListQueryDto } from './dto/renewal-policy.dto';
import { RenewalPolicyEntity } from './renewal-policy.entity';

export type RenewalPolicyWrite = Pick<
  RenewalPolicyEntity,
  'name' | 'renewalDaysBefore' | 'alertThresholdsDays' | 'autoRenew' | 'agentGroupId' | 'notificationRouting'
>;

@Injectable()
export class RenewalPoliciesRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<RenewalPolicyEntity | null> {
    return m.getRepository(RenewalPolicyEntity).findOneBy({ id });
  }

  /** Locks the row for the rest of the transaction (update/delete read-modify-write). */
  findForUpdate(m: EntityManager, id: string): Promise<RenewalPolicyEntity | null> {
    return m.getRepository(RenewalPolicyEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async insert(m: EntityManager, policy: RenewalPolicyWrite & { id: string }): Promise<RenewalPolicyEntity> {
    await m.getRepository(RenewalPolicyEntity).insert(policy);
    return (await this.findById(policy.id, m))!;
  }

  async update(m: EntityManager, id: string, patch: Partial<RenewalPolicyWrite>): Promise<RenewalPolicyEntity> {
    await m.getRepository(RenewalPolicyEntity).update({ id }, { ...patch, updatedAt: new Date() });
    return (await this.findById(id, m))!;
  }

  async delete(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(RenewalPolicyEntity).delete({ id });
  }

  list(q: RenewalPolicyListQueryDto): Promise<ListResult<Partial<RenewalPolicyDto>>> {
    const qb = this.ds.getRepository(RenewalPolicyEntity).createQueryBuilder('rp');
    if (q.q) qb.andWhere('rp.name ILIKE :q', { q: `%${q.q.replace(/[\\%_]/g, '\\$&')}%` });
    if (q.agent_group_id) qb.andWhere('rp.agent_group_id = :agg', { agg: q.agent_group_id });
    if (q.auto_renew !== undefined) qb.andWhere('rp.auto_renew = :auto', { auto: q.auto_renew });
    return paginate(qb, q, {
      sortable: {
        created_at: 'rp.created_at',
        updated_at: 'rp.updated_at',
        name: { column: 'rp.name', kind: 'text' },
        renewal_days_before: { column: 'rp.renewal_days_before', kind: 'number' },
      },
      defaultSort: 'name',
      fields: RENEWAL_POLICY_FIELDS,
      toDto: RenewalPolicyDto.from,
    });
  }
}
