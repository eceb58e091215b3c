import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { loadAgentConfig } from '../../apps/agent/src/config/agent-config';
import { configSchema, loadConfig } from '../../apps/server/src/config/config.schema';
import { effective, parseDockerfile, readRepoFile, repoRoot } from './dockerfile';

/**
 * docker-compose.yml is the laptop quick start (docs/getting-started/quickstart.md). No
 * Docker engine runs in CI, so this reads it: the services and images, the health-gated start
 * order, that every CERTCTL_* variable is one the server or agent reads and that their values
 * pass the apps' own validation, and that the volume between the agent and nginx lines up.
 */

interface Service {
  image?: string;
  build?: { context: string; target?: string };
  hostname?: string;
  user?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
  command?: string[];
}

const compose = loadYaml(readRepoFile('docker-compose.yml')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const svc = (name: string): Service => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
};
const stages = parseDockerfile(readRepoFile('Dockerfile'));

/** Compose interpolation: `${X:-default}` takes the default, `${X:?msg}` and `${X}` the given value. */
function interpolate(value: string, given: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, rest?: string) => {
    if (given[name] !== undefined) return given[name];
    if (op === '-') return rest ?? '';
    throw new Error(`\${${name}} has no default and no test value`);
  });
}
const GIVEN = { CERTCTL_AGENT_BOOTSTRAP_TOKEN: 'compose-test-token-0123456789' };

/** `name:/path[:ro]` volume entries of a service, as a map of mount path to source. */
function mounts(s: Service): Map<string, { source: string; readOnly: boolean }> {
  return new Map(
    (s.volumes ?? []).map((v) => {
      const [source, target, mode] = v.split(':');
      return [target, { source, readOnly: mode === 'ro' }];
    }),
  );
}

/** The image's ENV (inherited through the stages) a container of that target starts with. */
function imageEnv(target: string): Record<string, string> {
  const env: Record<string, string> = {};
  const chain = [];
  for (let s = stages.find((x) => x.name === target); s; s = stages.find((x) => x.name === s.base)) chain.unshift(s);
  for (const s of chain) {
    for (const i of s.instructions.filter((x) => x.keyword === 'ENV')) {
      for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)) env[m[1]] = m[2];
    }
  }
  return env;
}

describe('docker-compose.yml', () => {
  test('Postgres 16, Redis 7, the server and agent built from the Dockerfile, and nginx', () => {
    expect(svc('postgres').image).toBe('postgres:16');
    expect(svc('redis').image).toBe('redis:7');
    expect(svc('nginx').image).toMatch(/^nginx:1\.\d+$/);
    for (const [name, target] of [
      ['server', 'server'],
      ['agent', 'agent'],
      ['setup', 'runtime'],
    ]) {
      expect(svc(name).build).toEqual({ context: '.', target });
      expect(stages.map((s) => s.name)).toContain(target);
    }
  });

  test('start order is gated on health: server after Postgres and Redis, agent and nginx after setup', () => {
    expect(svc('server').depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(svc('setup').depends_on).toEqual({ server: { condition: 'service_healthy' } });
    for (const name of ['agent', 'nginx']) {
      expect(svc(name).depends_on).toEqual({ setup: { condition: 'service_completed_successfully' } });
    }
    for (const name of ['postgres', 'redis', 'server', 'nginx']) {
      expect(svc(name).healthcheck?.test?.[0]).toBe('CMD');
    }
    // The server is ready only when /ready says Postgres and Redis answer.
    expect(svc('server').healthcheck!.test.join(' ')).toContain("path:'/ready'");
    // Every depends_on names a service of this file.
    for (const s of Object.values(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) expect(Object.keys(services)).toContain(dep);
    }
  });

  test('every server variable is in the config schema and the resulting configuration loads', () => {
    const env = svc('server').environment!;
    const known = Object.keys(configSchema.shape);
    const names = Object.keys(env);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !known.includes(n))).toEqual([]);
    const resolved = Object.fromEntries(names.map((n) => [n, interpolate(String(env[n]), GIVEN)]));
    const config = loadConfig({ ...imageEnv('server'), ...resolved });
    expect(config.database.url).toBe('postgres://postgres:certctl-dev@postgres:5432/certctl');
    expect(config.redis.url).toBe('redis://redis:6379');
    expect(config.dataDir).toBe('/var/lib/certctl');
    // The data directory (TLS files, generated encryption key) is on a named volume.
    expect(mounts(svc('server')).get(config.dataDir)?.source).toBe('certctl-data');
  });

  test('every agent variable is one the agent reads and the resulting configuration loads', () => {
    const env = svc('agent').environment!;
    const agentSource = readFileSync(join(repoRoot, 'apps/agent/src/config/agent-config.ts'), 'utf8');
    const names = Object.keys(env);
    expect(names.filter((n) => !agentSource.includes(`    ${n}: `))).toEqual([]);
    const resolved = Object.fromEntries(names.map((n) => [n, interpolate(String(env[n]), GIVEN)]));
    // The CA bundle exists only inside the container; everything else is validated here.
    const { CERTCTL_SERVER_CA_BUNDLE_PATH: caPath, ...rest } = resolved;
    const config = loadAgentConfig(rest);
    expect(config.bootstrapToken).toBe(GIVEN.CERTCTL_AGENT_BOOTSTRAP_TOKEN);
    // It reaches the server by the host name the server's self-signed certificate names.
    expect(new URL(config.serverUrl).hostname).toBe(svc('server').hostname);
    // The CA bundle is the public CA file setup publishes, never the server's data volume.
    const caMount = [...mounts(svc('agent'))].find(([target]) => caPath.startsWith(`${target}/`));
    expect(caMount?.[1]).toEqual({ source: 'server-ca', readOnly: true });
    expect([...mounts(svc('agent')).values()].map((m) => m.source)).not.toContain('certctl-data');
    // Keys and the registered identity persist.
    expect(mounts(svc('agent')).get('/var/lib/certctl')?.source).toBe('agent-data');
    expect(config.keyDir.startsWith('/var/lib/certctl/')).toBe(true);
  });

  test('the bootstrap token is the same on both sides and has no default', () => {
    const server = svc('server').environment!.CERTCTL_AGENT_BOOTSTRAP_TOKEN;
    expect(svc('agent').environment!.CERTCTL_AGENT_BOOTSTRAP_TOKEN).toBe(server);
    expect(server).toMatch(/^\$\{CERTCTL_AGENT_BOOTSTRAP_TOKEN:\?[^}]+\}$/);
    // No literal credentials: secret-looking variables only come from interpolation.
    for (const s of Object.values(services)) {
      for (const [name, value] of Object.entries(s.environment ?? {})) {
        if (/(TOKEN|KEY|SECRET)$/.test(name))
          expect({ name, value }).toEqual({ name, value: expect.stringMatching(/^\$\{/) });
      }
    }
  });

  test('the agent writes certificates into the volume nginx reads, at the paths tls.conf serves', () => {
    const agentMount = mounts(svc('agent')).get('/srv/certctl');
    expect(agentMount).toEqual({ source: 'nginx-certs', readOnly: false });
    expect(mounts(svc('nginx')).get('/etc/nginx/certs')).toEqual({ source: 'nginx-certs', readOnly: true });
    // setup hands the volume to the agent's user, the user of the agent image.
    expect(mounts(svc('setup')).get('/mnt/nginx-certs')?.source).toBe('nginx-certs');
    expect(svc('setup').command!.join(' ')).toContain('chown 10001:10001 /mnt/nginx-certs');
    expect(effective(stages, 'agent', 'USER')?.args).toMatch(/^10001(:|$)/);
    const tls = readRepoFile('deploy/nginx/tls.conf');
    expect(tls).toContain('ssl_certificate     /etc/nginx/certs/tls.crt;');
    expect(tls).toContain('ssl_certificate_key /etc/nginx/certs/tls.key;');
    // Files bind-mounted from the repository exist.
    for (const s of Object.values(services)) {
      for (const [, m] of mounts(s)) {
        if (m.source.startsWith('./'))
          expect({ file: m.source, exists: existsSync(join(repoRoot, m.source)) }).toEqual({
            file: m.source,
            exists: true,
          });
        else expect(Object.keys(compose.volumes)).toContain(m.source);
      }
    }
  });
});
