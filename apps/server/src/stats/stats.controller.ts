import { Controller, Get, Header, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import {
  ExpirationBucketDto,
  ExpirationTimelineQueryDto,
  IssuanceRatePointDto,
  JobTrendPointDto,
  MetricsSnapshotDto,
  StatsDaysQueryDto,
  StatsSummaryDto,
  StatusCountDto,
} from './dto/stats.dto';
import { StatsService } from './stats.service';

@ApiTags('stats')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get('summary')
  @RequirePermission('stats.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'getStatsSummary',
    summary: 'Dashboard counts of certificates, agents, jobs and notifications',
  })
  @ApiOkResponse({ type: StatsSummaryDto })
  summary(): Promise<StatsSummaryDto> {
    return this.stats.summary();
  }

  @Get('certificates-by-status')
  @RequirePermission('stats.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ operationId: 'getCertificatesByStatus', summary: 'Certificate counts for every status' })
  @ApiOkResponse({ type: [StatusCountDto] })
  certificatesByStatus(): Promise<StatusCountDto[]> {
    return this.stats.certificatesByStatus();
  }

  @Get('expiration-timeline')
  @RequirePermission('stats.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'getExpirationTimeline',
    summary: 'Live certificates expiring over the next N days, per UTC day or week (zero-filled)',
  })
  @ApiOkResponse({ type: [ExpirationBucketDto] })
  expirationTimeline(@Query() q: ExpirationTimelineQueryDto): Promise<ExpirationBucketDto[]> {
    return this.stats.expirationTimeline(q);
  }

  @Get('job-trends')
  @RequirePermission('stats.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ operationId: 'getJobTrends', summary: 'Jobs completed and failed per UTC day over the last N days' })
  @ApiOkResponse({ type: [JobTrendPointDto] })
  jobTrends(@Query() q: StatsDaysQueryDto): Promise<JobTrendPointDto[]> {
    return this.stats.jobTrends(q);
  }

  @Get('issuance-rate')
  @RequirePermission('stats.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'getIssuanceRate',
    summary: 'Certificate versions issued per UTC day over the last N days',
  })
  @ApiOkResponse({ type: [IssuanceRatePointDto] })
  issuanceRate(@Query() q: StatsDaysQueryDto): Promise<IssuanceRatePointDto[]> {
    return this.stats.issuanceRate(q);
  }
}

/** `GET /api/v1/metrics`: the JSON snapshot (the Prometheus text form lives at /metrics/prometheus). */
@ApiTags('metrics')
@Controller('api/v1/metrics')
export class MetricsSnapshotController {
  constructor(private readonly stats: StatsService) {}

  @Get()
  @RequirePermission('metrics.read')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ operationId: 'getMetrics', summary: 'Metrics snapshot as JSON: certificates, agents, jobs, uptime' })
  @ApiOkResponse({ type: MetricsSnapshotDto })
  metrics(): Promise<MetricsSnapshotDto> {
    return this.stats.metrics();
  }
}
