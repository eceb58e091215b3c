import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { notFound, type ApprovalDecision, type ListResult } from '@certctl/domain';
import { ApprovalRepository, ApprovalWorkflow } from '@certctl/approval';
import { paginate } from '../database/paginate';
import { rowsOf } from '../database/sql';
import type { Principal } from '../http/request-context';
import { JobDispatcher } from '../jobs/job-engine';
import { ApprovalRequestEntity } from './approval-request.entity';
import {
  APPROVAL_FIELDS,
  ApprovalDecisionDto,
  ApprovalDetailDto,
  ApprovalDto,
  type ApprovalListQueryDto,
} from './dto/approval.dto';

/** The approvals API over libs/approval: lists, details, decisions (by request or by job). */
@Injectable()
export class ApprovalsService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly repo: ApprovalRepository,
    private readonly workflow: ApprovalWorkflow,
    private readonly dispatcher: JobDispatcher,
  ) {}

  list(q: ApprovalListQueryDto): Promise<ListResult<Partial<ApprovalDto>>> {
    const qb = this.ds.getRepository(ApprovalRequestEntity).createQueryBuilder('a');
    if (q.state) qb.andWhere('a.state = :state', { state: q.state });
    if (q.kind) qb.andWhere('a.kind = :kind', { kind: q.kind });
    if (q.certificate_id) qb.andWhere('a.certificate_id = :cid', { cid: q.certificate_id });
    if (q.profile_id) qb.andWhere('a.profile_id = :pid', { pid: q.profile_id });
    return paginate(qb, q, {
      sortable: {
        created_at: 'a.created_at',
        updated_at: 'a.updated_at',
        state: { column: 'a.state', kind: 'text' },
      },
      defaultSort: '-created_at',
      fields: APPROVAL_FIELDS,
      toDto: ApprovalDto.fromEntity,
    });
  }

  async get(id: string): Promise<ApprovalDetailDto> {
    const row = await this.repo.find(id);
    if (!row) throw notFound('approval request', id);
    const decisions = await this.repo.decisions(id);
    const approvals = decisions.filter((d) => d.decision === 'approve').length;
    return {
      ...ApprovalDto.fromRow(row),
      decisions: decisions.map(ApprovalDecisionDto.from),
      remaining_approvals: row.state === 'pending' ? Math.max(0, row.required_approvals - approvals) : 0,
    };
  }

  async decide(actor: Principal, id: string, decision: ApprovalDecision, note?: string): Promise<ApprovalDetailDto> {
    // Profiles name approver roles by id; the principal carries role names.
    const roleIds = rowsOf<{ role_id: string }>(
      await this.ds.query(`SELECT role_id FROM actor_roles WHERE actor_id = $1`, [actor.actorId]),
    ).map((r) => r.role_id);
    const result = await this.workflow.decide(
      { actorId: actor.actorId, actorType: actor.actorType, roles: roleIds },
      id,
      decision,
      note ?? null,
    );
    const r = result.request;
    // Released jobs go on the queue now (the job-processor loop would find them anyway).
    if (r.state === 'approved' && r.job_id)
      await this.dispatcher.enqueue([{ id: r.job_id, attempts: 0, reason: 'approved' }]);
    return this.get(r.id);
  }

  /** POST /jobs/{id}/approve|reject: the same decision, found through the job. */
  async decideByJob(
    actor: Principal,
    jobId: string,
    decision: ApprovalDecision,
    note?: string,
  ): Promise<ApprovalDetailDto> {
    const row = await this.repo.findByJob(jobId);
    if (!row) throw notFound('approval request of job', jobId);
    return this.decide(actor, row.id, decision, note);
  }
}
