import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { startAgent } from './support/agent-process';
import { HttpsClient } from './support/https';
import { cleanupAll, runServerExpectingExit, startServer, tempDir, type ServerProcess } from './support/server-process';
import { pollUntil } from './support/util';

/**
 * Agent self-enrollment, black-box: the built server with CERTCTL_AGENT_BOOTSTRAP_TOKEN and
 * the built agent given only the server, a name and the token (no API key).
 * - The agent registers, stores its own id and key (0600 state file in a 0700 directory) and
 *   heartbeats; a restart reuses the stored identity (no second registration).
 * - A wrong token: the agent exits 1 with a message naming the variable.
 * - A target secrets file readable by others: the agent refuses to start (exit 2).
 * - CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY=true without a token: the server refuses to start.
 */

const TOKEN = `e2e-agent-enroll-${randomBytes(12).toString('hex')}`;
const tag = randomBytes(3).toString('hex');

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let dir: string;

async function query(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: srv.databaseUrl });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const fileMode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

function agentEnv(name: string, keyDir: string, token = TOKEN): Record<string, string> {
  return {
    CERTCTL_SERVER_URL: srv.baseUrl,
    CERTCTL_SERVER_CA_BUNDLE_PATH: srv.caFile!,
    CERTCTL_AGENT_BOOTSTRAP_TOKEN: token,
    CERTCTL_AGENT_NAME: name,
    CERTCTL_KEY_DIR: keyDir,
    CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1s',
    CERTCTL_AGENT_POLL_INTERVAL: '1s',
    CERTCTL_AGENT_BACKOFF_BASE: '200ms',
    CERTCTL_AGENT_BACKOFF_MAX: '2s',
    CERTCTL_LOG_LEVEL: 'debug',
  };
}

beforeAll(async () => {
  srv = await startServer({ env: { CERTCTL_AGENT_BOOTSTRAP_TOKEN: TOKEN } });
  if (!srv.caFile || !srv.adminKey) throw new Error(`no TLS CA file or admin key in the banner\n${srv.output()}`);
  admin = srv.adminKey;
  api = new HttpsClient(srv.port, srv.caFile);
  dir = await tempDir('certctl-e2e-agent-bootstrap-');
}, 60_000);

afterAll(cleanupAll, 60_000);

test('an agent with only a name and the bootstrap token registers, stores its identity 0600 and heartbeats', async () => {
  const name = `enrolled-${tag}`;
  const keyDir = join(dir, 'enrolled', 'keys');
  const agent = await startAgent(agentEnv(name, keyDir));
  const registered = await agent.waitForLog('registration', (l) => l.msg === 'registered with the server');
  const agentId = registered.agent_id as string;
  expect(agentId).toMatch(/^ag-/);

  const statePath = join(keyDir, 'agent-state.json');
  expect(await fileMode(statePath)).toBe(0o600);
  expect(await fileMode(keyDir)).toBe(0o700);
  const state = JSON.parse(await readFile(statePath, 'utf8'));
  expect(state).toMatchObject({ agent_id: agentId, name, api_key: expect.stringMatching(/^cc_/) });
  // The token is an enrollment credential, not the agent's identity: it is not stored.
  expect(JSON.stringify(state)).not.toContain(TOKEN);
  expect(agent.stdout() + agent.stderr()).not.toContain(TOKEN);

  // Heartbeats arrive under the agent's own key: the server shows it Online with its metadata.
  const seen = await pollUntil(
    'agent Online',
    async () => (await api.get(`/api/v1/agents/${agentId}`, { bearer: admin })).json,
    (a) => a?.status === 'Online' && a.last_heartbeat_at !== null,
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  expect(seen).toMatchObject({ name, os: expect.stringMatching(/.+/), architecture: expect.stringMatching(/.+/) });

  // The stored key acts as this agent only.
  const own = await api.get(`/api/v1/agents/${agentId}/work`, { bearer: state.api_key });
  expect(own.status).toBe(200);
  expect((await api.get('/api/v1/certificates', { bearer: state.api_key })).status).toBe(403);

  // The registration is audited as made with the bootstrap token.
  const rows = await query(
    `SELECT actor, details FROM audit_events WHERE category = 'domain' AND action = 'agent_registered' AND resource_id = $1`,
    [agentId],
  );
  expect(rows).toEqual([
    { actor: 'agent-bootstrap-token', details: expect.objectContaining({ via: 'agent_bootstrap_token', name }) },
  ]);

  // A restart reuses the stored identity: no second registration (the name would be a 409).
  expect((await agent.stop()).code).toBe(0);
  const again = await startAgent(agentEnv(name, keyDir));
  const reused = await again.waitForLog('stored identity', (l) => l.msg === 'using the stored agent identity');
  expect(reused.agent_id).toBe(agentId);
  await again.waitForLog('agent started', (l) => l.msg === 'agent started');
  expect(again.logs().some((l) => l.msg === 'registered with the server')).toBe(false);
  expect((await again.stop()).code).toBe(0);
});

test('a wrong token: the agent exits 1 with a message naming CERTCTL_AGENT_BOOTSTRAP_TOKEN, storing nothing', async () => {
  const keyDir = join(dir, 'wrong', 'keys');
  const agent = await startAgent(agentEnv(`wrong-${tag}`, keyDir, `${TOKEN}-wrong`));
  const exit = await agent.exited;
  expect({ code: exit.code, output: agent.output() }).toMatchObject({ code: 1 });
  const stopLine = agent.logs().find((l) => typeof l.msg === 'string' && l.msg.includes('failed (401)'));
  expect(stopLine?.msg).toContain(`registering agent "wrong-${tag}" failed (401)`);
  expect(stopLine?.msg).toContain("must equal the server's CERTCTL_AGENT_BOOTSTRAP_TOKEN");
  await expect(stat(join(keyDir, 'agent-state.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  expect(await query('SELECT id FROM agents WHERE name = $1', [`wrong-${tag}`])).toEqual([]);
});

test('a target secrets file readable by others: the agent refuses to start (exit 2) naming the file', async () => {
  const secrets = join(dir, 'target-secrets.json');
  await writeFile(secrets, JSON.stringify({ 't-ssh': { password: 'hunter22' } }));
  await chmod(secrets, 0o644);
  const agent = await startAgent({
    ...agentEnv(`secrets-${tag}`, join(dir, 'secrets', 'keys')),
    CERTCTL_AGENT_TARGET_SECRETS_FILE: secrets,
  });
  const exit = await agent.exited;
  expect({ code: exit.code, stderr: agent.stderr() }).toMatchObject({ code: 2 });
  expect(agent.stderr()).toContain('CERTCTL_AGENT_TARGET_SECRETS_FILE');
  expect(agent.stderr()).toContain(`chmod 600 ${secrets}`);
  expect(agent.stderr()).not.toContain('hunter22');
});

test('CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY=true without a token: the server refuses to start (exit 2)', async () => {
  const r = await runServerExpectingExit({ CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY: 'true' });
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
  expect(r.stderr).toContain('CERTCTL_AGENT_BOOTSTRAP_TOKEN is required');
  expect(r.stdout).not.toContain('listening on');
});
