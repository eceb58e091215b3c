import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import type { TLSSocket, TLSSocketOptions } from 'node:tls';
import { join } from 'node:path';
import { startCaddy } from './support/caddy';
import { apiCall, createIssuerAndProfile, type HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, startIssuingServer, tempDir, type ServerProcess } from './support/server-process';
import { freePort, pollUntil, runCommand } from './support/util';

/**
 * Caddy (Debian's 2.6.2: CertMagic + acmez, a stricter ACME client than certbot or lego)
 * pointed at certctl's ACME server instead of a public CA, with only Caddyfile global
 * options: automatic HTTPS gets the certificates of a site block with two names, and Caddy
 * serves them. First in `trust_authenticated` mode (authorizations valid at once; Caddy
 * also staples certctl's OCSP answers), then at a `challenge` profile's directory, where
 * Caddy answers the validator's http-01 or tls-alpn-01 on its own loopback listeners (CERTCTL_ACME_SERVER_HTTP01_PORT and
 * _TLSALPN01_PORT point at them, CERTCTL_ACME_SERVER_RESOLVE maps the names to 127.0.0.1).
 */
const tag = randomBytes(3).toString('hex');
const issuerId = `iss-e2e-caddy-${tag}`;
const profileId = `prof-e2e-caddy-${tag}`;
const challengeProfileId = `prof-e2e-caddych-${tag}`;
const trustNames = ['a.caddy.test', 'b.caddy.test'];
const challengeNames = ['a.ch.caddy.test', 'b.ch.caddy.test'];
const BODY = 'hello from caddy';

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let dir: string;
/** The issuer's root PEM (the ACME leaves are signed by it directly). */
let rootFile: string;
let root: X509Certificate;
/** Loopback ports of the challenge-mode Caddy, known before the server boots. */
let chHttpPort: number;
let chHttpsPort: number;

beforeAll(async () => {
  chHttpPort = await freePort();
  chHttpsPort = await freePort();
  ({ srv, api, admin } = await startIssuingServer('acme-caddy', {
    CERTCTL_ACME_SERVER_ENABLED: 'true',
    CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
    CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: profileId,
    CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'trust_authenticated',
    CERTCTL_ACME_SERVER_HTTP01_PORT: String(chHttpPort),
    CERTCTL_ACME_SERVER_TLSALPN01_PORT: String(chHttpsPort),
    CERTCTL_ACME_SERVER_RESOLVE: challengeNames.map((n) => `${n}=127.0.0.1`).join(','),
  }));
  const keys = [
    { algorithm: 'ECDSA', min_size: 256 },
    { algorithm: 'RSA', min_size: 2048 },
  ];
  await createIssuerAndProfile(api, admin, { issuer: issuerId, profile: profileId }, profileId, {
    allowed_key_algorithms: keys,
    san_rules: { permitted_dns_patterns: ['*.caddy.test'] },
    acme_auth_mode: 'trust_authenticated',
  });
  await apiCall(
    api,
    admin,
    'POST',
    '/api/v1/profiles',
    {
      id: challengeProfileId,
      name: challengeProfileId,
      allowed_key_algorithms: keys,
      max_ttl_seconds: 7 * 86_400,
      san_rules: { permitted_dns_patterns: ['*.ch.caddy.test'] },
      acme_auth_mode: 'challenge',
    },
    201,
  );
  dir = await tempDir('certctl-e2e-acme-caddy-');
}, 60_000);

afterAll(cleanupAll, 60_000);

/**
 * The issuing root from certctl's CA endpoint (DER), through curl; a Local CA makes its key
 * at its first issuance, so this is fetched once Caddy has a certificate.
 */
async function loadRoot(): Promise<void> {
  if (root) return;
  const der = join(dir, 'root.der');
  const got = await runCommand('curl', [
    '-sS', '--fail', '--cacert', srv.caFile as string, '-o', der, `${srv.baseUrl}/.well-known/pki/ca/${issuerId}.crt`,
  ]); // prettier-ignore
  expect(got).toMatchObject({ code: 0, stderr: '' });
  root = new X509Certificate(await readFile(der));
  rootFile = join(dir, 'root.pem');
  await writeFile(rootFile, root.toString());
}

interface Served {
  body: string;
  /** The verified chain, leaf first (Node links issuers from what was sent and the trusted root). */
  chain: X509Certificate[];
  authorized: boolean;
  /** The stapled OCSP response (DER), if Caddy sent one. */
  ocsp?: Buffer;
}

/** GET / from 127.0.0.1:port with SNI and Host `name`, trusting only certctl's issuing root. */
function fetchSite(port: number, name: string): Promise<Served> {
  // https.request hands its options to tls.connect, requestOCSP included (its type omits it).
  const options: RequestOptions & Pick<TLSSocketOptions, 'requestOCSP'> = {
    host: '127.0.0.1',
    port,
    servername: name,
    headers: { Host: name },
    path: '/',
    ca: root.toString(),
    agent: false,
    timeout: 10_000,
    requestOCSP: true,
  };
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ body, chain, authorized, ocsp }));
      res.on('error', reject);
    });
    const chain: X509Certificate[] = [];
    let authorized = false;
    let ocsp: Buffer | undefined;
    // Read at the handshake: once the response is in, the socket may be closed already.
    req.on('socket', (s) => {
      s.once('OCSPResponse', (r: Buffer) => (ocsp = r));
      s.once('secureConnect', () => {
        const socket = s as TLSSocket;
        authorized = socket.authorized;
        // getPeerCertificate(true) links each certificate to its issuer, ending on a self-signed one.
        for (let c = socket.getPeerCertificate(true); c?.raw; c = c.issuerCertificate) {
          chain.push(new X509Certificate(c.raw));
          if (c.issuerCertificate === c) break;
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET https://${name}:${port}/ timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * What a client of the site sees for `name`, checked against certctl's root and openssl;
 * with `stapled`, the OCSP response Caddy staples too.
 */
async function checkServed(port: number, name: string, stapled = false): Promise<X509Certificate> {
  await loadRoot();
  // "certificate obtained successfully" is logged just before CertMagic caches the
  // certificate (and fetches its OCSP staple): until then a handshake for the name fails.
  const served = await pollUntil(
    `Caddy serves ${name}${stapled ? ' with an OCSP staple' : ''}`,
    () => fetchSite(port, name),
    (s) => s.chain.length > 0 && (!stapled || s.ocsp !== undefined),
  );
  expect(served.body).toBe(BODY);
  expect(served.authorized).toBe(true);
  const leaf = served.chain[0];
  expect(leaf.subjectAltName).toBe(`DNS:${name}`);
  expect(leaf.issuer).toBe(root.subject);
  expect(leaf.checkIssued(root) && leaf.verify(root.publicKey)).toBe(true);
  const leafFile = join(dir, `${name}.pem`);
  await writeFile(leafFile, leaf.toString());
  // openssl, an independent verifier, with whatever intermediates Caddy sent as untrusted.
  const args = ['verify', '-CAfile', rootFile];
  if (served.chain.length > 1) {
    const untrusted = join(dir, `${name}.chain.pem`);
    await writeFile(
      untrusted,
      served.chain
        .slice(1)
        .map((c) => c.toString())
        .join(''),
    );
    args.push('-untrusted', untrusted);
  }
  expect((await openssl([...args, leafFile])).stdout.trim()).toBe(`${leafFile}: OK`);
  if (stapled) {
    // CertMagic accepted certctl's OCSP answer (it checks it against the issuer); so does openssl.
    const respFile = join(dir, `${name}.ocsp.der`);
    await writeFile(respFile, served.ocsp as Buffer);
    const r = await openssl(['ocsp', '-respin', respFile, '-issuer', rootFile, '-cert', leafFile, '-CAfile', rootFile]);
    expect([r.stdout.split('\n')[0], r.stderr]).toEqual([
      `${leafFile}: good`,
      expect.stringContaining('Response verify OK'),
    ]);
  }
  return leaf;
}

interface ListedCert {
  id: string;
  common_name: string;
  sans: string[];
  issuer_id: string | null;
  profile_id: string | null;
  serial_number: string | null;
  status: string;
}

/** certctl's inventory (admin key), the rows naming `name`. */
async function inventoryFor(name: string): Promise<ListedCert[]> {
  const r = await apiCall(api, admin, 'GET', `/api/v1/certificates?per_page=100&issuer_id=${issuerId}`, undefined, 200);
  return (r.json as { data: ListedCert[] }).data.filter((c) => c.sans.includes(name) || c.common_name === name);
}

/** Caddy with the Caddyfile global options docs/operator/acme.md shows, for one site with `names`. */
async function runCaddy(
  label: string,
  directoryUrl: string,
  names: string[],
  { ports, env }: { ports?: [number, number]; env?: Record<string, string> } = {},
) {
  const caddyDir = join(dir, label);
  const [httpPort, httpsPort] = ports ?? [await freePort(), await freePort()];
  const caddy = await startCaddy({
    dir: caddyDir,
    httpPort,
    httpsPort,
    directoryUrl,
    acmeCaRoot: srv.caFile as string,
    names,
    body: BODY,
    env,
  });
  await caddy.waitForCertificates(names, 60_000);
  return { caddy, httpsPort, caddyDir };
}

/** Both names issued over ACME into the inventory with the profile; Caddy keeps one certificate per name. */
async function checkInventory(names: string[], profile: string, servedLeaves: X509Certificate[]): Promise<void> {
  for (const [i, name] of names.entries()) {
    const rows = await inventoryFor(name);
    expect(rows.map((r) => [r.sans, r.issuer_id, r.profile_id, r.status])).toEqual([
      [[name], issuerId, profile, 'Active'],
    ]);
    const hex = (serial: string | null | undefined) => (serial ?? '').replace(/^0+/, '').toUpperCase();
    expect(hex(rows[0].serial_number)).toBe(hex(servedLeaves[i].serialNumber));
  }
}

it('Caddy gets certificates for a two-name site from the default directory (trust_authenticated), serves and staples them', async () => {
  // The leaves name certctl's OCSP responder over HTTPS; Caddy fetches staples with Go's
  // system roots, which SSL_CERT_FILE replaces with certctl's TLS CA.
  const { caddy, httpsPort, caddyDir } = await runCaddy('trust', `${srv.baseUrl}/acme/directory`, trustNames, {
    env: { SSL_CERT_FILE: srv.caFile as string },
  });
  const leaves: X509Certificate[] = [];
  for (const name of trustNames) leaves.push(await checkServed(httpsPort, name, true));
  await checkInventory(trustNames, profileId, leaves);

  // CertMagic stores what it got under the directory's host and path: the same leaf it serves.
  const stored = await readFile(
    join(
      caddyDir,
      'storage',
      'certificates',
      `127.0.0.1-${srv.port}-acme-directory`,
      trustNames[0],
      `${trustNames[0]}.crt`,
    ),
    'utf8',
  );
  expect(new X509Certificate(stored).fingerprint256).toBe(leaves[0].fingerprint256);
  await caddy.stop();
}, 120_000);

it('Caddy answers http-01 or tls-alpn-01 at a challenge-mode profile directory and serves the certificates', async () => {
  const { caddy, httpsPort } = await runCaddy(
    'challenge',
    `${srv.baseUrl}/acme/profile/${challengeProfileId}/directory`,
    challengeNames,
    { ports: [chHttpPort, chHttpsPort] },
  );
  // The validator really came: Caddy served a key authorization for each name, over
  // http-01 or tls-alpn-01 (acmez picks one of the two offered at random).
  const served = caddy
    .logs()
    .filter((l) => l.msg?.startsWith('served key authentication'))
    .map((l) => `${String(l.identifier ?? l.server_name)} ${String(l.challenge)}`)
    .sort();
  expect(served).toEqual([
    expect.stringMatching(/^a\.ch\.caddy\.test (http-01|tls-alpn-01)$/),
    expect.stringMatching(/^b\.ch\.caddy\.test (http-01|tls-alpn-01)$/),
  ]);
  const leaves: X509Certificate[] = [];
  for (const name of challengeNames) leaves.push(await checkServed(httpsPort, name));
  await checkInventory(challengeNames, challengeProfileId, leaves);
  await caddy.stop();
}, 120_000);
