import { Injectable, OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ApprovalKind, conflict, LoopName, type ActorType, type ApprovalPolicy } from '@certctl/domain';
import { ApprovalWorkflow, type ApprovalRequestRow } from '@certctl/approval';
import { AppConfig } from '../config/config.schema';
import { rowsOf } from '../database/sql';
import { JobFactory, type IssuanceGate } from '../jobs/job-factory';
import { LoopRegistry } from '../scheduler/loop-registry';

/**
 * The approval gate of issuance and renewal. Every Issuance/Renewal job goes through
 * JobFactory, which asks this gate: a certificate whose profile has requires_approval=true
 * gets its job at AwaitingApproval with a cert_issuance request in the same transaction.
 * Approval releases the job to exactly Pending; rejection and expiry cancel it. Only the
 * worker's claim moves Pending -> Running, so nothing else can reach an issuer.
 */
@Injectable()
export class IssuanceApproval implements OnModuleInit, IssuanceGate {
  constructor(
    private readonly workflow: ApprovalWorkflow,
    private readonly jobs: JobFactory,
    private readonly loops: LoopRegistry,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.jobs.useGate(this);
    this.workflow.register(ApprovalKind.CertIssuance, {
      approved: (m, r) => this.release(m, r),
      refused: (m, r, outcome, _actor, note) => this.cancel(m, r, outcome, note),
    });
    const every = Math.min(this.config.jobs.timeoutIntervalMs, 10 * 60_000);
    this.loops.register({
      name: LoopName.ApprovalExpiry,
      everyMs: every,
      maxRunMs: Math.max(every * 2, 60_000),
      run: async () => {
        await this.workflow.expireStale();
      },
    });
  }

  async check(
    m: EntityManager,
    certificateId: string,
  ): Promise<{ profileId: string; policy: ApprovalPolicy } | undefined> {
    const row = rowsOf<{ id: string; required_approvals: number; approver_roles: string[] }>(
      await m.query(
        `SELECT p.id, p.required_approvals, p.approver_roles
           FROM managed_certificates c JOIN certificate_profiles p ON p.id = c.profile_id
          WHERE c.id = $1 AND p.requires_approval`,
        [certificateId],
      ),
    )[0];
    return row
      ? {
          profileId: row.id,
          policy: { required_approvals: row.required_approvals, approver_roles: row.approver_roles },
        }
      : undefined;
  }

  async request(
    m: EntityManager,
    r: {
      jobId: string;
      certificateId: string;
      gate: { profileId: string; policy: unknown };
      requestedBy: { actorId: string; actorType: ActorType };
    },
  ): Promise<boolean> {
    const { bypassed } = await this.workflow.request(m, {
      kind: ApprovalKind.CertIssuance,
      requestedBy: r.requestedBy,
      policy: r.gate.policy as ApprovalPolicy,
      certificateId: r.certificateId,
      jobId: r.jobId,
      profileId: r.gate.profileId,
    });
    return bypassed;
  }

  /** Approved: the job moves from AwaitingApproval to exactly Pending (409 if it moved on). */
  private async release(m: EntityManager, r: ApprovalRequestRow): Promise<void> {
    const moved = rowsOf<{ id: string }>(
      await m.query(
        `UPDATE jobs SET status = 'Pending', scheduled_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'AwaitingApproval' RETURNING id`,
        [r.job_id],
      ),
    );
    if (moved.length !== 1) throw conflict(`job ${r.job_id} is no longer awaiting approval`);
  }

  /** Rejected or expired: the job is cancelled with the reason as its error. */
  private async cancel(
    m: EntityManager,
    r: ApprovalRequestRow,
    outcome: 'rejected' | 'expired',
    note: string | null,
  ): Promise<void> {
    const reason = outcome === 'expired' ? 'approval expired' : `approval rejected${note ? `: ${note}` : ''}`;
    await m.query(
      `UPDATE jobs SET status = 'Cancelled', last_error = $2, completed_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'AwaitingApproval'`,
      [r.job_id, reason.slice(0, 2000)],
    );
  }
}
