import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { notFound } from '@certctl/domain';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import type { Principal } from '../http/request-context';
import { streamAuditExport } from './audit-export';
import { ErrorResponseDto } from '../http/error-response.dto';
import { AuditRepository } from './audit.repository';
import { AuditEventDto, AuditEventPageDto, AuditExportQueryDto, AuditListQueryDto } from './dto/audit-event.dto';

@ApiTags('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly repo: AuditRepository) {}

  @Get()
  @RequirePermission('audit.read')
  @ApiOperation({ operationId: 'listAuditEvents', summary: 'The audit trail, newest first by default' })
  @ApiOkResponse({ type: AuditEventPageDto })
  list(@Query() q: AuditListQueryDto): Promise<AuditEventPageDto> {
    return this.repo.list(q) as Promise<AuditEventPageDto>;
  }

  @Get('export')
  @RequirePermission('audit.export')
  @ApiOperation({
    operationId: 'exportAuditEvents',
    summary: 'Stream the audit trail (oldest first) as CSV or a JSON array',
  })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ description: 'The matching events, streamed', type: [AuditEventDto] })
  async export(@CurrentPrincipal() p: Principal, @Query() q: AuditExportQueryDto, @Res() res: Response): Promise<void> {
    const format = q.format ?? 'json';
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    res.status(200);
    res.setHeader('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="certctl-audit-${stamp}.${format}"`);
    res.setHeader('Cache-Control', 'no-store');
    const { format: _f, ...filters } = q;
    const rows = await streamAuditExport(this.repo.scan(q), format, res);
    res.end();
    // The export itself is audited: who pulled which slice of the trail.
    await this.repo.transaction((m) =>
      this.repo.recordDomain(m, p, 'audit_exported', 'audit', '', { format, filters, rows }),
    );
  }

  @Get(':id')
  @RequirePermission('audit.read')
  @ApiOperation({ operationId: 'getAuditEvent', summary: 'One audit event' })
  @ApiOkResponse({ type: AuditEventDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  async get(@Param('id') id: string): Promise<AuditEventDto> {
    const e = await this.repo.findById(id);
    if (!e) throw notFound('audit event', id);
    return AuditEventDto.from(e);
  }
}
