import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/notifications', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let agent: string;
  const tag = randomBytes(4).toString('hex');
  const cert = `mc-notif-${tag}`;
  const other = `mc-notif-other-${tag}`;
  const nid = (n: string) => `notif-${n}-${tag}`;
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

  /** Rows come in through SQL: creating and sending notifications is not this API's job yet. */
  async function insert(row: {
    id: string;
    cert?: string | null;
    type?: string;
    channel?: string;
    status?: string;
    created: string;
    read_at?: string | null;
    sent_at?: string | null;
    retry_count?: number;
    next_retry_at?: string | null;
    last_error?: string | null;
  }): Promise<void> {
    await t.ds.query(
      `INSERT INTO notification_events
         (id, type, certificate_id, channel, recipient, message, severity, status, retry_count,
          next_retry_at, last_error, read_at, sent_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'ops@example.com', $5, 'warning', $6, $7, $8, $9, $10, $11, $12, $12)`,
      [
        row.id,
        row.type ?? 'ExpirationWarning',
        row.cert === undefined ? cert : row.cert,
        row.channel ?? 'Email',
        `message for ${row.id}`,
        row.status ?? 'pending',
        row.retry_count ?? 0,
        row.next_retry_at ?? null,
        row.last_error ?? null,
        row.read_at ?? null,
        row.sent_at ?? null,
        row.created,
      ],
    );
  }

  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agent = `Bearer ${(await t.mintKey(['agent'])).key}`;
    for (const id of [cert, other]) {
      await t.ds.query(`INSERT INTO managed_certificates (id, name, common_name) VALUES ($1, $1, 'n.example.com')`, [
        id,
      ]);
    }
    await insert({ id: nid('a'), status: 'sent', created: minutesAgo(50), sent_at: minutesAgo(49) });
    await insert({ id: nid('b'), status: 'sent', channel: 'Slack', created: minutesAgo(40), sent_at: minutesAgo(39) });
    await insert({
      id: nid('c'),
      status: 'failed',
      channel: 'Webhook',
      created: minutesAgo(30),
      retry_count: 2,
      next_retry_at: minutesAgo(-5),
      last_error: 'HTTP 503 from hook',
    });
    await insert({
      id: nid('d'),
      status: 'dead',
      created: minutesAgo(20),
      retry_count: 5,
      last_error: 'SMTP timeout',
      read_at: minutesAgo(10),
    });
    await insert({ id: nid('e'), type: 'RenewalFailure', created: minutesAgo(10) });
    await insert({ id: nid('f'), cert: other, created: minutesAgo(5) });
  });
  afterAll(async () => {
    await t.close();
  });

  const list = (query: string, auth = viewer) =>
    t.http.get(`/api/v1/notifications?${query}`).set('Authorization', auth);
  const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((n) => n.id);
  const markRead = (id: string, auth = operator) =>
    t.http.post(`/api/v1/notifications/${id}/read`).set('Authorization', auth);

  it('gets one notification with every field', async () => {
    const res = await t.http.get(`/api/v1/notifications/${nid('c')}`).set('Authorization', viewer);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: nid('c'),
      type: 'ExpirationWarning',
      certificate_id: cert,
      channel: 'Webhook',
      recipient: 'ops@example.com',
      message: `message for ${nid('c')}`,
      severity: 'warning',
      status: 'failed',
      retry_count: 2,
      next_retry_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      last_error: 'HTTP 503 from hook',
      read_at: null,
      sent_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const missing = await t.http.get(`/api/v1/notifications/${nid('zz')}`).set('Authorization', viewer);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toContain(nid('zz'));
  });

  it('lists newest first by default and filters by certificate, status, type, channel and unread', async () => {
    const all = await list(`certificate_id=${cert}`);
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(5);
    expect(ids(all)).toEqual([nid('e'), nid('d'), nid('c'), nid('b'), nid('a')]);

    expect(ids(await list(`certificate_id=${cert}&status=sent`))).toEqual([nid('b'), nid('a')]);
    expect(ids(await list(`certificate_id=${cert}&status=DEAD`))).toEqual([nid('d')]);
    expect(ids(await list(`certificate_id=${cert}&type=renewalfailure`))).toEqual([nid('e')]);
    expect(ids(await list(`certificate_id=${cert}&channel=slack`))).toEqual([nid('b')]);
    expect(ids(await list(`certificate_id=${cert}&unread=true`))).toEqual([nid('e'), nid('c'), nid('b'), nid('a')]);
    expect(ids(await list(`certificate_id=${cert}&unread=false`))).toEqual([nid('d')]);
    expect(ids(await list(`certificate_id=${other}`))).toEqual([nid('f')]);
  });

  it('sorts on nullable columns and returns sparse fields', async () => {
    expect(ids(await list(`certificate_id=${cert}&sort=sent_at`))).toEqual([
      nid('a'),
      nid('b'),
      // unsent rows follow, NULLS LAST, by id
      nid('c'),
      nid('d'),
      nid('e'),
    ]);
    const sparse = await list(`certificate_id=${cert}&status=failed&fields=status,retry_count`);
    expect(sparse.body.data).toEqual([{ id: nid('c'), status: 'failed', retry_count: 2 }]);
  });

  it('pages and walks cursors without gaps or repeats', async () => {
    const p2 = await list(`certificate_id=${cert}&per_page=2&page=2`);
    expect(p2.body).toMatchObject({ total: 5, page: 2, per_page: 2 });
    expect(ids(p2)).toEqual([nid('c'), nid('b')]);

    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const res = await list(`certificate_id=${cert}&page_size=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...ids(res));
      cursor = res.body.next_cursor;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([nid('e'), nid('d'), nid('c'), nid('b'), nid('a')]);

    const first = await list(`certificate_id=${cert}&page_size=1&sort=sent_at`);
    const second = await list(`certificate_id=${cert}&page_size=1&sort=sent_at&cursor=${first.body.next_cursor}`);
    expect(ids(second)).toEqual([nid('b')]);
  });

  it('answers 400 naming the parameter on bad list queries', async () => {
    const cases: [string, RegExp][] = [
      ['status=bounced', /^query\.status: must be one of pending, sent, failed, dead$/],
      ['unread=maybe', /^query\.unread: must be true or false$/],
      ['page_size=100000', /^query\.page_size: /],
      ['cursor=not-a-cursor', /^query\.cursor: /],
      ['page=2&cursor=abc', /^query: use either/],
      ['sort=recipient', /^query\.sort: cannot sort by "recipient"/],
      ['fields=password', /^query\.fields: /],
      ['recipient=x', /^query\.recipient: unknown field$/],
    ];
    for (const [query, message] of cases) {
      const res = await list(query);
      expect({ query, status: res.status, message: res.body.message }).toEqual({
        query,
        status: 400,
        message: expect.stringMatching(message),
      });
    }
    const desc = await list(`certificate_id=${cert}&page_size=1`);
    const wrongSort = await list(`certificate_id=${cert}&page_size=1&sort=created_at&cursor=${desc.body.next_cursor}`);
    expect(wrongSort.status).toBe(400);
    expect(wrongSort.body.message).toMatch(/^query\.cursor: issued for sort=-created_at/);
  });

  it('marks read once, idempotently, with one audit row', async () => {
    const id = nid('c');
    const first = await markRead(id);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id, status: 'failed', read_at: expect.any(String) });
    expect(first.body.updated_at).toBe(first.body.read_at);
    const again = await markRead(id);
    expect(again.status).toBe(200);
    expect(again.body.read_at).toBe(first.body.read_at);
    expect(again.body.updated_at).toBe(first.body.updated_at);
    expect((await list(`certificate_id=${cert}&unread=true`)).body.data.map((n: { id: string }) => n.id)).not.toContain(
      id,
    );

    const audit: { action: string; details: Record<string, unknown> }[] = await t.ds.query(
      `SELECT action, details FROM audit_events
        WHERE category = 'domain' AND resource_type = 'notification' AND resource_id = $1`,
      [id],
    );
    expect(audit).toEqual([
      { action: 'notification_read', details: { type: 'ExpirationWarning', channel: 'Webhook', certificate_id: cert } },
    ]);
  });

  it('keeps the first read_at of an already-read notification and does not audit it again', async () => {
    const before = await t.http.get(`/api/v1/notifications/${nid('d')}`).set('Authorization', viewer);
    const res = await markRead(nid('d'));
    expect(res.status).toBe(200);
    expect(res.body.read_at).toBe(before.body.read_at);
    const audit: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE resource_id = $1 AND category = 'domain'`,
      [nid('d')],
    );
    expect(audit).toHaveLength(0);
  });

  it('answers 404 when marking an unknown notification read', async () => {
    expect((await markRead(nid('zz'))).status).toBe(404);
  });

  it('denies marking read to a viewer and reading to a key without notification.read', async () => {
    expect((await markRead(nid('a'), viewer)).status).toBe(403);
    expect(
      (await t.http.get(`/api/v1/notifications/${nid('a')}`).set('Authorization', viewer)).body.read_at,
    ).toBeNull();
    expect((await list(`certificate_id=${cert}`, agent)).status).toBe(403);
    expect((await t.http.get(`/api/v1/notifications/${nid('a')}`).set('Authorization', agent)).status).toBe(403);
  });
});
