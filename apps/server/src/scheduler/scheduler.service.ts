import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { QueueName } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { RedisService } from '../redis/redis.service';
import { runsBackgroundWork } from '../role/process-role';
import { LoopRegistry } from './loop-registry';

/** Deletes the lock only if we still own it. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Registers every loop as a BullMQ job scheduler (one tick per interval across all
 * replicas) and removes schedulers of loops that no longer exist.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap {
  private readonly logger = new Logger(SchedulerService.name);

  constructor(
    @InjectQueue(QueueName.Scheduler) private readonly queue: Queue,
    private readonly loops: LoopRegistry,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // An api replica leaves the schedulers to the workers (and must not remove them either).
    if (!runsBackgroundWork(this.config.role)) return;
    const wanted = new Set<string>();
    for (const loop of this.loops.all()) {
      wanted.add(loop.name);
      await this.queue.upsertJobScheduler(
        loop.name,
        { every: loop.everyMs },
        {
          name: loop.name,
          data: {},
          opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } },
        },
      );
    }
    for (const s of await this.queue.getJobSchedulers()) {
      if (s.key && !wanted.has(s.key)) await this.queue.removeJobScheduler(s.key);
    }
    this.logger.log(`scheduled loops: ${[...wanted].join(', ') || 'none'}`);
  }
}

/**
 * Runs loop ticks. A tick first takes a Redis lock named after the loop (SET NX PX), so a
 * tick still running on any replica makes the next one a no-op instead of a second run.
 */
@Processor(QueueName.Scheduler, { concurrency: 4 })
export class SchedulerProcessor extends WorkerHost {
  private readonly logger = new Logger(SchedulerProcessor.name);

  constructor(
    private readonly loops: LoopRegistry,
    private readonly redis: RedisService,
  ) {
    super();
  }

  async process(job: Job): Promise<'ran' | 'skipped'> {
    const loop = this.loops.get(job.name);
    if (!loop) return 'skipped'; // a scheduler left by a newer/older version; removed at bootstrap
    const key = this.redis.key('loop-lock', loop.name);
    const token = randomUUID();
    const got = await this.redis.client.set(key, token, 'PX', loop.maxRunMs, 'NX');
    if (got !== 'OK') {
      this.logger.warn(`loop ${loop.name}: previous tick still running, skipping this one`);
      return 'skipped';
    }
    try {
      await loop.run();
      return 'ran';
    } finally {
      await this.redis.client.eval(RELEASE, 1, key, token).catch(() => undefined);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    this.logger.error(`loop ${job?.name ?? '?'} tick failed: ${err.message}`);
  }
}
