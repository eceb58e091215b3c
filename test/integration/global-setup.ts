import { randomBytes } from 'node:crypto';
import { ensureDatabaseExists, runMigrationsLocked } from '../../apps/server/src/database/database-bootstrap';

/**
 * One database and one Redis key prefix per test run: created and migrated once here,
 * dropped in global-teardown. Test files read them from the environment.
 */
export default async function globalSetup(): Promise<void> {
  const suffix = randomBytes(5).toString('hex');
  const base = process.env.CERTCTL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = new URL(base);
  url.pathname = `/certctl_test_${suffix}`;
  process.env.CERTCTL_TEST_DATABASE_URL = url.toString();
  process.env.CERTCTL_TEST_REDIS_PREFIX = `certctl_test_${suffix}`;
  await ensureDatabaseExists(url.toString());
  await runMigrationsLocked(url.toString());
}
