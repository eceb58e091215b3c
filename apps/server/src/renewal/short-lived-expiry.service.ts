import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { LoopName } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { LoopRegistry } from '../scheduler/loop-registry';
import { ShortLivedExpiryRepository } from './short-lived-expiry.repository';

export const SHORT_LIVED_EXPIRY_BATCH_SIZE = 1000;

/**
 * Short-lived certificates (profile max TTL under an hour) expire within minutes and are
 * left out of CRLs: this loop (every CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL) marks
 * them Expired soon after they do, instead of waiting for the hourly renewal check,
 * which leaves them alone.
 */
@Injectable()
export class ShortLivedExpiryService implements OnModuleInit {
  private readonly logger = new Logger(ShortLivedExpiryService.name);

  constructor(
    private readonly loops: LoopRegistry,
    private readonly repo: ShortLivedExpiryRepository,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const every = this.config.scheduler.shortLivedIntervalMs;
    this.loops.register({
      name: LoopName.ShortLivedExpiry,
      everyMs: every,
      maxRunMs: Math.max(every * 4, 60_000),
      run: async () => {
        await this.run();
      },
    });
  }

  /** One tick (batches of 1000 until none are due); returns how many expired. */
  async run(opts: { batchSize?: number } = {}): Promise<number> {
    const batchSize = opts.batchSize ?? SHORT_LIVED_EXPIRY_BATCH_SIZE;
    let total = 0;
    for (;;) {
      const n = (await this.repo.expireBatch(batchSize)).length;
      total += n;
      if (n < batchSize) break;
    }
    if (total > 0) this.logger.log(`short-lived expiry: ${total} certificate(s) marked Expired`);
    return total;
  }
}
