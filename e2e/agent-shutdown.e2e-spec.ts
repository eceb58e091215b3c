import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type AgentLogLine, type AgentProcess } from './support/agent-process';
import { HttpsClient, apiCall, createIssuerAndProfile, type HttpsResponse } from './support/https';
import { openssl } from './support/openssl';
import { cleanupAll, tempDir, type ExitInfo, type ServerProcess, startIssuingServer } from './support/server-process';
import { pollUntil } from './support/util';

/**
 * The agent's graceful shutdown, black box: the built server and the built agent as two
 * processes, an NGINX-type target whose reload is a slow command (`sleep 4`), so a
 * deployment is in flight when the agent is signalled.
 * - One SIGTERM during the reload: the agent keeps running until the deployment finished,
 *   the job is reported Completed, the files hold the new certificate, then it exits 0.
 * - A second SIGTERM during the reload: the reload is killed, the files are restored (the
 *   connector runs the reload once more for the restored files), the job is reported Failed
 *   saying it was aborted and rolled back, and the agent exits 0.
 */

const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-e2e-shutdown-${tag}`,
  profile: `prof-e2e-shutdown-${tag}`,
  target: `t-e2e-shutdown-${tag}`,
  cert: `mc-e2e-shutdown-${tag}`,
};
const AGENT_NAME = `e2e-shutdown-${tag}`;
const CN = 'shutdown.e2e.example.com';
const RELOAD_SECONDS = 4;

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let keyDir: string;
let agent: AgentProcess | undefined;
let agentId: string;
const files = { cert: '', key: '' };

interface Job {
  id: string;
  status: string;
  last_error: string | null;
}

async function call(method: 'GET' | 'POST', path: string, body?: object, expected?: number): Promise<HttpsResponse> {
  return apiCall(api, admin, method, path, body, expected);
}

const withAgentLog = (e: Error): never => {
  throw new Error(`${e.message}\n${agent?.output() ?? ''}`);
};

function agentEnv(): Record<string, string> {
  return {
    CERTCTL_SERVER_URL: srv.baseUrl,
    CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile!,
    CERTCTL_API_KEY: admin,
    CERTCTL_AGENT_NAME: AGENT_NAME,
    CERTCTL_KEY_DIR: keyDir,
    CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1s',
    CERTCTL_AGENT_POLL_INTERVAL: '1s',
    CERTCTL_AGENT_BACKOFF_BASE: '200ms',
    CERTCTL_AGENT_BACKOFF_MAX: '2s',
    CERTCTL_LOG_LEVEL: 'debug',
  };
}

const deploymentJobs = async (): Promise<Job[]> =>
  (await call('GET', `/api/v1/jobs?certificate_id=${ids.cert}&type=Deployment`, undefined, 200)).json.data;

const latestPem = async (): Promise<{ certificate_pem: string }> =>
  (await call('GET', `/api/v1/certificates/${ids.cert}/export/pem`, undefined, 200)).json;

const serialOfFile = async (p: string): Promise<string> =>
  new X509Certificate(await readFile(p)).serialNumber.toLowerCase();
const pubkeyOf = async (args: string[]): Promise<string> => (await openssl(args)).stdout;

/** Renews and waits until the agent's CSR was issued; returns the ids of the deployment jobs before. */
async function renewThroughAgent(): Promise<Set<string>> {
  const before = new Set((await deploymentJobs()).map((j) => j.id));
  const renew = await call('POST', `/api/v1/certificates/${ids.cert}/renew`, {}, 202);
  const issueJob: string = renew.json.id;
  await pollUntil(
    `issuance job ${issueJob} Completed through the agent's CSR`,
    () => call('GET', `/api/v1/jobs/${issueJob}`),
    (r) => r.json?.status === 'Completed',
    { timeoutMs: 30_000 },
  ).catch(withAgentLog);
  return before;
}

/** The deployment is in flight: the connector validated the written files and runs the slow reload. */
const waitForSlowReload = (a: AgentProcess): Promise<AgentLogLine> =>
  a.waitForLog('deployment files written and validated (the slow reload runs)', (l) =>
    l.msg.startsWith('validated with'),
  );

/** Resolves with the exit, or 'timeout' after `ms`. */
async function exitWithin(a: AgentProcess, ms: number): Promise<ExitInfo | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    a.exited,
    new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

const indexOf = (logs: AgentLogLine[], pred: (l: AgentLogLine) => boolean): number => logs.findIndex(pred);

beforeAll(async () => {
  ({ srv, api, admin } = await startIssuingServer('shutdown'));

  const dir = await tempDir('certctl-e2e-shutdown-');
  keyDir = join(dir, 'agent-keys');
  await mkdir(join(dir, 'ssl'), { recursive: true });
  files.cert = join(dir, 'ssl', 'site.crt');
  files.key = join(dir, 'ssl', 'site.key');
  // Files already in place (a throwaway self-signed pair), as on a running web server.
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', files.key, '-out', files.cert, '-days', '1', '-subj', '/CN=bootstrap',
  ]); // prettier-ignore

  await createIssuerAndProfile(api, admin, ids, `E2E shutdown ${tag}`);
}, 90_000);

afterAll(async () => {
  await agent?.stop(5_000);
  await cleanupAll();
}, 60_000);

test('one SIGTERM during a slow reload: the deployment finishes and is reported Completed, then the agent exits 0', async () => {
  agent = await startAgent(agentEnv());
  const started = await agent.waitForLog('agent started', (l) => l.msg === 'agent started');
  agentId = String(started.agent_id);
  expect(agentId).toMatch(/^ag-/);

  await call(
    'POST',
    '/api/v1/targets',
    {
      id: ids.target,
      name: `slow-reload-${tag}`,
      type: 'NGINX',
      agent_id: agentId,
      config: {
        cert_path: files.cert,
        key_path: files.key,
        validate_command: ['true'],
        reload_command: ['sleep', String(RELOAD_SECONDS)],
      },
    },
    201,
  );
  await call(
    'POST',
    '/api/v1/certificates',
    {
      id: ids.cert,
      name: `shutdown ${tag}`,
      common_name: CN,
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      agent_id: agentId,
      target_ids: [ids.target],
    },
    201,
  );
  const before = await renewThroughAgent();
  const bootstrapSerial = await serialOfFile(files.cert);

  await waitForSlowReload(agent).catch(withAgentLog);
  const signalledAt = Date.now();
  process.kill(agent.pid, 'SIGTERM');
  await agent.waitForLog('stop requested', (l) => l.msg === 'stopping: finishing the work in progress');

  // Still running a while later: the reload is in progress, the agent waits for it.
  await new Promise((r) => setTimeout(r, 1_000));
  expect({ running: agent.isRunning(), log: agent.isRunning() ? '' : agent.output() }).toEqual({
    running: true,
    log: '',
  });

  const exit = await exitWithin(agent, 30_000);
  expect({ exit, log: exit === 'timeout' ? agent.output() : '' }).toEqual({ exit: { code: 0, signal: null }, log: '' });
  // It waited for the reload (it started shortly before the signal).
  expect(Date.now() - signalledAt).toBeGreaterThanOrEqual((RELOAD_SECONDS - 1) * 1_000);

  // In order: the stop request, the reload finishing, the report, the exit.
  const logs = agent.logs();
  const stopping = indexOf(logs, (l) => l.msg === 'stopping: finishing the work in progress');
  const reloaded = indexOf(logs, (l) => l.msg.startsWith('reloaded with'));
  const completed = indexOf(logs, (l) => l.msg === 'deployment completed');
  const stopped = indexOf(logs, (l) => l.msg === 'agent stopped');
  expect({ stopping, reloaded, completed, stopped }).toEqual({
    stopping: expect.any(Number),
    reloaded: expect.any(Number),
    completed: expect.any(Number),
    stopped: expect.any(Number),
  });
  expect(stopping).toBeGreaterThanOrEqual(0);
  expect(reloaded).toBeGreaterThan(stopping);
  expect(completed).toBeGreaterThan(reloaded);
  expect(stopped).toBeGreaterThan(completed);
  expect(logs[stopped].exit_code).toBe(0);
  expect(logs.some((l) => l.msg === 'second stop request: aborting the work in progress')).toBe(false);

  // The server has the job Completed (reported before the exit), not Failed or left Running.
  const jobs = (await deploymentJobs()).filter((j) => !before.has(j.id));
  expect(jobs.map((j) => ({ status: j.status, last_error: j.last_error }))).toEqual([
    { status: 'Completed', last_error: null },
  ]);
  expect(logs[completed].job_id).toBe(jobs[0].id);

  // The files hold the issued certificate and the agent's key for it.
  const pem = await latestPem();
  const issued = new X509Certificate(pem.certificate_pem);
  expect(await serialOfFile(files.cert)).toBe(issued.serialNumber.toLowerCase());
  expect(await serialOfFile(files.cert)).not.toBe(bootstrapSerial);
  expect(await readFile(files.cert, 'utf8')).toContain(pem.certificate_pem.trim());
  expect(await pubkeyOf(['pkey', '-in', files.key, '-pubout'])).toBe(
    issued.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );
}, 120_000);

test('a second SIGTERM during the slow reload aborts it: files restored, job reported Failed (rolled back), exit 0', async () => {
  agent = await startAgent(agentEnv());
  const reused = await agent.waitForLog('stored identity', (l) => l.msg === 'using the stored agent identity');
  expect(reused.agent_id).toBe(agentId);

  const certBefore = await readFile(files.cert, 'utf8');
  const keyBefore = await readFile(files.key, 'utf8');
  const serialBefore = await serialOfFile(files.cert);
  const before = await renewThroughAgent();
  const renewed = new X509Certificate((await latestPem()).certificate_pem).serialNumber.toLowerCase();
  expect(renewed).not.toBe(serialBefore);

  await waitForSlowReload(agent).catch(withAgentLog);
  // The new files are in place while the reload runs.
  expect(await serialOfFile(files.cert)).toBe(renewed);
  process.kill(agent.pid, 'SIGTERM');
  await agent.waitForLog('stop requested', (l) => l.msg === 'stopping: finishing the work in progress');
  process.kill(agent.pid, 'SIGTERM');
  await agent.waitForLog('second stop request', (l) => l.msg === 'second stop request: aborting the work in progress');

  // The rollback runs the (slow) reload once more for the restored files, unabortable.
  const exit = await exitWithin(agent, 30_000);
  expect({ exit, log: exit === 'timeout' ? agent.output() : '' }).toEqual({ exit: { code: 0, signal: null }, log: '' });

  const logs = agent.logs();
  expect(logs.some((l) => l.msg.startsWith('reloaded with'))).toBe(false);
  expect(logs.some((l) => l.msg === 'deployment completed')).toBe(false);
  const failed = logs.find((l) => l.msg === 'deployment failed');
  expect(failed?.error).toEqual(
    expect.stringMatching(/reload failed.*was aborted.*restored 2 file\(s\).*\(rolled back\)/),
  );

  // The server has the job Failed with that error (not Completed, not left Running).
  const jobs = (await deploymentJobs()).filter((j) => !before.has(j.id));
  expect(jobs).toHaveLength(1);
  expect(jobs[0].status).toBe('Failed');
  expect(jobs[0].last_error).toMatch(/was aborted.*\(rolled back\)/);
  expect(failed?.job_id).toBe(jobs[0].id);

  // The files are back to what they held before the deployment.
  expect(await readFile(files.cert, 'utf8')).toBe(certBefore);
  expect(await readFile(files.key, 'utf8')).toBe(keyBefore);
}, 120_000);
