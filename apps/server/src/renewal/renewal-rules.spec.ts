import { CLIENT_ID_PATTERN, type CertificateStatus } from '@certctl/domain';
import {
  alertSeverity,
  DAY_MS,
  DEFAULT_ALERT_THRESHOLDS_DAYS,
  effectiveRenewalWindowMs,
  expiryAlertDedupKey,
  expiryAlertMessage,
  inRenewalWindow,
  mostUrgentCrossedThreshold,
  nextAriPollMs,
  nextExpiryStatus,
  pickRenewalTime,
  renewalDue,
  renewalJobId,
} from './renewal-rules';

describe('renewal rules', () => {
  const HOUR = 3_600_000;

  describe('nextExpiryStatus', () => {
    const at = (status: CertificateStatus, msLeft: number, renewalOpen = false) =>
      nextExpiryStatus({ status, msLeft, renewalDaysBefore: 30, renewalOpen });

    it('moves Active to Expiring inside the window and to Expired past expiry', () => {
      expect(at('Active', 31 * DAY_MS)).toBeUndefined();
      expect(at('Active', 30 * DAY_MS)).toBe('Expiring');
      expect(at('Active', HOUR)).toBe('Expiring');
      expect(at('Active', 0)).toBe('Expired');
      expect(at('Active', -DAY_MS)).toBe('Expired');
    });

    it('expires Expiring and Failed but never downgrades Failed to Expiring', () => {
      expect(at('Expiring', DAY_MS)).toBeUndefined();
      expect(at('Expiring', -1)).toBe('Expired');
      expect(at('Failed', DAY_MS)).toBeUndefined();
      expect(at('Failed', -1)).toBe('Expired');
    });

    it('keeps RenewalInProgress while its job is open, falls back to the expiry when it is not', () => {
      expect(at('RenewalInProgress', -DAY_MS, true)).toBeUndefined();
      expect(at('RenewalInProgress', DAY_MS, true)).toBeUndefined();
      expect(at('RenewalInProgress', -DAY_MS, false)).toBe('Expired');
      expect(at('RenewalInProgress', DAY_MS, false)).toBe('Expiring');
      expect(at('RenewalInProgress', 40 * DAY_MS, false)).toBeUndefined();
    });

    it('never touches Pending, Expired, Revoked or Archived', () => {
      for (const s of ['Pending', 'Expired', 'Revoked', 'Archived'] as const) {
        expect(at(s, -DAY_MS)).toBeUndefined();
        expect(at(s, DAY_MS)).toBeUndefined();
      }
    });

    it('uses the policy window (0 days: Expiring never, straight to Expired)', () => {
      const zero = (msLeft: number) =>
        nextExpiryStatus({ status: 'Active', msLeft, renewalDaysBefore: 0, renewalOpen: false });
      expect(zero(HOUR)).toBeUndefined();
      expect(zero(0)).toBe('Expired');
    });
  });

  describe('effective renewal window (the policy window, at most a third of the lifetime)', () => {
    it('keeps the policy window for certificates that live long enough, or whose lifetime is unknown', () => {
      expect(effectiveRenewalWindowMs(30, 90 * DAY_MS)).toBe(30 * DAY_MS);
      expect(effectiveRenewalWindowMs(30, 365 * DAY_MS)).toBe(30 * DAY_MS);
      expect(effectiveRenewalWindowMs(30, null)).toBe(30 * DAY_MS);
      expect(effectiveRenewalWindowMs(30, undefined)).toBe(30 * DAY_MS);
      expect(effectiveRenewalWindowMs(30, 0)).toBe(30 * DAY_MS);
      expect(effectiveRenewalWindowMs(30, -DAY_MS)).toBe(30 * DAY_MS);
      expect(effectiveRenewalWindowMs(0, 7 * DAY_MS)).toBe(0);
    });

    it('caps it at a third of a short lifetime', () => {
      expect(effectiveRenewalWindowMs(30, 7 * DAY_MS)).toBe((7 * DAY_MS) / 3);
      expect(effectiveRenewalWindowMs(30, 60 * DAY_MS)).toBe(20 * DAY_MS);
      expect(effectiveRenewalWindowMs(10, 24 * HOUR)).toBe(8 * HOUR);
    });

    it('does not put a fresh 7-day certificate under a 30-day policy in the window, nor its renewal', () => {
      const life = 7 * DAY_MS;
      expect(inRenewalWindow(life, 30, life)).toBe(false); // just issued
      expect(inRenewalWindow(5 * DAY_MS, 30, life)).toBe(false);
      expect(inRenewalWindow(2.3 * DAY_MS, 30, life)).toBe(true);
      expect(inRenewalWindow(life, 30)).toBe(true); // what the policy window alone said: renewal on every tick
      const status = (msLeft: number) =>
        nextExpiryStatus({ status: 'Active', msLeft, renewalDaysBefore: 30, lifetimeMs: life, renewalOpen: false });
      expect(status(6 * DAY_MS)).toBeUndefined();
      expect(status(2 * DAY_MS)).toBe('Expiring');
      expect(status(-1)).toBe('Expired');
    });
  });

  describe('mostUrgentCrossedThreshold', () => {
    const t = (days: number) => mostUrgentCrossedThreshold(DEFAULT_ALERT_THRESHOLDS_DAYS, days * DAY_MS);

    it('fires nothing before the first threshold, then the most urgent crossed one only', () => {
      expect(t(45)).toBeUndefined();
      expect(t(30.5)).toBeUndefined();
      expect(t(30)).toBe(30);
      expect(t(20)).toBe(30);
      expect(t(14)).toBe(14);
      expect(t(5)).toBe(7);
      expect(t(0.1)).toBe(7);
      expect(t(0)).toBe(0);
      expect(t(-3)).toBe(0);
    });

    it('honours custom and unordered thresholds', () => {
      expect(mostUrgentCrossedThreshold([3, 60, 21], 25 * DAY_MS)).toBe(60);
      expect(mostUrgentCrossedThreshold([3, 60, 21], 2 * DAY_MS)).toBe(3);
      expect(mostUrgentCrossedThreshold([], -DAY_MS)).toBeUndefined();
    });
  });

  it('grades severity by threshold', () => {
    expect([30, 14, 7, 0, 60, 10].map(alertSeverity)).toEqual([
      'info',
      'warning',
      'critical',
      'critical',
      'info',
      'warning',
    ]);
  });

  it('keys alerts by certificate, expiry and threshold', () => {
    expect(expiryAlertDedupKey('mc-a', 1_800_000_000, 14)).toBe('expiry:mc-a:1800000000:14');
  });

  it('names the certificate, CN and days left in the alert', () => {
    const cert = { id: 'mc-api', name: 'API prod', commonName: 'api.example.com' };
    const at = new Date('2030-01-10T00:00:00Z');
    expect(expiryAlertMessage(cert, at, 5.5 * DAY_MS, 7)).toBe(
      'Certificate API prod (mc-api, CN api.example.com) expires in 5 days (2030-01-10T00:00:00.000Z) [threshold 7d]',
    );
    expect(expiryAlertMessage(cert, at, 1.2 * DAY_MS, 7)).toContain('expires in 1 day (');
    expect(expiryAlertMessage(cert, at, HOUR, 0)).toContain('expires in less than a day');
    expect(expiryAlertMessage(cert, at, -HOUR, 0)).toContain('expired today');
    expect(expiryAlertMessage(cert, at, -2.5 * DAY_MS, 0)).toContain('expired 2 days ago');
  });

  describe('renewalJobId', () => {
    it('is deterministic per certificate and expiry', () => {
      expect(renewalJobId('mc-api', 1_800_000_000)).toBe('job-renew-mc-api-1800000000');
      expect(renewalJobId('mc-api', 1_800_000_001)).not.toBe(renewalJobId('mc-api', 1_800_000_000));
    });

    it('stays within the id rules for the longest certificate ids', () => {
      const long = `m${'x'.repeat(127)}`;
      const id = renewalJobId(long, 1_800_000_000);
      expect(id.length).toBeLessThanOrEqual(128);
      expect(id).toMatch(CLIENT_ID_PATTERN);
      expect(renewalJobId(long, 1_800_000_000)).toBe(id);
      expect(renewalJobId(`m${'y'.repeat(127)}`, 1_800_000_000)).not.toBe(id);
    });
  });

  describe('ARI (RFC 9773)', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const d = (days: number) => new Date(now.getTime() + days * DAY_MS);

    it('picks uniformly in what is left of the window, and now once it is over', () => {
      expect(pickRenewalTime(d(10), d(12), now, () => 0)).toEqual(d(10));
      expect(pickRenewalTime(d(10), d(12), now, () => 0.5)).toEqual(d(11));
      expect(pickRenewalTime(d(10), d(12), now, () => 0.999999).getTime()).toBeLessThan(d(12).getTime());
      // Under way: only the remaining part counts.
      expect(pickRenewalTime(d(-1), d(1), now, () => 0)).toEqual(now);
      expect(pickRenewalTime(d(-1), d(1), now, () => 0.5)).toEqual(d(0.5));
      expect(pickRenewalTime(d(-2), d(-1), now, () => 0.5)).toEqual(now);
    });

    it('asks again after Retry-After (at least a minute), 6 hours without one', () => {
      expect(nextAriPollMs(undefined)).toBe(6 * HOUR);
      expect(nextAriPollMs(7200)).toBe(2 * HOUR);
      expect(nextAriPollMs(0)).toBe(60_000);
      expect(nextAriPollMs(10 * 365 * 86_400)).toBe(365 * DAY_MS);
    });

    it('lets the ARI time decide when it falls before expiry, else the threshold window', () => {
      const base = { nowMs: now.getTime(), renewalDaysBefore: 30, lifetimeMs: 90 * DAY_MS };
      // Inside the threshold window, but the CA suggests later: not yet.
      expect(renewalDue({ ...base, msLeft: 20 * DAY_MS, ariRenewAtMs: d(5).getTime() })).toEqual({
        due: false,
        trigger: 'ari',
      });
      // Far from the threshold window, but the CA asks for it now.
      expect(renewalDue({ ...base, msLeft: 60 * DAY_MS, ariRenewAtMs: d(-1).getTime() })).toEqual({
        due: true,
        trigger: 'ari',
      });
      // A time after expiry would renew too late: the thresholds apply.
      expect(renewalDue({ ...base, msLeft: 20 * DAY_MS, ariRenewAtMs: d(25).getTime() })).toEqual({
        due: true,
        trigger: 'threshold',
      });
      expect(renewalDue({ ...base, msLeft: 40 * DAY_MS, ariRenewAtMs: null })).toEqual({
        due: false,
        trigger: 'threshold',
      });
    });
  });
});
