import { randomBytes } from 'node:crypto';
import { AGENT_BOOTSTRAP_MAX_FAILURES } from '../auth/agent-bootstrap';
import { RedisService } from '../redis/redis.service';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';

/**
 * Agent self-enrollment with CERTCTL_AGENT_BOOTSTRAP_TOKEN on POST /api/v1/agents: the token
 * (as the bearer) registers an agent and returns its own id and key; wrong or missing
 * credentials are 401 and counted per source address in Redis (429 past the limit).
 */
describe('agent registration with CERTCTL_AGENT_BOOTSTRAP_TOKEN', () => {
  const TOKEN = `agent-enroll-${randomBytes(12).toString('hex')}`;
  const tag = randomBytes(3).toString('hex');
  const bearer = (key: string) => `Bearer ${key}`;
  let t: TestApp;
  let redis: RedisService;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp({
      CERTCTL_AGENT_BOOTSTRAP_TOKEN: TOKEN,
      // A prefix of its own: the failure counters below must not meet other test files' requests.
      CERTCTL_REDIS_PREFIX: `${process.env.CERTCTL_TEST_REDIS_PREFIX}:agentboot-${tag}`,
    });
    redis = t.app.get(RedisService);
    admin = bearer((await t.mintKey(['admin'])).key);
  });
  afterAll(async () => {
    await t.close();
  });
  /** Clears this address's failure counter between tests. */
  const resetFailures = async () => {
    const keys = await redis.client.keys(redis.key('agent-bootstrap-fail', '*'));
    if (keys.length) await redis.client.del(...keys);
  };
  beforeEach(resetFailures);

  const register = (body: object, auth?: string) => {
    const req = t.http.post('/api/v1/agents');
    if (auth !== undefined) req.set('Authorization', auth);
    return req.send(body);
  };
  const domainAudit = (id: string): Promise<{ action: string; actor: string; details: Record<string, unknown> }[]> =>
    t.ds.query(
      `SELECT action, actor, details FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at`,
      [id],
    );

  it('registers an agent with the token and returns its own id and agent-role key, audited', async () => {
    const res = await register({ name: `boot-${tag}`, hostname: `boot.${tag}.internal` }, bearer(TOKEN));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^ag-/),
      name: `boot-${tag}`,
      api_key: expect.stringMatching(/^cc_/),
    });
    const id: string = res.body.id;
    const [key] = await t.ds.query(
      `SELECT k.actor_id, k.actor_type, k.created_by FROM agents a JOIN api_keys k ON k.id = a.api_key_id
        WHERE a.id = $1`,
      [id],
    );
    expect(key).toEqual({ actor_id: id, actor_type: 'Agent', created_by: 'agent-bootstrap-token' });
    expect(await t.ds.query(`SELECT role_id FROM actor_roles WHERE actor_id = $1`, [id])).toEqual([
      { role_id: 'role-agent' },
    ]);
    const audit = await domainAudit(id);
    expect(audit).toEqual([
      {
        action: 'agent_registered',
        actor: 'agent-bootstrap-token',
        details: expect.objectContaining({
          name: `boot-${tag}`,
          via: 'agent_bootstrap_token',
          source_ip: expect.stringContaining('127.0.0.1'),
        }),
      },
    ]);
    // The token itself is nowhere in the audit trail.
    const leaked = await t.ds.query(`SELECT count(*)::int AS n FROM audit_events WHERE details::text LIKE $1`, [
      `%${TOKEN}%`,
    ]);
    expect(leaked[0].n).toBe(0);
  });

  it('answers 409 for the name of an active agent (the token registers a name once)', async () => {
    const first = await register({ name: `once-${tag}` }, bearer(TOKEN));
    expect(first.status).toBe(201);
    const again = await register({ name: `once-${tag}` }, bearer(TOKEN));
    expect(again.status).toBe(409);
    expect(again.body.message).toContain(`once-${tag}`);
    expect(await t.ds.query(`SELECT id FROM agents WHERE name = $1`, [`once-${tag}`])).toHaveLength(1);
  });

  it('refuses a wrong token and a missing credential with 401, registering nothing', async () => {
    const wrong = await register({ name: `wrong-${tag}` }, bearer(`${TOKEN}x`));
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toContain('invalid agent bootstrap token or API key');
    const missing = await register({ name: `wrong-${tag}` });
    expect(missing.status).toBe(401);
    expect(missing.body.message).toContain('agent bootstrap token');
    const basicScheme = await register({ name: `wrong-${tag}` }, `Basic ${TOKEN}`);
    expect(basicScheme.status).toBe(401);
    expect(await t.ds.query(`SELECT id FROM agents WHERE name = $1`, [`wrong-${tag}`])).toEqual([]);
  });

  it('is valid on registration only: the token is no API key elsewhere', async () => {
    expect((await t.http.get('/api/v1/agents').set('Authorization', bearer(TOKEN))).status).toBe(401);
    expect((await t.http.get('/api/v1/auth/me').set('Authorization', bearer(TOKEN))).status).toBe(401);
  });

  it('still registers with an admin key; a key without agent.edit gets 403', async () => {
    const byAdmin = await register({ name: `admin-made-${tag}` }, admin);
    expect(byAdmin.status).toBe(201);
    const audit = await domainAudit(byAdmin.body.id);
    expect(audit[0].details).toMatchObject({ via: 'api_key' });
    const viewer = bearer((await t.mintKey(['viewer'])).key);
    expect((await register({ name: `viewer-made-${tag}` }, viewer)).status).toBe(403);
  });

  it('gives the agent a key that can act only as itself', async () => {
    const a = (await register({ name: `self-a-${tag}` }, bearer(TOKEN))).body as { id: string; api_key: string };
    const b = (await register({ name: `self-b-${tag}` }, bearer(TOKEN))).body as { id: string; api_key: string };
    const asA = bearer(a.api_key);
    const beat = (id: string) =>
      t.http.post(`/api/v1/agents/${id}/heartbeat`).set('Authorization', asA).send({ os: 'linux', hostname: 'a' });
    expect((await beat(a.id)).status).toBe(200);
    expect((await beat(b.id)).status).toBe(403);
    expect((await t.http.get(`/api/v1/agents/${a.id}/work`).set('Authorization', asA)).status).toBe(200);
    expect((await t.http.get(`/api/v1/agents/${b.id}/work`).set('Authorization', asA)).status).toBe(403);
    // An agent cannot register further agents, nor reach operator routes.
    expect((await register({ name: `spawned-${tag}` }, asA)).status).toBe(403);
    expect((await t.http.get('/api/v1/certificates').set('Authorization', asA)).status).toBe(403);
    expect((await t.http.delete(`/api/v1/agents/${b.id}`).set('Authorization', asA)).status).toBe(403);
  });

  it('locks an address out after repeated failures (429 with Retry-After, even for the right token), audited once', async () => {
    for (let i = 0; i < AGENT_BOOTSTRAP_MAX_FAILURES; i++) {
      const r = await register({ name: `guess-${tag}` }, bearer(`guess-${i}-${tag}`));
      expect({ attempt: i, status: r.status }).toEqual({ attempt: i, status: 401 });
    }
    const over = await register({ name: `guess-${tag}` }, bearer(`guess-x-${tag}`));
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.body.message).toContain('too many failed agent registration credentials');

    const right = await register({ name: `locked-${tag}` }, bearer(TOKEN));
    expect(right.status).toBe(429);
    expect(await t.ds.query(`SELECT id FROM agents WHERE name = $1`, [`locked-${tag}`])).toEqual([]);
    // An API key stays usable from the address (guessing keys is pointless; they are 256-bit).
    expect((await register({ name: `admin-during-lockout-${tag}` }, admin)).status).toBe(201);

    const lockouts = await eventually(async () => {
      const rows: { details: Record<string, unknown> }[] = await t.ds.query(
        `SELECT details FROM audit_events WHERE action = 'agent_bootstrap_locked_out' AND created_at > now() - interval '1 minute'`,
      );
      return rows.length ? rows : undefined;
    });
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0].details).toMatchObject({ failures: AGENT_BOOTSTRAP_MAX_FAILURES });

    // The counter lives in Redis (shared by replicas): clearing it ends the lockout.
    await resetFailures();
    expect((await register({ name: `locked-${tag}` }, bearer(TOKEN))).status).toBe(201);
  });
});

describe('agent registration without CERTCTL_AGENT_BOOTSTRAP_TOKEN', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('accepts API keys only; any other bearer is 401', async () => {
    const r = await t.http
      .post('/api/v1/agents')
      .set('Authorization', 'Bearer agent-enroll-not-configured-0000')
      .send({ name: `no-token-${randomBytes(3).toString('hex')}` });
    expect(r.status).toBe(401);
    expect(r.body.message).toContain('invalid, revoked or expired API key');
  });
});
