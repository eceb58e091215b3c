import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { LoopName, QueueName } from '@certctl/domain';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import {
  createLocalCaIssuer,
  createProfile,
  ISSUING_ENV,
  issueCertificate,
} from '../../../../test/integration/issued-certificates';
import { JobRunner } from '../jobs/job-engine';
import { RenewalCheckService } from './renewal-check.service';
import { DAY_MS, renewalJobId } from './renewal-rules';
import { ShortLivedExpiryService } from './short-lived-expiry.service';

const MINUTE = 60_000;

/** Fixture rows in SQL (the inventory API is tested elsewhere): what a fleet looks like. */
function fixtures(t: TestApp, tag: string) {
  const q = (sql: string, params: unknown[] = []) => t.ds.query(sql, params);
  return {
    q,
    async base() {
      await q(`INSERT INTO owners (id, name, email) VALUES ($1, 'Renewal Owner', $2)`, [
        `o-rn-${tag}`,
        `owner-${tag}@example.com`,
      ]);
      await q(
        `INSERT INTO issuers (id, name, type, enabled) VALUES ($1, $1, 'LocalCA', true), ($2, $2, 'LocalCA', false)`,
        [`iss-rn-${tag}`, `iss-rn-off-${tag}`],
      );
      await q(
        `INSERT INTO renewal_policies (id, name, renewal_days_before, alert_thresholds_days, auto_renew) VALUES
           ($1, $1, 30, '{30,14,7,0}', false),
           ($2, $2, 10, '{21,3}', true)`,
        [`rp-noauto-${tag}`, `rp-custom-${tag}`],
      );
      await q(`INSERT INTO certificate_profiles (id, name, max_ttl_seconds) VALUES ($1, $1, 1800), ($2, $2, 7776000)`, [
        `prof-short-${tag}`,
        `prof-long-${tag}`,
      ]);
    },
    async cert(
      id: string,
      status: string,
      expiresInMs: number | null,
      opts: { issuer?: string; owner?: string; policy?: string; profile?: string; archived?: boolean } = {},
    ) {
      await q(
        `INSERT INTO managed_certificates
           (id, name, common_name, status, expires_at, issuer_id, owner_id, renewal_policy_id, profile_id, archived_at)
         VALUES ($1, $2, $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL
                                      ELSE now() + make_interval(secs => $5::float8 / 1000) END,
                 $6, $7, $8, $9, CASE WHEN $10 THEN now() END)`,
        [
          id,
          `Cert ${id}`,
          `${id}.example.com`,
          status,
          expiresInMs,
          opts.issuer ?? null,
          opts.owner ?? null,
          opts.policy ?? null,
          opts.profile ?? null,
          opts.archived ?? false,
        ],
      );
    },
    async status(id: string): Promise<string> {
      const rows: { status: string }[] = await q(`SELECT status FROM managed_certificates WHERE id = $1`, [id]);
      return rows[0].status;
    },
    async alerts(id: string) {
      return q(
        `SELECT type, channel, recipient, message, severity, status, dedup_key
           FROM notification_events WHERE certificate_id = $1 ORDER BY created_at, id`,
        [id],
      ) as Promise<
        {
          type: string;
          channel: string;
          recipient: string;
          message: string;
          severity: string;
          status: string;
          dedup_key: string;
        }[]
      >;
    },
    async jobs(id: string) {
      return q(`SELECT id, type, status FROM jobs WHERE certificate_id = $1 ORDER BY created_at, id`, [id]) as Promise<
        { id: string; type: string; status: string }[]
      >;
    },
    async epoch(id: string): Promise<number> {
      const rows: { e: number }[] = await q(
        `SELECT floor(extract(epoch FROM expires_at))::float8 AS e FROM managed_certificates WHERE id = $1`,
        [id],
      );
      return rows[0].e;
    },
  };
}

/** The interval of each loop under test (the agent health check's too). */
const loopIntervals = (every: string) => ({
  CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: every,
  CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL: every,
  CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL: every,
});

/** Boot ran each loop once (a new job scheduler ticks at once): wait so it cannot race a test. */
async function bootTicksDone(t: TestApp, loops: string[]): Promise<void> {
  const queue = t.app.get<Queue>(getQueueToken(QueueName.Scheduler));
  await eventually(async () => {
    const done = new Set((await queue.getJobs(['completed', 'failed'])).map((j) => j.name));
    return loops.every((l) => done.has(l)) ? true : undefined;
  }, 20_000);
}

describe('renewal check and short-lived expiry (loops run directly)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let check: RenewalCheckService;
  let shortLived: ShortLivedExpiryService;
  let f: ReturnType<typeof fixtures>;
  const tag = randomBytes(3).toString('hex');
  const id = (n: string) => `mc-rn-${n}-${tag}`;
  const issuer = `iss-rn-${tag}`;
  const owner = `o-rn-${tag}`;

  beforeAll(async () => {
    db = await createPrivateDatabase(`renewal_${tag}`);
    t = await createTestApp({ ...db.env, ...loopIntervals('1h') }); // only the boot ticks: runs here are direct
    await bootTicksDone(t, [LoopName.RenewalCheck, LoopName.ShortLivedExpiry]);
    // The issuance handler is not under test: created jobs stay Pending where we can see them
    // (the app's close() closes the worker again, harmlessly).
    await t.app.get(JobRunner).worker.close(); // pause() still takes the job it is blocked waiting for
    check = t.app.get(RenewalCheckService);
    shortLived = t.app.get(ShortLivedExpiryService);
    f = fixtures(t, tag);
    await f.base();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('sets Expiring/Expired, alerts the most urgent threshold, creates renewal jobs, and leaves the rest alone', async () => {
    await f.cert(id('auto'), 'Active', 20 * DAY_MS, { issuer, owner });
    await f.cert(id('five'), 'Active', 5 * DAY_MS);
    await f.cert(id('gone'), 'Active', -DAY_MS, { issuer, owner, policy: `rp-noauto-${tag}` });
    await f.cert(id('far'), 'Active', 60 * DAY_MS, { issuer });
    await f.cert(id('revoked'), 'Revoked', 3 * DAY_MS, { issuer });
    await f.cert(id('archived'), 'Active', 3 * DAY_MS, { issuer, archived: true });
    await f.cert(id('pending'), 'Pending', null, { issuer });
    await f.cert(id('failed'), 'Failed', 3 * DAY_MS);
    await f.cert(id('failed-gone'), 'Failed', -DAY_MS);
    await f.cert(id('busy'), 'RenewalInProgress', -DAY_MS, { issuer });
    await f.q(`INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Renewal', $2, 'AwaitingCSR')`, [
      `job-manual-${tag}`,
      id('busy'),
    ]);
    await f.cert(id('stale'), 'RenewalInProgress', 10 * DAY_MS);
    await f.cert(id('short'), 'Active', -MINUTE, { issuer, profile: `prof-short-${tag}` });
    await f.cert(id('custom'), 'Active', 15 * DAY_MS, { issuer, policy: `rp-custom-${tag}` });
    await f.cert(id('off'), 'Active', 5 * DAY_MS, { issuer: `iss-rn-off-${tag}`, profile: `prof-long-${tag}` });

    const summary = await check.run();
    expect(summary.jobsCreated).toBe(1);
    expect(summary.jobsFailed).toBe(0);

    const statuses = Object.fromEntries(
      await Promise.all(
        [
          'auto',
          'five',
          'gone',
          'far',
          'revoked',
          'archived',
          'pending',
          'failed',
          'failed-gone',
          'busy',
          'stale',
          'short',
          'custom',
          'off',
        ].map(async (n) => [n, await f.status(id(n))]),
      ),
    );
    expect(statuses).toEqual({
      auto: 'RenewalInProgress', // in the window, auto-renew by default, has an issuer: job
      five: 'Expiring', // no issuer: no job
      gone: 'Expired', // auto_renew off: no job
      far: 'Active',
      revoked: 'Revoked',
      archived: 'Active',
      pending: 'Pending',
      failed: 'Failed',
      'failed-gone': 'Expired',
      busy: 'RenewalInProgress', // its open job owns the status
      stale: 'Expiring', // RenewalInProgress without any job
      short: 'Active', // short-lived: the other loop's
      custom: 'Active', // outside its 10-day window
      off: 'Expiring', // disabled issuer: no job
    });

    const epoch = await f.epoch(id('auto'));
    expect(await f.jobs(id('auto'))).toEqual([
      { id: renewalJobId(id('auto'), epoch), type: 'Renewal', status: 'Pending' },
    ]);
    const enqueued = await t.app
      .get<Queue>(getQueueToken(QueueName.Jobs))
      .getJob(`${renewalJobId(id('auto'), epoch)}-a0`);
    expect(enqueued?.data).toEqual({ job_id: renewalJobId(id('auto'), epoch) });
    for (const n of ['five', 'gone', 'far', 'revoked', 'archived', 'pending', 'failed', 'stale', 'custom', 'off']) {
      expect(await f.jobs(id(n))).toEqual([]);
    }
    expect(await f.jobs(id('busy'))).toEqual([expect.objectContaining({ id: `job-manual-${tag}` })]);

    // One alert each, the most urgent threshold crossed, to the owner when there is one.
    expect(await f.alerts(id('auto'))).toEqual([
      {
        type: 'ExpirationWarning',
        channel: 'Email',
        recipient: `owner-${tag}@example.com`,
        message: expect.stringMatching(
          new RegExp(
            `^Certificate Cert ${id('auto')} \\(${id('auto')}, CN ${id('auto')}\\.example\\.com\\) expires in 19 days`,
          ),
        ),
        severity: 'info',
        status: 'pending',
        dedup_key: `expiry:${id('auto')}:${epoch}:30`,
      },
    ]);
    const only = async (n: string) => {
      const rows = await f.alerts(id(n));
      expect(rows).toHaveLength(1);
      return rows[0];
    };
    expect(await only('five')).toMatchObject({
      severity: 'critical',
      recipient: '',
      dedup_key: expect.stringMatching(/:7$/),
    });
    expect((await only('five')).message).toContain('expires in 4 days');
    expect(await only('gone')).toMatchObject({ severity: 'critical', dedup_key: expect.stringMatching(/:0$/) });
    expect((await only('gone')).message).toContain('expired 1 day ago');
    expect(await only('failed')).toMatchObject({ dedup_key: expect.stringMatching(/:7$/) });
    expect(await only('busy')).toMatchObject({ dedup_key: expect.stringMatching(/:0$/) });
    expect(await only('custom')).toMatchObject({ severity: 'info', dedup_key: expect.stringMatching(/:21$/) });
    for (const n of ['far', 'revoked', 'archived', 'pending', 'short']) expect(await f.alerts(id(n))).toEqual([]);

    interface AuditRow {
      action: string;
      resource_id: string;
      actor: string;
      actor_type: string;
      details: { changes?: { id: string; from: string; to: string }[] };
    }
    const audit: AuditRow[] = await f.q(
      `SELECT action, resource_id, actor, actor_type, details FROM audit_events
          WHERE action IN ('certificate_renewal_scheduled', 'certificate_expiry_status_changed') ORDER BY created_at`,
    );
    expect(audit.filter((a) => a.action === 'certificate_renewal_scheduled')).toEqual([
      expect.objectContaining({
        resource_id: id('auto'),
        actor: 'system',
        actor_type: 'System',
        details: expect.objectContaining({ job_id: renewalJobId(id('auto'), epoch), previous_status: 'Expiring' }),
      }),
    ]);
    const changed = audit
      .filter((a) => a.action === 'certificate_expiry_status_changed')
      .flatMap((a) => a.details.changes ?? []);
    expect(changed).toEqual(expect.arrayContaining([{ id: id('gone'), from: 'Active', to: 'Expired' }]));
  });

  it('fires each alert and creates each job once however often it runs', async () => {
    await f.cert(id('again'), 'Active', 6 * DAY_MS, { issuer, owner });
    for (let i = 0; i < 3; i++) await check.run();
    const second = await check.run();
    expect(second).toMatchObject({ alerts: 0, jobsCreated: 0, statusChanges: {} });
    expect(await f.alerts(id('again'))).toHaveLength(1);
    expect(await f.alerts(id('auto'))).toHaveLength(1);
    expect(await f.alerts(id('five'))).toHaveLength(1);
    expect(await f.jobs(id('again'))).toHaveLength(1);
    expect(await f.jobs(id('auto'))).toHaveLength(1);
  });

  it('creates one renewal job when ticks race (two replicas)', async () => {
    const race = Array.from({ length: 4 }, (_, i) => id(`race${i}`));
    for (const c of race) await f.cert(c, 'Active', 9 * DAY_MS, { issuer, owner });
    const results = await Promise.all([check.run(), check.run(), check.run()]);
    expect(results.reduce((n, r) => n + r.jobsFailed, 0)).toBe(0);
    for (const c of race) {
      const jobs = await f.jobs(c);
      expect(jobs).toEqual([{ id: renewalJobId(c, await f.epoch(c)), type: 'Renewal', status: 'Pending' }]);
      expect(await f.status(c)).toBe('RenewalInProgress');
      expect(await f.alerts(c)).toHaveLength(1);
      const audit: unknown[] = await f.q(
        `SELECT 1 FROM audit_events WHERE action = 'certificate_renewal_scheduled' AND resource_id = $1`,
        [c],
      );
      expect(audit).toHaveLength(1);
    }
  });

  it('walks large fleets in keyset pages (ties on expires_at included)', async () => {
    const many = Array.from({ length: 23 }, (_, i) => id(`page${String(i).padStart(2, '0')}`));
    await f.q(
      `INSERT INTO managed_certificates (id, name, common_name, status, expires_at)
       SELECT x, x, 'page.example.com', 'Active', now() + interval '12 days' FROM unnest($1::text[]) x`,
      [many],
    );
    const summary = await check.run({ batchSize: 4 });
    expect(summary.statusChanges.Expiring).toBeGreaterThanOrEqual(many.length);
    const rows: { status: string; n: number }[] = await f.q(
      `SELECT mc.status, count(ne.id)::int AS n FROM managed_certificates mc
         LEFT JOIN notification_events ne ON ne.certificate_id = mc.id
        WHERE mc.id = ANY($1) GROUP BY mc.id, mc.status`,
      [many],
    );
    expect(rows).toHaveLength(many.length);
    expect(rows.every((r) => r.status === 'Expiring' && r.n === 1)).toBe(true);
  });

  it('fires 30, 14, 7 and 0 once each as time passes, and nothing twice for one threshold', async () => {
    const c = id('clock');
    await f.cert(c, 'Active', 40 * DAY_MS, { owner });
    const expires = (await f.epoch(c)) * 1000;
    const at = (msBefore: number) => check.run({ at: new Date(expires - msBefore) });
    const keys = async () => (await f.alerts(c)).map((a) => a.dedup_key.split(':').pop());

    await at(31 * DAY_MS);
    expect(await keys()).toEqual([]);
    expect(await f.status(c)).toBe('Active');
    await at(30 * DAY_MS - MINUTE);
    await at(29 * DAY_MS);
    expect(await keys()).toEqual(['30']);
    expect(await f.status(c)).toBe('Expiring');
    await at(14 * DAY_MS - MINUTE);
    await at(10 * DAY_MS);
    expect(await keys()).toEqual(['30', '14']);
    await at(6 * DAY_MS);
    await at(DAY_MS);
    expect(await keys()).toEqual(['30', '14', '7']);
    await at(-MINUTE);
    await at(-2 * DAY_MS);
    expect(await keys()).toEqual(['30', '14', '7', '0']);
    expect((await f.alerts(c)).map((a) => a.severity)).toEqual(['info', 'warning', 'critical', 'critical']);
    expect(await f.status(c)).toBe('Expired');
  });

  it('expires short-lived certificates once their time is up, and nothing else', async () => {
    const profile = `prof-short-${tag}`;
    await f.cert(id('sl-done'), 'Active', -MINUTE, { profile });
    await f.cert(id('sl-live'), 'Active', 10 * MINUTE, { profile });
    await f.cert(id('sl-revoked'), 'Revoked', -MINUTE, { profile });
    await f.cert(id('sl-archived'), 'Active', -MINUTE, { profile, archived: true });
    await f.cert(id('sl-long'), 'Active', -MINUTE, { profile: `prof-long-${tag}` });
    const n = await shortLived.run({ batchSize: 1 });
    expect(n).toBe(2); // sl-done and 'short' from the first test
    expect(await f.status(id('sl-done'))).toBe('Expired');
    expect(await f.status(id('short'))).toBe('Expired');
    expect(await f.status(id('sl-live'))).toBe('Active');
    expect(await f.status(id('sl-revoked'))).toBe('Revoked');
    expect(await f.status(id('sl-archived'))).toBe('Active');
    expect(await f.status(id('sl-long'))).toBe('Active'); // the renewal check's, not this loop's
    expect(await shortLived.run()).toBe(0);
    const audit: { details: { loop: string; changes: { id: string }[] } }[] = await f.q(
      `SELECT details FROM audit_events WHERE action = 'certificate_expiry_status_changed'
         AND details->>'loop' = 'short-lived-expiry'`,
    );
    expect(audit.flatMap((a) => a.details.changes.map((c) => c.id)).sort()).toEqual(
      [id('short'), id('sl-done')].sort(),
    );
  });
});

describe('renewal, short-lived and agent health loops on the real scheduler', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');

  beforeAll(async () => {
    db = await createPrivateDatabase(`renewal_sched_${tag}`);
    t = await createTestApp({ ...db.env, ...loopIntervals('300ms'), CERTCTL_AGENT_OFFLINE_AFTER: '2s' });
    await t.app.get(JobRunner).worker.close(); // pause() still takes the job it is blocked waiting for
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('ticks each loop repeatedly: statuses, alerts, jobs and offline agents follow without a direct call', async () => {
    const f = fixtures(t, tag);
    await f.base();
    const renew = `mc-rs-renew-${tag}`;
    const short = `mc-rs-short-${tag}`;
    await f.cert(renew, 'Active', 3 * DAY_MS, { issuer: `iss-rn-${tag}`, owner: `o-rn-${tag}` });
    await f.cert(short, 'Active', -MINUTE, { profile: `prof-short-${tag}` });
    const agent = `ag-rs-${tag}`;
    await f.q(`INSERT INTO agents (id, name, status, last_heartbeat_at) VALUES ($1, $1, 'Online', now())`, [agent]);
    // A heartbeat from the future stands for one that keeps arriving: it stays Online.
    const fresh = `ag-rs-fresh-${tag}`;
    await f.q(
      `INSERT INTO agents (id, name, status, last_heartbeat_at) VALUES ($1, $1, 'Online', now() + interval '1 hour')`,
      [fresh],
    );
    const agentStatus = async (a = agent) =>
      ((await f.q(`SELECT status FROM agents WHERE id = $1`, [a])) as { status: string }[])[0].status;

    await eventually(async () => ((await f.status(renew)) === 'RenewalInProgress' ? true : undefined), 15_000);
    await eventually(async () => ((await f.status(short)) === 'Expired' ? true : undefined), 15_000);
    await eventually(async () => ((await agentStatus()) === 'Offline' ? true : undefined), 15_000);
    expect(await agentStatus(fresh)).toBe('Online');

    await new Promise((r) => setTimeout(r, 1_000)); // a few more ticks of each loop
    expect(await f.jobs(renew)).toHaveLength(1);
    expect(await f.alerts(renew)).toEqual([
      expect.objectContaining({ severity: 'critical', recipient: `owner-${tag}@example.com` }),
    ]);
    const offlineAudit: unknown[] = await f.q(
      `SELECT 1 FROM audit_events WHERE action = 'agents_marked_offline' AND details->'agent_ids' ? $1`,
      [agent],
    );
    expect(offlineAudit).toHaveLength(1);
  });
});

describe('certificates that live less than the renewal window (real issuance, real scheduler)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');

  beforeAll(async () => {
    db = await createPrivateDatabase(`renewal_short_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: '300ms' });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('renews a 7-day certificate under a 30-day policy once, when a third of its life is left, not on every tick', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const issuer = `iss-week-${tag}`;
    await createLocalCaIssuer(t, admin, issuer);
    await createProfile(t, admin, `prof-week-${tag}`, 'week.example.com', 7 * 86_400);
    const issued = await issueCertificate(t, admin, {
      id: `mc-week-${tag}`,
      issuerId: issuer,
      profileId: `prof-week-${tag}`,
      commonName: 'week.example.com',
    });
    const cert = issued.certId;
    await t.ds.query(
      `INSERT INTO renewal_policies (id, name, renewal_days_before, alert_thresholds_days, auto_renew)
       VALUES ($1, $1, 30, '{30,14,7,0}', true)`,
      [`rp-month-${tag}`],
    );
    await t.ds.query(`UPDATE managed_certificates SET renewal_policy_id = $2 WHERE id = $1`, [cert, `rp-month-${tag}`]);
    const versions = async () =>
      t.ds.query<{ id: string; lifetime_days: number; job_id: string }[]>(
        `SELECT id, extract(epoch FROM not_after - not_before)::float8 / 86400 AS lifetime_days, job_id
           FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at, id`,
        [cert],
      );
    const renewals = async () =>
      t.ds.query<{ id: string; status: string }[]>(
        `SELECT id, status FROM jobs WHERE certificate_id = $1 AND type = 'Renewal' ORDER BY created_at, id`,
        [cert],
      );
    const status = async () =>
      (await t.ds.query<{ status: string }[]>(`SELECT status FROM managed_certificates WHERE id = $1`, [cert]))[0]
        .status;
    const [first] = await versions();
    expect(first.lifetime_days).toBeGreaterThan(6.9);
    expect(first.lifetime_days).toBeLessThan(7.01); // not_before is backdated a little for clock skew

    // Fresh: 7 days left of 7, inside the 30-day policy window but not inside a third of its life.
    await new Promise((r) => setTimeout(r, 1_500)); // several ticks
    expect(await renewals()).toEqual([]);
    expect(await versions()).toHaveLength(1);
    expect(await status()).toBe('Active');

    // Five days later (the version and the expiry moved back): 2 days left, under a third: renew.
    await t.ds.query(
      `UPDATE certificate_versions SET not_before = not_before - interval '5 days', not_after = not_after - interval '5 days'
        WHERE certificate_id = $1`,
      [cert],
    );
    await t.ds.query(`UPDATE managed_certificates SET expires_at = expires_at - interval '5 days' WHERE id = $1`, [
      cert,
    ]);
    const renewed = await eventually(async () => {
      const v = await versions();
      return v.length === 2 ? v : undefined;
    }, 20_000);
    const jobs = await renewals();
    expect(jobs).toEqual([{ id: renewed[1].job_id, status: 'Completed' }]);

    // The renewed certificate has 7 days left again: ticks keep coming, nothing is renewed.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await renewals()).toHaveLength(1);
    expect(await versions()).toHaveLength(2);
    expect(await status()).toBe('Active');
    const scheduled: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE action = 'certificate_renewal_scheduled' AND resource_id = $1`,
      [cert],
    );
    expect(scheduled).toHaveLength(1);
  });
});
