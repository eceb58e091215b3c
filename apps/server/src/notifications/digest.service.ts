import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { NotificationEventType, NotificationSeverity, NotifierType } from '@certctl/connectors';
import { conflict, DomainError, ErrorCode } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { AppConfig } from '../config/config.schema';
import type { Principal } from '../http/request-context';
import { RedisService } from '../redis/redis.service';
import { LoopRegistry } from '../scheduler/loop-registry';
import { Notifiers } from './delivery.service';
import {
  digestTitle,
  renderDigestHtml,
  renderDigestText,
  type DigestApproval,
  type DigestCertificate,
  type DigestData,
  type DigestJob,
  type DigestNotification,
} from './digest';
import type { DigestSentDto } from './dto/digest.dto';

export const DEFAULT_DIGEST_DAYS = 30;
/** The digest loop's name (kebab-case, like the LoopName entries). */
export const DIGEST_LOOP = 'notification-digest';
/** Rows per section: a digest is a summary, the API has the full lists. */
const SECTION_LIMIT = 200;
/** Failed jobs from this far back are listed. */
const FAILED_JOB_WINDOW = '7 days';

const SYSTEM_ACTOR = { actorId: 'digest-scheduler', actorType: 'System' } as const;

/** Reads what the digest lists. */
@Injectable()
export class DigestRepository {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async collect(days: number, now: Date): Promise<DigestData> {
    const [certificates, failedJobs, deadNotifications, pendingApprovals] = await Promise.all([
      this.ds.query<DigestCertificate[]>(
        `SELECT c.id, c.name, c.common_name, c.expires_at, c.status, o.email AS owner_email
           FROM managed_certificates c LEFT JOIN owners o ON o.id = c.owner_id
          WHERE c.archived_at IS NULL AND c.expires_at IS NOT NULL
            AND c.status NOT IN ('Revoked', 'Archived')
            AND c.expires_at <= $1::timestamptz + make_interval(days => $2)
          ORDER BY c.expires_at, c.id LIMIT ${SECTION_LIMIT}`,
        [now, days],
      ),
      this.ds.query<DigestJob[]>(
        `SELECT j.id, j.type, j.certificate_id, c.common_name, j.last_error, j.updated_at
           FROM jobs j LEFT JOIN managed_certificates c ON c.id = j.certificate_id
          WHERE j.status = 'Failed' AND j.updated_at > $1::timestamptz - interval '${FAILED_JOB_WINDOW}'
          ORDER BY j.updated_at DESC, j.id LIMIT ${SECTION_LIMIT}`,
        [now],
      ),
      this.ds.query<DigestNotification[]>(
        `SELECT id, type, channel, last_error, updated_at FROM notification_events
          WHERE status = 'dead' ORDER BY updated_at DESC, id LIMIT ${SECTION_LIMIT}`,
      ),
      this.ds.query<DigestApproval[]>(
        `SELECT a.id, a.kind, a.certificate_id, c.common_name, a.requested_by, a.created_at
           FROM approval_requests a LEFT JOIN managed_certificates c ON c.id = a.certificate_id
          WHERE a.state = 'pending' ORDER BY a.created_at, a.id LIMIT ${SECTION_LIMIT}`,
      ),
    ]);
    return { generatedAt: now, days, certificates, failedJobs, deadNotifications, pendingApprovals };
  }
}

/** Preview and sending of the digest; the opt-in loop sends it on its ticks. */
@Injectable()
export class DigestService {
  constructor(
    private readonly repo: DigestRepository,
    private readonly notifiers: Notifiers,
    private readonly config: AppConfig,
    private readonly audit: AuditRepository,
    @InjectDataSource() private readonly ds: DataSource,
  ) {}

  async preview(days = DEFAULT_DIGEST_DAYS): Promise<string> {
    return renderDigestHtml(await this.repo.collect(days, new Date()));
  }

  /**
   * Sends the digest through the email channel: to CERTCTL_DIGEST_RECIPIENTS, else to the
   * owners of the listed certificates, else to the channel's own default list. It is sent
   * directly rather than as a notification row: a digest is a snapshot, and resending an
   * old one after a retry backoff would show stale facts.
   */
  async send(actor: Pick<Principal, 'actorId' | 'actorType'>, days = DEFAULT_DIGEST_DAYS): Promise<DigestSentDto> {
    const email = this.notifiers.get(NotifierType.Email);
    if (!email)
      throw conflict('email is not configured: set CERTCTL_SMTP_HOST and CERTCTL_SMTP_FROM_ADDRESS to send the digest');
    const data = await this.repo.collect(days, new Date());
    const recipients = this.recipientsFor(data);
    const channelDefault = this.config.notifications.channels.find((c) => c.type === NotifierType.Email)?.config.to;
    if (recipients.length === 0 && !(Array.isArray(channelDefault) && channelDefault.length > 0))
      throw conflict(
        'the digest has no recipients: set CERTCTL_DIGEST_RECIPIENTS or CERTCTL_SMTP_RECIPIENTS, or give the certificates owners with email addresses',
      );
    const subject = digestTitle(data);
    try {
      await email.send({
        event: NotificationEventType.Digest,
        severity: NotificationSeverity.Info,
        title: subject,
        text: renderDigestText(data),
        html: renderDigestHtml(data),
        ...(recipients.length ? { recipients } : {}),
        occurredAt: data.generatedAt,
      });
    } catch (e) {
      throw new DomainError(ErrorCode.Unavailable, `the digest could not be sent: ${(e as Error).message}`);
    }
    const sent: DigestSentDto = {
      recipients,
      subject,
      certificates: data.certificates.length,
      failed_jobs: data.failedJobs.length,
      dead_notifications: data.deadNotifications.length,
      pending_approvals: data.pendingApprovals.length,
      sent_at: new Date().toISOString(),
    };
    await this.ds.transaction((m) => this.audit.recordDomain(m, actor, 'digest_sent', 'digest', 'digest', { ...sent }));
    return sent;
  }

  private recipientsFor(data: DigestData): string[] {
    const explicit = this.config.notifications.digest.recipients;
    if (explicit.length) return explicit;
    const owners = new Map<string, string>();
    for (const c of data.certificates) if (c.owner_email) owners.set(c.owner_email.toLowerCase(), c.owner_email);
    return [...owners.values()].sort();
  }
}

export type DigestTick = 'sent' | 'skipped-startup' | 'skipped-recent';

/**
 * Whether a loop tick sends. The scheduler may fire a tick as soon as a server boots (BullMQ
 * job schedulers start with one), and a replica that restarts re-registers the schedule: the
 * digest must only go out on real ticks, so a tick within half an interval of this process's
 * start, or of the last digest any replica sent, is skipped.
 */
export function digestTickDecision(now: number, startedAt: number, lastSentAt: number | null, everyMs: number) {
  if (now - startedAt < everyMs / 2) return 'skipped-startup' as const;
  if (lastSentAt !== null && now - lastSentAt < everyMs / 2) return 'skipped-recent' as const;
  return 'send' as const;
}

/** The opt-in digest loop (CERTCTL_DIGEST_ENABLED, every CERTCTL_DIGEST_INTERVAL). */
@Injectable()
export class DigestLoop implements OnModuleInit {
  private readonly logger = new Logger(DigestLoop.name);
  private readonly startedAt = Date.now();

  constructor(
    private readonly loops: LoopRegistry,
    private readonly digest: DigestService,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const c = this.config.notifications.digest;
    if (!c.enabled) return;
    this.loops.register({
      name: DIGEST_LOOP,
      everyMs: c.intervalMs,
      maxRunMs: Math.max(this.config.notifications.timeoutSeconds * 1000 * 2, 60_000),
      run: async () => {
        await this.tick();
      },
    });
  }

  /** One tick; `now` is a parameter so tests can stand at a later tick without waiting. */
  async tick(now = Date.now()): Promise<DigestTick> {
    const key = this.redis.key('digest', 'last-sent');
    const last = await this.redis.client.get(key);
    const decision = digestTickDecision(
      now,
      this.startedAt,
      last ? Number(last) : null,
      this.config.notifications.digest.intervalMs,
    );
    if (decision !== 'send') return decision;
    try {
      await this.digest.send(SYSTEM_ACTOR);
    } catch (e) {
      this.logger.warn(`digest not sent: ${(e as Error).message}`);
      throw e;
    }
    await this.redis.client.set(key, String(now));
    return 'sent';
  }
}
