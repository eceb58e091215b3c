import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Permission } from '@certctl/domain';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { CertctlRequest, Principal } from '../http/request-context';

export const ACCESS_POLICY = 'certctl:access-policy';

/**
 * How a route is reached. Every route declares one; the guard denies routes that do not.
 * - permission: a valid API key whose roles grant the permission
 * - self: any valid API key; the route only answers about the caller
 * - bootstrap: the one-time CERTCTL_BOOTSTRAP_TOKEN instead of an API key
 * - public: no credential (health probes and protocol endpoints with their own auth)
 */
export type AccessPolicy =
  | { kind: 'permission'; permission: Permission }
  | { kind: 'self' }
  | { kind: 'bootstrap'; permission: Permission }
  | { kind: 'public' };

const authResponses = () => [
  ApiBearerAuth(),
  ApiUnauthorizedResponse({ description: 'Missing or invalid credential', type: ErrorResponseDto }),
];

export const RequirePermission = (permission: Permission): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_POLICY, { kind: 'permission', permission } satisfies AccessPolicy),
    ApiExtension('x-permission', permission),
    ...authResponses(),
    ApiForbiddenResponse({ description: `The caller lacks \`${permission}\``, type: ErrorResponseDto }),
  );

export const SelfService = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_POLICY, { kind: 'self' } satisfies AccessPolicy),
    ApiExtension('x-permission', 'authenticated'),
    ...authResponses(),
  );

export const BootstrapTokenAuth = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_POLICY, { kind: 'bootstrap', permission: 'auth.bootstrap.use' } satisfies AccessPolicy),
    ApiExtension('x-permission', 'auth.bootstrap.use'),
    ...authResponses(),
  );

export const Public = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_POLICY, { kind: 'public' } satisfies AccessPolicy);

/** The authenticated caller (set by the auth guard). */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<CertctlRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without authentication');
  return principal;
});
