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
import {
  CreateRenewalPolicyDto,
  RenewalPolicyDto,
  RenewalPolicyListQueryDto,
  RenewalPolicyPageDto,
  UpdateRenewalPolicyDto,
} from './dto/renewal-policy.dto';
import { RenewalPoliciesService } from './renewal-policies.service';

@ApiTags('renewal-policies')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/renewal-policies')
export class RenewalPoliciesController {
  constructor(private readonly policies: RenewalPoliciesService) {}

  @Get()
  @RequirePermission('policy.read')
  @ApiOperation({ operationId: 'listRenewalPolicies', summary: 'List renewal policies' })
  @ApiOkResponse({ type: RenewalPolicyPageDto })
  list(@Query() q: RenewalPolicyListQueryDto): Promise<RenewalPolicyPageDto> {
    return this.policies.list(q) as Promise<RenewalPolicyPageDto>;
  }

  @Post()
  @RequirePermission('policy.edit')
  @ApiOperation({ operationId: 'createRenewalPolicy', summary: 'Create a renewal policy' })
  @ApiCreatedResponse({ type: RenewalPolicyDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or name is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateRenewalPolicyDto): Promise<RenewalPolicyDto> {
    return this.policies.create(p, body);
  }

  @Get(':id')
  @RequirePermission('policy.read')
  @ApiOperation({ operationId: 'getRenewalPolicy', summary: 'Get a renewal policy' })
  @ApiOkResponse({ type: RenewalPolicyDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<RenewalPolicyDto> {
    return this.policies.get(id);
  }

  @Put(':id')
  @RequirePermission('policy.edit')
  @ApiOperation({ operationId: 'updateRenewalPolicy', summary: 'Update a renewal policy (absent fields are kept)' })
  @ApiOkResponse({ type: RenewalPolicyDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The name is taken' })
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: UpdateRenewalPolicyDto,
  ): Promise<RenewalPolicyDto> {
    return this.policies.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('policy.delete')
  @ApiOperation({
    operationId: 'deleteRenewalPolicy',
    summary: 'Delete a renewal policy (409 while certificates use it)',
  })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.policies.delete(p, id);
  }
}
