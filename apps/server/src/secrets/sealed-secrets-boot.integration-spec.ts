import { DataSource } from 'typeorm';
import { createPrivateDatabase, createTestApp, type PrivateDatabase } from '../../../../test/integration/test-app';
import { CaStore } from '../ca/ca-store';
import { loadConfig } from '../config/config.schema';
import { createServerApp } from '../server-app';
import { SecretBox, SecretDecryptError, SecretKeyMissingError } from './secret-box';
import { SEALED_COLUMNS, SealedSecretsBootCheck, type SealedColumn } from './secrets.module';

const KEY_A = 'sealed-boot-check-passphrase-A-0123456789abcdef';
const KEY_B = 'sealed-boot-check-passphrase-B-0123456789abcdef';

/** The error a server app's boot ends with; the half-started app is closed (no leaked pools). */
async function bootError(env: Record<string, string>): Promise<unknown> {
  const config = loadConfig({
    CERTCTL_DATABASE_URL: process.env.CERTCTL_TEST_DATABASE_URL!,
    CERTCTL_REDIS_PREFIX: process.env.CERTCTL_TEST_REDIS_PREFIX!,
    CERTCTL_LOG_LEVEL: 'silent',
    ...env,
  });
  const app = await createServerApp(config, undefined, { logger: false });
  try {
    await app.init();
    return undefined;
  } catch (e) {
    return e;
  } finally {
    await app.close().catch(() => undefined);
  }
}

/**
 * A server booted with the wrong CERTCTL_CONFIG_ENCRYPTION_KEY (or none) must refuse to start
 * whatever table holds the sealed data, not start `ready` and fail at the first use. Each
 * block runs on a database of its own: sealed rows would stop the other test apps' boots.
 */
describe('sealed secrets boot check', () => {
  describe('a server whose only sealed data is a generated Local CA', () => {
    let db: PrivateDatabase;
    beforeAll(async () => {
      db = await createPrivateDatabase('sealed_boot');
      const t = await createTestApp({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY_A });
      try {
        const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
        const res = await t.http
          .post('/api/v1/issuers')
          .set('Authorization', admin)
          .send({ id: 'iss-boot-local', name: 'Boot check Local CA', type: 'LocalCA' });
        expect(res.status).toBe(201);
        // The root is generated (its key sealed) on first use.
        const store = t.app.get(CaStore);
        await store.top(await store.issuer('iss-boot-local'));
        const sealed = await t.ds.query(`SELECT id FROM issuer_cas WHERE sealed_key IS NOT NULL`);
        expect(sealed).toHaveLength(1);
        // Nothing else is sealed: the issuer itself has no secret config.
        expect(await t.ds.query(`SELECT id FROM issuers WHERE secret_config IS NOT NULL`)).toEqual([]);
      } finally {
        await t.close();
      }
    }, 90_000);
    afterAll(() => db?.drop());

    it('refuses to boot with another key, naming the table', async () => {
      const e = await bootError({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY_B });
      expect(e).toBeInstanceOf(SecretDecryptError);
      expect((e as Error).message).toMatch(/issuer_cas\.sealed_key .*wrong CERTCTL_CONFIG_ENCRYPTION_KEY/);
    });

    it('refuses to boot without a key, naming the table', async () => {
      const e = await bootError(db.env);
      expect(e).toBeInstanceOf(SecretKeyMissingError);
      expect((e as Error).message).toMatch(/issuer_cas\.sealed_key.*needs CERTCTL_CONFIG_ENCRYPTION_KEY/);
    });

    it('boots with the right key', async () => {
      const t = await createTestApp({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY_A });
      try {
        expect((await t.http.get('/ready')).status).toBe(200);
      } finally {
        await t.close();
      }
    });
  });

  describe('every sealed column', () => {
    let db: PrivateDatabase;
    let ds: DataSource;
    beforeAll(async () => {
      db = await createPrivateDatabase('sealed_cols');
      ds = await new DataSource({ type: 'postgres', url: db.env.CERTCTL_DATABASE_URL }).initialize();
    }, 60_000);
    afterAll(async () => {
      await ds?.destroy();
      await db?.drop();
    });

    it('lists every column of sealed data in the schema', async () => {
      const bytea: { table_name: string; column_name: string }[] = await ds.query(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND data_type = 'bytea' AND column_name ~ '(seal|secret)'
          ORDER BY 1, 2`,
      );
      expect(bytea.map((c) => `${c.table_name}.${c.column_name}`)).toEqual(
        SEALED_COLUMNS.map((c) => `${c.table}.${c.column}`).sort(),
      );
    });

    /** Minimal rows (foreign keys off for the session): only the sealed column and the context matter. */
    const ROWS: Record<string, Record<string, unknown>> = {
      issuers: { id: 'iss-s', name: 'sealed', type: 'VaultPKI', secret_fields: ['token'] },
      deployment_targets: { id: 'tgt-s', name: 'sealed', type: 'SSH', secret_fields: ['password'] },
      issuer_cas: { id: 'ca-s', issuer_id: 'iss-x', source: 'generated', subject: 'CN=x', serial_number: '01',
        fingerprint_sha256: 'f', cert_pem: 'pem', key_algorithm: 'ECDSA-P256', not_before: new Date(), not_after: new Date() }, // prettier-ignore
      ocsp_responders: { id: 'ocsp-s', ca_id: 'ca-x', cert_pem: 'pem', not_before: new Date(), not_after: new Date() },
      scep_ra_keys: { label: 'lab', cert_pem: 'pem', fingerprint_sha256: 'f', not_after: new Date() },
      acme_eab_keys: { kid: 'eab-s', created_by: 'test' },
      acme_client_accounts: { issuer_id: 'iss-x', directory_url: 'https://127.0.0.1:14000/dir' },
      certificate_versions: { id: 'cv-s', certificate_id: 'mc-x', serial_number: '01', fingerprint_sha256: 'f',
        pem_chain: 'pem', not_before: new Date(), not_after: new Date() }, // prettier-ignore
      issuer_orders: { job_id: 'job-s', certificate_id: 'mc-x', issuer_id: 'iss-x', order_id: 'o-1', version_id: 'cv-later',
        csr_pem: 'csr', key_algorithm: 'ECDSA-P256', key_size: 256, actor_id: 'a', actor_type: 'System',
        next_poll_at: new Date(), deadline_at: new Date() }, // prettier-ignore
    };

    /** Leaves exactly one sealed row in the database: in `col`'s table, sealed with `key`. */
    async function onlySealedRowIn(col: SealedColumn, key: string): Promise<string> {
      const row = ROWS[col.table];
      const context = col.context(Object.fromEntries(col.keys.map((k) => [k, String(row[k])])));
      const sealed = await new SecretBox(key).seal({ private_key_pem: 'x' }, context);
      const values = { ...row, [col.column]: sealed };
      const names = Object.keys(values);
      await ds.transaction(async (m) => {
        await m.query(`SET LOCAL session_replication_role = replica`);
        for (const c of SEALED_COLUMNS) await m.query(`DELETE FROM ${c.table}`);
        await m.query(
          `INSERT INTO ${col.table} (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`,
          Object.values(values),
        );
      });
      return context;
    }

    const check = (key: string | undefined) =>
      new SealedSecretsBootCheck(ds, new SecretBox(key)).onApplicationBootstrap();

    it.each(SEALED_COLUMNS.map((c) => [`${c.table}.${c.column}`, c] as const))(
      '%s: another key fails naming it, no key fails naming it, the right key passes',
      async (name, col) => {
        const context = await onlySealedRowIn(col, KEY_A);
        const wrong = check(KEY_B);
        await expect(wrong).rejects.toThrow(SecretDecryptError);
        await expect(wrong).rejects.toThrow(`cannot decrypt the sealed secrets of ${name} (${context})`);
        const none = check(undefined);
        await expect(none).rejects.toThrow(SecretKeyMissingError);
        await expect(none).rejects.toThrow(`existing sealed data in ${name}`);
        await expect(check(KEY_A)).resolves.toBeUndefined();
      },
    );

    it('passes on a database without sealed data, with or without a key', async () => {
      await ds.transaction(async (m) => {
        await m.query(`SET LOCAL session_replication_role = replica`);
        for (const c of SEALED_COLUMNS) await m.query(`DELETE FROM ${c.table}`);
      });
      await expect(check(undefined)).resolves.toBeUndefined();
      await expect(check(KEY_B)).resolves.toBeUndefined();
    });
  });
});
