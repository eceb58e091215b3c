import { InjectQueue } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JobName, QueueName, type ApiCallAuditPayload } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { withTimeout } from '../redis/redis.service';
import { AuditRepository, type NewAuditEvent } from './audit.repository';

/** How long a request-path audit insert may wait before it is handed to the queue. */
const DIRECT_INSERT_TIMEOUT_MS = 2_000;

function apiCallEvent(p: ApiCallAuditPayload): NewAuditEvent {
  return {
    id: p.id,
    category: 'api',
    actor: p.actor,
    actorType: p.actor_type,
    action: 'api_call',
    resourceType: 'http',
    resourceId: `${p.method} ${p.path}`,
    details: {
      method: p.method,
      path: p.path,
      status: p.status,
      latency_ms: p.latency_ms,
      body_sha256: p.body_sha256,
      request_id: p.request_id,
      source_ip: p.source_ip,
    },
    createdAt: new Date(p.occurred_at),
  };
}

/**
 * Records API calls without delaying responses: a direct insert off the request path,
 * and when Postgres cannot take it, a BullMQ job that retries with backoff until it can.
 * Shutdown waits (bounded) for inserts still in flight.
 */
@Injectable()
export class AuditService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly repo: AuditRepository,
    @InjectQueue(QueueName.Audit) private readonly queue: Queue,
    private readonly config: AppConfig,
  ) {}

  recordApiCall(p: ApiCallAuditPayload): void {
    const task: Promise<void> = this.persistApiCall(p).finally(() => this.inflight.delete(task));
    this.inflight.add(task);
  }

  /** Called by the queue processor; throwing makes BullMQ retry. */
  async persistQueuedApiCall(p: ApiCallAuditPayload): Promise<void> {
    await this.repo.insert(apiCallEvent(p));
  }

  private async persistApiCall(p: ApiCallAuditPayload): Promise<void> {
    try {
      await this.repo.insert(apiCallEvent(p), undefined, DIRECT_INSERT_TIMEOUT_MS);
      return;
    } catch (e) {
      this.logger.warn(`audit insert failed, queueing ${p.id} for retry: ${(e as Error).message}`);
    }
    try {
      await withTimeout(
        // 16 exponential attempts from 2 s span about 36 hours of Postgres outage.
        this.queue.add(JobName.RecordApiCall, p, { jobId: p.id, attempts: 16 }),
        DIRECT_INSERT_TIMEOUT_MS,
        'enqueue',
      );
    } catch (e) {
      // Neither store took it: the full event goes to the log so it is not silently lost.
      this.logger.error({ audit_event: p }, `audit event could not be persisted or queued: ${(e as Error).message}`);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.inflight.size === 0) return;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((r) => setTimeout(r, this.config.auditFlushTimeoutMs).unref()),
    ]);
  }
}
