import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { LoopName } from '@certctl/domain';
import { AppConfig } from '../config/config.schema';
import { JobDispatcher } from '../jobs/job-engine';
import { LoopRegistry } from '../scheduler/loop-registry';
import { AriScheduleService } from './ari-schedule.service';
import {
  RenewalCheckRepository,
  type ExpiryCandidate,
  type ExpiryCursor,
  type NewExpiryAlert,
  type StatusChange,
} from './renewal-check.repository';
import {
  alertSeverity,
  DAY_MS,
  effectiveRenewalWindowMs,
  expiryAlertDedupKey,
  expiryAlertMessage,
  mostUrgentCrossedThreshold,
  nextExpiryStatus,
  renewalDue,
  renewalJobId,
} from './renewal-rules';

export interface RenewalCheckSummary {
  scanned: number;
  /** Status changes by target status (Expiring, Expired). */
  statusChanges: Record<string, number>;
  alerts: number;
  jobsCreated: number;
  jobsFailed: number;
}

export const RENEWAL_CHECK_BATCH_SIZE = 500;

/**
 * The renewal checker (every CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL): expiry statuses,
 * threshold alerts and renewal jobs for certificates near or past expiry. The transitions
 * and alert rules are in renewal-rules.ts. Every step is idempotent (guarded updates,
 * dedup keys, deterministic job ids), so a tick that runs twice, or on two replicas at
 * once, changes nothing the second time.
 */
@Injectable()
export class RenewalCheckService implements OnModuleInit {
  private readonly logger = new Logger(RenewalCheckService.name);

  constructor(
    private readonly loops: LoopRegistry,
    private readonly repo: RenewalCheckRepository,
    private readonly dispatcher: JobDispatcher,
    private readonly config: AppConfig,
    private readonly ari: AriScheduleService,
  ) {}

  onModuleInit(): void {
    const every = this.config.scheduler.renewalCheckIntervalMs;
    this.loops.register({
      name: LoopName.RenewalCheck,
      everyMs: every,
      // A page is a few statements plus one short transaction per job created: a large
      // fleet expiring at once takes minutes, not hours.
      maxRunMs: Math.max(every, 15 * 60_000),
      run: async () => {
        await this.run();
      },
    });
  }

  /**
   * One tick; also called directly by tests and tools. `at` replaces the database clock
   * (what a tick at that time would do); `batchSize` the page size.
   */
  async run(opts: { batchSize?: number; at?: Date } = {}): Promise<RenewalCheckSummary> {
    const batchSize = opts.batchSize ?? RENEWAL_CHECK_BATCH_SIZE;
    const now = opts.at ?? (await this.repo.now());
    const until = new Date(now.getTime() + (await this.repo.horizonDays()) * DAY_MS);
    const summary: RenewalCheckSummary = { scanned: 0, statusChanges: {}, alerts: 0, jobsCreated: 0, jobsFailed: 0 };
    // ARI windows first, so this tick already renews at the times the CAs suggest.
    await this.ari.refresh(now).catch((e: unknown) => {
      this.logger.warn(`renewal information not refreshed: ${e instanceof Error ? e.message : String(e)}`);
    });
    const pages = [
      (c: ExpiryCursor | null) => this.repo.candidates(until, c, batchSize),
      (c: ExpiryCursor | null) => this.repo.ariDueBeyond(now, until, c, batchSize),
    ];
    for (const next of pages) {
      let cursor: ExpiryCursor | null = null;
      for (;;) {
        const page = await next(cursor);
        if (page.length === 0) break;
        summary.scanned += page.length;
        await this.handlePage(page, now.getTime(), summary);
        const last = page[page.length - 1];
        cursor = { expiresAt: last.expires_cursor, id: last.id };
        if (page.length < batchSize) break;
      }
    }
    const changes = Object.entries(summary.statusChanges).map(([s, n]) => `${n} ${s}`);
    const line =
      `renewal check: ${summary.scanned} certificate(s) near expiry; status ${changes.join(', ') || 'unchanged'}; ` +
      `${summary.alerts} alert(s); ${summary.jobsCreated} renewal job(s) created` +
      (summary.jobsFailed ? `, ${summary.jobsFailed} failed` : '');
    if (summary.scanned > 0) this.logger.log(line);
    else this.logger.debug(line);
    return summary;
  }

  private async handlePage(page: ExpiryCandidate[], nowMs: number, summary: RenewalCheckSummary): Promise<void> {
    const changes: StatusChange[] = [];
    const alerts: NewExpiryAlert[] = [];
    const renewable: {
      cert: ExpiryCandidate;
      jobId: string;
      epoch: number;
      msLeft: number;
      trigger: 'ari' | 'threshold';
    }[] = [];
    for (const cert of page) {
      const msLeft = cert.expires_epoch * 1000 - nowMs;
      const epoch = Math.floor(cert.expires_epoch);
      const to = nextExpiryStatus({
        status: cert.status,
        msLeft,
        renewalDaysBefore: cert.renewal_days_before,
        lifetimeMs: cert.lifetime_ms,
        renewalOpen: cert.renewal_open,
      });
      if (to) changes.push({ id: cert.id, from: cert.status, to });
      const threshold = mostUrgentCrossedThreshold(cert.alert_thresholds_days, msLeft);
      if (threshold !== undefined) {
        alerts.push({
          certificateId: cert.id,
          recipient: cert.owner_email,
          message: expiryAlertMessage(
            { id: cert.id, name: cert.name, commonName: cert.common_name },
            new Date(cert.expires_epoch * 1000),
            msLeft,
            threshold,
          ),
          severity: alertSeverity(threshold),
          dedupKey: expiryAlertDedupKey(cert.id, epoch, threshold),
        });
      }
      const { due, trigger } = renewalDue({
        nowMs,
        msLeft,
        renewalDaysBefore: cert.renewal_days_before,
        lifetimeMs: cert.lifetime_ms,
        ariRenewAtMs: cert.ari_renew_epoch === null ? null : cert.ari_renew_epoch * 1000,
      });
      if (cert.auto_renew && cert.issuer_id !== null && cert.issuer_enabled && !cert.renewal_open && due) {
        renewable.push({ cert, jobId: renewalJobId(cert.id, epoch), epoch, msLeft, trigger });
      }
    }

    for (const c of await this.repo.applyStatusChanges(changes)) {
      summary.statusChanges[c.to] = (summary.statusChanges[c.to] ?? 0) + 1;
    }
    summary.alerts += await this.repo.insertAlerts(alerts);

    // Ids that exist were handled by an earlier tick (whatever became of that job).
    const done = await this.repo.existingJobIds(renewable.map((r) => r.jobId));
    const created: { id: string; attempts: number }[] = [];
    for (const r of renewable) {
      if (done.has(r.jobId)) continue;
      try {
        const res = await this.repo.createRenewalJob(r.cert.id, r.epoch, r.jobId, {
          loop: 'renewal-check',
          expires_at: new Date(r.cert.expires_epoch * 1000).toISOString(),
          days_left: Math.floor(r.msLeft / DAY_MS),
          renewal_days_before: r.cert.renewal_days_before,
          trigger: r.trigger,
          ...(r.cert.ari_renew_epoch !== null
            ? { ari_renew_at: new Date(r.cert.ari_renew_epoch * 1000).toISOString() }
            : {}),
          window_days:
            Math.round((effectiveRenewalWindowMs(r.cert.renewal_days_before, r.cert.lifetime_ms) / DAY_MS) * 1000) /
            1000,
        });
        if (res.outcome === 'created') created.push({ id: r.jobId, attempts: res.attempts });
        if (res.outcome === 'gated') summary.jobsCreated++; // waits for approval: nothing to enqueue
      } catch (e) {
        // One certificate's failure (a row lock timeout, a constraint) must not stop the page.
        summary.jobsFailed++;
        this.logger.warn(`renewal job for ${r.cert.id} not created: ${(e as Error).message}`);
      }
    }
    summary.jobsCreated += created.length;
    await this.dispatcher.enqueue(created);
  }
}
