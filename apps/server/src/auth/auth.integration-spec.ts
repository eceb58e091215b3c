import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('authentication and authorization (real Postgres + Redis)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 401 with the error shape when no credential is sent', async () => {
    const res = await t.http.get('/api/v1/auth/me').set('X-Request-ID', 'req-abcdef-123');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      error: 'Unauthorized',
      message: expect.stringContaining('Authorization: Bearer'),
      request_id: 'req-abcdef-123',
    });
    expect(res.headers['x-request-id']).toBe('req-abcdef-123');
  });

  it('answers 401 for an unknown key and for a malformed Authorization header', async () => {
    expect((await t.http.get('/api/v1/auth/me').set('Authorization', 'Bearer cc_nope')).status).toBe(401);
    expect((await t.http.get('/api/v1/auth/me').set('Authorization', 'Basic Zm9vOmJhcg==')).status).toBe(401);
  });

  it('returns the admin principal with every permission', async () => {
    const { key, id } = await t.mintKey(['admin']);
    const res = await t.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${key}`);
    expect(res.status).toBe(200);
    expect(res.body.actor_id).toBe(id);
    expect(res.body.roles).toEqual(['admin']);
    expect(res.body.permissions).toHaveLength(82);
  });

  it('denies a key whose roles lack the permission (403 naming it)', async () => {
    const { key } = await t.mintKey(['agent']);
    const res = await t.http.get('/api/v1/audit').set('Authorization', `Bearer ${key}`);
    expect(res.status).toBe(403);
    expect(res.body.message).toContain('audit.read');
  });

  it('stops accepting a revoked key', async () => {
    const { key, id } = await t.mintKey(['viewer']);
    expect((await t.http.get('/api/v1/auth/check').set('Authorization', `Bearer ${key}`)).status).toBe(200);
    await t.ds.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [id]);
    expect((await t.http.get('/api/v1/auth/check').set('Authorization', `Bearer ${key}`)).status).toBe(401);
  });

  it('reports a single permission through /auth/check', async () => {
    const { key } = await t.mintKey(['viewer']);
    const ok = await t.http.get('/api/v1/auth/check?permission=cert.read').set('Authorization', `Bearer ${key}`);
    expect(ok.body).toMatchObject({ authenticated: true, permission: 'cert.read', allowed: true });
    const no = await t.http.get('/api/v1/auth/check?permission=cert.revoke').set('Authorization', `Bearer ${key}`);
    expect(no.body).toMatchObject({ allowed: false });
  });
});
