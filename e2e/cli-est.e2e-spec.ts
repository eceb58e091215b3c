import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createIssuerAndProfile } from './support/https';
import { makeCa, openssl } from './support/openssl';
import { REPO_ROOT, cleanupAll, startIssuingServer, tempDir, type ServerProcess } from './support/server-process';
import { runCommand, tail, type CommandResult } from './support/util';

/**
 * `certctl-cli est cacerts|enroll` (built) against the built server's EST endpoints, checked
 * with openssl: the CA certificates it prints, the key it generates and the certificate it
 * writes. Basic authentication on the default label, TLS client authentication on a named one.
 */

const CLI_MAIN = join(REPO_ROOT, 'dist', 'apps', 'cli', 'apps', 'cli', 'src', 'main.js');
const tag = randomBytes(3).toString('hex');
const USER = 'device';
const PASSWORD = `cli-est-${tag}-pw`;
let srv: ServerProcess;
let dir: string;
let clientCa: { cert: string; key: string };

async function cli(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runCommand(process.execPath, [CLI_MAIN, ...args], {
    cwd: dir,
    timeoutMs: 60_000,
    env: { CERTCTL_SERVER_URL: srv.baseUrl, CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile!, ...env },
  });
}

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await cli(args, env);
  expect({ args, code: r.code, stderr: tail(r.stderr) }).toEqual({ args, code: 0, stderr: '' });
  return r.stdout;
}

async function sh(script: string): Promise<string> {
  const r = await runCommand('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: dir });
  expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
  return r.stdout;
}

/** SHA-256 of the public key of a key file and of a certificate file: equal when they belong together. */
async function publicKeyHashes(key: string, cert: string): Promise<[string, string]> {
  const out = await sh(
    `openssl pkey -in ${key} -pubout | openssl sha256; openssl x509 -in ${cert} -noout -pubkey | openssl sha256`,
  );
  const [a, b] = out.trim().split('\n');
  return [a, b];
}

beforeAll(async () => {
  dir = await tempDir('certctl-e2e-cli-est-');
  // The named label authenticates devices by a TLS client certificate from this CA.
  clientCa = await makeCa(dir, `cli-est client CA ${tag}`);
  const ids = { issuer: `iss-cli-est-${tag}`, profile: `prof-cli-est-${tag}` };
  let api;
  ({ srv, api } = await startIssuingServer('cli-est', {
    CERTCTL_EST_ENABLED: 'true',
    CERTCTL_EST_ISSUER_ID: ids.issuer,
    CERTCTL_EST_PROFILE_ID: ids.profile,
    CERTCTL_EST_USERNAME: USER,
    CERTCTL_EST_PASSWORD: PASSWORD,
    CERTCTL_EST_PROFILES: 'devices',
    CERTCTL_EST_PROFILE_DEVICES_AUTH: 'mtls',
    CERTCTL_EST_PROFILE_DEVICES_TRUST_BUNDLE_PATH: clientCa.cert,
    CERTCTL_EST_PROFILE_DEVICES_ISSUER_ID: ids.issuer,
    CERTCTL_EST_PROFILE_DEVICES_PROFILE_ID: ids.profile,
  }));
  // ECDSA and RSA keys; the default SAN rules (no IP addresses) give a 400 to check.
  await createIssuerAndProfile(api, srv.adminKey!, ids, `CLI EST ${tag}`, {
    allowed_key_algorithms: [
      { algorithm: 'ECDSA', min_size: 256 },
      { algorithm: 'RSA', min_size: 2048 },
    ],
  });
}, 90_000);

afterAll(cleanupAll, 60_000);

it('cacerts prints PEM that openssl reads; --out and JSON describe the same certificates', async () => {
  const pem = await ok(['est', 'cacerts']);
  expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
  await writeFile(join(dir, 'est-ca.pem'), pem);
  // The same bytes as curl + openssl get from the endpoint (TESTING.md's recipe).
  const reference = await sh(
    `curl -sS --fail-with-body --cacert ${srv.caFile} ${srv.baseUrl}/.well-known/est/cacerts ` +
      `| tr -d '\\r\\n' | openssl base64 -d -A | openssl pkcs7 -inform DER -print_certs | openssl x509 -noout -fingerprint -sha256`,
  );
  const mine = await sh(`openssl x509 -in est-ca.pem -noout -fingerprint -sha256`);
  expect(mine).toBe(reference);
  expect(await sh(`openssl x509 -in est-ca.pem -noout -ext basicConstraints`)).toContain('CA:TRUE');

  const table = await ok(['est', 'cacerts', '--out', 'ca-out.pem']);
  expect(await readFile(join(dir, 'ca-out.pem'), 'utf8')).toBe(pem);
  expect(table.split('\n')[0]).toMatch(/^SUBJECT\s+ISSUER\s+SERIAL\s+NOT_AFTER\s+FINGERPRINT_SHA256$/);
  const fingerprint = /=([0-9A-F:]+)$/m.exec(mine)![1].replace(/:/g, '').toLowerCase();
  expect(table).toContain(fingerprint);

  const json = JSON.parse(await ok(['--format', 'json', 'est', 'cacerts'])) as {
    certificates: { fingerprint_sha256: string; is_ca: boolean; pem: string }[];
  };
  expect(json.certificates[0]).toMatchObject({ fingerprint_sha256: fingerprint, is_ca: true, pem });

  const unknown = await cli(['est', 'cacerts', '--label', 'nope']);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/^error: 404 Not Found: .*nope/m);
});

it('enroll with Basic: the key stays local (0600), the certificate verifies against cacerts and carries the key', async () => {
  const basic = { CERTCTL_EST_USERNAME: USER, CERTCTL_EST_PASSWORD: PASSWORD };
  // The label's profile allows no IP SANs: the server's 400 reaches stderr and nothing is written.
  const refused = await cli(['est', 'enroll', '--cn', `ip-${tag}`, '--ip', '127.0.0.1'], basic);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^error: 400 Bad Request: .*IP address SANs are not allowed/m);
  expect(existsSync(join(dir, `ip-${tag}.key`))).toBe(false);

  const out = await ok(
    ['--format', 'json', 'est', 'enroll', '--cn', `dev1-${tag}`, '--dns', 'dev1.example.com,www.dev1.example.com'],
    basic,
  );
  const r = JSON.parse(out) as { key_file: string; cert_file: string; subject: string; not_after: string };
  expect(r).toMatchObject({ key_file: `dev1-${tag}.key`, cert_file: `dev1-${tag}.pem`, subject: `CN=dev1-${tag}` });
  const [key, cert] = [join(dir, r.key_file), join(dir, r.cert_file)];
  expect((await stat(key)).mode & 0o777).toBe(0o600);
  expect(await sh(`openssl verify -CAfile est-ca.pem ${r.cert_file}`)).toBe(`${r.cert_file}: OK\n`);
  const [fromKey, fromCert] = await publicKeyHashes(key, cert);
  expect(fromKey).toBe(fromCert);
  const text = await sh(`openssl x509 -in ${r.cert_file} -noout -ext subjectAltName`);
  expect(text).toContain('DNS:dev1.example.com, DNS:www.dev1.example.com');
  expect(await sh(`openssl pkey -in ${r.key_file} -noout -text | head -1`)).toMatch(/256 bit/);

  // RSA, flags instead of the environment, table output, explicit file names.
  const table = await ok([
    'est', 'enroll', '--cn', `dev2-${tag}`, '--key-type', 'rsa-2048', '--username', USER, '--password', PASSWORD,
    '--key-out', 'dev2.key', '--cert-out', 'dev2.pem',
  ]); // prettier-ignore
  expect(table).toMatch(new RegExp(`^subject\\s+CN=dev2-${tag}$`, 'm'));
  expect(table).toMatch(/^key_file\s+dev2\.key$/m);
  expect(await sh(`openssl verify -CAfile est-ca.pem dev2.pem`)).toBe('dev2.pem: OK\n');
  expect(await sh(`openssl x509 -in dev2.pem -noout -text`)).toMatch(/Public-Key: \(2048 bit\)/);
  const [rsaKey, rsaCert] = await publicKeyHashes(join(dir, 'dev2.key'), join(dir, 'dev2.pem'));
  expect(rsaKey).toBe(rsaCert);

  // An existing key is not replaced without --force (checked before anything is requested).
  const again = await cli(['est', 'enroll', '--cn', 'x', '--key-out', 'dev2.key', '--cert-out', 'new.pem'], {
    CERTCTL_EST_USERNAME: USER,
    CERTCTL_EST_PASSWORD: PASSWORD,
  });
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('dev2.key exists: give --force');
  expect(existsSync(join(dir, 'new.pem'))).toBe(false);
}, 90_000);

it("a wrong password exits 1 with the server's 401 message and writes nothing", async () => {
  const direct = await sh(
    `curl -sS --cacert ${srv.caFile} -u ${USER}:wrong -H 'Content-Type: application/pkcs10' --data-binary x ` +
      `${srv.baseUrl}/.well-known/est/simpleenroll`,
  );
  const message = (JSON.parse(direct) as { message: string }).message;
  expect(message.length).toBeGreaterThan(0);
  for (const format of ['table', 'json']) {
    const r = await cli(['--format', format, 'est', 'enroll', '--cn', `bad-${format}`], {
      CERTCTL_EST_USERNAME: USER,
      CERTCTL_EST_PASSWORD: 'wrong',
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`error: 401 Unauthorized: ${message}`);
    expect(existsSync(join(dir, `bad-${format}.key`))).toBe(false);
  }
});

it('enroll on an mTLS label with --client-cert/--client-key; without them it is refused', async () => {
  await writeFile(
    join(dir, 'client.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-new', ...ec, '-keyout', join(dir, 'client.key'), '-out', join(dir, 'client.csr'), '-subj', '/CN=device-7']); // prettier-ignore
  await openssl([
    'x509', '-req', '-in', join(dir, 'client.csr'), '-CA', clientCa.cert, '-CAkey', clientCa.key, '-CAcreateserial',
    '-days', '1', '-sha256', '-extfile', join(dir, 'client.ext'), '-out', join(dir, 'client.pem'),
  ]); // prettier-ignore

  const table = await ok([
    'est', 'enroll', '--label', 'devices', '--cn', 'device-7', '--client-cert', 'client.pem', '--client-key',
    'client.key', '--key-out', 'd7.key', '--cert-out', 'd7.pem',
  ]); // prettier-ignore
  expect(table).toMatch(/^subject\s+CN=device-7$/m);
  const labelCa = await ok(['est', 'cacerts', '--label', 'devices', '--out', 'devices-ca.pem']);
  expect(labelCa).toMatch(/^SUBJECT/);
  expect(await sh(`openssl verify -CAfile devices-ca.pem d7.pem`)).toBe('d7.pem: OK\n');
  const [a, b] = await publicKeyHashes(join(dir, 'd7.key'), join(dir, 'd7.pem'));
  expect(a).toBe(b);

  const refused = await cli(['est', 'enroll', '--label', 'devices', '--cn', 'device-8']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^error: 401 Unauthorized: /m);
  const half = await cli(['est', 'enroll', '--label', 'devices', '--cn', 'device-8', '--client-cert', 'client.pem']);
  expect(half.code).toBe(1);
  expect(half.stderr).toContain('--client-cert and --client-key go together');
}, 60_000);
