import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { DomainError, ErrorCode, forbidden, unauthenticated } from '@certctl/domain';
import type { CertctlRequest, Principal } from '../http/request-context';
import { ACCESS_POLICY, type AccessPolicy } from './access-policy.decorator';
import { AGENT_BOOTSTRAP, AgentBootstrapService } from './agent-bootstrap';
import { bearerToken } from './api-key';
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
    private readonly agentBootstrap: AgentBootstrapService,
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
    const agentBootstrap =
      this.agentBootstrap.enabled && this.reflector.get<boolean | undefined>(AGENT_BOOTSTRAP, ctx.getHandler());
    req.principal = agentBootstrap
      ? await this.authenticateAgentBootstrap(req, ctx.switchToHttp().getResponse<Response>())
      : await this.auth.authenticate(req.headers.authorization);
    if (policy.kind === 'permission' && !req.principal.permissions.has(policy.permission)) {
      throw forbidden(`permission ${policy.permission} is required for this operation`);
    }
    return true;
  }

  /**
   * A route that takes CERTCTL_AGENT_BOOTSTRAP_TOKEN as well as an API key (agent
   * registration): failed credentials are counted per source address (429 past the limit).
   */
  private async authenticateAgentBootstrap(req: CertctlRequest, res: Response): Promise<Principal> {
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      throw unauthenticated('missing credential: send Authorization: Bearer <agent bootstrap token or API key>');
    }
    const ip = req.ip ?? 'unknown';
    const withRetryAfter = (e: unknown): never => {
      const wait = e instanceof DomainError ? e.details?.retry_after_seconds : undefined;
      if (typeof wait === 'number') res.setHeader('Retry-After', String(wait));
      throw e;
    };
    if (this.agentBootstrap.matches(token)) {
      await this.agentBootstrap.assertNotLockedOut(ip).catch(withRetryAfter);
      return this.agentBootstrap.principal();
    }
    try {
      return await this.auth.authenticate(req.headers.authorization);
    } catch (e) {
      if (!(e instanceof DomainError) || e.code !== ErrorCode.Unauthenticated) throw e;
      return withRetryAfter(await this.agentBootstrap.failure(ip, 'invalid agent bootstrap token or API key'));
    }
  }
}
