import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openssl } from './support/openssl';
import {
  createAgentCertificate,
  fetchScriptCrl,
  renewWithAgentCsr,
  scriptCaIssuerConfig,
  startScriptCaServer,
  type ScriptCaServer,
} from './support/script-ca-issuer';
import { cleanupAll } from './support/server-process';
import { runCommand } from './support/util';

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

let s: ScriptCaServer;
let agentKey: string;
let leafFile: string;

beforeAll(async () => {
  s = await startScriptCaServer('ossl-issuer', 'certctl-e2e-ossl-');
}, 60_000);

afterAll(cleanupAll, 60_000);

test('an OpenSSL issuer, its connection test, a profile, an agent and a certificate through the API', async () => {
  await s.call(
    'POST',
    '/api/v1/issuers',
    { id: ids.issuer, name: `OpenSSL ${tag}`, type: 'OpenSSL', config: scriptCaIssuerConfig(s.ca) },
    201,
  );
  const test = await s.call('POST', `/api/v1/issuers/${ids.issuer}/test`, undefined, 200);
  expect(test.json).toMatchObject({ ok: true, message: 'scripts are executable' });
  agentKey = await createAgentCertificate(
    s.call,
    ids,
    { common_name: 'ossl.example.com', sans: ['api.ossl.example.com', '192.0.2.10'] },
    { san_rules: { allow_ip: true } },
  );
});

test('renew -> the agent’s CSR -> openssl ca signs it -> the certificate verifies against the script CA', async () => {
  const { issued, keyFile } = await renewWithAgentCsr(s, ids, agentKey, '/CN=whatever-the-agent-says');
  const { ca, dir } = s;
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
  const { ca, dir } = s;
  const revoked = await s.call('POST', `/api/v1/certificates/${ids.cert}/revoke`, { reason: 'keyCompromise' }, 200);
  expect(revoked.json.status).toBe('Revoked');
  expect(ca.index()).toMatch(/^R\t\d+Z\t\d+Z,keyCompromise\t/m);
  // The CRL as relying parties get it: from the server, which ran the crl_script after the revocation.
  const served = await fetchScriptCrl(s, ids.issuer);
  expect(served.status).toBe(200);
  const crl = join(dir, 'ca.crl');
  await openssl(['crl', '-inform', 'DER', '-in', served.file, '-out', crl]);
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
