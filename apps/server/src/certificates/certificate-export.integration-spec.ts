import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Response } from 'superagent';
import {
  createIntermediateCa,
  createRootCa,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeaf,
  spkiDerOf,
  type IssuedCertificate,
} from '@certctl/pki';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { SecretBox } from '../secrets/secret-box';
import { versionKeyContext } from '../secrets/seal-contexts';

const KEY = 'certificate-export-test-passphrase-0123456789';
const PASSWORD = 'correct horse battery';
const LIMIT = 3;

/** Collects a binary body (supertest only buffers text and JSON by itself). */
const binary = (res: Response, done: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
};

/**
 * PEM and PKCS#12 exports of real certificates (libs/pki root -> issuing CA -> leaf), the
 * PKCS#12 opened by the openssl CLI. Own database: its versions hold keys sealed with this
 * file's encryption key.
 */
describe('certificate export: PEM and PKCS#12', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let dir: string;
  let rootPem: string;
  let leaf: IssuedCertificate;
  let leafKeyPem: string;
  const tag = randomBytes(3).toString('hex');
  const serverKeyed = `mc-exp-server-${tag}`;
  const agentKeyed = `mc-exp-agent-${tag}`;
  const neverIssued = `mc-exp-never-${tag}`;
  const versionId = `cv-exp-${tag}`;

  const ossl = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const pkcs12 = (id: string, body: object = { password: PASSWORD }, auth = operator) =>
    t.http
      .post(`/api/v1/certificates/${id}/export/pkcs12`)
      .set('Authorization', auth)
      .send(body)
      .buffer(true)
      .parse(binary);
  const pem = (id: string, auth = operator) =>
    t.http.get(`/api/v1/certificates/${id}/export/pem`).set('Authorization', auth);
  const exportAudits = async (id: string) =>
    t.ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE action = 'certificate_exported' AND resource_id = $1 ORDER BY created_at, id`,
      [id],
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'certctl-export-'));
    db = await createPrivateDatabase('certexport');
    t = await createTestApp({
      ...db.env,
      CERTCTL_CONFIG_ENCRYPTION_KEY: KEY,
      CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR: String(LIMIT),
    });
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;

    const root = await createRootCa({ subject: `CN=Export Root ${tag}` });
    const issuing = await createIntermediateCa(root.signer, { subject: `CN=Export Issuing ${tag}` });
    rootPem = root.certPem;
    const keys = await generateKeyPair('ECDSA-P256');
    leafKeyPem = exportPrivateKeyPem(keys.privateKey);
    leaf = await issueLeaf(issuing.signer, {
      publicKey: spkiDerOf(keys.privateKey),
      commonName: 'export.example.com',
      publicUrl: 'https://pki.example.com',
      issuerId: 'iss-export',
    });
    const agentLeaf = await issueLeaf(issuing.signer, {
      publicKey: spkiDerOf((await generateKeyPair('ECDSA-P256')).privateKey),
      commonName: 'agent.example.com',
      publicUrl: 'https://pki.example.com',
      issuerId: 'iss-export',
    });
    for (const id of [serverKeyed, agentKeyed, neverIssued]) {
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, status) VALUES ($1, $1, 'export.example.com', $2)`,
        [id, id === neverIssued ? 'Pending' : 'Active'],
      );
    }
    const sealed = await t.app.get(SecretBox).seal({ private_key_pem: leafKeyPem }, versionKeyContext(versionId));
    const insertVersion = `INSERT INTO certificate_versions
        (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after,
         key_algorithm, key_size, sealed_private_key)
      VALUES ($1, $2, $3, $4, $5, $6, $7, 'ECDSA', 256, $8)`;
    for (const [id, certId, l, key] of [
      [versionId, serverKeyed, leaf, sealed],
      [`cv-exp-agent-${tag}`, agentKeyed, agentLeaf, null],
    ] as const) {
      await t.ds.query(insertVersion, [
        id,
        certId,
        l.serialHex,
        l.fingerprintSha256,
        l.certPem + l.chainPem,
        l.notBefore,
        l.notAfter,
        key,
      ]);
    }
    writeFileSync(join(dir, 'root.pem'), rootPem);
  }, 90_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('GET /certificates/{id}/export/pem', () => {
    it('answers the leaf, chain and full chain as JSON; openssl verifies them against the root; audited', async () => {
      const res = await pem(agentKeyed, viewer);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        certificate_id: agentKeyed,
        version_id: `cv-exp-agent-${tag}`,
        serial_number: expect.stringMatching(/^[0-9a-f]{40}$/),
        certificate_pem: expect.stringMatching(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/),
        chain_pem: expect.stringContaining('BEGIN CERTIFICATE'),
        full_chain_pem: `${res.body.certificate_pem}${res.body.chain_pem}`,
      });
      writeFileSync(join(dir, 'leaf.pem'), res.body.certificate_pem);
      writeFileSync(join(dir, 'chain.pem'), res.body.chain_pem);
      const verify = ossl(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem']);
      expect(verify).toEqual({ status: 0, out: 'leaf.pem: OK\n' });
      expect((await exportAudits(agentKeyed)).map((a) => a.details)).toEqual([
        { format: 'pem', delivery: 'json', version_id: `cv-exp-agent-${tag}`, serial_number: res.body.serial_number },
      ]);
    });

    it('answers the PEM file itself for Accept: application/x-pem-file or format=file', async () => {
      const byAccept = await pem(serverKeyed).set('Accept', 'application/x-pem-file').buffer(true).parse(binary);
      expect(byAccept.status).toBe(200);
      expect(byAccept.headers['content-type']).toMatch(/^application\/x-pem-file/);
      expect(byAccept.headers['content-disposition']).toBe(`attachment; filename="${serverKeyed}.pem"`);
      const text = (byAccept.body as Buffer).toString('utf8');
      expect(text.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(text.startsWith(leaf.certPem)).toBe(true);
      const byQuery = await t.http
        .get(`/api/v1/certificates/${serverKeyed}/export/pem?format=file`)
        .set('Authorization', operator)
        .buffer(true)
        .parse(binary);
      expect((byQuery.body as Buffer).toString('utf8')).toBe(text);
      const bad = await t.http
        .get(`/api/v1/certificates/${serverKeyed}/export/pem?format=der`)
        .set('Authorization', operator);
      expect([bad.status, bad.body.message]).toEqual([400, 'query.format: must be json or file']);
    });

    it('is 404 for unknown and never-issued certificates', async () => {
      expect((await pem(`mc-exp-nope-${tag}`)).status).toBe(404);
      const never = await pem(neverIssued);
      expect([never.status, never.body.message]).toEqual([404, expect.stringContaining('no issued version')]);
    });
  });

  describe('POST /certificates/{id}/export/pkcs12', () => {
    it('exports the server-held key with the chain; openssl opens it and the key matches the certificate', async () => {
      const res = await pkcs12(serverKeyed);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-pkcs12');
      expect(res.headers['content-disposition']).toBe(`attachment; filename="${serverKeyed}.p12"`);
      expect(res.headers['cache-control']).toBe('no-store');
      writeFileSync(join(dir, 'out.p12'), res.body as Buffer);
      const info = ossl(['pkcs12', '-info', '-nokeys', '-in', 'out.p12', '-passin', `pass:${PASSWORD}`]);
      expect(info.status).toBe(0);
      expect(info.out).toContain('PBES2, PBKDF2, AES-256-CBC');
      expect(info.out).not.toMatch(/RC2|3DES|DES-EDE/);
      expect(info.out.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(ossl(['pkcs12', '-info', '-nokeys', '-in', 'out.p12', '-passin', 'pass:wrong-password']).status).not.toBe(
        0,
      );

      execFileSync(
        'openssl',
        ['pkcs12', '-in', 'out.p12', '-passin', `pass:${PASSWORD}`, '-nocerts', '-noenc', '-out', 'k.pem'],
        {
          cwd: dir,
        },
      );
      execFileSync(
        'openssl',
        ['pkcs12', '-in', 'out.p12', '-passin', `pass:${PASSWORD}`, '-clcerts', '-nokeys', '-out', 'c.pem'],
        {
          cwd: dir,
        },
      );
      const keyPub = execFileSync('openssl', ['pkey', '-in', 'k.pem', '-pubout'], { cwd: dir, encoding: 'utf8' });
      const certPub = execFileSync('openssl', ['x509', '-in', 'c.pem', '-noout', '-pubkey'], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(keyPub).toBe(certPub);
      const fp = execFileSync('openssl', ['x509', '-in', 'c.pem', '-noout', '-fingerprint', '-sha256'], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(fp.trim().split('=')[1].replace(/:/g, '').toLowerCase()).toBe(leaf.fingerprintSha256);

      const audit = await exportAudits(serverKeyed);
      expect(audit.map((a) => a.details)).toContainEqual({
        format: 'pkcs12',
        includes_private_key: true,
        version_id: versionId,
        serial_number: leaf.serialHex,
      });
      expect(JSON.stringify(audit)).not.toContain(PASSWORD);
    });

    it('is 409 when the server never held the key, 404 without a version, 400 for a weak password, 403 for viewers', async () => {
      const agent = await pkcs12(agentKeyed);
      expect(agent.status).toBe(409);
      expect(JSON.parse((agent.body as Buffer).toString('utf8')).message).toMatch(
        /server never held the private key.*agent keygen mode/,
      );
      expect((await pkcs12(neverIssued)).status).toBe(404);
      const weak = await pkcs12(serverKeyed, { password: 'short' });
      expect(weak.status).toBe(400);
      expect(JSON.parse((weak.body as Buffer).toString('utf8')).message).toMatch(/^body\.password: /);
      expect((await pkcs12(serverKeyed, {})).status).toBe(400);
      expect((await pkcs12(serverKeyed, { password: PASSWORD }, viewer)).status).toBe(403);
    });

    it(`allows ${LIMIT} exports per actor per hour, then 429 with Retry-After; other actors keep their budget`, async () => {
      const busy = `Bearer ${(await t.mintKey(['operator'])).key}`;
      for (let i = 0; i < LIMIT; i++) expect((await pkcs12(serverKeyed, undefined, busy)).status).toBe(200);
      const limited = await pkcs12(serverKeyed, undefined, busy);
      expect(limited.status).toBe(429);
      const wait = Number(limited.headers['retry-after']);
      expect(wait).toBeGreaterThanOrEqual(1);
      expect(wait).toBeLessThanOrEqual(3600);
      expect(JSON.parse((limited.body as Buffer).toString('utf8')).message).toContain(`${LIMIT} per hour`);
      const other = `Bearer ${(await t.mintKey(['operator'])).key}`;
      expect((await pkcs12(serverKeyed, undefined, other)).status).toBe(200);
    });
  });
});
