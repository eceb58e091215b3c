import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isApiError } from '@certctl/api-client';
import type { AgentConfig } from '../config/agent-config';
import { ensurePrivateDir, writeFileAtomic } from '../keys/atomic-file';
import type { ServerApi } from '../api/server-api';
import { StopAgent } from '../loops/periodic-loop';

/** What a registration left in the key directory (0600): reused on every restart. */
export interface AgentState {
  agent_id: string;
  api_key: string;
  name: string;
  server_url: string;
  registered_at: string;
}

export const STATE_FILE = 'agent-state.json';

export async function readState(keyDir: string): Promise<AgentState | undefined> {
  let text: string;
  try {
    text = await readFile(join(keyDir, STATE_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const s = JSON.parse(text) as Partial<AgentState>;
  if (typeof s.agent_id !== 'string' || typeof s.api_key !== 'string') {
    throw new Error(`${join(keyDir, STATE_FILE)} is not an agent state file (agent_id, api_key)`);
  }
  return s as AgentState;
}

/**
 * Settles who this agent is: CERTCTL_AGENT_ID + its key; or the identity a previous
 * registration stored; or a new registration of CERTCTL_AGENT_NAME (with
 * CERTCTL_AGENT_BOOTSTRAP_TOKEN as the bearer when set, else CERTCTL_API_KEY), whose id and
 * key are stored (0600) before they are used, so the token is needed only once per agent.
 * A refused registration (400/401/403/409) stops the agent with exit code 1 and a hint;
 * network failures, 429 and 5xx propagate (the caller retries with backoff).
 */
export async function establishIdentity(
  config: AgentConfig,
  api: ServerApi,
  log: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<{ agentId: string; registered: boolean }> {
  if (config.agentId) {
    await api.useIdentity(config.agentId, config.apiKey!);
    return { agentId: config.agentId, registered: false };
  }
  const name = config.agentName!;
  await ensurePrivateDir(config.keyDir, 0o700);
  const stored = await readState(config.keyDir);
  if (stored && stored.server_url === config.serverUrl && stored.name === name) {
    await api.useIdentity(stored.agent_id, stored.api_key);
    log('using the stored agent identity', { agent_id: stored.agent_id, state_file: join(config.keyDir, STATE_FILE) });
    return { agentId: stored.agent_id, registered: false };
  }
  let reg;
  try {
    reg = await api.register(name, hostname().slice(0, 253));
  } catch (e) {
    if (isApiError(e) && [400, 401, 403, 409].includes(e.status)) {
      throw new StopAgent(
        `registering agent ${JSON.stringify(name)} failed (${e.status}): ${e.message}${registrationHint(config, e.status)}`,
        1,
      );
    }
    throw e;
  }
  const state: AgentState = {
    agent_id: reg.id,
    api_key: reg.api_key,
    name,
    server_url: config.serverUrl,
    registered_at: new Date().toISOString(),
  };
  await writeFileAtomic(join(config.keyDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n', 0o600);
  await api.useIdentity(reg.id, reg.api_key);
  log('registered with the server', { agent_id: reg.id, name });
  return { agentId: reg.id, registered: true };
}

/** What the operator should fix after a refused registration (the credential itself is never printed). */
function registrationHint(config: AgentConfig, status: number): string {
  const viaToken = config.bootstrapToken !== undefined;
  switch (status) {
    case 401:
      return viaToken
        ? "; the server refused CERTCTL_AGENT_BOOTSTRAP_TOKEN: it must equal the server's CERTCTL_AGENT_BOOTSTRAP_TOKEN " +
            '(and the server must have one set)'
        : '; the server refused CERTCTL_API_KEY: use a valid key allowed to register agents (agent.edit)';
    case 403:
      return viaToken ? '' : '; CERTCTL_API_KEY lacks the agent.edit permission needed to register agents';
    case 409:
      return '; an active agent already has this name: choose another CERTCTL_AGENT_NAME, or set CERTCTL_AGENT_ID and its key';
    default:
      return '';
  }
}
