import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { forbidden } from '@certctl/domain';
import type { CertctlRequest } from '../http/request-context';
import { ACCESS_POLICY, type AccessPolicy } from './access-policy.decorator';
import { AuthService } from './auth.service';

/**
 * Authentication and authorization for every route, deny by default: a route without a
 * declared access policy is refused, a permission route needs a key whose roles grant it.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const policy = this.reflector.getAllAndOverride<AccessPolicy | undefined>(ACCESS_POLICY, [
      ctx.getHandler(),
      ctx.getClass(),
    ]);
    if (!policy) throw new ForbiddenException('this route declares no access policy and is denied by default');
    if (policy.kind === 'public') return true;

    const req = ctx.switchToHttp().getRequest<CertctlRequest>();
    if (policy.kind === 'bootstrap') {
      req.principal = this.auth.authenticateBootstrap(req.headers.authorization);
      return true;
    }
    req.principal = await this.auth.authenticate(req.headers.authorization);
    if (policy.kind === 'permission' && !req.principal.permissions.has(policy.permission)) {
      throw forbidden(`permission ${policy.permission} is required for this operation`);
    }
    return true;
  }
}
