import { Injectable } from '@nestjs/common';
import { DomainError, ErrorCode } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { RedisService, withTimeout } from '../redis/redis.service';

const WINDOW_MS = 3_600_000;

/**
 * Private-key exports per actor per hour (CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR): a
 * fixed window counted in Redis, so every replica shares one budget per actor. INCR and
 * PEXPIRE go in one MULTI, so a counter never outlives its window. Fails closed: without
 * Redis no key leaves the server.
 */
@Injectable()
export class ExportRateLimiter {
  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  /** Counts one export; 429 (with retry_after_seconds) once the actor's budget is spent. */
  async consume(actorId: string, now = Date.now()): Promise<void> {
    const limit = this.config.pki.exportRateLimitPerActorPerHour;
    const window = Math.floor(now / WINDOW_MS);
    const key = this.redis.key('cert-export', actorId, String(window));
    let count: number;
    try {
      const replies = await withTimeout(
        this.redis.client.multi().incr(key).pexpire(key, WINDOW_MS).exec(),
        2_000,
        'export rate limit',
      );
      const [err, value] = replies?.[0] ?? [new Error('no reply'), null];
      if (err) throw err;
      count = Number(value);
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `the export rate limiter is unavailable (${(e as Error).message}); try again later`,
      );
    }
    if (count > limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
      throw new DomainError(
        ErrorCode.RateLimited,
        `private key export limit reached: ${limit} per hour per actor; retry in ${retryAfter} s`,
        { retry_after_seconds: retryAfter, limit },
      );
    }
  }
}

/** The wait a rate-limit error asks for, to put in a Retry-After header. */
export function retryAfterOf(e: unknown): number | undefined {
  if (!(e instanceof DomainError) || e.code !== ErrorCode.RateLimited) return undefined;
  const s = e.details?.retry_after_seconds;
  return typeof s === 'number' ? s : undefined;
}
