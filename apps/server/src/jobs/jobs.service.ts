import { Injectable } from '@nestjs/common';
import { assertTransition, conflict, notFound, sourcesOf, type ListResult } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import type { Principal } from '../http/request-context';
import { JobDto, type JobListQueryDto } from './dto/job.dto';
import { JobsRepository } from './jobs.repository';

@Injectable()
export class JobsService {
  constructor(
    private readonly repo: JobsRepository,
    private readonly audit: AuditRepository,
  ) {}

  list(q: JobListQueryDto): Promise<ListResult<Partial<JobDto>>> {
    return this.repo.list(q);
  }

  async get(id: string): Promise<JobDto> {
    const job = await this.repo.findById(id);
    if (!job) throw notFound('job', id);
    return JobDto.from(job);
  }

  /**
   * Cancels a job that has not started running. A running job finishes or fails on its
   * own (an issuer call in flight cannot be taken back), so cancelling it is a 409.
   */
  async cancel(actor: Principal, id: string, reason?: string): Promise<JobDto> {
    return this.repo.transaction(async (m) => {
      const job = await this.repo.findForUpdate(m, id);
      if (!job) throw notFound('job', id);
      if (job.status === 'Running') throw conflict(`job ${id} is running and cannot be cancelled`);
      assertTransition(job.status, 'Cancelled');
      const done = await this.repo.transition(m, id, sourcesOf('Cancelled'), 'Cancelled', reason ?? null);
      if (!done) throw conflict(`job ${id} changed state while being cancelled`);
      await this.audit.recordDomain(m, actor, 'job_cancelled', 'job', id, {
        from: job.status,
        type: job.type,
        certificate_id: job.certificateId,
        reason: reason ?? null,
      });
      return JobDto.from(done);
    });
  }
}
