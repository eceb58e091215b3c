import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { LoopName } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { LoopRegistry } from '../scheduler/loop-registry';
import { AcmeService } from './acme.service';

/** Failed orders that never produced a certificate are kept this long for support questions. */
const KEEP_INVALID_DAYS = 30;

/**
 * ACME clean-up loop (once per tick across replicas, every CERTCTL_ACME_SERVER_GC_INTERVAL). Nonces need none: Redis expires them.
 * Orders and authorizations past their expiry are marked as RFC 8555 says (order `invalid`,
 * authorization `expired`), so they are right even when no client reads them again; old
 * failed orders without a certificate (and their authorizations) are deleted. A challenge
 * left `processing` because its validation job was lost in Redis is queued again.
 */
@Injectable()
export class AcmeGc implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly loops: LoopRegistry,
    private readonly acme: AcmeService,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.loops.register({
      name: LoopName.AcmeGc,
      everyMs: this.config.acme.gcIntervalMs,
      maxRunMs: Math.max(this.config.acme.gcIntervalMs, 60_000),
      run: async () => {
        await this.run();
      },
    });
  }

  async run(): Promise<{
    expiredOrders: number;
    expiredAuthorizations: number;
    deletedOrders: number;
    requeuedChallenges: number;
  }> {
    const [, expiredOrders] = await this.ds.query<[unknown, number]>(
      `UPDATE acme_orders SET status = 'invalid', error = $1, updated_at = now()
        WHERE status IN ('pending', 'ready') AND expires_at <= now()`,
      [JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'the order expired' })],
    );
    const [, expiredAuthorizations] = await this.ds.query<[unknown, number]>(
      `UPDATE acme_authorizations SET status = 'expired' WHERE status IN ('pending', 'valid') AND expires_at <= now()`,
    );
    const [, deletedOrders] = await this.ds.query<[unknown, number]>(
      `DELETE FROM acme_orders WHERE status = 'invalid' AND certificate_id IS NULL
          AND updated_at < now() - make_interval(days => $1)`,
      [KEEP_INVALID_DAYS],
    );
    const requeuedChallenges = (await this.acme.requeueStuckChallenges()).length;
    return { expiredOrders, expiredAuthorizations, deletedOrders, requeuedChallenges };
  }
}
