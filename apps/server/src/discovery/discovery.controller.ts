import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiGoneResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { DiscoveryTriageService } from './discovery-triage.service';
import { DiscoveryService } from './discovery.service';
import {
  ClaimDiscoveredCertificateDto,
  DiscoveredCertificateDto,
  DiscoveredCertificateListQueryDto,
  DiscoveredCertificatePageDto,
  DiscoveryReportDto,
  DiscoveryReportResultDto,
  DiscoveryScanListQueryDto,
  DiscoveryScanPageDto,
  DiscoverySummaryDto,
  DiscoverySummaryQueryDto,
  DismissDiscoveredCertificateDto,
} from './dto/discovery.dto';

/** Reports from agents: an agent's key reports only as its own agent; other keys with the permission for any. */
@ApiTags('discovery')
@Controller('api/v1/agents/:id/discoveries')
export class AgentDiscoveriesController {
  constructor(private readonly discovery: DiscoveryService) {}

  @Post()
  @RequirePermission('discovery.run')
  @ApiOperation({
    operationId: 'reportAgentDiscoveries',
    summary:
      'Report one discovery scan: the certificates found are upserted on (fingerprint, agent, path), so a ' +
      're-scan moves last_seen instead of adding rows; the scan is recorded and audited',
  })
  @ApiCreatedResponse({ type: DiscoveryReportResultDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown agent' })
  @ApiGoneResponse({ type: ErrorResponseDto, description: 'The agent is retired: stop' })
  report(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DiscoveryReportDto,
  ): Promise<DiscoveryReportResultDto> {
    return this.discovery.report(p, id, body);
  }
}

@ApiTags('discovery')
@Controller('api/v1/discovered-certificates')
export class DiscoveredCertificatesController {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly triage: DiscoveryTriageService,
  ) {}

  @Get()
  @RequirePermission('discovery.read')
  @ApiOperation({
    operationId: 'listDiscoveredCertificates',
    summary: 'List discovered certificates for triage (most recently seen first by default)',
  })
  @ApiOkResponse({ type: DiscoveredCertificatePageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  list(@Query() q: DiscoveredCertificateListQueryDto): Promise<DiscoveredCertificatePageDto> {
    return this.discovery.list(q) as Promise<DiscoveredCertificatePageDto>;
  }

  @Get(':id')
  @RequirePermission('discovery.read')
  @ApiOperation({ operationId: 'getDiscoveredCertificate', summary: 'Get a discovered certificate' })
  @ApiOkResponse({ type: DiscoveredCertificateDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<DiscoveredCertificateDto> {
    return this.discovery.get(id);
  }

  @Post(':id/claim')
  @HttpCode(200)
  @RequirePermission('discovery.claim')
  @ApiOperation({
    operationId: 'claimDiscoveredCertificate',
    summary:
      'Bring a discovered certificate under management: link an existing managed certificate ' +
      '(managed_certificate_id) or create one from its common name and SANs (create) -> Managed',
  })
  @ApiOkResponse({ type: DiscoveredCertificateDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'Already Managed, or its names cannot make a managed certificate',
  })
  claim(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: ClaimDiscoveredCertificateDto,
  ): Promise<DiscoveredCertificateDto> {
    return this.triage.claim(p, id, body);
  }

  @Post(':id/dismiss')
  @HttpCode(200)
  @RequirePermission('discovery.claim')
  @ApiOperation({
    operationId: 'dismissDiscoveredCertificate',
    summary: 'Take an Unmanaged discovered certificate out of triage -> Dismissed',
  })
  @ApiOkResponse({ type: DiscoveredCertificateDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Not Unmanaged' })
  dismiss(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DismissDiscoveredCertificateDto,
  ): Promise<DiscoveredCertificateDto> {
    return this.triage.dismiss(p, id, body);
  }
}

@ApiTags('discovery')
@Controller('api/v1')
export class DiscoveryScansController {
  constructor(private readonly discovery: DiscoveryService) {}

  @Get('discovery-scans')
  @RequirePermission('discovery.read')
  @ApiOperation({ operationId: 'listDiscoveryScans', summary: 'List discovery scans (newest first by default)' })
  @ApiOkResponse({ type: DiscoveryScanPageDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  listScans(@Query() q: DiscoveryScanListQueryDto): Promise<DiscoveryScanPageDto> {
    return this.discovery.listScans(q) as Promise<DiscoveryScanPageDto>;
  }

  @Get('discovery-summary')
  @RequirePermission('discovery.read')
  @ApiOperation({
    operationId: 'getDiscoverySummary',
    summary: 'Discovered certificates by status, Unmanaged ones expiring soon or expired, and per agent',
  })
  @ApiOkResponse({ type: DiscoverySummaryDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  summary(@Query() q: DiscoverySummaryQueryDto): Promise<DiscoverySummaryDto> {
    return this.discovery.summary(q.expiring_days);
  }
}
