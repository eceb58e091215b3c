import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { CertificatesService } from './certificates.service';
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
