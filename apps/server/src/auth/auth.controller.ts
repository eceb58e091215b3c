import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiGoneResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { gone, isPermission, PERMISSIONS } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { BootstrapTokenAuth, CurrentPrincipal, SelfService } from './access-policy.decorator';
import { AuthService } from './auth.service';
import {
  AuthCheckDto,
  AuthCheckQueryDto,
  AuthInfoDto,
  BootstrapRequestDto,
  BootstrapStatusDto,
  MeDto,
  MintedKeyDto,
  PermissionListDto,
} from './dto/auth.dto';

@ApiTags('auth')
@Controller('api/v1/auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly config: AppConfig,
  ) {}

  @Get('me')
  @SelfService()
  @ApiOperation({ operationId: 'getAuthMe', summary: 'The calling principal, its roles and permissions' })
  @ApiOkResponse({ type: MeDto })
  me(@CurrentPrincipal() p: Principal): MeDto {
    return {
      actor_id: p.actorId,
      actor_type: p.actorType,
      key_id: p.keyId,
      key_name: p.keyName,
      roles: [...p.roles].sort(),
      permissions: [...p.permissions].sort(),
    };
  }

  @Get('permissions')
  @SelfService()
  @ApiOperation({
    operationId: 'listAuthPermissions',
    summary: 'The permission catalogue, marking those the caller holds',
  })
  @ApiOkResponse({ type: PermissionListDto })
  permissions(@CurrentPrincipal() p: Principal): PermissionListDto {
    return {
      data: PERMISSIONS.map((name) => ({ name, granted: p.permissions.has(name) })),
      total: PERMISSIONS.length,
    };
  }

  @Get('info')
  @SelfService()
  @ApiOperation({ operationId: 'getAuthInfo', summary: 'How this server authenticates API callers' })
  @ApiOkResponse({ type: AuthInfoDto })
  info(): AuthInfoDto {
    return {
      auth_type: 'api-key',
      header: 'Authorization: Bearer <api key>',
      bootstrap_enabled: this.config.bootstrapToken !== undefined,
    };
  }

  @Get('check')
  @SelfService()
  @ApiOperation({ operationId: 'checkAuth', summary: 'Validate the credential; optionally test one permission' })
  @ApiOkResponse({ type: AuthCheckDto })
  check(@CurrentPrincipal() p: Principal, @Query() q: AuthCheckQueryDto): AuthCheckDto {
    if (q.permission === undefined) return { authenticated: true, actor_id: p.actorId };
    return {
      authenticated: true,
      actor_id: p.actorId,
      permission: q.permission,
      allowed: isPermission(q.permission) && p.permissions.has(q.permission),
    };
  }

  @Get('bootstrap')
  @BootstrapTokenAuth()
  @ApiOperation({
    operationId: 'getBootstrapStatus',
    summary: 'Whether the one-time bootstrap is still available (authenticate with the bootstrap token)',
  })
  @ApiOkResponse({ type: BootstrapStatusDto })
  @ApiGoneResponse({ description: 'Bootstrap has been used', type: ErrorResponseDto })
  async bootstrapStatus(): Promise<BootstrapStatusDto> {
    if (!(await this.auth.bootstrapAvailable())) throw gone('bootstrap has already been used');
    return { available: true };
  }

  @Post('bootstrap')
  @HttpCode(201)
  @BootstrapTokenAuth()
  @ApiOperation({
    operationId: 'consumeBootstrap',
    summary: 'Mint the first admin API key with CERTCTL_BOOTSTRAP_TOKEN (once; 410 afterwards)',
  })
  @ApiCreatedResponse({ type: MintedKeyDto })
  @ApiGoneResponse({ description: 'Bootstrap has been used', type: ErrorResponseDto })
  bootstrap(@Body() body: BootstrapRequestDto): Promise<MintedKeyDto> {
    return this.auth.consumeBootstrap(body.name);
  }
}
