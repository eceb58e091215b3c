import { applyDecorators, Injectable, Logger, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import { DomainError, ErrorCode, IdPrefix, newId, unauthenticated, type Permission } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { AppConfig } from '../config/config.schema';
import type { Principal } from '../http/request-context';
import { RedisService, withTimeout } from '../redis/redis.service';
import { digestsEqual, hashApiKey } from './api-key';

export const AGENT_BOOTSTRAP = 'certctl:agent-bootstrap';

/** The actor of registrations made with CERTCTL_AGENT_BOOTSTRAP_TOKEN. */
export const AGENT_BOOTSTRAP_ACTOR = 'agent-bootstrap-token';

/** Failed credentials per source address and window before the address is locked out of the route. */
export const AGENT_BOOTSTRAP_MAX_FAILURES = 10;
export const AGENT_BOOTSTRAP_WINDOW_MS = 15 * 60_000;

/**
 * On a route that also has @RequirePermission: the bearer may be CERTCTL_AGENT_BOOTSTRAP_TOKEN
 * instead of an API key (only agent registration uses it).
 */
export const AcceptsAgentBootstrapToken = (): MethodDecorator =>
  applyDecorators(
    SetMetadata(AGENT_BOOTSTRAP, true),
    ApiExtension('x-agent-bootstrap-token', 'accepted when CERTCTL_AGENT_BOOTSTRAP_TOKEN is set'),
  );

/**
 * CERTCTL_AGENT_BOOTSTRAP_TOKEN: compared in constant time (SHA-256 digests), and failed
 * credentials on the route counted per source address in Redis (a fixed window shared by
 * every replica). Past AGENT_BOOTSTRAP_MAX_FAILURES the address gets 429 until the window
 * ends, even with the right token. Accepting the token needs Redis (fails closed: 503), so
 * a Redis outage cannot be used to guess without a count.
 */
@Injectable()
export class AgentBootstrapService {
  private readonly logger = new Logger(AgentBootstrapService.name);
  private readonly tokenHash?: string;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    private readonly audit: AuditRepository,
  ) {
    this.tokenHash = config.agentBootstrapToken ? hashApiKey(config.agentBootstrapToken) : undefined;
  }

  get enabled(): boolean {
    return this.tokenHash !== undefined;
  }

  matches(token: string): boolean {
    return this.tokenHash !== undefined && digestsEqual(this.tokenHash, hashApiKey(token));
  }

  /** The principal of a caller that presented the token (only `agent.edit`, only on this route). */
  principal(): Principal {
    const permissions = new Set<Permission>(['agent.edit']);
    return { actorId: AGENT_BOOTSTRAP_ACTOR, actorType: 'System', roles: [], permissions };
  }

  /** Before accepting the right token: 429 while the address is locked out, 503 without Redis. */
  async assertNotLockedOut(ip: string, now = Date.now()): Promise<void> {
    const { key, retryAfter } = this.window(ip, now);
    let count: number;
    try {
      count = Number((await withTimeout(this.redis.client.get(key), 2_000, 'agent bootstrap rate limit')) ?? 0);
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `agent registration is unavailable: its rate limiter cannot reach Redis (${(e as Error).message}); retry later`,
      );
    }
    if (count >= AGENT_BOOTSTRAP_MAX_FAILURES) throw this.lockedOut(retryAfter);
  }

  /**
   * Counts one failed credential and returns the error to throw: 401, or 429 once the
   * address is over the limit (the first time with an audit row). Without Redis, 401.
   */
  async failure(ip: string, reason: string, now = Date.now()): Promise<DomainError> {
    const { key, retryAfter } = this.window(ip, now);
    let count = 0;
    try {
      const replies = await withTimeout(
        this.redis.client.multi().incr(key).pexpire(key, AGENT_BOOTSTRAP_WINDOW_MS).exec(),
        2_000,
        'agent bootstrap rate limit',
      );
      const [err, value] = replies?.[0] ?? [new Error('no reply'), null];
      if (err) throw err;
      count = Number(value);
    } catch (e) {
      this.logger.warn(`agent bootstrap failure not counted: ${(e as Error).message}`);
    }
    if (count === AGENT_BOOTSTRAP_MAX_FAILURES + 1) {
      this.audit
        .insert({
          id: newId(IdPrefix.AuditEvent),
          category: 'domain',
          actor: 'anonymous',
          actorType: 'Anonymous',
          action: 'agent_bootstrap_locked_out',
          resourceType: 'agent',
          resourceId: 'registration',
          details: {
            source_ip: ip,
            failures: count - 1,
            window_seconds: AGENT_BOOTSTRAP_WINDOW_MS / 1000,
            retry_after_seconds: retryAfter,
          },
        })
        .catch((e: Error) => this.logger.warn(`agent bootstrap lockout audit failed: ${e.message}`));
    }
    if (count > AGENT_BOOTSTRAP_MAX_FAILURES) return this.lockedOut(retryAfter);
    return unauthenticated(reason);
  }

  private window(ip: string, now: number): { key: string; retryAfter: number } {
    const w = Math.floor(now / AGENT_BOOTSTRAP_WINDOW_MS);
    return {
      key: this.redis.key('agent-bootstrap-fail', ip, String(w)),
      retryAfter: Math.max(1, Math.ceil(((w + 1) * AGENT_BOOTSTRAP_WINDOW_MS - now) / 1000)),
    };
  }

  private lockedOut(retryAfter: number): DomainError {
    return new DomainError(
      ErrorCode.RateLimited,
      `too many failed agent registration credentials from this address ` +
        `(${AGENT_BOOTSTRAP_MAX_FAILURES} per ${AGENT_BOOTSTRAP_WINDOW_MS / 60_000} minutes); retry in ${retryAfter} s`,
      { retry_after_seconds: retryAfter, limit: AGENT_BOOTSTRAP_MAX_FAILURES },
    );
  }
}
