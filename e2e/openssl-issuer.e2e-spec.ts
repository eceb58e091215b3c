import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ScriptCa } from '../libs/connectors/src/issuers/openssl/testing/script-ca';
import { apiCall, type HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, startIssuingServer, tempDir } from './support/server-process';
import { pollUntil, runCommand } from './support/util';

/**
 * The OpenSSL script issuer, black-box: the built server runs the operator's sign and
 * revoke scripts (real `openssl ca` over an index.txt CA) for a certificate whose key an
 * agent (played by the openssl CLI) holds; the CRL the CRL script makes lists the
 * revocation, and `openssl verify -crl_check` rejects the leaf.
 */

const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-e2e-ossl-${tag}`,
  profile: `prof-e2e-ossl-${tag}`,
  agent: `ag-e2e-ossl-${tag}`,
  cert: `mc-e2e-ossl-${tag}`,
};

let api: HttpsClient;
let admin: string;
let agentKey: string;
let ca: ScriptCa;
let dir: string;
let leafFile: string;

beforeAll(async () => {
  ({ api, admin } = await startIssuingServer('ossl-issuer'));
  dir = await tempDir('certctl-e2e-ossl-');
  ca = new ScriptCa(dir);
}, 60_000);

afterAll(cleanupAll, 60_000);

const call = (method: 'GET' | 'POST', path: string, body?: object, expected?: number, bearer = admin) =>
  apiCall(api, bearer, method, path, body, expected);

test('an OpenSSL issuer, its connection test, a profile, an agent and a certificate through the API', async () => {
  await call(
    'POST',
    '/api/v1/issuers',
    {
      id: ids.issuer,
      name: `OpenSSL ${tag}`,
      type: 'OpenSSL',
      config: {
        sign_script: ca.signScript,
        revoke_script: ca.revokeScript,
        crl_script: ca.crlScript,
        ca_cert_path: ca.caCertPath,
        timeout_seconds: 30,
      },
    },
    201,
  );
  const test = await call('POST', `/api/v1/issuers/${ids.issuer}/test`, undefined, 200);
  expect(test.json).toMatchObject({ ok: true, message: 'scripts are executable' });
  await call(
    'POST',
    '/api/v1/profiles',
    {
      id: ids.profile,
      name: `OpenSSL ${tag}`,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 5 * 86_400,
      san_rules: { allow_ip: true },
    },
    201,
  );
  agentKey = (await call('POST', '/api/v1/agents', { id: ids.agent, name: `ossl-${tag}` }, 201)).json.api_key;
  await call(
    'POST',
    '/api/v1/certificates',
    {
      id: ids.cert,
      name: `ossl ${tag}`,
      common_name: 'ossl.example.com',
      sans: ['api.ossl.example.com', '192.0.2.10'],
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      agent_id: ids.agent,
    },
    201,
  );
});

test('renew -> the agent’s CSR -> openssl ca signs it -> the certificate verifies against the script CA', async () => {
  const job = await call('POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202);
  const jobId: string = job.json.id;
  await pollUntil(
    `job ${jobId} is AwaitingCSR`,
    () => call('GET', `/api/v1/jobs/${jobId}`),
    (r) => r.status === 200 && r.json.status === 'AwaitingCSR',
    { timeoutMs: 20_000 },
  );
  const keyFile = join(dir, 'agent.key');
  const csrFile = join(dir, 'agent.csr');
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=whatever-the-agent-says',
  ]); // prettier-ignore
  const issued = await call(
    'POST',
    `/api/v1/agents/${ids.agent}/csr`,
    { certificate_id: ids.cert, csr_pem: await readFile(csrFile, 'utf8'), job_id: jobId },
    undefined,
    agentKey,
  );
  // The body says what a script or openssl refused.
  expect({ status: issued.status, body: issued.status === 201 ? 'issued' : issued.json }).toEqual({
    status: 201,
    body: 'issued',
  });
  leafFile = join(dir, 'leaf.pem');
  await writeFile(leafFile, issued.json.certificate_pem);
  expect((await openssl(['verify', '-CAfile', ca.caCertPath, leafFile])).stdout).toContain(`${leafFile}: OK`);
  const text = (await openssl(['x509', '-in', leafFile, '-noout', '-subject', '-enddate', '-ext', 'subjectAltName']))
    .stdout;
  expect(text).toContain('subject=CN = ossl.example.com');
  expect(text).toContain('DNS:ossl.example.com, DNS:api.ossl.example.com, IP Address:192.0.2.10');
  // The profile's 5-day max TTL reached openssl ca as -enddate.
  const notAfter = new Date(issued.json.not_after).getTime();
  expect(notAfter - Date.now()).toBeLessThanOrEqual(5 * 86_400_000 + 60_000);
  expect(notAfter - Date.now()).toBeGreaterThan(4 * 86_400_000);
  expect((await openssl(['x509', '-in', leafFile, '-noout', '-pubkey'])).stdout).toBe(
    (await openssl(['pkey', '-in', keyFile, '-pubout'])).stdout,
  );
  expect(ca.index()).toContain(`\t${issued.json.serial_number.toUpperCase()}\tunknown\t/CN=ossl.example.com`);
});

test('revoking through the API runs the revoke script; the script CA’s CRL makes openssl reject the leaf', async () => {
  const revoked = await call('POST', `/api/v1/certificates/${ids.cert}/revoke`, { reason: 'keyCompromise' }, 200);
  expect(revoked.json.status).toBe('Revoked');
  expect(ca.index()).toMatch(/^R\t\d+Z\t\d+Z,keyCompromise\t/m);
  const crl = join(dir, 'ca.crl');
  const made = await runCommand(ca.crlScript, [crl]);
  expect(made.code).toBe(0);
  const verify = await runCommand('openssl', [
    'verify',
    '-crl_check',
    '-CAfile',
    ca.caCertPath,
    '-CRLfile',
    crl,
    leafFile,
  ]);
  expect(verify.code).not.toBe(0);
  expect(verify.stdout + verify.stderr).toContain('certificate revoked');
});
