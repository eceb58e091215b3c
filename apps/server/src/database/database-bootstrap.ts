import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../../../../migrations/data-source';

/** Arbitrary constant: the advisory lock every replica takes around migrations. */
const MIGRATION_LOCK_KEY = 0x6365_7274; // "cert"

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error('CERTCTL_DATABASE_URL names no database');
  return name;
}

/** Creates the configured database when it does not exist (two replicas may race: fine). */
export async function ensureDatabaseExists(url: string): Promise<boolean> {
  const name = databaseName(url);
  // Usually it exists: check by connecting to it, so a role that may not connect to the
  // `postgres` maintenance database (managed Postgres) still boots.
  const probe = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
    return false;
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') throw e; // 3D000: database does not exist
  } finally {
    await probe.end().catch(() => undefined);
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      return true;
    } catch (e) {
      // A sibling replica created it first: 42P04, or 23505 when both raced inside pg_database.
      const code = (e as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw e;
    }
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations under a Postgres advisory lock so replicas starting together
 * migrate once; the others wait, then find nothing to do. Returns the names applied.
 */
export async function runMigrationsLocked(url: string): Promise<string[]> {
  const ds = new DataSource(buildDataSourceOptions(url, { maxConnections: 2, applicationName: 'certctl-migrate' }));
  await ds.initialize();
  const lock = ds.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lock.release();
    await ds.destroy();
  }
}
