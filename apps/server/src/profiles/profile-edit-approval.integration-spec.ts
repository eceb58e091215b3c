import { createProfile } from '../../../../test/integration/issued-certificates';
import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

interface Key {
  id: string;
  key: string;
}
interface RequestRow {
  id: string;
  kind: string;
  state: string;
  profile_id: string;
  requested_by: string;
  decided_by: string | null;
  required_approvals: number;
  approver_roles: string[];
  payload: { changes: Record<string, unknown>; previous: Record<string, unknown> };
}
interface AuditRow {
  action: string;
  actor: string;
  details: Record<string, unknown>;
}

/**
 * The profile-edit gate on real Postgres/Redis: every edit of a profile that requires
 * approval, or that would make it require approval, waits as a profile_edit request and
 * is applied only when someone other than the requester approves it.
 */
describe('profile edits under approval (profile_edit)', () => {
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');
  const securityRole = `role-sec-${tag}`;
  let admin: string;
  let alice: Key;
  let bob: Key;
  let carol: Key;
  let dave: Key;
  let n = 0;

  const as = (k: Key) => ({
    get: (path: string) => t.http.get(path).set('Authorization', `Bearer ${k.key}`),
    put: (path: string, body: object) => t.http.put(path).set('Authorization', `Bearer ${k.key}`).send(body),
    post: (path: string, body: object = {}) => t.http.post(path).set('Authorization', `Bearer ${k.key}`).send(body),
  });
  const newProfile = async (extra: object = {}): Promise<string> => {
    const id = `prof-pe-${tag}-${++n}`;
    await createProfile(t, admin, id, null, 86_400, { description: 'before', ...extra });
    return id;
  };
  const stored = async (id: string) => (await t.http.get(`/api/v1/profiles/${id}`).set('Authorization', admin)).body;
  const request = async (id: string): Promise<RequestRow> => {
    const rows: RequestRow[] = await t.ds.query(
      `SELECT id, kind, state, profile_id, requested_by, decided_by, required_approvals, approver_roles, payload
         FROM approval_requests WHERE id = $1`,
      [id],
    );
    expect(rows).toHaveLength(1);
    return rows[0];
  };
  const requestsOf = async (profileId: string): Promise<number> =>
    Number(
      (
        await t.ds.query<{ n: string }[]>(`SELECT count(*) AS n FROM approval_requests WHERE profile_id = $1`, [
          profileId,
        ])
      )[0].n,
    );
  const audit = (resourceId: string): Promise<AuditRow[]> =>
    t.ds.query(
      `SELECT action, actor, details FROM audit_events WHERE category = 'domain' AND resource_id = $1
        ORDER BY created_at, id`,
      [resourceId],
    );
  /** A gated PUT: 202 with the request id, and the profile exactly as it was. */
  const gatedPut = async (by: Key, id: string, body: object): Promise<string> => {
    const before = await stored(id);
    const res = await as(by).put(`/api/v1/profiles/${id}`, body);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 202,
      body: { pending_approval_id: expect.stringMatching(/^ar-/) },
    });
    expect(await stored(id)).toEqual(before);
    return res.body.pending_approval_id as string;
  };
  const approve = (by: Key, id: string, note?: string) =>
    as(by).post(`/api/v1/approvals/${id}/approve`, note === undefined ? {} : { note });
  const reject = (by: Key, id: string, note: string) => as(by).post(`/api/v1/approvals/${id}/reject`, { note });

  beforeAll(async () => {
    t = await createTestApp();
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    [alice, bob, carol, dave] = await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map((name) => t.mintKey(['operator'], `${name}-${tag}`)),
    );
    await t.ds.query(`INSERT INTO roles (id, name, description) VALUES ($1, $2, 'profile edit approvers (test)')`, [
      securityRole,
      `sec-${tag}`,
    ]);
    for (const k of [carol, dave]) {
      await t.ds.query(`INSERT INTO actor_roles (actor_id, role_id, created_by) VALUES ($1, $2, 'test')`, [
        k.id,
        securityRole,
      ]);
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('flip off (true -> false) waits for a second person; the requester cannot approve it; another actor applies it', async () => {
    const id = await newProfile({ requires_approval: true });
    const arId = await gatedPut(alice, id, { requires_approval: false, description: 'relaxed', must_staple: false });
    const ar = await request(arId);
    expect(ar).toMatchObject({
      kind: 'profile_edit',
      state: 'pending',
      profile_id: id,
      requested_by: alice.id,
      required_approvals: 1,
      approver_roles: [],
      // Only real changes are stored (must_staple was already false), with the values they replace.
      payload: {
        changes: { requires_approval: false, description: 'relaxed' },
        previous: { requires_approval: true, description: 'before' },
      },
    });
    const listed = await as(bob).get(`/api/v1/approvals?state=pending&profile_id=${id}`);
    expect(listed.body.data).toEqual([expect.objectContaining({ id: arId, kind: 'profile_edit' })]);

    const self = await approve(alice, arId);
    expect(self.status).toBe(403);
    expect(self.body.message).toContain('two-person integrity');
    expect((await stored(id)).requires_approval).toBe(true);
    expect((await request(arId)).state).toBe('pending');

    const ok = await approve(bob, arId, 'CHG-1');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ state: 'approved', decided_by: bob.id });
    expect(await stored(id)).toMatchObject({ requires_approval: false, description: 'relaxed' });
    const applied = (await audit(id)).filter((a) => a.action === 'profile.edit_applied');
    expect(applied).toEqual([
      {
        action: 'profile.edit_applied',
        actor: bob.id,
        details: { approval_request_id: arId, requested_by: alice.id, changed: expect.any(Array) },
      },
    ]);
    expect((applied[0].details.changed as string[]).sort()).toEqual(['description', 'requires_approval']);
    expect((await approve(carol, arId)).status).toBe(409);
    // Ungated now: the next edit applies at once.
    const direct = await as(alice).put(`/api/v1/profiles/${id}`, { description: 'direct' });
    expect(direct.status).toBe(200);
    expect(direct.body.description).toBe('direct');
  });

  it('keep on (true, other fields): gated; a second edit while one waits is a 409 naming it; reject changes nothing', async () => {
    const id = await newProfile({ requires_approval: true });
    const arId = await gatedPut(alice, id, { max_ttl_seconds: 3_600, allowed_ekus: ['serverAuth', 'clientAuth'] });

    for (const body of [{ description: 'sneaky' }, { requires_approval: false }]) {
      const second = await as(bob).put(`/api/v1/profiles/${id}`, body);
      expect(second.status).toBe(409);
      expect(second.body.message).toContain(arId);
    }
    expect(await requestsOf(id)).toBe(1);

    const self = await reject(alice, arId, 'changed my mind');
    expect(self.status).toBe(403);
    expect(self.body.message).toContain('two-person integrity');
    const before = await stored(id);
    const no = await reject(bob, arId, 'TTL too short for this fleet');
    expect(no.status).toBe(200);
    expect(no.body.state).toBe('rejected');
    expect(await stored(id)).toEqual(before);
    expect(before).toMatchObject({ max_ttl_seconds: 86_400, allowed_ekus: ['serverAuth'] });
    const actions = (await audit(arId)).map((a) => [a.action, a.actor]);
    expect(actions).toEqual([
      ['approval_requested', alice.id],
      ['approval_rejected', bob.id],
    ]);
    expect((await audit(id)).map((a) => a.action)).toEqual(['profile_created']);
    expect((await approve(carol, arId)).status).toBe(409);

    // Decided: the profile takes a new edit (gated again).
    const next = await gatedPut(bob, id, { max_ttl_seconds: 7_200 });
    expect((await approve(alice, next)).status).toBe(200);
    expect((await stored(id)).max_ttl_seconds).toBe(7_200);
  });

  it('two gated edits racing: exactly one is queued, the other is a 409', async () => {
    const id = await newProfile({ requires_approval: true });
    const [r1, r2] = await Promise.all([
      as(alice).put(`/api/v1/profiles/${id}`, { description: 'one' }),
      as(bob).put(`/api/v1/profiles/${id}`, { description: 'two' }),
    ]);
    expect([r1.status, r2.status].sort()).toEqual([202, 409]);
    expect(await requestsOf(id)).toBe(1);
    expect((await stored(id)).description).toBe('before');
  });

  it('flip on (false -> true): gated, applied only after approval', async () => {
    const id = await newProfile();
    const arId = await gatedPut(alice, id, { requires_approval: true, name: `flip-on-${tag}` });
    expect((await request(arId)).payload.changes).toEqual({ requires_approval: true, name: `flip-on-${tag}` });
    // Even the (still ungated) profile takes no other edit while its flip-on waits.
    expect((await as(bob).put(`/api/v1/profiles/${id}`, { description: 'x' })).status).toBe(409);
    expect((await approve(bob, arId)).status).toBe(200);
    expect(await stored(id)).toMatchObject({ requires_approval: true, name: `flip-on-${tag}`, description: 'before' });
    await gatedPut(alice, id, { description: 'now gated' });
  });

  it('updates an ungated profile directly (200), and re-sending a gated profile unchanged needs no approval', async () => {
    const open = await newProfile();
    const res = await as(alice).put(`/api/v1/profiles/${open}`, { description: 'now', required_approvals: 2 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ description: 'now', required_approvals: 2, requires_approval: false });
    expect(await requestsOf(open)).toBe(0);

    const gated = await newProfile({ requires_approval: true });
    const same = await as(alice).put(`/api/v1/profiles/${gated}`, {
      requires_approval: true,
      description: 'before',
      allowed_key_algorithms: [{ algorithm: 'ecdsa', min_size: 256 }],
    });
    expect(same.status).toBe(200);
    expect(same.body).toEqual(await stored(gated));
    expect(await requestsOf(gated)).toBe(0);
  });

  it('validates a gated edit fully first: 400 naming the field, no request stored', async () => {
    const id = await newProfile({ requires_approval: true });
    const cases: [object, string | RegExp][] = [
      [{ approver_roles: ['role-nope'] }, 'body.approver_roles.0: role "role-nope" does not exist'],
      [{ required_approvals: 11 }, 'body.required_approvals: must be an integer from 1 to 10'],
      [{ requires_approval: 'no' }, 'body.requires_approval: must be true or false'],
      [{ max_ttl_seconds: 0 }, /^body\.max_ttl_seconds: /],
      [{ allowed_ekus: ['fooAuth'] }, /^body\.allowed_ekus\.0: /],
      [{ colour: 'red' }, 'body.colour: unknown field'],
    ];
    for (const [body, message] of cases) {
      const res = await as(alice).put(`/api/v1/profiles/${id}`, body);
      expect({ body, status: res.status, message: res.body.message }).toEqual({
        body,
        status: 400,
        message: typeof message === 'string' ? message : expect.stringMatching(message),
      });
    }
    // A name another profile holds is refused up front, not at approval time.
    const other = await newProfile();
    expect((await as(alice).put(`/api/v1/profiles/${id}`, { name: other })).status).toBe(409);
    expect(await requestsOf(id)).toBe(0);
    expect((await as(alice).put('/api/v1/profiles/prof-nope', { requires_approval: true })).status).toBe(404);
  });

  it('decides an edit under the stricter of the current and proposed policy', async () => {
    // Relaxing 2 -> 1 is decided under 2; flipping on with 3 is decided under 3.
    const strict = await newProfile({ requires_approval: true, required_approvals: 2 });
    const relax = await request(await gatedPut(alice, strict, { required_approvals: 1 }));
    expect(relax).toMatchObject({ required_approvals: 2, approver_roles: [] });
    const open = await newProfile();
    const flip = await request(
      await gatedPut(alice, open, { requires_approval: true, required_approvals: 3, approver_roles: [securityRole] }),
    );
    expect(flip).toMatchObject({ required_approvals: 3, approver_roles: [securityRole] });
    // Widening the pool is decided by the current pool.
    const pooled = await newProfile({ requires_approval: true, approver_roles: [securityRole] });
    const widen = await request(await gatedPut(alice, pooled, { approver_roles: [] }));
    expect(widen.approver_roles).toEqual([securityRole]);
  });

  it('M-of-N: two distinct approvers from the profile pool apply the edit; others are refused', async () => {
    const id = await newProfile({ requires_approval: true, required_approvals: 2, approver_roles: [securityRole] });
    const arId = await gatedPut(alice, id, { description: 'two of the security team' });

    const outsider = await approve(bob, arId);
    expect(outsider.status).toBe(403);
    expect(outsider.body.message).toContain(securityRole);

    const first = await approve(carol, arId);
    expect({ status: first.status, message: first.body.message }).toEqual({ status: 200, message: undefined });
    expect(first.body).toMatchObject({ state: 'pending', remaining_approvals: 1 });
    expect((await stored(id)).description).toBe('before');
    expect((await approve(carol, arId)).status).toBe(409);

    const second = await approve(dave, arId);
    expect(second.status).toBe(200);
    expect(second.body.state).toBe('approved');
    expect((await stored(id)).description).toBe('two of the security team');
    const applied = (await audit(id)).filter((a) => a.action === 'profile.edit_applied');
    expect(applied.map((a) => a.actor)).toEqual([dave.id]);
  });

  it('approval that can no longer apply (name taken meanwhile) is a 409 and the request stays pending', async () => {
    const id = await newProfile({ requires_approval: true });
    const wanted = `wanted-${tag}`;
    const arId = await gatedPut(alice, id, { name: wanted });
    await newProfile({ name: wanted });
    const res = await approve(bob, arId);
    expect(res.status).toBe(409);
    expect(res.body.message).toContain(wanted);
    expect((await request(arId)).state).toBe('pending');
    expect((await stored(id)).name).toBe(id);
    expect((await reject(bob, arId, 'name gone')).status).toBe(200);
  });
});

describe('profile edits with CERTCTL_APPROVAL_BYPASS=true', () => {
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');

  beforeAll(async () => {
    t = await createTestApp({ CERTCTL_APPROVAL_BYPASS: 'true' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('applies a gated edit at once (200), recorded as approved by system-bypass', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const id = `prof-pe-bypass-${tag}`;
    const created = await t.http
      .post('/api/v1/profiles')
      .set('Authorization', admin)
      .send({
        id,
        name: id,
        allowed_key_algorithms: [{ algorithm: 'RSA' }],
        max_ttl_seconds: 86_400,
        requires_approval: true,
      });
    expect(created.status).toBe(201);
    const res = await t.http
      .put(`/api/v1/profiles/${id}`)
      .set('Authorization', admin)
      .send({ requires_approval: false, description: 'bypassed' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, requires_approval: false, description: 'bypassed' });
    const requests: { id: string; state: string; decided_by: string }[] = await t.ds.query(
      `SELECT id, state, decided_by FROM approval_requests WHERE profile_id = $1`,
      [id],
    );
    expect(requests).toEqual([{ id: expect.any(String), state: 'approved', decided_by: 'system-bypass' }]);
    const rows: { action: string; actor: string }[] = await t.ds.query(
      `SELECT action, actor FROM audit_events WHERE category = 'domain' AND resource_id IN ($1, $2)
        ORDER BY created_at, id`,
      [id, requests[0].id],
    );
    // The request and the edit share one transaction (one created_at): compare as a set.
    expect(rows.map((r) => `${r.action} by ${r.actor}`).sort()).toEqual([
      'approval_bypassed by system-bypass',
      'profile.edit_applied by system-bypass',
      expect.stringMatching(/^profile_created by /),
    ]);
  });
});
