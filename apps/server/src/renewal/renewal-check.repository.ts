import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IdPrefix, newId, type CertificateStatus } from '@certctl/domain';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { rowsOf } from '../database/sql';
import { JobFactory } from '../jobs/job-factory';
import {
  DEFAULT_ALERT_THRESHOLDS_DAYS,
  DEFAULT_RENEWAL_DAYS_BEFORE,
  RENEWAL_CHECK_STATUSES,
  SHORT_LIVED_MAX_TTL_SECONDS,
} from './renewal-rules';

/**
 * An Issuance/Renewal job of the certificate `mc` that is still going (or will be
 * retried by the job-retry loop): while one exists RenewalInProgress stays.
 */
const RENEWAL_OPEN = `EXISTS (
  SELECT 1 FROM jobs j
   WHERE j.certificate_id = mc.id AND j.type IN ('Issuance', 'Renewal')
     AND (j.status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'AwaitingIssuer', 'Running')
          OR (j.status = 'Failed' AND j.attempts < j.max_attempts)))`;

/** The current version of the certificate `mc`: its newest certificate_versions row. */
const CURRENT_VERSION = `(SELECT v.id FROM certificate_versions v
                           WHERE v.certificate_id = mc.id
                           ORDER BY v.created_at DESC, v.id DESC LIMIT 1)`;

/** One issued, live certificate near (or past) its expiry, with what the check needs. */
export interface ExpiryCandidate {
  id: string;
  name: string;
  common_name: string;
  status: CertificateStatus;
  issuer_id: string | null;
  issuer_enabled: boolean;
  /** expires_at as Postgres text (full microsecond precision): the keyset cursor. */
  expires_cursor: string;
  /** expires_at as seconds since the epoch (with fraction). */
  expires_epoch: number;
  renewal_days_before: number;
  /** not_after - not_before of the current (newest) version in ms; null without a version. */
  lifetime_ms: number | null;
  alert_thresholds_days: number[];
  auto_renew: boolean;
  owner_email: string;
  renewal_open: boolean;
  /** The ARI renewal time (RFC 9773) picked for the current version, seconds since the epoch; null: none. */
  ari_renew_epoch: number | null;
}

export interface ExpiryCursor {
  expiresAt: string;
  id: string;
}

export interface StatusChange {
  id: string;
  from: CertificateStatus;
  to: CertificateStatus;
}

export interface NewExpiryAlert {
  certificateId: string;
  recipient: string;
  message: string;
  severity: string;
  dedupKey: string;
}

/** Alerts of the renewal check go out by email to the certificate owner. */
export const EXPIRY_ALERT_TYPE = 'ExpirationWarning';
export const EXPIRY_ALERT_CHANNEL = 'Email';

/** `gated`: created at AwaitingApproval (the profile requires approval): not enqueued. */
export type RenewalJobOutcome = 'created' | 'gated' | 'exists' | 'ineligible';

@Injectable()
export class RenewalCheckRepository {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditRepository,
    private readonly jobs: JobFactory,
  ) {}

  /** The database clock, so every replica measures expiry against the same time. */
  async now(): Promise<Date> {
    const rows: { now: Date }[] = await this.ds.query(`SELECT now() AS now`);
    return rows[0].now;
  }

  /**
   * How far ahead (days) any certificate can need attention: the widest renewal window
   * or alert threshold of any policy, and the defaults of certificates without one.
   */
  async horizonDays(): Promise<number> {
    const rows: { days: number }[] = await this.ds.query(
      `SELECT GREATEST($1::int, COALESCE(max(GREATEST(rp.renewal_days_before,
                (SELECT COALESCE(max(t), 0) FROM unnest(rp.alert_thresholds_days) t))), 0))::int AS days
         FROM renewal_policies rp`,
      [Math.max(DEFAULT_RENEWAL_DAYS_BEFORE, ...DEFAULT_ALERT_THRESHOLDS_DAYS)],
    );
    return rows[0].days;
  }

  /**
   * One keyset page over (expires_at, id) of live, issued certificates that expire
   * before `until`, in the statuses the check handles, short-lived profiles excluded.
   * The (expires_at, id) index serves the range; memory stays at one page.
   */
  candidates(until: Date, after: ExpiryCursor | null, limit: number): Promise<ExpiryCandidate[]> {
    return this.page(`mc.expires_at <= $1`, [until], after, limit);
  }

  /**
   * The same page over certificates beyond the horizon whose ARI renewal time has come
   * (the CA asked for an early renewal, e.g. before a mass revocation): `$1` is the tick's
   * clock and `until` the horizon. The partial renew_at index serves it.
   */
  ariDueBeyond(now: Date, until: Date, after: ExpiryCursor | null, limit: number): Promise<ExpiryCandidate[]> {
    return this.page(
      `mc.expires_at > $9 AND EXISTS (
         SELECT 1 FROM certificate_renewal_info ri
          WHERE ri.certificate_id = mc.id AND ri.renew_at <= $1 AND ri.version_id = ${CURRENT_VERSION})`,
      [now, until],
      after,
      limit,
    );
  }

  private async page(
    where: string,
    [first, ninth]: [Date, Date?],
    after: ExpiryCursor | null,
    limit: number,
  ): Promise<ExpiryCandidate[]> {
    const rows: (Omit<ExpiryCandidate, 'expires_epoch' | 'lifetime_ms' | 'ari_renew_epoch'> & {
      expires_epoch: number | string;
      lifetime_ms: number | string | null;
      ari_renew_epoch: number | string | null;
    })[] = await this.ds.query(
      `SELECT mc.id, mc.name, mc.common_name, mc.status, mc.issuer_id,
              COALESCE(iss.enabled, false) AS issuer_enabled,
              mc.expires_at::text AS expires_cursor,
              extract(epoch FROM mc.expires_at)::float8 AS expires_epoch,
              COALESCE(rp.renewal_days_before, $5::int) AS renewal_days_before,
              (SELECT extract(epoch FROM v.not_after - v.not_before)::float8 * 1000
                 FROM certificate_versions v
                WHERE v.certificate_id = mc.id
                ORDER BY v.created_at DESC, v.id DESC
                LIMIT 1) AS lifetime_ms,
              COALESCE(rp.alert_thresholds_days, $6::int[]) AS alert_thresholds_days,
              -- Enrolled over EST/SCEP: the device holds the key and re-enrolls itself; alert only.
              COALESCE(rp.auto_renew, true) AND mc.enrolled_via IS NULL AS auto_renew,
              COALESCE(o.email, '') AS owner_email,
              ${RENEWAL_OPEN} AS renewal_open,
              -- The ARI pick counts only for the version it was made for (a renewal asks again).
              (SELECT extract(epoch FROM ri.renew_at)::float8
                 FROM certificate_renewal_info ri
                WHERE ri.certificate_id = mc.id AND ri.version_id = ${CURRENT_VERSION}) AS ari_renew_epoch
         FROM managed_certificates mc
         LEFT JOIN renewal_policies rp ON rp.id = mc.renewal_policy_id
         LEFT JOIN owners o ON o.id = mc.owner_id
         LEFT JOIN issuers iss ON iss.id = mc.issuer_id
         LEFT JOIN certificate_profiles p ON p.id = mc.profile_id
        WHERE mc.expires_at IS NOT NULL
          AND ${where}
          AND (mc.expires_at, mc.id) > ($2::timestamptz, $3::text)
          AND mc.archived_at IS NULL
          AND mc.status = ANY($7::text[])
          AND (p.max_ttl_seconds IS NULL OR p.max_ttl_seconds >= $8)
        ORDER BY mc.expires_at, mc.id
        LIMIT $4`,
      [
        first,
        // The first page starts before everything: one sargable row comparison for all pages.
        after?.expiresAt ?? '-infinity',
        after?.id ?? '',
        limit,
        DEFAULT_RENEWAL_DAYS_BEFORE,
        DEFAULT_ALERT_THRESHOLDS_DAYS,
        RENEWAL_CHECK_STATUSES,
        SHORT_LIVED_MAX_TTL_SECONDS,
        ...(ninth ? [ninth] : []),
      ],
    );
    return rows.map((r) => ({
      ...r,
      expires_epoch: Number(r.expires_epoch),
      lifetime_ms: r.lifetime_ms === null ? null : Number(r.lifetime_ms),
      ari_renew_epoch: r.ari_renew_epoch === null ? null : Number(r.ari_renew_epoch),
    }));
  }

  /** Which of these job ids exist already (any status): their expiry was handled. */
  async existingJobIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows: { id: string }[] = await this.ds.query(`SELECT id FROM jobs WHERE id = ANY($1::text[])`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Applies expiry statuses in one statement, each guarded by the status it was computed
   * from (a certificate revoked, renewed or archived meanwhile is left alone; a stale
   * RenewalInProgress only while still no renewal job is open), with one audit row for
   * the page in the same transaction. Returns the changes made.
   */
  async applyStatusChanges(changes: StatusChange[]): Promise<StatusChange[]> {
    if (changes.length === 0) return [];
    return this.ds.transaction(async (m) => {
      // Lock in id order first: two ticks racing over the same page then queue instead
      // of deadlocking on rows the UPDATE would visit in plan order.
      await m.query(`SELECT 1 FROM managed_certificates WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`, [
        changes.map((c) => c.id),
      ]);
      const applied = rowsOf<StatusChange>(
        await m.query(
          `UPDATE managed_certificates mc
              SET status = v.to_status, updated_at = now()
             FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, from_status, to_status)
            WHERE mc.id = v.id AND mc.status = v.from_status AND mc.archived_at IS NULL
              AND (v.from_status <> 'RenewalInProgress' OR NOT ${RENEWAL_OPEN})
            RETURNING mc.id, v.from_status AS "from", v.to_status AS "to"`,
          [changes.map((c) => c.id), changes.map((c) => c.from), changes.map((c) => c.to)],
        ),
      );
      if (applied.length > 0) {
        await this.audit.recordDomain(m, SYSTEM_ACTOR, 'certificate_expiry_status_changed', 'certificate', '', {
          loop: 'renewal-check',
          count: applied.length,
          changes: applied,
        });
      }
      return applied;
    });
  }

  /** Inserts the alerts not sent yet (dedup key); returns how many were new. */
  async insertAlerts(alerts: NewExpiryAlert[]): Promise<number> {
    if (alerts.length === 0) return 0;
    const rows = rowsOf<{ id: string }>(
      await this.ds.query(
        `INSERT INTO notification_events
                (id, type, certificate_id, channel, recipient, message, severity, status, dedup_key)
         SELECT a.id, $6, a.certificate_id, $7, a.recipient, a.message, a.severity, 'pending', a.dedup_key
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $8::text[])
                AS a(id, certificate_id, recipient, message, severity, dedup_key)
         ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
         RETURNING id`,
        [
          alerts.map(() => newId(IdPrefix.Notification)),
          alerts.map((a) => a.certificateId),
          alerts.map((a) => a.recipient),
          alerts.map((a) => a.message),
          alerts.map((a) => a.severity),
          EXPIRY_ALERT_TYPE,
          EXPIRY_ALERT_CHANNEL,
          alerts.map((a) => a.dedupKey),
        ],
      ),
    );
    return rows.length;
  }

  /**
   * Creates the renewal job `jobId` for the certificate's expiry `expiresEpochSeconds`
   * and marks it RenewalInProgress, with an audit row, in one transaction. The row lock
   * re-checks what the page read: a certificate revoked, archived or renewed since gets
   * no job. An existing job with this id, or another open one, is left as it is.
   */
  async createRenewalJob(
    certificateId: string,
    expiresEpochSeconds: number,
    jobId: string,
    details: Record<string, unknown>,
  ): Promise<{ outcome: RenewalJobOutcome; attempts: number }> {
    return this.ds.transaction(async (m) => {
      const rows: { status: CertificateStatus; epoch: number | string; agent_id: string | null }[] = await m.query(
        `SELECT status, agent_id, floor(extract(epoch FROM expires_at))::float8 AS epoch
           FROM managed_certificates
          WHERE id = $1 AND archived_at IS NULL AND expires_at IS NOT NULL
          FOR UPDATE`,
        [certificateId],
      );
      const cert = rows[0];
      if (!cert || !RENEWAL_CHECK_STATUSES.includes(cert.status) || Number(cert.epoch) !== expiresEpochSeconds) {
        return { outcome: 'ineligible', attempts: 0 };
      }
      const job = await this.jobs.create(m, { id: jobId, type: 'Renewal', certificateId, agentId: cert.agent_id });
      if (!job.created) return { outcome: 'exists', attempts: job.attempts };
      await m.query(`UPDATE managed_certificates SET status = 'RenewalInProgress', updated_at = now() WHERE id = $1`, [
        certificateId,
      ]);
      await this.audit.recordDomain(m, SYSTEM_ACTOR, 'certificate_renewal_scheduled', 'certificate', certificateId, {
        ...details,
        job_id: job.id,
        previous_status: cert.status,
      });
      return { outcome: job.status === 'Pending' ? 'created' : 'gated', attempts: job.attempts };
    });
  }
}
