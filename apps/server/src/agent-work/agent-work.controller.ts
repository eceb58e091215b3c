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
import { AgentWorkService } from './agent-work.service';
import {
  AgentCertificateDto,
  AgentCertificateQueryDto,
  AgentJobDto,
  AgentWorkDto,
  AgentWorkQueryDto,
  IssuedCertificateDto,
  ReportJobStatusDto,
  SubmitCsrDto,
} from './dto/agent-work.dto';

/**
 * The agent work API (pull only): an agent's key acts only as its own agent; other keys
 * holding the permission may act for any agent, as with the heartbeat.
 */
@ApiTags('agents')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown agent, or not this agent’s job/certificate' })
@ApiGoneResponse({ type: ErrorResponseDto, description: 'The agent is retired: stop' })
@Controller('api/v1/agents/:id')
export class AgentWorkController {
  constructor(private readonly work: AgentWorkService) {}

  @Get('work')
  @RequirePermission('agent.job.poll')
  @ApiOperation({
    operationId: 'getAgentWork',
    summary:
      "The agent's actionable jobs, oldest first: Issuance/Renewal jobs waiting for its CSR and Pending " +
      'Deployment jobs for its targets (reading changes nothing)',
  })
  @ApiOkResponse({ type: AgentWorkDto })
  getWork(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Query() q: AgentWorkQueryDto,
  ): Promise<AgentWorkDto> {
    return this.work.work(p, id, q.limit);
  }

  @Post('csr')
  @RequirePermission('agent.job.complete')
  @ApiOperation({
    operationId: 'submitAgentCsr',
    summary:
      'Submit the CSR for a job waiting for it: the certificate is issued with the CSR key and the ' +
      "certificate's own names (checked against its profile)",
  })
  @ApiCreatedResponse({ type: IssuedCertificateDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'No job of this certificate waits for this agent’s CSR' })
  submitCsr(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: SubmitCsrDto,
  ): Promise<IssuedCertificateDto> {
    return this.work.submitCsr(p, id, body);
  }

  @Post('jobs/:job_id/status')
  @HttpCode(200)
  @RequirePermission('agent.job.report')
  @ApiOperation({
    operationId: 'reportAgentJobStatus',
    summary: 'Report a Deployment job: Running claims a Pending job (once), then Completed or Failed (error required)',
  })
  @ApiOkResponse({ type: AgentJobDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Illegal transition, or already claimed' })
  reportStatus(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Param('job_id') jobId: string,
    @Body() body: ReportJobStatusDto,
  ): Promise<AgentJobDto> {
    return this.work.reportStatus(p, id, jobId, body);
  }

  @Get('certificates/:cert_id')
  @RequirePermission('agent.job.poll')
  @ApiOperation({
    operationId: 'getAgentCertificate',
    summary:
      'The certificate and chain (PEM) of a certificate this agent serves, newest version unless version_id; ' +
      'never a private key',
  })
  @ApiOkResponse({ type: AgentCertificateDto })
  getCertificate(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Param('cert_id') certId: string,
    @Query() q: AgentCertificateQueryDto,
  ): Promise<AgentCertificateDto> {
    return this.work.certificate(p, id, certId, q.version_id);
  }
}
