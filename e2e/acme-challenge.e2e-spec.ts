import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createIssuerAndProfile } from './support/https';
import { cleanupAll, startIssuingServer, tempDir, type ServerProcess } from './support/server-process';
import { freePort, runCommand, tail } from './support/util';

/**
 * ACME in `challenge` mode against the built server: lego (--http, its own standalone
 * listener) and certbot (--standalone) answer real http-01 challenges on a loopback port,
 * which the server's validator reaches through CERTCTL_ACME_SERVER_HTTP01_PORT with the names
 * mapped to 127.0.0.1 by CERTCTL_ACME_SERVER_RESOLVE; lego --tls answers tls-alpn-01 (RFC 8737)
 * on the port of CERTCTL_ACME_SERVER_TLSALPN01_PORT. No traffic leaves loopback.
 */
const tag = randomBytes(3).toString('hex');
const issuerId = `iss-e2e-acmech-${tag}`;
const profileId = `prof-e2e-acmech-${tag}`;
const names = ['lego.ch.test', 'lego2.ch.test', 'certbot.ch.test', 'legotls.ch.test'];

let srv: ServerProcess;
let dir: string;
let http01Port: number;
let tlsAlpn01Port: number;

beforeAll(async () => {
  http01Port = await freePort();
  tlsAlpn01Port = await freePort();
  const started = await startIssuingServer('acme-challenge', {
    CERTCTL_ACME_SERVER_ENABLED: 'true',
    CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
    CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: profileId,
    CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'challenge',
    CERTCTL_ACME_SERVER_HTTP01_PORT: String(http01Port),
    CERTCTL_ACME_SERVER_TLSALPN01_PORT: String(tlsAlpn01Port),
    CERTCTL_ACME_SERVER_RESOLVE: names.map((n) => `${n}=127.0.0.1`).join(','),
  });
  srv = started.srv;
  const admin = started.admin;
  await createIssuerAndProfile(started.api, admin, { issuer: issuerId, profile: profileId }, profileId, {
    allowed_key_algorithms: [
      { algorithm: 'ECDSA', min_size: 256 },
      { algorithm: 'RSA', min_size: 2048 },
    ],
    san_rules: { permitted_dns_patterns: ['*.ch.test'] },
  });
  dir = await tempDir('certctl-e2e-acme-challenge-');
}, 60_000);

afterAll(cleanupAll, 60_000);

async function mustRun(cmd: string, args: string[], env: Record<string, string>, log?: string): Promise<void> {
  const r = await runCommand(cmd, args, { cwd: dir, timeoutMs: 120_000, env: { HOME: dir, ...env } });
  let out = '';
  if (r.code !== 0) {
    out = tail(r.stdout + r.stderr);
    if (log) out += `\n--- ${log}\n${tail(await readFile(log, 'utf8').catch(() => ''), 3_000)}`;
  }
  expect({ cmd, code: r.code, out }).toEqual({ cmd, code: 0, out: '' });
}

function sansOf(pem: string): string {
  return new X509Certificate(pem).subjectAltName ?? '';
}

it('lego answers http-01 on its own listener and gets a certificate for two names', async () => {
  await mustRun(
    'lego',
    [
      '--server', `${srv.baseUrl}/acme/directory`, '--accept-tos', '--email', 'ops@ch.test',
      '--path', join(dir, 'lego'), '--http', '--http.port', `127.0.0.1:${http01Port}`,
      '--key-type', 'ec256', '-d', 'lego.ch.test', '-d', 'lego2.ch.test', 'run',
    ], // prettier-ignore
    { LEGO_CA_CERTIFICATES: srv.caFile as string },
  );
  const pem = await readFile(join(dir, 'lego', 'certificates', 'lego.ch.test.crt'), 'utf8');
  expect(sansOf(pem)).toBe('DNS:lego.ch.test, DNS:lego2.ch.test');
}, 180_000);

it('lego --tls answers tls-alpn-01 on its own TLS listener and gets a certificate', async () => {
  await mustRun(
    'lego',
    [
      '--server', `${srv.baseUrl}/acme/directory`, '--accept-tos', '--email', 'ops@ch.test',
      '--path', join(dir, 'lego-tls'), '--tls', '--tls.port', `127.0.0.1:${tlsAlpn01Port}`,
      '--key-type', 'ec256', '-d', 'legotls.ch.test', 'run',
    ], // prettier-ignore
    { LEGO_CA_CERTIFICATES: srv.caFile as string },
  );
  const pem = await readFile(join(dir, 'lego-tls', 'certificates', 'legotls.ch.test.crt'), 'utf8');
  expect(sansOf(pem)).toBe('DNS:legotls.ch.test');
}, 180_000);

it('certbot --standalone answers http-01 and gets a certificate', async () => {
  const d = join(dir, 'certbot');
  await mustRun(
    'certbot',
    [
      'certonly', '--standalone', '--http-01-address', '127.0.0.1', '--http-01-port', String(http01Port),
      '--agree-tos', '-m', 'ops@ch.test', '-d', 'certbot.ch.test', '--non-interactive',
      '--server', `${srv.baseUrl}/acme/directory`,
      '--config-dir', join(d, 'etc'), '--work-dir', join(d, 'work'), '--logs-dir', join(d, 'logs'),
    ], // prettier-ignore
    { REQUESTS_CA_BUNDLE: srv.caFile as string },
    join(d, 'logs', 'letsencrypt.log'),
  );
  const pem = await readFile(join(d, 'etc', 'live', 'certbot.ch.test', 'cert.pem'), 'utf8');
  expect(sansOf(pem)).toBe('DNS:certbot.ch.test');
}, 180_000);

it('lego fails cleanly when nothing answers the challenge (the order turns invalid)', async () => {
  // lego's --http.webroot writes the token to a directory no web server serves.
  await mkdir(join(dir, 'unserved'), { recursive: true });
  const r = await runCommand(
    'lego',
    [
      '--server', `${srv.baseUrl}/acme/directory`, '--accept-tos', '--email', 'ops@ch.test',
      '--path', join(dir, 'lego-none'), '--http', '--http.webroot', join(dir, 'unserved'),
      '-d', 'lego.ch.test', 'run',
    ], // prettier-ignore
    { cwd: dir, timeoutMs: 120_000, env: { HOME: dir, LEGO_CA_CERTIFICATES: srv.caFile as string } },
  );
  expect(r.code).not.toBe(0);
  expect(r.stdout + r.stderr).toMatch(/urn:ietf:params:acme:error:(connection|unauthorized)/);
}, 180_000);
