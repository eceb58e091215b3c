import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { apiCall, createIssuerAndProfile, type HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, startIssuingServer, tempDir, type ServerProcess } from './support/server-process';
import { pollUntil, runCommand, tail, type CommandResult } from './support/util';

/**
 * ACME against the built server with the Debian clients TESTING.md names, in
 * trust_authenticated mode: certbot and lego register, issue certificates for several
 * names with RSA and ECDSA keys, renew and revoke them; our OCSP responder then says
 * revoked and the CRL lists them. With External Account Binding required, both clients
 * register with an admin-issued EAB key and fail cleanly without one.
 */
const tag = randomBytes(3).toString('hex');
const issuerId = `iss-e2e-acme-${tag}`;
const profileId = `prof-e2e-acme-${tag}`;

/** One server under test and the client state kept beside it. */
interface AcmeServer {
  srv: ServerProcess;
  api: HttpsClient;
  dir: string;
  directoryUrl: string;
}

let main: AcmeServer;
let srv: ServerProcess;
let dir: string;
let rootFile: string;

/** A server with ACME on, a Local CA issuer and an RSA/ECDSA profile for *.acme.test. */
async function startAcme(label: string, env: Record<string, string> = {}): Promise<AcmeServer> {
  const { srv: s, api } = await startIssuingServer(label, {
    CERTCTL_ACME_ENABLED: 'true',
    CERTCTL_ACME_ISSUER_ID: issuerId,
    CERTCTL_ACME_PROFILE_ID: profileId,
    ...env,
  });
  const admin = s.adminKey as string;
  await createIssuerAndProfile(api, admin, { issuer: issuerId, profile: profileId }, profileId, {
    allowed_key_algorithms: [
      { algorithm: 'ECDSA', min_size: 256 },
      { algorithm: 'RSA', min_size: 2048 },
    ],
    san_rules: { permitted_dns_patterns: ['*.acme.test', 'acme.test'] },
  });
  return { srv: s, api, dir: await tempDir(`certctl-e2e-${label}-`), directoryUrl: `${s.baseUrl}/acme/directory` };
}

beforeAll(async () => {
  main = await startAcme('acme');
  ({ srv, dir } = main);
}, 60_000);

afterAll(cleanupAll, 60_000);

/** Runs a client; it must succeed unless `expectOk` is false. */
async function run(
  a: AcmeServer,
  cmd: string,
  args: string[],
  env: Record<string, string>,
  /** A log the client writes, shown when it fails (certbot's traceback lives there). */
  log?: string,
  expectOk = true,
): Promise<CommandResult> {
  const r = await runCommand(cmd, args, { cwd: a.dir, timeoutMs: 120_000, env: { HOME: a.dir, ...env } });
  if (!expectOk) return r;
  let out = '';
  if (r.code !== 0) {
    out = tail(r.stdout + r.stderr);
    if (log) out += `\n--- ${log}\n${tail(await readFile(log, 'utf8').catch(() => ''), 3_000)}`;
  }
  expect({ cmd, code: r.code, out }).toEqual({ cmd, code: 0, out: '' });
  return r;
}

function certbot(args: string[], a = main, expectOk = true): Promise<CommandResult> {
  const d = join(a.dir, 'certbot');
  return run(
    a,
    'certbot',
    [
      ...args,
      '--non-interactive',
      '--server', a.directoryUrl,
      '--config-dir', join(d, 'etc'), '--work-dir', join(d, 'work'), '--logs-dir', join(d, 'logs'),
    ], // prettier-ignore
    { REQUESTS_CA_BUNDLE: a.srv.caFile as string },
    join(d, 'logs', 'letsencrypt.log'),
    expectOk,
  );
}

function lego(path: string, args: string[], a = main, expectOk = true): Promise<CommandResult> {
  return run(
    a,
    'lego',
    ['--server', a.directoryUrl, '--accept-tos', '--email', 'ops@acme.test', '--path', join(a.dir, path), ...args],
    { LEGO_CA_CERTIFICATES: a.srv.caFile as string },
    undefined,
    expectOk,
  );
}

/** The issuer's root (the leaves are signed by it directly) for openssl verify and OCSP. */
async function root(): Promise<string> {
  if (rootFile) return rootFile;
  const der = join(dir, 'root.der');
  const r = await runCommand('curl', [
    '-sS',
    '--fail',
    '--cacert',
    srv.caFile as string,
    '-o',
    der,
    `${srv.baseUrl}/.well-known/pki/ca/${issuerId}.crt`,
  ]);
  expect(r.code).toBe(0);
  rootFile = join(dir, 'root.pem');
  await openssl(['x509', '-inform', 'DER', '-in', der, '-out', rootFile]);
  return rootFile;
}

/** SANs, key type and chain check of an issued leaf. */
async function inspectLeaf(file: string): Promise<{ sans: string; key: string; verify: string }> {
  const text = (await openssl(['x509', '-in', file, '-noout', '-ext', 'subjectAltName', '-text'])).stdout;
  const sans = /X509v3 Subject Alternative Name:\s*\n\s*(.+)/.exec(text)?.[1]?.trim() ?? '';
  // Sorted: clients order the names as they like.
  const sorted = sans.split(', ').sort().join(', ');
  const key = /Public Key Algorithm: (\S+)/.exec(text)?.[1] ?? '';
  const verify = (await openssl(['verify', '-CAfile', await root(), file])).stdout.trim();
  return { sans: sorted, key, verify };
}

/** `openssl ocsp` against the responder named in the leaf's AIA: the status line. */
async function ocspStatus(file: string): Promise<string> {
  const url = (await openssl(['x509', '-in', file, '-noout', '-ocsp_uri'])).stdout.trim();
  expect(url).toBe(`${srv.baseUrl}/.well-known/pki/ocsp/${issuerId}`);
  const r = await openssl([
    'ocsp',
    '-issuer',
    await root(),
    '-cert',
    file,
    '-url',
    url,
    '-CAfile',
    await root(),
    '-timeout',
    '10',
  ]);
  expect(r.stderr).toContain('Response verify OK');
  return (/: (good|revoked|unknown)/.exec(r.stdout)?.[1] ?? r.stdout).trim();
}

/** Whether the issuer's CRL (verified against the root) lists the leaf's serial. */
async function crlLists(file: string): Promise<boolean> {
  const der = join(dir, 'crl.der');
  const r = await runCommand('curl', [
    '-sS', '--fail', '--cacert', srv.caFile as string, '-o', der, `${srv.baseUrl}/.well-known/pki/crl/${issuerId}`,
  ]); // prettier-ignore
  expect(r.code).toBe(0);
  expect((await openssl(['crl', '-inform', 'DER', '-in', der, '-noout', '-CAfile', await root()])).stderr).toContain(
    'verify OK',
  );
  const serial = (await openssl(['x509', '-in', file, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '');
  const text = (await openssl(['crl', '-inform', 'DER', '-in', der, '-noout', '-text'])).stdout;
  return text.toUpperCase().includes(`SERIAL NUMBER: ${serial.toUpperCase()}`);
}

it('certbot registers, issues RSA and ECDSA certificates for several names, renews, and revokes one (OCSP, CRL)', async () => {
  const common = [
    '--agree-tos',
    '-m',
    'ops@acme.test',
    '--manual',
    '--preferred-challenges',
    'http',
    '--manual-auth-hook',
    '/bin/true',
  ];
  await certbot([
    'certonly',
    ...common,
    '--cert-name',
    'rsa',
    '--key-type',
    'rsa',
    '--rsa-key-size',
    '2048',
    '-d',
    'www.acme.test',
    '-d',
    'api.acme.test',
  ]);
  await certbot([
    'certonly',
    ...common,
    '--cert-name',
    'ec',
    '--key-type',
    'ecdsa',
    '--elliptic-curve',
    'secp256r1',
    '-d',
    'acme.test',
    '-d',
    '*.acme.test',
  ]);
  const live = join(dir, 'certbot', 'etc', 'live');
  const rsa = await inspectLeaf(join(live, 'rsa', 'cert.pem'));
  expect(rsa).toEqual({
    sans: 'DNS:api.acme.test, DNS:www.acme.test',
    key: 'rsaEncryption',
    verify: `${join(live, 'rsa', 'cert.pem')}: OK`,
  });
  const ec = await inspectLeaf(join(live, 'ec', 'cert.pem'));
  expect(ec).toEqual({
    sans: 'DNS:*.acme.test, DNS:acme.test',
    key: 'id-ecPublicKey',
    verify: `${join(live, 'ec', 'cert.pem')}: OK`,
  });
  expect(await ocspStatus(join(live, 'rsa', 'cert.pem'))).toBe('good');

  // Renewal through the same account: a new certificate for the same names.
  const before = await readFile(join(live, 'rsa', 'cert.pem'), 'utf8');
  // Without a TTY certbot sleeps up to 8 minutes before renewing unless told not to.
  await certbot(['renew', '--cert-name', 'rsa', '--force-renewal', '--no-random-sleep-on-renew']);
  const after = await readFile(join(live, 'rsa', 'cert.pem'), 'utf8');
  expect(after).not.toBe(before);
  expect((await inspectLeaf(join(live, 'rsa', 'cert.pem'))).sans).toBe('DNS:api.acme.test, DNS:www.acme.test');

  await certbot(['revoke', '--cert-name', 'rsa', '--reason', 'keycompromise', '--no-delete-after-revoke']);
  expect(await ocspStatus(join(live, 'rsa', 'cert.pem'))).toBe('revoked');
  // The CRL is regenerated after the revocation commits.
  await pollUntil(
    'the CRL lists the revoked certificate',
    () => crlLists(join(live, 'rsa', 'cert.pem')),
    (x) => x,
  );
  expect(await crlLists(join(live, 'ec', 'cert.pem'))).toBe(false);
  expect(await ocspStatus(join(live, 'ec', 'cert.pem'))).toBe('good');
});

it('lego registers, issues ECDSA and RSA certificates for several names, and revokes one (OCSP)', async () => {
  const webroot = join(dir, 'webroot');
  await mkdir(webroot, { recursive: true });
  const http = ['--http', '--http.webroot', webroot];
  await lego('lego-ec', [...http, '--key-type', 'ec256', '-d', 'lego.acme.test', '-d', 'lego2.acme.test', 'run']);
  await lego('lego-rsa', [
    ...http,
    '--key-type',
    'rsa2048',
    '-d',
    'legorsa.acme.test',
    '-d',
    'legorsa2.acme.test',
    'run',
  ]);
  const certs = (p: string) => join(dir, p, 'certificates');
  const ecFile = join(certs('lego-ec'), 'lego.acme.test.crt');
  const rsaFile = join(certs('lego-rsa'), 'legorsa.acme.test.crt');
  expect(await readdir(certs('lego-ec'))).toContain('lego.acme.test.key');
  const ec = await inspectLeaf(ecFile);
  expect([ec.sans, ec.key, ec.verify]).toEqual([
    'DNS:lego.acme.test, DNS:lego2.acme.test',
    'id-ecPublicKey',
    `${ecFile}: OK`,
  ]);
  const rsa = await inspectLeaf(rsaFile);
  expect([rsa.sans, rsa.key]).toEqual(['DNS:legorsa.acme.test, DNS:legorsa2.acme.test', 'rsaEncryption']);

  // lego archives what it revoked: keep a copy of the leaf to ask OCSP about.
  const revokedCopy = join(dir, 'lego-revoked.crt');
  await copyFile(ecFile, revokedCopy);
  await lego('lego-ec', ['-d', 'lego.acme.test', 'revoke']);
  expect(await ocspStatus(revokedCopy)).toBe('revoked');
  expect(await ocspStatus(rsaFile)).toBe('good');
});

describe('with External Account Binding required', () => {
  let eab: AcmeServer;

  beforeAll(async () => {
    eab = await startAcme('acme-eab', { CERTCTL_ACME_EAB_REQUIRED: 'true' });
  }, 60_000);

  async function eabKey(): Promise<{ kid: string; hmac: string }> {
    const r = await apiCall(eab.api, eab.srv.adminKey as string, 'POST', '/api/v1/acme/eab-keys', {}, 201);
    const body = r.json as { kid: string; hmac_key: string };
    return { kid: body.kid, hmac: body.hmac_key };
  }

  it('certbot and lego register with --eab-* and issue; without a binding they fail cleanly', async () => {
    const manual = ['--manual', '--preferred-challenges', 'http', '--manual-auth-hook', '/bin/true'];
    const noEab = await certbot(['register', '--agree-tos', '-m', 'ops@acme.test'], eab, false);
    expect(noEab.code).not.toBe(0);
    expect(noEab.stdout + noEab.stderr).toMatch(/external account/i);

    const k1 = await eabKey();
    await certbot(
      [
        'certonly',
        '--agree-tos',
        '-m',
        'ops@acme.test',
        '--eab-kid',
        k1.kid,
        '--eab-hmac-key',
        k1.hmac,
        ...manual,
        '-d',
        'eab.acme.test',
      ],
      eab,
    );
    const leaf = join(eab.dir, 'certbot', 'etc', 'live', 'eab.acme.test', 'cert.pem');
    expect((await openssl(['x509', '-in', leaf, '-noout', '-ext', 'subjectAltName'])).stdout).toContain(
      'DNS:eab.acme.test',
    );

    const webroot = join(eab.dir, 'webroot');
    await mkdir(webroot, { recursive: true });
    const http = ['--http', '--http.webroot', webroot];
    const legoNoEab = await lego('lego-none', [...http, '-d', 'legoeab.acme.test', 'run'], eab, false);
    expect(legoNoEab.code).not.toBe(0);
    expect(legoNoEab.stdout + legoNoEab.stderr).toMatch(/externalAccountRequired|external account/i);
    const k2 = await eabKey();
    await lego(
      'lego-eab',
      ['--eab', '--kid', k2.kid, '--hmac', k2.hmac, ...http, '-d', 'legoeab.acme.test', 'run'],
      eab,
    );
    // The key is spent: binding another account with it fails.
    const reuse = await lego(
      'lego-reuse',
      ['--eab', '--kid', k2.kid, '--hmac', k2.hmac, ...http, '-d', 'x.acme.test', 'run'],
      eab,
      false,
    );
    expect(reuse.code).not.toBe(0);
    expect(reuse.stdout + reuse.stderr).toMatch(/already used/);
  });
});
