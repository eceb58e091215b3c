import type { NestExpressApplication } from '@nestjs/platform-express';
import { Client } from 'pg';
import supertest from 'supertest';
import { DataSource } from 'typeorm';
import { IdPrefix, newId, type BuiltinRole } from '@certctl/domain';
import { displayPrefix, generateApiKey, hashApiKey } from '../../apps/server/src/auth/api-key';
import { AuthRepository } from '../../apps/server/src/auth/auth.repository';
import { loadConfig, type AppConfig } from '../../apps/server/src/config/config.schema';
import { createServerApp, type ServerTlsOptions } from '../../apps/server/src/server-app';
import { ensureDatabaseExists, runMigrationsLocked } from '../../apps/server/src/database/database-bootstrap';
import { deleteRedisPrefix } from './global-teardown';

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  http: ReturnType<typeof supertest>;
  ds: DataSource;
  /** Mints an API key whose actor holds the given built-in roles. */
  mintKey(roles: BuiltinRole[], name?: string): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
}

/** The sealing key of every app on the run's shared database (see createTestApp). */
export const SHARED_DATABASE_KEY = { CERTCTL_CONFIG_ENCRYPTION_KEY: 'pki-test-encryption-key-0123456789abcdef' };

/**
 * The real server app (real Postgres and Redis of this test run), in-process and listening
 * on a loopback port (plain HTTP unless `tls`) for supertest.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  /** `tls`: serve HTTPS; supertest then trusts `tls.ca`. */
  opts: { beforeInit?: (app: NestExpressApplication) => void; tls?: ServerTlsOptions & { ca: string } } = {},
): Promise<TestApp> {
  const dbUrl = process.env.CERTCTL_TEST_DATABASE_URL;
  const prefix = process.env.CERTCTL_TEST_REDIS_PREFIX;
  if (!dbUrl || !prefix) throw new Error('integration globalSetup did not run');
  const config = loadConfig({
    CERTCTL_DATABASE_URL: dbUrl,
    CERTCTL_REDIS_PREFIX: prefix,
    // The run's shared database soon holds sealed rows (CA keys, EAB keys), and the boot check
    // refuses to start without the key that opens them: every app on it seals with one key, as
    // the replicas of a deployment do. A test about key-less behaviour uses a private database
    // (createPrivateDatabase) and boots its key-less app there.
    ...(env.CERTCTL_DATABASE_URL ? {} : SHARED_DATABASE_KEY),
    // CERTCTL_TEST_LOG=debug shows the server's logs while debugging a test
    CERTCTL_LOG_LEVEL: process.env.CERTCTL_TEST_LOG ?? 'silent',
    ...env,
  });
  const app = await createServerApp(config, opts.tls, process.env.CERTCTL_TEST_LOG ? {} : { logger: false });
  opts.beforeInit?.(app);
  await app.init();
  // Listening once here matters: given a server that is not listening, supertest binds a
  // fresh ephemeral port for every request (a third of a 10,000-request fuzz's time).
  await app.listen(0, '127.0.0.1');
  const ds = app.get(DataSource);
  const repo = app.get(AuthRepository);
  return {
    app,
    config,
    http: opts.tls ? supertest.agent(app.getHttpServer(), { ca: opts.tls.ca }) : supertest(app.getHttpServer()),
    ds,
    async mintKey(roles, name = 'test-key') {
      const key = generateApiKey();
      const id = newId(IdPrefix.ApiKey);
      await repo.transaction((m) =>
        repo.insertKeyWithRoles(
          m,
          {
            id,
            name,
            actorId: id,
            actorType: 'ApiKey',
            keyHash: hashApiKey(key),
            keyPrefix: displayPrefix(key),
            createdBy: 'test',
            expiresAt: null,
          },
          roles.map((r) => `role-${r}`),
          'test',
        ),
      );
      return { id, key };
    },
    close: () => app.close(),
  };
}

/** Polls until `probe` returns a value that is not undefined (bounded). */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface PrivateDatabase {
  /** Env for createTestApp: the database URL and a Redis prefix of its own. */
  env: Record<string, string>;
  /** Drops the database (WITH FORCE) and deletes the Redis prefix. */
  drop(): Promise<void>;
}

/**
 * A migrated database (and Redis key prefix) of one test file's own, beside the run's
 * shared one: for tests that need an empty table (the last admin key) or rows that would
 * disturb every other test app (sealed secrets make key-less apps refuse to boot).
 */
export async function createPrivateDatabase(suffix: string): Promise<PrivateDatabase> {
  const base = process.env.CERTCTL_TEST_DATABASE_URL;
  const prefix = process.env.CERTCTL_TEST_REDIS_PREFIX;
  if (!base || !prefix) throw new Error('integration globalSetup did not run');
  const url = new URL(base);
  const name = `${url.pathname.slice(1)}_${suffix}`;
  url.pathname = `/${name}`;
  await ensureDatabaseExists(url.toString());
  await runMigrationsLocked(url.toString());
  const redisPrefix = `${prefix}:${suffix}`;
  return {
    env: { CERTCTL_DATABASE_URL: url.toString(), CERTCTL_REDIS_PREFIX: redisPrefix },
    async drop() {
      const admin = new URL(url);
      admin.pathname = '/postgres';
      const c = new Client({ connectionString: admin.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
      await c.end();
      await deleteRedisPrefix(process.env.CERTCTL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', redisPrefix);
    },
  };
}
