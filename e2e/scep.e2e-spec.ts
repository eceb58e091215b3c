import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiCall, type HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import { runScepClient } from './support/scep-client';
import { cleanupAll, startIssuingServer, tempDir, type ServerProcess } from './support/server-process';
import { pollUntil, runCommand } from './support/util';

/**
 * SCEP (RFC 8894) against the built server with the real micromdm `scepclient` over HTTPS:
 * enrollment, a wrong challenge, renewal with the issued certificate, and the deferred path
 * (PENDING until a second API key approves while the client sleeps and resends).
 */

const CHALLENGE = 'e2e-scep-challenge-0123';
const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-scep-${tag}`,
  rsaIssuer: `iss-scep-rsa-${tag}`,
  profile: `prof-scep-${tag}`,
  gated: `prof-scep-gated-${tag}`,
};
let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let dir: string;

beforeAll(async () => {
  ({ srv, api, admin } = await startIssuingServer('scep', {
    CERTCTL_SCEP_ENABLED: 'true',
    CERTCTL_SCEP_CHALLENGE_PASSWORD: CHALLENGE,
    CERTCTL_SCEP_ISSUER_ID: ids.issuer,
    CERTCTL_SCEP_PROFILE_ID: ids.profile,
    CERTCTL_SCEP_PROFILES: 'gated,rsa',
    CERTCTL_SCEP_PROFILE_GATED_ISSUER_ID: ids.issuer,
    CERTCTL_SCEP_PROFILE_GATED_PROFILE_ID: ids.gated,
    CERTCTL_SCEP_PROFILE_GATED_CHALLENGE_PASSWORD: CHALLENGE,
    CERTCTL_SCEP_PROFILE_RSA_ISSUER_ID: ids.rsaIssuer,
    CERTCTL_SCEP_PROFILE_RSA_PROFILE_ID: ids.profile,
    CERTCTL_SCEP_PROFILE_RSA_CHALLENGE_PASSWORD: CHALLENGE,
  }));
  dir = await tempDir('certctl-e2e-scep-');
  await apiCall(api, admin, 'POST', '/api/v1/issuers', { id: ids.issuer, name: ids.issuer, type: 'LocalCA' }, 201);
  await apiCall(api, admin, 'POST', '/api/v1/issuers',
    { id: ids.rsaIssuer, name: ids.rsaIssuer, type: 'LocalCA', config: { key_algorithm: 'RSA-2048' } }, 201); // prettier-ignore
  for (const [id, gated] of [
    [ids.profile, false],
    [ids.gated, true],
  ] as const) {
    await apiCall(api, admin, 'POST', '/api/v1/profiles', {
      id,
      name: id,
      allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 2048 }],
      max_ttl_seconds: 7 * 86_400,
      requires_approval: gated,
    }, 201); // prettier-ignore
  }
}, 60_000);

afterAll(cleanupAll, 60_000);

/** The issuer's root CA as PEM, fetched from the public CA-certificate URL. */
async function caPem(issuer: string): Promise<string> {
  const der = join(dir, `${issuer}.der`);
  const got = await runCommand('curl', [
    '-sS', '--noproxy', '*', '--cacert', srv.caFile!, '-o', der, `${srv.baseUrl}/.well-known/pki/ca/${issuer}.crt`,
  ]); // prettier-ignore
  expect(got.code).toBe(0);
  const pem = join(dir, `${issuer}.pem`);
  await openssl(['x509', '-inform', 'DER', '-in', der, '-out', pem]);
  return pem;
}

function device(name: string) {
  return { privateKey: join(dir, name, 'key.pem'), certificate: join(dir, name, 'cert.pem') };
}

async function mkdirFor(name: string): Promise<void> {
  await runCommand('mkdir', ['-p', join(dir, name)]);
}

async function serialOf(pem: string): Promise<string> {
  return (await openssl(['x509', '-in', pem, '-noout', '-serial'])).stdout.trim();
}

const clientLog = (r: { code: number | null; stdout: string; stderr: string }) =>
  `exit ${r.code}\n${r.stdout}${r.stderr}\n${srv.output()}`;

it('PKCSReq: scepclient gets a certificate that verifies against the CA; RenewalReq with it gets a new one', async () => {
  await mkdirFor('dev1');
  const d = device('dev1');
  const first = await runScepClient({ url: `${srv.baseUrl}/scep`, tlsCaFile: srv.caFile!, ...d, cn: 'dev1', challenge: CHALLENGE }); // prettier-ignore
  expect({ code: first.code, log: first.code === 0 ? '' : clientLog(first) }).toEqual({ code: 0, log: '' });
  expect(first.stderr).toContain('pkiStatus=SUCCESS');
  const ca = await caPem(ids.issuer);
  expect((await openssl(['verify', '-CAfile', ca, d.certificate])).stdout).toContain(': OK');
  expect((await openssl(['x509', '-in', d.certificate, '-noout', '-subject'])).stdout).toContain('CN = dev1');
  const before = await serialOf(d.certificate);

  // The certificate file exists now: scepclient sends RenewalReq signed with it (no challenge).
  const renewal = await runScepClient({ url: `${srv.baseUrl}/scep`, tlsCaFile: srv.caFile!, ...d, cn: 'dev1' });
  expect({ code: renewal.code, log: renewal.code === 0 ? '' : clientLog(renewal) }).toEqual({ code: 0, log: '' });
  // Signed by the issued certificate (CN dev1), not a fresh self-signed "SCEP SIGNER".
  expect(renewal.stderr).toContain('signer_cn=dev1');
  const audit = await apiCall(api, admin, 'GET', '/api/v1/audit?action=enrollment_requested', undefined, 200);
  const kinds = (audit.json as { data: { details: { kind: string; label: string } }[] }).data
    .filter((e) => e.details.label === '')
    .map((e) => e.details.kind);
  expect(kinds.sort()).toEqual(['enroll', 'reenroll']);
  expect((await openssl(['verify', '-CAfile', ca, d.certificate])).stdout).toContain(': OK');
  expect(await serialOf(d.certificate)).not.toBe(before);
}, 60_000);

it('with an RSA CA, GetCACert is RA + CA (PKCS#7) and scepclient still enrolls', async () => {
  await mkdirFor('dev-rsa');
  const d = device('dev-rsa');
  const r = await runScepClient({ url: `${srv.baseUrl}/scep/rsa`, tlsCaFile: srv.caFile!, ...d, cn: 'dev-rsa', challenge: CHALLENGE }); // prettier-ignore
  expect({ code: r.code, log: r.code === 0 ? '' : clientLog(r) }).toEqual({ code: 0, log: '' });
  expect(r.stderr).toContain('cacertlist count=2');
  const ca = await caPem(ids.rsaIssuer);
  expect((await openssl(['verify', '-CAfile', ca, d.certificate])).stdout).toContain(': OK');
}, 60_000);

it('a wrong challenge: scepclient fails reporting badRequest and writes no certificate', async () => {
  await mkdirFor('dev-bad');
  const d = device('dev-bad');
  const r = await runScepClient({ url: `${srv.baseUrl}/scep`, tlsCaFile: srv.caFile!, ...d, cn: 'dev-bad', challenge: 'wrong-challenge' }); // prettier-ignore
  expect(r.code).not.toBe(0);
  expect(`${r.stdout}${r.stderr}`).toContain('PKCSReq (19) request failed, failInfo: badRequest');
  expect(existsSync(d.certificate)).toBe(false);
}, 60_000);

it('deferred: PENDING; a second API key approves while scepclient sleeps; its resend gets the certificate', async () => {
  await mkdirFor('dev-gated');
  const d = device('dev-gated');
  const approverKey = (
    await apiCall(api, admin, 'POST', '/api/v1/auth/keys', { name: `approver-${tag}`, roles: ['operator'] }, 201)
  ).json as { key: string };
  const client = runScepClient({
    url: `${srv.baseUrl}/scep/gated`,
    tlsCaFile: srv.caFile!,
    ...d,
    cn: 'dev-gated',
    challenge: CHALLENGE,
    timeoutMs: 90_000,
  });
  const pending = await pollUntil(
    'a pending approval for the SCEP enrollment',
    async () =>
      (await apiCall(api, approverKey.key, 'GET', '/api/v1/approvals?state=pending')).json as {
        data: { id: string; requested_by: string }[];
      },
    (list) => list.data.some((a) => a.requested_by === 'scep:gated'),
    { timeoutMs: 20_000 },
  );
  const approval = pending.data.find((a) => a.requested_by === 'scep:gated')!;
  await apiCall(api, approverKey.key, 'POST', `/api/v1/approvals/${approval.id}/approve`, { note: 'e2e' }, 200);
  const r = await client;
  expect({ code: r.code, log: r.code === 0 ? '' : clientLog(r) }).toEqual({ code: 0, log: '' });
  expect(r.stderr).toContain('pkiStatus=PENDING');
  expect(r.stderr).toContain('pkiStatus=SUCCESS');
  const ca = await caPem(ids.issuer);
  expect((await openssl(['verify', '-CAfile', ca, d.certificate])).stdout).toContain(': OK');
  expect(await readFile(d.certificate, 'utf8')).toContain('BEGIN CERTIFICATE');
}, 120_000);
