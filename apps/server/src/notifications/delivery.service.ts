import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { DelayedError, type Job, type Queue } from 'bullmq';
import { Gauge } from 'prom-client';
import {
  NotifierError,
  notifierFor,
  NotifierType,
  type NotificationMessage,
  type NotifierConnector,
} from '@certctl/connectors';
import { JobName, LoopName, QueueName, type DeliverNotificationPayload } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import { runsBackgroundWork } from '../role/process-role';
import { LoopRegistry } from '../scheduler/loop-registry';
import { DeliveryRepository, type ClaimedNotification, type DueNotification } from './delivery.repository';
import { eventTypeOf, severityOf } from './routing';

/** Rows routed or enqueued per loop tick. */
const BATCH = 500;
/** How long a message waits when its channel has all the sends it may hold in this process. */
const BUSY_DELAY_MS = 1_000;
/** How long a claim outlives the adapter's own deadline (slow database, clock skew between replicas). */
const LEASE_MARGIN_MS = 30_000;

/** The configured channels' notifiers, built once from AppConfig.notifications. */
@Injectable()
export class Notifiers {
  private readonly byType = new Map<NotifierType, NotifierConnector>();

  constructor(config: AppConfig) {
    for (const c of config.notifications.channels) this.byType.set(c.type, notifierFor(c.type, c.config));
  }

  configured(): NotifierType[] {
    return [...this.byType.keys()];
  }

  /** The notifier of a row's channel (`Email` and `email` alike), if configured. */
  get(channel: string): NotifierConnector | undefined {
    return this.byType.get(channel.toLowerCase() as NotifierType);
  }
}

/** Puts notification ids on the queue; best effort (the loops find whatever this misses). */
@Injectable()
export class NotificationDispatcher {
  private readonly logger = new Logger(NotificationDispatcher.name);

  constructor(@InjectQueue(QueueName.Notifications) private readonly queue: Queue) {}

  /**
   * The job id carries retry_count: while a message for this attempt waits, enqueuing it again
   * is a no-op; completed messages are removed, so a later attempt (or a requeue) gets through.
   */
  async enqueue(rows: DueNotification[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.queue.addBulk(
        rows.map((r) => ({
          name: JobName.DeliverNotification,
          data: { notification_id: r.id, channel: r.channel.toLowerCase() } satisfies DeliverNotificationPayload,
          opts: { jobId: `${r.id}-r${r.retry_count}`, attempts: 1, removeOnComplete: true, removeOnFail: true },
        })),
      );
    } catch (e) {
      this.logger.warn(`notification enqueue deferred to the scheduler loop: ${(e as Error).message}`);
    }
  }
}

/** The message every channel renders from one row. */
export function messageOf(n: ClaimedNotification): NotificationMessage {
  const title = n.message.split('\n')[0].slice(0, 200) || n.type;
  return {
    id: n.id,
    event: eventTypeOf(n.type),
    severity: severityOf(n.severity),
    title,
    text: n.message || title,
    ...(n.certificate_id
      ? {
          certificate: {
            id: n.certificate_id,
            commonName: n.common_name ?? n.certificate_id,
            ...(n.expires_at ? { notAfter: n.expires_at } : {}),
          },
        }
      : {}),
    // One incident per event type and certificate: later warnings update it instead of paging again.
    dedupKey: `certctl:${eventTypeOf(n.type)}:${n.certificate_id ?? n.id}`,
    ...(n.recipient.trim() ? { recipients: n.recipient.split(/[\s,]+/).filter(Boolean) } : {}),
    occurredAt: n.created_at,
  };
}

export type DeliveryOutcome = 'sent' | 'failed' | 'dead' | 'not-claimed' | 'not-configured';

/** Sends one row: claim, send through its channel, record the outcome. */
@Injectable()
export class NotificationSender {
  private readonly logger = new Logger(NotificationSender.name);

  constructor(
    private readonly repo: DeliveryRepository,
    private readonly notifiers: Notifiers,
    private readonly config: AppConfig,
  ) {}

  /** Safe to call any number of times, from any replica: only the claim holder sends. */
  async deliver(id: string): Promise<DeliveryOutcome> {
    const n = await this.repo.claim(id, this.config.notifications.timeoutSeconds * 1000 + LEASE_MARGIN_MS);
    if (!n) return 'not-claimed';
    const notifier = this.notifiers.get(n.channel);
    if (!notifier) {
      await this.repo.release(n.id);
      return 'not-configured';
    }
    try {
      await notifier.send(messageOf(n));
    } catch (e) {
      const permanent = e instanceof NotifierError && !e.retryable;
      const message = e instanceof Error ? e.message : String(e);
      const after = await this.repo.markFailed(n.id, message, permanent);
      this.logger.warn(`notification ${n.id} (${n.channel}) attempt ${after.retry_count} failed: ${message}`);
      return after.status === 'dead' ? 'dead' : 'failed';
    }
    await this.repo.markSent(n.id);
    return 'sent';
  }
}

/**
 * The notifications queue's worker. Several sends run at once, and one channel may hold at
 * most half of them: a channel that hangs (each send up to its timeout) or has a backlog
 * leaves slots for the others, whose messages would otherwise queue behind it. A message over
 * its channel's share waits a second in the delayed set, without touching its row.
 */
@Processor(QueueName.Notifications, { concurrency: 8 })
export class NotificationWorker extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(NotificationWorker.name);
  private readonly inFlight = new Map<string, number>();
  private readonly perChannel: number;

  constructor(
    private readonly sender: NotificationSender,
    private readonly config: AppConfig,
  ) {
    super();
    this.perChannel = Math.max(1, Math.floor(config.notifications.concurrency / 2));
  }

  onApplicationBootstrap(): void {
    if (!runsBackgroundWork(this.config.role)) return; // no worker on an api replica
    this.worker.concurrency = this.config.notifications.concurrency;
  }

  async process(message: Job<DeliverNotificationPayload>, token?: string): Promise<DeliveryOutcome> {
    const channel = message.data.channel ?? '';
    const busy = this.inFlight.get(channel) ?? 0;
    if (busy >= this.perChannel) {
      await message.moveToDelayed(Date.now() + BUSY_DELAY_MS, token);
      throw new DelayedError();
    }
    this.inFlight.set(channel, busy + 1);
    try {
      return await this.sender.deliver(message.data.notification_id);
    } finally {
      this.inFlight.set(channel, (this.inFlight.get(channel) ?? 1) - 1);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(message: Job | undefined, err: Error): void {
    this.logger.error(`notification message ${message?.id ?? '?'} crashed: ${err.message}`);
  }
}

/**
 * The delivery loops. Process: route rows producers inserted, then enqueue due pending rows
 * (so nothing depends on Redis having kept a message). Retry: enqueue failed rows whose
 * backoff is over. Both only look at channels this server has configured.
 */
@Injectable()
export class NotificationLoops implements OnModuleInit {
  constructor(
    private readonly loops: LoopRegistry,
    private readonly repo: DeliveryRepository,
    private readonly dispatcher: NotificationDispatcher,
    private readonly notifiers: Notifiers,
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    const repository = this.repo;
    new Gauge({
      name: 'certctl_notification_dead_total',
      help: 'Notifications in the dead-letter state (delivery gave up; requeue to retry)',
      registers: [metrics.registry],
      async collect() {
        this.set(await repository.deadCount());
      },
    });
  }

  /** One pass of the process loop; tests and tools may call it directly. */
  async processOnce(): Promise<void> {
    const configured = this.notifiers.configured();
    while ((await this.repo.routeNew(configured, BATCH)) === BATCH);
    if (configured.length) await this.dispatcher.enqueue(await this.repo.due(configured, 'pending', BATCH));
  }

  onModuleInit(): void {
    const c = this.config.notifications;
    this.loops.register({
      name: LoopName.NotificationProcess,
      everyMs: c.processIntervalMs,
      maxRunMs: Math.max(c.processIntervalMs * 4, 60_000),
      run: () => this.processOnce(),
    });
    this.loops.register({
      name: LoopName.NotificationRetry,
      everyMs: c.retryIntervalMs,
      maxRunMs: Math.max(c.retryIntervalMs * 2, 60_000),
      run: async () => {
        const configured = this.notifiers.configured();
        if (configured.length) await this.dispatcher.enqueue(await this.repo.due(configured, 'failed', BATCH));
      },
    });
  }
}
