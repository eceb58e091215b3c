import Redis from 'ioredis';
import { Client } from 'pg';

export default async function globalTeardown(): Promise<void> {
  const dbUrl = process.env.CERTCTL_TEST_DATABASE_URL;
  const prefix = process.env.CERTCTL_TEST_REDIS_PREFIX;
  if (dbUrl) {
    const admin = new URL(dbUrl);
    const name = admin.pathname.slice(1);
    admin.pathname = '/postgres';
    const c = new Client({ connectionString: admin.toString() });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.end();
  }
  if (prefix) await deleteRedisPrefix(process.env.CERTCTL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
}

export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}
