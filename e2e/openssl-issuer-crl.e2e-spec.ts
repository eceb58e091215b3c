import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ScriptCa } from '../libs/connectors/src/issuers/openssl/testing/script-ca';
import { apiCall, type HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, startIssuingServer, tempDir, type ServerProcess } from './support/server-process';
import { pollUntil, runCommand } from './support/util';

/**
 * The CRL of an OpenSSL-script issuer, black-box: the built server publishes what the
 * operator's crl_script (`openssl ca -gencrl`) makes at /.well-known/pki/crl/<issuer id>
 * (fetched with curl, read with `openssl crl -inform DER`), remakes it after a revocation
 * through the issuer, and answers 404 without a crl_script and 503 when the script fails.
 */

const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-e2e-osslcrl-${tag}`,
  noCrl: `iss-e2e-osslnocrl-${tag}`,
  broken: `iss-e2e-osslbad-${tag}`,
  profile: `prof-e2e-osslcrl-${tag}`,
  agent: `ag-e2e-osslcrl-${tag}`,
  cert: `mc-e2e-osslcrl-${tag}`,
};

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let ca: ScriptCa;
let dir: string;
let serial: string;

beforeAll(async () => {
  ({ srv, api, admin } = await startIssuingServer('ossl-crl'));
  dir = await tempDir('certctl-e2e-osslcrl-');
  ca = new ScriptCa(dir);
}, 60_000);

afterAll(cleanupAll, 60_000);

const call = (method: 'GET' | 'POST', path: string, body?: object, expected?: number, bearer = admin) =>
  apiCall(api, bearer, method, path, body, expected);

/** GET the CRL with curl into a file; returns the status, the Content-Type and the file. */
async function fetchCrl(issuerId: string): Promise<{ status: number; type: string; file: string }> {
  const file = join(dir, `${issuerId}-${randomBytes(3).toString('hex')}.crl`);
  const r = await runCommand('curl', [
    '-sS', '--cacert', srv.caFile ?? '', '-o', file, '-w', '%{http_code} %{content_type}',
    `https://127.0.0.1:${srv.port}/.well-known/pki/crl/${issuerId}`,
  ]); // prettier-ignore
  expect(r.code).toBe(0);
  const [status, type = ''] = r.stdout.trim().split(' ');
  return { status: Number(status), type, file };
}

async function crlText(file: string): Promise<string> {
  const verify = await openssl(['crl', '-inform', 'DER', '-in', file, '-CAfile', ca.caCertPath, '-noout']);
  expect(verify.stdout + verify.stderr).toContain('verify OK');
  return (await openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-text'])).stdout;
}

async function createIssuer(id: string, config: Record<string, unknown>): Promise<void> {
  await call('POST', '/api/v1/issuers', { id, name: `OpenSSL ${id}`, type: 'OpenSSL', config }, 201);
}

test('an OpenSSL issuer with a crl_script serves its CRL (DER, verified by the CA certificate)', async () => {
  await createIssuer(ids.issuer, {
    sign_script: ca.signScript,
    revoke_script: ca.revokeScript,
    crl_script: ca.crlScript,
    ca_cert_path: ca.caCertPath,
    timeout_seconds: 30,
  });
  const got = await fetchCrl(ids.issuer);
  expect({ status: got.status, type: got.type }).toEqual({ status: 200, type: 'application/pkix-crl' });
  const text = await crlText(got.file);
  expect(text).toContain('Issuer: CN = Script Test CA');
  expect(text).toContain('No Revoked Certificates.');
});

test('issue through the script CA, revoke through the API: the served CRL lists the serial', async () => {
  await call(
    'POST',
    '/api/v1/profiles',
    {
      id: ids.profile,
      name: `OpenSSL CRL ${tag}`,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 5 * 86_400,
    },
    201,
  );
  const agentKey = (await call('POST', '/api/v1/agents', { id: ids.agent, name: `osslcrl-${tag}` }, 201)).json.api_key;
  await call(
    'POST',
    '/api/v1/certificates',
    {
      id: ids.cert,
      name: `osslcrl ${tag}`,
      common_name: 'crl.ossl.example.com',
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      agent_id: ids.agent,
    },
    201,
  );
  const jobId: string = (await call('POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202)).json.id;
  await pollUntil(
    `job ${jobId} is AwaitingCSR`,
    () => call('GET', `/api/v1/jobs/${jobId}`),
    (r) => r.status === 200 && r.json.status === 'AwaitingCSR',
    { timeoutMs: 20_000 },
  );
  const csrFile = join(dir, 'agent.csr');
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'agent.key'), '-out', csrFile, '-subj', '/CN=crl.ossl.example.com',
  ]); // prettier-ignore
  const issued = await call(
    'POST',
    `/api/v1/agents/${ids.agent}/csr`,
    { certificate_id: ids.cert, csr_pem: await readFile(csrFile, 'utf8'), job_id: jobId },
    undefined,
    agentKey,
  );
  expect({ status: issued.status, body: issued.status === 201 ? 'issued' : issued.json }).toEqual({
    status: 201,
    body: 'issued',
  });
  serial = String(issued.json.serial_number).toUpperCase();
  const leaf = join(dir, 'leaf.pem');
  await writeFile(leaf, issued.json.certificate_pem);

  // Served (and cached) before the revocation: the serial is not on it.
  expect(await crlText((await fetchCrl(ids.issuer)).file)).not.toContain(`Serial Number: ${serial}`);

  await call('POST', `/api/v1/certificates/${ids.cert}/revoke`, { reason: 'keyCompromise' }, 200);
  const after = await fetchCrl(ids.issuer);
  expect(after.status).toBe(200);
  const text = await crlText(after.file);
  expect(text).toContain(`Serial Number: ${serial}`);
  expect(text).toContain('Key Compromise');
  // A relying party with this CRL rejects the leaf.
  const pem = join(dir, 'served.crl.pem');
  await openssl(['crl', '-inform', 'DER', '-in', after.file, '-out', pem]);
  const verify = await runCommand('openssl', ['verify', '-crl_check', '-CAfile', ca.caCertPath, '-CRLfile', pem, leaf]);
  expect(verify.code).not.toBe(0);
  expect(verify.stdout + verify.stderr).toContain('certificate revoked');
});

test('no crl_script: 404 naming why; a failing crl_script: 503, never a CRL', async () => {
  await createIssuer(ids.noCrl, { sign_script: ca.signScript, ca_cert_path: ca.caCertPath });
  const none = await call('GET', `/.well-known/pki/crl/${ids.noCrl}`);
  expect(none.status).toBe(404);
  expect(JSON.stringify(none.json)).toContain('no crl_script');

  const failing = ca.script(`crl-broken-${tag}.sh`, 'echo "the CA key is offline" >&2; exit 3');
  await createIssuer(ids.broken, { sign_script: ca.signScript, crl_script: failing });
  const broken = await call('GET', `/.well-known/pki/crl/${ids.broken}`);
  expect(broken.status).toBe(503);
  expect(JSON.stringify(broken.json)).toContain(`the CRL of issuer ${ids.broken} cannot be made now`);

  const garbage = ca.script(`crl-garbage-${tag}.sh`, 'printf "not a CRL" > "$1"');
  await createIssuer(`${ids.broken}-g`, { sign_script: ca.signScript, crl_script: garbage });
  expect((await call('GET', `/.well-known/pki/crl/${ids.broken}-g`)).status).toBe(503);
});
