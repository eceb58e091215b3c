import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
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
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { CurrentPrincipal, RequirePermission } from './access-policy.decorator';
import {
  ApiKeyDto,
  ApiKeyListQueryDto,
  ApiKeyPageDto,
  CreateApiKeyDto,
  CreatedApiKeyDto,
  GrantRoleDto,
} from './dto/rbac.dto';
import { RbacService } from './rbac.service';

const ESCALATION = 'A caller can only hand out roles whose permissions it holds itself (403 naming the missing ones).';
const LAST_ADMIN = 'Refused with 409 when it would leave no active API key holding the admin role.';

@ApiTags('auth')
@Controller('api/v1/auth/keys')
export class KeysController {
  constructor(private readonly rbac: RbacService) {}

  @Get()
  @RequirePermission('auth.key.list')
  @ApiOperation({
    operationId: 'listAuthKeys',
    summary: 'API keys (never their secrets); revoked keys only with include_revoked=true',
  })
  @ApiOkResponse({ type: ApiKeyPageDto })
  @ApiBadRequestResponse({ description: 'Invalid list parameters', type: ErrorResponseDto })
  list(@Query() q: ApiKeyListQueryDto): Promise<ApiKeyPageDto> {
    return this.rbac.listKeys(q) as Promise<ApiKeyPageDto>;
  }

  @Post()
  @HttpCode(201)
  @RequirePermission('auth.key.create')
  @ApiOperation({
    operationId: 'createAuthKey',
    summary: 'Create an API key with roles; the secret is returned once',
    description: ESCALATION,
  })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiBadRequestResponse({ description: 'Invalid body, unknown role or past expiry', type: ErrorResponseDto })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    return this.rbac.createKey(p, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('auth.key.delete')
  @ApiOperation({
    operationId: 'revokeAuthKey',
    summary: 'Revoke an API key (the record is kept; revoking twice is a no-op)',
    description: LAST_ADMIN,
  })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The last active admin key', type: ErrorResponseDto })
  async revoke(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    await this.rbac.revokeKey(p, id);
  }

  @Post(':id/rotate')
  @HttpCode(201)
  @RequirePermission('auth.key.rotate')
  @ApiOperation({
    operationId: 'rotateAuthKey',
    summary: 'Replace a key’s secret: a new key for the same actor and roles; the old one is revoked',
    description: ESCALATION,
  })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The key is revoked or expired', type: ErrorResponseDto })
  rotate(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<CreatedApiKeyDto> {
    return this.rbac.rotateKey(p, id);
  }

  @Post(':id/roles')
  @HttpCode(200)
  @RequirePermission('auth.role.assign')
  @ApiOperation({ operationId: 'grantAuthKeyRole', summary: 'Grant a role to a key’s actor', description: ESCALATION })
  @ApiOkResponse({ type: ApiKeyDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ description: 'No such key or role', type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The key is revoked', type: ErrorResponseDto })
  grantRole(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: GrantRoleDto): Promise<ApiKeyDto> {
    return this.rbac.grantRole(p, id, body.role_id);
  }

  @Delete(':id/roles/:role_id')
  @RequirePermission('auth.role.revoke')
  @ApiOperation({
    operationId: 'revokeAuthKeyRole',
    summary: 'Take a role from a key’s actor (role id or name)',
    description: LAST_ADMIN,
  })
  @ApiOkResponse({ type: ApiKeyDto })
  @ApiNotFoundResponse({ description: 'No such key or role, or the key lacks the role', type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The last active admin', type: ErrorResponseDto })
  revokeRole(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Param('role_id') roleId: string,
  ): Promise<ApiKeyDto> {
    return this.rbac.revokeRole(p, id, roleId);
  }
}
