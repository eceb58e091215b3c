import { randomBytes } from 'node:crypto';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';

describe('GET /api/v1/audit/export', () => {
  let t: TestApp;
  let auditor: { id: string; key: string };
  const actor = `=HYPERLINK("x")-${randomBytes(3).toString('hex')}`;
  const N = 1203; // more than one scan batch
  beforeAll(async () => {
    t = await createTestApp();
    auditor = await t.mintKey(['auditor'], 'exporter');
    await t.ds.query(
      `INSERT INTO audit_events (id, category, actor, actor_type, action, resource_type, resource_id, details, created_at)
       SELECT 'audit-exp-' || g || '-' || $2, 'domain', $1, 'User', 'thing_done', 'thing', 'r,' || g,
              jsonb_build_object('n', g, 'note', 'say "hi"'), now() - make_interval(secs => $3 - g)
         FROM generate_series(1, $3) AS g`,
      [actor, randomBytes(3).toString('hex'), N],
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const exp = (qs: string) =>
    t.http
      .get(`/api/v1/audit/export?actor=${encodeURIComponent(actor)}&${qs}`)
      .set('Authorization', `Bearer ${auditor.key}`)
      .buffer(true)
      .parse((res, cb) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c.toString('utf8')));
        res.on('end', () => cb(null, s));
      });

  it('streams every matching event as a JSON array, oldest first', async () => {
    const res = await exp('format=json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toMatch(/attachment; filename="certctl-audit-.*\.json"/);
    const rows = JSON.parse(res.body as string) as { details: { n: number } }[];
    expect(rows).toHaveLength(N);
    expect(rows.map((r) => r.details.n)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });

  it('streams CSV with RFC 4180 quoting and neutralised formulas', async () => {
    const res = await exp('format=csv');
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const lines = (res.body as string).trimEnd().split('\r\n');
    expect(lines[0]).toBe('id,timestamp,category,actor,actor_type,action,resource_type,resource_id,details');
    expect(lines).toHaveLength(N + 1);
    expect(lines[1]).toContain(`"'=HYPERLINK(""x"")`); // apostrophe-prefixed, quotes doubled
    expect(lines[1]).toContain('"r,1"');
    expect(lines[1]).toContain('"{""n"":1,""note"":""say \\""hi\\""""}"');
  });

  it('audits the export itself and denies callers without audit.export', async () => {
    await eventually(async () => {
      const r: unknown[] = await t.ds.query(
        `SELECT 1 FROM audit_events WHERE action = 'audit_exported' AND actor = $1 AND (details->>'rows')::int = $2`,
        [auditor.id, N],
      );
      return r.length ? true : undefined;
    });
    const viewer = await t.mintKey(['viewer']);
    expect((await t.http.get('/api/v1/audit/export').set('Authorization', `Bearer ${viewer.key}`)).status).toBe(403);
    const bad = await t.http.get('/api/v1/audit/export?format=xml').set('Authorization', `Bearer ${auditor.key}`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('query.format');
  });
});
