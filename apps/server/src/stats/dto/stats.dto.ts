import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { CertificateStatus } from '@certctl/domain';

export const MAX_STATS_DAYS = 365;
export const DEFAULT_STATS_DAYS = 30;

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

export class StatsDaysQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_STATS_DAYS, default: DEFAULT_STATS_DAYS })
  @IsOptional()
  @Transform(toInt)
  @Min(1)
  @Max(MAX_STATS_DAYS)
  @IsInt({ message: 'days must be an integer' })
  days?: number;
}

export const TIMELINE_BUCKETS = ['day', 'week'] as const;
export type TimelineBucket = (typeof TIMELINE_BUCKETS)[number];

export class ExpirationTimelineQueryDto extends StatsDaysQueryDto {
  @ApiPropertyOptional({ enum: TIMELINE_BUCKETS, default: 'day', description: 'Bucket width' })
  @IsOptional()
  @IsIn(TIMELINE_BUCKETS, { message: `bucket must be one of ${TIMELINE_BUCKETS.join(', ')}` })
  bucket?: TimelineBucket;
}

/** Counts of every certificate status (zeros included). */
export type StatusCounts = Record<CertificateStatus, number>;

const STATUS_COUNTS_SCHEMA: ApiPropertyOptions = {
  type: 'object',
  properties: Object.fromEntries(Object.values(CertificateStatus).map((s) => [s, { type: 'integer' }])),
  example: {
    Pending: 2,
    Active: 40,
    Expiring: 3,
    Expired: 1,
    RenewalInProgress: 0,
    Failed: 0,
    Revoked: 1,
    Archived: 5,
  },
};

export class StatsSummaryDto {
  @ApiProperty({ description: 'Managed certificates that are not archived' }) total_certificates!: number;
  @ApiProperty({ ...STATUS_COUNTS_SCHEMA, description: 'Every certificate by status (archived ones under Archived)' })
  certificates_by_status!: StatusCounts;
  @ApiProperty({ description: 'Not archived, revoked or expired; expires within 30 days' })
  expiring_certificates!: number;
  @ApiProperty({ description: 'Not archived or revoked; status Expired or past expires_at' })
  expired_certificates!: number;
  @ApiProperty({ description: 'Not archived; status Revoked' }) revoked_certificates!: number;
  @ApiProperty({ description: 'Non-retired agents, status Online, heartbeat within 5 minutes' })
  active_agents!: number;
  @ApiProperty({ description: 'Non-retired agents, status Degraded, heartbeat within 5 minutes' })
  degraded_agents!: number;
  @ApiProperty({ description: 'Non-retired agents neither active nor degraded' }) offline_agents!: number;
  @ApiProperty({ description: 'Non-retired agents' }) total_agents!: number;
  @ApiProperty({ description: 'Jobs still open: Pending, AwaitingCSR, AwaitingApproval or Running' })
  pending_jobs!: number;
  @ApiProperty({ description: 'Jobs in status Failed' }) failed_jobs!: number;
  @ApiProperty({ description: 'Jobs in status Completed' }) complete_jobs!: number;
  @ApiProperty({ description: 'Notifications waiting to be sent' }) notifications_pending!: number;
  @ApiProperty({ description: 'Notifications in the dead-letter queue' }) notifications_dead!: number;
  @ApiProperty({ format: 'date-time' }) generated_at!: string;
}

export class StatusCountDto {
  @ApiProperty({ enum: Object.values(CertificateStatus) }) status!: CertificateStatus;
  @ApiProperty() count!: number;
}

export class ExpirationBucketDto {
  @ApiProperty({ format: 'date', example: '2026-02-01', description: 'First UTC day of the bucket' }) date!: string;
  @ApiProperty({ description: 'Certificates expiring in the bucket' }) count!: number;
}

export class JobTrendPointDto {
  @ApiProperty({ format: 'date', example: '2026-02-01', description: 'UTC day' }) date!: string;
  @ApiProperty({ description: 'Jobs completed that day' }) completed_count!: number;
  @ApiProperty({ description: 'Jobs failed that day' }) failed_count!: number;
  @ApiProperty({ description: 'completed / (completed + failed) in percent; 0 without jobs' }) success_rate!: number;
}

export class IssuanceRatePointDto {
  @ApiProperty({ format: 'date', example: '2026-02-01', description: 'UTC day' }) date!: string;
  @ApiProperty({ description: 'Certificate versions issued that day' }) issued_count!: number;
}

export class CertificateMetricsDto {
  @ApiProperty() total!: number;
  @ApiProperty() active!: number;
  @ApiProperty() expiring_soon!: number;
  @ApiProperty() expired!: number;
  @ApiProperty() revoked!: number;
  @ApiProperty(STATUS_COUNTS_SCHEMA) by_status!: StatusCounts;
}

export class AgentMetricsDto {
  @ApiProperty() total!: number;
  @ApiProperty() online!: number;
  @ApiProperty() degraded!: number;
  @ApiProperty() offline!: number;
}

export class JobMetricsDto {
  @ApiProperty() pending!: number;
  @ApiProperty() completed!: number;
  @ApiProperty() failed!: number;
}

export class NotificationMetricsDto {
  @ApiProperty() pending!: number;
  @ApiProperty() dead!: number;
}

export class MetricsSnapshotDto {
  @ApiProperty({ type: CertificateMetricsDto }) certificates!: CertificateMetricsDto;
  @ApiProperty({ type: AgentMetricsDto }) agents!: AgentMetricsDto;
  @ApiProperty({ type: JobMetricsDto }) jobs!: JobMetricsDto;
  @ApiProperty({ type: NotificationMetricsDto }) notifications!: NotificationMetricsDto;
  @ApiProperty({ description: 'Seconds since this server instance started' }) uptime_seconds!: number;
  @ApiProperty({ format: 'date-time' }) server_started!: string;
  @ApiProperty({ format: 'date-time' }) measured_at!: string;
}
