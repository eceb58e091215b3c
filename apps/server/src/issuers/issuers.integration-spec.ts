import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { SecretBox } from '../secrets/secret-box';

const KEY = 'issuers-integration-passphrase-0123456789abcdef';
const tag = randomBytes(4).toString('hex');
const VAULT_TOKEN = `hvs.vault-token-${tag}-do-not-leak`;

/**
 * This file runs on a database of its own: sealed rows in the shared test database would
 * stop every other test app (booted without CERTCTL_CONFIG_ENCRYPTION_KEY) at its boot
 * check, and the key-less app here must boot while no sealed row exists. Its own Redis
 * prefix keeps its queued audit jobs away from the other apps' processors.
 */
describe('/api/v1/issuers', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let noKey: TestApp;
  let admin: string;
  let viewer: string;
  let agent: string;
  let dir: string;

  beforeAll(async () => {
    db = await createPrivateDatabase('issuers');
    noKey = await createTestApp(db.env); // before any sealed row exists
    t = await createTestApp({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY });
    admin = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    agent = `Bearer ${(await t.mintKey(['agent'])).key}`;
    dir = mkdtempSync(join(tmpdir(), 'certctl-issuers-'));
  }, 60_000);
  afterAll(async () => {
    await noKey?.close();
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (body: object, app: TestApp = t) =>
    app.http.post('/api/v1/issuers').set('Authorization', admin).send(body);
  const update = (id: string, body: object, app: TestApp = t) =>
    app.http.put(`/api/v1/issuers/${id}`).set('Authorization', admin).send(body);
  const get = (id: string) => t.http.get(`/api/v1/issuers/${id}`).set('Authorization', viewer);
  interface StoredRow {
    config: Record<string, unknown>;
    secret_config: Buffer | null;
    secret_fields: string[];
  }
  const stored = async (id: string) =>
    (await t.ds.query<StoredRow[]>(`SELECT config, secret_config, secret_fields FROM issuers WHERE id = $1`, [id]))[0];
  const auditActions = async (id: string) =>
    (
      await t.ds.query<{ action: string }[]>(
        `SELECT action FROM audit_events WHERE category = 'domain' AND resource_id = $1 ORDER BY created_at, id`,
        [id],
      )
    ).map((r) => r.action);
  const vault = {
    // Loopback, nothing listening: the connection test fails fast without leaving the machine.
    address: 'https://127.0.0.1:1',
    mount: 'pki_int',
    role: 'web',
  };

  describe('create', () => {
    it('creates a LocalCA with a generated id; the type is matched case-insensitively; audited', async () => {
      const res = await create({ name: `Local ${tag}`, type: 'localca', config: {} });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^iss-[a-z0-9]{12}$/),
        name: `Local ${tag}`,
        type: 'LocalCA',
        config: {},
        enabled: true,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      expect(await auditActions(res.body.id)).toEqual(['issuer_created']);
    });

    it('seals secrets: psql sees ciphertext only, the API sees "[REDACTED]"', async () => {
      const id = `iss-vault-${tag}`;
      const res = await create({
        id,
        name: `Vault ${tag}`,
        type: 'VAULTPKI',
        config: { ...vault, token: VAULT_TOKEN },
      });
      expect(res.status).toBe(201);
      expect(res.body.type).toBe('VaultPKI');
      expect(res.body.config).toEqual({ ...vault, token: '[REDACTED]' });

      const row = await stored(id);
      expect(row.config).toEqual(vault);
      expect(JSON.stringify(row.config)).not.toContain('vault-token');
      expect(row.secret_fields).toEqual(['token']);
      expect(Buffer.isBuffer(row.secret_config)).toBe(true);
      for (const enc of ['latin1', 'utf8', 'base64', 'hex'] as const) {
        expect(row.secret_config!.toString(enc)).not.toContain(VAULT_TOKEN);
      }
      await expect(new SecretBox(KEY).open(row.secret_config!, `issuers:${id}`)).resolves.toEqual({
        token: VAULT_TOKEN,
      });
      await expect(
        new SecretBox('a wrong passphrase that is long enough to be valid').open(row.secret_config!, `issuers:${id}`),
      ).rejects.toThrow(/cannot decrypt the sealed secrets of issuers:.*wrong CERTCTL_CONFIG_ENCRYPTION_KEY/);
      // bound to its row: the blob does not open as another issuer's
      await expect(new SecretBox(KEY).open(row.secret_config!, 'issuers:iss-other')).rejects.toThrow(/cannot decrypt/);

      const read = await get(id);
      expect(read.body.config.token).toBe('[REDACTED]');
      const list = await t.http.get(`/api/v1/issuers?q=${tag}&type=vaultpki`).set('Authorization', viewer);
      expect(list.body.data).toEqual([expect.objectContaining({ id, config: { ...vault, token: '[REDACTED]' } })]);
      expect(JSON.stringify(list.body)).not.toContain(VAULT_TOKEN);
      const audit = await t.ds.query(
        `SELECT details FROM audit_events WHERE category = 'domain' AND resource_id = $1`,
        [id],
      );
      expect(audit).toHaveLength(1);
      expect(JSON.stringify(audit)).not.toContain(VAULT_TOKEN);
      expect(audit[0].details).toMatchObject({ type: 'VaultPKI', secret_fields: ['token'] });
    });

    it('answers 409 on a duplicate id or name', async () => {
      const byId = await create({ id: `iss-vault-${tag}`, name: `Other ${tag}`, type: 'LocalCA' });
      expect(byId.status).toBe(409);
      const byName = await create({ name: `Vault ${tag}`, type: 'LocalCA' });
      expect(byName.status).toBe(409);
      expect(byName.body.message).toContain('already exists');
    });

    it.each([
      [
        { name: 'x', type: 'Vault' },
        /^body\.type: must be one of: LocalCA, ACME, StepCA, VaultPKI, .*OpenSSL \(case-insensitive\)$/,
      ],
      [{ name: 'x', type: 7 }, /^body\.type: must be one of: /],
      [{ name: 'x' }, /^body\.type: must be one of: /],
      [{ type: 'LocalCA' }, /^body\.name: /],
      [{ name: 'x', type: 'LocalCA', colour: 'red' }, /^body\.colour: unknown field$/],
      [{ name: 'x', type: 'LocalCA', config: [] }, /^body\.config: must be a JSON object$/],
      [{ name: 'x', type: 'LocalCA', enabled: 'yes' }, /^body\.enabled: /],
      [
        { name: 'x', type: 'LocalCA', config: { ca_cert_path: 'ca.pem' } },
        /^body\.config\.ca_cert_path: must be an absolute path/,
      ],
      [{ name: 'x', type: 'LocalCA', config: { colour: 'red' } }, /^body\.config\.colour: unknown field$/],
      [
        { name: 'x', type: 'ACME', config: { directory_url: 'http://acme.example/dir', email: 'a@example.com' } },
        /^body\.config\.directory_url: must be an https:\/\/ URL/,
      ],
      [
        { name: 'x', type: 'VaultPKI', config: { ...vault, token: '[REDACTED]' } },
        /^body\.config\.token: "\[REDACTED\]" stands for a stored secret, but none is stored/,
      ],
      [{ name: 'x', type: 'VaultPKI', config: vault }, /^body\.config\.token: is required unless AppRole/],
      [{ id: 'Bad Id', name: 'x', type: 'LocalCA' }, /^body\.id: /],
    ])('answers 400 naming the field for %j', async (body, message) => {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    });
  });

  describe('without CERTCTL_CONFIG_ENCRYPTION_KEY', () => {
    it('refuses configs with secret values (400 naming the key) and stores nothing', async () => {
      const name = `NoKey Vault ${tag}`;
      const res = await create({ name, type: 'VaultPKI', config: { ...vault, token: VAULT_TOKEN } }, noKey);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^body\.config\.token: is a secret; .*CERTCTL_CONFIG_ENCRYPTION_KEY/);
      expect(await t.ds.query(`SELECT id FROM issuers WHERE name = $1`, [name])).toEqual([]);
    });

    it('still stores configs without secrets, and refuses to add one on update', async () => {
      const res = await create({ name: `NoKey Local ${tag}`, type: 'LocalCA' }, noKey);
      expect(res.status).toBe(201);
      const acme = { directory_url: 'https://acme.example/dir', email: 'pki@example.com' };
      const toAcme = await update(
        res.body.id,
        { type: 'ACME', config: { ...acme, eab_kid: 'kid', eab_hmac_key: 'aG1hYw' } },
        noKey,
      );
      expect(toAcme.status).toBe(400);
      expect(toAcme.body.message).toMatch(/^body\.config\.eab_hmac_key: is a secret; .*CERTCTL_CONFIG_ENCRYPTION_KEY/);
      expect(await stored(res.body.id)).toEqual({ config: {}, secret_config: null, secret_fields: [] });
      expect((await get(res.body.id)).body.type).toBe('LocalCA');
    });

    it('reads sealed issuers (redacted) but cannot re-validate their secrets: 503', async () => {
      const read = await noKey.http.get(`/api/v1/issuers/iss-vault-${tag}`).set('Authorization', viewer);
      expect(read.body.config.token).toBe('[REDACTED]');
      const res = await update(`iss-vault-${tag}`, { config: { ...vault, ttl: '24h' } }, noKey);
      expect(res.status).toBe(503);
      expect(res.body.message).toContain('CERTCTL_CONFIG_ENCRYPTION_KEY is not set');
    });
  });

  describe('update', () => {
    const id = `iss-upd-${tag}`;
    beforeAll(async () => {
      expect(
        (await create({ id, name: `Upd ${tag}`, type: 'VaultPKI', config: { ...vault, token: VAULT_TOKEN } })).status,
      ).toBe(201);
    });

    it('keeps a secret sent back as "[REDACTED]" (reusing the sealed blob) or omitted', async () => {
      const before = await stored(id);
      const same = await update(id, { config: { ...vault, token: '[REDACTED]', ttl: '720h' } });
      expect(same.status).toBe(200);
      expect(same.body.config).toEqual({ ...vault, ttl: '720h', token: '[REDACTED]' });
      expect((await stored(id)).secret_config!.equals(before.secret_config!)).toBe(true);

      const omitted = await update(id, { config: { ...vault } });
      expect(omitted.body.config).toEqual({ ...vault, token: '[REDACTED]' });
      await expect(new SecretBox(KEY).open((await stored(id)).secret_config!, `issuers:${id}`)).resolves.toEqual({
        token: VAULT_TOKEN,
      });
    });

    it('replaces a secret given a new value and clears one on null', async () => {
      const replaced = await update(id, { config: { ...vault, token: `new-${tag}` } });
      expect(replaced.status).toBe(200);
      await expect(new SecretBox(KEY).open((await stored(id)).secret_config!, `issuers:${id}`)).resolves.toEqual({
        token: `new-${tag}`,
      });
      const approle = await update(id, {
        config: { ...vault, token: null, role_id: 'role-1', secret_id: `sid-${tag}` },
      });
      expect(approle.status).toBe(200);
      expect(approle.body.config).toEqual({ ...vault, role_id: 'role-1', secret_id: '[REDACTED]' });
      const row = await stored(id);
      expect(row.secret_fields).toEqual(['secret_id']);
      await expect(new SecretBox(KEY).open(row.secret_config!, `issuers:${id}`)).resolves.toEqual({
        secret_id: `sid-${tag}`,
      });
      const audit = await t.ds.query(
        `SELECT details FROM audit_events WHERE resource_id = $1 AND action = 'issuer_updated' ORDER BY created_at DESC, id DESC LIMIT 1`,
        [id],
      );
      expect(audit[0].details.changed).toEqual(['config.role_id', 'config.secret_id', 'config.token']);
      expect(JSON.stringify(audit)).not.toContain(`sid-${tag}`);
    });

    it('refuses to clear the only credential, and a type change that leaves stale fields', async () => {
      const cleared = await update(id, { config: { ...vault, role_id: 'role-1', secret_id: null } });
      expect(cleared.status).toBe(400);
      expect(cleared.body.message).toBe('body.config.secret_id: is required together with role_id');
      const retype = await update(id, { type: 'localca' });
      expect(retype.status).toBe(400);
      expect(retype.body.message).toContain('body.config.address: unknown field');
      expect((await get(id)).body.type).toBe('VaultPKI');
    });

    it('changes type with a new config; secrets of the old type are dropped', async () => {
      const res = await update(id, { type: 'LocalCA', config: {}, name: `Upd renamed ${tag}`, enabled: false });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ type: 'LocalCA', config: {}, name: `Upd renamed ${tag}`, enabled: false });
      expect(await stored(id)).toEqual({ config: {}, secret_config: null, secret_fields: [] });
      expect(await auditActions(id)).toEqual([
        'issuer_created',
        'issuer_updated',
        'issuer_updated',
        'issuer_updated',
        'issuer_updated',
        'issuer_updated',
      ]);
    });

    it('answers 404 for an unknown issuer and 409 for a taken name', async () => {
      expect((await update('iss-nope', { name: 'x' })).status).toBe(404);
      expect((await update(id, { name: `Vault ${tag}` })).status).toBe(409);
    });
  });

  describe('list', () => {
    beforeAll(async () => {
      for (const n of ['a', 'b', 'c']) {
        await create({ id: `iss-list-${n}-${tag}`, name: `List ${n} ${tag}`, type: 'LocalCA', enabled: n !== 'b' });
      }
    });

    it('pages, filters and sorts', async () => {
      const page = await t.http.get(`/api/v1/issuers?q=List&sort=-name&per_page=2&page=1`).set('Authorization', viewer);
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ total: 3, page: 1, per_page: 2 });
      expect(page.body.data.map((i: { name: string }) => i.name)).toEqual([`List c ${tag}`, `List b ${tag}`]);
      const disabled = await t.http.get(`/api/v1/issuers?q=List&enabled=false`).set('Authorization', viewer);
      expect(disabled.body.data.map((i: { id: string }) => i.id)).toEqual([`iss-list-b-${tag}`]);
      const sparse = await t.http.get(`/api/v1/issuers?q=List a&fields=name`).set('Authorization', viewer);
      expect(sparse.body.data).toEqual([{ id: `iss-list-a-${tag}`, name: `List a ${tag}` }]);
    });

    it('walks cursor pages', async () => {
      const first = await t.http.get(`/api/v1/issuers?q=List&sort=name&page_size=2`).set('Authorization', viewer);
      expect(first.body.data.map((i: { id: string }) => i.id)).toEqual([`iss-list-a-${tag}`, `iss-list-b-${tag}`]);
      const next = await t.http
        .get(`/api/v1/issuers?q=List&sort=name&page_size=2&cursor=${first.body.next_cursor}`)
        .set('Authorization', viewer);
      expect(next.body.data.map((i: { id: string }) => i.id)).toEqual([`iss-list-c-${tag}`]);
      expect(next.body.next_cursor).toBeNull();
    });

    it.each([
      ['type=nope', /^query\.type: must be one of: /],
      ['enabled=maybe', /^query\.enabled: /],
      ['per_page=100000', /^query\.per_page: /],
      ['cursor=not-a-cursor', /^query\.cursor: /],
      ['sort=secret_config', /^query\.sort: cannot sort by "secret_config"/],
      ['fields=secret_config', /^query\.fields: unknown field/],
    ])('answers 400 on %s', async (qs, message) => {
      const res = await t.http.get(`/api/v1/issuers?${qs}`).set('Authorization', viewer);
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
    });
  });

  describe('delete', () => {
    it('deletes with 204 and 409s while a certificate references the issuer', async () => {
      const id = `iss-del-${tag}`;
      expect((await create({ id, name: `Del ${tag}`, type: 'LocalCA' })).status).toBe(201);
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, issuer_id) VALUES ($1, 'ref', 'a.example', $2)`,
        [`mc-ref-${tag}`, id],
      );
      const blocked = await t.http.delete(`/api/v1/issuers/${id}`).set('Authorization', admin);
      expect(blocked.status).toBe(409);
      expect(blocked.body.message).toContain('managed_certificates');
      await t.ds.query(`DELETE FROM managed_certificates WHERE id = $1`, [`mc-ref-${tag}`]);
      expect((await t.http.delete(`/api/v1/issuers/${id}`).set('Authorization', admin)).status).toBe(204);
      expect((await get(id)).status).toBe(404);
      expect((await t.http.delete(`/api/v1/issuers/${id}`).set('Authorization', admin)).status).toBe(404);
      expect(await auditActions(id)).toEqual(['issuer_created', 'issuer_deleted']);
    });
  });

  describe('POST /issuers/{id}/test', () => {
    const runTest = (id: string) => t.http.post(`/api/v1/issuers/${id}/test`).set('Authorization', admin);

    function makeCa(name: string, cn: string): void {
      execFileSync(
        'openssl',
        [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
          ...[
            '-keyout',
            join(dir, `${name}.key`),
            '-out',
            join(dir, `${name}.pem`),
            '-subj',
            `/CN=${cn}`,
            '-days',
            '365',
          ],
          ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
        ],
        { stdio: 'ignore' },
      );
    }

    it('checks a sub-CA LocalCA for real: files, CA certificate, matching key', async () => {
      makeCa('ca', `Test CA ${tag}`);
      makeCa('other', 'Other CA');
      const good = await create({
        name: `SubCA ${tag}`,
        type: 'LocalCA',
        config: { ca_cert_path: join(dir, 'ca.pem'), ca_key_path: join(dir, 'ca.key') },
      });
      const res = await runTest(good.body.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        ok: true,
        message: expect.stringContaining(`root CA "CN=Test CA ${tag}" valid until`),
        checked_at: expect.any(String),
      });
      expect(Math.abs(Date.parse(res.body.checked_at) - Date.now())).toBeLessThan(60_000);

      const wrongKey = await create({
        name: `SubCA wrong key ${tag}`,
        type: 'LocalCA',
        config: { ca_cert_path: join(dir, 'ca.pem'), ca_key_path: join(dir, 'other.key') },
      });
      expect((await runTest(wrongKey.body.id)).body).toMatchObject({
        ok: false,
        message: expect.stringContaining('does not match the CA certificate'),
      });
      const missing = await create({
        name: `SubCA missing ${tag}`,
        type: 'LocalCA',
        config: { ca_cert_path: join(dir, 'absent.pem'), ca_key_path: join(dir, 'ca.key') },
      });
      expect((await runTest(missing.body.id)).body).toMatchObject({
        ok: false,
        message: expect.stringContaining('does not exist'),
      });
    });

    it('passes a self-signed LocalCA and says other connectors are not available yet', async () => {
      const local = await create({ name: `Self ${tag}`, type: 'LocalCA' });
      expect((await runTest(local.body.id)).body).toMatchObject({
        ok: true,
        message: expect.stringContaining('self-signed mode'),
      });
      // The ACME check fetches the directory (loopback only: nothing listens on port 1).
      const acme = await create({
        name: `ACME ${tag}`,
        type: 'acme',
        config: { directory_url: 'https://127.0.0.1:1/directory', email: 'pki@example.com' },
      });
      expect((await runTest(acme.body.id)).body).toMatchObject({
        ok: false,
        message: expect.stringContaining('ACME: GET https://127.0.0.1:1/directory failed'),
      });
      expect((await runTest(`iss-vault-${tag}`)).body).toMatchObject({
        ok: false,
        message: expect.stringContaining('Vault PKI'),
      });
      expect((await runTest('iss-nope')).status).toBe(404);
    });
  });

  describe('permissions', () => {
    it('denies writes and tests to a viewer, and reads to a key without issuer.read', async () => {
      const id = `iss-vault-${tag}`;
      const as = (auth: string) => ({
        create: t.http.post('/api/v1/issuers').set('Authorization', auth).send({ name: 'v', type: 'LocalCA' }),
        update: t.http.put(`/api/v1/issuers/${id}`).set('Authorization', auth).send({ enabled: false }),
        remove: t.http.delete(`/api/v1/issuers/${id}`).set('Authorization', auth),
        test: t.http.post(`/api/v1/issuers/${id}/test`).set('Authorization', auth),
      });
      for (const req of Object.values(as(viewer))) expect((await req).status).toBe(403);
      expect((await t.http.get('/api/v1/issuers').set('Authorization', agent)).status).toBe(403);
      expect((await t.http.get(`/api/v1/issuers/${id}`).set('Authorization', agent)).status).toBe(403);
      expect((await get(id)).status).toBe(200);
      expect((await t.http.get('/api/v1/issuers')).status).toBe(401);
    });
  });
});
