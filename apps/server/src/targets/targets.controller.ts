import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import {
  CreateTargetDto,
  RetireTargetQueryDto,
  TargetDto,
  TargetListQueryDto,
  TargetPageDto,
  TargetTestResultDto,
  UpdateTargetDto,
} from './dto/target.dto';
import { TargetsService } from './targets.service';

@ApiTags('targets')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/targets')
export class TargetsController {
  constructor(private readonly targets: TargetsService) {}

  @Get()
  @RequirePermission('target.read')
  @ApiOperation({
    operationId: 'listTargets',
    summary: 'List deployment targets (live ones unless include_retired=true; secrets read "[REDACTED]")',
  })
  @ApiOkResponse({ type: TargetPageDto })
  list(@Query() q: TargetListQueryDto): Promise<TargetPageDto> {
    return this.targets.list(q) as Promise<TargetPageDto>;
  }

  @Post()
  @RequirePermission('target.edit')
  @ApiOperation({
    operationId: 'createTarget',
    summary: 'Create a deployment target',
    description:
      "The config is validated against the type's schema; secret fields are sealed at rest, which needs " +
      'CERTCTL_CONFIG_ENCRYPTION_KEY on the server (400 without it). agent_id must name a live agent.',
  })
  @ApiCreatedResponse({ type: TargetDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id, or the name on this agent, is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateTargetDto): Promise<TargetDto> {
    return this.targets.create(p, body);
  }

  @Get(':id')
  @RequirePermission('target.read')
  @ApiOperation({ operationId: 'getTarget', summary: 'Get a deployment target (secrets read "[REDACTED]")' })
  @ApiOkResponse({ type: TargetDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<TargetDto> {
    return this.targets.get(id);
  }

  @Put(':id')
  @RequirePermission('target.edit')
  @ApiOperation({
    operationId: 'updateTarget',
    summary: 'Update a deployment target',
    description:
      'A given config replaces the stored one; a secret sent as "[REDACTED]" or omitted keeps its stored ' +
      'value, a new value replaces it, null clears it. Changing the type re-validates the whole config. ' +
      '409 for a retired target.',
  })
  @ApiOkResponse({ type: TargetDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'The stored secrets cannot be opened' })
  update(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: UpdateTargetDto): Promise<TargetDto> {
    return this.targets.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('target.delete')
  @ApiOperation({
    operationId: 'deleteTarget',
    summary: 'Retire a deployment target (soft delete; 409 while certificates are mapped to it)',
  })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Query() q: RetireTargetQueryDto): Promise<void> {
    return this.targets.retire(p, id, q.reason);
  }

  @Post(':id/test')
  @HttpCode(200)
  @RequirePermission('target.edit')
  @ApiOperation({
    operationId: 'testTarget',
    summary: "Validate a target's configuration and report whether its agent is online",
    description: 'Agents deploy; the server never connects to the target itself.',
  })
  @ApiOkResponse({ type: TargetTestResultDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'The stored secrets cannot be opened' })
  test(@Param('id') id: string): Promise<TargetTestResultDto> {
    return this.targets.test(id);
  }
}
