import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('GET /api/v1/metrics/prometheus', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('exposes process metrics and request durations by route template and status', async () => {
    const { key } = await t.mintKey(['operator']);
    await t.http.get('/api/v1/audit/some-id').set('Authorization', `Bearer ${key}`);
    const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', `Bearer ${key}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('certctl_process_cpu_user_seconds_total');
    expect(res.text).toMatch(
      /certctl_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/audit\/:id",status="404"\} 1/,
    );
    // unknown paths never become a label of their own
    await t.http.get('/api/v1/no/such/path/x1').set('Authorization', `Bearer ${key}`);
    const after = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', `Bearer ${key}`);
    expect(after.text).toContain('route="unmatched",status="404"');
    expect(after.text).not.toContain('x1');
  });

  it('documents every certctl metric family it exposes in docs/operations.md', async () => {
    const { key } = await t.mintKey(['operator']);
    const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', `Bearer ${key}`);
    const families = [...res.text.matchAll(/^# TYPE (certctl_\w+) /gm)]
      .map((m) => m[1])
      // prom-client's default process and Node.js metrics are documented as a group.
      .filter((name) => !/^certctl_(process|nodejs)_/.test(name));
    expect(families.length).toBeGreaterThan(10);
    const doc = readFileSync(join(__dirname, '../../../../docs/operations.md'), 'utf8');
    // Named in code style, alone or with its labels: `certctl_x` or `certctl_x{label}`.
    expect(families.filter((name) => !new RegExp(`\`${name}[\`{]`).test(doc))).toEqual([]);
  });

  it('requires metrics.read', async () => {
    const { key } = await t.mintKey(['agent']);
    expect((await t.http.get('/api/v1/metrics/prometheus').set('Authorization', `Bearer ${key}`)).status).toBe(403);
  });
});

describe('readiness', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('reports Postgres and Redis up', async () => {
    const res = await t.http.get('/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { postgres: 'up', redis: 'up' } });
  });
});

describe('rate limiting shared through Redis', () => {
  let a: TestApp;
  let b: TestApp;
  const env = {
    CERTCTL_RATE_LIMIT_ENABLED: 'true',
    CERTCTL_RATE_LIMIT_BURST: '1000',
    CERTCTL_RATE_LIMIT_PER_USER_BURST: '3',
  };
  beforeAll(async () => {
    a = await createTestApp(env);
    b = await createTestApp(env); // a second replica on the same Redis
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('counts one credential across replicas and answers 429 with Retry-After', async () => {
    const { key } = await a.mintKey(['viewer']);
    const statuses: number[] = [];
    // all inside one 1-second window: two calls on each replica
    for (const t of [a, b, a, b]) {
      statuses.push((await t.http.get('/api/v1/version').set('Authorization', `Bearer ${key}`)).status);
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses[3]).toBe(429);
    const limited = await a.http.get('/api/v1/version').set('Authorization', `Bearer ${key}`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.body.error).toBe('Too Many Requests');
  });
});
