import { randomBytes } from 'node:crypto';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { hashApiKey } from './api-key';

interface AuditRow {
  id: string;
  category: string;
  actor: string;
  actor_type: string;
  action: string;
  resource_type: string;
  resource_id: string;
  details: Record<string, unknown>;
}

/** A supertest client that authenticates every request with one key. */
function as(t: TestApp, key: string) {
  const auth = { Authorization: `Bearer ${key}` };
  return {
    get: (path: string) => t.http.get(path).set(auth),
    post: (path: string, body?: object) => {
      const r = t.http.post(path).set(auth);
      return body === undefined ? r : r.send(body);
    },
    put: (path: string, body: object) => t.http.put(path).set(auth).send(body),
    del: (path: string) => t.http.delete(path).set(auth),
  };
}
type Caller = ReturnType<typeof as>;

const ROLES = '/api/v1/auth/roles';
const KEYS = '/api/v1/auth/keys';
const ME = '/api/v1/auth/me';

describe('RBAC administration: roles and API keys (real Postgres + Redis)', () => {
  let t: TestApp;
  let adminKey: { id: string; key: string };
  let admin: Caller;
  const tag = randomBytes(4).toString('hex');

  beforeAll(async () => {
    t = await createTestApp();
    adminKey = await t.mintKey(['admin'], 'rbac-admin');
    admin = as(t, adminKey.key);
  });
  afterAll(async () => {
    await t.close();
  });

  const auditFor = (resourceId: string): Promise<AuditRow[]> =>
    t.ds.query(`SELECT * FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at, id`, [
      resourceId,
    ]);

  const createKey = async (roles: string[], name = 'rbac-test'): Promise<{ id: string; key: string }> => {
    const res = await admin.post(KEYS, { name, roles });
    expect(res.status).toBe(201);
    return { id: res.body.id, key: res.body.key };
  };

  describe('roles', () => {
    it('creates a role (sorted, de-duplicated permissions), gets it, and 404s an unknown id', async () => {
      const id = `rt-${tag}-a`;
      const res = await admin.post(ROLES, {
        id,
        name: `rotator-${tag}`,
        description: 'renews things',
        permissions: ['cert.read', 'cert.issue', 'cert.read'],
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id,
        name: `rotator-${tag}`,
        description: 'renews things',
        builtin: false,
        permissions: ['cert.issue', 'cert.read'],
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      const got = await admin.get(`${ROLES}/${id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(res.body);
      const missing = await admin.get(`${ROLES}/rt-${tag}-nope`);
      expect(missing.status).toBe(404);
      expect(missing.body.message).toContain(`rt-${tag}-nope`);
      // a NUL byte names nothing (and never reaches Postgres as a 500)
      expect((await admin.get(`${ROLES}/a%00b`)).status).toBe(400); // NUL is refused for every route
      expect((await admin.del(`${KEYS}/a%00b`)).status).toBe(400);
      expect((await admin.del(`${KEYS}/a%00b/roles/viewer`)).status).toBe(400);
    });

    it('generates an id when none is given', async () => {
      const res = await admin.post(ROLES, { name: `gen-${tag}`, permissions: [] });
      expect(res.status).toBe(201);
      expect(res.body.id).toMatch(/^role-[a-z0-9]{12}$/);
      expect(res.body).toMatchObject({ description: '', permissions: [] });
    });

    it('refuses a duplicate name or id with 409, and writes nothing', async () => {
      await admin.post(ROLES, { id: `rt-${tag}-dup`, name: `dup-${tag}`, permissions: ['cert.read'] });
      const byName = await admin.post(ROLES, { id: `rt-${tag}-dup2`, name: `dup-${tag}`, permissions: [] });
      expect(byName.status).toBe(409);
      expect(byName.body.message).toContain(`dup-${tag}`);
      expect((await admin.get(`${ROLES}/rt-${tag}-dup2`)).status).toBe(404);
      expect(await auditFor(`rt-${tag}-dup2`)).toHaveLength(0);
      const byId = await admin.post(ROLES, { id: `rt-${tag}-dup`, name: `other-${tag}`, permissions: [] });
      expect(byId.status).toBe(409);
      expect(byId.body.message).toContain(`rt-${tag}-dup`);
    });

    it('answers 400 naming the field for unknown permissions and malformed bodies', async () => {
      const unknown = await admin.post(ROLES, {
        name: `bad-${tag}`,
        permissions: ['cert.read', 'cert.fly', 'root.everything'],
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toContain('body.permissions');
      expect(unknown.body.message).toContain('cert.fly');
      expect(unknown.body.message).toContain('root.everything');
      expect(unknown.body.message).not.toContain('"cert.read"');

      const cases: [object, string][] = [
        [{ name: `bad-${tag}`, permissions: 'cert.read' }, 'body.permissions'],
        [{ name: `bad-${tag}`, permissions: [1] }, 'body.permissions'],
        [{ permissions: [] }, 'body.name'],
        [{ name: '', permissions: [] }, 'body.name'],
        [{ id: 'Upper', name: `bad-${tag}`, permissions: [] }, 'body.id'],
        [{ name: `bad-${tag}`, description: 'a\u0000b', permissions: [] }, 'NUL'],
        [{ name: `bad-${tag}`, permissions: [], builtin: true }, 'body.builtin'],
      ];
      for (const [body, field] of cases) {
        const res = await admin.post(ROLES, body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.body.message).toContain(field);
      }
    });

    it('updates name, description and permissions, and writes role_updated', async () => {
      const id = `rt-${tag}-upd`;
      const created = await admin.post(ROLES, { id, name: `upd-${tag}`, permissions: ['cert.read'] });
      const res = await admin.put(`${ROLES}/${id}`, {
        name: `upd2-${tag}`,
        description: 'now more',
        permissions: ['target.read', 'cert.issue'],
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id,
        name: `upd2-${tag}`,
        description: 'now more',
        permissions: ['cert.issue', 'target.read'],
      });
      expect(Date.parse(res.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.body.updated_at));
      // only the given field changes
      const partial = await admin.put(`${ROLES}/${id}`, { description: 'only this' });
      expect(partial.body).toMatchObject({ name: `upd2-${tag}`, permissions: ['cert.issue', 'target.read'] });

      const rows = await auditFor(id);
      expect(rows.map((r) => r.action)).toEqual(['role_created', 'role_updated', 'role_updated']);
      expect(rows[1]?.details).toMatchObject({
        changes: {
          name: { from: `upd-${tag}`, to: `upd2-${tag}` },
          permissions: { added: ['cert.issue', 'target.read'], removed: ['cert.read'] },
        },
      });

      expect((await admin.put(`${ROLES}/${id}`, {})).status).toBe(400);
      expect((await admin.put(`${ROLES}/${id}`, { permissions: ['nope.nope'] })).status).toBe(400);
      expect((await admin.put(`${ROLES}/rt-${tag}-none`, { description: 'x' })).status).toBe(404);
      const clash = await admin.put(`${ROLES}/${id}`, { name: 'operator' });
      expect(clash.status).toBe(409);
    });

    it('refuses to modify the built-in admin role (409 saying why) and to rename built-in roles', async () => {
      const put = await admin.put(`${ROLES}/role-admin`, { description: 'mine now' });
      expect(put.status).toBe(409);
      expect(put.body.message).toMatch(/admin role cannot be modified/);
      expect((await admin.post(`${ROLES}/role-admin/permissions`, { permissions: ['cert.read'] })).status).toBe(409);
      expect((await admin.del(`${ROLES}/role-admin/permissions/cert.read`)).status).toBe(409);
      const adminRole = await admin.get(`${ROLES}/role-admin`);
      expect(adminRole.body.permissions).toHaveLength(82);
      expect(adminRole.body.description).not.toBe('mine now');

      const rename = await admin.put(`${ROLES}/role-auditor`, { name: `auditors-${tag}` });
      expect(rename.status).toBe(409);
      expect(rename.body.message).toContain('renamed');
    });

    it('adds and removes single permissions', async () => {
      const id = `rt-${tag}-perm`;
      await admin.post(ROLES, { id, name: `perm-${tag}`, permissions: ['cert.read'] });
      const added = await admin.post(`${ROLES}/${id}/permissions`, { permissions: ['cert.revoke', 'cert.read'] });
      expect(added.status).toBe(200);
      expect(added.body.permissions).toEqual(['cert.read', 'cert.revoke']);
      const removed = await admin.del(`${ROLES}/${id}/permissions/cert.revoke`);
      expect(removed.status).toBe(200);
      expect(removed.body.permissions).toEqual(['cert.read']);
      const again = await admin.del(`${ROLES}/${id}/permissions/cert.revoke`);
      expect(again.status).toBe(404);
      expect(again.body.message).toContain('cert.revoke');
      const notPerm = await admin.del(`${ROLES}/${id}/permissions/cert.fly`);
      expect(notPerm.status).toBe(400);
      expect(notPerm.body.message).toContain('param.perm');
      expect((await admin.post(`${ROLES}/${id}/permissions`, { permissions: ['x.y'] })).status).toBe(400);
      expect((await admin.post(`${ROLES}/${id}/permissions`, { permissions: [] })).status).toBe(400);
      expect((await admin.post(`${ROLES}/rt-${tag}-none/permissions`, { permissions: ['cert.read'] })).status).toBe(
        404,
      );
      const actions = (await auditFor(id)).map((r) => r.action);
      expect(actions).toEqual(['role_created', 'role_updated', 'role_updated']);
    });

    it('deletes a custom role (204, audited), refuses built-in ones and roles still granted', async () => {
      const id = `rt-${tag}-del`;
      await admin.post(ROLES, { id, name: `del-${tag}`, permissions: ['cert.read'] });
      const holder = await createKey([id]);
      const inUse = await admin.del(`${ROLES}/${id}`);
      expect(inUse.status).toBe(409);
      expect(inUse.body.message).toContain('1 actor');
      expect((await admin.get(`${ROLES}/${id}`)).status).toBe(200);

      // once the only holder's key is revoked, the grant is dead and the role can go
      expect((await admin.del(`${KEYS}/${holder.id}`)).status).toBe(204);
      const del = await admin.del(`${ROLES}/${id}`);
      expect(del.status).toBe(204);
      expect((await admin.get(`${ROLES}/${id}`)).status).toBe(404);
      expect((await admin.del(`${ROLES}/${id}`)).status).toBe(404);
      const rows = await auditFor(id);
      expect(rows.map((r) => r.action)).toEqual(['role_created', 'role_deleted']);
      expect(rows[1]?.details).toMatchObject({ name: `del-${tag}`, released_revoked_key_grants: 1 });
      const grants: unknown[] = await t.ds.query(`SELECT 1 FROM actor_roles WHERE role_id = $1`, [id]);
      expect(grants).toHaveLength(0);

      const builtin = await admin.del(`${ROLES}/role-viewer`);
      expect(builtin.status).toBe(409);
      expect(builtin.body.message).toContain('built-in');
    });

    it('lists roles with page/per_page, cursor/page_size, sort and fields', async () => {
      const mine = [`rt-${tag}-l1`, `rt-${tag}-l2`, `rt-${tag}-l3`];
      for (const id of mine) await admin.post(ROLES, { id, name: `list-${id}`, permissions: ['cert.read'] });

      const all = await admin.get(`${ROLES}?per_page=500`);
      expect(all.status).toBe(200);
      const allIds: string[] = all.body.data.map((r: { id: string }) => r.id);
      expect(all.body.total).toBe(allIds.length);
      expect(allIds).toEqual(expect.arrayContaining(['role-admin', 'role-viewer', ...mine]));
      const adminRole = all.body.data.find((r: { id: string }) => r.id === 'role-admin');
      expect(adminRole.permissions).toHaveLength(82);
      expect(adminRole.permissions).toEqual([...adminRole.permissions].sort());

      const p1 = await admin.get(`${ROLES}?per_page=2&page=1`);
      expect(p1.body).toMatchObject({ total: allIds.length, page: 1, per_page: 2 });
      expect(p1.body.data.map((r: { id: string }) => r.id)).toEqual(allIds.slice(0, 2));
      const p2 = await admin.get(`${ROLES}?per_page=2&page=2`);
      expect(p2.body.data.map((r: { id: string }) => r.id)).toEqual(allIds.slice(2, 4));

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await admin.get(`${ROLES}?page_size=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ total: allIds.length, page_size: 3 });
        expect(res.body.data.length).toBeLessThanOrEqual(3);
        seen.push(...res.body.data.map((r: { id: string }) => r.id));
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor && pages < 100);
      expect(seen).toEqual(allIds);
      expect(pages).toBe(Math.ceil(allIds.length / 3));

      const names = async (sort: string): Promise<string[]> =>
        (await admin.get(`${ROLES}?per_page=500&sort=${sort}`)).body.data.map((r: { name: string }) => r.name);
      const asc = await names('name');
      expect(asc).toHaveLength(allIds.length);
      expect(await names('-name')).toEqual([...asc].reverse());
      // keyset on the name works too
      const walked: string[] = [];
      cursor = null;
      pages = 0;
      do {
        const res = await admin.get(`${ROLES}?page_size=4&sort=name&fields=name${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        walked.push(...res.body.data.map((r: { name: string }) => r.name));
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor && pages < 100);
      expect(walked).toEqual(asc);
      expect(asc).not.toEqual(allIds.map((id) => all.body.data.find((r: { id: string }) => r.id === id).name));

      const sparse = await admin.get(`${ROLES}?per_page=1&fields=name`);
      expect(Object.keys(sparse.body.data[0]).sort()).toEqual(['id', 'name']);
      const permsOnly = await admin.get(`${ROLES}?per_page=500&fields=permissions`);
      const mineSparse = permsOnly.body.data.find((r: { id: string }) => r.id === mine[0]);
      expect(mineSparse).toEqual({ id: mine[0], permissions: ['cert.read'] });

      expect((await admin.get(`${ROLES}?sort=secret`)).status).toBe(400);
      expect((await admin.get(`${ROLES}?fields=key_hash`)).status).toBe(400);
      expect((await admin.get(`${ROLES}?page=1&page_size=2`)).status).toBe(400);
    });

    it('refuses role administration to a viewer key (403 naming the permission)', async () => {
      const viewer = as(t, (await t.mintKey(['viewer'])).key);
      const res = await viewer.post(ROLES, { name: `v-${tag}`, permissions: [] });
      expect(res.status).toBe(403);
      expect(res.body.message).toContain('auth.role.create');
      expect((await viewer.get(ROLES)).status).toBe(403);
      expect((await viewer.get(KEYS)).status).toBe(403);
    });
  });

  describe('API keys', () => {
    it('creates a key that works once, with the plaintext shown once and never its hash', async () => {
      const res = await admin.post(KEYS, { name: `ci-${tag}`, roles: ['operator', 'role-viewer', 'operator'] });
      expect(res.status).toBe(201);
      const key: string = res.body.key;
      expect(key).toMatch(/^cc_[A-Za-z0-9_-]{43}$/);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^ak-/),
        name: `ci-${tag}`,
        actor_id: res.body.id,
        actor_type: 'ApiKey',
        key_prefix: key.slice(0, 9),
        roles: ['operator', 'viewer'],
        created_by: adminKey.id,
        created_at: expect.any(String),
        expires_at: null,
        revoked_at: null,
        last_used_at: null,
        key,
      });

      const me = await t.http.get(ME).set('Authorization', `Bearer ${key}`);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ actor_id: res.body.id, key_id: res.body.id, roles: ['operator', 'viewer'] });
      expect(me.body.permissions).toContain('cert.issue');

      const list = await admin.get(`${KEYS}?per_page=500`);
      expect(list.status).toBe(200);
      const listed = list.body.data.find((k: { id: string }) => k.id === res.body.id);
      // last_used_at is stamped off the request path, so it may or may not be set yet
      const { key: _secret, last_used_at: _used, ...stable } = res.body;
      expect(listed).toMatchObject(stable);
      expect(Object.keys(listed).sort()).toEqual(Object.keys(stable).concat('last_used_at').sort());
      const text = JSON.stringify(list.body);
      expect(text).not.toContain(key);
      expect(text).not.toContain(hashApiKey(key));
      expect(text).not.toContain('key_hash');

      const rows = await auditFor(res.body.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        action: 'api_key_created',
        actor: adminKey.id,
        actor_type: 'ApiKey',
        resource_type: 'api_key',
        details: { roles: ['operator', 'viewer'], name: `ci-${tag}` },
      });
      expect(JSON.stringify(rows)).not.toContain(key);
      expect(JSON.stringify(rows)).not.toContain(hashApiKey(key));
    });

    it('validates the body: roles, names and expires_at (400 naming the field)', async () => {
      const unknownRole = await admin.post(KEYS, { name: `x-${tag}`, roles: ['viewer', `ghost-${tag}`] });
      expect(unknownRole.status).toBe(400);
      expect(unknownRole.body.message).toContain('body.roles');
      expect(unknownRole.body.message).toContain(`ghost-${tag}`);
      const cases: [object, string][] = [
        [{ name: `x-${tag}`, roles: [] }, 'body.roles'],
        [{ name: `x-${tag}` }, 'body.roles'],
        [{ name: `x-${tag}`, roles: ['viewer\u0000'] }, 'NUL'],
        [{ roles: ['viewer'] }, 'body.name'],
        [{ name: `x-${tag}`, roles: ['viewer'], expires_at: '2020-01-01T00:00:00Z' }, 'body.expires_at'],
        [{ name: `x-${tag}`, roles: ['viewer'], expires_at: '2099-01-01' }, 'body.expires_at'],
        [{ name: `x-${tag}`, roles: ['viewer'], expires_at: 'tomorrow' }, 'body.expires_at'],
        [{ name: `x-${tag}`, roles: ['viewer'], expires_at: 12 }, 'body.expires_at'],
      ];
      for (const [body, field] of cases) {
        const res = await admin.post(KEYS, body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.body.message).toContain(field);
      }
      const future = await admin.post(KEYS, {
        name: `x-${tag}`,
        roles: ['viewer'],
        expires_at: '2099-01-01T00:00:00Z',
      });
      expect(future.status).toBe(201);
      expect(future.body.expires_at).toBe('2099-01-01T00:00:00.000Z');
    });

    it('revokes a key: it answers 401 afterwards, the row stays, revoking again is a no-op', async () => {
      const k = await createKey(['viewer']);
      expect((await t.http.get(ME).set('Authorization', `Bearer ${k.key}`)).status).toBe(200);
      expect((await admin.del(`${KEYS}/${k.id}`)).status).toBe(204);
      expect((await t.http.get(ME).set('Authorization', `Bearer ${k.key}`)).status).toBe(401);
      expect((await admin.del(`${KEYS}/${k.id}`)).status).toBe(204);
      expect((await admin.del(`${KEYS}/ak-${tag}-none`)).status).toBe(404);

      const active = await admin.get(`${KEYS}?per_page=500`);
      expect(active.body.data.map((x: { id: string }) => x.id)).not.toContain(k.id);
      const withRevoked = await admin.get(`${KEYS}?per_page=500&include_revoked=true`);
      const row = withRevoked.body.data.find((x: { id: string }) => x.id === k.id);
      expect(row).toMatchObject({ id: k.id, roles: ['viewer'], revoked_at: expect.any(String) });
      expect((await admin.get(`${KEYS}?include_revoked=maybe`)).status).toBe(400);

      expect((await auditFor(k.id)).map((r) => r.action)).toEqual(['api_key_created', 'api_key_revoked']);
    });

    it('rotates a key: the old secret stops working, the new one has the same actor and roles', async () => {
      const old = await createKey(['viewer', 'agent'], `rot-${tag}`);
      const before = await t.http.get(ME).set('Authorization', `Bearer ${old.key}`);
      expect(before.status).toBe(200);

      const res = await admin.post(`${KEYS}/${old.id}/rotate`);
      expect(res.status).toBe(201);
      expect(res.body.key).toMatch(/^cc_/);
      expect(res.body.key).not.toBe(old.key);
      expect(res.body.id).not.toBe(old.id);
      expect(res.body).toMatchObject({ actor_id: old.id, name: `rot-${tag}`, roles: ['agent', 'viewer'] });

      expect((await t.http.get(ME).set('Authorization', `Bearer ${old.key}`)).status).toBe(401);
      const after = await t.http.get(ME).set('Authorization', `Bearer ${res.body.key}`);
      expect(after.status).toBe(200);
      expect(after.body.actor_id).toBe(old.id);
      expect(after.body.key_id).toBe(res.body.id);
      expect(after.body.roles).toEqual(before.body.roles);
      expect(after.body.permissions).toEqual(before.body.permissions);

      const again = await admin.post(`${KEYS}/${old.id}/rotate`);
      expect(again.status).toBe(409);
      expect((await admin.post(`${KEYS}/ak-${tag}-none/rotate`)).status).toBe(404);

      const rows = await auditFor(old.id);
      expect(rows.map((r) => r.action)).toEqual(['api_key_created', 'api_key_rotated']);
      expect(rows[1]?.details).toMatchObject({ new_key_id: res.body.id });
      expect(JSON.stringify(rows)).not.toContain(res.body.key);
    });

    it('grants and revokes roles, changing what /auth/me reports', async () => {
      const k = await createKey(['viewer']);
      const me = () => t.http.get(ME).set('Authorization', `Bearer ${k.key}`);
      expect((await me()).body.permissions).not.toContain('cert.issue');

      const granted = await admin.post(`${KEYS}/${k.id}/roles`, { role_id: 'role-operator' });
      expect(granted.status).toBe(200);
      expect(granted.body).toMatchObject({ id: k.id, roles: ['operator', 'viewer'] });
      expect((await me()).body.permissions).toContain('cert.issue');
      expect((await me()).body.roles).toEqual(['operator', 'viewer']);

      // granting again is a no-op
      expect((await admin.post(`${KEYS}/${k.id}/roles`, { role_id: 'operator' })).body.roles).toEqual([
        'operator',
        'viewer',
      ]);

      const revoked = await admin.del(`${KEYS}/${k.id}/roles/role-operator`);
      expect(revoked.status).toBe(200);
      expect(revoked.body.roles).toEqual(['viewer']);
      expect((await me()).body.permissions).not.toContain('cert.issue');
      expect((await admin.del(`${KEYS}/${k.id}/roles/operator`)).status).toBe(404);

      expect((await admin.post(`${KEYS}/${k.id}/roles`, { role_id: `ghost-${tag}` })).status).toBe(404);
      expect((await admin.post(`${KEYS}/ak-${tag}-none/roles`, { role_id: 'viewer' })).status).toBe(404);
      const noBody = await admin.post(`${KEYS}/${k.id}/roles`, { role: 'viewer' });
      expect(noBody.status).toBe(400);
      expect(noBody.body.message).toContain('body.role');

      const rows = await auditFor(k.id);
      expect(rows.map((r) => r.action)).toEqual(['api_key_created', 'role_granted', 'role_revoked']);
      expect(rows[1]?.details).toMatchObject({ role_id: 'role-operator', role_name: 'operator', actor_id: k.id });
    });
  });

  describe('privilege escalation guard', () => {
    let caller: Caller;
    let callerId: string;
    beforeAll(async () => {
      const roleId = `rt-${tag}-keymaker`;
      const role = await admin.post(ROLES, {
        id: roleId,
        name: `keymaker-${tag}`,
        permissions: ['auth.key.create', 'auth.key.rotate', 'auth.role.assign', 'auth.role.create'],
      });
      expect(role.status).toBe(201);
      const k = await t.mintKey(['operator'], 'operator-keymaker');
      expect((await admin.post(`${KEYS}/${k.id}/roles`, { role_id: roleId })).status).toBe(200);
      caller = as(t, k.key);
      callerId = k.id;
    });

    it('lets an operator with auth.key.create mint keys within its own permissions only', async () => {
      const viewerKey = await caller.post(KEYS, { name: `esc-ok-${tag}`, roles: ['viewer'] });
      expect(viewerKey.status).toBe(201);
      expect(viewerKey.body.created_by).toBe(callerId);

      const adminKeyRes = await caller.post(KEYS, { name: `esc-${tag}`, roles: ['admin'] });
      expect(adminKeyRes.status).toBe(403);
      expect(adminKeyRes.body.message).toContain('ca.hierarchy.manage');
      expect(adminKeyRes.body.message).toContain('auth.role.delete');
      const leaked: unknown[] = await t.ds.query(`SELECT 1 FROM api_keys WHERE name = $1`, [`esc-${tag}`]);
      expect(leaked).toHaveLength(0);
    });

    it('refuses to grant a role the caller does not fully hold, even to itself', async () => {
      const self = await caller.post(`${KEYS}/${callerId}/roles`, { role_id: 'admin' });
      expect(self.status).toBe(403);
      expect(self.body.message).toContain('audit.export');
      const me = await caller.get(ME);
      expect(me.body.roles).not.toContain('admin');
      // a role within its permissions is fine
      const target = await createKey(['agent']);
      expect((await caller.post(`${KEYS}/${target.id}/roles`, { role_id: 'viewer' })).status).toBe(200);
    });

    it('refuses to create a role with permissions the caller lacks', async () => {
      const res = await caller.post(ROLES, { name: `esc-role-${tag}`, permissions: ['cert.read', 'audit.export'] });
      expect(res.status).toBe(403);
      expect(res.body.message).toContain('audit.export');
      expect(res.body.message).not.toContain('cert.read');
    });

    it('refuses to rotate a key whose roles exceed the caller (the new secret would carry them)', async () => {
      const victim = await createKey(['admin'], `victim-${tag}`);
      const res = await caller.post(`${KEYS}/${victim.id}/rotate`);
      expect(res.status).toBe(403);
      expect((await t.http.get(ME).set('Authorization', `Bearer ${victim.key}`)).status).toBe(200);
    });
  });
});

describe('last-admin lockout (own database: no other admin keys)', () => {
  let t: TestApp;
  let db: PrivateDatabase;
  beforeAll(async () => {
    db = await createPrivateDatabase('lockout');
    t = await createTestApp(db.env);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('refuses to revoke, or take the admin role from, the last active admin key', async () => {
    const a = await t.mintKey(['admin'], 'admin-a');
    const b = await t.mintKey(['admin'], 'admin-b');
    const asA = as(t, a.key);

    expect((await asA.del(`${KEYS}/${b.id}`)).status).toBe(204);
    const last = await asA.del(`${KEYS}/${a.id}`);
    expect(last.status).toBe(409);
    expect(last.body.message).toContain('last active admin');
    const lastRole = await asA.del(`${KEYS}/${a.id}/roles/role-admin`);
    expect(lastRole.status).toBe(409);
    expect((await asA.get(ME)).status).toBe(200);

    // with a second admin, A can lose the role; then C is the last one
    const c = await t.mintKey(['admin'], 'admin-c');
    const asC = as(t, c.key);
    const demoted = await asC.del(`${KEYS}/${a.id}/roles/admin`);
    expect(demoted.status).toBe(200);
    expect(demoted.body.roles).toEqual([]);
    expect((await asC.del(`${KEYS}/${c.id}`)).status).toBe(409);

    // rotating the last admin key keeps an admin: allowed
    const rotated = await asC.post(`${KEYS}/${c.id}/rotate`);
    expect(rotated.status).toBe(201);
    expect((await as(t, rotated.body.key).get(ME)).body.roles).toEqual(['admin']);
    expect((await as(t, rotated.body.key).del(`${KEYS}/${rotated.body.id}`)).status).toBe(409);

    // a non-admin key is never protected
    expect((await as(t, rotated.body.key).del(`${KEYS}/${a.id}`)).status).toBe(204);
  });
});
