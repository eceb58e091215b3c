import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { joinPem } from './pem-file-targets';
import { remoteCommandLine, shellQuote, sshConnector } from './ssh';
import { DeployError, type DeployMaterial } from './target-port';
import { otherHostKeyFingerprint, startTestSshd, type TestSshd } from './testing/sshd';
import { makeCa, makeLeaf } from './testing/target-fixtures';

/*
 * The SSH connector against a real OpenSSH sshd on a loopback port: files written through
 * SFTP, commands through SSH exec, the host key checked against the pin.
 */
describe('SSH target connector (real sshd)', () => {
  let sshd: TestSshd;
  let first: DeployMaterial;
  let second: DeployMaterial;
  let n = 0;

  beforeAll(async () => {
    sshd = await startTestSshd();
    mkdirSync(join(sshd.dir, 'pki'));
    makeCa(join(sshd.dir, 'pki'));
    first = makeLeaf(join(sshd.dir, 'pki'), 'first');
    second = makeLeaf(join(sshd.dir, 'pki'), 'second');
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  /** A fresh remote directory (the "remote host" is this machine) with a space and a quote in its name. */
  function site() {
    const dir = join(sshd.dir, `site ${++n} it's`);
    mkdirSync(dir);
    return { dir, crt: join(dir, 'site.crt'), key: join(dir, 'site.key'), chain: join(dir, 'chain.pem') };
  }

  function config(s: ReturnType<typeof site>, extra: Record<string, unknown> = {}) {
    return {
      host: '127.0.0.1',
      port: sshd.port,
      username: sshd.username,
      private_key: sshd.clientKey,
      host_key_fingerprint: sshd.hostKeyFingerprint,
      cert_path: s.crt,
      key_path: s.key,
      ...extra,
    };
  }

  const deploy = (m: DeployMaterial, cfg: Record<string, unknown>, log?: string[]) =>
    sshConnector.deploy(m, {
      targetId: 't-ssh',
      jobId: `job-${n}`,
      config: cfg,
      log: log ? (l) => log.push(l) : undefined,
    });

  it('writes certificate + chain and the key (0600) through SFTP, validates and reloads over exec, then is idempotent', async () => {
    const s = site();
    const marker = join(s.dir, 'reloaded');
    const cfg = config(s, {
      // The quoted path proves the argv survives the remote shell intact.
      validate_command: ['grep', '-q', 'BEGIN CERTIFICATE', s.crt],
      reload_command: ['sh', '-c', 'echo "$1" >> "$2"', 'sh', 'reload; $(id) `x`', marker],
    });
    const r = await deploy(first, cfg);
    expect(r).toMatchObject({ changed: true, validated: true, reloaded: true });
    expect(r.written).toEqual([
      `ssh://${sshd.username}@127.0.0.1:${sshd.port}${s.crt}`,
      `ssh://${sshd.username}@127.0.0.1:${sshd.port}${s.key}`,
    ]);
    expect(readFileSync(s.crt, 'utf8')).toBe(joinPem(first.certPem, first.chainPem));
    expect(readFileSync(s.key, 'utf8')).toBe(joinPem(first.keyPem));
    expect(statSync(s.key).mode & 0o777).toBe(0o600);
    expect(statSync(s.crt).mode & 0o777).toBe(0o644);
    expect(readFileSync(marker, 'utf8')).toBe('reload; $(id) `x`\n');

    const again = await deploy(first, cfg);
    expect(again).toMatchObject({ changed: false, written: [], validated: false, reloaded: false });
    expect(readFileSync(marker, 'utf8')).toBe('reload; $(id) `x`\n');

    // A new certificate replaces the files; an existing file keeps its mode.
    chmodSync(s.crt, 0o640);
    const next = await deploy(second, cfg);
    expect(next.changed).toBe(true);
    expect(readFileSync(s.crt, 'utf8')).toBe(joinPem(second.certPem, second.chainPem));
    expect(readFileSync(s.key, 'utf8')).toBe(joinPem(second.keyPem));
    expect(statSync(s.crt).mode & 0o777).toBe(0o640);
    expect(readFileSync(marker, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('writes a separate chain file when chain_path is set', async () => {
    const s = site();
    await deploy(first, config(s, { chain_path: s.chain }));
    expect(readFileSync(s.crt, 'utf8')).toBe(joinPem(first.certPem));
    expect(readFileSync(s.chain, 'utf8')).toBe(joinPem(first.chainPem));
  });

  it('restores every file (and removes new ones) when the remote validate command fails', async () => {
    const s = site();
    await deploy(first, config(s));
    const before = { crt: readFileSync(s.crt, 'utf8'), key: readFileSync(s.key, 'utf8') };
    const log: string[] = [];
    const err = await deploy(
      second,
      config(s, { chain_path: s.chain, validate_command: ['sh', '-c', 'echo broken config >&2; exit 3'] }),
      log,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect(err).toMatchObject({ step: 'validate', rolledBack: true });
    expect((err as Error).message).toMatch(/exited with code 3: broken config/);
    expect(readFileSync(s.crt, 'utf8')).toBe(before.crt);
    expect(readFileSync(s.key, 'utf8')).toBe(before.key);
    expect(existsSync(s.chain)).toBe(false);
    expect(log.join('\n')).toMatch(/removed .*chain\.pem/);
  });

  it('restores the files and reloads again when the reload fails', async () => {
    const s = site();
    await deploy(first, config(s));
    const count = join(s.dir, 'reloads');
    const err = await deploy(
      second,
      config(s, { reload_command: ['sh', '-c', 'echo x >> "$1"; [ "$(wc -l < "$1")" -gt 1 ]', 'sh', count] }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ step: 'reload', rolledBack: true });
    expect((err as Error).message).toMatch(/reloaded the previous files/);
    expect(readFileSync(s.crt, 'utf8')).toBe(joinPem(first.certPem, first.chainPem));
    expect(readFileSync(count, 'utf8')).toBe('x\nx\n');
  });

  it('refuses a host whose key does not match the pin, and one without a pin, writing nothing', async () => {
    const s = site();
    const wrong = otherHostKeyFingerprint(join(sshd.dir, 'pki'));
    const err = await deploy(first, config(s, { host_key_fingerprint: wrong })).catch((e: unknown) => e);
    expect(err).toMatchObject({ step: 'remote', rolledBack: true });
    expect((err as Error).message).toContain(`host key mismatch: the host presented ${sshd.hostKeyFingerprint}`);

    const { host_key_fingerprint: _pin, ...unpinned } = config(s);
    const err2 = await deploy(first, unpinned).catch((e: unknown) => e);
    expect((err2 as Error).message).toContain(
      `host_key_fingerprint is not set; the host presented ${sshd.hostKeyFingerprint}`,
    );
    expect(existsSync(s.crt)).toBe(false);
    expect(existsSync(s.key)).toBe(false);
  });

  it('refuses a key that is not authorised, and a key that does not match the certificate', async () => {
    const s = site();
    const other = readFileSync(join(sshd.dir, 'pki', 'other_host_key'), 'utf8');
    const err = await deploy(first, config(s, { private_key: other })).catch((e: unknown) => e);
    expect(err).toMatchObject({ step: 'remote' });
    expect((err as Error).message).toMatch(/authentication/i);

    const mismatched = { ...first, keyPem: second.keyPem };
    const err2 = await deploy(mismatched, config(s)).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/does not belong to the certificate/);
    expect(existsSync(s.crt)).toBe(false);
  });
});

describe('remote command quoting', () => {
  it('quotes every argument for a POSIX shell', () => {
    expect(shellQuote('nginx')).toBe('nginx');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(remoteCommandLine(['systemctl', 'reload', 'a b;rm -rf /'])).toBe(`systemctl reload 'a b;rm -rf /'`);
    expect(shellQuote('')).toBe(`''`);
    expect(() => remoteCommandLine([])).toThrow('empty argv');
  });
});
