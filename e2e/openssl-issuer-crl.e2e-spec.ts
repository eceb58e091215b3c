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

let s: ScriptCaServer;
let serial: string;

beforeAll(async () => {
  s = await startScriptCaServer('ossl-crl', 'certctl-e2e-osslcrl-');
}, 60_000);

afterAll(cleanupAll, 60_000);

const fetchCrl = (issuerId: string) => fetchScriptCrl(s, issuerId);

async function crlText(file: string): Promise<string> {
  const verify = await openssl(['crl', '-inform', 'DER', '-in', file, '-CAfile', s.ca.caCertPath, '-noout']);
  expect(verify.stdout + verify.stderr).toContain('verify OK');
  return (await openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-text'])).stdout;
}

async function createIssuer(id: string, config: Record<string, unknown>): Promise<void> {
  await s.call('POST', '/api/v1/issuers', { id, name: `OpenSSL ${id}`, type: 'OpenSSL', config }, 201);
}

test('an OpenSSL issuer with a crl_script serves its CRL (DER, verified by the CA certificate)', async () => {
  await createIssuer(ids.issuer, scriptCaIssuerConfig(s.ca));
  const got = await fetchCrl(ids.issuer);
  expect({ status: got.status, type: got.type }).toEqual({ status: 200, type: 'application/pkix-crl' });
  const text = await crlText(got.file);
  expect(text).toContain('Issuer: CN = Script Test CA');
  expect(text).toContain('No Revoked Certificates.');
});

test('issue through the script CA, revoke through the API: the served CRL lists the serial', async () => {
  const agentKey = await createAgentCertificate(s.call, ids, { common_name: 'crl.ossl.example.com' });
  const { issued } = await renewWithAgentCsr(s, ids, agentKey, '/CN=crl.ossl.example.com');
  serial = String(issued.json.serial_number).toUpperCase();
  const leaf = join(s.dir, 'leaf.pem');
  await writeFile(leaf, issued.json.certificate_pem);

  // Served (and cached) before the revocation: the serial is not on it.
  expect(await crlText((await fetchCrl(ids.issuer)).file)).not.toContain(`Serial Number: ${serial}`);

  await s.call('POST', `/api/v1/certificates/${ids.cert}/revoke`, { reason: 'keyCompromise' }, 200);
  const after = await fetchCrl(ids.issuer);
  expect(after.status).toBe(200);
  const text = await crlText(after.file);
  expect(text).toContain(`Serial Number: ${serial}`);
  expect(text).toContain('Key Compromise');
  // A relying party with this CRL rejects the leaf.
  const pem = join(s.dir, 'served.crl.pem');
  await openssl(['crl', '-inform', 'DER', '-in', after.file, '-out', pem]);
  const verify = await runCommand('openssl', [
    'verify',
    '-crl_check',
    '-CAfile',
    s.ca.caCertPath,
    '-CRLfile',
    pem,
    leaf,
  ]);
  expect(verify.code).not.toBe(0);
  expect(verify.stdout + verify.stderr).toContain('certificate revoked');
});

test('no crl_script: 404 naming why; a failing crl_script: 503, never a CRL', async () => {
  await createIssuer(ids.noCrl, { sign_script: s.ca.signScript, ca_cert_path: s.ca.caCertPath });
  const none = await s.call('GET', `/.well-known/pki/crl/${ids.noCrl}`);
  expect(none.status).toBe(404);
  expect(JSON.stringify(none.json)).toContain('no crl_script');

  const failing = s.ca.script(`crl-broken-${tag}.sh`, 'echo "the CA key is offline" >&2; exit 3');
  await createIssuer(ids.broken, { sign_script: s.ca.signScript, crl_script: failing });
  const broken = await s.call('GET', `/.well-known/pki/crl/${ids.broken}`);
  expect(broken.status).toBe(503);
  expect(JSON.stringify(broken.json)).toContain(`the CRL of issuer ${ids.broken} cannot be made now`);

  const garbage = s.ca.script(`crl-garbage-${tag}.sh`, 'printf "not a CRL" > "$1"');
  await createIssuer(`${ids.broken}-g`, { sign_script: s.ca.signScript, crl_script: garbage });
  expect((await s.call('GET', `/.well-known/pki/crl/${ids.broken}-g`)).status).toBe(503);
});
