import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

const DAY = 86_400_000;
const STATUSES = ['Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived'];

/** Noon (UTC) of the day `offset` days from the UTC day of `label` (YYYY-MM-DD). */
const noonOf = (label: string, offset: number): Date => new Date(Date.parse(`${label}T12:00:00Z`) + offset * DAY);
const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

/**
 * Other test files write to the same database concurrently, so counts are checked as
 * deltas: read, add one batch of our own rows, read again, and expect exactly our batch's
 * contribution. A pair disturbed by someone else's write is retried with a fresh batch;
 * wrong arithmetic fails every attempt.
 */
async function expectDelta<T>(
  read: () => Promise<T>,
  addBatch: (attempt: number) => Promise<void>,
  expected: (before: T) => T,
): Promise<void> {
  let last: { before: T; after: T } | undefined;
  for (let attempt = 0; attempt < 6; attempt++) {
    const before = await read();
    await addBatch(attempt);
    const after = await read();
    if (JSON.stringify(after) === JSON.stringify(expected(before))) return;
    last = { before, after };
  }
  expect(last!.after).toEqual(expected(last!.before));
}

describe('/api/v1/stats and /api/v1/metrics', () => {
  let t: TestApp;
  let viewer: string;
  let agentKey: string;
  const tag = randomBytes(4).toString('hex');
  const q = (sql: string, params: unknown[] = []) => t.ds.query(sql, params);
  let seq = 0;
  const uid = (p: string) => `${p}-st-${tag}-${++seq}`;

  beforeAll(async () => {
    t = await createTestApp();
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agentKey = `Bearer ${(await t.mintKey(['agent'])).key}`;
  });
  afterAll(async () => {
    await t.close();
  });

  const getJson = async (path: string, auth = viewer) => {
    const res = await t.http.get(path).set('Authorization', auth);
    expect({ path, status: res.status }).toEqual({ path, status: 200 });
    return res.body;
  };

  const cert = (status: string, expiresAt: Date | null, archived = false) =>
    q(
      `INSERT INTO managed_certificates (id, name, common_name, status, expires_at, archived_at)
       VALUES ($1, $2, 'stats.example.com', $3, $4, CASE WHEN $5 THEN now() END)`,
      [uid('mc'), `Stats ${tag}`, status, expiresAt, archived],
    );

  /** One batch of certificates, agents, jobs and notifications with a known contribution. */
  async function addInventoryBatch(): Promise<void> {
    const now = Date.now();
    await cert('Active', new Date(now + 10 * DAY)); // expiring
    await cert('Active', new Date(now + 100 * DAY));
    await cert('Active', new Date(now - DAY)); // past expiry: expired
    await cert('Expired', new Date(now + 50 * DAY)); // expired by status
    await cert('Revoked', new Date(now + 10 * DAY)); // revoked, not expiring
    await cert('Pending', null);
    await cert('Archived', new Date(now + 10 * DAY), true); // only under Archived
    const agent = (status: string, heartbeat: string | null, retired = false) =>
      q(
        `INSERT INTO agents (id, name, status, last_heartbeat_at, retired_at)
         VALUES ($1, $1, $2, ${heartbeat ?? 'NULL'}, CASE WHEN $3 THEN now() END)`,
        [uid('ag'), status, retired],
      );
    await agent('Online', 'now()');
    await agent('Degraded', 'now()');
    await agent('Online', `now() - interval '10 minutes'`); // stale heartbeat: offline
    await agent('Offline', null);
    await agent('Online', 'now()', true); // retired: not counted
    for (const status of [
      'Pending',
      'AwaitingCSR',
      'AwaitingApproval',
      'Running',
      'Failed',
      'Completed',
      'Completed',
      'Cancelled',
    ]) {
      // Scheduled ahead and out of attempts, so the job engine's loops leave them alone.
      await q(
        `INSERT INTO jobs (id, type, status, scheduled_at, attempts, max_attempts)
         VALUES ($1, 'Renewal', $2, now() + interval '1 day', 3, 3)`,
        [uid('job'), status],
      );
    }
    for (const status of ['pending', 'pending', 'dead', 'sent']) {
      await q(
        `INSERT INTO notification_events (id, type, channel, status) VALUES ($1, 'ExpirationWarning', 'email', $2)`,
        [uid('notif'), status],
      );
    }
  }

  it('summarizes certificates, agents, jobs and notifications', async () => {
    type Summary = Record<string, number | Record<string, number>>;
    const read = async (): Promise<Summary> => {
      const { generated_at, ...rest } = await getJson('/api/v1/stats/summary');
      expect(Date.parse(generated_at)).toBeGreaterThan(Date.now() - 60_000);
      return rest;
    };
    const first = await read();
    expect(Object.keys(first.certificates_by_status as object)).toEqual(STATUSES);
    await expectDelta(read, addInventoryBatch, (b) => {
      const n = (k: string) => b[k] as number;
      const by = b.certificates_by_status as Record<string, number>;
      return {
        total_certificates: n('total_certificates') + 6,
        certificates_by_status: {
          ...by,
          Pending: by.Pending + 1,
          Active: by.Active + 3,
          Expired: by.Expired + 1,
          Revoked: by.Revoked + 1,
          Archived: by.Archived + 1,
        },
        expiring_certificates: n('expiring_certificates') + 1,
        expired_certificates: n('expired_certificates') + 2,
        revoked_certificates: n('revoked_certificates') + 1,
        active_agents: n('active_agents') + 1,
        degraded_agents: n('degraded_agents') + 1,
        offline_agents: n('offline_agents') + 2,
        total_agents: n('total_agents') + 4,
        pending_jobs: n('pending_jobs') + 4,
        failed_jobs: n('failed_jobs') + 1,
        complete_jobs: n('complete_jobs') + 2,
        notifications_pending: n('notifications_pending') + 2,
        notifications_dead: n('notifications_dead') + 1,
      };
    });
  });

  it('serves the JSON metrics snapshot (metrics.read) with the same counts and an uptime', async () => {
    type Snapshot = Record<string, Record<string, unknown>>;
    const read = async (): Promise<Snapshot> => {
      const { uptime_seconds, server_started, measured_at, ...rest } = await getJson('/api/v1/metrics');
      expect(uptime_seconds).toBeGreaterThanOrEqual(0);
      expect(Date.parse(measured_at)).toBeGreaterThanOrEqual(Date.parse(server_started));
      expect(uptime_seconds).toBe(Math.floor((Date.parse(measured_at) - Date.parse(server_started)) / 1000));
      return rest;
    };
    await expectDelta(read, addInventoryBatch, (b) => {
      const c = b.certificates as Record<string, number> & { by_status: Record<string, number> };
      const a = b.agents as Record<string, number>;
      const j = b.jobs as Record<string, number>;
      const nt = b.notifications as Record<string, number>;
      return {
        certificates: {
          total: c.total + 6,
          active: c.active + 3,
          expiring_soon: c.expiring_soon + 1,
          expired: c.expired + 2,
          revoked: c.revoked + 1,
          by_status: {
            ...c.by_status,
            Pending: c.by_status.Pending + 1,
            Active: c.by_status.Active + 3,
            Expired: c.by_status.Expired + 1,
            Revoked: c.by_status.Revoked + 1,
            Archived: c.by_status.Archived + 1,
          },
        },
        agents: { total: a.total + 4, online: a.online + 1, degraded: a.degraded + 1, offline: a.offline + 2 },
        jobs: { pending: j.pending + 4, completed: j.completed + 2, failed: j.failed + 1 },
        notifications: { pending: nt.pending + 2, dead: nt.dead + 1 },
      };
    });
  });

  it('counts every certificate status, zeros included', async () => {
    const read = (): Promise<{ status: string; count: number }[]> => getJson('/api/v1/stats/certificates-by-status');
    expect((await read()).map((r) => r.status)).toEqual(STATUSES);
    await expectDelta(
      read,
      async () => {
        await cert('Failed', null);
        await cert('RenewalInProgress', new Date(Date.now() + DAY));
        await cert('RenewalInProgress', null);
      },
      (b) =>
        b.map((r) =>
          r.status === 'Failed'
            ? { ...r, count: r.count + 1 }
            : r.status === 'RenewalInProgress'
              ? { ...r, count: r.count + 2 }
              : r,
        ),
    );
  });

  it('buckets upcoming expiries per UTC day or week, zero-filled, live certificates only', async () => {
    type Bucket = { date: string; count: number };
    const timeline = (query: string): Promise<Bucket[]> => getJson(`/api/v1/stats/expiration-timeline?${query}`);
    const daily = await timeline('days=10');
    expect(daily).toHaveLength(10);
    expect(daily[0].date).toBe(utcDay(new Date()));
    expect(daily.map((b) => b.date)).toEqual(daily.map((_, i) => utcDay(noonOf(daily[0].date, i))));
    expect((await timeline('')).length).toBe(30);
    expect(await timeline('days=90&bucket=week')).toHaveLength(13);

    // Offsets (days from today, at noon UTC) of the counted certificates of one batch.
    const counted = [1, 1, 3, 9, 15];
    const addBatch = async () => {
      const today = utcDay(new Date());
      for (const d of counted) await cert('Active', noonOf(today, d));
      await cert('Expiring', noonOf(today, 2));
      await cert('Revoked', noonOf(today, 2)); // revoked: not counted
      await cert('Active', noonOf(today, 2), true); // archived: not counted
      await cert('Active', noonOf(today, -1)); // already expired: not counted
      await cert('Active', noonOf(today, 40)); // beyond 30 days
    };
    const expectedFor = (width: number) => (before: Bucket[]) =>
      before.map((b) => {
        const start = Date.parse(`${b.date}T00:00:00Z`);
        const dates = [...counted, 2].map((d) => noonOf(before[0].date, d).getTime());
        const mine = dates.filter((ms) => ms >= start && ms < start + width * DAY).length;
        return { date: b.date, count: b.count + mine };
      });
    await expectDelta(() => timeline('days=30'), addBatch, expectedFor(1));
    await expectDelta(() => timeline('days=30&bucket=week'), addBatch, expectedFor(7));
  });

  it('trends finished jobs per UTC day with a success rate', async () => {
    type Point = { date: string; completed_count: number; failed_count: number; success_rate: number };
    const trends = (days = 7): Promise<Point[]> => getJson(`/api/v1/stats/job-trends?days=${days}`);
    const week = await trends();
    expect(week).toHaveLength(7);
    expect(week[6].date).toBe(utcDay(new Date()));
    expect((await trends(365)).length).toBe(365);

    const addBatch = async () => {
      const today = utcDay(new Date());
      const job = (status: string, completedDaysAgo: number | null, updatedDaysAgo = 0) =>
        q(
          `INSERT INTO jobs (id, type, status, completed_at, updated_at, attempts, max_attempts)
           VALUES ($1, 'Deployment', $2, $3, $4, 3, 3)`,
          [
            uid('job'),
            status,
            completedDaysAgo === null ? null : noonOf(today, -completedDaysAgo),
            noonOf(today, -updatedDaysAgo),
          ],
        );
      await job('Completed', 1);
      await job('Completed', 1);
      await job('Failed', 1);
      await job('Completed', 3);
      await job('Failed', null, 2); // no completed_at: its last update counts
      await job('Completed', 20); // before the window
      await job('Cancelled', 1); // neither completed nor failed
    };
    await expectDelta(
      () => trends(),
      addBatch,
      (before) => {
        const last = before[before.length - 1].date;
        const add: Record<string, [number, number]> = {
          [utcDay(noonOf(last, -1))]: [2, 1],
          [utcDay(noonOf(last, -3))]: [1, 0],
          [utcDay(noonOf(last, -2))]: [0, 1],
        };
        return before.map((p) => {
          const [c, f] = add[p.date] ?? [0, 0];
          const completed = p.completed_count + c;
          const failed = p.failed_count + f;
          const rate = completed + failed === 0 ? 0 : Math.round((completed / (completed + failed)) * 10_000) / 100;
          return { date: p.date, completed_count: completed, failed_count: failed, success_rate: rate };
        });
      },
    );
  });

  it('counts issued certificate versions per UTC day', async () => {
    type Point = { date: string; issued_count: number };
    const rate = (): Promise<Point[]> => getJson('/api/v1/stats/issuance-rate?days=5');
    expect(await rate()).toHaveLength(5);
    const certId = uid('mc');
    await q(`INSERT INTO managed_certificates (id, name, common_name) VALUES ($1, 'Issued', 'issued.example.com')`, [
      certId,
    ]);
    const addBatch = async () => {
      const today = utcDay(new Date());
      for (const daysAgo of [0.4, 2, 2, 9]) {
        const at = daysAgo === 0.4 ? new Date(Date.parse(`${today}T00:00:00Z`) + 1000) : noonOf(today, -daysAgo);
        await q(
          `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain,
                                             not_before, not_after, created_at)
           VALUES ($1, $2, $1, 'fp', 'PEM', $3, $3::timestamptz + interval '90 days', $3)`,
          [uid('cv'), certId, at],
        );
      }
    };
    await expectDelta(rate, addBatch, (before) => {
      const last = before[before.length - 1].date;
      const add: Record<string, number> = { [last]: 1, [utcDay(noonOf(last, -2))]: 2 };
      return before.map((p) => ({ date: p.date, issued_count: p.issued_count + (add[p.date] ?? 0) }));
    });
  });

  it('answers 400 for out-of-range or malformed parameters', async () => {
    const cases: [string, RegExp][] = [
      ['/api/v1/stats/expiration-timeline?days=0', /^query\.days: must not be less than 1$/],
      ['/api/v1/stats/expiration-timeline?days=366', /^query\.days: must not be greater than 365$/],
      ['/api/v1/stats/expiration-timeline?bucket=month', /^query\.bucket: must be one of day, week$/],
      ['/api/v1/stats/job-trends?days=abc', /^query\.days: must be an integer$/],
      ['/api/v1/stats/job-trends?days=1.5', /^query\.days: must be an integer$/],
      ['/api/v1/stats/issuance-rate?days=-3', /^query\.days: must not be less than 1$/],
      ['/api/v1/stats/issuance-rate?days=10&days=20', /^query\.days: must be an integer$/],
      ['/api/v1/stats/issuance-rate?weeks=2', /^query\.weeks: unknown field$/],
    ];
    for (const [path, message] of cases) {
      const res = await t.http.get(path).set('Authorization', viewer);
      expect({ path, status: res.status, message: res.body.message }).toEqual({
        path,
        status: 400,
        message: expect.stringMatching(message),
      });
    }
  });

  it('requires stats.read and metrics.read', async () => {
    for (const path of [
      '/api/v1/stats/summary',
      '/api/v1/stats/certificates-by-status',
      '/api/v1/stats/expiration-timeline',
      '/api/v1/stats/job-trends',
      '/api/v1/stats/issuance-rate',
      '/api/v1/metrics',
    ]) {
      const res = await t.http.get(path).set('Authorization', agentKey);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
  });
});
