import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/config.schema';
import { RedisService, withTimeout } from '../redis/redis.service';
import { AcmeProblem } from './acme-problem';

const HOUR_MS = 3_600_000;

/**
 * Per-account ACME rate limits, counted in Redis so every replica shares them: a sliding
 * hour (a sorted set of request times, trimmed and counted in one MULTI), refused with
 * `rateLimited` and a Retry-After until the oldest counted request leaves the hour. The pending-order limit is read from Postgres by the
 * caller (the rows are the truth) and refused here with the same problem.
 */
@Injectable()
export class AcmeRateLimits {
  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  /** Counts one `what` for the account; throws rateLimited once over `limit` in the last hour. */
  async take(what: 'orders' | 'key-changes' | 'challenge-responds', accountId: string): Promise<void> {
    const r = this.config.acme.rateLimits;
    const limit = {
      orders: r.ordersPerHour,
      'key-changes': r.keyChangesPerHour,
      'challenge-responds': r.challengeRespondsPerHour,
    }[what];
    if (limit === 0) return;
    const now = Date.now();
    // A sliding hour: one sorted-set member per counted request, scored by its time.
    const key = this.redis.key('acme', 'rate', what, accountId);
    const member = `${now}-${randomBytes(6).toString('hex')}`;
    const replies = await withTimeout(
      this.redis.client
        .multi()
        .zremrangebyscore(key, 0, now - HOUR_MS)
        .zadd(key, now, member)
        .zcard(key)
        .zrange(key, 0, 0, 'WITHSCORES')
        .pexpire(key, HOUR_MS)
        .exec(),
      2_000,
      'ACME rate limit',
    );
    const count = Number(replies?.[2]?.[1] ?? 0);
    if (count > limit) {
      // A refused request does not count, or a client retrying would never get through.
      await withTimeout(this.redis.client.zrem(key, member), 2_000, 'ACME rate limit');
      const oldest = Number((replies?.[3]?.[1] as string[] | undefined)?.[1] ?? now);
      const retryAfter = Math.max(1, Math.ceil((oldest + HOUR_MS - now) / 1000));
      throw rateLimited(`at most ${limit} ${what.replaceAll('-', ' ')} per hour per account`, retryAfter);
    }
  }

  assertPending(pending: number): void {
    const limit = this.config.acme.rateLimits.pendingOrders;
    if (limit > 0 && pending >= limit) {
      throw rateLimited(`at most ${limit} pending orders per account: finish or let some expire first`, 60);
    }
  }
}

export function rateLimited(detail: string, retryAfterSeconds: number): AcmeProblem {
  return new AcmeProblem(429, 'rateLimited', detail, {}, { 'Retry-After': String(retryAfterSeconds) });
}
