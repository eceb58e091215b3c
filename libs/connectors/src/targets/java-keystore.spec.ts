import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf, OpensslPki } from './caddy-envoy-keystore.testing';
import { javaKeystoreConnector } from './java-keystore';
import { DeployError, type DeployMaterial } from './target-port';

/* The real keytool (Debian default-jre-headless) reads every keystore these tests write. */

function keytool(args: string[]): { status: number; out: string } {
  const r = spawnSync('keytool', args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** keytool's `Certificate fingerprint (SHA-256): AB:CD:...` as lowercase hex. */
function listedFingerprints(out: string): string[] {
  return [...out.matchAll(/Certificate fingerprint \(SHA-256\): ([0-9A-F:]+)/g)].map((m) =>
    m[1].replace(/:/g, '').toLowerCase(),
  );
}

const STOREPASS = 'store pass 1'; // a space: passwords reach keytool through files, not argv

describe('javaKeystoreConnector with the real keytool', () => {
  const pki = new OpensslPki();
  let dir: string;
  let first: DeployMaterial;
  let second: DeployMaterial;

  beforeAll(() => {
    first = pki.leaf('app.example.test');
    second = pki.leaf('app.example.test');
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'certctl-jks-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  afterAll(() => pki.remove());

  const ctx = (config: Record<string, unknown>, log?: (l: string) => void) => ({
    targetId: 't-jks',
    jobId: 'j',
    config: { keystore_password: STOREPASS, alias: 'web', ...config },
    log,
  });

  it('creates a PKCS12 keystore keytool lists with the certificate, its chain and the right key', async () => {
    const ks = join(dir, 'server.p12');
    const r = await javaKeystoreConnector.deploy(first, ctx({ keystore_path: ks, keystore_type: 'PKCS12' }));
    expect(r).toMatchObject({ changed: true, written: [ks], validated: true, reloaded: false });
    expect((await stat(ks)).mode & 0o777).toBe(0o600);

    const list = keytool(['-list', '-keystore', ks, '-storetype', 'PKCS12', '-storepass', STOREPASS]);
    expect(list.status).toBe(0);
    expect(list.out).toMatch(/^web, .*, PrivateKeyEntry, ?$/m);
    expect(listedFingerprints(list.out)).toEqual([fingerprintOf(first.certPem)]);
    const chain = keytool(['-list', '-rfc', '-alias', 'web', '-keystore', ks, '-storepass', STOREPASS]);
    expect(chain.out).toContain('Certificate chain length: 2');

    // openssl opens the keystore too, and the key in it is the deployed one.
    const key = spawnSync('openssl', ['pkcs12', '-in', ks, '-passin', `pass:${STOREPASS}`, '-nocerts', '-noenc'], {
      encoding: 'utf8',
    });
    expect(key.status).toBe(0);
    const pub = (pem: string) =>
      spawnSync('openssl', ['pkey', '-pubout'], { input: pem, encoding: 'utf8' }).stdout.trim();
    expect(pub(key.stdout)).toBe(pub(first.keyPem));
    expect(pub(first.keyPem)).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('replaces the alias in an existing JKS, keeps its other entries, and skips an identical deployment', async () => {
    const ks = join(dir, 'server.jks');
    await writeFile(join(dir, 'root.pem'), pki.rootPem);
    const imported = keytool(
      ['-importcert', '-noprompt', '-alias', 'rootca', '-file', join(dir, 'root.pem')].concat([
        '-keystore',
        ks,
        '-storetype',
        'JKS',
        '-storepass',
        STOREPASS,
      ]),
    );
    expect(imported.status).toBe(0);
    const config = { keystore_path: ks, keystore_type: 'JKS', key_password: 'key pass 2' };

    await javaKeystoreConnector.deploy(first, ctx(config));
    const lines: string[] = [];
    const same = await javaKeystoreConnector.deploy(
      first,
      ctx(config, (l) => lines.push(l)),
    );
    expect(same).toMatchObject({ changed: false, written: [] });
    expect(lines.join('\n')).toContain('already holds this certificate chain under alias web');

    const r = await javaKeystoreConnector.deploy(second, ctx(config));
    expect(r.changed).toBe(true);
    const list = keytool(['-list', '-keystore', ks, '-storetype', 'JKS', '-storepass', STOREPASS]);
    expect(list.status).toBe(0);
    expect(list.out).toContain('Keystore type: JKS');
    expect(list.out).toContain('Your keystore contains 2 entries');
    expect(list.out).toMatch(/^rootca, .*, trustedCertEntry, ?$/m);
    expect(list.out).toMatch(/^web, .*, PrivateKeyEntry, ?$/m);
    expect(listedFingerprints(list.out)).toEqual(
      expect.arrayContaining([fingerprintOf(pki.rootPem), fingerprintOf(second.certPem)]),
    );
    expect(listedFingerprints(list.out)).not.toContain(fingerprintOf(first.certPem));

    // The key is protected by key_password: keytool uses the key (a CSR) only with it.
    const csr = (keypass: string) =>
      keytool(['-certreq', '-alias', 'web', '-keystore', ks, '-storepass', STOREPASS, '-keypass', keypass]);
    expect(csr('key pass 2').out).toContain('BEGIN NEW CERTIFICATE REQUEST');
    expect(csr('wrong pass').status).not.toBe(0);
  });

  it('keeps the keystore when its password is wrong', async () => {
    const ks = join(dir, 'server.p12');
    await javaKeystoreConnector.deploy(first, ctx({ keystore_path: ks, keystore_type: 'PKCS12' }));
    const before = await readFile(ks);
    const err: unknown = await javaKeystoreConnector
      .deploy(second, ctx({ keystore_path: ks, keystore_type: 'PKCS12', keystore_password: 'not the password' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect(err).toMatchObject({ step: 'write', rolledBack: true });
    expect((err as Error).message).toMatch(/^cannot read the keystore .*password was incorrect/);
    expect((err as Error).message).not.toContain('not the password');
    expect(await readFile(ks)).toEqual(before);
  });

  it('restores the previous keystore when the reload fails', async () => {
    const ks = join(dir, 'server.jks');
    await javaKeystoreConnector.deploy(first, ctx({ keystore_path: ks, keystore_type: 'JKS' }));
    const before = await readFile(ks);
    const err: unknown = await javaKeystoreConnector
      .deploy(second, ctx({ keystore_path: ks, keystore_type: 'JKS', reload_command: ['false'] }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DeployError', step: 'reload', rolledBack: true });
    expect(await readFile(ks)).toEqual(before);
    const list = keytool(['-list', '-keystore', ks, '-storepass', STOREPASS]);
    expect(listedFingerprints(list.out)).toEqual([fingerprintOf(first.certPem)]);
  });

  it('refuses a key that is not the certificate’s, and a password keytool would cut, before writing', async () => {
    const ks = join(dir, 'server.p12');
    await expect(
      javaKeystoreConnector.deploy(
        { ...second, keyPem: first.keyPem },
        ctx({ keystore_path: ks, keystore_type: 'PKCS12' }),
      ),
    ).rejects.toMatchObject({
      step: 'write',
      message: 'cannot build the PKCS#12: key: does not match the certificate',
    });
    await expect(
      javaKeystoreConnector.deploy(
        first,
        ctx({ keystore_path: ks, keystore_type: 'PKCS12', keystore_password: 'line one\nline two' }),
      ),
    ).rejects.toMatchObject({
      step: 'write',
      message: expect.stringMatching(/^keystore_password: must not contain line breaks/),
    });
    await expect(stat(ks)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses an invalid configuration naming the field', async () => {
    await expect(
      javaKeystoreConnector.deploy(
        first,
        ctx({ keystore_path: 'relative.jks', keystore_type: 'JKS', keystore_password: '123' }),
      ),
    ).rejects.toMatchObject({
      step: 'write',
      message: expect.stringMatching(/keystore_path: .*keystore_password: must be at least 6 characters \(keytool\)/s),
    });
  });
});
