import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpsClient } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, tempDir, type ServerProcess, startIssuingServer } from './support/server-process';
import { pollUntil, runCommand } from './support/util';

/**
 * Two-person integrity against the built server: operator A requests the renewal of a
 * certificate whose profile requires approval, A cannot approve it, operator B can; the
 * certificate then issues and verifies with openssl against the issuer's root.
 */
const tag = randomBytes(3).toString('hex');
let srv: ServerProcess;
let api: HttpsClient;
let dir: string;

beforeAll(async () => {
  ({ srv, api } = await startIssuingServer('approvals', { CERTCTL_KEYGEN_MODE: 'server' }));
  dir = await tempDir('certctl-e2e-approvals-');
}, 60_000);

afterAll(cleanupAll, 60_000);

async function call(method: 'GET' | 'POST', path: string, bearer: string, body?: object) {
  return api.request(method, path, { bearer, body });
}

async function operatorKey(name: string): Promise<string> {
  const r = await call('POST', '/api/v1/auth/keys', srv.adminKey!, { name: `${name}-${tag}`, roles: ['operator'] });
  expect(r.status).toBe(201);
  return (r.json as { key: string }).key;
}

it('operator A requests, A is refused, operator B approves, the certificate issues and verifies', async () => {
  const admin = srv.adminKey!;
  const [a, b] = [await operatorKey('op-a'), await operatorKey('op-b')];
  const issuer = `iss-e2e-ap-${tag}`;
  const profile = `prof-e2e-ap-${tag}`;
  const cert = `mc-e2e-ap-${tag}`;
  expect((await call('POST', '/api/v1/issuers', admin, { id: issuer, name: issuer, type: 'LocalCA' })).status).toBe(
    201,
  );
  const p = await call('POST', '/api/v1/profiles', admin, {
    id: profile,
    name: profile,
    allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
    max_ttl_seconds: 7 * 86_400,
    requires_approval: true,
  });
  expect(p.status).toBe(201);
  const c = await call('POST', '/api/v1/certificates', admin, {
    id: cert,
    name: cert,
    common_name: 'approved.example.com',
    issuer_id: issuer,
    profile_id: profile,
  });
  expect(c.status).toBe(201);

  const renew = await call('POST', `/api/v1/certificates/${cert}/renew`, a);
  expect(renew.status).toBe(202);
  const job = renew.json as { id: string; status: string };
  expect(job.status).toBe('AwaitingApproval');

  const pending = await call('GET', `/api/v1/approvals?state=pending&certificate_id=${cert}`, b);
  const request = (pending.json as { data: { id: string; job_id: string }[] }).data[0];
  expect(request.job_id).toBe(job.id);

  const self = await call('POST', `/api/v1/approvals/${request.id}/approve`, a, { note: 'self' });
  expect(self.status).toBe(403);
  expect((self.json as { message: string }).message).toContain('two-person integrity');

  const ok = await call('POST', `/api/v1/jobs/${job.id}/approve`, b, { note: 'change ticket 42' });
  expect(ok.status).toBe(200);
  expect((ok.json as { state: string }).state).toBe('approved');

  await pollUntil(
    `job ${job.id} to complete`,
    async () => (await call('GET', `/api/v1/jobs/${job.id}`, admin)).json as { status: string },
    (j) => j.status === 'Completed',
    { timeoutMs: 30_000 },
  );
  const pem = await call('GET', `/api/v1/certificates/${cert}/export/pem`, admin);
  expect(pem.status).toBe(200);
  const leaf = join(dir, 'leaf.pem');
  await writeFile(leaf, (pem.json as { certificate_pem: string }).certificate_pem);
  const rootDer = join(dir, 'root.der');
  const got = await runCommand('curl', [
    '-sS', '--noproxy', '*', '--cacert', srv.caFile!, '-o', rootDer, `${srv.baseUrl}/.well-known/pki/ca/${issuer}.crt`,
  ]); // prettier-ignore
  expect(got.code).toBe(0);
  const root = join(dir, 'root.pem');
  await openssl(['x509', '-inform', 'DER', '-in', rootDer, '-out', root]);
  const verified = await openssl(['verify', '-CAfile', root, leaf]);
  expect(verified.stdout).toContain(': OK');
}, 90_000);
