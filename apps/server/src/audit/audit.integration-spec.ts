import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';

interface Row {
  id: string;
  actor: string;
  actor_type: string;
  details: {
    method: string;
    path: string;
    status: number;
    latency_ms: number;
    body_sha256: string | null;
    request_id: string;
  };
}

describe('API audit log and the append-only audit trail', () => {
  let t: TestApp;
  let admin: { id: string; key: string };
  beforeAll(async () => {
    t = await createTestApp();
    admin = await t.mintKey(['admin'], 'audit-admin');
  });
  afterAll(async () => {
    await t.close();
  });

  const rowFor = (requestId: string) =>
    eventually(async () => {
      const rows: Row[] = await t.ds.query(`SELECT * FROM audit_events WHERE details->>'request_id' = $1`, [requestId]);
      return rows[0];
    });

  it('records each /api/v1 call with actor, path without query, status, latency and body hash', async () => {
    const res = await t.http
      .get('/api/v1/auth/check?permission=cert.read')
      .set('Authorization', `Bearer ${admin.key}`)
      .set('X-Request-ID', 'audit-test-req-0001');
    expect(res.status).toBe(200);
    const row = await rowFor('audit-test-req-0001');
    expect(row.actor).toBe(admin.id);
    expect(row.actor_type).toBe('ApiKey');
    expect(row.details).toMatchObject({ method: 'GET', path: '/api/v1/auth/check', status: 200, body_sha256: null });
    expect(JSON.stringify(row)).not.toContain('cert.read');
    expect(row.details.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it('records refused calls as the anonymous actor, and hashes the body', async () => {
    await t.http
      .post('/api/v1/auth/bootstrap')
      .set('Content-Type', 'application/json')
      .set('X-Request-ID', 'audit-test-req-0002')
      .send('{"name":"x"}');
    const row = await rowFor('audit-test-req-0002');
    expect(row.actor).toBe('anonymous');
    expect(row.details.status).toBe(401);
    // sha256('{"name":"x"}') starts with these 16 hex chars
    expect(row.details.body_sha256).toBe(createHash('sha256').update('{"name":"x"}').digest('hex').slice(0, 16));
  });

  it('does not audit probes outside /api/v1', async () => {
    await t.http.get('/health').set('X-Request-ID', 'audit-test-req-0003');
    await t.http
      .get('/api/v1/version')
      .set('Authorization', `Bearer ${admin.key}`)
      .set('X-Request-ID', 'audit-test-req-0004');
    await rowFor('audit-test-req-0004');
    const rows: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE details->>'request_id' = 'audit-test-req-0003'`,
    );
    expect(rows).toHaveLength(0);
  });

  it('rejects UPDATE, DELETE and TRUNCATE at the database level', async () => {
    const row = await rowFor('audit-test-req-0001');
    const c = new Client({ connectionString: process.env.CERTCTL_TEST_DATABASE_URL });
    await c.connect();
    try {
      await expect(c.query(`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`, [row.id])).rejects.toThrow(
        /append-only/,
      );
      await expect(c.query(`DELETE FROM audit_events WHERE id = $1`, [row.id])).rejects.toThrow(/append-only/);
      await expect(c.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
      const still: { actor: string }[] = (await c.query(`SELECT actor FROM audit_events WHERE id = $1`, [row.id])).rows;
      expect(still[0]?.actor).toBe(admin.id);
    } finally {
      await c.end();
    }
  });

  it('hands the row to the BullMQ audit queue when Postgres cannot take it, and it lands later', async () => {
    const locker = new Client({ connectionString: process.env.CERTCTL_TEST_DATABASE_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
      const res = await t.http
        .get('/api/v1/auth/me')
        .set('Authorization', `Bearer ${admin.key}`)
        .set('X-Request-ID', 'audit-test-req-0005');
      expect(res.status).toBe(200); // the response never waits for the audit insert
      // the direct insert times out (2 s) while the lock is held; then release it
      await new Promise((r) => setTimeout(r, 2_500));
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
    }
    const row = await rowFor('audit-test-req-0005');
    expect(row.details.path).toBe('/api/v1/auth/me');
    const n: { n: string }[] = await t.ds.query(
      `SELECT count(*) AS n FROM audit_events WHERE details->>'request_id' = 'audit-test-req-0005'`,
    );
    expect(Number(n[0]?.n)).toBe(1);
  });
});
