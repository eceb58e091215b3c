import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpsClient, renewAndWait } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, startServer, tempDir, type ServerProcess } from './support/server-process';
import { freePort, runCommand } from './support/util';

/**
 * A 3-level Local CA hierarchy built and used through HTTPS only, against the built
 * server: root -> policy CA -> issuing CA via the intermediates API, a leaf issued by the
 * server's job engine, then the chain collected by following each certificate's AIA
 * caIssuers URL with curl, and `openssl verify -CAfile root -untrusted intermediates leaf`.
 */

let srv: ServerProcess;
let api: HttpsClient;
let dir: string;
let admin: string;
const tag = randomBytes(3).toString('hex');
const issuerId = `iss-e2e-hier-${tag}`;

beforeAll(async () => {
  const port = await freePort();
  srv = await startServer({
    port,
    env: {
      CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-intermediates-key-${randomBytes(16).toString('hex')}`,
      CERTCTL_KEYGEN_MODE: 'server',
      // The AIA URLs in what the CAs sign point at this listener (its TLS certificate names 127.0.0.1).
      CERTCTL_PUBLIC_URL: `https://127.0.0.1:${port}`,
    },
  });
  if (!srv.caFile || !srv.adminKey) throw new Error(`no TLS CA file or admin key in the banner\n${srv.output()}`);
  api = new HttpsClient(srv.port, srv.caFile);
  admin = srv.adminKey;
  dir = await tempDir('certctl-e2e-hier-');
}, 60_000);

afterAll(cleanupAll, 60_000);

async function post(path: string, body: object, expected = 201) {
  const r = await api.post(path, body, { bearer: admin });
  expect({ path, status: r.status, body: r.json }).toEqual({ path, status: expected, body: expect.anything() });
  return r.json;
}

/** curl over HTTPS (trusting only the server's TLS CA): the DER body and its content type. */
async function fetchDer(url: string, file: string): Promise<string> {
  const r = await runCommand('curl', [
    '-sS', '--noproxy', '*', '--max-time', '10', '--cacert', srv.caFile!,
    '-o', join(dir, file), '-w', '%{http_code} %{content_type}', url,
  ]); // prettier-ignore
  expect({ url, code: r.code, stderr: r.stderr, out: r.stdout }).toEqual({
    url,
    code: 0,
    stderr: '',
    out: '200 application/pkix-cert',
  });
  return join(dir, file);
}

async function text(pemOrDerFile: string, inform: 'PEM' | 'DER'): Promise<string> {
  return (await openssl(['x509', '-inform', inform, '-in', pemOrDerFile, '-noout', '-text'])).stdout;
}

const caIssuersUrl = (certText: string): string | undefined => /CA Issuers - URI:(\S+)/.exec(certText)?.[1];

describe('3-level hierarchy over HTTPS', () => {
  let policyId: string;
  let issuingId: string;

  test('builds root -> policy CA -> issuing CA through the intermediates API', async () => {
    await post('/api/v1/issuers', { id: issuerId, name: `E2E Hier ${tag}`, type: 'LocalCA' });
    const policy = await post(`/api/v1/issuers/${issuerId}/intermediates`, {
      name: 'Policy CA',
      common_name: `E2E Policy CA ${tag}`,
      path_len_constraint: 1,
      name_constraints: { permitted_dns: ['hier.example.com'] },
    });
    policyId = policy.id;
    const issuing = await post(`/api/v1/issuers/${issuerId}/intermediates`, {
      name: 'Issuing CA',
      common_name: `E2E Issuing CA ${tag}`,
      parent_id: policyId,
    });
    issuingId = issuing.id;
    const list = await api.get(`/api/v1/issuers/${issuerId}/intermediates`, { bearer: admin });
    expect(list.status).toBe(200);
    expect(list.json.data.map((c: { top: boolean; issuing: boolean; id: string }) => [c.top, c.issuing])).toEqual([
      [true, false],
      [false, false],
      [false, true],
    ]);
    expect(list.json.data[2].id).toBe(issuingId);
  });

  test('issues a leaf from the issuing CA; the AIA chain fetched with curl verifies with openssl', async () => {
    await post('/api/v1/profiles', {
      id: `prof-e2e-hier-${tag}`,
      name: `E2E Hier ${tag}`,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 7 * 86_400,
    });
    const certId = `mc-e2e-hier-${tag}`;
    await post('/api/v1/certificates', {
      id: certId,
      name: certId,
      common_name: 'www.hier.example.com',
      issuer_id: issuerId,
      profile_id: `prof-e2e-hier-${tag}`,
    });
    const done = await renewAndWait(api, admin, certId);
    expect({ status: done.status, error: done.last_error }).toEqual({ status: 'Completed', error: null });

    const pem = await api.get(`/api/v1/certificates/${certId}/export/pem`, { bearer: admin });
    expect(pem.status).toBe(200);
    const leafFile = join(dir, 'leaf.pem');
    await writeFile(leafFile, pem.json.certificate_pem);

    // Walk up by AIA caIssuers: leaf -> issuing -> policy -> root (a self-signed root has no AIA).
    const leafText = await text(leafFile, 'PEM');
    const urls: string[] = [];
    const ders: string[] = [];
    let url = caIssuersUrl(leafText);
    for (let i = 0; url && i < 5; i++) {
      urls.push(url);
      const der = await fetchDer(url, `ca${i}.der`);
      ders.push(der);
      url = caIssuersUrl(await text(der, 'DER'));
    }
    expect(urls).toEqual([
      `${srv.baseUrl}/.well-known/pki/ca/${issuingId}.crt`,
      `${srv.baseUrl}/.well-known/pki/ca/${policyId}.crt`,
      `${srv.baseUrl}/.well-known/pki/ca/${issuerId}.crt`,
    ]);
    const pems = await Promise.all(
      ders.map(async (d) => (await openssl(['x509', '-inform', 'DER', '-in', d, '-outform', 'PEM'])).stdout),
    );
    await writeFile(join(dir, 'root.pem'), pems[2]);
    await writeFile(join(dir, 'intermediates.pem'), pems[0] + pems[1]);
    const verified = await openssl([
      'verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediates.pem'), leafFile,
    ]); // prettier-ignore
    expect(verified.stdout.trim()).toBe(`${leafFile}: OK`);
    // The policy CA's name constraint is in force: openssl shows it, and the leaf lies inside it.
    expect(await text(join(dir, 'ca1.der'), 'DER')).toMatch(/Permitted:\s+DNS:hier\.example\.com/);
    // Without the intermediates the leaf does not verify.
    const bare = await runCommand('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), leafFile]);
    expect(bare.code).not.toBe(0);
  });
});
