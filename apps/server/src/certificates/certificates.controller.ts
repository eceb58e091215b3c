import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Res,
  StreamableFile,
} from '@nestjs/common';
import type { Response } from 'express';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { CertificateActionsService } from './certificate-actions.service';
import { CertificateExportService } from './certificate-export.service';
import { CertificatesService } from './certificates.service';
import {
  BulkReassignDto,
  BulkReassignResultDto,
  BulkRenewDto,
  BulkRenewResultDto,
  CertificateJobDto,
  DeployCertificateDto,
  DeploymentJobsDto,
  PemExportDto,
  PemExportQueryDto,
  Pkcs12ExportDto,
} from './dto/certificate-actions.dto';
import { retryAfterOf } from './export-rate-limiter';
import { BulkRevokeDto, BulkRevokeResultDto, RevokeCertificateDto } from './dto/revoke.dto';
import { RevocationService } from './revocation.service';
import {
  CertificateDeploymentListDto,
  CertificateDto,
  CertificateListQueryDto,
  CertificatePageDto,
  CertificateVersionListQueryDto,
  CertificateVersionPageDto,
  CreateCertificateDto,
  UpdateCertificateDto,
} from './dto/certificate.dto';

@ApiTags('certificates')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/certificates')
export class CertificatesController {
  constructor(
    private readonly certs: CertificatesService,
    private readonly revocation: RevocationService,
    private readonly actions: CertificateActionsService,
    private readonly exports: CertificateExportService,
  ) {}

  @Get()
  @RequirePermission('cert.read')
  @ApiOperation({
    operationId: 'listCertificates',
    summary: 'List managed certificates',
    description:
      'Filters combine with AND; archived certificates are left out unless `status` names Archived or ' +
      '`include_archived=true`. Page mode (`page`, `per_page`) or cursor mode (`cursor`, `page_size`).',
  })
  @ApiOkResponse({ type: CertificatePageDto })
  list(@Query() q: CertificateListQueryDto): Promise<CertificatePageDto> {
    return this.certs.list(q) as Promise<CertificatePageDto>;
  }

  @Post()
  @RequirePermission('cert.issue')
  @ApiOperation({
    operationId: 'createCertificate',
    summary: 'Create a managed certificate',
    description: 'Records the certificate with status Pending; issuance is a separate job.',
  })
  @ApiCreatedResponse({ type: CertificateDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateCertificateDto): Promise<CertificateDto> {
    return this.certs.create(p, body);
  }

  @Get(':id')
  @RequirePermission('cert.read')
  @ApiOperation({ operationId: 'getCertificate', summary: 'Get a managed certificate' })
  @ApiOkResponse({ type: CertificateDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<CertificateDto> {
    return this.certs.get(id);
  }

  @Put(':id')
  @RequirePermission('cert.edit')
  @ApiOperation({ operationId: 'updateCertificate', summary: 'Update a managed certificate (partial)' })
  @ApiOkResponse({ type: CertificateDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The certificate is archived' })
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: UpdateCertificateDto,
  ): Promise<CertificateDto> {
    return this.certs.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('cert.delete')
  @ApiOperation({
    operationId: 'archiveCertificate',
    summary: 'Archive a managed certificate (soft delete; archiving again is a no-op)',
  })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  archive(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.certs.archive(p, id);
  }

  @Post('bulk-revoke')
  @HttpCode(200)
  @RequirePermission('cert.bulk_revoke')
  @ApiOperation({
    operationId: 'bulkRevokeCertificates',
    summary: 'Revoke every live certificate matching the filters; partial failures are reported, not fatal',
  })
  @ApiOkResponse({ type: BulkRevokeResultDto })
  bulkRevoke(@CurrentPrincipal() p: Principal, @Body() body: BulkRevokeDto): Promise<BulkRevokeResultDto> {
    return this.revocation.bulkRevoke(p, body);
  }

  @Post('bulk-renew')
  @HttpCode(202)
  @RequirePermission('cert.issue')
  @ApiOperation({
    operationId: 'bulkRenewCertificates',
    summary: 'Request renewal of every live certificate matching the filters; partial failures are reported',
    description: 'At least one filter; at most 1,000 matches. One summary audit event, plus one per created job.',
  })
  @ApiAcceptedResponse({ type: BulkRenewResultDto })
  bulkRenew(@CurrentPrincipal() p: Principal, @Body() body: BulkRenewDto): Promise<BulkRenewResultDto> {
    return this.actions.bulkRenew(p, body);
  }

  @Post('bulk-reassign')
  @HttpCode(200)
  @RequirePermission('cert.edit')
  @ApiOperation({
    operationId: 'bulkReassignCertificates',
    summary: 'Set the owner and/or team of many certificates; archived or unknown ones are reported',
  })
  @ApiOkResponse({ type: BulkReassignResultDto })
  bulkReassign(@CurrentPrincipal() p: Principal, @Body() body: BulkReassignDto): Promise<BulkReassignResultDto> {
    return this.actions.bulkReassign(p, body);
  }

  @Post(':id/renew')
  @HttpCode(202)
  @RequirePermission('cert.issue')
  @ApiOperation({
    operationId: 'renewCertificate',
    summary: 'Start an Issuance (never issued) or Renewal job; an open one is returned instead of a second',
  })
  @ApiAcceptedResponse({ type: CertificateJobDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Archived or revoked' })
  renew(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<CertificateJobDto> {
    return this.actions.renew(p, id);
  }

  @Post(':id/deploy')
  @HttpCode(202)
  @RequirePermission('cert.issue')
  @ApiOperation({
    operationId: 'deployCertificate',
    summary: 'Create one Deployment job per mapped target (or the given ones), routed to the agent of each target',
  })
  @ApiAcceptedResponse({ type: DeploymentJobsDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Archived, revoked, or never issued' })
  deploy(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DeployCertificateDto,
  ): Promise<DeploymentJobsDto> {
    return this.actions.deploy(p, id, body);
  }

  @Get(':id/export/pem')
  @RequirePermission('cert.read')
  @ApiOperation({
    operationId: 'exportCertificatePem',
    summary:
      'The latest version as PEM: JSON by default, the file with `Accept: application/x-pem-file` or `format=file`',
  })
  @ApiProduces('application/json', 'application/x-pem-file')
  @ApiOkResponse({ type: PemExportDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown, or never issued' })
  async exportPem(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Query() q: PemExportQueryDto,
    @Headers('accept') accept: string | undefined,
  ): Promise<PemExportDto | StreamableFile> {
    const asFile = q.format === 'file' || (q.format === undefined && /application\/x-pem-file/i.test(accept ?? ''));
    const out = await this.exports.pem(p, id, asFile ? 'file' : 'json');
    if (!asFile) return out;
    return new StreamableFile(Buffer.from(out.full_chain_pem, 'utf8'), {
      type: 'application/x-pem-file',
      disposition: `attachment; filename="${this.exports.pemFileName(id)}"`,
    });
  }

  @Post(':id/export/pkcs12')
  @HttpCode(200)
  @RequirePermission('cert.issue')
  @ApiOperation({
    operationId: 'exportCertificatePkcs12',
    summary: 'The latest version with its server-held private key as PKCS#12 (AES-256, PBKDF2)',
    description:
      'Only for keys the server generated (CERTCTL_KEYGEN_MODE=server). Needs cert.issue and cert.read; ' +
      'rate limited per actor per hour (CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR); audited.',
  })
  @ApiProduces('application/x-pkcs12')
  @ApiOkResponse({ description: 'The PKCS#12 file', schema: { type: 'string', format: 'binary' } })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown, or never issued' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The server never held the key (agent keygen mode)' })
  @ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'Hourly export budget spent; see Retry-After' })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'Redis (the rate limiter) is unavailable' })
  async exportPkcs12(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: Pkcs12ExportDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StreamableFile> {
    const file = await this.exports.pkcs12(p, id, body.password).catch((e: unknown) => {
      const wait = retryAfterOf(e);
      if (wait !== undefined) res.setHeader('Retry-After', String(wait));
      throw e;
    });
    res.setHeader('Cache-Control', 'no-store');
    return new StreamableFile(file.bytes, {
      type: 'application/x-pkcs12',
      disposition: `attachment; filename="${file.filename}"`,
      length: file.bytes.byteLength,
    });
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @RequirePermission('cert.revoke')
  @ApiOperation({
    operationId: 'revokeCertificate',
    summary: 'Revoke the latest issued version (RFC 5280 reason); revoking again is a no-op',
  })
  @ApiOkResponse({ type: CertificateDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Archived, or never issued' })
  revoke(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: RevokeCertificateDto,
  ): Promise<CertificateDto> {
    return this.revocation.revoke(p, id, body);
  }

  @Get(':id/versions')
  @RequirePermission('cert.read')
  @ApiOperation({
    operationId: 'listCertificateVersions',
    summary: 'List the issued versions of a certificate (newest first)',
  })
  @ApiOkResponse({ type: CertificateVersionPageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  versions(@Param('id') id: string, @Query() q: CertificateVersionListQueryDto): Promise<CertificateVersionPageDto> {
    return this.certs.versions(id, q) as Promise<CertificateVersionPageDto>;
  }

  @Get(':id/deployments')
  @RequirePermission('cert.read')
  @ApiOperation({
    operationId: 'listCertificateDeployments',
    summary: 'List the deployment targets of a certificate with their latest deployment job',
  })
  @ApiOkResponse({ type: CertificateDeploymentListDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  deployments(@Param('id') id: string): Promise<CertificateDeploymentListDto> {
    return this.certs.deployments(id);
  }
}
