import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer as createTlsServer, createSecureContext, type Server as TlsServer } from 'node:tls';
import { Client } from 'pg';
import { startAgent, type AgentProcess } from './support/agent-process';
import { HttpsClient, apiCall, createIssuerAndProfile, type HttpsResponse } from './support/https';
import { makeCa, makeServerCert, openssl } from './support/openssl';
import { cleanupAll, startServer, tempDir, type ServerProcess, startIssuingServer } from './support/server-process';
import { freePort, pollUntil } from './support/util';

/**
 * The agent, black-box: the built server (agent keygen mode, the default) and the built
 * agent as two processes.
 * - The agent registers by name (its id and key land in a 0600 state file) and heartbeats:
 *   the server shows it Online with its OS and architecture.
 * - A certificate mapped to an NGINX target (its files; no-op validate/reload commands) is
 *   issued through the agent's own CSR, deployed into the target's files, and the agent's
 *   TLS check of a listener serving those files is reported; the key file is 0600 in a 0700
 *   directory and the server database holds no private key.
 * - Filesystem discovery reports a certificate placed in a scanned directory.
 * - Restarted with the same key directory, the agent reuses its stored identity (no new agent).
 * - The server goes away: the agent backs off (growing delays), then resumes.
 * - The agent is retired: its next call gets 410 and it exits 0.
 */

const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-e2e-agent-${tag}`,
  profile: `prof-e2e-agent-${tag}`,
  target: `t-e2e-agent-${tag}`,
  cert: `mc-e2e-agent-${tag}`,
};
const AGENT_NAME = `e2e-agent-${tag}`;

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let dir: string;
let keyDir: string;
let discoveryDir: string;
let agent: AgentProcess;
let agentId: string;
let verifyServer: TlsServer;
let verifyPort: number;
const targetFiles = { cert: '', key: '' };

async function call(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: object,
  expected?: number,
): Promise<HttpsResponse> {
  return apiCall(api, admin, method, path, body, expected);
}

async function withDb<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: srv.databaseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const fileMode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

function agentEnv(): Record<string, string> {
  return {
    CERTCTL_SERVER_URL: srv.baseUrl,
    CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile!,
    // A key allowed to register agents; the agent then switches to the key the server mints for it.
    CERTCTL_API_KEY: admin,
    CERTCTL_AGENT_NAME: AGENT_NAME,
    CERTCTL_KEY_DIR: keyDir,
    CERTCTL_DISCOVERY_DIRS: discoveryDir,
    CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1s',
    CERTCTL_AGENT_POLL_INTERVAL: '1s',
    CERTCTL_AGENT_DISCOVERY_INTERVAL: '1h',
    CERTCTL_AGENT_BACKOFF_BASE: '200ms',
    CERTCTL_AGENT_BACKOFF_MAX: '3s',
    CERTCTL_LOG_LEVEL: 'debug',
  };
}

beforeAll(async () => {
  ({ srv, api, admin } = await startIssuingServer('agent'));
  dir = await tempDir('certctl-e2e-agent-');
  keyDir = join(dir, 'state', 'keys');
  discoveryDir = join(dir, 'discover');
  targetFiles.cert = join(dir, 'www', 'agent.crt');
  targetFiles.key = join(dir, 'www', 'agent.key');
  await openssl(['version']);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(dir, 'www'), { recursive: true });
  await mkdir(discoveryDir, { recursive: true });
  // A certificate for discovery to find (an independent openssl CA + leaf).
  const ca = await makeCa(discoveryDir, `e2e discovery CA ${tag}`);
  await makeServerCert(discoveryDir, ca, 'found');

  // The "web server" the agent verifies: it serves whatever the target files hold, read at each handshake.
  verifyServer = createTlsServer({
    SNICallback: (_name, cb) => {
      Promise.all([readFile(targetFiles.cert), readFile(targetFiles.key)])
        .then(([cert, key]) => cb(null, createSecureContext({ cert, key })))
        .catch((e: Error) => cb(e));
    },
  });
  verifyServer.on('tlsClientError', () => undefined);
  verifyPort = await freePort();
  await new Promise<void>((r) => verifyServer.listen(verifyPort, '127.0.0.1', r));

  await createIssuerAndProfile(api, admin, ids, `E2E agent ${tag}`);
}, 90_000);

afterAll(async () => {
  await new Promise((r) => verifyServer?.close(r));
  await cleanupAll();
}, 60_000);

test('registers by name (id + key stored 0600), heartbeats: the server shows it Online with OS and architecture', async () => {
  agent = await startAgent(agentEnv());
  const registered = await agent.waitForLog('registered', (l) => l.msg === 'registered with the server');
  agentId = String(registered.agent_id);
  expect(agentId).toMatch(/^ag-/);

  const stateFile = join(keyDir, 'agent-state.json');
  const state = JSON.parse(await readFile(stateFile, 'utf8'));
  expect(state).toMatchObject({
    agent_id: agentId,
    name: AGENT_NAME,
    server_url: srv.baseUrl,
    api_key: expect.stringMatching(/^cc_/),
  });
  expect(state.api_key).not.toBe(admin);
  expect(await fileMode(stateFile)).toBe(0o600);
  expect(await fileMode(keyDir)).toBe(0o700);

  const shown = await pollUntil(
    'agent Online with metadata',
    () => call('GET', `/api/v1/agents/${agentId}`),
    (r) => r.status === 200 && r.json.status === 'Online' && r.json.os !== '',
    { timeoutMs: 20_000 },
  );
  expect(shown.json).toMatchObject({
    id: agentId,
    name: AGENT_NAME,
    status: 'Online',
    os: process.platform,
    architecture: expect.stringMatching(/^(amd64|arm64|386|arm|[a-z0-9]+)$/),
    version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    last_heartbeat_at: expect.any(String),
  });
  expect(shown.json.architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
});

test('issues through the agent’s CSR, deploys into the target files, verifies the served certificate; no key on the server', async () => {
  await call(
    'POST',
    '/api/v1/targets',
    {
      id: ids.target,
      name: `files-${tag}`,
      type: 'NGINX',
      agent_id: agentId,
      config: {
        cert_path: targetFiles.cert,
        key_path: targetFiles.key,
        // The files are what matters here (real nginx runs are the connectors' e2e): the
        // validate step checks the certificate file is in place, the reload is a no-op.
        validate_command: ['test', '-s', targetFiles.cert],
        reload_command: ['true'],
        verify_host: '127.0.0.1',
        verify_port: verifyPort,
        verify_server_name: 'agent.example.com',
      },
    },
    201,
  );
  await call(
    'POST',
    '/api/v1/certificates',
    {
      id: ids.cert,
      name: `agent ${tag}`,
      common_name: 'agent.example.com',
      sans: ['www.agent.example.com'],
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      agent_id: agentId,
      target_ids: [ids.target],
    },
    201,
  );
  const renew = await call('POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202);
  const issueJob: string = renew.json.id;

  await pollUntil(
    `issuance job ${issueJob} Completed by the agent's CSR`,
    () => call('GET', `/api/v1/jobs/${issueJob}`),
    (r) => r.json?.status === 'Completed',
    { timeoutMs: 30_000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${agent.output()}`);
  });

  const deployed = await pollUntil(
    'deployment job Completed',
    () => call('GET', `/api/v1/jobs?certificate_id=${ids.cert}&type=Deployment`),
    (r) => r.status === 200 && r.json.data?.some((j: { status: string }) => j.status === 'Completed'),
    { timeoutMs: 30_000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${agent.output()}`);
  });
  const deployJob = deployed.json.data.find((j: { status: string }) => j.status === 'Completed').id as string;

  // The key: made by the agent, 0600 in the 0700 key directory, matching the issued certificate.
  const keyFile = join(keyDir, `${ids.cert}.key`);
  expect(await fileMode(keyFile)).toBe(0o600);
  expect(await fileMode(keyDir)).toBe(0o700);
  const pem = await call('GET', `/api/v1/certificates/${ids.cert}/export/pem`, undefined, 200);
  const leafFile = join(dir, 'leaf.pem');
  await writeFile(leafFile, pem.json.certificate_pem);
  const certPub = (await openssl(['x509', '-in', leafFile, '-noout', '-pubkey'])).stdout;
  expect((await openssl(['pkey', '-in', keyFile, '-pubout'])).stdout).toBe(certPub);
  expect((await openssl(['pkey', '-in', keyFile, '-noout', '-text'])).stdout).toContain('prime256v1');

  // The target files hold that certificate and that key.
  expect(await readFile(targetFiles.cert, 'utf8')).toContain(pem.json.certificate_pem.trim());
  expect((await openssl(['pkey', '-in', targetFiles.key, '-pubout'])).stdout).toBe(certPub);

  // The agent's post-deployment check of the listener serving those files.
  const fingerprint = (await openssl(['x509', '-in', leafFile, '-noout', '-fingerprint', '-sha256'])).stdout
    .trim()
    .replace(/^.*=/, '')
    .replace(/:/g, '')
    .toLowerCase();
  const verification = await pollUntil(
    'verification recorded',
    () => call('GET', `/api/v1/jobs/${deployJob}/verification`),
    (r) => r.status === 200,
    { timeoutMs: 20_000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${agent.output()}`);
  });
  expect(verification.json).toMatchObject({
    job_id: deployJob,
    verified: true,
    expected_fingerprint: fingerprint,
    served_fingerprint: fingerprint,
  });

  // The server never held a private key.
  const rows = await withDb(
    async (c) =>
      (
        await c.query<{ sealed_private_key: Buffer | null; pem_chain: string; csr_pem: string | null }>(
          'SELECT sealed_private_key, pem_chain, csr_pem FROM certificate_versions WHERE certificate_id = $1',
          [ids.cert],
        )
      ).rows,
  );
  expect(rows.length).toBeGreaterThanOrEqual(1);
  for (const r of rows) {
    expect(r.sealed_private_key).toBeNull();
    expect(r.pem_chain).not.toContain('PRIVATE KEY');
    expect(r.csr_pem ?? '').not.toContain('PRIVATE KEY');
    expect(r.csr_pem).toContain('BEGIN CERTIFICATE REQUEST');
  }
  expect(agent.stdout()).not.toContain('PRIVATE KEY');
});

test('filesystem discovery reports the certificate found in the scanned directory', async () => {
  const expected = (
    await openssl(['x509', '-in', join(discoveryDir, 'found.pem'), '-noout', '-fingerprint', '-sha256'])
  ).stdout
    .trim()
    .replace(/^.*=/, '')
    .replace(/:/g, '')
    .toLowerCase();
  const found = await pollUntil(
    'discovered certificate listed',
    () => call('GET', `/api/v1/discovered-certificates?agent_id=${agentId}`),
    (r) =>
      r.status === 200 && r.json.data?.some((d: { fingerprint_sha256: string }) => d.fingerprint_sha256 === expected),
    { timeoutMs: 20_000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${agent.output()}`);
  });
  expect(found.json.data.find((d: { fingerprint_sha256: string }) => d.fingerprint_sha256 === expected)).toMatchObject({
    agent_id: agentId,
    source_path: join(discoveryDir, 'found.pem'),
  });
});

test('restarted with the same key dir and settings: it reuses the stored identity, no second agent registered', async () => {
  const agentsBefore = await call('GET', '/api/v1/agents?per_page=100', undefined, 200);
  const stateBefore = await readFile(join(keyDir, 'agent-state.json'), 'utf8');
  expect(await agent.stop()).toEqual({ code: 0, signal: null });

  agent = await startAgent(agentEnv());
  const reused = await agent.waitForLog('stored identity', (l) => l.msg === 'using the stored agent identity');
  expect(reused.agent_id).toBe(agentId);
  await agent.waitForLog('heartbeat after the restart', (l) => l.msg === 'agent started');
  const started = Date.now();
  await pollUntil(
    'a heartbeat from the restarted agent',
    () => call('GET', `/api/v1/agents/${agentId}`),
    (r) => r.status === 200 && Date.parse(r.json.last_heartbeat_at) >= started - 1_000,
    { timeoutMs: 15_000 },
  );
  expect(agent.logs().some((l) => l.msg === 'registered with the server')).toBe(false);
  expect(await readFile(join(keyDir, 'agent-state.json'), 'utf8')).toBe(stateBefore);

  const agentsAfter = await call('GET', '/api/v1/agents?per_page=100', undefined, 200);
  expect(agentsAfter.json.data.map((a: { id: string }) => a.id).sort()).toEqual(
    agentsBefore.json.data.map((a: { id: string }) => a.id).sort(),
  );
  expect(agentsAfter.json.data.filter((a: { name: string }) => a.name === AGENT_NAME)).toHaveLength(1);
}, 60_000);

test('server down for a while: the agent backs off with growing delays, then resumes', async () => {
  const from = agent.logs().length;
  const { dbName, dataDir, redisPrefix, port, caFile } = srv;
  await srv.stop();
  const failures = await pollUntil(
    'three heartbeat failures in a row',
    async () =>
      agent
        .logs()
        .slice(from)
        .filter((l) => l.loop === 'heartbeat' && typeof l.failures === 'number'),
    (ls) => ls.some((l) => (l.failures as number) >= 4),
    { timeoutMs: 30_000 },
  );
  const delays = failures.map((l) => l.retry_in_ms as number);
  // Equal jitter: the n-th delay lies in [base*2^(n-2), base*2^(n-1)], so the 4th exceeds the 1st.
  expect(delays[3]).toBeGreaterThan(delays[0]);
  expect(Math.max(...delays)).toBeLessThanOrEqual(3_000);
  expect(agent.isRunning()).toBe(true);

  // Same sealing key: the database holds the Local CA's sealed key.
  const key = srv.env.CERTCTL_CONFIG_ENCRYPTION_KEY;
  srv = await startServer({ dbName, dataDir, redisPrefix, port, env: { CERTCTL_CONFIG_ENCRYPTION_KEY: key } });
  expect(srv.caFile).toBe(caFile);
  api = new HttpsClient(srv.port, srv.caFile!);
  const restarted = Date.now();
  await agent.waitForLog('heartbeat recovered', (l) => l.msg === 'heartbeat recovered', { from, timeoutMs: 30_000 });
  const shown = await pollUntil(
    'a heartbeat after the restart',
    () => call('GET', `/api/v1/agents/${agentId}`),
    (r) => r.status === 200 && Date.parse(r.json.last_heartbeat_at) >= restarted - 1_000 && r.json.status === 'Online',
    { timeoutMs: 20_000 },
  );
  expect(shown.json.status).toBe('Online');
}, 120_000);

test('retired (DELETE /agents/{id}): the next call gets 410 and the agent exits 0', async () => {
  const r = await call(
    'DELETE',
    `/api/v1/agents/${agentId}?force=true&reason=${encodeURIComponent('e2e retire')}`,
    undefined,
    200,
  );
  expect(r.json).toMatchObject({ agent: { id: agentId }, cascade: true });
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    agent.exited,
    new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 20_000))),
  ]).finally(() => clearTimeout(timer));
  expect({ exit, log: exit === 'timeout' ? agent.output() : '' }).toEqual({ exit: { code: 0, signal: null }, log: '' });
  expect(agent.logs().some((l) => /retired \(410\)/.test(l.msg))).toBe(true);
}, 60_000);
