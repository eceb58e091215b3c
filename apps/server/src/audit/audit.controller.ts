import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { notFound } from '@certctl/domain';
import { RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import { AuditRepository } from './audit.repository';
import { AuditEventDto, AuditEventPageDto, AuditListQueryDto } from './dto/audit-event.dto';

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
