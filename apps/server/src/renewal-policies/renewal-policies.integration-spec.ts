import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/renewal-policies', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let agent: string;
  const tag = randomBytes(3).toString('hex');
  const rp = `rp-std-${tag}`;
  const group = `agg-rp-${tag}`;
  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agent = `Bearer ${(await t.mintKey(['agent'])).key}`;
    await t.ds.query(`INSERT INTO agent_groups (id, name) VALUES ($1, $1)`, [group]);
  });
  afterAll(async () => {
    await t.ds.query(`DELETE FROM managed_certificates WHERE id LIKE $1`, [`mc-rp-%-${tag}`]);
    await t.ds.query(`DELETE FROM renewal_policies WHERE name LIKE $1`, [`%${tag}`]);
    await t.ds.query(`DELETE FROM agent_groups WHERE id = $1`, [group]);
    await t.close();
  });

  const create = (body: object) => t.http.post('/api/v1/renewal-policies').set('Authorization', operator).send(body);
  const put = (id: string, body: object) =>
    t.http.put(`/api/v1/renewal-policies/${id}`).set('Authorization', operator).send(body);

  it('creates with defaults and a generated rp- id', async () => {
    const res = await create({ name: `Default ${tag}` });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^rp-[a-z0-9]{12}$/),
      name: `Default ${tag}`,
      renewal_days_before: 30,
      alert_thresholds_days: [30, 14, 7, 0],
      auto_renew: true,
      agent_group_id: null,
      notification_routing: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('creates with a client id, sorts thresholds descending, scopes to an agent group and audits', async () => {
    const res = await create({
      id: rp,
      name: `Standard ${tag}`,
      renewal_days_before: 21,
      alert_thresholds_days: [1, 60, 0, 14],
      auto_renew: false,
      agent_group_id: group,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: rp,
      renewal_days_before: 21,
      alert_thresholds_days: [60, 14, 1, 0],
      auto_renew: false,
      agent_group_id: group,
    });
    const audit: { action: string; resource_type: string; details: Record<string, unknown> }[] = await t.ds.query(
      `SELECT action, resource_type, details FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
      [rp],
    );
    expect(audit).toEqual([
      {
        action: 'renewal_policy_created',
        resource_type: 'renewal_policy',
        details: {
          name: `Standard ${tag}`,
          renewal_days_before: 21,
          alert_thresholds_days: [60, 14, 1, 0],
          auto_renew: false,
          agent_group_id: group,
          notification_routing: null,
        },
      },
    ]);
  });

  it('accepts an empty threshold list and the 0 and 365 bounds', async () => {
    const res = await create({ name: `Silent ${tag}`, renewal_days_before: 365, alert_thresholds_days: [] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ renewal_days_before: 365, alert_thresholds_days: [] });
    expect(
      (await create({ name: `Zero ${tag}`, renewal_days_before: 0, alert_thresholds_days: [365, 0] })).status,
    ).toBe(201);
  });

  it('answers 409 on a duplicate id or name, 400 on a missing agent group', async () => {
    expect((await create({ id: rp, name: `Other ${tag}` })).status).toBe(409);
    const dup = await create({ name: `Standard ${tag}` });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toContain('already exists');
    const ghost = await create({ name: `Ghost ${tag}`, agent_group_id: `agg-ghost-${tag}` });
    expect(ghost.status).toBe(400);
    expect(ghost.body.message).toBe(`body.agent_group_id: agent_groups "agg-ghost-${tag}" does not exist`);
  });

  it('rejects bad input with 400 naming the field, storing nothing', async () => {
    const name = `Bad ${tag}`;
    const cases: [object, string | RegExp][] = [
      [{ name, renewal_days_before: -1 }, 'body.renewal_days_before: must be an integer from 0 to 365'],
      [{ name, renewal_days_before: 366 }, 'body.renewal_days_before: must be an integer from 0 to 365'],
      [{ name, renewal_days_before: '30' }, 'body.renewal_days_before: must be an integer from 0 to 365'],
      [{ name, alert_thresholds_days: [30, 30] }, 'body.alert_thresholds_days: must not repeat a value'],
      [{ name, alert_thresholds_days: [400] }, 'body.alert_thresholds_days: must be integers from 0 to 365'],
      [{ name, alert_thresholds_days: [-1] }, 'body.alert_thresholds_days: must be integers from 0 to 365'],
      [{ name, alert_thresholds_days: [7.5] }, 'body.alert_thresholds_days: must be integers from 0 to 365'],
      [{ name, alert_thresholds_days: 7 }, /^body\.alert_thresholds_days: /],
      [{ name, alert_thresholds_days: Array.from({ length: 21 }, (_, i) => i) }, /^body\.alert_thresholds_days: /],
      [{ name, auto_renew: 'no' }, 'body.auto_renew: must be true or false'],
      [{ name, agent_group_id: 'Bad Group' }, /^body\.agent_group_id: /],
      [{ name, window: 3 }, 'body.window: unknown field'],
      [{ name: '' }, 'body.name: must not be blank'],
      [{ id: 'BAD', name }, /^body\.id: /],
      [{}, /^body\.name: /],
    ];
    for (const [body, message] of cases) {
      const res = await create(body);
      expect({ body, status: res.status, message: res.body.message }).toEqual({
        body,
        status: 400,
        message: typeof message === 'string' ? message : expect.stringMatching(message),
      });
    }
    const rows: unknown[] = await t.ds.query(`SELECT id FROM renewal_policies WHERE name = $1`, [name]);
    expect(rows).toEqual([]);
  });

  it('gets, lists (page and cursor) and filters', async () => {
    expect((await t.http.get(`/api/v1/renewal-policies/${rp}`).set('Authorization', viewer)).body.name).toBe(
      `Standard ${tag}`,
    );
    const all = await t.http.get(`/api/v1/renewal-policies?q=${tag}&sort=name`).set('Authorization', viewer);
    expect(all.body.total).toBe(4);
    expect(all.body.data.map((p: { name: string }) => p.name)).toEqual([
      `Default ${tag}`,
      `Silent ${tag}`,
      `Standard ${tag}`,
      `Zero ${tag}`,
    ]);
    const scoped = await t.http.get(`/api/v1/renewal-policies?agent_group_id=${group}`).set('Authorization', viewer);
    expect(scoped.body.data.map((p: { id: string }) => p.id)).toEqual([rp]);
    const manual = await t.http.get(`/api/v1/renewal-policies?q=${tag}&auto_renew=false`).set('Authorization', viewer);
    expect(manual.body.total).toBe(1);
    const c1 = await t.http
      .get(`/api/v1/renewal-policies?q=${tag}&sort=-renewal_days_before&page_size=3`)
      .set('Authorization', viewer);
    expect(c1.body.data.map((p: { renewal_days_before: number }) => p.renewal_days_before)).toEqual([365, 30, 21]);
    const c2 = await t.http
      .get(`/api/v1/renewal-policies?q=${tag}&sort=-renewal_days_before&page_size=3&cursor=${c1.body.next_cursor}`)
      .set('Authorization', viewer);
    expect(c2.body.data.map((p: { renewal_days_before: number }) => p.renewal_days_before)).toEqual([0]);
    expect(c2.body.next_cursor).toBeNull();
    const p2 = await t.http
      .get(`/api/v1/renewal-policies?q=${tag}&sort=name&per_page=2&page=2`)
      .set('Authorization', viewer);
    expect(p2.body).toMatchObject({ total: 4, page: 2, per_page: 2 });
    expect((await t.http.get('/api/v1/renewal-policies?auto_renew=maybe').set('Authorization', viewer)).status).toBe(
      400,
    );
    expect((await t.http.get('/api/v1/renewal-policies?page_size=0').set('Authorization', viewer)).status).toBe(400);
  });

  it('updates only the given fields, unscopes with null, and audits what changed', async () => {
    const res = await put(rp, { alert_thresholds_days: [3, 90], agent_group_id: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: `Standard ${tag}`,
      renewal_days_before: 21,
      alert_thresholds_days: [90, 3],
      auto_renew: false,
      agent_group_id: null,
    });
    expect((await put(rp, { agent_group_id: group })).body.agent_group_id).toBe(group);
    expect((await put(rp, { agent_group_id: `agg-ghost-${tag}` })).status).toBe(400);
    expect((await put(rp, { name: `Default ${tag}` })).status).toBe(409);
    expect((await put(rp, { renewal_days_before: null })).body.message).toBe(
      'body.renewal_days_before: must be an integer from 0 to 365',
    );
    expect((await put(rp, { alert_thresholds_days: [1, 1] })).status).toBe(400);
    const audit: { action: string; details: { changed: string[] } }[] = await t.ds.query(
      `SELECT action, details FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at`,
      [rp],
    );
    expect(audit.map((a) => [a.action, a.details.changed])).toEqual([
      ['renewal_policy_created', undefined],
      ['renewal_policy_updated', ['alert_thresholds_days', 'agent_group_id']],
      ['renewal_policy_updated', ['agent_group_id']],
    ]);
  });

  it('returns 404 for unknown policies on get, update and delete', async () => {
    expect((await t.http.get('/api/v1/renewal-policies/rp-nope').set('Authorization', viewer)).status).toBe(404);
    expect((await put('rp-nope', { auto_renew: true })).status).toBe(404);
    expect((await t.http.delete('/api/v1/renewal-policies/rp-nope').set('Authorization', operator)).status).toBe(404);
  });

  it('denies writes to a viewer and reads to a key without policy.read', async () => {
    expect(
      (await t.http.post('/api/v1/renewal-policies').set('Authorization', viewer).send({ name: 'v' })).status,
    ).toBe(403);
    expect((await t.http.put(`/api/v1/renewal-policies/${rp}`).set('Authorization', viewer).send({})).status).toBe(403);
    expect((await t.http.delete(`/api/v1/renewal-policies/${rp}`).set('Authorization', viewer)).status).toBe(403);
    expect((await t.http.get('/api/v1/renewal-policies').set('Authorization', agent)).status).toBe(403);
    expect((await t.http.get(`/api/v1/renewal-policies/${rp}`).set('Authorization', agent)).status).toBe(403);
  });

  it('deletes with 204, 409 while a certificate follows the policy', async () => {
    await t.ds.query(
      `INSERT INTO managed_certificates (id, name, common_name, renewal_policy_id) VALUES ($1, 'ref', 'ref.example.com', $2)`,
      [`mc-rp-ref-${tag}`, rp],
    );
    const blocked = await t.http.delete(`/api/v1/renewal-policies/${rp}`).set('Authorization', operator);
    expect(blocked.status).toBe(409);
    expect(blocked.body.message).toContain('managed_certificates');
    await t.ds.query(`DELETE FROM managed_certificates WHERE id = $1`, [`mc-rp-ref-${tag}`]);
    expect((await t.http.delete(`/api/v1/renewal-policies/${rp}`).set('Authorization', operator)).status).toBe(204);
    expect((await t.http.get(`/api/v1/renewal-policies/${rp}`).set('Authorization', viewer)).status).toBe(404);
    const audit: { action: string }[] = await t.ds.query(
      `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at`,
      [rp],
    );
    expect(audit.map((a) => a.action).slice(-1)).toEqual(['renewal_policy_deleted']);
  });
});
