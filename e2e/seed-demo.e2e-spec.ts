import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HttpsClient } from './support/https';
import { cleanupAll, REPO_ROOT, startServer, type ServerProcess } from './support/server-process';

/** `npm run seed:demo` (its built CLI) fills a fresh installation through the API, idempotently. */

afterAll(cleanupAll, 60_000);

function seed(server: ServerProcess): { code: number | null; out: string } {
  const run = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/apps/server/apps/server/src/cli/seed-demo.js')], {
    env: {
      PATH: process.env.PATH,
      CERTCTL_DATABASE_URL: server.databaseUrl,
      CERTCTL_REDIS_PREFIX: server.redisPrefix,
      CERTCTL_LOG_LEVEL: 'silent',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, out: `${run.stdout}${run.stderr}` };
}

test('seeds teams, owners, issuers, agents, targets and 30 certificates in several states, once', async () => {
  const server = await startServer();
  const first = seed(server);
  expect(first).toEqual({ code: 0, out: expect.stringMatching(/demo inventory: \d+ created, 0 already present/) });
  const second = seed(server);
  expect(second).toEqual({ code: 0, out: expect.stringMatching(/demo inventory: 0 created, \d+ already present/) });

  const api = new HttpsClient(server.port, server.caFile!);
  const auth = { bearer: server.adminKey! };
  const certs = await api.get('/api/v1/certificates?per_page=100', auth);
  expect(certs.status).toBe(200);
  expect(certs.json.total).toBe(30);
  const statuses = new Set((certs.json.data as { status: string }[]).map((c) => c.status));
  expect([...statuses].sort()).toEqual(['Active', 'Expired', 'Expiring', 'Failed', 'Pending']);
  for (const [path, n] of [
    ['/api/v1/teams', 3],
    ['/api/v1/owners', 5],
    ['/api/v1/issuers', 2],
    ['/api/v1/agents', 3],
    ['/api/v1/targets', 4],
    ['/api/v1/profiles', 2],
  ] as const) {
    expect({ path, total: (await api.get(path, auth)).json.total }).toEqual({ path, total: n });
  }
  // the temporary seeding key is revoked afterwards
  const keys = await api.get('/api/v1/auth/keys?include_revoked=true', auth);
  const seedKey = (keys.json.data as { name: string; revoked_at: string | null }[]).find((k) => k.name === 'demo-seed');
  expect(seedKey?.revoked_at).toEqual(expect.any(String));
});
