import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/teams', () => {
  let t: TestApp;
  let admin: string;
  let viewer: string;
  const tag = randomBytes(3).toString('hex');
  beforeAll(async () => {
    t = await createTestApp();
    admin = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
  });
  afterAll(async () => {
    await t.close();
  });

  const create = (body: object) => t.http.post('/api/v1/teams').set('Authorization', admin).send(body);

  it('creates with a generated or a client id, and audits the change', async () => {
    const gen = await create({ name: `Platform ${tag}`, description: 'ingress' });
    expect(gen.status).toBe(201);
    expect(gen.body).toMatchObject({ id: expect.stringMatching(/^team-[a-z0-9]{12}$/), name: `Platform ${tag}` });
    const own = await create({ id: `team-sec-${tag}`, name: `Security ${tag}` });
    expect(own.status).toBe(201);
    expect(own.body.id).toBe(`team-sec-${tag}`);
    const audit: { action: string }[] = await t.ds.query(
      `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
      [`team-sec-${tag}`],
    );
    expect(audit.map((a) => a.action)).toEqual(['team_created']);
  });

  it('answers 409 on a duplicate id or name, 400 on bad input', async () => {
    expect((await create({ id: `team-sec-${tag}`, name: `Other ${tag}` })).status).toBe(409);
    const dup = await create({ name: `Security ${tag}` });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toContain('already exists');
    expect((await create({ name: '' })).status).toBe(400);
    expect((await create({ name: 'x', colour: 'red' })).body.message).toBe('body.colour: unknown field');
    expect((await create({ id: 'Bad Id', name: 'x' })).body.message).toMatch(/^body\.id: /);
  });

  it('gets, updates and lists', async () => {
    const id = `team-sec-${tag}`;
    expect((await t.http.get(`/api/v1/teams/${id}`).set('Authorization', viewer)).body.name).toBe(`Security ${tag}`);
    const upd = await t.http.put(`/api/v1/teams/${id}`).set('Authorization', admin).send({ description: 'sec' });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ name: `Security ${tag}`, description: 'sec' });
    expect(Date.parse(upd.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(upd.body.created_at));
    const audit: { details: { changed: string[] } }[] = await t.ds.query(
      `SELECT details FROM audit_events WHERE action = 'team_updated' AND resource_id = $1`,
      [id],
    );
    expect(audit.map((a) => a.details.changed)).toEqual([['description']]);
    // an update that changes nothing writes nothing
    await t.http.put(`/api/v1/teams/${id}`).set('Authorization', admin).send({ description: 'sec' });
    const after: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE action = 'team_updated' AND resource_id = $1`,
      [id],
    );
    expect(after).toHaveLength(1);
    const list = await t.http.get(`/api/v1/teams?q=${tag}&sort=name`).set('Authorization', viewer);
    expect(list.body.total).toBe(2);
    expect(list.body.data.map((x: { name: string }) => x.name)).toEqual([`Platform ${tag}`, `Security ${tag}`]);
    const cur = await t.http.get(`/api/v1/teams?q=${tag}&page_size=1&sort=name`).set('Authorization', viewer);
    const next = await t.http
      .get(`/api/v1/teams?q=${tag}&page_size=1&sort=name&cursor=${cur.body.next_cursor}`)
      .set('Authorization', viewer);
    expect(next.body.data[0].name).toBe(`Security ${tag}`);
    expect(next.body.next_cursor).toBeNull();
  });

  it('returns 404 for unknown teams on get, update and delete', async () => {
    expect((await t.http.get('/api/v1/teams/team-nope').set('Authorization', viewer)).status).toBe(404);
    expect((await t.http.put('/api/v1/teams/team-nope').set('Authorization', admin).send({ name: 'x' })).status).toBe(
      404,
    );
    expect((await t.http.delete('/api/v1/teams/team-nope').set('Authorization', admin)).status).toBe(404);
  });

  it('denies writes to a viewer', async () => {
    expect((await t.http.post('/api/v1/teams').set('Authorization', viewer).send({ name: 'v' })).status).toBe(403);
    expect((await t.http.delete(`/api/v1/teams/team-sec-${tag}`).set('Authorization', viewer)).status).toBe(403);
  });

  it('deletes with 204 and 409s while an owner references the team', async () => {
    const id = `team-del-${tag}`;
    await create({ id, name: `Doomed ${tag}` });
    await t.ds.query(`INSERT INTO owners (id, name, email, team_id) VALUES ($1, 'Ref', $2, $3)`, [
      `o-ref-${tag}`,
      `ref-${tag}@example.com`,
      id,
    ]);
    const blocked = await t.http.delete(`/api/v1/teams/${id}`).set('Authorization', admin);
    expect(blocked.status).toBe(409);
    expect(blocked.body.message).toContain('owners');
    await t.ds.query(`DELETE FROM owners WHERE id = $1`, [`o-ref-${tag}`]);
    expect((await t.http.delete(`/api/v1/teams/${id}`).set('Authorization', admin)).status).toBe(204);
    expect((await t.http.get(`/api/v1/teams/${id}`).set('Authorization', viewer)).status).toBe(404);
  });
});
