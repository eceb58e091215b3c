import { HttpsClient } from './support/https';
import { RedisProcess } from './support/redis-process';
import { cleanupAll, startServer, type ServerProcess } from './support/server-process';
import { freePort, isListening, pollUntil, tail } from './support/util';

/**
 * A Redis outage degrades readiness only: the server keeps serving what needs Postgres
 * alone, stays alive, and becomes ready again when Redis comes back (no restart).
 */

let redis: RedisProcess;
let srv: ServerProcess;
let api: HttpsClient;

beforeAll(async () => {
  redis = await RedisProcess.start(await freePort());
  srv = await startServer({ env: { CERTCTL_REDIS_URL: redis.url } });
  api = new HttpsClient(srv.port, srv.caFile!);
}, 60_000);

afterAll(cleanupAll, 60_000);

const alive = () => ({ running: srv.isRunning(), stderr: tail(srv.stderr(), 1_500) });

test('ready with the private Redis', async () => {
  const r = await pollUntil(
    '/ready 200',
    () => api.get('/ready'),
    (x) => x.status === 200,
    { timeoutMs: 10_000 },
  );
  expect(r.json.checks).toEqual({ postgres: 'up', redis: 'up' });
});

test('Redis killed: /ready 503 naming redis, /health and authenticated API still 200, process alive', async () => {
  await redis.kill();
  expect(await isListening(redis.port)).toBe(false);

  const r = await pollUntil(
    '/ready 503 while Redis is down',
    () => api.get('/ready'),
    (x) => x.status === 503,
    {
      timeoutMs: 15_000,
    },
  );
  expect(r.json.status).toBe('unavailable');
  expect(r.json.checks.postgres).toBe('up');
  expect(r.json.checks.redis).toMatch(/^down/);
  expect(r.json.message).toMatch(/redis/i);
  expect(r.headers['cache-control']).toBe('no-store');

  const health = await api.get('/health');
  expect(health.status).toBe(200);
  expect(health.json).toEqual({ status: 'ok' });

  const me = await api.get('/api/v1/auth/me', { bearer: srv.adminKey });
  expect(me.status).toBe(200);
  expect(me.json.roles).toEqual(['admin']);

  // Still down, still answering: the second check is not served from a stale cache.
  const again = await api.get('/ready');
  expect(again.status).toBe(503);
  expect(alive()).toMatchObject({ running: true });
});

test('Redis restarted on the same port: /ready returns to 200 without a server restart', async () => {
  await redis.restart();
  const r = await pollUntil(
    '/ready 200 after Redis restart',
    () => api.get('/ready'),
    (x) => x.status === 200,
    {
      timeoutMs: 20_000,
    },
  );
  expect(r.json.checks).toEqual({ postgres: 'up', redis: 'up' });
  expect((await api.get('/api/v1/auth/me', { bearer: srv.adminKey })).status).toBe(200);
  expect(alive()).toMatchObject({ running: true });
});
