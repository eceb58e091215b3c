import { TargetType } from '@certctl/domain';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig } from '../config/spec';
import { targetConfigSpec, targetConnector } from './registry';
import { DeployError, type DeployContext, type TargetConnector } from './target-port';
import { makeCa, makeLeaf } from './testing/target-fixtures';
import { certificateFingerprint, verifyEndpointFrom } from './verify-endpoint';

const root = mkdtempSync(join(tmpdir(), 'certctl-targets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

makeCa(root);
const material = makeLeaf(root, 'leaf');
const pem = (s: string) => `${s.trim()}\n`;

let n = 0;
function freshDir(): string {
  const d = join(root, `t${++n}`);
  mkdirSync(d);
  return d;
}

function connector(type: TargetType): TargetConnector {
  const c = targetConnector(type);
  if (!c) throw new Error(`no connector for ${type}`);
  return c;
}

const ctx = (config: Record<string, unknown>): DeployContext => ({ targetId: 'tgt-1', jobId: 'job-1', config });
const counter = (file: string) => ['sh', '-c', 'echo "$0" >> "$1"', 'ran', file];
const modeOf = (p: string) => statSync(p).mode & 0o7777;

describe('file target connectors', () => {
  it('registers NGINX, Apache, HAProxy, Postfix, Dovecot and Traefik, and nothing it cannot deploy', () => {
    for (const t of ['NGINX', 'Apache', 'HAProxy', 'Postfix', 'Dovecot', 'Traefik'] as const) {
      expect(connector(t).type).toBe(t);
    }
    expect(targetConnector('IIS')).toBeUndefined();
  });

  it('NGINX: full chain in cert_path by default, cert only with a chain_path, key 0600', async () => {
    const dir = freshDir();
    const runs = join(dir, 'runs');
    const base = {
      cert_path: join(dir, 'site.crt'),
      key_path: join(dir, 'site.key'),
      validate_command: counter(runs),
      reload_command: counter(runs),
    };
    const r = await connector('NGINX').deploy(material, ctx(base));
    expect(r).toMatchObject({ changed: true, validated: true, reloaded: true });
    expect(readFileSync(base.cert_path, 'utf8')).toBe(pem(material.certPem) + pem(material.chainPem));
    expect(readFileSync(base.key_path, 'utf8')).toBe(pem(material.keyPem));
    expect(modeOf(base.cert_path)).toBe(0o644);
    expect(modeOf(base.key_path)).toBe(0o600);
    expect(readFileSync(runs, 'utf8')).toBe('ran\nran\n');

    const withChain = { ...base, chain_path: join(dir, 'chain.pem'), key_file_mode: '0640' };
    await connector('NGINX').deploy(material, ctx(withChain));
    expect(readFileSync(base.cert_path, 'utf8')).toBe(pem(material.certPem));
    expect(readFileSync(withChain.chain_path, 'utf8')).toBe(pem(material.chainPem));
    expect(modeOf(base.key_path)).toBe(0o640);

    await connector('NGINX').deploy(material, ctx({ ...withChain, fullchain: true }));
    expect(readFileSync(base.cert_path, 'utf8')).toBe(pem(material.certPem) + pem(material.chainPem));
  });

  it.each(['Apache', 'Postfix', 'Dovecot'] as const)('%s: separate files and the configured commands', async (type) => {
    const dir = freshDir();
    const runs = join(dir, 'runs');
    const config = {
      cert_path: join(dir, 'cert.pem'),
      chain_path: join(dir, 'chain.pem'),
      key_path: join(dir, 'key.pem'),
      validate_command: counter(runs),
      reload_command: counter(runs),
    };
    const r = await connector(type).deploy(material, ctx(config));
    expect(r.written).toEqual([config.cert_path, config.chain_path, config.key_path]);
    expect(readFileSync(config.cert_path, 'utf8')).toBe(pem(material.certPem));
    expect(readFileSync(runs, 'utf8')).toBe('ran\nran\n');
    expect((await connector(type).deploy(material, ctx(config))).changed).toBe(false);
    expect(readFileSync(runs, 'utf8')).toBe('ran\nran\n');
  });

  it('uses the documented default commands when none is configured', async () => {
    const dir = freshDir();
    // No Postfix here (and an empty PATH): the default `postfix check` cannot start, so the
    // deployment rolls back, which shows that it was the command run.
    const config = { cert_path: join(dir, 'cert.pem'), key_path: join(dir, 'key.pem') };
    const env = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await connector('Postfix')
        .deploy(material, ctx(config))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeployError);
      expect(err).toMatchObject({ step: 'validate', rolledBack: true });
      expect((err as Error).message).toContain('`postfix check` could not be started: ENOENT');
    } finally {
      process.env.PATH = env;
    }
    expect(existsSync(config.cert_path)).toBe(false);
  });

  it('HAProxy: one PEM with certificate, chain and key, 0600', async () => {
    const dir = freshDir();
    const config = { pem_path: join(dir, 'site.pem'), validate_command: ['true'], reload_command: ['true'] };
    await connector('HAProxy').deploy(material, ctx(config));
    expect(readFileSync(config.pem_path, 'utf8')).toBe(
      pem(material.certPem) + pem(material.chainPem) + pem(material.keyPem),
    );
    expect(modeOf(config.pem_path)).toBe(0o600);
  });

  it('Traefik: the files and a dynamic configuration naming them, no commands', async () => {
    const dir = freshDir();
    const config = {
      cert_path: join(dir, 'certs', 'site.crt'),
      key_path: join(dir, 'certs', 'site.key'),
      dynamic_config_path: join(dir, 'dynamic', 'certctl.yml'),
    };
    mkdirSync(join(dir, 'certs'));
    mkdirSync(join(dir, 'dynamic'));
    const r = await connector('Traefik').deploy(material, ctx(config));
    expect(r).toMatchObject({ changed: true, validated: false, reloaded: false });
    expect(readFileSync(config.cert_path, 'utf8')).toBe(pem(material.certPem) + pem(material.chainPem));
    expect(readFileSync(config.dynamic_config_path, 'utf8')).toBe(
      [
        '# Written by certctl for target "tgt-1"; rewritten on every deployment.',
        'tls:',
        '  certificates:',
        `    - certFile: "${config.cert_path}"`,
        `      keyFile: "${config.key_path}"`,
        '',
      ].join('\n'),
    );
    expect((await connector('Traefik').deploy(material, ctx(config))).changed).toBe(false);
  });

  it('refuses a key that does not belong to the certificate, or a chain that does not parse, before writing', async () => {
    const dir = freshDir();
    const other = makeLeaf(root, 'other');
    const config = { cert_path: join(dir, 'c.pem'), key_path: join(dir, 'k.pem'), reload_command: ['true'] };
    const cases: [typeof material, string][] = [
      [{ ...material, keyPem: other.keyPem }, 'the private key does not belong to the certificate'],
      [{ ...material, chainPem: 'garbage' }, 'the chain holds no PEM certificate'],
      [{ ...material, certPem: 'garbage' }, 'the certificate is not a PEM certificate'],
      [{ ...material, keyPem: 'garbage' }, 'the private key is not an unencrypted PEM key'],
    ];
    for (const [m, why] of cases) {
      for (const type of ['Apache', 'HAProxy', 'Traefik'] as const) {
        const cfg = type === 'HAProxy' ? { pem_path: config.cert_path, reload_command: ['true'] } : config;
        const err = await connector(type)
          .deploy(m, ctx(type === 'Traefik' ? { cert_path: config.cert_path, key_path: config.key_path } : cfg))
          .catch((e: unknown) => e);
        expect(err).toMatchObject({
          step: 'validate',
          rolledBack: true,
          message: `refusing to deploy: ${why}; nothing was written`,
        });
      }
    }
    expect(existsSync(config.cert_path)).toBe(false);
  });

  it('refuses an invalid configuration before touching anything', async () => {
    const err = await connector('NGINX')
      .deploy(material, ctx({ cert_path: 'relative.crt', key_path: '/tmp/x.key', reload_command: 'nginx -s reload' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect((err as DeployError).message).toBe(
      'invalid NGINX target configuration: config.cert_path: must be an absolute path; ' +
        'config.reload_command: must be an argv array of strings, e.g. ["systemctl", "reload", "nginx"]',
    );
  });
});

describe('verification fields', () => {
  it('every target type accepts them; port and server name need a host', () => {
    for (const type of ['NGINX', 'HAProxy', 'Traefik', 'F5', 'KubernetesSecrets'] as const) {
      expect(targetConfigSpec(type).fields).toEqual(
        expect.arrayContaining(['verify_host', 'verify_port', 'verify_server_name']),
      );
    }
    const ok = { cert_path: '/a.crt', key_path: '/a.key' };
    const check = (extra: object) => checkConfig(targetConfigSpec('Apache'), { ...ok, ...extra }, 'body.config');
    expect(check({ verify_host: '127.0.0.1', verify_port: 8443, verify_server_name: 'www.example.com' }).ok).toBe(true);
    expect(check({ verify_host: 'h.example', verify_port: 0, verify_server_name: '10.0.0.1' })).toEqual({
      ok: false,
      issues: [
        'body.config.verify_port: must be between 1 and 65535',
        'body.config.verify_server_name: must be a DNS name (SNI does not carry IP addresses)',
      ],
    });
    expect(check({ verify_port: 443 })).toEqual({
      ok: false,
      issues: ['body.config.verify_port: requires verify_host'],
    });
  });

  it('the endpoint: port 443 by default, SNI from a host name only', () => {
    const c = connector('NGINX');
    expect(c.verifyEndpoint({ cert_path: '/a' })).toBeUndefined();
    expect(c.verifyEndpoint({ verify_host: 'web.example.com' })).toEqual({
      host: 'web.example.com',
      port: 443,
      servername: 'web.example.com',
    });
    expect(c.verifyEndpoint({ verify_host: '127.0.0.1', verify_port: 8443 })).toEqual({
      host: '127.0.0.1',
      port: 8443,
    });
    expect(verifyEndpointFrom({ verify_host: '127.0.0.1', verify_server_name: 'a.example' })).toEqual({
      host: '127.0.0.1',
      port: 443,
      servername: 'a.example',
    });
  });

  it('HAProxy: runtime API excludes a reload command and needs a plain pem_path', () => {
    const r = checkConfig(
      targetConfigSpec('HAProxy'),
      { pem_path: '/etc/haproxy/my site.pem', runtime_api_socket: '/run/haproxy/admin.sock', reload_command: ['true'] },
      'body.config',
    );
    expect(r).toEqual({
      ok: false,
      issues: [
        'body.config.reload_command: use either runtime_api_socket or reload_command, not both',
        'body.config.pem_path: must not contain spaces, ; or \\ when runtime_api_socket is used',
      ],
    });
  });

  it('fingerprints a certificate as lowercase hex SHA-256 of its DER', () => {
    expect(certificateFingerprint(material.certPem)).toMatch(/^[0-9a-f]{64}$/);
  });
});
