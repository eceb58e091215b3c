import { randomBytes } from 'node:crypto';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

describe('certctl_certificates_expiring and _expired on /api/v1/metrics/prometheus', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    // A database of its own: the gauge counts every certificate, so other tests' rows would move it.
    db = await createPrivateDatabase(`expiry_gauge_${randomBytes(3).toString('hex')}`);
    t = await createTestApp(db.env);
    key = `Bearer ${(await t.mintKey(['operator'])).key}`;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const insert = (id: string, status: string, expiresIn: string | null, archived = false) =>
    t.ds.query(
      `INSERT INTO managed_certificates (id, name, common_name, status, expires_at, archived_at)
       VALUES ($1, $1, 'gauge.example.com', $2, now() + $3::interval, CASE WHEN $4 THEN now() END)`,
      [id, status, expiresIn, archived],
    );
  const scrape = async (): Promise<Record<string, number>> => {
    const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', key);
    expect(res.status).toBe(200);
    const values: Record<string, number> = {};
    for (const m of res.text.matchAll(/^certctl_certificates_expiring\{window="(\w+)"\} (\d+)$/gm)) {
      values[m[1]] = Number(m[2]);
    }
    const expired = /^certctl_certificates_expired (\d+)$/m.exec(res.text);
    if (expired) values.expired = Number(expired[1]);
    return values;
  };

  it('is a gauge with a 7d and a 30d window, and an expired gauge, all 0 without certificates', async () => {
    const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', key);
    expect(res.text).toContain('# TYPE certctl_certificates_expiring gauge');
    expect(res.text).toContain('# TYPE certctl_certificates_expired gauge');
    expect(await scrape()).toEqual({ '7d': 0, '30d': 0, expired: 0 });
  });

  it('counts live certificates by expiry window at scrape time', async () => {
    await insert('mc-g-3d', 'Active', '3 days');
    await insert('mc-g-6d', 'RenewalInProgress', '6 days');
    await insert('mc-g-20d', 'Expiring', '20 days');
    await insert('mc-g-29d', 'Failed', '29 days');
    // Not expiring: beyond 30 days, no version yet, already expired, revoked, archived. The two
    // past their notAfter (whether or not the scheduler has marked them Expired) are `expired`.
    await insert('mc-g-60d', 'Active', '60 days');
    await insert('mc-g-none', 'Pending', null);
    await insert('mc-g-past', 'Active', '-1 day');
    await insert('mc-g-expired', 'Expired', '-2 days');
    await insert('mc-g-revoked', 'Revoked', '2 days');
    await insert('mc-g-archived', 'Active', '2 days', true);
    await insert('mc-g-revoked-past', 'Revoked', '-3 days');
    await insert('mc-g-archived-past', 'Expired', '-3 days', true);
    expect(await scrape()).toEqual({ '7d': 2, '30d': 4, expired: 2 });

    // Renewed: the certificate moves out of both windows on the next scrape.
    await t.ds.query(`UPDATE managed_certificates SET expires_at = now() + interval '90 days' WHERE id = 'mc-g-3d'`);
    expect(await scrape()).toEqual({ '7d': 1, '30d': 3, expired: 2 });
    // Renewed after it lapsed: no longer expired.
    await t.ds.query(
      `UPDATE managed_certificates SET expires_at = now() + interval '90 days', status = 'Active' WHERE id = 'mc-g-expired'`,
    );
    expect((await scrape()).expired).toBe(1);
  });
});
