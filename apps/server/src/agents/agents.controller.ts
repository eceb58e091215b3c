import { Body, Controller, Delete, Get, HttpCode, Ip, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiGoneResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { AcceptsAgentBootstrapToken } from '../auth/agent-bootstrap';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { AgentsService } from './agents.service';
import {
  AgentDto,
  AgentListQueryDto,
  AgentPageDto,
  AgentRetireBlockedDto,
  HeartbeatDto,
  RegisterAgentDto,
  RegisteredAgentDto,
  RetireAgentQueryDto,
  RetireAgentResponseDto,
} from './dto/agent.dto';

@ApiTags('agents')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  @RequirePermission('agent.read')
  @ApiOperation({ operationId: 'listAgents', summary: 'List agents (retired ones excluded)' })
  @ApiOkResponse({ type: AgentPageDto })
  list(@Query() q: AgentListQueryDto): Promise<AgentPageDto> {
    return this.agents.list(q) as Promise<AgentPageDto>;
  }

  @Post()
  @RequirePermission('agent.edit')
  @AcceptsAgentBootstrapToken()
  @ApiOperation({
    operationId: 'registerAgent',
    summary: 'Register an agent; the response carries its API key, shown only this once',
    description:
      'Authenticate with an API key granting agent.edit or, when the server sets CERTCTL_AGENT_BOOTSTRAP_TOKEN, ' +
      'with that token as the bearer (an agent enrolling itself). Failed credentials are counted per source ' +
      'address: past 10 in 15 minutes the address gets 429 until the window ends.',
  })
  @ApiCreatedResponse({ type: RegisteredAgentDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id, or the name of an active agent, is taken' })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'Too many failed credentials from this address; see Retry-After',
  })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description: 'The bootstrap token cannot be accepted while the rate limiter (Redis) is unreachable',
  })
  register(
    @CurrentPrincipal() p: Principal,
    @Body() body: RegisterAgentDto,
    @Ip() sourceIp: string,
  ): Promise<RegisteredAgentDto> {
    return this.agents.register(p, body, sourceIp);
  }

  // Declared before `:id` so that `retired` is not read as an agent id.
  @Get('retired')
  @RequirePermission('agent.read')
  @ApiOperation({ operationId: 'listRetiredAgents', summary: 'List retired agents' })
  @ApiOkResponse({ type: AgentPageDto })
  listRetired(@Query() q: AgentListQueryDto): Promise<AgentPageDto> {
    return this.agents.listRetired(q) as Promise<AgentPageDto>;
  }

  @Get(':id')
  @RequirePermission('agent.read')
  @ApiOperation({ operationId: 'getAgent', summary: 'Get an agent (retired ones too)' })
  @ApiOkResponse({ type: AgentDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<AgentDto> {
    return this.agents.get(id);
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  @RequirePermission('agent.heartbeat')
  @ApiOperation({
    operationId: 'agentHeartbeat',
    summary: 'Report liveness and metadata (an agent key may only beat for its own agent)',
  })
  @ApiOkResponse({ type: AgentDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiGoneResponse({ type: ErrorResponseDto, description: 'The agent is retired: stop sending heartbeats' })
  heartbeat(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: HeartbeatDto): Promise<AgentDto> {
    return this.agents.heartbeat(p, id, body);
  }

  @Delete(':id')
  @RequirePermission('agent.retire')
  @ApiOperation({
    operationId: 'retireAgent',
    summary:
      'Retire an agent (soft delete). 409 with dependency counts while it has live targets, certificates ' +
      'or open jobs, unless force=true&reason=...; 204 when already retired; 403 for built-in sentinel agents',
  })
  @ApiOkResponse({ type: RetireAgentResponseDto })
  @ApiNoContentResponse({ description: 'Already retired: nothing changed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: AgentRetireBlockedDto, description: 'Blocked by active dependencies' })
  async retire(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Query() q: RetireAgentQueryDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RetireAgentResponseDto | undefined> {
    const result = await this.agents.retire(p, id, q);
    if (result) return result;
    res.status(204);
    return undefined;
  }
}
