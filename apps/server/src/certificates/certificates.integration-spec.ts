import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';
import { EXPIRY_SORT_FIRST, EXPIRY_SORT_LAST } from './certificates.repository';

interface Cert {
  id: string;
  name: string;
  common_name: string;
  status: string;
  environment: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

describe('/api/v1/certificates', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let agentKey: string;
  const tag = randomBytes(4).toString('hex');
  const ids = {
    team: `team-mc-${tag}`,
    team2: `team-mc2-${tag}`,
    owner: `o-mc-${tag}`,
    issuer: `iss-mc-${tag}`,
    policy: `rp-mc-${tag}`,
    profile: `prof-mc-${tag}`,
    agent: `ag-mc-${tag}`,
    retiredAgent: `ag-mc-old-${tag}`,
    target: `t-mc-a-${tag}`,
    target2: `t-mc-b-${tag}`,
    retiredTarget: `t-mc-old-${tag}`,
    rule: `pol-mc-${tag}`,
  };

  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agentKey = `Bearer ${(await t.mintKey(['agent'])).key}`;
    const q = (sql: string, params: unknown[]) => t.ds.query(sql, params);
    await q(`INSERT INTO teams (id, name) VALUES ($1, $2), ($3, $4)`, [
      ids.team,
      `Certs ${tag}`,
      ids.team2,
      `Certs two ${tag}`,
    ]);
    await q(`INSERT INTO owners (id, name, email, team_id) VALUES ($1, 'Cert Owner', $2, $3)`, [
      ids.owner,
      `mc-${tag}@example.com`,
      ids.team,
    ]);
    await q(`INSERT INTO issuers (id, name, type) VALUES ($1, $2, 'LocalCA')`, [ids.issuer, `Local ${tag}`]);
    await q(`INSERT INTO renewal_policies (id, name) VALUES ($1, $2)`, [ids.policy, `Standard ${tag}`]);
    await q(`INSERT INTO certificate_profiles (id, name, max_ttl_seconds) VALUES ($1, $2, 7776000)`, [
      ids.profile,
      `TLS ${tag}`,
    ]);
    await q(`INSERT INTO agents (id, name) VALUES ($1, $2)`, [ids.agent, `web-${tag}`]);
    await q(`INSERT INTO agents (id, name, retired_at, retired_reason) VALUES ($1, $2, now(), 'gone')`, [
      ids.retiredAgent,
      `old-${tag}`,
    ]);
    await q(
      `INSERT INTO deployment_targets (id, name, type, agent_id, retired_at) VALUES
         ($1, $2, 'NGINX', $3, NULL), ($4, $5, 'HAProxy', NULL, NULL), ($6, $7, 'Apache', NULL, now())`,
      [ids.target, `a-nginx-${tag}`, ids.agent, ids.target2, `b-haproxy-${tag}`, ids.retiredTarget, `old-${tag}`],
    );
  });
  afterAll(async () => {
    await t.ds.query(`DELETE FROM policy_rules WHERE id = $1`, [ids.rule]);
    await t.close();
  });

  const create = (body: object, auth = operator) =>
    t.http.post('/api/v1/certificates').set('Authorization', auth).send(body);
  const get = (id: string, auth = viewer) => t.http.get(`/api/v1/certificates/${id}`).set('Authorization', auth);
  const put = (id: string, body: object, auth = operator) =>
    t.http.put(`/api/v1/certificates/${id}`).set('Authorization', auth).send(body);
  const del = (id: string, auth = operator) => t.http.delete(`/api/v1/certificates/${id}`).set('Authorization', auth);
  const list = (query: string, auth = viewer) => t.http.get(`/api/v1/certificates?${query}`).set('Authorization', auth);
  const listIds = async (query: string): Promise<string[]> => {
    const res = await list(query);
    expect({ query, status: res.status, body: res.status === 200 ? 'ok' : res.body }).toEqual({
      query,
      status: 200,
      body: 'ok',
    });
    return (res.body.data as { id: string }[]).map((c) => c.id);
  };
  const auditOf = async (id: string): Promise<{ action: string; details: Record<string, unknown> }[]> =>
    t.ds.query(
      `SELECT action, details FROM audit_events
        WHERE category = 'domain' AND resource_type = 'certificate' AND resource_id = $1 ORDER BY created_at, id`,
      [id],
    );

  describe('create', () => {
    it('records a Pending certificate with canonical names, mappings and tags; audits it; makes no job', async () => {
      const res = await create({
        name: `Checkout ${tag}`,
        common_name: 'Checkout.Example.COM',
        sans: [
          'checkout.example.com',
          'CHECKOUT.example.com',
          '2001:DB8::0:1',
          'ops@Example.com',
          'spiffe://example.com/co',
        ],
        environment: 'production',
        owner_id: ids.owner,
        team_id: ids.team,
        issuer_id: ids.issuer,
        renewal_policy_id: ids.policy,
        profile_id: ids.profile,
        agent_id: ids.agent,
        target_ids: [ids.target2, ids.target, ids.target],
        tags: { service: 'checkout', tier: '1' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^mc-[a-z0-9]{12}$/),
        name: `Checkout ${tag}`,
        common_name: 'checkout.example.com',
        sans: ['checkout.example.com', '2001:db8::1', 'ops@example.com', 'spiffe://example.com/co'],
        environment: 'production',
        owner_id: ids.owner,
        team_id: ids.team,
        issuer_id: ids.issuer,
        renewal_policy_id: ids.policy,
        profile_id: ids.profile,
        agent_id: ids.agent,
        status: 'Pending',
        expires_at: null,
        tags: { service: 'checkout', tier: '1' },
        target_ids: [ids.target, ids.target2].sort(),
        serial_number: null,
        fingerprint_sha256: null,
        not_before: null,
        created_at: expect.any(String),
        updated_at: expect.any(String),
        archived_at: null,
      });
      const audit = await auditOf(res.body.id);
      expect(audit).toEqual([
        {
          action: 'certificate_created',
          details: expect.objectContaining({
            name: `Checkout ${tag}`,
            common_name: 'checkout.example.com',
            owner_id: ids.owner,
            target_ids: [ids.target2, ids.target],
          }),
        },
      ]);
      const jobs: { n: number }[] = await t.ds.query(`SELECT count(*)::int AS n FROM jobs WHERE certificate_id = $1`, [
        res.body.id,
      ]);
      expect(jobs[0].n).toBe(0);
    });

    it('takes a client id and defaults the optional fields; a taken id is 409', async () => {
      const id = `mc-min-${tag}`;
      const res = await create({ id, name: `Minimal ${tag}`, common_name: '10.20.30.40' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id,
        common_name: '10.20.30.40',
        sans: [],
        environment: '',
        owner_id: null,
        agent_id: null,
        tags: {},
        target_ids: [],
        status: 'Pending',
      });
      const dup = await create({ id, name: `Again ${tag}`, common_name: 'x.example.com' });
      expect(dup.status).toBe(409);
      expect(dup.body.message).toContain(`certificate "${id}" already exists`);
    });

    it('answers 400 naming the field for bad input, and stores nothing', async () => {
      const id = `mc-bad-${tag}`;
      const base = { id, name: `Bad ${tag}`, common_name: 'bad.example.com' };
      const cases: [object, RegExp][] = [
        [{ ...base, colour: 'red' }, /^body\.colour: unknown field$/],
        [{ ...base, name: undefined }, /^body\.name: /],
        [{ ...base, name: '   ' }, /^body\.name: must not be blank/],
        [{ ...base, common_name: 'not a host' }, /^body\.common_name: is neither a DNS name nor an IP address/],
        [{ ...base, common_name: 'ops@example.com' }, /^body\.common_name: /],
        [{ ...base, sans: ['ok.example.com', 'bad name'] }, /^body\.sans: entry 1: "bad name" is not a DNS name/],
        [{ ...base, sans: 'a.example.com' }, /^body\.sans: must be an array of strings/],
        [{ ...base, sans: [42] }, /^body\.sans: must be an array of strings/],
        [{ ...base, environment: 'e'.repeat(65) }, /^body\.environment: /],
        [{ ...base, tags: { a: 1 } }, /^body\.tags: value of "a" must be a string/],
        [{ ...base, tags: ['a'] }, /^body\.tags: must be an object/],
        [{ ...base, owner_id: 'Not An Id' }, /^body\.owner_id: /],
        [{ ...base, target_ids: 't-1' }, /^body\.target_ids: /],
        [{ ...base, id: 'Bad Id' }, /^body\.id: /],
        [{ ...base, status: 'Active' }, /^body\.status: unknown field$/],
        [{ ...base, name: 'nul\u0000byte' }, /NUL/], // refused by the JSON parser for every route
        [{ ...base, environment: 'prod\n' }, /^body\.environment: must not contain control characters$/],
      ];
      for (const [body, message] of cases) {
        const res = await create(body);
        expect({ body, status: res.status, message: res.body.message }).toEqual({
          body,
          status: 400,
          message: expect.stringMatching(message),
        });
      }
      expect((await get(id)).status).toBe(404);
    });

    it('answers 400 naming each missing or retired reference, and stores nothing', async () => {
      const id = `mc-ref-${tag}`;
      const base = { id, name: `Refs ${tag}`, common_name: 'refs.example.com' };
      const cases: [object, string][] = [
        [{ owner_id: 'o-missing' }, 'body.owner_id: owner "o-missing" does not exist'],
        [{ team_id: 'team-missing' }, 'body.team_id: team "team-missing" does not exist'],
        [{ issuer_id: 'iss-missing' }, 'body.issuer_id: issuer "iss-missing" does not exist'],
        [{ renewal_policy_id: 'rp-missing' }, 'body.renewal_policy_id: renewal policy "rp-missing" does not exist'],
        [{ profile_id: 'prof-missing' }, 'body.profile_id: certificate profile "prof-missing" does not exist'],
        [{ agent_id: 'ag-missing' }, 'body.agent_id: agent "ag-missing" does not exist'],
        [{ agent_id: ids.retiredAgent }, `body.agent_id: agent "${ids.retiredAgent}" is retired`],
        [{ target_ids: [ids.target, 't-missing'] }, 'body.target_ids: deployment target "t-missing" does not exist'],
        [{ target_ids: [ids.retiredTarget] }, `body.target_ids: deployment target "${ids.retiredTarget}" is retired`],
      ];
      for (const [extra, message] of cases) {
        const res = await create({ ...base, ...extra });
        expect({ extra, status: res.status, message: res.body.message }).toEqual({ extra, status: 400, message });
      }
      const both = await create({ ...base, owner_id: 'o-missing', team_id: 'team-missing' });
      expect(both.body.message).toBe(
        'body.owner_id: owner "o-missing" does not exist; body.team_id: team "team-missing" does not exist',
      );
      expect((await get(id)).status).toBe(404);
      const mappings: unknown[] = await t.ds.query(
        `SELECT 1 FROM certificate_target_mappings WHERE certificate_id = $1`,
        [id],
      );
      expect(mappings).toHaveLength(0);
    });
  });

  describe('get, update, archive', () => {
    const id = `mc-life-${tag}`;
    beforeAll(async () => {
      const res = await create({
        id,
        name: `Lifecycle ${tag}`,
        common_name: 'life.example.com',
        sans: ['life.example.com'],
        owner_id: ids.owner,
        target_ids: [ids.target],
        tags: { a: '1' },
      });
      expect(res.status).toBe(201);
    });

    it('gets by id; 404 for an unknown id', async () => {
      const res = await get(id);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, name: `Lifecycle ${tag}`, target_ids: [ids.target] });
      const missing = await get(`mc-nope-${tag}`);
      expect(missing.status).toBe(404);
      expect(missing.body.message).toBe(`certificate "mc-nope-${tag}" not found`);
    });

    it('updates only what is given, clears references set to null, replaces targets, and audits the diff', async () => {
      const res = await put(id, {
        name: `Lifecycle renamed ${tag}`,
        owner_id: null,
        team_id: ids.team,
        sans: ['life.example.com', 'alt.example.com', 'ALT.example.com'],
        target_ids: [ids.target2],
        tags: { b: '2' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        name: `Lifecycle renamed ${tag}`,
        common_name: 'life.example.com',
        owner_id: null,
        team_id: ids.team,
        sans: ['life.example.com', 'alt.example.com'],
        target_ids: [ids.target2],
        tags: { b: '2' },
        status: 'Pending',
      });
      expect(Date.parse(res.body.updated_at)).toBeGreaterThan(Date.parse(res.body.created_at));
      const audit = await auditOf(id);
      expect(audit.map((a) => a.action)).toEqual(['certificate_created', 'certificate_updated']);
      expect(audit[1].details).toMatchObject({
        changed: ['name', 'owner_id', 'team_id', 'sans', 'tags', 'target_ids'],
        changes: {
          owner_id: { from: ids.owner, to: null },
          target_ids: { from: [ids.target], to: [ids.target2] },
        },
      });
    });

    it('writes and audits nothing for a no-op update', async () => {
      const before = (await get(id)).body;
      const res = await put(id, { name: before.name, tags: { b: '2' }, target_ids: [ids.target2] });
      expect(res.status).toBe(200);
      expect(res.body.updated_at).toBe(before.updated_at);
      expect((await auditOf(id)).length).toBe(2);
    });

    it('keeps an existing mapping to a target retired since, but refuses to add a retired one', async () => {
      const tid = `t-mc-late-${tag}`;
      await t.ds.query(`INSERT INTO deployment_targets (id, name, type) VALUES ($1, $2, 'Caddy')`, [
        tid,
        `late-${tag}`,
      ]);
      expect((await put(id, { target_ids: [ids.target2, tid] })).status).toBe(200);
      await t.ds.query(`UPDATE deployment_targets SET retired_at = now() WHERE id = $1`, [tid]);
      const keep = await put(id, { target_ids: [tid, ids.target2], name: `Lifecycle kept ${tag}` });
      expect(keep.status).toBe(200);
      expect(keep.body.target_ids).toEqual([ids.target2, tid].sort());
      const add = await put(id, { target_ids: [ids.target2, tid, ids.retiredTarget] });
      expect(add.status).toBe(400);
      expect(add.body.message).toBe(`body.target_ids: deployment target "${ids.retiredTarget}" is retired`);
      expect((await put(id, { target_ids: [ids.target2] })).body.target_ids).toEqual([ids.target2]);
    });

    it('answers 400 on bad update input and 404 for unknown certificates', async () => {
      expect((await put(id, { name: null })).body.message).toMatch(/^body\.name: /);
      expect((await put(id, { common_name: 'bad name' })).body.message).toMatch(/^body\.common_name: /);
      expect((await put(id, { agent_id: ids.retiredAgent })).body.message).toBe(
        `body.agent_id: agent "${ids.retiredAgent}" is retired`,
      );
      expect((await put(id, { status: 'Active' })).body.message).toBe('body.status: unknown field');
      expect((await put(`mc-nope-${tag}`, { name: 'x' })).status).toBe(404);
      expect((await get('mc-%00')).status).toBe(400); // refused at the door: Postgres cannot hold NUL
      expect((await del('mc-%00')).status).toBe(400);
      expect((await del(`mc-nope-${tag}`)).status).toBe(404);
    });

    it('denies writes to a viewer and reads to a key without cert.read', async () => {
      expect((await create({ name: 'v', common_name: 'v.example.com' }, viewer)).status).toBe(403);
      expect((await put(id, { name: 'v' }, viewer)).status).toBe(403);
      expect((await del(id, viewer)).status).toBe(403);
      expect((await list('', agentKey)).status).toBe(403);
      expect((await get(id, agentKey)).status).toBe(403);
      expect((await t.http.get(`/api/v1/certificates/${id}/versions`).set('Authorization', agentKey)).status).toBe(403);
      expect((await t.http.get(`/api/v1/certificates/${id}/deployments`).set('Authorization', agentKey)).status).toBe(
        403,
      );
    });

    it('archives with 204 (status Archived, archived_at), again as a no-op, and then refuses updates', async () => {
      const first = await del(id);
      expect(first.status).toBe(204);
      expect(first.text).toBe('');
      const archived = (await get(id)).body;
      expect(archived).toMatchObject({ status: 'Archived', archived_at: expect.any(String) });
      expect((await del(id)).status).toBe(204);
      expect((await get(id)).body.archived_at).toBe(archived.archived_at);
      const actions = (await auditOf(id)).map((a) => a.action);
      expect(actions.filter((a) => a === 'certificate_archived')).toHaveLength(1);
      const upd = await put(id, { name: 'frozen' });
      expect(upd.status).toBe(409);
      expect(upd.body.message).toContain('archived');
      const rows: unknown[] = await t.ds.query(`SELECT 1 FROM managed_certificates WHERE id = $1`, [id]);
      expect(rows).toHaveLength(1); // never hard-deleted
    });

    it('leaves archived certificates out of lists unless asked for', async () => {
      const q = `q=${encodeURIComponent(`Lifecycle kept ${tag}`)}`;
      expect(await listIds(q)).toEqual([]);
      expect(await listIds(`${q}&status=Archived`)).toEqual([id]);
      expect(await listIds(`${q}&status=active,archived`)).toEqual([id]);
      expect(await listIds(`${q}&include_archived=true`)).toEqual([id]);
      expect(await listIds(`${q}&include_archived=false`)).toEqual([]);
      expect(await listIds(`${q}&include_archived=TRUE`)).toEqual([id]);
    });
  });

  describe('list', () => {
    // Eight certificates under one name prefix, with varied sort keys and two NULL expiries.
    const prefix = `Lst ${tag}`;
    const scope = `q=${encodeURIComponent(prefix)}`;
    const day = 86_400_000;
    const now = Date.now();
    const rows = [
      { k: 'a', cn: 'delta.example.com', status: 'Active', env: 'prod', exp: now + 10 * day, owner: true },
      { k: 'b', cn: 'alpha.example.com', status: 'Expiring', env: 'prod', exp: now + 5 * day, team: true },
      { k: 'c', cn: 'charlie.example.com', status: 'Active', env: 'staging', exp: null, issuer: true },
      { k: 'd', cn: 'bravo.example.com', status: 'Expired', env: 'dev', exp: now - 2 * day, agent: true },
      { k: 'e', cn: 'echo.example.com', status: 'Active', env: 'prod', exp: now + 10 * day, profile: true },
      { k: 'f', cn: 'foxtrot.example.com', status: 'Pending', env: 'staging', exp: null },
      { k: 'g', cn: 'golf.example.com', status: 'Revoked', env: 'dev', exp: now + 400 * day },
      { k: 'h', cn: 'hotel.example.com', status: 'Failed', env: 'prod', exp: now + 30 * day },
    ];
    const idOf = (k: string) => `mc-lst-${k}-${tag}`;
    let certs: Cert[] = [];

    beforeAll(async () => {
      for (const r of rows) {
        const res = await create({
          id: idOf(r.k),
          name: `${prefix} ${'hgfedcba'.indexOf(r.k)}`, // names sort in the reverse of the keys
          common_name: r.cn,
          environment: `${r.env}-${tag}`,
          owner_id: r.owner ? ids.owner : undefined,
          team_id: r.team ? ids.team2 : undefined,
          issuer_id: r.issuer ? ids.issuer : undefined,
          agent_id: r.agent ? ids.agent : undefined,
          profile_id: r.profile ? ids.profile : undefined,
        });
        expect(res.status).toBe(201);
        // Lifecycle columns belong to the job engine: set them as it would.
        await t.ds.query(
          `UPDATE managed_certificates
              SET status = $2, expires_at = $3, created_at = now() - make_interval(secs => $4),
                  updated_at = now() - make_interval(secs => $5)
            WHERE id = $1`,
          [
            idOf(r.k),
            r.status,
            r.exp === null ? null : new Date(r.exp),
            3600 * (rows.indexOf(r) + 1),
            60 * ((rows.indexOf(r) * 3) % 8),
          ],
        );
      }
      certs = (await list(`${scope}&per_page=100`)).body.data;
      expect(certs).toHaveLength(rows.length);
    });

    type Key = (c: Cert) => string | number | null;
    const expected = (key: Key, desc: boolean): string[] =>
      [...certs]
        .sort((x, y) => {
          const a = key(x);
          const b = key(y);
          if (a === null || b === null) {
            if (a === null && b === null) return (x.id < y.id ? -1 : 1) * (desc ? -1 : 1);
            return a === null ? 1 : -1; // NULLS LAST both ways
          }
          if (a !== b) return (a < b ? -1 : 1) * (desc ? -1 : 1);
          return (x.id < y.id ? -1 : 1) * (desc ? -1 : 1);
        })
        .map((c) => c.id);

    const time = (f: keyof Cert) => (c: Cert) => (c[f] === null ? null : Date.parse(c[f]));
    const text = (f: keyof Cert) => (c: Cert) => c[f];
    const SORTS: Record<string, Key> = {
      notAfter: time('expires_at'),
      expiresAt: time('expires_at'),
      expires_at: time('expires_at'),
      createdAt: time('created_at'),
      created_at: time('created_at'),
      updatedAt: time('updated_at'),
      updated_at: time('updated_at'),
      commonName: text('common_name'),
      common_name: text('common_name'),
      name: text('name'),
      status: text('status'),
      environment: text('environment'),
    };

    it('sorts by every whitelisted name, both directions, in page mode', async () => {
      for (const [name, key] of Object.entries(SORTS)) {
        expect({ sort: name, ids: await listIds(`${scope}&sort=${name}`) }).toEqual({
          sort: name,
          ids: expected(key, false),
        });
        expect({ sort: `-${name}`, ids: await listIds(`${scope}&sort=-${name}`) }).toEqual({
          sort: `-${name}`,
          ids: expected(key, true),
        });
      }
    });

    it('walks every sort in cursor mode across pages (NULL expiries last), without gaps or repeats', async () => {
      for (const [name, key] of Object.entries(SORTS)) {
        for (const sort of [name, `-${name}`]) {
          const seen: string[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const res = await list(`${scope}&sort=${sort}&page_size=3${cursor ? `&cursor=${cursor}` : ''}`);
            expect(res.status).toBe(200);
            expect(res.body).toMatchObject({ total: rows.length, page_size: 3 });
            seen.push(...(res.body.data as Cert[]).map((c) => c.id));
            cursor = res.body.next_cursor;
            pages += 1;
          } while (cursor && pages < 10);
          expect({ sort, seen }).toEqual({ sort, seen: expected(key, sort.startsWith('-')) });
          expect(pages).toBe(3);
        }
      }
    });

    it('filters by status (one or several, any case), environment and each reference', async () => {
      const only = async (query: string) => (await listIds(`${scope}&${query}&sort=name`)).sort();
      const keys = (...ks: string[]) => ks.map(idOf).sort();
      expect(await only('status=Active')).toEqual(keys('a', 'c', 'e'));
      expect(await only('status=expiring,EXPIRED')).toEqual(keys('b', 'd'));
      expect(await only('status=Expiring&status=pending')).toEqual(keys('b', 'f'));
      expect(await only(`environment=staging-${tag}`)).toEqual(keys('c', 'f'));
      expect(await only(`owner_id=${ids.owner}`)).toEqual(keys('a'));
      expect(await only(`team_id=${ids.team2}`)).toEqual(keys('b'));
      expect(await only(`issuer_id=${ids.issuer}`)).toEqual(keys('c'));
      expect(await only(`agent_id=${ids.agent}`)).toEqual(keys('d'));
      expect(await only(`profile_id=${ids.profile}`)).toEqual(keys('e'));
      // q matches the name or the common name, case-insensitively
      expect((await listIds(`q=${encodeURIComponent('ALPHA.example')}&environment=prod-${tag}`)).sort()).toEqual(
        keys('b'),
      );
      expect((await listIds(`q=${encodeURIComponent(`lst ${tag} 7`)}`)).sort()).toEqual(keys('a'));
    });

    it('filters by expiry, creation and update time (RFC 3339)', async () => {
      const only = async (query: string) => (await listIds(`${scope}&${query}`)).sort();
      const keys = (...ks: string[]) => ks.map(idOf).sort();
      const iso = (ms: number) => new Date(ms).toISOString();
      expect(await only(`expires_before=${iso(now + 7 * day)}`)).toEqual(keys('b', 'd'));
      expect(await only(`expires_after=${iso(now + 20 * day)}`)).toEqual(keys('g', 'h'));
      expect(
        await only(`expires_after=${iso(now)}&expires_before=${encodeURIComponent('2099-01-01T00:00:00+01:00')}`),
      ).toEqual(keys('a', 'b', 'e', 'g', 'h'));
      // API times have millisecond precision, the columns microseconds: cut 1 ms after a row.
      const byCreated = [...certs].sort((x, y) => Date.parse(y.created_at) - Date.parse(x.created_at));
      const cut = Date.parse(byCreated[2].created_at) + 1;
      expect(await only(`created_after=${iso(cut)}`)).toEqual(keys('a', 'b'));
      expect(byCreated.slice(0, 2).map((c) => c.id)).toEqual(keys('a', 'b'));
      const cutU = Date.parse(certs.find((c) => c.id === idOf('e'))!.updated_at) + 1;
      expect(await only(`updated_after=${iso(cutU)}`)).toEqual(keys('a', 'b', 'd', 'g'));
    });

    it('returns only the requested fields (id always kept)', async () => {
      const res = await list(`${scope}&fields=common_name,status&sort=name&per_page=2`);
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([
        { id: idOf('h'), common_name: 'hotel.example.com', status: 'Failed' },
        { id: idOf('g'), common_name: 'golf.example.com', status: 'Revoked' },
      ]);
      expect(res.body).toMatchObject({ total: rows.length, page: 1, per_page: 2 });
      const cur = await list(`${scope}&fields=expires_at,serial_number&sort=expiresAt&page_size=1`);
      expect(cur.body.data).toEqual([{ id: idOf('d'), expires_at: expect.any(String), serial_number: null }]);
    });

    it('keeps the expiry sort expressions answerable by the live expiry indexes', async () => {
      // With scans that cannot use an index priced out, the plan names the index only if
      // the query's sort expression is exactly the indexed one.
      const plan = async (expr: string, dir: 'ASC' | 'DESC', op: '<' | '>') =>
        t.ds.transaction(async (m) => {
          await m.query('SET LOCAL enable_seqscan = off');
          await m.query('SET LOCAL enable_bitmapscan = off');
          await m.query('SET LOCAL enable_sort = off');
          const rows: { 'QUERY PLAN': string }[] = await m.query(
            `EXPLAIN SELECT c.id FROM managed_certificates c
              WHERE c.archived_at IS NULL AND (${expr}, c.id) ${op} (CAST($1 AS timestamptz), $2)
              ORDER BY ${expr} ${dir}, c.id ${dir} LIMIT 3`,
            ['2030-01-01T00:00:00Z', 'mc-x'],
          );
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        });
      expect(await plan(EXPIRY_SORT_LAST, 'ASC', '>')).toContain('managed_certificates_live_expiry_asc_idx');
      expect(await plan(EXPIRY_SORT_FIRST, 'DESC', '<')).toContain('managed_certificates_live_expiry_desc_idx');
      expect(await plan(EXPIRY_SORT_FIRST, 'DESC', '<')).toContain('Index Cond');
    });

    it('answers 400 naming the parameter for bad list queries', async () => {
      const first = await list(`${scope}&sort=expiresAt&page_size=2`);
      const cases: [string, RegExp][] = [
        [
          'status=Bogus',
          /^query\.status: "Bogus" is not a certificate status \(allowed: Pending, Active, .*Archived\)$/,
        ],
        ['status=Active,', /^query\.status: "" is not a certificate status/],
        ['expires_before=yesterday', /^query\.expires_before: must be an RFC 3339 date-time/],
        ['expires_after=2026-02-30T00:00:00Z', /^query\.expires_after: must be an RFC 3339/],
        ['created_after=2026-01-01', /^query\.created_after: must be an RFC 3339/],
        ['updated_after=2026-01-01T00:00:00 02:00', /^query\.updated_after: .*%2B/],
        ['sort=notBefore', /^query\.sort: cannot sort by "notBefore"; allowed: notAfter, expiresAt/],
        ['sort=expires-at', /^query\.sort: /],
        ['cursor=not-a-cursor', /^query\.cursor: not a cursor this server issued/],
        [`cursor=${first.body.next_cursor}&sort=name`, /^query\.cursor: issued for sort=expiresAt, not sort=name/],
        ['page_size=100000', /^query\.page_size: /],
        ['per_page=501', /^query\.per_page: /],
        ['page=0', /^query\.page: /],
        ['fields=id,private_key', /^query\.fields: unknown field\(s\) private_key/],
        ['include_archived=yes', /^query\.include_archived: must be true or false/],
        ['colour=red', /^query\.colour: unknown field$/],
        ['q=%00', /NUL/],
        ['owner_id=o-%00', /NUL/],
        ['expires_before=0000-01-01T00:00:00Z', /^query\.expires_before: must be an RFC 3339/],
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
  });

  describe('versions and deployments', () => {
    const id = `mc-ver-${tag}`;
    beforeAll(async () => {
      expect(
        (
          await create({
            id,
            name: `Versions ${tag}`,
            common_name: 'ver.example.com',
            target_ids: [ids.target, ids.target2],
          })
        ).status,
      ).toBe(201);
      const version = (n: number, ageDays: number, validityDays: number) => [
        `cv-${n}-${tag}`,
        id,
        `0${n}ab`,
        `${n}`.repeat(64),
        `-----BEGIN CERTIFICATE-----\nMII${n}\n-----END CERTIFICATE-----\n`,
        new Date(Date.now() - ageDays * 86_400_000),
        new Date(Date.now() - ageDays * 86_400_000 + validityDays * 86_400_000),
        n,
      ];
      for (const v of [version(1, 200, 90), version(3, 10, 90), version(2, 100, 90)]) {
        await t.ds.query(
          `INSERT INTO certificate_versions
             (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after,
              key_algorithm, key_size, csr_pem, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'ECDSA', 256 * $8, 'CSR', $6)`,
          v,
        );
      }
    });

    it('lists versions newest first without any key material; the certificate shows the latest', async () => {
      const res = await t.http.get(`/api/v1/certificates/${id}/versions`).set('Authorization', viewer);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(3);
      expect(res.body.data.map((v: { id: string }) => v.id)).toEqual([`cv-3-${tag}`, `cv-2-${tag}`, `cv-1-${tag}`]);
      expect(Object.keys(res.body.data[0]).sort()).toEqual(
        [
          'id',
          'serial_number',
          'fingerprint_sha256',
          'not_before',
          'not_after',
          'key_algorithm',
          'key_size',
          'pem_chain',
          'created_at',
        ].sort(),
      );
      expect(res.body.data[0]).toMatchObject({ serial_number: '03ab', key_algorithm: 'ECDSA', key_size: 768 });
      const cert = (await get(id)).body;
      expect(cert).toMatchObject({
        serial_number: '03ab',
        fingerprint_sha256: '3'.repeat(64),
        not_before: res.body.data[0].not_before,
      });
      const paged = await t.http
        .get(`/api/v1/certificates/${id}/versions?page_size=2&sort=not_after`)
        .set('Authorization', viewer);
      expect(paged.body.data.map((v: { id: string }) => v.id)).toEqual([`cv-1-${tag}`, `cv-2-${tag}`]);
      expect(paged.body.next_cursor).toEqual(expect.any(String));
      const listed = await t.http
        .get(
          `/api/v1/certificates?q=${encodeURIComponent(`Versions ${tag}`)}&fields=target_ids,serial_number,not_before`,
        )
        .set('Authorization', viewer);
      expect(listed.body.data).toEqual([
        { id, target_ids: [ids.target, ids.target2].sort(), serial_number: '03ab', not_before: cert.not_before },
      ]);
      expect(
        (await t.http.get(`/api/v1/certificates/mc-nope-${tag}/versions`).set('Authorization', viewer)).status,
      ).toBe(404);
    });

    it('lists the mapped targets with their latest Deployment job', async () => {
      const job = (jid: string, type: string, status: string, target: string, minutesAgo: number) =>
        t.ds.query(
          `INSERT INTO jobs (id, type, certificate_id, target_id, status, last_error, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() - make_interval(mins => $7), now() - make_interval(mins => $7))`,
          [jid, type, id, target, status, status === 'Failed' ? 'reload failed' : null, minutesAgo],
        );
      await job(`job-d1-${tag}`, 'Deployment', 'Completed', ids.target, 60);
      await job(`job-d2-${tag}`, 'Deployment', 'Failed', ids.target, 30);
      await job(`job-r1-${tag}`, 'Renewal', 'Running', ids.target, 1); // not a deployment: ignored
      const res = await t.http.get(`/api/v1/certificates/${id}/deployments`).set('Authorization', viewer);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        total: 2,
        data: [
          {
            target_id: ids.target,
            name: `a-nginx-${tag}`,
            type: 'NGINX',
            agent_id: ids.agent,
            active: true,
            mapped_at: expect.any(String),
            job_id: `job-d2-${tag}`,
            status: 'Failed',
            last_error: 'reload failed',
            updated_at: expect.any(String),
          },
          {
            target_id: ids.target2,
            name: `b-haproxy-${tag}`,
            type: 'HAProxy',
            agent_id: null,
            active: true,
            mapped_at: expect.any(String),
            job_id: null,
            status: null,
            last_error: null,
            updated_at: null,
          },
        ],
      });
      expect(
        (await t.http.get(`/api/v1/certificates/mc-nope-${tag}/deployments`).set('Authorization', viewer)).status,
      ).toBe(404);
    });

    it('re-evaluates compliance policies inside each write, and archiving clears the findings', async () => {
      // A 10-year MaxValidity rule only this certificate's 20-year version breaks.
      await t.ds.query(
        `INSERT INTO policy_rules (id, name, type, config, severity) VALUES ($1, $2, 'MaxValidity', '{"max_days": 3650}', 'critical')`,
        [ids.rule, `Max validity ${tag}`],
      );
      await t.ds.query(
        `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after)
         VALUES ($1, $2, '04ab', $3, 'PEM', now(), now() + interval '20 years')`,
        [`cv-4-${tag}`, id, '4'.repeat(64)],
      );
      const violations = (): Promise<{ rule_id: string; severity: string }[]> =>
        t.ds.query(`SELECT rule_id, severity FROM policy_violations WHERE certificate_id = $1`, [id]);
      expect(await violations()).toEqual([]);
      expect((await put(id, { environment: 'prod' })).status).toBe(200);
      expect(await violations()).toEqual([{ rule_id: ids.rule, severity: 'critical' }]);
      expect((await del(id)).status).toBe(204);
      expect(await violations()).toEqual([]);
    });
  });
});
