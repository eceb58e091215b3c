import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acmeJson, acmeKey, AcmeTestClient, type AcmeSend } from './support/acme-jws';
import { apiCall, createIssuerAndProfile, type HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import {
  cleanupAll,
  runServerExpectingExit,
  startIssuingServer,
  tempDir,
  type ServerProcess,
} from './support/server-process';
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
    CERTCTL_ACME_SERVER_ENABLED: 'true',
    CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
    CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: profileId,
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

/**
 * An AcmeSend over curl: the HTTP exchanges of the ARI test go through curl, as TESTING.md
 * asks (no Debian ACME client implements RFC 9773); the JWS bodies are signed with jose.
 */
function curlSend(a: AcmeServer): AcmeSend {
  let n = 0;
  return async (method, path, body, contentType) => {
    const headersFile = join(a.dir, `curl-${++n}.headers`);
    const args = ['-sS', '--cacert', a.srv.caFile as string, '-D', headersFile, '-o', '-'];
    if (method === 'HEAD') args.push('-I');
    else args.push('-X', method);
    if (contentType) args.push('-H', `Content-Type: ${contentType}`);
    if (body !== undefined) args.push('--data-binary', '@-');
    const r = await runCommand('curl', [...args, `${a.srv.baseUrl}${path}`], { input: body ?? '' });
    expect(r.stderr).toBe('');
    const raw = (await readFile(headersFile, 'utf8')).split(/\r?\n/);
    const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(raw[0])?.[1]);
    const headers: Record<string, string> = {};
    for (const line of raw.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    return { status, headers, text: method === 'HEAD' ? '' : r.stdout };
  };
}

/** RFC 9773 certificate id from openssl's view of the leaf: base64url(AKI keyid).base64url(serial DER bytes). */
async function ariCertId(file: string): Promise<string> {
  const aki = (await openssl(['x509', '-in', file, '-noout', '-ext', 'authorityKeyIdentifier'])).stdout;
  const keyId = /((?:[0-9A-F]{2}:)+[0-9A-F]{2})/i.exec(aki)?.[1]?.replace(/:/g, '') ?? '';
  expect(keyId).not.toBe('');
  let serial = (await openssl(['x509', '-in', file, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '');
  if (serial.length % 2) serial = `0${serial}`;
  // The DER INTEGER's content octets: a leading 00 keeps a high first bit positive.
  if (parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`;
  const b64u = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');
  return `${b64u(keyId)}.${b64u(serial)}`;
}

it('ARI with curl: renewalInfo for a certificate id computed by openssl, then newOrder replaces it', async () => {
  const c = new AcmeTestClient(curlSend(main), srv.baseUrl, await acmeKey('ES256'));
  expect((await c.loadDirectory()).status).toBe(200);
  expect(c.directory.renewalInfo).toBe(`${srv.baseUrl}/acme/renewal-info`);
  expect((await c.register({ termsOfServiceAgreed: true, contact: ['mailto:ops@acme.test'] })).status).toBe(201);

  /** newOrder (with `extra` fields), finalize with an openssl CSR, download: the leaf file and the order. */
  const issue = async (name: string, label: string, extra: Record<string, unknown> = {}) => {
    const created = await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: name }], ...extra });
    expect(created.status).toBe(201);
    const order = acmeJson(created);
    const der = join(dir, `${label}.csr.der`);
    await openssl([
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, `${label}.key`), '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
      '-outform', 'DER', '-out', der,
    ]); // prettier-ignore
    const fin = await c.post(order.finalize as string, { csr: (await readFile(der)).toString('base64url') });
    expect(fin.status).toBe(200);
    expect(acmeJson(fin).status).toBe('valid');
    const cert = await c.post(acmeJson(fin).certificate as string, '');
    expect(cert.headers['content-type']).toContain('application/pem-certificate-chain');
    // The leaf is signed by the root directly: the default chain is leaf + root, the alternate the leaf alone.
    expect(cert.headers.link).toContain(`<${acmeJson(fin).certificate as string}/1>;rel="alternate"`);
    const file = join(dir, `${label}.pem`);
    await writeFile(file, cert.text);
    return { file, order };
  };

  const first = await issue('ari.acme.test', 'ari-first');
  const certId = await ariCertId(first.file);
  const info = await runCommand('curl', [
    '-sS', '-D', '-', '--cacert', srv.caFile as string, `${c.directory.renewalInfo}/${certId}`,
  ]); // prettier-ignore
  expect(info.stdout).toMatch(/^HTTP\/[\d.]+ 200/);
  expect(info.stdout).toMatch(/^retry-after: 21600\r?$/im);
  const window = (
    JSON.parse(info.stdout.slice(info.stdout.indexOf('{'))) as {
      suggestedWindow: { start: string; end: string };
    }
  ).suggestedWindow;
  const notAfter = new Date(
    (await openssl(['x509', '-in', first.file, '-noout', '-enddate'])).stdout.trim().replace(/^notAfter=/, ''),
  ).getTime();
  const start = Date.parse(window.start);
  const end = Date.parse(window.end);
  expect(start).toBeLessThan(end);
  expect(end).toBeLessThanOrEqual(notAfter);
  expect(start).toBeGreaterThan(Date.now() - 60_000);

  // The renewal names the certificate it replaces; the order says so, and issues.
  const renewed = await issue('ari.acme.test', 'ari-renewed', { replaces: certId });
  expect(renewed.order.replaces).toBe(certId);
  expect(await readFile(renewed.file, 'utf8')).not.toBe(await readFile(first.file, 'utf8'));
  // A certificate is replaced once.
  const again = await c.post(c.directory.newOrder, {
    identifiers: [{ type: 'dns', value: 'ari.acme.test' }],
    replaces: certId,
  });
  expect([again.status, acmeJson(again).type]).toEqual([409, 'urn:ietf:params:acme:error:alreadyReplaced']);
});

describe('with External Account Binding required', () => {
  let eab: AcmeServer;

  beforeAll(async () => {
    eab = await startAcme('acme-eab', { CERTCTL_ACME_SERVER_EAB_REQUIRED: 'true' });
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

it('refuses to boot with a pre-rename server variable (CERTCTL_ACME_ENABLED), naming its replacement', async () => {
  const r = await runServerExpectingExit({ CERTCTL_ACME_ENABLED: 'true', CERTCTL_ACME_AUTH_MODE: 'challenge' });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('CERTCTL_ACME_ENABLED is no longer read');
  expect(r.stderr).toContain('CERTCTL_ACME_SERVER_ENABLED');
  expect(r.stderr).toContain('CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE');
});
