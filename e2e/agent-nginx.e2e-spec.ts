import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { Client } from 'pg';
import { startAgent, type AgentProcess } from './support/agent-process';
import { HttpsClient, apiCall, createIssuerAndProfile, type HttpsResponse } from './support/https';
import { startNginx, type NginxInstance } from './support/nginx';
import { openssl } from './support/openssl';
import { cleanupAll, tempDir, type ServerProcess, startIssuingServer } from './support/server-process';
import { freePort, pollUntil } from './support/util';

/**
 * The issue's acceptance path with a real nginx from Debian, black box: the built server
 * (agent keygen mode), the built agent, and a private nginx on a loopback port serving the
 * files an NGINX target writes.
 * - A certificate mapped to the target is issued through the agent's CSR, deployed with
 *   `nginx -t` and `nginx -s reload` for this instance, and a TLS handshake to nginx serves
 *   exactly that certificate; the agent's verification (fingerprint match) is recorded.
 * - Renewal rotates it: nginx serves the new serial; the key files are 0600; no private key
 *   reaches the server's database.
 * - A broken nginx.conf fails the next deployment at the validate step: the files are
 *   rolled back and nginx keeps serving the previous certificate.
 */

const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-e2e-nginx-${tag}`,
  profile: `prof-e2e-nginx-${tag}`,
  target: `t-e2e-nginx-${tag}`,
  cert: `mc-e2e-nginx-${tag}`,
};
const HOST = 'nginx.e2e.example.com';

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let agent: AgentProcess | undefined;
let agentId: string;
let nginx: NginxInstance;
let keyDir: string;
let caPem: string;
const files = { cert: '', key: '', chain: '' };

async function call(method: 'GET' | 'POST', path: string, body?: object, expected?: number): Promise<HttpsResponse> {
  return apiCall(api, admin, method, path, body, expected);
}

const withAgentLog = (e: Error): never => {
  throw new Error(`${e.message}\n${agent?.output() ?? ''}`);
};

const readIfAny = (p: string): Promise<string> =>
  readFile(p, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '<missing>' : Promise.reject(e)));
const fileMode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toLowerCase();

interface Served {
  authorized: boolean;
  authorizationError?: string;
  fingerprint: string;
  serial: string;
}

/** The issuer's CA certificate from its public AIA URL (DER), as PEM. */
function fetchCaPem(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: srv.port,
        path: `/.well-known/pki/ca/${ids.issuer}.crt`,
        ca: readFileSync(srv.caFile!),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`CA certificate: HTTP ${res.statusCode}`));
          else resolve(new X509Certificate(Buffer.concat(chunks)).toString());
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One TLS handshake with nginx (SNI = the certificate's name), trusting only the issuing CA. */
function handshake(caPem: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: nginx.port,
      servername: HOST,
      ca: caPem,
      rejectUnauthorized: false,
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error('TLS handshake with nginx timed out')));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      const out: Served = {
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
        fingerprint: peer ? peer.fingerprint256.replace(/:/g, '').toLowerCase() : '',
        serial: peer ? peer.serialNumber.toLowerCase() : '',
      };
      socket.end();
      resolve(out);
    });
  });
}

/** nginx serves this certificate steadily (a graceful reload lets old workers answer briefly). */
async function expectServed(pem: { certificate_pem: string }): Promise<Served> {
  const want = fingerprintOf(pem.certificate_pem);
  let streak = 0;
  return pollUntil(
    `nginx serves ${want}`,
    async () => {
      const s = await handshake(caPem);
      streak = s.fingerprint === want ? streak + 1 : 0;
      return s;
    },
    () => streak >= 3,
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

const latestPem = async (): Promise<{ certificate_pem: string; chain_pem: string; serial_number: string }> =>
  (await call('GET', `/api/v1/certificates/${ids.cert}/export/pem`, undefined, 200)).json;

const deploymentJobs = async (): Promise<{ id: string; status: string; last_error: string | null }[]> =>
  (await call('GET', `/api/v1/jobs?certificate_id=${ids.cert}&type=Deployment`, undefined, 200)).json.data;

/** Renews, waits for the agent's CSR to be issued, and returns the new deployment job once it is final. */
async function renewAndDeploy(): Promise<{ id: string; status: string; last_error: string | null }> {
  const before = new Set((await deploymentJobs()).map((j) => j.id));
  const renew = await call('POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202);
  const issueJob: string = renew.json.id;
  await pollUntil(
    `issuance job ${issueJob} Completed through the agent's CSR`,
    () => call('GET', `/api/v1/jobs/${issueJob}`),
    (r) => r.json?.status === 'Completed',
    { timeoutMs: 20_000 },
  ).catch(withAgentLog);
  const jobs = await pollUntil(
    'the new deployment job finished',
    deploymentJobs,
    (js) => js.some((j) => !before.has(j.id) && ['Completed', 'Failed'].includes(j.status)),
    { timeoutMs: 25_000 },
  ).catch(withAgentLog);
  return jobs.find((j) => !before.has(j.id) && ['Completed', 'Failed'].includes(j.status))!;
}

beforeAll(async () => {
  ({ srv, api, admin } = await startIssuingServer('nginx'));

  const dir = await tempDir('certctl-e2e-nginx-');
  keyDir = join(dir, 'agent-keys');
  const ngDir = join(dir, 'nginx');
  await mkdir(join(ngDir, 'ssl'), { recursive: true });
  files.cert = join(ngDir, 'ssl', 'site.crt');
  files.key = join(ngDir, 'ssl', 'site.key');
  files.chain = join(ngDir, 'ssl', 'chain.pem');
  // nginx needs a certificate to start: a throwaway self-signed one the first deployment replaces.
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', files.key, '-out', files.cert, '-days', '1', '-subj', '/CN=bootstrap',
  ]); // prettier-ignore
  nginx = await startNginx({ dir: ngDir, port: await freePort(), certPath: files.cert, keyPath: files.key });

  await createIssuerAndProfile(api, admin, ids, `E2E nginx ${tag}`);

  agent = await startAgent({
    CERTCTL_SERVER_URL: srv.baseUrl,
    CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile,
    CERTCTL_API_KEY: admin,
    CERTCTL_AGENT_NAME: `e2e-nginx-${tag}`,
    CERTCTL_KEY_DIR: keyDir,
    CERTCTL_AGENT_HEARTBEAT_INTERVAL: '5s',
    CERTCTL_AGENT_POLL_INTERVAL: '1s',
    CERTCTL_AGENT_BACKOFF_BASE: '200ms',
    CERTCTL_AGENT_BACKOFF_MAX: '2s',
    CERTCTL_LOG_LEVEL: 'debug',
  });
  agentId = String((await agent.waitForLog('registered', (l) => l.msg === 'registered with the server')).agent_id);

  await call(
    'POST',
    '/api/v1/targets',
    {
      id: ids.target,
      name: `nginx-${tag}`,
      type: 'NGINX',
      agent_id: agentId,
      config: {
        cert_path: files.cert,
        key_path: files.key,
        chain_path: files.chain,
        validate_command: nginx.argv('-t'),
        reload_command: nginx.argv('-s', 'reload'),
        verify_host: '127.0.0.1',
        verify_port: nginx.port,
        verify_server_name: HOST,
      },
    },
    201,
  );
  await call(
    'POST',
    '/api/v1/certificates',
    {
      id: ids.cert,
      name: `nginx ${tag}`,
      common_name: HOST,
      sans: [HOST],
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      agent_id: agentId,
      target_ids: [ids.target],
    },
    201,
  );
}, 60_000);

afterAll(async () => {
  await cleanupAll();
}, 60_000);

let first: { certificate_pem: string; chain_pem: string; serial_number: string };
let second: { certificate_pem: string; chain_pem: string; serial_number: string };

test('issued through the agent’s CSR, deployed to nginx: the handshake serves exactly that certificate, verified by the agent', async () => {
  const job = await renewAndDeploy();
  expect({ status: job.status, last_error: job.last_error }).toEqual({ status: 'Completed', last_error: null });
  first = await latestPem();
  caPem = await fetchCaPem();
  expect(new X509Certificate(first.certificate_pem).checkIssued(new X509Certificate(caPem))).toBe(true);

  const served = await expectServed(first);
  expect(served).toEqual({
    authorized: true,
    authorizationError: undefined,
    fingerprint: fingerprintOf(first.certificate_pem),
    serial: serialOf(first.certificate_pem),
  });
  expect(await readFile(files.cert, 'utf8')).toContain(first.certificate_pem.trim());
  // The LocalCA is a self-signed root: no intermediates, so the chain file holds nothing to send.
  expect(first.chain_pem).toBe('');
  expect(await readIfAny(files.chain)).toBe(first.chain_pem);

  const verification = await pollUntil(
    'verification recorded',
    () => call('GET', `/api/v1/jobs/${job.id}/verification`),
    (r) => r.status === 200,
    { timeoutMs: 15_000 },
  ).catch(withAgentLog);
  expect(verification.json).toMatchObject({
    job_id: job.id,
    verified: true,
    expected_fingerprint: fingerprintOf(first.certificate_pem),
    served_fingerprint: fingerprintOf(first.certificate_pem),
  });
}, 60_000);

test('renewal rotates it: nginx serves the new serial; keys are 0600 and the database holds no private key', async () => {
  const job = await renewAndDeploy();
  expect({ status: job.status, last_error: job.last_error }).toEqual({ status: 'Completed', last_error: null });
  second = await latestPem();
  expect(serialOf(second.certificate_pem)).not.toBe(serialOf(first.certificate_pem));

  const served = await expectServed(second);
  expect(served).toMatchObject({ authorized: true, serial: serialOf(second.certificate_pem) });

  // A fresh key per version, made by the agent: the deployed key matches the new certificate only.
  const certPub = new X509Certificate(second.certificate_pem).publicKey.export({ type: 'spki', format: 'pem' });
  const firstPub = new X509Certificate(first.certificate_pem).publicKey.export({ type: 'spki', format: 'pem' });
  const deployedPub = (await openssl(['pkey', '-in', files.key, '-pubout'])).stdout;
  expect(deployedPub).toBe(certPub);
  expect(deployedPub).not.toBe(firstPub);
  expect(await fileMode(files.key)).toBe(0o600);
  expect(await fileMode(join(keyDir, `${ids.cert}.key`))).toBe(0o600);
  expect(await fileMode(keyDir)).toBe(0o700);

  const c = new Client({ connectionString: srv.databaseUrl });
  await c.connect();
  try {
    const rows = (
      await c.query<{ sealed: boolean; text: string }>(
        `SELECT sealed_private_key IS NOT NULL AS sealed, row_to_json(v)::text AS text
           FROM certificate_versions v WHERE certificate_id = $1`,
        [ids.cert],
      )
    ).rows;
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) {
      expect(r.sealed).toBe(false);
      expect(r.text).not.toContain('PRIVATE KEY');
      expect(r.text).toContain('CERTIFICATE REQUEST');
    }
  } finally {
    await c.end();
  }
  expect(agent?.stdout()).not.toContain('PRIVATE KEY');
}, 60_000);

test('a broken nginx config fails the next deployment at validate: files rolled back, nginx keeps the old certificate', async () => {
  const before = await Promise.all([files.cert, files.key, files.chain].map(readIfAny));
  const original = await readFile(nginx.conf, 'utf8');
  await appendFile(nginx.conf, '\nnot_an_nginx_directive on;\n');
  let job;
  try {
    job = await renewAndDeploy();
  } finally {
    await writeFile(nginx.conf, original);
  }
  expect(job.status).toBe('Failed');
  expect(job.last_error).toMatch(/validate/);
  expect(job.last_error).toMatch(/rolled back/);
  expect(job.last_error).not.toMatch(/NOT rolled back/);

  const third = await latestPem();
  expect(serialOf(third.certificate_pem)).not.toBe(serialOf(second.certificate_pem));
  expect(await Promise.all([files.cert, files.key, files.chain].map(readIfAny))).toEqual(before);
  expect(await fileMode(files.key)).toBe(0o600);

  const want = fingerprintOf(second.certificate_pem);
  for (let i = 0; i < 5; i++) {
    expect((await handshake(caPem)).fingerprint).toBe(want);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 60_000);
