import { Injectable } from '@nestjs/common';
import { CertificateStatus } from '@certctl/domain';
import {
  DEFAULT_STATS_DAYS,
  type ExpirationBucketDto,
  type ExpirationTimelineQueryDto,
  type IssuanceRatePointDto,
  type JobTrendPointDto,
  type MetricsSnapshotDto,
  type StatsDaysQueryDto,
  type StatsSummaryDto,
  type StatusCountDto,
} from './dto/stats.dto';
import { statusCounts, successRate } from './stats-shape';
import { StatsRepository } from './stats.repository';

@Injectable()
export class StatsService {
  /** When this server instance came up (uptime of the JSON metrics). */
  private readonly startedAt = new Date();

  constructor(private readonly repo: StatsRepository) {}

  async summary(): Promise<StatsSummaryDto> {
    const r = await this.repo.summary();
    return {
      total_certificates: r.cert_total,
      certificates_by_status: statusCounts(
        Object.entries(r.by_status ?? {}).map(([status, count]) => ({ status, count })),
      ),
      expiring_certificates: r.cert_expiring,
      expired_certificates: r.cert_expired,
      revoked_certificates: r.cert_revoked,
      active_agents: r.agent_online,
      degraded_agents: r.agent_degraded,
      offline_agents: r.agent_total - r.agent_online - r.agent_degraded,
      total_agents: r.agent_total,
      pending_jobs: r.job_open,
      failed_jobs: r.job_failed,
      complete_jobs: r.job_completed,
      notifications_pending: r.notif_pending,
      notifications_dead: r.notif_dead,
      generated_at: r.generated_at.toISOString(),
    };
  }

  async certificatesByStatus(): Promise<StatusCountDto[]> {
    const counts = statusCounts(await this.repo.countByStatus());
    return Object.values(CertificateStatus).map((status) => ({ status, count: counts[status] }));
  }

  expirationTimeline(q: ExpirationTimelineQueryDto): Promise<ExpirationBucketDto[]> {
    return this.repo.expirationTimeline(q.days ?? DEFAULT_STATS_DAYS, q.bucket === 'week' ? 7 : 1);
  }

  async jobTrends(q: StatsDaysQueryDto): Promise<JobTrendPointDto[]> {
    const rows = await this.repo.jobTrends(q.days ?? DEFAULT_STATS_DAYS);
    return rows.map((r) => ({ ...r, success_rate: successRate(r.completed_count, r.failed_count) }));
  }

  issuanceRate(q: StatsDaysQueryDto): Promise<IssuanceRatePointDto[]> {
    return this.repo.issuanceRate(q.days ?? DEFAULT_STATS_DAYS);
  }

  /** The JSON metrics snapshot: the summary regrouped, plus this instance's uptime. */
  async metrics(): Promise<MetricsSnapshotDto> {
    const s = await this.summary();
    const now = new Date();
    return {
      certificates: {
        total: s.total_certificates,
        active: s.certificates_by_status.Active,
        expiring_soon: s.expiring_certificates,
        expired: s.expired_certificates,
        revoked: s.revoked_certificates,
        by_status: s.certificates_by_status,
      },
      agents: {
        total: s.total_agents,
        online: s.active_agents,
        degraded: s.degraded_agents,
        offline: s.offline_agents,
      },
      jobs: { pending: s.pending_jobs, completed: s.complete_jobs, failed: s.failed_jobs },
      notifications: { pending: s.notifications_pending, dead: s.notifications_dead },
      uptime_seconds: Math.floor((now.getTime() - this.startedAt.getTime()) / 1000),
      server_started: this.startedAt.toISOString(),
      measured_at: now.toISOString(),
    };
  }
}
