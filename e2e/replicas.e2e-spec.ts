import { randomBytes } from 'node:crypto';
import { HttpsClient } from './support/https';
import { cleanupAll, randomName, startServer } from './support/server-process';

/**
 * Two replicas started at the same moment on one fresh database: the database is created
 * once, migrations run once under the advisory lock, exactly one prints an admin key.
 */

afterAll(cleanupAll, 60_000);

test('two replicas on the same fresh database both come up; exactly one prints the admin key', async () => {
  const dbName = randomName();
  // Replicas share one sealing key (a key generated per data dir is for a single node only).
  const env = { CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-replicas-key-${randomBytes(16).toString('hex')}` };
  const replicas = await Promise.all([startServer({ dbName, env }), startServer({ dbName, env })]);
  const [one, two] = replicas;
  expect(one.port).not.toBe(two.port);
  expect(one.dataDir).not.toBe(two.dataDir);

  const count = (re: RegExp) => replicas.filter((r) => re.test(r.stdout())).length;
  expect(count(/created database/)).toBe(1);
  expect(count(/applied migrations: \S/)).toBe(1);
  expect(count(/Initial admin API key/)).toBe(1);
  const keys = replicas.map((r) => r.adminKey).filter((k): k is string => !!k);
  expect(keys).toHaveLength(1);

  // Both serve the same database: the one key works on either replica.
  for (const r of replicas) {
    const api = new HttpsClient(r.port, r.caFile!);
    expect((await api.get('/ready')).status).toBe(200);
    const me = await api.get('/api/v1/auth/me', { bearer: keys[0] });
    expect(me.status).toBe(200);
    expect(me.json.roles).toEqual(['admin']);
  }
  await Promise.all(replicas.map((r) => r.stop()));
});
