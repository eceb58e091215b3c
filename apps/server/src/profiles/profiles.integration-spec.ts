import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/profiles', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let agent: string;
  const tag = randomBytes(3).toString('hex');
  const pid = `prof-tls-${tag}`;
  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agent = `Bearer ${(await t.mintKey(['agent'])).key}`;
  });
  afterAll(async () => {
    await t.ds.query(`DELETE FROM managed_certificates WHERE id LIKE $1`, [`mc-prof-%-${tag}`]);
    await t.close();
  });

  const valid = (over: object = {}) => ({
    name: `TLS ${tag}`,
    allowed_key_algorithms: [{ algorithm: 'ecdsa', min_size: 384 }, { algorithm: 'RSA' }, { algorithm: 'Ed25519' }],
    max_ttl_seconds: 90 * 86_400,
    ...over,
  });
  const create = (body: object) => t.http.post('/api/v1/profiles').set('Authorization', operator).send(body);
  const put = (id: string, body: object) =>
    t.http.put(`/api/v1/profiles/${id}`).set('Authorization', operator).send(body);

  it('creates with normalized constraints and defaults, and audits the change', async () => {
    const res = await create(
      valid({
        id: pid,
        description: 'edge',
        allowed_ekus: ['serverauth', '1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2'],
        san_rules: { permitted_dns_patterns: ['*.Example.com', 'example.com'], allow_ip: true, max_sans: 10 },
        must_staple: true,
        required_approvals: 2,
        approver_roles: ['role-operator', 'role-auditor', 'role-operator'],
      }),
    );
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: pid,
      name: `TLS ${tag}`,
      description: 'edge',
      allowed_key_algorithms: [
        { algorithm: 'ECDSA', min_size: 384 },
        { algorithm: 'RSA', min_size: 2048 },
        { algorithm: 'Ed25519' },
      ],
      max_ttl_seconds: 7_776_000,
      allowed_ekus: ['serverAuth', 'clientAuth', '1.3.6.1.4.1.311.20.2.2'],
      san_rules: {
        permitted_dns_patterns: ['*.example.com', 'example.com'],
        allow_ip: true,
        allow_email: false,
        allow_uri: false,
        max_sans: 10,
      },
      must_staple: true,
      requires_approval: false,
      required_approvals: 2,
      approver_roles: ['role-operator', 'role-auditor'],
      acme_auth_mode: null,
      acme_eab_required: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const audit: { action: string; resource_type: string }[] = await t.ds.query(
      `SELECT action, resource_type FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
      [pid],
    );
    expect(audit).toEqual([{ action: 'profile_created', resource_type: 'profile' }]);
  });

  it('generates a prof- id and applies defaults for optional fields', async () => {
    const res = await create(
      valid({ name: `Minimal ${tag}`, allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 3072 }] }),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^prof-[a-z0-9]{12}$/),
      description: '',
      allowed_ekus: ['serverAuth'],
      san_rules: { permitted_dns_patterns: [], allow_ip: false, allow_email: false, allow_uri: false, max_sans: null },
      must_staple: false,
      requires_approval: false,
      required_approvals: 1,
      approver_roles: [],
    });
  });

  it('answers 409 on a duplicate id or name', async () => {
    expect((await create(valid({ id: pid, name: `Other ${tag}` }))).status).toBe(409);
    const dup = await create(valid());
    expect(dup.status).toBe(409);
    expect(dup.body.message).toContain('already exists');
  });

  it('rejects bad input with 400 naming the field, storing nothing', async () => {
    const bad = (over: object = {}) => valid({ name: `Bad ${tag}`, ...over });
    const cases: [object, string | RegExp][] = [
      [{ ...bad(), colour: 'red' }, 'body.colour: unknown field'],
      [bad({ allowed_key_algorithms: [] }), 'body.allowed_key_algorithms: must list at least one key algorithm'],
      [
        bad({ allowed_key_algorithms: [{ algorithm: 'DSA' }] }),
        /^body\.allowed_key_algorithms\.0\.algorithm: must be one of/,
      ],
      [
        bad({ allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 300 }] }),
        /^body\.allowed_key_algorithms\.0\.min_size: ECDSA/,
      ],
      [
        bad({ allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 1024 }] }),
        /^body\.allowed_key_algorithms\.0\.min_size: RSA/,
      ],
      [
        bad({ allowed_key_algorithms: [{ algorithm: 'Ed25519', min_size: 256 }] }),
        /^body\.allowed_key_algorithms\.0\.min_size: must be omitted/,
      ],
      [
        bad({ allowed_key_algorithms: [{ algorithm: 'RSA', bits: 2 }] }),
        'body.allowed_key_algorithms.0.bits: unknown field',
      ],
      [bad({ allowed_key_algorithms: ['RSA'] }), /^body\.allowed_key_algorithms/],
      [bad({ allowed_key_algorithms: [[{ algorithm: 'RSA' }]] }), /^body\.allowed_key_algorithms/],
      [bad({ max_ttl_seconds: 0 }), /^body\.max_ttl_seconds: must be an integer from 1 to 71280000/],
      [bad({ max_ttl_seconds: 826 * 86_400 }), /^body\.max_ttl_seconds: /],
      [bad({ max_ttl_seconds: 1.5 }), /^body\.max_ttl_seconds: /],
      [bad({ max_ttl_seconds: '3600' }), /^body\.max_ttl_seconds: /],
      [bad({ allowed_ekus: ['fooAuth'] }), /^body\.allowed_ekus\.0: "fooAuth" is neither/],
      [bad({ allowed_ekus: [] }), 'body.allowed_ekus: must list at least one extended key usage'],
      [bad({ allowed_ekus: 'serverAuth' }), /^body\.allowed_ekus: /],
      [
        bad({ san_rules: { permitted_dns_patterns: ['*.com'] } }),
        /^body\.san_rules\.permitted_dns_patterns\.0: "\*\.com"/,
      ],
      [
        bad({ san_rules: { permitted_dns_patterns: ['a.*.example.com'] } }),
        /^body\.san_rules\.permitted_dns_patterns\.0: /,
      ],
      [bad({ san_rules: { allow_ip: 'yes' } }), 'body.san_rules.allow_ip: must be true or false'],
      [bad({ san_rules: { max_sans: 0 } }), /^body\.san_rules\.max_sans: /],
      [bad({ san_rules: { wildcards: true } }), 'body.san_rules.wildcards: unknown field'],
      [bad({ san_rules: [] }), /^body\.san_rules: /],
      [bad({ must_staple: 'true' }), 'body.must_staple: must be true or false'],
      [bad({ name: ' ' }), 'body.name: must not be blank'],
      [bad({ id: 'Bad Id' }), /^body\.id: /],
      [{ ...bad(), name: undefined }, /^body\.name: /],
      [bad({ required_approvals: 0 }), 'body.required_approvals: must be an integer from 1 to 10'],
      [bad({ required_approvals: 11 }), 'body.required_approvals: must be an integer from 1 to 10'],
      [bad({ required_approvals: '2' }), 'body.required_approvals: must be an integer from 1 to 10'],
      [bad({ approver_roles: 'role-operator' }), 'body.approver_roles: must be an array of role ids'],
      [bad({ approver_roles: [7] }), 'body.approver_roles: must be an array of role ids'],
      [bad({ approver_roles: ['Role Ops'] }), /^body\.approver_roles: each entry of approver_roles must be/],
      [
        bad({ approver_roles: ['role-operator', 'role-nope'] }),
        'body.approver_roles.1: role "role-nope" does not exist',
      ],
      [
        bad({ approver_roles: ['role-nope'], allowed_ekus: ['fooAuth'] }),
        /^body\.allowed_ekus\.0: .*; body\.approver_roles\.0: role "role-nope" does not exist$/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await create(body);
      expect({ body, status: res.status, message: res.body.message }).toEqual({
        body,
        status: 400,
        message: typeof message === 'string' ? message : expect.stringMatching(message),
      });
    }
    const stored: unknown[] = await t.ds.query(`SELECT id FROM certificate_profiles WHERE name = $1`, [`Bad ${tag}`]);
    expect(stored).toEqual([]);
  });

  it('gets, lists (page and cursor) and filters by name', async () => {
    expect((await t.http.get(`/api/v1/profiles/${pid}`).set('Authorization', viewer)).body.name).toBe(`TLS ${tag}`);
    const page = await t.http.get(`/api/v1/profiles?q=${tag}&sort=name&per_page=1&page=2`).set('Authorization', viewer);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: 2, page: 2, per_page: 1 });
    expect(page.body.data.map((p: { name: string }) => p.name)).toEqual([`TLS ${tag}`]);
    const first = await t.http
      .get(`/api/v1/profiles?q=${tag}&sort=-max_ttl_seconds&page_size=1`)
      .set('Authorization', viewer);
    expect(first.body.data).toHaveLength(1);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await t.http
      .get(`/api/v1/profiles?q=${tag}&sort=-max_ttl_seconds&page_size=1&cursor=${first.body.next_cursor}`)
      .set('Authorization', viewer);
    expect(second.body.next_cursor).toBeNull();
    expect([first.body.data[0].name, second.body.data[0].name].sort()).toEqual([`Minimal ${tag}`, `TLS ${tag}`]);
    const sparse = await t.http.get(`/api/v1/profiles?q=${tag}&fields=name`).set('Authorization', viewer);
    expect(Object.keys(sparse.body.data[0]).sort()).toEqual(['id', 'name']);
    expect((await t.http.get('/api/v1/profiles?cursor=garbage').set('Authorization', viewer)).status).toBe(400);
    expect((await t.http.get('/api/v1/profiles?per_page=100000').set('Authorization', viewer)).status).toBe(400);
    expect((await t.http.get('/api/v1/profiles?sort=secret').set('Authorization', viewer)).status).toBe(400);
  });

  it('updates only the given fields, replacing san_rules whole, and audits', async () => {
    const res = await put(pid, {
      description: 'edge v2',
      allowed_ekus: ['clientAuth'],
      san_rules: { allow_email: true },
      requires_approval: false,
      required_approvals: 3,
      approver_roles: [],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: `TLS ${tag}`,
      description: 'edge v2',
      allowed_ekus: ['clientAuth'],
      san_rules: { permitted_dns_patterns: [], allow_ip: false, allow_email: true, allow_uri: false, max_sans: null },
      must_staple: true,
      requires_approval: false,
      required_approvals: 3,
      approver_roles: [],
      max_ttl_seconds: 7_776_000,
    });
    expect(Date.parse(res.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(res.body.created_at));
    expect((await put(pid, { name: null })).body.message).toMatch(/^body\.name: /);
    expect((await put(pid, { san_rules: null })).body.message).toBe('body.san_rules: must be an object');
    expect((await put(pid, { allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 512 }] })).status).toBe(400);
    expect((await put(pid, { name: `Minimal ${tag}` })).status).toBe(409);
    const audit: { action: string; details: { changed: string[] } }[] = await t.ds.query(
      `SELECT action, details FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at`,
      [pid],
    );
    expect(audit.map((a) => a.action)).toEqual(['profile_created', 'profile_updated']);
    expect(audit[1].details.changed.sort()).toEqual([
      'allowed_ekus',
      'approver_roles',
      'description',
      'required_approvals',
      'san_rules',
    ]);
  });

  it('returns 404 for unknown profiles on get, update and delete', async () => {
    expect((await t.http.get('/api/v1/profiles/prof-nope').set('Authorization', viewer)).status).toBe(404);
    expect((await put('prof-nope', { description: 'x' })).status).toBe(404);
    expect((await t.http.delete('/api/v1/profiles/prof-nope').set('Authorization', operator)).status).toBe(404);
  });

  it('denies writes to a viewer and reads to a key without profile.read', async () => {
    expect(
      (
        await t.http
          .post('/api/v1/profiles')
          .set('Authorization', viewer)
          .send(valid({ name: `V ${tag}` }))
      ).status,
    ).toBe(403);
    expect(
      (await t.http.put(`/api/v1/profiles/${pid}`).set('Authorization', viewer).send({ description: 'v' })).status,
    ).toBe(403);
    expect((await t.http.delete(`/api/v1/profiles/${pid}`).set('Authorization', viewer)).status).toBe(403);
    expect((await t.http.get('/api/v1/profiles').set('Authorization', agent)).status).toBe(403);
    expect((await t.http.get(`/api/v1/profiles/${pid}`).set('Authorization', agent)).status).toBe(403);
  });

  it('deletes with 204, 409 while a certificate uses the profile', async () => {
    const id = `prof-del-${tag}`;
    expect((await create(valid({ id, name: `Doomed ${tag}` }))).status).toBe(201);
    await t.ds.query(
      `INSERT INTO managed_certificates (id, name, common_name, profile_id) VALUES ($1, 'ref', 'ref.example.com', $2)`,
      [`mc-prof-ref-${tag}`, id],
    );
    const blocked = await t.http.delete(`/api/v1/profiles/${id}`).set('Authorization', operator);
    expect(blocked.status).toBe(409);
    expect(blocked.body.message).toContain('managed_certificates');
    await t.ds.query(`DELETE FROM managed_certificates WHERE id = $1`, [`mc-prof-ref-${tag}`]);
    expect((await t.http.delete(`/api/v1/profiles/${id}`).set('Authorization', operator)).status).toBe(204);
    expect((await t.http.get(`/api/v1/profiles/${id}`).set('Authorization', viewer)).status).toBe(404);
    const audit: { action: string }[] = await t.ds.query(
      `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at`,
      [id],
    );
    expect(audit.map((a) => a.action)).toEqual(['profile_created', 'profile_deleted']);
  });
});
