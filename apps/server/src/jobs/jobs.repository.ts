import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { JobStatus, ListResult } from '@certctl/domain';
import { paginate } from '../database/paginate';
import { rowsOf } from '../database/sql';
import { JOB_FIELDS, JobDto, type JobListQueryDto } from './dto/job.dto';
import { JobEntity } from './job.entity';

@Injectable()
export class JobsRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.ds.transaction(work);
  }

  findById(id: string, m: EntityManager = this.ds.manager): Promise<JobEntity | null> {
    return m.getRepository(JobEntity).findOneBy({ id });
  }

  findForUpdate(m: EntityManager, id: string): Promise<JobEntity | null> {
    return m.getRepository(JobEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  /**
   * Moves a job from one of `from` to `to` in one guarded statement; null when the job is
   * not (or no longer) in one of those states, so concurrent moves cannot both win.
   */
  async transition(
    m: EntityManager,
    id: string,
    from: readonly JobStatus[],
    to: JobStatus,
    lastError?: string | null,
  ): Promise<JobEntity | null> {
    const rows = rowsOf<{ id: string }>(
      await m.query(
        `UPDATE jobs
          SET status = $3,
              last_error = COALESCE($4, last_error),
              completed_at = CASE WHEN $3 IN ('Completed', 'Cancelled') THEN now() ELSE completed_at END,
              updated_at = now()
        WHERE id = $1 AND status = ANY($2::text[])
        RETURNING id`,
        [id, from, to, lastError ?? null],
      ),
    );
    return rows.length ? this.findById(id, m) : null;
  }

  list(q: JobListQueryDto): Promise<ListResult<Partial<JobDto>>> {
    const qb = this.ds.getRepository(JobEntity).createQueryBuilder('j');
    if (q.status) qb.andWhere('j.status = :status', { status: q.status });
    if (q.type) qb.andWhere('j.type = :type', { type: q.type });
    if (q.certificate_id) qb.andWhere('j.certificate_id = :cid', { cid: q.certificate_id });
    if (q.agent_id) qb.andWhere('j.agent_id = :aid', { aid: q.agent_id });
    if (q.target_id) qb.andWhere('j.target_id = :tid', { tid: q.target_id });
    return paginate(qb, q, {
      sortable: {
        created_at: 'j.created_at',
        updated_at: 'j.updated_at',
        scheduled_at: 'j.scheduled_at',
        status: { column: 'j.status', kind: 'text' },
      },
      defaultSort: '-created_at',
      fields: JOB_FIELDS,
      toDto: JobDto.from,
    });
  }
}
