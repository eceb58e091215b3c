import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/agents', () => {
  let t: TestApp;
  let admin: string;
  let viewer: string;
  let nobody: string;
  const tag = randomBytes(3).toString('hex');
  const bearer = (key: string) => `Bearer ${key}`;

  beforeAll(async () => {
    t = await createTestApp();
    admin = bearer((await t.mintKey(['admin'])).key);
    viewer = bearer((await t.mintKey(['viewer'])).key);
    nobody = bearer((await t.mintKey([])).key);
  });
  afterAll(async () => {
    await t.close();
  });

  const register = (body: object, auth = admin) => t.http.post('/api/v1/agents').set('Authorization', auth).send(body);
  const get = (id: string, auth = viewer) => t.http.get(`/api/v1/agents/${id}`).set('Authorization', auth);
  const beat = (id: string, body: object, auth: string) =>
    t.http.post(`/api/v1/agents/${id}/heartbeat`).set('Authorization', auth).send(body);
  const retire = (id: string, query = '') => t.http.delete(`/api/v1/agents/${id}${query}`).set('Authorization', admin);
  interface AuditRow {
    action: string;
    actor: string;
    actor_type: string;
    details: Record<string, unknown>;
  }
  const domainAudit = (id: string): Promise<AuditRow[]> =>
    t.ds.query(
      `SELECT action, actor, actor_type, details FROM audit_events
        WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at, id`,
      [id],
    );

  describe('registration', () => {
    it('registers an agent with its own key, shown once, in one transaction with an audit row', async () => {
      const res = await register({ name: `web-${tag}`, hostname: `web.${tag}.internal` });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id: expect.stringMatching(/^ag-[a-z0-9]{12}$/),
        name: `web-${tag}`,
        hostname: `web.${tag}.internal`,
        status: 'Offline',
        os: '',
        ip_address: '',
        last_heartbeat_at: null,
        retired_at: null,
        retired_reason: null,
        api_key: expect.stringMatching(/^cc_/),
      });
      const id: string = res.body.id;
      const [key] = await t.ds.query(
        `SELECT k.id, k.actor_id, k.actor_type, k.revoked_at, a.api_key_id
           FROM agents a JOIN api_keys k ON k.id = a.api_key_id WHERE a.id = $1`,
        [id],
      );
      expect(key).toMatchObject({ actor_id: id, actor_type: 'Agent', revoked_at: null });
      const roles = await t.ds.query(`SELECT role_id FROM actor_roles WHERE actor_id = $1`, [id]);
      expect(roles).toEqual([{ role_id: 'role-agent' }]);
      const audit = await domainAudit(id);
      expect(audit.map((a) => a.action)).toEqual(['agent_registered']);
      expect(audit[0].details).toMatchObject({ name: `web-${tag}`, api_key_id: key.id });

      // The key is never shown again and works as the agent.
      const again = await get(id);
      expect(again.status).toBe(200);
      expect(again.body.api_key).toBeUndefined();
      expect((await get(id, bearer(res.body.api_key))).status).toBe(200);
    });

    it('takes a client id and answers 409 on a duplicate id or active name', async () => {
      const own = await register({ id: `ag-own-${tag}`, name: `own-${tag}` });
      expect(own.status).toBe(201);
      expect(own.body.id).toBe(`ag-own-${tag}`);
      const dupId = await register({ id: `ag-own-${tag}`, name: `other-${tag}` });
      expect(dupId.status).toBe(409);
      const dupName = await register({ name: `own-${tag}` });
      expect(dupName.status).toBe(409);
      expect(dupName.body.message).toContain('already exists');
      // Nothing half-written: no key was left behind for the refused agent.
      const keys = await t.ds.query(`SELECT count(*)::int AS n FROM api_keys WHERE name = $1`, [`agent:other-${tag}`]);
      expect(keys[0].n).toBe(0);
    });

    it('rejects bad input with a message naming the field', async () => {
      expect((await register({ name: '' })).body.message).toMatch(/^body\.name: /);
      expect((await register({})).status).toBe(400);
      expect((await register({ name: 'x', colour: 'red' })).body.message).toBe('body.colour: unknown field');
      expect((await register({ id: 'Bad Id', name: 'x' })).body.message).toMatch(/^body\.id: /);
      expect((await register({ name: 'x', hostname: 'h'.repeat(254) })).body.message).toMatch(/^body\.hostname: /);
      const sentinel = await register({ id: 'server-scanner', name: `scanner-${tag}` });
      expect(sentinel.status).toBe(400);
      expect(sentinel.body.message).toMatch(/^body\.id: .*reserved/);
    });

    it('denies registration to a viewer and reads to a key without agent.read', async () => {
      expect((await register({ name: `v-${tag}` }, viewer)).status).toBe(403);
      expect((await t.http.get('/api/v1/agents').set('Authorization', nobody)).status).toBe(403);
      expect((await t.http.get('/api/v1/agents/retired').set('Authorization', nobody)).status).toBe(403);
      expect((await get(`ag-own-${tag}`, nobody)).status).toBe(403);
      expect((await t.http.get('/api/v1/agents').set('Authorization', viewer)).status).toBe(200);
    });

    it('returns 404 for an unknown agent', async () => {
      expect((await get(`ag-nope-${tag}`)).status).toBe(404);
    });
  });

  describe('heartbeat', () => {
    let id: string;
    let key: string;
    let otherId: string;
    let otherKey: string;
    beforeAll(async () => {
      const a = await register({ name: `hb-${tag}` });
      id = a.body.id;
      key = bearer(a.body.api_key);
      const other = await register({ name: `hb-other-${tag}` });
      otherId = other.body.id;
      otherKey = bearer(other.body.api_key);
    });

    it('stores the metadata, stamps the beat and sets Online, without a domain audit row', async () => {
      const before = Date.now();
      const res = await beat(
        id,
        { os: 'linux', architecture: 'amd64', ip_address: '10.9.8.7', hostname: `hb.${tag}`, version: '1.4.2' },
        key,
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id,
        status: 'Online',
        os: 'linux',
        architecture: 'amd64',
        ip_address: '10.9.8.7',
        hostname: `hb.${tag}`,
        version: '1.4.2',
      });
      expect(Date.parse(res.body.last_heartbeat_at)).toBeGreaterThanOrEqual(before - 5_000);
      // A partial beat keeps what it does not mention; IPv6 is fine.
      const partial = await beat(id, { version: '1.4.3', ip_address: '2001:db8::7' }, key);
      expect(partial.body).toMatchObject({ os: 'linux', version: '1.4.3', ip_address: '2001:db8::7' });
      expect(Date.parse(partial.body.last_heartbeat_at)).toBeGreaterThanOrEqual(Date.parse(res.body.last_heartbeat_at));
      expect((await domainAudit(id)).map((a) => a.action)).toEqual(['agent_registered']);
    });

    it('lets an agent beat only for itself', async () => {
      const res = await beat(otherId, { os: 'linux' }, key);
      expect(res.status).toBe(403);
      expect((await get(otherId)).body.status).toBe('Offline');
      // An operator key with agent.heartbeat may beat for any agent.
      expect((await beat(otherId, {}, admin)).status).toBe(200);
      expect((await beat(id, {}, viewer)).status).toBe(403);
    });

    it('validates the body', async () => {
      expect((await beat(id, { ip_address: '10.0.0.256' }, key)).body.message).toMatch(/^body\.ip_address: /);
      expect((await beat(id, { ip_address: 'fe80::1%eth0' }, key)).status).toBe(400);
      expect((await beat(id, { os: 'x'.repeat(65) }, key)).body.message).toMatch(/^body\.os: /);
      expect((await beat(id, { os: 5 }, key)).body.message).toMatch(/^body\.os: /);
      expect((await beat(id, { cpu: 4 }, key)).body.message).toBe('body.cpu: unknown field');
    });

    it('answers 404 for an unknown agent and 410 once it is retired', async () => {
      expect((await beat(`ag-nope-${tag}`, {}, admin)).status).toBe(404);
      expect((await retire(otherId)).status).toBe(200);
      const res = await beat(otherId, { os: 'linux' }, admin);
      expect(res.status).toBe(410);
      expect(res.body.message).toContain('retired');
      expect((await get(otherId)).body.status).toBe('Offline');
      // the agent's own (now revoked) key is told to stop, not to re-authenticate
      const own = await beat(otherId, { os: 'linux' }, otherKey);
      expect(own.status).toBe(410);
    });
  });

  describe('listing', () => {
    const ids: Record<string, string> = {};
    beforeAll(async () => {
      for (const [n, meta] of [
        ['alpha', { os: 'Linux', architecture: 'amd64' }],
        ['bravo', { os: 'linux', architecture: 'arm64' }],
        ['charlie', { os: 'windows', architecture: 'amd64' }],
        ['delta', null],
      ] as const) {
        const r = await register({ name: `ls-${tag}-${n}`, hostname: `${n}.lst` });
        ids[n] = r.body.id;
        if (meta) await beat(r.body.id, meta, admin);
      }
      await retire(ids.delta);
    });
    const list = (query: string) => t.http.get(`/api/v1/agents?q=ls-${tag}&${query}`).set('Authorization', viewer);
    const names = (res: { body: { data: { name: string }[] } }) => res.body.data.map((a) => a.name);

    it('lists active agents sorted by name, with page and cursor modes', async () => {
      const all = await list('sort=name');
      expect(all.status).toBe(200);
      expect(all.body.total).toBe(3);
      expect(names(all)).toEqual([`ls-${tag}-alpha`, `ls-${tag}-bravo`, `ls-${tag}-charlie`]);
      const desc = await list('sort=-name&page=2&per_page=2');
      expect(desc.body).toMatchObject({ page: 2, per_page: 2, total: 3 });
      expect(names(desc)).toEqual([`ls-${tag}-alpha`]);

      const first = await list('sort=name&page_size=2');
      expect(names(first)).toEqual([`ls-${tag}-alpha`, `ls-${tag}-bravo`]);
      const second = await list(`sort=name&page_size=2&cursor=${first.body.next_cursor}`);
      expect(names(second)).toEqual([`ls-${tag}-charlie`]);
      expect(second.body.next_cursor).toBeNull();

      const beats = await list('sort=-last_heartbeat_at&page_size=1');
      const beats2 = await list(`sort=-last_heartbeat_at&page_size=5&cursor=${beats.body.next_cursor}`);
      expect([...names(beats), ...names(beats2)].sort()).toEqual([
        `ls-${tag}-alpha`,
        `ls-${tag}-bravo`,
        `ls-${tag}-charlie`,
      ]);
    });

    it('filters by status, os and architecture (case-insensitive)', async () => {
      expect(names(await list('os=LINUX&sort=name'))).toEqual([`ls-${tag}-alpha`, `ls-${tag}-bravo`]);
      expect(names(await list('os=linux&architecture=AMD64'))).toEqual([`ls-${tag}-alpha`]);
      expect((await list('status=online')).body.total).toBe(3);
      expect((await list('status=Degraded')).body.total).toBe(0);
      expect((await list('fields=name')).body.data[0]).toEqual({ id: expect.any(String), name: expect.any(String) });
    });

    it('keeps retired agents out of the list and shows them in the retired view', async () => {
      const retired = await t.http.get(`/api/v1/agents/retired?q=ls-${tag}`).set('Authorization', viewer);
      expect(retired.status).toBe(200);
      expect(retired.body.data.map((a: { id: string }) => a.id)).toEqual([ids.delta]);
      expect(retired.body.data[0].retired_at).not.toBeNull();
      expect((await get(ids.delta)).body.retired_at).not.toBeNull();
    });

    it('answers 400 on bad list input', async () => {
      expect((await list('status=sleeping')).body.message).toMatch(/^query\.status: /);
      expect((await list('sort=hostname')).body.message).toMatch(/^query\.sort: /);
      expect((await list('per_page=100000')).body.message).toMatch(/^query\.per_page: /);
      expect((await list('cursor=garbage')).body.message).toMatch(/^query\.cursor: /);
      expect((await list('colour=red')).body.message).toBe('query.colour: unknown field');
      expect((await list('fields=api_key')).body.message).toMatch(/^query\.fields: /);
    });
  });

  describe('retirement', () => {
    async function agentWithDependencies(name: string) {
      const r = await register({ name });
      const id: string = r.body.id;
      const key = bearer(r.body.api_key);
      const s = `${tag}-${name}`;
      await t.ds.query(
        `INSERT INTO deployment_targets (id, name, type, agent_id) VALUES ($1, 'live', 'NGINX', $3), ($2, 'old', 'NGINX', $3)`,
        [`t-live-${s}`, `t-old-${s}`, id],
      );
      await t.ds.query(`UPDATE deployment_targets SET retired_at = now() WHERE id = $1`, [`t-old-${s}`]);
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, agent_id, status)
         VALUES ($1, 'live', 'a.example', $3, 'Active'), ($2, 'gone', 'b.example', $3, 'Archived')`,
        [`mc-live-${s}`, `mc-gone-${s}`, id],
      );
      await t.ds.query(
        `INSERT INTO jobs (id, type, agent_id, status) VALUES
           ($1, 'Deployment', $4, 'Pending'), ($2, 'Renewal', $4, 'AwaitingCSR'), ($3, 'Deployment', $4, 'Completed')`,
        [`job-p-${s}`, `job-c-${s}`, `job-done-${s}`, id],
      );
      return { id, key, s };
    }

    it('retires cleanly, revokes the key and audits once; a second retire is a silent 204', async () => {
      const r = await register({ name: `clean-${tag}` });
      const id: string = r.body.id;
      const res = await retire(id, '?reason=replaced');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ cascade: false, retired_targets: 0, cancelled_jobs: 0 });
      expect(res.body.agent).toMatchObject({ id, status: 'Offline', retired_reason: 'replaced' });
      expect(res.body.agent.retired_at).not.toBeNull();
      expect((await get(id, bearer(r.body.api_key))).status).toBe(410); // retired agents are told to stop

      const again = await retire(id, '?force=true&reason=again');
      expect(again.status).toBe(204);
      expect(again.text).toBe('');
      const audit = await domainAudit(id);
      expect(audit.map((a) => a.action)).toEqual(['agent_registered', 'agent_retired']);
      expect(audit[1].details).toMatchObject({ reason: 'replaced', revoked_api_keys: 1 });

      // The name is free again once the holder is retired.
      expect((await register({ name: `clean-${tag}` })).status).toBe(201);
    });

    it('blocks a retire with dependencies (409 with the counts) and changes nothing', async () => {
      const { id, key } = await agentWithDependencies(`blocked-${tag}`);
      const res = await retire(id);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ error: 'Conflict', request_id: expect.any(String) });
      expect(res.body.message).toContain('force=true');
      expect(res.body.details).toEqual({ active_targets: 1, active_certificates: 1, pending_jobs: 2 });
      expect(res.body).toMatchObject({ active_targets: 1, active_certificates: 1, pending_jobs: 2 });
      expect((await get(id)).body.retired_at).toBeNull();
      expect((await get(id, key)).status).toBe(200);
      expect((await domainAudit(id)).map((a) => a.action)).toEqual(['agent_registered']);
    });

    it('requires a reason with force, and refuses bad query input', async () => {
      const id = (await register({ name: `noreason-${tag}` })).body.id;
      const res = await retire(id, '?force=true');
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^query\.reason: /);
      expect((await retire(id, '?force=true&reason=%20%20')).status).toBe(400);
      expect((await retire(id, '?force=maybe&reason=x')).body.message).toMatch(/^query\.force: /);
      expect((await retire(id, '?cascade=true')).body.message).toBe('query.cascade: unknown field');
      expect((await get(id)).body.retired_at).toBeNull();
    });

    it('force-retires in one transaction: targets retired, open jobs cancelled, key revoked, one audit row', async () => {
      const { id, key, s } = await agentWithDependencies(`forced-${tag}`);
      const res = await retire(id, '?force=true&reason=host%20decommissioned');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ cascade: true, retired_targets: 1, cancelled_jobs: 2 });
      expect(res.body.agent).toMatchObject({ status: 'Offline', retired_reason: 'host decommissioned' });

      const targets = await t.ds.query(
        `SELECT id, retired_reason, retired_at IS NOT NULL AS retired FROM deployment_targets WHERE agent_id = $1 ORDER BY id`,
        [id],
      );
      expect(targets).toEqual([
        { id: `t-live-${s}`, retired_reason: 'host decommissioned', retired: true },
        { id: `t-old-${s}`, retired_reason: null, retired: true },
      ]);
      const jobs = await t.ds.query(`SELECT id, status, last_error FROM jobs WHERE agent_id = $1 ORDER BY id`, [id]);
      expect(jobs).toEqual([
        { id: `job-c-${s}`, status: 'Cancelled', last_error: 'agent retired: host decommissioned' },
        { id: `job-done-${s}`, status: 'Completed', last_error: null },
        { id: `job-p-${s}`, status: 'Cancelled', last_error: 'agent retired: host decommissioned' },
      ]);
      const [cert] = await t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [`mc-live-${s}`]);
      expect(cert.status).toBe('Active');
      expect((await get(id, key)).status).toBe(410);

      const audit = await domainAudit(id);
      expect(audit.map((a) => a.action)).toEqual(['agent_registered', 'agent_retirement_cascaded']);
      expect(audit[1]).toMatchObject({
        actor_type: 'ApiKey',
        details: {
          reason: 'host decommissioned',
          retired_targets: 1,
          cancelled_jobs: 2,
          active_certificates: 1,
          revoked_api_keys: 1,
        },
      });
      expect((await retire(id, '?force=true&reason=again')).status).toBe(204);
      expect((await domainAudit(id)).length).toBe(2);
    });

    it('refuses sentinel agents even with force, 404s unknown ones, and denies viewers', async () => {
      for (const sentinel of ['server-scanner', 'cloud-aws-sm', 'cloud-azure-kv', 'cloud-gcp-sm']) {
        const res = await retire(sentinel, '?force=true&reason=cleanup');
        expect(res.status).toBe(403);
        expect(res.body.message).toContain('cannot be retired');
      }
      expect((await retire('server-scanner')).status).toBe(403);
      expect((await retire('server-scanner', '?force=true')).status).toBe(403);
      expect((await retire(`ag-nope-${tag}`)).status).toBe(404);
      const id = (await register({ name: `kept-${tag}` })).body.id;
      expect((await t.http.delete(`/api/v1/agents/${id}`).set('Authorization', viewer)).status).toBe(403);
      expect((await get(id)).body.retired_at).toBeNull();
    });
  });
});
