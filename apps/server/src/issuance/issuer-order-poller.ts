import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Job } from 'bullmq';
import { LoopName, QueueName, type PollIssuerOrderPayload } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { LoopRegistry } from '../scheduler/loop-registry';
import { IssuanceService, type OrderPollResult } from './issuance.service';
import { IssuerOrderQueue } from './issuer-order-queue';
import { IssuerOrdersRepository } from './issuer-orders.repository';

/**
 * Polls pending CA orders. Each message is one poll, bounded by CERTCTL_ISSUER_POLL_TIMEOUT,
 * and several run at once, so a hung CA holds one slot for at most that long and never
 * blocks the orders of other issuers.
 */
@Processor(QueueName.IssuerOrders, { concurrency: 4 })
export class IssuerOrderWorker extends WorkerHost {
  private readonly logger = new Logger(IssuerOrderWorker.name);

  constructor(private readonly issuance: IssuanceService) {
    super();
  }

  async process(message: Job<PollIssuerOrderPayload>): Promise<OrderPollResult> {
    return this.issuance.pollOrder(message.data.job_id);
  }

  @OnWorkerEvent('failed')
  onFailed(message: Job | undefined, err: Error): void {
    this.logger.error(`order poll ${message?.id ?? '?'} crashed: ${err.message}`);
  }
}

/** The safety net: enqueues due polls (messages lost with Redis) and drops settled orders. */
@Injectable()
export class IssuerOrderLoop implements OnModuleInit {
  constructor(
    private readonly loops: LoopRegistry,
    private readonly orders: IssuerOrdersRepository,
    private readonly queue: IssuerOrderQueue,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const everyMs = Math.min(Math.max(this.config.issuance.orderPoll.initialMs, 100), 60_000);
    this.loops.register({
      name: LoopName.IssuerOrderPoll,
      everyMs,
      maxRunMs: Math.max(everyMs * 4, 60_000),
      run: async () => {
        for (const o of await this.orders.due(this.config.jobs.claimLimit)) {
          await this.queue.schedule(o.job_id, 0, o.polls);
        }
        await this.orders.removeSettled();
      },
    });
  }
}
