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
import { ListQueryDto } from '../http/list-query.dto';
import type { Principal } from '../http/request-context';
import { AgentGroupsService } from './agent-groups.service';
import {
  AgentGroupDto,
  AgentGroupListQueryDto,
  AgentGroupMemberPageDto,
  AgentGroupPageDto,
  CreateAgentGroupDto,
  UpdateAgentGroupDto,
} from './dto/agent-group.dto';

@ApiTags('agent-groups')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/agent-groups')
export class AgentGroupsController {
  constructor(private readonly groups: AgentGroupsService) {}

  @Get()
  @RequirePermission('agent.read')
  @ApiOperation({ operationId: 'listAgentGroups', summary: 'List agent groups' })
  @ApiOkResponse({ type: AgentGroupPageDto })
  list(@Query() q: AgentGroupListQueryDto): Promise<AgentGroupPageDto> {
    return this.groups.list(q) as Promise<AgentGroupPageDto>;
  }

  @Post()
  @RequirePermission('agent.edit')
  @ApiOperation({ operationId: 'createAgentGroup', summary: 'Create an agent group' })
  @ApiCreatedResponse({ type: AgentGroupDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or name is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateAgentGroupDto): Promise<AgentGroupDto> {
    return this.groups.create(p, body);
  }

  @Get(':id')
  @RequirePermission('agent.read')
  @ApiOperation({ operationId: 'getAgentGroup', summary: 'Get an agent group' })
  @ApiOkResponse({ type: AgentGroupDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<AgentGroupDto> {
    return this.groups.get(id);
  }

  @Put(':id')
  @RequirePermission('agent.edit')
  @ApiOperation({ operationId: 'updateAgentGroup', summary: 'Update an agent group (given fields replace)' })
  @ApiOkResponse({ type: AgentGroupDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: UpdateAgentGroupDto,
  ): Promise<AgentGroupDto> {
    return this.groups.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('agent.edit')
  @ApiOperation({
    operationId: 'deleteAgentGroup',
    summary: 'Delete an agent group (409 while renewal policies reference it)',
  })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.groups.delete(p, id);
  }

  @Get(':id/members')
  @RequirePermission('agent.read')
  @ApiOperation({
    operationId: 'listAgentGroupMembers',
    summary: 'Current members: non-retired agents matching the criteria or included, minus excluded',
  })
  @ApiOkResponse({ type: AgentGroupMemberPageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  members(@Param('id') id: string, @Query() q: ListQueryDto): Promise<AgentGroupMemberPageDto> {
    return this.groups.members(id, q) as Promise<AgentGroupMemberPageDto>;
  }
}
