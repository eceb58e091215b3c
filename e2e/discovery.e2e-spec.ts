import { randomBytes, X509Certificate } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from './support/agent-process';
import { HttpsClient, apiCall, type HttpsResponse } from './support/https';
import { makeCa, openssl } from './support/openssl';
import { cleanupAll, tempDir, type ServerProcess, startIssuingServer } from './support/server-process';
import { runCommand } from './support/util';

/**
 * Filesystem discovery end to end, black box: the built agent scans a directory holding a
 * PEM bundle (two certificates), a DER certificate and junk (random bytes named .pem/.der, a
 * key-only .pem, a FIFO named .pem, a mode-000 file, an oversized .pem it refuses to read), twice; the
 * server lists each certificate exactly once, with both scans recorded; one is claimed
 * (a managed certificate is created from it), another dismissed, and the summary agrees.
 */

const tag = randomBytes(3).toString('hex');
const LEAF_CN = `app-${tag}.discovery.example.com`;
const DER_CN = `der-${tag}.discovery.example.com`;

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let agent: AgentProcess;
let agentId: string;
let scanDir: string;
/** fingerprint -> what the scan must report for it */
const expected = new Map<string, { path: string; format: 'pem' | 'der'; cn: string; is_ca: boolean }>();

async function call(method: 'GET' | 'POST', path: string, body?: object, expected?: number): Promise<HttpsResponse> {
  return apiCall(api, admin, method, path, body, expected);
}

const fingerprintOf = (pemOrDer: string | Buffer): string =>
  new X509Certificate(pemOrDer).fingerprint256.replace(/:/g, '').toLowerCase();

interface Discovered {
  id: string;
  agent_id: string;
  source_path: string;
  source_format: string;
  fingerprint_sha256: string;
  common_name: string;
  sans: string[];
  is_ca: boolean;
  key_algorithm: string;
  key_size: number | null;
  status: string;
  managed_certificate_id: string | null;
  first_seen: string;
  last_seen: string;
  last_scan_id: string | null;
}

beforeAll(async () => {
  ({ srv, api, admin } = await startIssuingServer('discovery'));

  const dir = await tempDir('certctl-e2e-discovery-');
  const work = join(dir, 'work');
  scanDir = join(dir, 'scan');
  await mkdir(work);
  await mkdir(join(scanDir, 'nested'), { recursive: true });

  // A CA and a leaf it signed (openssl), as one PEM bundle: leaf first, then the CA.
  const ca = await makeCa(work, `e2e discovery CA ${tag}`);
  const leafKey = join(work, 'leaf.key');
  const leafCsr = join(work, 'leaf.csr');
  const leafPem = join(work, 'leaf.pem');
  const ext = join(work, 'leaf.ext');
  await writeFile(ext, `basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:${LEAF_CN}\n`);
  await openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', leafKey, '-out', leafCsr, '-subj', `/CN=${LEAF_CN}`,
  ]); // prettier-ignore
  await openssl([
    'x509', '-req', '-in', leafCsr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-days', '20', '-sha256', '-extfile', ext, '-out', leafPem,
  ]); // prettier-ignore
  const leafText = await readFile(leafPem, 'utf8');
  const caText = await readFile(ca.cert, 'utf8');
  const bundle = join(scanDir, 'bundle.pem');
  await writeFile(bundle, leafText + caText);
  expected.set(fingerprintOf(leafText), { path: bundle, format: 'pem', cn: LEAF_CN, is_ca: false });
  expected.set(fingerprintOf(caText), { path: bundle, format: 'pem', cn: `e2e discovery CA ${tag}`, is_ca: true });

  // A self-signed RSA certificate stored as DER, one level down.
  const derPem = join(work, 'der.pem');
  const der = join(scanDir, 'nested', 'server.der');
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work, 'der.key'), '-out', derPem,
    '-days', '20', '-subj', `/CN=${DER_CN}`, '-addext', `subjectAltName=DNS:${DER_CN}`,
    '-addext', 'basicConstraints=critical,CA:FALSE',
  ]); // prettier-ignore
  await openssl(['x509', '-in', derPem, '-outform', 'DER', '-out', der]);
  expected.set(fingerprintOf(await readFile(der)), { path: der, format: 'der', cn: DER_CN, is_ca: false });

  // Junk: random bytes with a certificate extension, a key-only PEM, a FIFO and a mode-000 file.
  await writeFile(join(scanDir, 'random.pem'), randomBytes(2048));
  await writeFile(join(scanDir, 'random.der'), Buffer.concat([Buffer.from([0x30, 0x82]), randomBytes(512)]));
  await copyFile(leafKey, join(scanDir, 'key-only.pem'));
  const fifo = await runCommand('mkfifo', [join(scanDir, 'pipe.pem')]);
  if (fifo.code !== 0) throw new Error(`mkfifo failed: ${fifo.stderr}`);
  await writeFile(join(scanDir, 'huge.pem'), Buffer.concat([Buffer.from(leafText), randomBytes(2 * 1024 * 1024)]));
  await writeFile(join(scanDir, 'locked.crt'), randomBytes(256));
  await chmod(join(scanDir, 'locked.crt'), 0o000);
  // A certificate in a file without a certificate extension is not a candidate.
  await writeFile(join(scanDir, 'notes.txt'), leafText);

  agent = await startAgent({
    CERTCTL_SERVER_URL: srv.baseUrl,
    CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile,
    CERTCTL_API_KEY: admin,
    CERTCTL_AGENT_NAME: `e2e-discovery-${tag}`,
    CERTCTL_KEY_DIR: join(dir, 'keys'),
    CERTCTL_DISCOVERY_DIRS: scanDir,
    CERTCTL_AGENT_DISCOVERY_INTERVAL: '2s',
    CERTCTL_AGENT_HEARTBEAT_INTERVAL: '10s',
    CERTCTL_AGENT_POLL_INTERVAL: '10s',
    CERTCTL_AGENT_BACKOFF_BASE: '200ms',
    CERTCTL_AGENT_BACKOFF_MAX: '2s',
  });
  agentId = String((await agent.waitForLog('registered', (l) => l.msg === 'registered with the server')).agent_id);
}, 60_000);

afterAll(async () => {
  await cleanupAll();
}, 60_000);

let listed: Discovered[];

test('two scans: each certificate (2 from the bundle, 1 DER) listed exactly once; junk skipped, the unreadable reported', async () => {
  await agent.waitForLog('second discovery report', () => reports() >= 2, { timeoutMs: 30_000 });
  // Stopped after the second report, so the numbers below cannot move.
  expect(await agent.stop()).toEqual({ code: 0, signal: null });
  const scansReported = reports();
  expect(scansReported).toBeGreaterThanOrEqual(2);

  const scans = await call('GET', `/api/v1/discovery-scans?agent_id=${agentId}`, undefined, 200);
  expect(scans.json.data).toHaveLength(scansReported);
  for (const s of scans.json.data) {
    expect(s).toMatchObject({
      agent_id: agentId,
      source: 'filesystem',
      directories: [scanDir],
      certificates_found: 3,
    });
    // What could not be read is reported and the walk goes on; junk without a certificate
    // block, the key-only file and the FIFO (never opened, so never blocking) are skipped.
    const errors = [{ path: join(scanDir, 'huge.pem'), message: expect.stringMatching(/^larger than \d+ bytes/) }];
    // root reads a mode-000 file (and finds junk); anyone else cannot open it.
    if (process.getuid?.() !== 0) errors.push({ path: join(scanDir, 'locked.crt'), message: 'permission denied' });
    expect(s.errors).toEqual(expect.arrayContaining(errors));
    expect(s.errors).toHaveLength(errors.length);
    expect(s.error_count).toBe(errors.length);
  }
  const newCounts = scans.json.data.map((s: { new_certificates: number }) => s.new_certificates).sort();
  expect(newCounts).toEqual([...Array(scansReported - 1).fill(0), 3]);

  const list = await call('GET', `/api/v1/discovered-certificates?agent_id=${agentId}`, undefined, 200);
  listed = list.json.data;
  expect(listed).toHaveLength(3);
  expect(new Set(listed.map((d) => d.fingerprint_sha256))).toEqual(new Set(expected.keys()));
  const latestScan = [...scans.json.data].sort(
    (a: { created_at: string }, b: { created_at: string }) => Date.parse(b.created_at) - Date.parse(a.created_at),
  )[0].id;
  for (const d of listed) {
    const want = expected.get(d.fingerprint_sha256)!;
    expect(d).toMatchObject({
      agent_id: agentId,
      source_path: want.path,
      source_format: want.format,
      common_name: want.cn,
      is_ca: want.is_ca,
      status: 'Unmanaged',
      managed_certificate_id: null,
      last_scan_id: latestScan,
    });
    // Seen by both scans: first_seen stayed, last_seen moved.
    expect(Date.parse(d.last_seen)).toBeGreaterThan(Date.parse(d.first_seen));
  }
  expect(listed.find((d) => d.common_name === DER_CN)).toMatchObject({
    sans: [DER_CN],
    key_algorithm: 'RSA',
    key_size: 2048,
  });
  expect(listed.find((d) => d.common_name === LEAF_CN)).toMatchObject({
    sans: [LEAF_CN],
    key_algorithm: 'ECDSA',
    key_size: 256,
  });
}, 60_000);

test('claim one (a managed certificate is created), dismiss another: the summary counts match', async () => {
  const leaf = listed.find((d) => d.common_name === LEAF_CN)!;
  const der = listed.find((d) => d.common_name === DER_CN)!;

  const claimed = await call(
    'POST',
    `/api/v1/discovered-certificates/${leaf.id}/claim`,
    { create: { name: `claimed ${tag}` } },
    200,
  );
  expect(claimed.json).toMatchObject({ id: leaf.id, status: 'Managed', managed_certificate_id: expect.any(String) });
  const managed = await call('GET', `/api/v1/certificates/${claimed.json.managed_certificate_id}`, undefined, 200);
  expect(managed.json).toMatchObject({ name: `claimed ${tag}`, common_name: LEAF_CN });
  // Claimed once: a second claim is a conflict.
  await call('POST', `/api/v1/discovered-certificates/${leaf.id}/claim`, { create: { name: `again ${tag}` } }, 409);

  const dismissed = await call(
    'POST',
    `/api/v1/discovered-certificates/${der.id}/dismiss`,
    { reason: 'lab certificate' },
    200,
  );
  expect(dismissed.json).toMatchObject({ id: der.id, status: 'Dismissed', managed_certificate_id: null });

  const byStatus = async (status: string) =>
    (await call('GET', `/api/v1/discovered-certificates?agent_id=${agentId}&status=${status}`, undefined, 200)).json
      .data as Discovered[];
  expect((await byStatus('Managed')).map((d) => d.id)).toEqual([leaf.id]);
  expect((await byStatus('Dismissed')).map((d) => d.id)).toEqual([der.id]);
  expect((await byStatus('Unmanaged')).map((d) => d.common_name)).toEqual([`e2e discovery CA ${tag}`]);

  const scans = (await call('GET', `/api/v1/discovery-scans?agent_id=${agentId}`, undefined, 200)).json.data;
  const summary = await call('GET', '/api/v1/discovery-summary', undefined, 200);
  expect(summary.json).toMatchObject({
    total: 3,
    unmanaged: 1,
    managed: 1,
    dismissed: 1,
    expired: 0,
    scans: scans.length,
    by_agent: [{ agent_id: agentId, total: 3, unmanaged: 1, managed: 1, dismissed: 1 }],
  });
}, 30_000);

function reports(): number {
  return agent.logs().filter((l) => l.msg === 'discovery reported').length;
}
