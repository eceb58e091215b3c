import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/config.schema';
import { RedisService } from '../redis/redis.service';

const NONCE_FORM = /^[A-Za-z0-9_-]{22}$/;

/**
 * Anti-replay nonces (RFC 8555 6.5) in Redis, so every replica accepts a nonce any other
 * one issued; GETDEL redeems a nonce exactly once even when two requests race with it.
 */
@Injectable()
export class AcmeNonces {
  constructor(
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  async issue(): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    // An unused nonce stays redeemable for CERTCTL_ACME_SERVER_NONCE_TTL; Redis expires it.
    await this.redis.client.set(this.redis.key('acme', 'nonce', nonce), '1', 'PX', this.config.acme.nonceTtlMs);
    return nonce;
  }

  /** True when the nonce was issued here, is unexpired and was not used before (it is now). */
  async redeem(nonce: string): Promise<boolean> {
    if (!NONCE_FORM.test(nonce)) return false;
    return (await this.redis.client.getdel(this.redis.key('acme', 'nonce', nonce))) === '1';
  }
}
