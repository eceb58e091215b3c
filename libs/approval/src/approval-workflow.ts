import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  APPROVAL_BYPASS_ACTOR,
  APPROVAL_REAPER_ACTOR,
  ApprovalKind,
  decide,
  DomainError,
  ErrorCode,
  IdPrefix,
  newId,
  notFound,
  type ApprovalDecision,
  type ApprovalPolicy,
} from '@certctl/domain';
import { ApprovalRepository, type ApprovalRequestRow } from './approval.repository';
import { ApprovalAudit, ApprovalMetrics, ApprovalSettings, type ApprovalActor, type ApprovalOutcome } from './ports';

/** What happens to the subject of a request once it is settled (job released, edit applied, ...). */
export interface ApprovalApplier {
  /** Approved: inside the deciding transaction. */
  approved(
    m: EntityManager,
    request: ApprovalRequestRow,
    actor: Pick<ApprovalActor, 'actorId' | 'actorType'>,
  ): Promise<void>;
  /** Rejected or expired: inside the deciding transaction. */
  refused(
    m: EntityManager,
    request: ApprovalRequestRow,
    outcome: 'rejected' | 'expired',
    actor: Pick<ApprovalActor, 'actorId' | 'actorType'>,
    note: string | null,
  ): Promise<void>;
}

export interface NewApprovalRequest {
  kind: ApprovalKind;
  requestedBy: Pick<ApprovalActor, 'actorId' | 'actorType'>;
  policy: ApprovalPolicy;
  certificateId?: string;
  jobId?: string;
  profileId?: string;
  payload?: Record<string, unknown>;
}

export interface DecisionResult {
  request: ApprovalRequestRow;
  /** Distinct approvals recorded so far, and how many more are needed while pending. */
  approvals: number;
  remaining: number;
}

const SYSTEM = 'System' as const;

/**
 * The approval workflow. A request is created inside the transaction that creates what it
 * gates (the job, or nothing yet for a profile edit), so there is never a gated job without
 * its request. Decisions lock the request row, apply the domain rules (two-person integrity,
 * approver roles, M-of-N, decided once), record the decision, and when the request settles
 * run the kind's applier in the same transaction, with the audit row and then the metric.
 */
@Injectable()
export class ApprovalWorkflow implements OnModuleInit {
  private readonly logger = new Logger(ApprovalWorkflow.name);
  private readonly appliers = new Map<ApprovalKind, ApprovalApplier>();

  constructor(
    private readonly repo: ApprovalRepository,
    private readonly audit: ApprovalAudit,
    private readonly metrics: ApprovalMetrics,
    private readonly settings: ApprovalSettings,
  ) {}

  onModuleInit(): void {
    if (this.settings.bypass) {
      this.logger.warn(
        'CERTCTL_APPROVAL_BYPASS=true: every approval request is approved at once by system-bypass. Never in production.',
      );
    }
  }

  register(kind: ApprovalKind, applier: ApprovalApplier): void {
    if (this.appliers.has(kind)) throw new Error(`an applier for ${kind} approvals is already registered`);
    this.appliers.set(kind, applier);
  }

  get bypass(): boolean {
    return this.settings.bypass;
  }

  /**
   * Records a pending request in the caller's transaction. With bypass on, the request is
   * stored approved by `system-bypass` (audited `approval_bypassed`) and `bypassed` is true:
   * the caller proceeds as if no approval were needed.
   */
  async request(m: EntityManager, r: NewApprovalRequest): Promise<{ request: ApprovalRequestRow; bypassed: boolean }> {
    const bypassed = this.settings.bypass;
    const request = await this.repo.insert(m, {
      id: newId(IdPrefix.ApprovalRequest),
      kind: r.kind,
      state: bypassed ? 'approved' : 'pending',
      certificate_id: r.certificateId ?? null,
      job_id: r.jobId ?? null,
      profile_id: r.profileId ?? null,
      payload: r.payload ?? null,
      requested_by: r.requestedBy.actorId,
      requested_by_type: r.requestedBy.actorType,
      required_approvals: r.policy.required_approvals,
      approver_roles: [...r.policy.approver_roles],
      decided_by: bypassed ? APPROVAL_BYPASS_ACTOR : null,
      decided: bypassed,
      note: bypassed ? 'CERTCTL_APPROVAL_BYPASS' : null,
    });
    await this.audit.record(
      m,
      bypassed ? { actorId: APPROVAL_BYPASS_ACTOR, actorType: SYSTEM } : r.requestedBy,
      bypassed ? 'approval_bypassed' : 'approval_requested',
      'approval',
      request.id,
      this.details(request),
    );
    if (bypassed) this.metrics.decided('bypassed', request.profile_id, 0);
    return { request, bypassed };
  }

  /** Approve or reject as `actor`: 403 for the requester or outside the pool, 409 when decided. */
  async decide(
    actor: ApprovalActor,
    id: string,
    decision: ApprovalDecision,
    note: string | null,
  ): Promise<DecisionResult> {
    const result = await this.repo.ds.transaction(async (m) => {
      const request = await this.repo.lock(m, id);
      if (!request) throw notFound('approval request', id);
      const previous = await this.repo.decisions(id, m);
      const approvals = previous.filter((d) => d.decision === 'approve').map((d) => d.actor);
      const outcome = decide(
        {
          state: request.state,
          requested_by: request.requested_by,
          policy: { required_approvals: request.required_approvals, approver_roles: request.approver_roles },
          approvals,
        },
        { actorId: actor.actorId, roles: actor.roles ?? [] },
        decision,
      );
      if (!(await this.repo.addDecision(m, id, { actor: actor.actorId, actorType: actor.actorType, decision, note }))) {
        throw new DomainError(ErrorCode.Conflict, `${actor.actorId} has already decided this request`);
      }
      if (outcome.state === 'pending') {
        await this.audit.record(m, actor, 'approval_vote_recorded', 'approval', id, {
          ...this.details(request),
          approvals: outcome.approvals,
          remaining: outcome.remaining,
          note,
        });
        return { request, approvals: outcome.approvals, remaining: outcome.remaining, settled: undefined };
      }
      const settled = await this.repo.settle(m, id, outcome.state, actor.actorId, note);
      const applier = this.applier(request.kind);
      if (outcome.state === 'approved') await applier.approved(m, settled, actor);
      else await applier.refused(m, settled, 'rejected', actor, note);
      await this.audit.record(
        m,
        actor,
        outcome.state === 'approved' ? 'approval_approved' : 'approval_rejected',
        'approval',
        id,
        {
          ...this.details(settled),
          note,
          approvals: outcome.state === 'approved' ? outcome.approvals : approvals.length,
        },
      );
      return {
        request: settled,
        approvals: outcome.state === 'approved' ? outcome.approvals : approvals.length,
        remaining: 0,
        settled: outcome.state as ApprovalOutcome,
      };
    });
    if (result.settled) this.observe(result.settled, result.request);
    return { request: result.request, approvals: result.approvals, remaining: result.remaining };
  }

  /**
   * Expires pending requests older than the timeout (the reaper loop): state expired, the
   * subject refused (a job is cancelled with "approval expired"), one audit row each as
   * `system-reaper`. Returns how many expired.
   */
  async expireStale(now = new Date(), limit = 500): Promise<number> {
    const before = new Date(now.getTime() - this.settings.timeoutMs);
    const expired = await this.repo.ds.transaction(async (m) => {
      const stale = await this.repo.lockStale(m, before, limit);
      const done: ApprovalRequestRow[] = [];
      const reaper = { actorId: APPROVAL_REAPER_ACTOR, actorType: SYSTEM };
      for (const r of stale) {
        const settled = await this.repo.settle(m, r.id, 'expired', APPROVAL_REAPER_ACTOR, 'approval expired');
        await this.applier(r.kind).refused(m, settled, 'expired', reaper, 'approval expired');
        await this.audit.record(m, reaper, 'approval_expired', 'approval', r.id, this.details(settled));
        done.push(settled);
      }
      return done;
    });
    for (const r of expired) this.observe('expired', r);
    if (expired.length) this.logger.warn(`expired ${expired.length} approval request(s) past the timeout`);
    return expired.length;
  }

  private observe(outcome: ApprovalOutcome, r: ApprovalRequestRow): void {
    const decidedAt = r.decided_at ?? new Date();
    this.metrics.decided(outcome, r.profile_id, Math.max(0, (decidedAt.getTime() - r.created_at.getTime()) / 1000));
  }

  private applier(kind: ApprovalKind): ApprovalApplier {
    const a = this.appliers.get(kind);
    if (!a) throw new Error(`no applier for ${kind} approvals in this server`);
    return a;
  }

  private details(r: ApprovalRequestRow): Record<string, unknown> {
    return {
      kind: r.kind,
      state: r.state,
      certificate_id: r.certificate_id,
      job_id: r.job_id,
      profile_id: r.profile_id,
      requested_by: r.requested_by,
      decided_by: r.decided_by,
      required_approvals: r.required_approvals,
    };
  }
}
