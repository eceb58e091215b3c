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
      if ((e as { code?: string }).code === '42P04') return false; // created by a sibling replica
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
