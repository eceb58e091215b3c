import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  closeSync,
  rmSync,
  statSync,
  symlinkSync,
  lstatSync,
  writeFileSync,
  mkdirSync,
  readlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployFiles, type DeployFile } from './deploy-files';
import { runCommand } from './run-command';
import { DeployError } from './target-port';

const root = mkdtempSync(join(tmpdir(), 'certctl-deploy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh directory per test. */
function freshDir(): string {
  const d = join(root, `t${++n}`);
  mkdirSync(d);
  return d;
}

const modeOf = (p: string) => statSync(p).mode & 0o7777;
/** A command appending one line to a counter file, then exiting with `code`. */
const count = (file: string, code = 0) => ['sh', '-c', `echo x >> "$1"; exit ${code}`, 'sh', file];
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);

function pair(dir: string, cert = 'CERT-1\n', key = 'KEY-1\n'): DeployFile[] {
  return [
    { path: join(dir, 'site.crt'), bytes: cert, mode: 0o644 },
    { path: join(dir, 'site.key'), bytes: key, mode: 0o600 },
  ];
}

async function deployError(p: Promise<unknown>): Promise<DeployError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DeployError)) throw new Error(`expected a DeployError, got ${String(err)}`);
  return err;
}

const isRoot = process.getuid?.() === 0;

describe('deployFiles', () => {
  it('creates new files with the given modes whatever the umask, and leaves no temporary file', async () => {
    const dir = freshDir();
    const old = process.umask(0o077);
    try {
      const r = await deployFiles({ files: pair(dir) });
      expect(r).toEqual({
        changed: true,
        written: [join(dir, 'site.crt'), join(dir, 'site.key')],
        validated: false,
        reloaded: false,
        message: 'wrote 2 file(s)',
      });
    } finally {
      process.umask(old);
    }
    expect(readFileSync(join(dir, 'site.crt'), 'utf8')).toBe('CERT-1\n');
    expect(modeOf(join(dir, 'site.crt'))).toBe(0o644);
    expect(modeOf(join(dir, 'site.key'))).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['site.crt', 'site.key']);
  });

  it('is idempotent: the same bytes again write nothing and run neither validate nor reload', async () => {
    const dir = freshDir();
    const counter = join(dir, 'count');
    const req = { files: pair(dir), validate: count(counter), reload: count(counter) };
    expect((await deployFiles(req)).changed).toBe(true);
    expect(lines(counter)).toBe(2);
    const inode = statSync(join(dir, 'site.crt')).ino;

    const again = await deployFiles(req);
    expect(again).toMatchObject({ changed: false, written: [], validated: false, reloaded: false });
    expect(again.message).toMatch(/already hold these bytes/);
    expect(lines(counter)).toBe(2);
    expect(statSync(join(dir, 'site.crt')).ino).toBe(inode);

    // One changed file: only that one is written, and the commands run.
    const changed = await deployFiles({ ...req, files: pair(dir, 'CERT-2\n') });
    expect(changed).toMatchObject({ changed: true, written: [join(dir, 'site.crt')], validated: true, reloaded: true });
    expect(lines(counter)).toBe(4);
  });

  it('replaces by rename: a reader holding the old file still reads the old bytes', async () => {
    const dir = freshDir();
    await deployFiles({ files: pair(dir) });
    const fd = openSync(join(dir, 'site.crt'), 'r');
    try {
      await deployFiles({ files: pair(dir, 'CERT-2 longer\n') });
      const buf = Buffer.alloc(64);
      const got = readSync(fd, buf, 0, 64, 0);
      expect(buf.subarray(0, got).toString()).toBe('CERT-1\n');
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(join(dir, 'site.crt'), 'utf8')).toBe('CERT-2 longer\n');
  });

  it('keeps the mode of existing files, unless the mode is forced', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'site.crt'), 'OLD\n');
    chmodSync(join(dir, 'site.crt'), 0o640);
    writeFileSync(join(dir, 'site.key'), 'OLD KEY\n');
    chmodSync(join(dir, 'site.key'), 0o644);
    await deployFiles({ files: pair(dir) });
    expect(modeOf(join(dir, 'site.crt'))).toBe(0o640);
    expect(modeOf(join(dir, 'site.key'))).toBe(0o644);

    const forced = pair(dir);
    forced[1] = { ...forced[1], mode: 0o400, forceMode: true };
    // Same bytes but a different forced mode is a change.
    const r = await deployFiles({ files: forced });
    expect(r.written).toEqual([join(dir, 'site.key')]);
    expect(modeOf(join(dir, 'site.key'))).toBe(0o400);
  });

  it('keeps the owner of existing files and applies a configured owner (as root; otherwise refuses)', async () => {
    const dir = freshDir();
    if (!isRoot) {
      const files = pair(dir).map((f) => ({ ...f, owner: '0' }));
      const err = await deployError(deployFiles({ files }));
      expect(err).toMatchObject({ step: 'write', rolledBack: true });
      expect(err.message).toContain('EPERM');
      expect(readdirSync(dir)).toEqual([]);
      return;
    }
    writeFileSync(join(dir, 'site.crt'), 'OLD\n');
    chownSync(join(dir, 'site.crt'), 1234, 2345);
    await deployFiles({ files: pair(dir) });
    expect(statSync(join(dir, 'site.crt'))).toMatchObject({ uid: 1234, gid: 2345 });
    // New file without owner: the agent's user.
    expect(statSync(join(dir, 'site.key'))).toMatchObject({ uid: 0, gid: 0 });

    const named = pair(dir, 'CERT-2\n', 'KEY-2\n').map((f) => ({ ...f, owner: 'nobody', group: '4321' }));
    await deployFiles({ files: named });
    const nobody = Number((await runCommand(['id', '-u', 'nobody'])).stdout.trim());
    expect(statSync(join(dir, 'site.crt'))).toMatchObject({ uid: nobody, gid: 4321 });
    expect(statSync(join(dir, 'site.key'))).toMatchObject({ uid: nobody, gid: 4321 });
  });

  it('refuses an unknown owner before writing anything', async () => {
    const dir = freshDir();
    const files = pair(dir).map((f) => ({ ...f, owner: 'no-such-user-certctl' }));
    const err = await deployError(deployFiles({ files }));
    expect(err).toMatchObject({ step: 'write', rolledBack: true });
    expect(err.message).toBe('user no-such-user-certctl does not exist on this host');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes through a symlink, leaving the link in place', async () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'archive'));
    writeFileSync(join(dir, 'archive', 'cert1.pem'), 'OLD\n');
    chmodSync(join(dir, 'archive', 'cert1.pem'), 0o600);
    symlinkSync('archive/cert1.pem', join(dir, 'site.crt'));
    await deployFiles({ files: pair(dir) });
    expect(lstatSync(join(dir, 'site.crt')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'site.crt'))).toBe('archive/cert1.pem');
    expect(readFileSync(join(dir, 'archive', 'cert1.pem'), 'utf8')).toBe('CERT-1\n');
    expect(modeOf(join(dir, 'archive', 'cert1.pem'))).toBe(0o600);
  });

  it('rolls back when validation fails: old bytes, modes and owners back, new files deleted, no reload', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'site.crt'), 'OLD CERT\n');
    chmodSync(join(dir, 'site.crt'), 0o640);
    if (isRoot) chownSync(join(dir, 'site.crt'), 1234, 2345);
    const counter = join(dir, '..', `reloads-${n}`);
    const lines0: string[] = [];
    const err = await deployError(
      deployFiles({
        files: [...pair(dir), { path: join(dir, 'chain.pem'), bytes: 'CHAIN\n', mode: 0o644 }],
        validate: ['sh', '-c', 'echo "config test failed: bad key" >&2; exit 3'],
        reload: count(counter),
        log: (l) => lines0.push(l),
      }),
    );
    expect(err).toMatchObject({ name: 'DeployError', step: 'validate', rolledBack: true });
    expect(err.message).toContain('exited with code 3: config test failed: bad key');
    expect(err.message).toContain('restored 3 file(s)');
    expect(readdirSync(dir)).toEqual(['site.crt']);
    expect(readFileSync(join(dir, 'site.crt'), 'utf8')).toBe('OLD CERT\n');
    expect(modeOf(join(dir, 'site.crt'))).toBe(0o640);
    if (isRoot) expect(statSync(join(dir, 'site.crt'))).toMatchObject({ uid: 1234, gid: 2345 });
    expect(lines(counter)).toBe(0);
    expect(lines0).toContain(`removed ${join(dir, 'site.key')} (it did not exist before)`);
  });

  it('rolls back when the reload fails and reloads once more to load the old files', async () => {
    const dir = freshDir();
    await deployFiles({ files: pair(dir) });
    const counter = join(dir, '..', `reloads-${n}`);
    // The reload records which certificate it saw, then fails.
    const reload = ['sh', '-c', 'cat "$1" >> "$2"; exit 1', 'sh', join(dir, 'site.crt'), counter];
    const err = await deployError(deployFiles({ files: pair(dir, 'CERT-2\n', 'KEY-2\n'), reload }));
    expect(err).toMatchObject({ step: 'reload', rolledBack: true });
    expect(err.message).toMatch(/restored 2 file\(s\); reloading the previous files failed too/);
    expect(readFileSync(counter, 'utf8')).toBe('CERT-2\nCERT-1\n');
    expect(readFileSync(join(dir, 'site.crt'), 'utf8')).toBe('CERT-1\n');
    expect(readFileSync(join(dir, 'site.key'), 'utf8')).toBe('KEY-1\n');
  });

  it('reports a command that cannot be started, and one that times out', async () => {
    const dir = freshDir();
    const missing = await deployError(deployFiles({ files: pair(dir), validate: ['/nonexistent/certctl-validate'] }));
    expect(missing.message).toContain('could not be started: ENOENT');
    expect(readdirSync(dir)).toEqual([]);

    const started = Date.now();
    const slow = await deployError(deployFiles({ files: pair(dir), reload: ['sleep', '30'], timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(slow).toMatchObject({ step: 'reload', rolledBack: true });
    expect(slow.message).toContain('`sleep 30` timed out');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rolls back on abort', async () => {
    const dir = freshDir();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const err = await deployError(deployFiles({ files: pair(dir), validate: ['sleep', '30'], signal: ac.signal }));
    expect(err).toMatchObject({ step: 'validate', rolledBack: true });
    expect(err.message).toContain('was aborted');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('restores the files already written when a later write fails', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'site.crt'), 'OLD\n');
    const files = [
      { path: join(dir, 'site.crt'), bytes: 'NEW\n', mode: 0o644 },
      { path: join(dir, 'missing-dir', 'site.key'), bytes: 'KEY\n', mode: 0o600 },
    ];
    const err = await deployError(deployFiles({ files, validate: ['true'] }));
    expect(err).toMatchObject({ step: 'write', rolledBack: true });
    expect(err.message).toContain(join(dir, 'missing-dir', 'site.key'));
    expect(readFileSync(join(dir, 'site.crt'), 'utf8')).toBe('OLD\n');
    expect(readdirSync(dir)).toEqual(['site.crt']);
  });

  it('refuses two files with one path', async () => {
    const dir = freshDir();
    const f = pair(dir)[0];
    await expect(deployFiles({ files: [f, f] })).rejects.toThrow('two files of one deployment share a path');
  });

  it('serialises concurrent deployments of the same files', async () => {
    const dir = freshDir();
    const log = join(dir, '..', `order-${n}`);
    const slow = (tag: string) => [
      'sh',
      '-c',
      'echo "start $1" >> "$2"; sleep 0.3; echo "end $1" >> "$2"',
      'sh',
      tag,
      log,
    ];
    await Promise.all([
      deployFiles({ files: pair(dir, 'A\n'), validate: slow('a') }),
      deployFiles({ files: pair(dir, 'B\n'), validate: slow('b') }),
    ]);
    expect(readFileSync(log, 'utf8')).toBe('start a\nend a\nstart b\nend b\n');
    expect(readFileSync(join(dir, 'site.crt'), 'utf8')).toBe('B\n');
  });

  it('writes a temporary file in the same directory, fsyncs it, renames it, then fsyncs the directory', async () => {
    const dir = freshDir();
    const trace = join(root, `strace-${n}.out`);
    const st = spawn(
      'strace',
      ['-f', '-e', 'trace=openat,fsync,rename,renameat,renameat2', '-o', trace, '-p', String(process.pid)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        let err = '';
        st.once('error', reject);
        st.stderr.on('data', (c: Buffer) => {
          err += c.toString();
          if (/attached/.test(err)) resolve();
        });
        st.once('exit', (code) => reject(new Error(`strace exited with ${code}: ${err}`)));
      });
      await deployFiles({ files: [{ path: join(dir, 'site.crt'), bytes: 'CERT\n', mode: 0o644 }] });
    } finally {
      st.kill('SIGINT');
      await new Promise((r) => st.once('exit', r));
    }
    const calls = readFileSync(trace, 'utf8')
      .split('\n')
      .map((l) => l.replace(/^\d+\s+/, ''));
    const tmp = new RegExp(
      `openat\\(AT_FDCWD, "${dir}/\\.site\\.crt\\.certctl-[0-9a-f]{12}\\.tmp", O_WRONLY\\|O_CREAT\\|O_EXCL.*= (\\d+)$`,
    );
    const open = calls.findIndex((l) => tmp.test(l));
    expect(open).toBeGreaterThanOrEqual(0);
    const fd = tmp.exec(calls[open])?.[1];
    const fsyncTmp = calls.findIndex((l, i) => i > open && l.startsWith(`fsync(${fd})`));
    const renamed = calls.findIndex((l) => /^rename(at2?)?\(.*\.site\.crt\.certctl-.*site\.crt"/.test(l));
    const dirOpen = calls.findIndex((l, i) => i > renamed && l.startsWith(`openat(AT_FDCWD, "${dir}", O_RDONLY`));
    const dirFd = /= (\d+)$/.exec(calls[dirOpen] ?? '')?.[1];
    const fsyncDir = calls.findIndex((l, i) => i > dirOpen && l.startsWith(`fsync(${dirFd})`));
    expect({
      fsyncTmp: fsyncTmp > open,
      renamed: renamed > fsyncTmp,
      fsyncDir: dirOpen > renamed && fsyncDir > dirOpen,
    }).toEqual({
      fsyncTmp: true,
      renamed: true,
      fsyncDir: true,
    });
  });
});

describe('runCommand', () => {
  it('captures bounded output without a shell', async () => {
    const r = await runCommand(['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a; echo err >&2; exit 2'], {
      maxOutput: 1000,
    });
    expect(r).toMatchObject({ code: 2, timedOut: false, stderr: 'err\n' });
    expect(r.stdout).toMatch(/^a{1000}\n\[\.\.\. 99000 more bytes\]$/);
    const literal = await runCommand(['echo', '$(id)', ';', '|', '&&']);
    expect(literal.stdout).toBe('$(id) ; | &&\n');
  });

  it('returns when the command exits even if a child it started keeps the pipes open', async () => {
    const started = Date.now();
    const r = await runCommand(['sh', '-c', 'sleep 2 & echo started']);
    expect(r).toMatchObject({ code: 0, stdout: 'started\n' });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
