import { createHash } from 'node:crypto';
import { CLIENT_ID_PATTERN, Severity, type CertificateStatus } from '@certctl/domain';

/**
 * The renewal check's decisions, free of I/O so they are unit-tested on their own.
 *
 * The renewal window of a certificate is its policy's renewal_days_before (30 days without
 * a policy), capped at a third of the certificate's own lifetime (not_after - not_before of
 * its current version): see effectiveRenewalWindowMs. Without the cap, a certificate that
 * lives less than the policy window (a 7-day certificate under a 30-day policy) would be
 * inside the window from birth, and so would every renewal of it: each check would renew
 * it again. With it, the 7-day certificate renews once, when about 2.3 days are left.
 * "Inside the window" below means this effective window.
 *
 * Status transitions the renewal check makes (anything not listed is left alone):
 *
 * | status            | condition                                              | becomes           |
 * |-------------------|--------------------------------------------------------|-------------------|
 * | Active            | expires_at passed                                      | Expired           |
 * | Active            | inside the renewal window                              | Expiring          |
 * | Expiring          | expires_at passed                                      | Expired           |
 * | Failed            | expires_at passed                                      | Expired           |
 * | RenewalInProgress | no open Issuance/Renewal job (stale) and expired       | Expired           |
 * | RenewalInProgress | no open Issuance/Renewal job (stale) and in the window | Expiring          |
 * | any of the above  | a renewal job was created for it in this tick          | RenewalInProgress |
 *
 * - Pending (never issued), Revoked and Archived (status or archived_at) certificates are
 *   not read at all: no status change, no alert, no job.
 * - Failed stays Failed inside the window (it already asks for attention and says more
 *   than Expiring) but becomes Expired once the certificate it serves has expired.
 * - RenewalInProgress is kept while an Issuance/Renewal job of the certificate is open
 *   (Pending, AwaitingCSR, AwaitingApproval, Running, or Failed with attempts left, which
 *   the retry loop will pick up): the job's outcome owns the status. Once that job is gone
 *   for good the status falls back to what the expiry says.
 * - Expired is left as it is; a renewal job created for an expired certificate moves it to
 *   RenewalInProgress, and back to Expired if that job ends without a new version.
 * - Expiring is never moved back to Active here: a new version (issuance) does that.
 * - Certificates of short-lived profiles (max TTL under an hour) are the short-lived
 *   expiry loop's: with day-based windows every one of them would be "inside the window"
 *   from birth and be renewed and alerted on every tick.
 */

export const DAY_MS = 86_400_000;
/** Window and thresholds of a certificate without a renewal policy (the policy defaults). */
export const DEFAULT_RENEWAL_DAYS_BEFORE = 30;
export const DEFAULT_ALERT_THRESHOLDS_DAYS: readonly number[] = [30, 14, 7, 0];
/** Profiles with a max TTL below this are short-lived (left out of CRLs, expire by loop). */
export const SHORT_LIVED_MAX_TTL_SECONDS = 3600;

/** Statuses of issued certificates the renewal check reads (see the table above). */
export const RENEWAL_CHECK_STATUSES: readonly CertificateStatus[] = [
  'Active',
  'Expiring',
  'Expired',
  'Failed',
  'RenewalInProgress',
];

export interface ExpiryFacts {
  status: CertificateStatus;
  /** expires_at minus the tick's clock; zero or less means expired. */
  msLeft: number;
  renewalDaysBefore: number;
  /** not_after - not_before of the current version; unknown (no version): the policy window alone. */
  lifetimeMs?: number | null;
  /** An Issuance/Renewal job of the certificate is open or will be retried. */
  renewalOpen: boolean;
}

export function isExpired(msLeft: number): boolean {
  return msLeft <= 0;
}

/** The share of a certificate's lifetime the renewal window may take at most. */
export const MAX_WINDOW_LIFETIME_FRACTION = 1 / 3;

/**
 * The renewal window in ms: min(renewal_days_before, a third of the certificate's lifetime).
 * A lifetime that is unknown (no version recorded, e.g. an imported certificate) or not
 * positive leaves the policy window as it is.
 */
export function effectiveRenewalWindowMs(renewalDaysBefore: number, lifetimeMs?: number | null): number {
  const policy = renewalDaysBefore * DAY_MS;
  if (lifetimeMs === undefined || lifetimeMs === null || !(lifetimeMs > 0)) return policy;
  return Math.min(policy, lifetimeMs * MAX_WINDOW_LIFETIME_FRACTION);
}

export function inRenewalWindow(msLeft: number, renewalDaysBefore: number, lifetimeMs?: number | null): boolean {
  return msLeft <= effectiveRenewalWindowMs(renewalDaysBefore, lifetimeMs);
}

/** The status the expiry calls for, or undefined to leave it as it is. */
export function nextExpiryStatus(f: ExpiryFacts): CertificateStatus | undefined {
  const expired = isExpired(f.msLeft);
  const inWindow = inRenewalWindow(f.msLeft, f.renewalDaysBefore, f.lifetimeMs);
  switch (f.status) {
    case 'Active':
      return expired ? 'Expired' : inWindow ? 'Expiring' : undefined;
    case 'Expiring':
    case 'Failed':
      return expired ? 'Expired' : undefined;
    case 'RenewalInProgress':
      if (f.renewalOpen) return undefined;
      return expired ? 'Expired' : inWindow ? 'Expiring' : undefined;
    case 'Pending':
    case 'Expired':
    case 'Revoked':
    case 'Archived':
      return undefined;
  }
}

/**
 * The most urgent alert threshold (in days) the certificate has crossed, or undefined.
 * A threshold T is crossed once at most T days are left (T = 0: expired). Only the most
 * urgent one fires: a certificate first seen with 5 days left gets the 7-day alert, not
 * 30 + 14 + 7, and one that sat unseen past several thresholds is not flooded with stale
 * ones. Each fires once per certificate, expiry and threshold (dedup key), so an hourly
 * check sends the 14-day alert once.
 */
export function mostUrgentCrossedThreshold(thresholds: readonly number[], msLeft: number): number | undefined {
  let best: number | undefined;
  for (const t of thresholds) {
    if (!Number.isFinite(t) || msLeft > t * DAY_MS) continue;
    if (best === undefined || t < best) best = t;
  }
  return best;
}

/** 7 days or less: critical; 14 or less: warning; earlier: info. */
export function alertSeverity(thresholdDays: number): Severity {
  if (thresholdDays <= 7) return Severity.Critical;
  if (thresholdDays <= 14) return Severity.Warning;
  return Severity.Info;
}

/** One alert per certificate, expiry (the same certificate renewed has a new one) and threshold. */
export function expiryAlertDedupKey(certificateId: string, expiresEpochSeconds: number, thresholdDays: number): string {
  return `expiry:${certificateId}:${expiresEpochSeconds}:${thresholdDays}`;
}

export function expiryAlertMessage(
  cert: { id: string; name: string; commonName: string },
  expiresAt: Date,
  msLeft: number,
  thresholdDays: number,
): string {
  const on = expiresAt.toISOString();
  const what = `Certificate ${cert.name} (${cert.id}, CN ${cert.commonName})`;
  if (isExpired(msLeft)) {
    const ago = Math.floor(-msLeft / DAY_MS);
    const when = ago === 0 ? 'today' : `${ago} day${ago === 1 ? '' : 's'} ago`;
    return `${what} expired ${when} (${on}) [threshold ${thresholdDays}d]`;
  }
  const days = Math.floor(msLeft / DAY_MS);
  const left = days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`;
  return `${what} expires in ${left} (${on}) [threshold ${thresholdDays}d]`;
}

const JOB_ID_MAX = 128;

/**
 * The renewal job of one certificate and expiry: two ticks or two replicas insert the same
 * id, so one job exists; a renewed certificate has a new expiry and gets a new job. Long
 * certificate ids are hashed so the id stays within the id rules (<= 128 chars).
 */
export function renewalJobId(certificateId: string, expiresEpochSeconds: number): string {
  const plain = `job-renew-${certificateId}-${expiresEpochSeconds}`;
  if (plain.length <= JOB_ID_MAX && CLIENT_ID_PATTERN.test(plain)) return plain;
  const digest = createHash('sha256').update(certificateId).digest('hex').slice(0, 32);
  return `job-renew-h${digest}-${expiresEpochSeconds}`;
}

/**
 * ACME Renewal Information (RFC 9773). For certificates of an ACME issuer whose directory
 * has renewalInfo, the CA's suggested window decides when renewal starts instead of the
 * threshold window: a time picked uniformly at random inside it (section 4.2), stored so
 * every replica renews at the same moment, and kept while the CA keeps the same window.
 * A CA without ARI, or one that fails to answer before any window is known, leaves the
 * threshold rules in force.
 */

/** How often a CA that gave no Retry-After is asked again (RFC 9773 suggests 6 hours). */
export const ARI_DEFAULT_POLL_MS = 6 * 3_600_000;
/** Asked again at the earliest after this, whatever Retry-After says (a confused CA). */
export const ARI_MIN_POLL_MS = 60_000;
/** A CA that answers nothing for the certificate (no ARI) is asked again a day later. */
export const ARI_NO_INFO_POLL_MS = DAY_MS;
/** After a failed ARI request: the window known so far stays, the CA is asked again in an hour. */
export const ARI_ERROR_POLL_MS = 3_600_000;

/**
 * A uniformly random time in what is left of the window, [max(start, now), end): the
 * pick is made once per window, so a window already under way still spreads renewals over
 * its remaining part. A window that is over means now (RFC 9773: renew immediately).
 */
export function pickRenewalTime(start: Date, end: Date, now: Date, random: () => number = Math.random): Date {
  const from = Math.max(start.getTime(), now.getTime());
  const span = end.getTime() - from;
  if (span <= 0) return now;
  return new Date(from + Math.floor(random() * span));
}

/** When to ask the CA again: never before its Retry-After, 6 hours without one. */
export function nextAriPollMs(retryAfterSeconds: number | undefined): number {
  if (retryAfterSeconds === undefined || !Number.isFinite(retryAfterSeconds)) return ARI_DEFAULT_POLL_MS;
  // Bounded above only so the timestamp stays sane (a year); below by a minute.
  return Math.min(Math.max(retryAfterSeconds * 1000, ARI_MIN_POLL_MS), 365 * DAY_MS);
}

/**
 * Whether renewal is due: at the ARI time when there is one that falls before expiry (a
 * time after it would renew too late: the threshold rules then apply), else inside the
 * threshold window.
 */
export function renewalDue(f: {
  nowMs: number;
  msLeft: number;
  renewalDaysBefore: number;
  lifetimeMs?: number | null;
  ariRenewAtMs?: number | null;
}): { due: boolean; trigger: 'ari' | 'threshold' } {
  const expiresMs = f.nowMs + f.msLeft;
  if (f.ariRenewAtMs !== undefined && f.ariRenewAtMs !== null && f.ariRenewAtMs < expiresMs) {
    return { due: f.nowMs >= f.ariRenewAtMs, trigger: 'ari' };
  }
  return { due: inRenewalWindow(f.msLeft, f.renewalDaysBefore, f.lifetimeMs), trigger: 'threshold' };
}
