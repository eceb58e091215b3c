import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { JobName, LoopName, QueueName, type JobType, type RunJobPayload } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { runsBackgroundWork } from '../role/process-role';
import { LoopRegistry } from '../scheduler/loop-registry';
import type { JobEntity } from './job.entity';
import { JobEngineRepository } from './job-engine.repository';
import { isPermanentJobFailure } from './job-failure';

/** What a handler reports: done, waiting for the agent's CSR or for an asynchronous CA. Failures are thrown. */
export type JobOutcome = 'Completed' | 'AwaitingCSR' | 'AwaitingIssuer';
export type JobHandler = (job: JobEntity) => Promise<JobOutcome>;

/** Where contexts plug in the work for a job type (issuance, renewal, deployment, ...). */
@Injectable()
export class JobHandlerRegistry {
  private readonly handlers = new Map<JobType, JobHandler>();

  register(type: JobType, handler: JobHandler): void {
    if (this.handlers.has(type)) throw new Error(`a handler for ${type} jobs is already registered`);
    this.handlers.set(type, handler);
  }

  /** Swaps the handler of a type (the engine's own tests drive it with handlers of their own). */
  replace(type: JobType, handler: JobHandler): void {
    this.handlers.set(type, handler);
  }

  get(type: JobType): JobHandler | undefined {
    return this.handlers.get(type);
  }
}

/** Puts job ids on the queue; call after the transaction that made them Pending commits. */
@Injectable()
export class JobDispatcher {
  private readonly logger = new Logger(JobDispatcher.name);

  constructor(@InjectQueue(QueueName.Jobs) private readonly queue: Queue) {}

  /**
   * Best effort by design: if Redis is away the job stays Pending in Postgres and the
   * job-processor loop enqueues it later. The BullMQ id includes the attempt count: BullMQ
   * ignores an id it still holds, so a retried job needs a new one (and duplicates of the
   * same attempt collapse into one message).
   */
  async enqueue(jobs: { id: string; attempts?: number; reason?: string }[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.queue.addBulk(
        jobs.map((j) => ({
          name: JobName.RunJob,
          data: { job_id: j.id } satisfies RunJobPayload,
          // `reason` keeps a release (e.g. an approval) apart from an earlier message of the same attempt.
          opts: { jobId: `${j.id}-a${j.attempts ?? 0}${j.reason ? `-${j.reason}` : ''}`, attempts: 1 },
        })),
      );
    } catch (e) {
      this.logger.warn(`enqueue deferred to the job-processor loop: ${(e as Error).message}`);
    }
  }
}

/**
 * Runs one job: claim (Pending -> Running) or do nothing, then the handler for its type.
 * Domain errors (bad CSR, policy violation, missing row) fail the job for good; other
 * errors leave attempts for the retry loop.
 */
@Processor(QueueName.Jobs, { concurrency: 4 })
export class JobRunner extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(JobRunner.name);

  constructor(
    private readonly repo: JobEngineRepository,
    private readonly handlers: JobHandlerRegistry,
    private readonly config: AppConfig,
  ) {
    super();
  }

  /** CERTCTL_RENEWAL_CONCURRENCY: jobs this process runs at once. */
  onApplicationBootstrap(): void {
    if (!runsBackgroundWork(this.config.role)) return; // no worker on an api replica
    this.worker.concurrency = this.config.issuance.renewalConcurrency;
  }

  async process(message: Job<RunJobPayload>): Promise<string> {
    return this.run(message.data.job_id);
  }

  /** Also called directly by tests and tools; safe to call any number of times. */
  async run(jobId: string): Promise<string> {
    const job = await this.repo.claim(jobId);
    if (!job) return 'not-claimed';
    if ((job.type === 'Issuance' || job.type === 'Renewal') && (await this.repo.recordedVersionId(job.id))) {
      // An earlier run recorded the certificate, then failed or died before finishing (say,
      // timed out as Running and retried): it is done; running it again would issue twice.
      this.logger.warn(`job ${job.id} already recorded its certificate version: completing it without a new issuance`);
      await this.repo.finish(job.id, 'Completed');
      return 'Completed';
    }
    const handler = this.handlers.get(job.type);
    if (!handler) {
      await this.repo.finish(job.id, 'Failed', `no handler for ${job.type} jobs in this server`, false);
      return 'Failed';
    }
    try {
      const outcome = await handler(job);
      await this.repo.finish(job.id, outcome);
      return outcome;
    } catch (e) {
      const permanent = isPermanentJobFailure(e);
      const message = e instanceof Error ? e.message : String(e);
      if (!permanent) this.logger.warn(`job ${job.id} (${job.type}) failed, will retry: ${message}`);
      await this.repo.finish(job.id, 'Failed', message, permanent);
      return 'Failed';
    }
  }

  @OnWorkerEvent('failed')
  onFailed(message: Job | undefined, err: Error): void {
    this.logger.error(`job message ${message?.id ?? '?'} crashed: ${err.message}`);
  }
}

/** The engine's loops: re-enqueue due jobs, retry failures, time out stalled waits and runs. */
@Injectable()
export class JobLoops implements OnModuleInit {
  private readonly logger = new Logger(JobLoops.name);

  constructor(
    private readonly loops: LoopRegistry,
    private readonly repo: JobEngineRepository,
    private readonly dispatcher: JobDispatcher,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const c = this.config.jobs;
    this.loops.register({
      name: LoopName.JobProcessor,
      everyMs: c.processorIntervalMs,
      maxRunMs: Math.max(c.processorIntervalMs * 4, 60_000),
      run: async () => {
        await this.dispatcher.enqueue(await this.repo.duePending(c.claimLimit));
      },
    });
    this.loops.register({
      name: LoopName.JobRetry,
      everyMs: c.retryIntervalMs,
      maxRunMs: Math.max(c.retryIntervalMs * 2, 60_000),
      run: async () => {
        const jobs = await this.repo.requeueFailed(c.claimLimit);
        if (jobs.length) this.logger.log(`retrying ${jobs.length} failed job(s)`);
        await this.dispatcher.enqueue(jobs);
      },
    });
    this.loops.register({
      name: LoopName.JobTimeout,
      everyMs: c.timeoutIntervalMs,
      maxRunMs: Math.max(c.timeoutIntervalMs * 2, 60_000),
      run: async () => {
        const reaped = await this.repo.reapTimeouts({
          awaitingCsrMs: c.awaitingCsrTimeoutMs,
          awaitingApprovalMs: c.awaitingApprovalTimeoutMs,
          runningMs: c.runningTimeoutMs,
          limit: c.claimLimit,
        });
        const completed = reaped.filter((r) => r.status === 'Completed');
        const failed = reaped.filter((r) => r.status === 'Failed');
        if (failed.length) {
          this.logger.warn(`timed out ${failed.length} stalled job(s): ${failed.map((r) => r.id).join(', ')}`);
        }
        if (completed.length) {
          this.logger.warn(
            `completed ${completed.length} job(s) left Running after their certificate was recorded: ${completed
              .map((r) => r.id)
              .join(', ')}`,
          );
        }
      },
    });
  }
}
