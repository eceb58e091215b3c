import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConfigError, loadAgentConfig, parseDuration } from './agent-config';

const base = {
  CERTCTL_SERVER_URL: 'https://certctl.example.com:8443/',
  CERTCTL_AGENT_ID: 'ag-web-01',
  CERTCTL_API_KEY: 'cc_x',
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadAgentConfig(env);
  } catch (e) {
    if (e instanceof AgentConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('loadAgentConfig', () => {
  it('applies the defaults', () => {
    expect(loadAgentConfig(base)).toEqual({
      serverUrl: 'https://certctl.example.com:8443',
      apiKey: 'cc_x',
      bootstrapToken: undefined,
      agentId: 'ag-web-01',
      agentName: undefined,
      keyDir: '/var/lib/certctl/keys',
      discoveryDirs: [],
      caBundlePath: undefined,
      caBundlePem: undefined,
      heartbeatIntervalMs: 60_000,
      pollIntervalMs: 30_000,
      discoveryIntervalMs: 6 * 3_600_000,
      backoffBaseMs: 2_000,
      backoffMaxMs: 300_000,
      logLevel: 'info',
    });
  });

  it('reads durations, discovery dirs, the CA bundle and the log level', () => {
    const dir = mkdtempSync(join(tmpdir(), 'certctl-agent-cfg-'));
    try {
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const c = loadAgentConfig({
        ...base,
        CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1m30s',
        CERTCTL_AGENT_POLL_INTERVAL: '500ms',
        CERTCTL_AGENT_DISCOVERY_INTERVAL: '1d',
        CERTCTL_DISCOVERY_DIRS: ' /etc/ssl , /etc/nginx,,/etc/ssl',
        CERTCTL_SERVER_CA_BUNDLE_PATH: ca,
        CERTCTL_LOG_LEVEL: 'DEBUG',
        CERTCTL_KEY_DIR: dir,
      });
      expect([c.heartbeatIntervalMs, c.pollIntervalMs, c.discoveryIntervalMs]).toEqual([90_000, 500, 86_400_000]);
      expect(c.discoveryDirs).toEqual(['/etc/ssl', '/etc/nginx']);
      expect(c.caBundlePem).toContain('BEGIN CERTIFICATE');
      expect([c.logLevel, c.keyDir]).toEqual(['debug', dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ CERTCTL_SERVER_URL: undefined }, /^CERTCTL_SERVER_URL is required/],
    [{ CERTCTL_SERVER_URL: 'http://certctl.example.com' }, /^CERTCTL_SERVER_URL must use https/],
    [{ CERTCTL_SERVER_URL: 'not a url' }, /^CERTCTL_SERVER_URL is not a valid URL/],
    [{ CERTCTL_API_KEY: undefined }, /^CERTCTL_API_KEY is required with CERTCTL_AGENT_ID/],
    [{ CERTCTL_AGENT_ID: undefined }, /^CERTCTL_AGENT_ID or CERTCTL_AGENT_NAME is required/],
    [{ CERTCTL_AGENT_ID: 'bad id!' }, /^CERTCTL_AGENT_ID must be/],
    [{ CERTCTL_AGENT_HEARTBEAT_INTERVAL: '60' }, /^CERTCTL_AGENT_HEARTBEAT_INTERVAL must be a duration/],
    [{ CERTCTL_AGENT_POLL_INTERVAL: '1ms' }, /^CERTCTL_AGENT_POLL_INTERVAL must be between/],
    [{ CERTCTL_KEY_DIR: 'keys' }, /^CERTCTL_KEY_DIR must be an absolute path/],
    [{ CERTCTL_DISCOVERY_DIRS: '/etc/ssl,relative' }, /^CERTCTL_DISCOVERY_DIRS: "relative" is not an absolute path/],
    [{ CERTCTL_LOG_LEVEL: 'loud' }, /^CERTCTL_LOG_LEVEL must be one of/],
    [{ CERTCTL_SERVER_CA_BUNDLE_PATH: '/nonexistent/ca.pem' }, /^CERTCTL_SERVER_CA_BUNDLE_PATH: cannot read it/],
    [{ CERTCTL_AGENT_BACKOFF_BASE: '10m' }, /^CERTCTL_AGENT_BACKOFF_BASE must not exceed CERTCTL_AGENT_BACKOFF_MAX/],
  ])('rejects %j, naming the variable', (override, message) => {
    const p = problems({ ...base, ...override });
    expect(p).toEqual([expect.stringMatching(message)]);
  });

  it('registers by name with a key or a bootstrap token, and needs one of them', () => {
    const byName = { CERTCTL_SERVER_URL: base.CERTCTL_SERVER_URL, CERTCTL_AGENT_NAME: 'web-01' };
    expect(problems(byName)).toEqual([expect.stringMatching(/^CERTCTL_API_KEY \(allowed to register agents\)/)]);
    expect(loadAgentConfig({ ...byName, CERTCTL_API_KEY: 'cc_admin' }).agentName).toBe('web-01');
    expect(loadAgentConfig({ ...byName, CERTCTL_AGENT_BOOTSTRAP_TOKEN: 'tok' }).bootstrapToken).toBe('tok');
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['7d', 604_800_000],
  ])('%s = %d ms', (raw, ms) => expect(parseDuration(raw)).toBe(ms));

  it.each(['', '30', 's', '5 m', '1h-30m', '30sx'])('rejects %j', (raw) => expect(parseDuration(raw)).toBeUndefined());
});
