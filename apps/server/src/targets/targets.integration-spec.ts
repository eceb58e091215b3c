import { randomBytes } from 'node:crypto';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { SecretBox } from '../secrets/secret-box';

const KEY = 'targets-integration-passphrase-0123456789abcdef';
const tag = randomBytes(4).toString('hex');
const SSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-${tag}-do-not-leak\n-----END OPENSSH PRIVATE KEY-----\n`;
const F5_PASSWORD = `f5-password-${tag}-do-not-leak`;

/**
 * This file runs on a database of its own: sealed rows in the shared test database would
 * stop every other test app (booted without CERTCTL_CONFIG_ENCRYPTION_KEY) at its boot
 * check, and the key-less app here must boot while no sealed row exists. Its own Redis
 * prefix keeps its queued audit jobs away from the other apps' processors.
 */
describe('/api/v1/targets', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let noKey: TestApp;
  let admin: string;
  let viewer: string;
  let agentKey: string;
  const online = `ag-online-${tag}`;
  const stale = `ag-stale-${tag}`;
  const offline = `ag-offline-${tag}`;
  const retired = `ag-retired-${tag}`;

  beforeAll(async () => {
    db = await createPrivateDatabase('targets');
    noKey = await createTestApp(db.env); // before any sealed row exists
    t = await createTestApp({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY });
    admin = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agentKey = `Bearer ${(await t.mintKey(['agent'])).key}`;
    // The agents context owns this table; these rows stand in for registered agents.
    await t.ds.query(
      `INSERT INTO agents (id, name, status, last_heartbeat_at, retired_at) VALUES
         ($1, $1, 'Online', now(), NULL),
         ($2, $2, 'Online', now() - interval '1 hour', NULL),
         ($3, $3, 'Offline', now() - interval '2 days', NULL),
         ($4, $4, 'Offline', now() - interval '9 days', now() - interval '8 days')`,
      [online, stale, offline, retired],
    );
  }, 60_000);
  afterAll(async () => {
    await noKey?.close();
    await t?.close();
    await db?.drop();
  });

  const create = (body: object, app: TestApp = t) =>
    app.http.post('/api/v1/targets').set('Authorization', admin).send(body);
  const update = (id: string, body: object, app: TestApp = t) =>
    app.http.put(`/api/v1/targets/${id}`).set('Authorization', admin).send(body);
  const get = (id: string) => t.http.get(`/api/v1/targets/${id}`).set('Authorization', viewer);
  const retire = (id: string, qs = '') => t.http.delete(`/api/v1/targets/${id}${qs}`).set('Authorization', admin);
  const runTest = (id: string) => t.http.post(`/api/v1/targets/${id}/test`).set('Authorization', admin);
  interface StoredRow {
    config: Record<string, unknown>;
    secret_config: Buffer | null;
    secret_fields: string[];
  }
  const stored = async (id: string) =>
    (
      await t.ds.query<StoredRow[]>(
        `SELECT config, secret_config, secret_fields FROM deployment_targets WHERE id = $1`,
        [id],
      )
    )[0];
  const auditActions = async (id: string) =>
    (
      await t.ds.query<{ action: string }[]>(
        `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at, id`,
        [id],
      )
    ).map((r) => r.action);
  const open = async (id: string) =>
    new SecretBox(KEY).open((await stored(id)).secret_config!, `deployment_targets:${id}`);

  const nginx = {
    cert_path: '/etc/nginx/ssl/site.crt',
    key_path: '/etc/nginx/ssl/site.key',
    reload_command: ['systemctl', 'reload', 'nginx'],
    validate_command: ['nginx', '-t'],
  };
  const ssh = {
    host: 'web-02.internal',
    username: 'deploy',
    cert_path: '/etc/ssl/site.crt',
    key_path: '/etc/ssl/site.key',
  };
  const f5 = {
    host: 'bigip.example.com',
    username: 'certctl',
    partition: 'Common',
    client_ssl_profile: 'clientssl_site',
  };

  describe('create', () => {
    it('creates an NGINX target with a generated id, case-insensitive type, audited', async () => {
      const res = await create({ name: `nginx ${tag}`, type: 'nginx', agent_id: online, config: nginx });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^t-[a-z0-9]{12}$/),
        name: `nginx ${tag}`,
        type: 'NGINX',
        agent_id: online,
        config: nginx,
        enabled: true,
        retired_at: null,
        retired_reason: null,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      expect(await auditActions(res.body.id)).toEqual(['target_created']);
    });

    it('seals secrets: psql sees ciphertext only, the API sees "[REDACTED]"', async () => {
      const id = `t-f5-${tag}`;
      const res = await create({
        id,
        name: `f5 ${tag}`,
        type: 'F5',
        agent_id: online,
        config: { ...f5, password: F5_PASSWORD },
      });
      expect(res.status).toBe(201);
      expect(res.body.config).toEqual({ ...f5, password: '[REDACTED]' });
      const row = await stored(id);
      expect(row.config).toEqual(f5);
      expect(row.secret_fields).toEqual(['password']);
      for (const enc of ['latin1', 'utf8', 'base64', 'hex'] as const) {
        expect(row.secret_config!.toString(enc)).not.toContain(F5_PASSWORD);
      }
      await expect(open(id)).resolves.toEqual({ password: F5_PASSWORD });
      await expect(
        new SecretBox('not the passphrase the server was given!').open(row.secret_config!, `deployment_targets:${id}`),
      ).rejects.toThrow(/wrong CERTCTL_CONFIG_ENCRYPTION_KEY/);
      expect((await get(id)).body.config.password).toBe('[REDACTED]');
      const list = await t.http.get(`/api/v1/targets?type=f5&agent_id=${online}`).set('Authorization', viewer);
      expect(list.body.data).toEqual([expect.objectContaining({ id, config: { ...f5, password: '[REDACTED]' } })]);
      const audit = await t.ds.query(
        `SELECT details FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
        [id],
      );
      expect(JSON.stringify(audit)).not.toContain(F5_PASSWORD);
      expect(audit[0].details).toMatchObject({ secret_fields: ['password'], agent_id: online });
    });

    it('requires a live deploying agent', async () => {
      const body = { name: `x ${tag}`, type: 'NGINX', config: nginx };
      const cases: [object, string][] = [
        [{ ...body, agent_id: `ag-missing-${tag}` }, `body.agent_id: agent "ag-missing-${tag}" does not exist`],
        [{ ...body, agent_id: retired }, `body.agent_id: agent "${retired}" is retired`],
        [
          { ...body, agent_id: 'server-scanner' },
          'body.agent_id: "server-scanner" is a discovery source, not a deployment agent',
        ],
      ];
      for (const [b, message] of cases) {
        const res = await create(b);
        expect({ status: res.status, message: res.body.message }).toEqual({ status: 400, message });
      }
      expect((await create(body)).body.message).toMatch(/^body\.agent_id: /);
    });

    it('keeps target names unique per agent among live targets', async () => {
      const dup = await create({ name: `nginx ${tag}`, type: 'Apache', agent_id: online, config: nginx });
      expect(dup.status).toBe(409);
      expect(dup.body.message).toContain('already exists');
      expect((await create({ name: `nginx ${tag}`, type: 'NGINX', agent_id: offline, config: nginx })).status).toBe(
        201,
      );
      expect(
        (await create({ id: `t-f5-${tag}`, name: `other ${tag}`, type: 'NGINX', agent_id: online, config: nginx }))
          .status,
      ).toBe(409);
    });

    it.each([
      [
        { type: 'Nginx2' },
        /^body\.type: must be one of: NGINX, Apache, HAProxy, .*AzureKeyVault \(case-insensitive\)$/,
      ],
      [{ config: { ...nginx, cert_path: 'relative.crt' } }, /^body\.config\.cert_path: must be an absolute path$/],
      [
        { config: { ...nginx, reload_command: 'nginx -s reload' } },
        /^body\.config\.reload_command: must be an argv array/,
      ],
      [{ config: { ...nginx, extra: 1 } }, /^body\.config\.extra: unknown field$/],
      [{ type: 'SSH', config: ssh }, /^body\.config\.private_key: is required unless password is given$/],
      [
        { type: 'SSH', config: { ...ssh, password: '[REDACTED]' } },
        /^body\.config\.password: "\[REDACTED\]" stands for a stored secret/,
      ],
      [
        { type: 'KubernetesSecrets', config: { namespace: 'Bad_NS', secret_name: 'tls' } },
        /^body\.config\.namespace: must be a DNS-1123 label/,
      ],
      [{ colour: 'red' }, /^body\.colour: unknown field$/],
      [{ enabled: 'no' }, /^body\.enabled: /],
    ])('answers 400 naming the field for %j', async (patch, message) => {
      const res = await create({ name: `bad ${tag}`, type: 'NGINX', agent_id: online, config: nginx, ...patch });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    });
  });

  describe('without CERTCTL_CONFIG_ENCRYPTION_KEY', () => {
    it('refuses secret-bearing configs (400 naming the key) and stores nothing; plain configs work', async () => {
      const name = `nokey ssh ${tag}`;
      const res = await create(
        { name, type: 'SSH', agent_id: online, config: { ...ssh, private_key: SSH_KEY } },
        noKey,
      );
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^body\.config\.private_key: is a secret; .*CERTCTL_CONFIG_ENCRYPTION_KEY/);
      expect(await t.ds.query(`SELECT id FROM deployment_targets WHERE name = $1`, [name])).toEqual([]);
      const plain = await create({ name: `nokey nginx ${tag}`, type: 'NGINX', agent_id: online, config: nginx }, noKey);
      expect(plain.status).toBe(201);
      const toK8s = await update(
        plain.body.id,
        {
          type: 'KubernetesSecrets',
          config: { namespace: 'web', secret_name: 'tls', kubeconfig: 'apiVersion: v1\nclusters: []\n' },
        },
        noKey,
      );
      expect(toK8s.status).toBe(400);
      expect(toK8s.body.message).toMatch(/^body\.config\.kubeconfig: is a secret; .*CERTCTL_CONFIG_ENCRYPTION_KEY/);
      expect((await get(plain.body.id)).body).toMatchObject({ type: 'NGINX', config: nginx });
    });
  });

  describe('update', () => {
    const id = `t-ssh-${tag}`;
    beforeAll(async () => {
      const res = await create({
        id,
        name: `ssh ${tag}`,
        type: 'SSH',
        agent_id: online,
        config: { ...ssh, private_key: SSH_KEY },
      });
      expect(res.status).toBe(201);
    });

    it('keeps a secret sent back as "[REDACTED]" or omitted', async () => {
      const before = await stored(id);
      const same = await update(id, { config: { ...ssh, private_key: '[REDACTED]', port: 2222 } });
      expect(same.status).toBe(200);
      expect(same.body.config).toEqual({ ...ssh, port: 2222, private_key: '[REDACTED]' });
      expect((await stored(id)).secret_config!.equals(before.secret_config!)).toBe(true);
      expect((await update(id, { config: ssh })).body.config).toEqual({ ...ssh, private_key: '[REDACTED]' });
      await expect(open(id)).resolves.toEqual({ private_key: SSH_KEY });
    });

    it('switches credentials: null clears the key, a new password is sealed', async () => {
      const res = await update(id, { config: { ...ssh, private_key: null, password: `pw-${tag}` } });
      expect(res.status).toBe(200);
      expect(res.body.config).toEqual({ ...ssh, password: '[REDACTED]' });
      await expect(open(id)).resolves.toEqual({ password: `pw-${tag}` });
      const audit = await t.ds.query(
        `SELECT details FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
        [id],
      );
      expect(audit[0].details.changed).toEqual(['config.password', 'config.private_key']);
      expect(JSON.stringify(audit)).not.toContain(`pw-${tag}`);
    });

    it('moves the target to another live agent, not to a retired one', async () => {
      expect((await update(id, { agent_id: retired })).body.message).toBe(
        `body.agent_id: agent "${retired}" is retired`,
      );
      const moved = await update(id, { agent_id: stale, enabled: false });
      expect(moved.status).toBe(200);
      expect(moved.body).toMatchObject({ agent_id: stale, enabled: false });
    });

    it('re-validates the whole config on a type change', async () => {
      const bare = await update(id, { type: 'nginx' });
      expect(bare.status).toBe(400);
      expect(bare.body.message).toContain('body.config.host: unknown field');
      const res = await update(id, { type: 'nginx', config: nginx });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ type: 'NGINX', config: nginx });
      expect(await stored(id)).toEqual({ config: nginx, secret_config: null, secret_fields: [] });
    });

    it('answers 404 for an unknown target', async () => {
      expect((await update('t-nope', { name: 'x' })).status).toBe(404);
    });
  });

  describe('retire (DELETE)', () => {
    it('409s while a certificate is mapped to the target, then soft-retires it', async () => {
      const id = `t-ret-${tag}`;
      expect((await create({ id, name: `ret ${tag}`, type: 'NGINX', agent_id: online, config: nginx })).status).toBe(
        201,
      );
      await t.ds.query(`INSERT INTO managed_certificates (id, name, common_name) VALUES ($1, 'm', 'm.example')`, [
        `mc-${tag}`,
      ]);
      await t.ds.query(`INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ($1, $2)`, [
        `mc-${tag}`,
        id,
      ]);
      const blocked = await retire(id);
      expect(blocked.status).toBe(409);
      expect(blocked.body.message).toContain('certificate_target_mappings');
      expect(blocked.body.details).toEqual({ referenced_by: 'certificate_target_mappings', certificates: 1 });
      await t.ds.query(`DELETE FROM certificate_target_mappings WHERE target_id = $1`, [id]);

      expect((await retire(id, '?reason=decommissioned')).status).toBe(204);
      const after = await get(id);
      expect(after.status).toBe(200);
      expect(after.body).toMatchObject({ retired_reason: 'decommissioned', retired_at: expect.any(String) });
      expect((await retire(id)).status).toBe(204); // already retired: no-op, no second audit row
      expect(await auditActions(id)).toEqual(['target_created', 'target_retired']);

      const live = await t.http.get(`/api/v1/targets?q=ret ${tag}`).set('Authorization', viewer);
      expect(live.body.total).toBe(0);
      const all = await t.http.get(`/api/v1/targets?q=ret ${tag}&include_retired=true`).set('Authorization', viewer);
      expect(all.body.data.map((x: { id: string }) => x.id)).toEqual([id]);

      expect((await update(id, { enabled: false })).status).toBe(409);
      expect((await runTest(id)).body).toMatchObject({ ok: false, message: expect.stringContaining('retired') });
      // the name is free again on that agent
      expect((await create({ name: `ret ${tag}`, type: 'NGINX', agent_id: online, config: nginx })).status).toBe(201);
      expect((await retire('t-nope')).status).toBe(404);
    });
  });

  describe('list', () => {
    beforeAll(async () => {
      for (const n of ['a', 'b', 'c']) {
        const res = await create({
          id: `t-list-${n}-${tag}`,
          name: `list ${n} ${tag}`,
          type: n === 'c' ? 'Apache' : 'NGINX',
          agent_id: offline,
          config: nginx,
          enabled: n !== 'b',
        });
        expect(res.status).toBe(201);
      }
    });

    it('filters by type, agent and enabled, and pages', async () => {
      const q = (qs: string) => t.http.get(`/api/v1/targets?q=list&${qs}`).set('Authorization', viewer);
      const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((x) => x.id);
      expect(ids(await q('type=apache'))).toEqual([`t-list-c-${tag}`]);
      expect(ids(await q('enabled=false'))).toEqual([`t-list-b-${tag}`]);
      expect(ids(await q(`agent_id=${online}`))).toEqual([]);
      const page = await q('sort=-name&page=2&per_page=2');
      expect(page.body).toMatchObject({ total: 3, page: 2, per_page: 2 });
      expect(ids(page)).toEqual([`t-list-a-${tag}`]);
    });

    it('walks cursor pages', async () => {
      const first = await t.http.get(`/api/v1/targets?q=list&sort=name&page_size=2`).set('Authorization', viewer);
      expect(first.body.data.map((x: { id: string }) => x.id)).toEqual([`t-list-a-${tag}`, `t-list-b-${tag}`]);
      const next = await t.http
        .get(`/api/v1/targets?q=list&sort=name&page_size=2&cursor=${first.body.next_cursor}`)
        .set('Authorization', viewer);
      expect(next.body.data.map((x: { id: string }) => x.id)).toEqual([`t-list-c-${tag}`]);
      expect(next.body.next_cursor).toBeNull();
    });

    it.each([
      ['type=router', /^query\.type: must be one of: /],
      ['include_retired=yes', /^query\.include_retired: must be true or false$/],
      ['page_size=501', /^query\.page_size: /],
      ['cursor=%%%', /^query\.cursor: /],
      ['page=1&cursor=abc', /^query: use either/],
    ])('answers 400 on %s', async (qs, message) => {
      const res = await t.http.get(`/api/v1/targets?${qs}`).set('Authorization', viewer);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    });
  });

  describe('POST /targets/{id}/test', () => {
    it('reports the config and whether the agent is online', async () => {
      const mk = async (suffix: string, agent: string) =>
        (
          await create({
            id: `t-test-${suffix}-${tag}`,
            name: `test ${suffix} ${tag}`,
            type: 'NGINX',
            agent_id: agent,
            config: nginx,
          })
        ).body.id as string;
      const ok = await runTest(await mk('on', online));
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({
        ok: true,
        message: expect.stringMatching(
          new RegExp(`^configuration is valid; agent "${online}" is online \\(last heartbeat `),
        ),
        checked_at: expect.any(String),
      });
      expect((await runTest(await mk('stale', stale))).body).toMatchObject({
        ok: false,
        message: expect.stringContaining('has not sent a heartbeat in the last'),
      });
      expect((await runTest(await mk('off', offline))).body).toMatchObject({
        ok: false,
        message: expect.stringContaining(`agent "${offline}" is Offline`),
      });
    });

    it('reports a stored config that no longer validates, and a secret-bearing one that does', async () => {
      const id = `t-test-bad-${tag}`;
      await create({ id, name: `test bad ${tag}`, type: 'NGINX', agent_id: online, config: nginx });
      await t.ds.query(`UPDATE deployment_targets SET config = '{"cert_path": "relative"}'::jsonb WHERE id = $1`, [id]);
      const res = await runTest(id);
      expect(res.body.ok).toBe(false);
      expect(res.body.message).toMatch(
        /^invalid configuration: config\.cert_path: must be an absolute path; config\.key_path: is required/,
      );
      expect((await runTest(`t-f5-${tag}`)).body).toMatchObject({
        ok: true,
        message: expect.stringMatching(/^configuration is valid;/),
      });
      expect((await runTest('t-nope')).status).toBe(404);
    });
  });

  describe('permissions', () => {
    it('denies writes and tests to a viewer, and reads to a key without target.read', async () => {
      const id = `t-f5-${tag}`;
      const denied = [
        t.http
          .post('/api/v1/targets')
          .set('Authorization', viewer)
          .send({ name: 'v', type: 'NGINX', agent_id: online, config: nginx }),
        t.http.put(`/api/v1/targets/${id}`).set('Authorization', viewer).send({ enabled: false }),
        t.http.delete(`/api/v1/targets/${id}`).set('Authorization', viewer),
        t.http.post(`/api/v1/targets/${id}/test`).set('Authorization', viewer),
        t.http.get('/api/v1/targets').set('Authorization', agentKey),
        t.http.get(`/api/v1/targets/${id}`).set('Authorization', agentKey),
      ];
      for (const req of denied) expect((await req).status).toBe(403);
      expect((await get(id)).status).toBe(200);
    });
  });
});
