import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';

describe('list conventions on GET /api/v1/audit', () => {
  let t: TestApp;
  let admin: { id: string; key: string };
  let caller: { id: string; key: string };
  const N = 23;
  beforeAll(async () => {
    t = await createTestApp();
    admin = await t.mintKey(['admin'], 'list-admin');
    caller = await t.mintKey(['viewer'], 'list-caller');
    for (let i = 0; i < N; i++) {
      await t.http.get('/api/v1/version').set('Authorization', `Bearer ${caller.key}`);
    }
    await eventually(async () => {
      const r: { n: string }[] = await t.ds.query('SELECT count(*) AS n FROM audit_events WHERE actor = $1', [
        caller.id,
      ]);
      return Number(r[0]?.n) === N ? true : undefined;
    });
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (qs: string) =>
    t.http.get(`/api/v1/audit?actor=${caller.id}&${qs}`).set('Authorization', `Bearer ${admin.key}`);

  it('pages with page/per_page and reports the total', async () => {
    const p1 = await get('per_page=10&page=1');
    expect(p1.status).toBe(200);
    expect(p1.body).toMatchObject({ total: N, page: 1, per_page: 10 });
    expect(p1.body.data).toHaveLength(10);
    const p3 = await get('per_page=10&page=3');
    expect(p3.body.data).toHaveLength(N - 20);
    const ids = new Set([...p1.body.data, ...p3.body.data].map((e: { id: string }) => e.id));
    expect(ids.size).toBe(10 + N - 20);
  });

  it('defaults to 50 per page and caps per_page at 500', async () => {
    expect((await get('')).body.per_page).toBe(50);
    const over = await get('per_page=501');
    expect(over.status).toBe(400);
    expect(over.body.message).toContain('query.per_page');
  });

  it('walks every row exactly once with cursor/page_size (keyset on created_at, id)', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`page_size=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ total: N, page_size: 7 });
      seen.push(...res.body.data.map((e: { id: string }) => e.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(Math.ceil(N / 7));
    expect(new Set(seen).size).toBe(N);
    const ascending = await get('page_size=100&sort=created_at');
    expect(ascending.body.data.map((e: { id: string }) => e.id)).toEqual([...seen].reverse());
  });

  it('keysets on any sortable column, breaking ties by id', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const res = await get(`page_size=5&sort=-actor${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.data.map((e: { id: string }) => e.id));
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    expect(new Set(seen).size).toBe(N);
    // a cursor is bound to the sort it was issued for
    const first = await get('page_size=5&sort=-actor');
    const mismatched = await get(`page_size=5&sort=created_at&cursor=${first.body.next_cursor}`);
    expect(mismatched.status).toBe(400);
    expect(mismatched.body.message).toContain('sort');
  });

  it('rejects mixing modes, foreign cursors and unknown sort fields with 400', async () => {
    expect((await get('page=1&page_size=5')).status).toBe(400);
    const bad = await get('cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('cursor');
    const sort = await get('sort=-password');
    expect(sort.status).toBe(400);
    expect(sort.body.message).toContain('password');
  });

  it('returns sparse fieldsets and rejects unknown fields', async () => {
    const res = await get('per_page=2&fields=action,timestamp');
    expect(Object.keys(res.body.data[0]).sort()).toEqual(['action', 'id', 'timestamp']);
    expect((await get('fields=action,secret')).status).toBe(400);
  });

  it('serves a weak ETag and answers 304 to If-None-Match', async () => {
    const first = await get('per_page=5&sort=created_at');
    const etag = first.headers.etag;
    expect(etag).toMatch(/^W\//);
    const again = await get('per_page=5&sort=created_at').set('If-None-Match', etag);
    expect(again.status).toBe(304);
  });

  it('gets one event by id and 404s an unknown id', async () => {
    const list = await get('per_page=1');
    const id = list.body.data[0].id as string;
    const one = await t.http.get(`/api/v1/audit/${id}`).set('Authorization', `Bearer ${admin.key}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, actor: caller.id, category: 'api', action: 'api_call' });
    const missing = await t.http.get('/api/v1/audit/audit-nope').set('Authorization', `Bearer ${admin.key}`);
    expect(missing.status).toBe(404);
  });
});
