import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/owners', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let agent: string;
  const tag = randomBytes(4).toString('hex');
  const team = `team-own-${tag}`;
  const mail = (local: string) => `${local}-${tag}@example.com`;

  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agent = `Bearer ${(await t.mintKey(['agent'])).key}`;
    await t.ds.query(`INSERT INTO teams (id, name) VALUES ($1, $2)`, [team, `Owners team ${tag}`]);
  });
  afterAll(async () => {
    await t.close();
  });

  const create = (body: object, auth = operator) => t.http.post('/api/v1/owners').set('Authorization', auth).send(body);
  const get = (id: string, auth = viewer) => t.http.get(`/api/v1/owners/${id}`).set('Authorization', auth);
  const put = (id: string, body: object, auth = operator) =>
    t.http.put(`/api/v1/owners/${id}`).set('Authorization', auth).send(body);
  const list = (query: string, auth = viewer) => t.http.get(`/api/v1/owners?${query}`).set('Authorization', auth);
  const auditOf = async (id: string): Promise<{ action: string; actor: string; details: Record<string, unknown> }[]> =>
    t.ds.query(
      `SELECT action, actor, details FROM audit_events
        WHERE category = 'domain' AND resource_type = 'owner' AND resource_id = $1 ORDER BY created_at, id`,
      [id],
    );

  it('creates with a generated id, a client id and an optional team, and audits each create', async () => {
    const gen = await create({ name: `Alice ${tag}`, email: mail('alice') });
    expect(gen.status).toBe(201);
    expect(gen.body).toEqual({
      id: expect.stringMatching(/^o-[a-z0-9]{12}$/),
      name: `Alice ${tag}`,
      email: mail('alice'),
      team_id: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const own = await create({ id: `o-bob-${tag}`, name: `Bob ${tag}`, email: mail('Bob'), team_id: team });
    expect(own.status).toBe(201);
    expect(own.body).toMatchObject({ id: `o-bob-${tag}`, email: mail('Bob'), team_id: team });
    const audit = await auditOf(`o-bob-${tag}`);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'owner_created',
        details: { name: `Bob ${tag}`, email: mail('Bob'), team_id: team },
      }),
    ]);
    expect((await auditOf(gen.body.id)).map((a) => a.action)).toEqual(['owner_created']);
  });

  it('answers 409 on a duplicate id or an email that differs only in case, and stores nothing', async () => {
    const dupId = await create({ id: `o-bob-${tag}`, name: 'Other', email: mail('other') });
    expect(dupId.status).toBe(409);
    expect(dupId.body.message).toContain(`o-bob-${tag}`);
    const dupMail = await create({ name: 'Bob again', email: mail('bob').toUpperCase() });
    expect(dupMail.status).toBe(409);
    expect(dupMail.body.message).toMatch(/^body\.email: /);
    const rows: { n: number }[] = await t.ds.query(`SELECT count(*)::int AS n FROM owners WHERE lower(email) = $1`, [
      mail('other'),
    ]);
    expect(rows[0].n).toBe(0);
  });

  it('answers 400 naming the field on bad input, a missing team or unknown fields', async () => {
    const cases: [object, RegExp][] = [
      [{ name: 'x', email: 'not-an-email' }, /^body\.email: /],
      [{ name: 'x' }, /^body\.email: /],
      [{ email: mail('noname') }, /^body\.name: /],
      [{ name: '   ', email: mail('blank') }, /^body\.name: must not be blank/],
      [{ name: 'x', email: mail('x'), colour: 'red' }, /^body\.colour: unknown field$/],
      [{ id: 'Bad Id', name: 'x', email: mail('x') }, /^body\.id: /],
      [{ name: 'x', email: mail('x'), team_id: 42 }, /^body\.team_id: /],
      [{ name: 'x', email: mail('x'), team_id: `team-missing-${tag}` }, /^body\.team_id: .*does not exist/],
    ];
    for (const [body, message] of cases) {
      const res = await create(body);
      expect({ body, status: res.status, message: res.body.message }).toEqual({
        body,
        status: 400,
        message: expect.stringMatching(message),
      });
    }
    const stored: { n: number }[] = await t.ds.query(`SELECT count(*)::int AS n FROM owners WHERE email = $1`, [
      mail('x'),
    ]);
    expect(stored[0].n).toBe(0);
  });

  it('gets an owner and 404s an unknown one', async () => {
    const res = await get(`o-bob-${tag}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: `Bob ${tag}`, team_id: team });
    const missing = await get(`o-nope-${tag}`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toContain(`o-nope-${tag}`);
  });

  it('updates partially, detaches from a team with null, audits the changes, and skips no-op updates', async () => {
    const id = `o-carol-${tag}`;
    await create({ id, name: `Carol ${tag}`, email: mail('carol'), team_id: team });
    const upd = await put(id, { email: mail('carol.new') });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ name: `Carol ${tag}`, email: mail('carol.new'), team_id: team });
    expect(Date.parse(upd.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(upd.body.created_at));
    const detach = await put(id, { team_id: null });
    expect(detach.status).toBe(200);
    expect(detach.body.team_id).toBeNull();
    const noop = await put(id, { name: `Carol ${tag}` });
    expect(noop.status).toBe(200);
    expect(noop.body.updated_at).toBe(detach.body.updated_at);
    expect((await get(id)).body).toMatchObject({ email: mail('carol.new'), team_id: null });

    const audit = await auditOf(id);
    expect(audit.map((a) => a.action)).toEqual(['owner_created', 'owner_updated', 'owner_updated']);
    expect(audit[1].details).toEqual({
      changed: ['email'],
      changes: { email: { from: mail('carol'), to: mail('carol.new') } },
    });
    expect(audit[2].details).toEqual({ changed: ['team_id'], changes: { team_id: { from: team, to: null } } });
  });

  it('rejects bad updates with 400/409/404 and leaves the row untouched', async () => {
    const id = `o-carol-${tag}`;
    expect((await put(id, { email: mail('ALICE') })).status).toBe(409);
    expect((await put(id, { name: null })).body.message).toMatch(/^body\.name: /);
    expect((await put(id, { email: null })).body.message).toMatch(/^body\.email: /);
    expect((await put(id, { email: 'nope' })).body.message).toMatch(/^body\.email: /);
    expect((await put(id, { nickname: 'c' })).body.message).toBe('body.nickname: unknown field');
    const badTeam = await put(id, { team_id: `team-missing-${tag}` });
    expect(badTeam.status).toBe(400);
    expect(badTeam.body.message).toMatch(/^body\.team_id: /);
    expect((await get(id)).body).toMatchObject({ name: `Carol ${tag}`, email: mail('carol.new'), team_id: null });
    expect((await put(`o-nope-${tag}`, { name: 'x' })).status).toBe(404);
  });

  it('lists with filters, sorting, pages and cursors', async () => {
    await create({ id: `o-dave-${tag}`, name: `Dave ${tag}`, email: mail('dave'), team_id: team });
    const all = await list(`q=${tag}&sort=name`);
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(4);
    expect(all.body.data.map((o: { name: string }) => o.name)).toEqual([
      `Alice ${tag}`,
      `Bob ${tag}`,
      `Carol ${tag}`,
      `Dave ${tag}`,
    ]);
    const byTeam = await list(`team_id=${team}&sort=-name`);
    expect(byTeam.body.data.map((o: { id: string }) => o.id)).toEqual([`o-dave-${tag}`, `o-bob-${tag}`]);
    const byMail = await list(`email=${encodeURIComponent(mail('BOB'))}`);
    expect(byMail.body.data.map((o: { id: string }) => o.id)).toEqual([`o-bob-${tag}`]);
    // q matches the email too (carol's name does not contain "carol.new")
    const byQ = await list(`q=${encodeURIComponent(`carol.new-${tag}`)}`);
    expect(byQ.body.data.map((o: { id: string }) => o.id)).toEqual([`o-carol-${tag}`]);
    // LIKE wildcards in q are literal
    expect((await list(`q=${tag}%25`)).body.total).toBe(0);

    const page2 = await list(`q=${tag}&sort=email&per_page=2&page=2`);
    expect(page2.body).toMatchObject({ total: 4, page: 2, per_page: 2 });
    expect(page2.body.data.map((o: { email: string }) => o.email)).toEqual([mail('carol.new'), mail('dave')]);

    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const res = await list(`q=${tag}&sort=-created_at&page_size=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((o: { id: string }) => o.id));
      cursor = res.body.next_cursor;
    }
    expect(seen).toHaveLength(4);
    expect(seen[0]).toBe(`o-dave-${tag}`);
    expect(new Set(seen).size).toBe(4);

    const sparse = await list(`q=${tag}&fields=email&sort=name&per_page=1`);
    expect(sparse.body.data).toEqual([{ id: expect.any(String), email: mail('alice') }]);
  });

  it('answers 400 on bad list queries', async () => {
    const cases: [string, RegExp][] = [
      ['sort=colour', /^query\.sort: /],
      ['per_page=100000', /^query\.per_page: /],
      ['cursor=garbage', /^query\.cursor: /],
      ['email=not-an-email', /^query\.email: /],
      ['fields=secret', /^query\.fields: /],
      ['frobnicate=1', /^query\.frobnicate: unknown field$/],
    ];
    for (const [query, message] of cases) {
      const res = await list(query);
      expect({ query, status: res.status, message: res.body.message }).toEqual({
        query,
        status: 400,
        message: expect.stringMatching(message),
      });
    }
  });

  it('denies writes to a viewer and everything to a key without owner.read', async () => {
    expect((await create({ name: 'v', email: mail('v') }, viewer)).status).toBe(403);
    expect((await put(`o-bob-${tag}`, { name: 'v' }, viewer)).status).toBe(403);
    expect((await t.http.delete(`/api/v1/owners/o-bob-${tag}`).set('Authorization', viewer)).status).toBe(403);
    expect((await list(`q=${tag}`, agent)).status).toBe(403);
    expect((await get(`o-bob-${tag}`, agent)).status).toBe(403);
    expect((await get(`o-bob-${tag}`)).body.name).toBe(`Bob ${tag}`);
  });

  it('deletes with 204 and an audit row, and 409s while a certificate references the owner', async () => {
    const id = `o-erin-${tag}`;
    await create({ id, name: `Erin ${tag}`, email: mail('erin') });
    await t.ds.query(
      `INSERT INTO managed_certificates (id, name, common_name, owner_id, archived_at) VALUES ($1, 'c', 'c.example.com', $2, now())`,
      [`mc-own-${tag}`, id],
    );
    const blocked = await t.http.delete(`/api/v1/owners/${id}`).set('Authorization', operator);
    expect(blocked.status).toBe(409);
    expect(blocked.body.message).toContain('managed_certificates');
    expect(blocked.body.details).toMatchObject({ referenced_by: 'managed_certificates', count: 1 });
    expect((await get(id)).status).toBe(200);

    await t.ds.query(`UPDATE managed_certificates SET owner_id = NULL WHERE id = $1`, [`mc-own-${tag}`]);
    expect((await t.http.delete(`/api/v1/owners/${id}`).set('Authorization', operator)).status).toBe(204);
    expect((await get(id)).status).toBe(404);
    expect((await t.http.delete(`/api/v1/owners/${id}`).set('Authorization', operator)).status).toBe(404);
    expect((await auditOf(id)).map((a) => a.action)).toEqual(['owner_created', 'owner_deleted']);
  });
});
