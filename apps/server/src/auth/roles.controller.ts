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
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { CurrentPrincipal, RequirePermission } from './access-policy.decorator';
import {
  CreateRoleDto,
  RoleDto,
  RoleListQueryDto,
  RolePageDto,
  RolePermissionsDto,
  UpdateRoleDto,
} from './dto/rbac.dto';
import { RbacService } from './rbac.service';

const ESCALATION = 'A caller can only put permissions it holds itself into a role (403 naming the missing ones).';

@ApiTags('auth')
@Controller('api/v1/auth/roles')
export class RolesController {
  constructor(private readonly rbac: RbacService) {}

  @Get()
  @RequirePermission('auth.role.list')
  @ApiOperation({ operationId: 'listAuthRoles', summary: 'Roles and their permissions' })
  @ApiOkResponse({ type: RolePageDto })
  @ApiBadRequestResponse({ description: 'Invalid list parameters', type: ErrorResponseDto })
  list(@Query() q: RoleListQueryDto): Promise<RolePageDto> {
    return this.rbac.listRoles(q) as Promise<RolePageDto>;
  }

  @Post()
  @HttpCode(201)
  @RequirePermission('auth.role.create')
  @ApiOperation({ operationId: 'createAuthRole', summary: 'Create a custom role', description: ESCALATION })
  @ApiCreatedResponse({ type: RoleDto })
  @ApiBadRequestResponse({ description: 'Invalid body or unknown permission', type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The id or name is taken', type: ErrorResponseDto })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateRoleDto): Promise<RoleDto> {
    return this.rbac.createRole(p, body);
  }

  @Get(':id')
  @RequirePermission('auth.role.list')
  @ApiOperation({ operationId: 'getAuthRole', summary: 'One role' })
  @ApiOkResponse({ type: RoleDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<RoleDto> {
    return this.rbac.getRole(id);
  }

  @Put(':id')
  @RequirePermission('auth.role.edit')
  @ApiOperation({
    operationId: 'updateAuthRole',
    summary: 'Replace a role’s name, description or permissions (each field given replaces the stored one)',
    description: `The built-in admin role cannot be modified; built-in roles cannot be renamed. ${ESCALATION}`,
  })
  @ApiOkResponse({ type: RoleDto })
  @ApiBadRequestResponse({ description: 'Invalid body or unknown permission', type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'Admin role, built-in rename or name taken', type: ErrorResponseDto })
  update(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: UpdateRoleDto): Promise<RoleDto> {
    return this.rbac.updateRole(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('auth.role.delete')
  @ApiOperation({
    operationId: 'deleteAuthRole',
    summary: 'Delete a custom role that no actor holds any more',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'Built-in role, or still granted to actors', type: ErrorResponseDto })
  async delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    await this.rbac.deleteRole(p, id);
  }

  @Post(':id/permissions')
  @HttpCode(200)
  @RequirePermission('auth.role.edit')
  @ApiOperation({
    operationId: 'addAuthRolePermissions',
    summary: 'Add permissions to a role',
    description: ESCALATION,
  })
  @ApiOkResponse({ type: RoleDto })
  @ApiBadRequestResponse({ description: 'Invalid body or unknown permission', type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The admin role cannot be modified', type: ErrorResponseDto })
  addPermissions(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: RolePermissionsDto,
  ): Promise<RoleDto> {
    return this.rbac.addRolePermissions(p, id, body.permissions);
  }

  @Delete(':id/permissions/:perm')
  @RequirePermission('auth.role.edit')
  @ApiOperation({ operationId: 'removeAuthRolePermission', summary: 'Remove one permission from a role' })
  @ApiOkResponse({ type: RoleDto })
  @ApiBadRequestResponse({ description: 'Not a permission name', type: ErrorResponseDto })
  @ApiNotFoundResponse({ description: 'No such role, or the role lacks the permission', type: ErrorResponseDto })
  @ApiConflictResponse({ description: 'The admin role cannot be modified', type: ErrorResponseDto })
  removePermission(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Param('perm') perm: string,
  ): Promise<RoleDto> {
    return this.rbac.removeRolePermission(p, id, perm);
  }
}
