import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';

/** How long an unused nonce stays redeemable. */
const NONCE_TTL_SECONDS = 3_600;
const NONCE_FORM = /^[A-Za-z0-9_-]{22}$/;

/**
 * Anti-replay nonces (RFC 8555 6.5) in Redis, so every replica accepts a nonce any other
 * one issued; GETDEL redeems a nonce exactly once even when two requests race with it.
 */
@Injectable()
export class AcmeNonces {
  constructor(private readonly redis: RedisService) {}

  async issue(): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    await this.redis.client.set(this.redis.key('acme', 'nonce', nonce), '1', 'EX', NONCE_TTL_SECONDS);
    return nonce;
  }

  /** True when the nonce was issued here, is unexpired and was not used before (it is now). */
  async redeem(nonce: string): Promise<boolean> {
    if (!NONCE_FORM.test(nonce)) return false;
    return (await this.redis.client.getdel(this.redis.key('acme', 'nonce', nonce))) === '1';
  }
}
