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
import { CreateTeamDto, TeamDto, TeamListQueryDto, TeamPageDto, UpdateTeamDto } from './dto/team.dto';
import { TeamsService } from './teams.service';

@ApiTags('teams')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/teams')
export class TeamsController {
  constructor(private readonly teams: TeamsService) {}

  @Get()
  @RequirePermission('team.read')
  @ApiOperation({ operationId: 'listTeams', summary: 'List teams' })
  @ApiOkResponse({ type: TeamPageDto })
  list(@Query() q: TeamListQueryDto): Promise<TeamPageDto> {
    return this.teams.list(q) as Promise<TeamPageDto>;
  }

  @Post()
  @RequirePermission('team.edit')
  @ApiOperation({ operationId: 'createTeam', summary: 'Create a team' })
  @ApiCreatedResponse({ type: TeamDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or name is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateTeamDto): Promise<TeamDto> {
    return this.teams.create(p, body);
  }

  @Get(':id')
  @RequirePermission('team.read')
  @ApiOperation({ operationId: 'getTeam', summary: 'Get a team' })
  @ApiOkResponse({ type: TeamDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<TeamDto> {
    return this.teams.get(id);
  }

  @Put(':id')
  @RequirePermission('team.edit')
  @ApiOperation({ operationId: 'updateTeam', summary: 'Update a team' })
  @ApiOkResponse({ type: TeamDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  update(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: UpdateTeamDto): Promise<TeamDto> {
    return this.teams.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('team.delete')
  @ApiOperation({ operationId: 'deleteTeam', summary: 'Delete a team (409 while owners or certificates reference it)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.teams.delete(p, id);
  }
}
