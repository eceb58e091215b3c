import { Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { RedisService, withTimeout } from '../redis/redis.service';

const WINDOW_MS = 60_000;

/**
 * OCSP requests per source address per minute (CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN, 0 = off):
 * a fixed window counted in Redis, shared by every replica. Fails open: when Redis does not
 * answer, revocation status stays available (relying parties depend on it) and a warning
 * is logged.
 */
@Injectable()
export class OcspRateLimiter {
  private readonly logger = new Logger(OcspRateLimiter.name);

  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.pki.ocspRateLimitPerIpPerMin > 0;
  }

  /** Counts one request from `ip`; a 429 DomainError (retry_after_seconds) over the limit. */
  async consume(ip: string, now = Date.now()): Promise<void> {
    const limit = this.config.pki.ocspRateLimitPerIpPerMin;
    if (limit <= 0) return;
    const window = Math.floor(now / WINDOW_MS);
    const key = this.redis.key('ocsp-rate', ip, String(window));
    let count: number;
    try {
      const replies = await withTimeout(
        this.redis.client.multi().incr(key).pexpire(key, WINDOW_MS).exec(),
        1_000,
        'OCSP rate limit',
      );
      const [err, value] = replies?.[0] ?? [new Error('no reply'), null];
      if (err) throw err;
      count = Number(value);
    } catch (e) {
      this.logger.warn(`OCSP rate limiter unavailable, not limiting: ${(e as Error).message}`);
      return;
    }
    if (count > limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
      throw new DomainError(
        ErrorCode.RateLimited,
        `OCSP rate limit reached: ${limit} requests per minute per address; retry in ${retryAfter} s`,
        { retry_after_seconds: retryAfter, limit },
      );
    }
  }
}
