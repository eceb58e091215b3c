import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode } from '@certctl/domain';
import { RedisService, withTimeout } from '../redis/redis.service';

/** How long a (transactionID, senderNonce) pair is remembered. */
export const SCEP_REPLAY_TTL_MS = 7 * 86_400_000;
const REDIS_TIMEOUT_MS = 2_000;

/**
 * - fresh: never seen: process it.
 * - resend: the very message we answered PENDING, sent again (see ScepReplayGuard).
 * - replay: seen before and not a resend we allow.
 */
export type ReplayVerdict = 'fresh' | 'resend' | 'replay';

/**
 * Replay protection for PKIMessages, shared by every replica through Redis: the first
 * sighting of a (label, transactionID, senderNonce) sets a key with SET NX; any later
 * sighting is a replay. Without Redis nothing is processed (fail closed: 503).
 *
 * One exception, because real clients depend on it: micromdm scepclient (and RFC 8894
 * 3.3.2's manual mode clients) answer PENDING by resending the identical message, same
 * senderNonce, until the request is decided. A message we answered PENDING is marked, and
 * its resends are only ever answered with the current state of that transaction: they never
 * create an enrollment, never pass a credential check again, and the answer is encrypted to
 * the original requester's certificate, so replaying it gains nothing. Once the transaction
 * is decided the mark becomes final and further copies are replays. A new request (new
 * nonce) is always checked in full.
 */
@Injectable()
export class ScepReplayGuard {
  private readonly logger = new Logger(ScepReplayGuard.name);

  constructor(private readonly redis: RedisService) {}

  async check(label: string, transactionId: string, senderNonce: Uint8Array): Promise<ReplayVerdict> {
    const key = this.key(label, transactionId, senderNonce);
    try {
      const set = await withTimeout(
        this.redis.client.set(key, 'seen', 'PX', SCEP_REPLAY_TTL_MS, 'NX'),
        REDIS_TIMEOUT_MS,
        'SCEP replay check',
      );
      if (set === 'OK') return 'fresh';
      const state = await withTimeout(this.redis.client.get(key), REDIS_TIMEOUT_MS, 'SCEP replay check');
      return state === 'pending' ? 'resend' : 'replay';
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `SCEP is unavailable: its replay protection cannot reach Redis (${(e as Error).message}); retry later`,
      );
    }
  }

  /** Marks a message answered PENDING (resends allowed) or decided (resends become replays). */
  async mark(label: string, transactionId: string, senderNonce: Uint8Array, state: 'pending' | 'done'): Promise<void> {
    const key = this.key(label, transactionId, senderNonce);
    try {
      await withTimeout(
        this.redis.client.set(key, state, 'PX', SCEP_REPLAY_TTL_MS, 'XX'),
        REDIS_TIMEOUT_MS,
        'SCEP replay mark',
      );
    } catch (e) {
      // Failing here only makes the client's resend look like a replay (it is refused): closed.
      this.logger.warn(`SCEP replay mark not stored: ${(e as Error).message}`);
    }
  }

  /** Forgets a message that was not processed (best effort: if this fails, a retry is refused). */
  async forget(label: string, transactionId: string, senderNonce: Uint8Array): Promise<void> {
    try {
      await withTimeout(
        this.redis.client.del(this.key(label, transactionId, senderNonce)),
        REDIS_TIMEOUT_MS,
        'SCEP replay forget',
      );
    } catch (e) {
      this.logger.warn(`SCEP replay key not released: ${(e as Error).message}`);
    }
  }

  private key(label: string, transactionId: string, senderNonce: Uint8Array): string {
    const id = createHash('sha256').update(transactionId).update('\0').update(senderNonce).digest('base64url');
    return this.redis.key('scep-nonce', label || 'default', id);
  }
}
