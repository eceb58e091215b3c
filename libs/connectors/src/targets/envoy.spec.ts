import { spawnSync } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TargetType } from '@certctl/domain';
import * as yaml from 'js-yaml';
import { eventually, fingerprintOf, OpensslPki } from './caddy-envoy-keystore.testing';
import { ENVOY_SECRET_TYPE, envoyConnector } from './envoy';
import { DeployError, type DeployMaterial } from './target-port';

const ctx = (config: Record<string, unknown>) => ({ targetId: 'tgt-envoy', jobId: 'job-1', config });

describe('envoyConnector (files + file-based SDS)', () => {
  const pki = new OpensslPki();
  let dir: string;
  let first: DeployMaterial;
  let second: DeployMaterial;

  beforeAll(() => {
    first = pki.leaf('envoy-one.example.com');
    second = pki.leaf('envoy-two.example.com');
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'certctl-envoy-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  afterAll(() => pki.remove());

  const paths = () => ({
    cert_path: join(dir, 'server.crt'),
    key_path: join(dir, 'server.key'),
    sds_config_path: join(dir, 'sds.json'),
    sds_secret_name: 'server_cert',
  });
  const read = (name: string) => readFile(join(dir, name), 'utf8');
  const mode = async (name: string) => (await stat(join(dir, name))).mode & 0o777;

  it('writes the full chain, the key (0600) and an SDS DiscoveryResponse naming them', async () => {
    const r = await envoyConnector.deploy(first, ctx({ ...paths(), chain_path: join(dir, 'chain.pem') }));
    expect(r).toMatchObject({ changed: true, validated: false, reloaded: false });
    expect(r.written).toEqual([
      join(dir, 'server.crt'),
      join(dir, 'chain.pem'),
      join(dir, 'server.key'),
      join(dir, 'sds.json'),
    ]);

    // certificate_chain is one file in Envoy: leaf first, then the intermediate.
    const chainFile = await read('server.crt');
    expect(chainFile).toBe(`${first.certPem.trim()}\n${first.chainPem.trim()}\n`);
    // openssl agrees that the leaf in the file chains to the root through the file's intermediate.
    await writeFile(join(dir, 'root.pem'), pki.rootPem);
    const v = spawnSync(
      'openssl',
      ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'server.crt'), join(dir, 'server.crt')],
      { encoding: 'utf8' },
    );
    expect(v.stdout.trim()).toBe(`${join(dir, 'server.crt')}: OK`);
    expect(await read('chain.pem')).toBe(`${first.chainPem.trim()}\n`);
    expect(await read('server.key')).toBe(`${first.keyPem.trim()}\n`);
    expect(await mode('server.key')).toBe(0o600);
    expect(await mode('server.crt')).toBe(0o644);
    expect(await mode('sds.json')).toBe(0o644);

    const sds = JSON.parse(await read('sds.json'));
    expect(sds).toEqual({
      version_info: fingerprintOf(first.certPem),
      resources: [
        {
          '@type': ENVOY_SECRET_TYPE,
          name: 'server_cert',
          tls_certificate: {
            certificate_chain: { filename: join(dir, 'server.crt') },
            private_key: { filename: join(dir, 'server.key') },
          },
        },
      ],
    });
    expect(await read('sds.json')).not.toContain('PRIVATE KEY');
  });

  it('writes YAML for a .yaml SDS path (parsed by an independent YAML parser), even for odd paths', async () => {
    const odd = join(dir, 'we"ird: dir #1');
    await mkdir(odd);
    const config = {
      cert_path: join(odd, 'c.pem'),
      key_path: join(odd, 'k.pem'),
      sds_config_path: join(dir, 'sds.yaml'),
      sds_secret_name: 'name: with "quotes"',
    };
    await envoyConnector.deploy(first, ctx(config));
    expect(await read('sds.yaml')).toMatch(
      /^# Written by certctl.*\nversion_info: "[0-9a-f]{64}"\nresources:\n- "@type": /,
    );
    // js-yaml (a dependency of @nestjs/swagger): a YAML parser independent of ours.
    expect(yaml.load(await read('sds.yaml'))).toEqual({
      version_info: fingerprintOf(first.certPem),
      resources: [
        {
          '@type': ENVOY_SECRET_TYPE,
          name: 'name: with "quotes"',
          tls_certificate: {
            certificate_chain: { filename: config.cert_path },
            private_key: { filename: config.key_path },
          },
        },
      ],
    });
  });

  it('does nothing for the same certificate; a new one replaces every file by rename, never in place', async () => {
    await envoyConnector.deploy(first, ctx(paths()));
    const before = await stat(join(dir, 'sds.json'));
    const again = await envoyConnector.deploy(first, ctx(paths()));
    expect(again).toMatchObject({ changed: false, written: [] });
    expect((await stat(join(dir, 'sds.json'))).ino).toBe(before.ino);

    // Envoy reacts to the SDS file being moved into place. Watch the directory like it does,
    // and read the file continuously while deploying: every read is a whole document.
    const events: string[] = [];
    const watcher: FSWatcher = watch(dir, (type, name) => events.push(`${type}:${String(name)}`));
    const seen = new Set<string>();
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const text = await readFile(join(dir, 'sds.json'), 'utf8');
        seen.add(JSON.parse(text).version_info); // throws on a partial file
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      for (const m of [second, first, second]) {
        const r = await envoyConnector.deploy(m, ctx(paths()));
        expect(r.changed).toBe(true);
      }
      // inotify events arrive asynchronously; the reader keeps going meanwhile.
      await eventually(async () => expect(events).toContain('rename:sds.json'), 5_000);
    } finally {
      reading = false;
      await reader;
      watcher.close();
    }
    expect(seen.size).toBe(2); // the reader saw both versions, and nothing else
    expect([...seen].every((v) => v === fingerprintOf(first.certPem) || v === fingerprintOf(second.certPem))).toBe(
      true,
    );
    const after = await stat(join(dir, 'sds.json'));
    expect(after.ino).not.toBe(before.ino); // a new inode: renamed over, not rewritten
    expect(JSON.parse(await read('sds.json')).version_info).toBe(fingerprintOf(second.certPem));
    expect(await read('server.crt')).toContain(second.certPem.trim());
    // No temporary files left behind.
    expect((await readdir(dir)).sort()).toEqual(['sds.json', 'server.crt', 'server.key']);
  });

  it('restores every file when the validate command fails', async () => {
    await envoyConnector.deploy(first, ctx(paths()));
    const old = { crt: await read('server.crt'), key: await read('server.key'), sds: await read('sds.json') };
    const err: unknown = await envoyConnector
      .deploy(second, ctx({ ...paths(), validate_command: ['sh', '-c', 'echo "bad bootstrap" >&2; exit 1'] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect(err).toMatchObject({
      step: 'validate',
      rolledBack: true,
      message: expect.stringContaining('bad bootstrap'),
    });
    expect({ crt: await read('server.crt'), key: await read('server.key'), sds: await read('sds.json') }).toEqual(old);
    expect(await mode('server.key')).toBe(0o600);
  });

  it('refuses a configuration with an SDS path but no secret name before touching anything', async () => {
    const { sds_secret_name: _omit, ...withoutName } = paths();
    await expect(envoyConnector.deploy(first, ctx(withoutName))).rejects.toMatchObject({
      name: 'DeployError',
      step: 'write',
      message: expect.stringMatching(/^invalid Envoy target configuration: .*sds_secret_name/),
    });
    expect(await readdir(dir)).toEqual([]);
    expect(envoyConnector.type).toBe(TargetType.Envoy);
  });

  it('names its verification endpoint from the configuration', () => {
    expect(envoyConnector.verifyEndpoint({ ...paths(), verify_host: '127.0.0.1', verify_port: 10443 })).toEqual({
      host: '127.0.0.1',
      port: 10443,
    });
    expect(envoyConnector.verifyEndpoint(paths())).toBeUndefined();
  });
});
