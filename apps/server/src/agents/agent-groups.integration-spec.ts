import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/agent-groups', () => {
  let t: TestApp;
  let admin: string;
  let viewer: string;
  let nobody: string;
  const tag = randomBytes(3).toString('hex');
  // Metadata no other test file uses, so dynamic matches are ours alone.
  const linux = `TLinux-${tag}`;
  const windows = `twin-${tag}`;
  const [b1, b2] = randomBytes(2);
  const net4 = `100.${64 + (b1 % 64)}.${b2}`;
  const net6 = `2001:db8:${tag.slice(0, 4)}`;
  const ag = (n: string) => `ag-${n}-${tag}`;

  beforeAll(async () => {
    t = await createTestApp();
    admin = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    nobody = `Bearer ${(await t.mintKey([])).key}`;
    const agents: [string, string, string, string, string][] = [
      // name, os, architecture, ip, version
      ['l1', linux, 'amd64', `${net4}.10`, '1.4.2'],
      ['l2', linux.toLowerCase(), 'ARM64', `${net4}.11`, '1.4.10'],
      ['l3', linux, 'amd64', `${net6}::5`, '1.40.0'],
      ['l4', linux, 'amd64', '', '1.5.0'],
      ['l5', linux, 'amd64', `${net4}.12`, ''],
      ['w1', windows, 'amd64', `${net4}.20`, '1.4.2'],
      ['gone', linux, 'amd64', `${net4}.30`, '1.4.2'],
    ];
    for (const [n, os, arch, ip, version] of agents) {
      await t.ds.query(
        `INSERT INTO agents (id, name, os, architecture, ip_address, version) VALUES ($1, $2, $3, $4, $5, $6)`,
        [ag(n), `grp-${tag}-${n}`, os, arch, ip, version],
      );
    }
    await t.ds.query(`UPDATE agents SET retired_at = now() WHERE id = $1`, [ag('gone')]);
  });
  afterAll(async () => {
    await t.close();
  });

  const create = (body: object, auth = admin) =>
    t.http.post('/api/v1/agent-groups').set('Authorization', auth).send(body);
  const update = (id: string, body: object, auth = admin) =>
    t.http.put(`/api/v1/agent-groups/${id}`).set('Authorization', auth).send(body);
  const members = async (id: string, query = '') => {
    const res = await t.http.get(`/api/v1/agent-groups/${id}/members?${query}`).set('Authorization', viewer);
    expect(res.status).toBe(200);
    return Object.fromEntries(
      (res.body.data as { id: string; membership: string }[]).map((m) => [
        m.id.replace(/^ag-|-[0-9a-f]{6}$/g, ''),
        m.membership,
      ]),
    );
  };

  describe('create and validate', () => {
    it('creates with a generated or client id, stores normalized criteria and audits', async () => {
      const gen = await create({ name: `gen-${tag}` });
      expect(gen.status).toBe(201);
      expect(gen.body).toMatchObject({
        id: expect.stringMatching(/^agg-[a-z0-9]{12}$/),
        description: '',
        match_criteria: {},
        include_agent_ids: [],
        exclude_agent_ids: [],
        enabled: true,
      });
      const own = await create({
        id: `agg-own-${tag}`,
        name: `own-${tag}`,
        description: 'linux edge',
        match_criteria: { os: [` ${linux} `, linux.toUpperCase()], architecture: [], version: '1.4.*' },
        include_agent_ids: [ag('w1'), ag('w1')],
        exclude_agent_ids: [ag('l2')],
        enabled: false,
      });
      expect(own.status).toBe(201);
      expect(own.body).toMatchObject({
        id: `agg-own-${tag}`,
        match_criteria: { os: [linux], version: '1.4.*' },
        include_agent_ids: [ag('w1')],
        exclude_agent_ids: [ag('l2')],
        enabled: false,
      });
      expect(own.body.match_criteria).not.toHaveProperty('architecture');
      const audit = await t.ds.query(
        `SELECT action, details FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
        [`agg-own-${tag}`],
      );
      expect(audit).toEqual([
        {
          action: 'agent_group_created',
          details: expect.objectContaining({ include_agent_ids: [ag('w1')], exclude_agent_ids: [ag('l2')] }),
        },
      ]);
    });

    it('answers 409 on a duplicate id or name', async () => {
      expect((await create({ id: `agg-own-${tag}`, name: `other-${tag}` })).status).toBe(409);
      const dup = await create({ name: `own-${tag}` });
      expect(dup.status).toBe(409);
      expect(dup.body.message).toContain('already exists');
    });

    it('answers 400 naming the field (and the bad value) on bad input, storing nothing', async () => {
      const cidr = await create({ name: `bad-${tag}`, match_criteria: { ip_cidrs: ['10.0.0.0/8', '10.0.0.0/33'] } });
      expect(cidr.status).toBe(400);
      expect(cidr.body.message).toMatch(/^body\.match_criteria\.ip_cidrs: .*"10\.0\.0\.0\/33"/);
      expect((await create({ name: `bad-${tag}`, match_criteria: { version: '1.*.2' } })).body.message).toMatch(
        /^body\.match_criteria\.version: /,
      );
      expect((await create({ name: `bad-${tag}`, match_criteria: { zone: 'eu' } })).body.message).toBe(
        'body.match_criteria.zone: unknown field',
      );
      const missing = await create({ name: `bad-${tag}`, include_agent_ids: [ag('l1'), `ag-ghost-${tag}`] });
      expect(missing.status).toBe(400);
      expect(missing.body.message).toBe(`body.include_agent_ids: agent "ag-ghost-${tag}" does not exist`);
      expect((await create({ name: `bad-${tag}`, exclude_agent_ids: [`ag-ghost-${tag}`] })).body.message).toMatch(
        /^body\.exclude_agent_ids: /,
      );
      const both = await create({ name: `bad-${tag}`, include_agent_ids: [ag('l1')], exclude_agent_ids: [ag('l1')] });
      expect(both.status).toBe(400);
      expect(both.body.message).toContain('both included and excluded');
      expect((await create({ name: `bad-${tag}`, enabled: 'yes' })).body.message).toMatch(/^body\.enabled: /);
      expect((await create({ name: `bad-${tag}`, colour: 'red' })).body.message).toBe('body.colour: unknown field');
      const stored = await t.ds.query(`SELECT count(*)::int AS n FROM agent_groups WHERE name = $1`, [`bad-${tag}`]);
      expect(stored[0].n).toBe(0);
    });
  });

  describe('members', () => {
    it('matches all criteria, case-insensitively, minus excludes, plus includes; never retired agents', async () => {
      // os + version prefix: l1 (1.4.2) and l2 (1.4.10) match; l3 (1.40.0) and l5 (no version) do not;
      // l2 is excluded, w1 is included.
      expect(await members(`agg-own-${tag}`)).toEqual({ l1: 'dynamic', w1: 'include' });

      const arch = await create({
        name: `arch-${tag}`,
        match_criteria: { os: [linux.toLowerCase()], architecture: ['arm64'] },
      });
      expect(await members(arch.body.id)).toEqual({ l2: 'dynamic' });

      const exact = await create({ name: `exact-${tag}`, match_criteria: { os: [linux], version: '1.4.2' } });
      expect(await members(exact.body.id)).toEqual({ l1: 'dynamic' });

      const retired = await create({ name: `retired-${tag}`, include_agent_ids: [ag('gone')] });
      expect(retired.status).toBe(201);
      expect(await members(retired.body.id)).toEqual({});
    });

    it('computes CIDR containment for IPv4 and IPv6, skipping agents without an address', async () => {
      const v4 = await create({ name: `v4-${tag}`, match_criteria: { ip_cidrs: [`${net4}.0/24`] } });
      expect(await members(v4.body.id)).toEqual({ l1: 'dynamic', l2: 'dynamic', l5: 'dynamic', w1: 'dynamic' });
      const narrow = await create({
        name: `narrow-${tag}`,
        match_criteria: { ip_cidrs: [`${net4}.10/31`, `${net6}::/48`], os: [linux] },
      });
      expect(await members(narrow.body.id)).toEqual({ l1: 'dynamic', l2: 'dynamic', l3: 'dynamic' });
      const v6 = await create({ name: `v6-${tag}`, match_criteria: { ip_cidrs: [`${net6}::/48`] } });
      expect(await members(v6.body.id)).toEqual({ l3: 'dynamic' });
    });

    it('has no dynamic members without criteria (includes only)', async () => {
      const g = await create({ name: `manual-${tag}`, include_agent_ids: [ag('l4'), ag('w1')] });
      expect(await members(g.body.id)).toEqual({ l4: 'include', w1: 'include' });
    });

    it('treats criteria stored malformed outside the API as matching nothing, not as a 500', async () => {
      await t.ds.query(`INSERT INTO agent_groups (id, name, match_criteria) VALUES ($1, $1, $2)`, [
        `agg-raw-${tag}`,
        JSON.stringify({ os: [linux], ip_cidrs: ['not-a-cidr'] }),
      ]);
      await t.ds.query(
        `INSERT INTO agent_group_members (agent_group_id, agent_id, membership_type) VALUES ($1, $2, 'include')`,
        [`agg-raw-${tag}`, ag('w1')],
      );
      expect(await members(`agg-raw-${tag}`)).toEqual({ w1: 'include' });
    });

    it('pages members with a cursor and sparse fields', async () => {
      const g = await create({ name: `pages-${tag}`, match_criteria: { os: [linux] } });
      const first = await t.http
        .get(`/api/v1/agent-groups/${g.body.id}/members?page_size=3&fields=name,membership`)
        .set('Authorization', viewer);
      expect(first.body.total).toBe(5);
      expect(first.body.data[0]).toEqual({ id: ag('l1'), name: `grp-${tag}-l1`, membership: 'dynamic' });
      const rest = await t.http
        .get(
          `/api/v1/agent-groups/${g.body.id}/members?page_size=3&fields=name,membership&cursor=${first.body.next_cursor}`,
        )
        .set('Authorization', viewer);
      expect([...first.body.data, ...rest.body.data].map((m: { id: string }) => m.id)).toEqual(
        ['l1', 'l2', 'l3', 'l4', 'l5'].map(ag),
      );
      expect(rest.body.next_cursor).toBeNull();
      expect(
        (await t.http.get(`/api/v1/agent-groups/${g.body.id}/members?cursor=nope`).set('Authorization', viewer)).status,
      ).toBe(400);
      expect(
        (await t.http.get(`/api/v1/agent-groups/agg-nope-${tag}/members`).set('Authorization', viewer)).status,
      ).toBe(404);
    });
  });

  describe('read, update, delete', () => {
    it('gets and lists groups with page and cursor modes', async () => {
      const one = await t.http.get(`/api/v1/agent-groups/agg-own-${tag}`).set('Authorization', viewer);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({
        name: `own-${tag}`,
        include_agent_ids: [ag('w1')],
        exclude_agent_ids: [ag('l2')],
      });
      expect((await t.http.get(`/api/v1/agent-groups/agg-nope-${tag}`).set('Authorization', viewer)).status).toBe(404);

      const list = (q: string) => t.http.get(`/api/v1/agent-groups?q=-${tag}&${q}`).set('Authorization', viewer);
      const all = await list('sort=name&per_page=100');
      expect(all.status).toBe(200);
      const names: string[] = all.body.data.map((g: { name: string }) => g.name);
      expect(names).toContain(`own-${tag}`);
      expect(all.body.total).toBe(names.length);
      const own = all.body.data.find((g: { name: string }) => g.name === `own-${tag}`);
      expect(own.include_agent_ids).toEqual([ag('w1')]);

      const disabled = await list('enabled=false');
      expect(disabled.body.data.map((g: { name: string }) => g.name)).toEqual([`own-${tag}`]);

      const first = await list('sort=name&page_size=2');
      const second = await list(`sort=name&page_size=2&cursor=${first.body.next_cursor}`);
      expect([...first.body.data, ...second.body.data].map((g: { name: string }) => g.name)).toEqual(names.slice(0, 4));
      expect((await list('fields=name')).body.data[0]).toEqual({ id: expect.any(String), name: expect.any(String) });
      expect((await list('enabled=maybe')).body.message).toMatch(/^query\.enabled: /);
      expect((await list('per_page=501')).status).toBe(400);
    });

    it('updates given fields only, replaces lists and lets an agent move between them', async () => {
      const id = `agg-own-${tag}`;
      const renamed = await update(id, { description: 'renamed', enabled: true });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toMatchObject({
        name: `own-${tag}`,
        description: 'renamed',
        enabled: true,
        match_criteria: { os: [linux], version: '1.4.*' },
        include_agent_ids: [ag('w1')],
      });
      const moved = await update(id, { include_agent_ids: [ag('l2')], exclude_agent_ids: [ag('w1')] });
      expect(moved.body).toMatchObject({ include_agent_ids: [ag('l2')], exclude_agent_ids: [ag('w1')] });
      expect(await members(id)).toEqual({ l1: 'dynamic', l2: 'include' });

      const clash = await update(id, { include_agent_ids: [ag('w1')] });
      expect(clash.status).toBe(400);
      expect(clash.body.message).toMatch(/^body\.include_agent_ids: .*both included and excluded/);
      expect((await update(id, { include_agent_ids: [`ag-ghost-${tag}`] })).status).toBe(400);

      const recrit = await update(id, { match_criteria: { architecture: ['arm64'], os: [linux] } });
      expect(recrit.body.match_criteria).toEqual({ os: [linux], architecture: ['arm64'] });
      expect(await members(id)).toEqual({ l2: 'include' });

      expect((await update(id, { name: `arch-${tag}` })).status).toBe(409);
      expect((await update(id, { match_criteria: { ip_cidrs: ['::1/200'] } })).body.message).toContain('"::1/200"');
      expect((await update(`agg-nope-${tag}`, { description: 'x' })).status).toBe(404);

      const audit = await t.ds.query(
        `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at, id`,
        [id],
      );
      expect(audit.map((a: { action: string }) => a.action)).toEqual([
        'agent_group_created',
        'agent_group_updated',
        'agent_group_updated',
        'agent_group_updated',
      ]);
    });

    it('deletes with 204, and 409s while a renewal policy is scoped to the group', async () => {
      const g = await create({ name: `doomed-${tag}`, include_agent_ids: [ag('l1')] });
      await t.ds.query(`INSERT INTO renewal_policies (id, name, agent_group_id) VALUES ($1, $1, $2)`, [
        `rp-${tag}`,
        g.body.id,
      ]);
      const blocked = await t.http.delete(`/api/v1/agent-groups/${g.body.id}`).set('Authorization', admin);
      expect(blocked.status).toBe(409);
      expect(blocked.body.message).toContain('renewal_policies');
      await t.ds.query(`DELETE FROM renewal_policies WHERE id = $1`, [`rp-${tag}`]);
      const del = await t.http.delete(`/api/v1/agent-groups/${g.body.id}`).set('Authorization', admin);
      expect(del.status).toBe(204);
      expect((await t.http.get(`/api/v1/agent-groups/${g.body.id}`).set('Authorization', viewer)).status).toBe(404);
      const rows = await t.ds.query(`SELECT count(*)::int AS n FROM agent_group_members WHERE agent_group_id = $1`, [
        g.body.id,
      ]);
      expect(rows[0].n).toBe(0);
      const audit = await t.ds.query(
        `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at, id`,
        [g.body.id],
      );
      expect(audit.map((a: { action: string }) => a.action)).toEqual(['agent_group_created', 'agent_group_deleted']);
      expect((await t.http.delete(`/api/v1/agent-groups/${g.body.id}`).set('Authorization', admin)).status).toBe(404);
    });

    it('denies writes to a viewer and reads to a key without agent.read', async () => {
      const id = `agg-own-${tag}`;
      expect((await create({ name: `v-${tag}` }, viewer)).status).toBe(403);
      expect((await update(id, { description: 'v' }, viewer)).status).toBe(403);
      expect((await t.http.delete(`/api/v1/agent-groups/${id}`).set('Authorization', viewer)).status).toBe(403);
      expect((await t.http.get('/api/v1/agent-groups').set('Authorization', nobody)).status).toBe(403);
      expect((await t.http.get(`/api/v1/agent-groups/${id}`).set('Authorization', nobody)).status).toBe(403);
      expect((await t.http.get(`/api/v1/agent-groups/${id}/members`).set('Authorization', nobody)).status).toBe(403);
    });
  });
});
