import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Counter, Histogram } from 'prom-client';
import { ApprovalAudit, ApprovalMetrics, ApprovalModule, ApprovalSettings } from '@certctl/approval';
import { AuditModule } from '../audit/audit.module';
import { AuditRepository } from '../audit/audit.repository';
import { AppConfig } from '../config/config.schema';
import { JobsModule } from '../jobs/jobs.module';
import { MetricsService } from '../metrics/metrics.service';
import { ApprovalRequestEntity } from './approval-request.entity';
import { ApprovalsController, JobApprovalsController } from './approvals.controller';
import { ApprovalsService } from './approvals.service';
import { IssuanceApproval } from './issuance-approval';

/** certctl_approval_decisions_total and certctl_approval_pending_age_seconds on the app registry. */
function approvalMetrics(metrics: MetricsService): ApprovalMetrics {
  const decisions = new Counter({
    name: 'certctl_approval_decisions_total',
    help: 'Approval requests settled, by outcome (approved, rejected, expired, bypassed) and profile',
    labelNames: ['outcome', 'profile_id'],
    registers: [metrics.registry],
  });
  const age = new Histogram({
    name: 'certctl_approval_pending_age_seconds',
    help: 'How long approval requests waited before they were settled',
    buckets: [60, 300, 1800, 3600, 21600, 86400],
    registers: [metrics.registry],
  });
  return {
    decided(outcome, profileId, pendingSeconds) {
      decisions.inc({ outcome, profile_id: profileId ?? '' });
      age.observe(pendingSeconds);
    },
  };
}

const approvalModule = ApprovalModule.forRoot({
  imports: [AuditModule],
  providers: [
    {
      provide: ApprovalAudit,
      inject: [AuditRepository],
      useFactory: (audit: AuditRepository): ApprovalAudit => ({
        record: (m, actor, action, type, id, details) => audit.recordDomain(m, actor, action, type, id, details),
      }),
    },
    { provide: ApprovalMetrics, inject: [MetricsService], useFactory: approvalMetrics },
    {
      provide: ApprovalSettings,
      inject: [AppConfig],
      useFactory: (c: AppConfig): ApprovalSettings => ({
        bypass: c.approvalBypass,
        timeoutMs: c.jobs.awaitingApprovalTimeoutMs,
      }),
    },
  ],
});

/** The approvals API, the issuance gate, and the expiry loop, over libs/approval. */
@Module({
  imports: [approvalModule, JobsModule, TypeOrmModule.forFeature([ApprovalRequestEntity])],
  controllers: [ApprovalsController, JobApprovalsController],
  providers: [ApprovalsService, IssuanceApproval],
  exports: [approvalModule],
})
export class ApprovalsModule {}
