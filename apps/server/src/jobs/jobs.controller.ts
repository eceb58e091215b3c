import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { JobDto, JobListQueryDto, JobPageDto } from './dto/job.dto';
import { JobsService } from './jobs.service';

export class CancelJobDto {
  @ApiPropertyOptional({ example: 'superseded by a manual renewal' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

@ApiTags('jobs')
@Controller('api/v1/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get()
  @RequirePermission('job.read')
  @ApiOperation({ operationId: 'listJobs', summary: 'List jobs (newest first by default)' })
  @ApiOkResponse({ type: JobPageDto })
  list(@Query() q: JobListQueryDto): Promise<JobPageDto> {
    return this.jobs.list(q) as Promise<JobPageDto>;
  }

  @Get(':id')
  @RequirePermission('job.read')
  @ApiOperation({ operationId: 'getJob', summary: 'Get a job' })
  @ApiOkResponse({ type: JobDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<JobDto> {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequirePermission('job.cancel')
  @ApiOperation({ operationId: 'cancelJob', summary: 'Cancel a job that is not running' })
  @ApiOkResponse({ type: JobDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Running, completed or already cancelled' })
  cancel(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: CancelJobDto): Promise<JobDto> {
    return this.jobs.cancel(p, id, body.reason);
  }
}
