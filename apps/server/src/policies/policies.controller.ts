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
  CreatePolicyRuleDto,
  PolicyRuleDto,
  PolicyRuleListQueryDto,
  PolicyRulePageDto,
  PolicyViolationListQueryDto,
  PolicyViolationPageDto,
  UpdatePolicyRuleDto,
} from './dto/policy.dto';
import { PoliciesService } from './policies.service';

@ApiTags('policies')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/policies')
export class PoliciesController {
  constructor(private readonly policies: PoliciesService) {}

  @Get()
  @RequirePermission('policy.read')
  @ApiOperation({ operationId: 'listPolicies', summary: 'List policy rules' })
  @ApiOkResponse({ type: PolicyRulePageDto })
  list(@Query() q: PolicyRuleListQueryDto): Promise<PolicyRulePageDto> {
    return this.policies.list(q) as Promise<PolicyRulePageDto>;
  }

  @Post()
  @RequirePermission('policy.edit')
  @ApiOperation({
    operationId: 'createPolicy',
    summary: 'Create a policy rule',
    description: 'An enabled rule is evaluated against every live certificate in the background after the response.',
  })
  @ApiCreatedResponse({ type: PolicyRuleDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or name is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreatePolicyRuleDto): Promise<PolicyRuleDto> {
    return this.policies.create(p, body);
  }

  @Get(':id')
  @RequirePermission('policy.read')
  @ApiOperation({ operationId: 'getPolicy', summary: 'Get a policy rule' })
  @ApiOkResponse({ type: PolicyRuleDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<PolicyRuleDto> {
    return this.policies.get(id);
  }

  @Put(':id')
  @RequirePermission('policy.edit')
  @ApiOperation({
    operationId: 'updatePolicy',
    summary: 'Update a policy rule (absent fields are kept)',
    description:
      'Disabling clears the rule’s violations at once; a new type or config, or enabling, re-evaluates every live certificate in the background.',
  })
  @ApiOkResponse({ type: PolicyRuleDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The name is taken' })
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: UpdatePolicyRuleDto,
  ): Promise<PolicyRuleDto> {
    return this.policies.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('policy.delete')
  @ApiOperation({ operationId: 'deletePolicy', summary: 'Delete a policy rule and its violations' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.policies.delete(p, id);
  }

  @Get(':id/violations')
  @RequirePermission('policy.read')
  @ApiOperation({
    operationId: 'listPolicyViolations',
    summary: 'List the certificates violating a policy rule (newest first)',
  })
  @ApiOkResponse({ type: PolicyViolationPageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  violations(@Param('id') id: string, @Query() q: PolicyViolationListQueryDto): Promise<PolicyViolationPageDto> {
    return this.policies.listViolations(id, q) as Promise<PolicyViolationPageDto>;
  }
}
