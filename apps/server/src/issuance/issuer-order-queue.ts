import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JobName, QueueName, type PollIssuerOrderPayload } from '@certctl/domain';

/** Poll settings of CERTCTL_ISSUER_POLL_INTERVAL / _MAX_INTERVAL. */
export interface OrderPollBackoff {
  initialMs: number;
  maxMs: number;
}

/**
 * The wait before poll number `polls + 1`: the initial interval doubled per pending answer,
 * capped at the max; a CA's Retry-After hint may lengthen it (never past the max) but not
 * shorten it below our own schedule.
 */
export function orderPollDelayMs(b: OrderPollBackoff, polls: number, retryAfterSeconds?: number): number {
  const base = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(polls, 30));
  const hint = retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) ? retryAfterSeconds * 1000 : 0;
  return Math.min(b.maxMs, Math.max(base, hint));
}

/**
 * Delayed BullMQ messages that trigger order polls. The schedule's truth is issuer_orders
 * (next_poll_at): a message lost with Redis only delays a poll until the safety-net loop
 * enqueues it again, and a duplicate finds the order leased or not due.
 */
@Injectable()
export class IssuerOrderQueue {
  private readonly logger = new Logger(IssuerOrderQueue.name);

  constructor(@InjectQueue(QueueName.IssuerOrders) private readonly queue: Queue) {}

  async schedule(jobId: string, delayMs: number, polls: number): Promise<void> {
    try {
      await this.queue.add(JobName.PollIssuerOrder, { job_id: jobId } satisfies PollIssuerOrderPayload, {
        // Unique: BullMQ keeps finished ids for a day and would ignore a reused one. Duplicates
        // are harmless (the lease lets one poll through).
        jobId: `${jobId}-p${polls}-${Date.now()}`,
        delay: Math.max(0, Math.round(delayMs)),
        attempts: 1,
      });
    } catch (e) {
      this.logger.warn(
        `order poll of job ${jobId} deferred to the ${QueueName.IssuerOrders} loop: ${(e as Error).message}`,
      );
    }
  }
}
