import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { TargetType } from '@certctl/domain';
import { Client, type ConnectConfig, type SFTPWrapper, type Stats } from 'ssh2';
import type { ConfigObject } from '../config/spec';
import { CERT_FILE_MODE, KEY_FILE_MODE } from './deploy-files';
import { runFileTransaction } from './file-transaction';
import { checkDeployMaterial, joinPem, parseTargetConfig } from './pem-file-targets';
import { DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_OUTPUT } from './run-command';
import { sshConfig } from './target-configs';
import {
  DeployError,
  type DeployContext,
  type DeployMaterial,
  type DeployResult,
  type TargetConnector,
  type VerifyEndpoint,
} from './target-port';
import { verifyEndpointFrom } from './verify-endpoint';

/*
 * Agentless SSH target (the proxy-agent pattern): the agent that owns the target connects to
 * the remote host over SSH, writes the files through SFTP and runs the validate/reload
 * commands through SSH exec. The host key must match the configured pin.
 */

const CONNECT_TIMEOUT_MS = 20_000;
const SFTP_NO_SUCH_FILE = 2;
const WRITE_CHUNK = 32 * 1024;

/** `SHA256:<unpadded base64>` of a raw SSH public key blob, as `ssh-keygen -lf` prints it. */
export function sshHostKeyFingerprint(keyBlob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Quotes one argument for a POSIX shell: single quotes, with each `'` written as `'\''`.
 * SSH exec hands the command line to the remote user's login shell, which must be POSIX
 * (sh, bash, dash, zsh, ksh); metacharacters inside the quotes are inert.
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument contains a NUL byte');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An argv as one remote command line, every argument quoted. */
export function remoteCommandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty argv');
  return argv.map(shellQuote).join(' ');
}

const normaliseFingerprint = (f: string) => f.replace(/=+$/, '');

interface RemoteFile {
  path: string;
  bytes: Buffer;
  mode: number;
  forceMode: boolean;
}

interface RemoteSnapshot {
  /** The path written: an existing symlink is resolved so the link stays in place. */
  path: string;
  existed: boolean;
  bytes?: Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const octal = (m: number) => `0${(m & 0o7777).toString(8)}`;

/** Promise wrappers over the callback SFTP API. */
class Sftp {
  constructor(private readonly s: SFTPWrapper) {}

  private call<T>(fn: (cb: (err: Error | undefined | null, v: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      try {
        fn((err, v) => (err ? reject(err) : resolve(v)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  lstat(p: string): Promise<Stats | undefined> {
    return this.call<Stats>((cb) => this.s.lstat(p, cb)).catch((err: { code?: number }) => {
      if (err.code === SFTP_NO_SUCH_FILE) return undefined;
      throw err as Error;
    });
  }
  stat = (p: string) => this.call<Stats>((cb) => this.s.stat(p, cb));
  realpath = (p: string) => this.call<string>((cb) => this.s.realpath(p, cb));
  readFile = (p: string) => this.call<Buffer>((cb) => this.s.readFile(p, cb));
  unlink = (p: string) => this.call<void>((cb) => this.s.unlink(p, (err) => cb(err, undefined)));

  /** Creates a new file (0600, fails if it exists), writes, sets mode/owner, fsyncs, closes. */
  async writeNew(p: string, bytes: Buffer, mode: number, uid?: number, gid?: number): Promise<void> {
    const h = await this.call<Buffer>((cb) => this.s.open(p, 'wx', { mode: 0o600 }, cb));
    try {
      for (let off = 0; off < bytes.length; off += WRITE_CHUNK) {
        const len = Math.min(WRITE_CHUNK, bytes.length - off);
        await this.call<void>((cb) => this.s.write(h, bytes, off, len, off, (err) => cb(err, undefined)));
      }
      if (uid !== undefined && gid !== undefined) {
        const st = await this.call<Stats>((cb) => this.s.fstat(h, cb));
        if (st.uid !== uid || st.gid !== gid) {
          await this.call<void>((cb) => this.s.fchown(h, uid, gid, (err) => cb(err, undefined)));
        }
      }
      await this.call<void>((cb) => this.s.fchmod(h, mode, (err) => cb(err, undefined)));
      // fsync@openssh.com when the server has it; otherwise the close is all SFTP offers.
      await this.call<void>((cb) => this.s.ext_openssh_fsync(h, (err) => cb(err, undefined))).catch(() => undefined);
    } finally {
      await this.call<void>((cb) => this.s.close(h, (err) => cb(err, undefined))).catch(() => undefined);
    }
  }

  /**
   * Renames over an existing file. posix-rename@openssh.com is an atomic rename(2); plain
   * SFTP v3 rename refuses an existing target, so without the extension the old file is
   * moved aside first (a short window without the file) and removed after.
   */
  async replace(from: string, to: string, log: (l: string) => void): Promise<void> {
    try {
      await this.call<void>((cb) => this.s.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
      return;
    } catch (err) {
      if (!/does not support/i.test((err as Error).message)) throw err;
    }
    log('the SFTP server lacks posix-rename@openssh.com: replacing the file in two steps');
    const aside = `${to}.certctl-old-${randomBytes(4).toString('hex')}`;
    const moved = await this.call<void>((cb) => this.s.rename(to, aside, (err) => cb(err, undefined))).then(
      () => true,
      (err: { code?: number }) => {
        if (err.code === SFTP_NO_SUCH_FILE) return false;
        throw err as Error;
      },
    );
    try {
      await this.call<void>((cb) => this.s.rename(from, to, (err) => cb(err, undefined)));
    } catch (err) {
      if (moved)
        await this.call<void>((cb) => this.s.rename(aside, to, (e) => cb(e, undefined))).catch(() => undefined);
      throw err;
    }
    if (moved) await this.unlink(aside).catch(() => undefined);
  }

  /** Atomic replacement: temp file in the same directory, mode/owner, fsync, rename. */
  async writeAtomic(
    p: string,
    bytes: Buffer,
    mode: number,
    log: (l: string) => void,
    uid?: number,
    gid?: number,
  ): Promise<void> {
    const tmp = posix.join(posix.dirname(p), `.${posix.basename(p)}.certctl-${randomBytes(6).toString('hex')}.tmp`);
    let renamed = false;
    try {
      await this.writeNew(tmp, bytes, mode, uid, gid);
      await this.replace(tmp, p, log);
      renamed = true;
    } finally {
      if (!renamed) await this.unlink(tmp).catch(() => undefined);
    }
  }
}

interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function exec(client: Client, argv: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
  const line = remoteCommandLine(argv);
  return new Promise((resolve, reject) => {
    client.exec(line, (err, stream) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let outLen = 0;
      let errLen = 0;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stream.close();
      }, timeoutMs);
      const onAbort = () => stream.close();
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (c: Buffer) => {
        if (outLen < MAX_COMMAND_OUTPUT) out.push(c);
        outLen += c.length;
      });
      stream.stderr.on('data', (c: Buffer) => {
        if (errLen < MAX_COMMAND_OUTPUT) errOut.push(c);
        errLen += c.length;
      });
      stream.on('close', (code: number | null, sig?: string) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const text = (b: Buffer[]) => Buffer.concat(b).subarray(0, MAX_COMMAND_OUTPUT).toString('utf8').trim();
        resolve({ code: code ?? null, signal: sig, stdout: text(out), stderr: text(errOut), timedOut });
      });
    });
  });
}

function describeExec(argv: readonly string[], r: ExecResult): string {
  const why = r.timedOut
    ? 'timed out'
    : r.code === null
      ? `ended without an exit status${r.signal ? ` (signal ${r.signal})` : ''}`
      : `exited with code ${r.code}`;
  const out = [r.stderr, r.stdout].filter((s) => s !== '').join('\n');
  return `remote \`${argv.join(' ')}\` ${why}${out ? `: ${out}` : ''}`;
}

/** Connects and verifies the host key against the pin; the error names what the host presented. */
function connect(cfg: ConnectConfig, pin: string | undefined, signal?: AbortSignal): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: string | undefined;
    const onAbort = () => {
      client.end();
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    client.on('ready', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(client);
    });
    client.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      if (presented !== undefined && (pin === undefined || normaliseFingerprint(pin) !== presented)) {
        reject(
          new Error(
            pin === undefined
              ? `host_key_fingerprint is not set; the host presented ${presented}: check it out of band and pin it`
              : `host key mismatch: the host presented ${presented}, host_key_fingerprint pins ${pin}; refusing to connect`,
          ),
        );
      } else {
        reject(err);
      }
    });
    client.connect({
      ...cfg,
      readyTimeout: CONNECT_TIMEOUT_MS,
      hostVerifier: (key: Buffer) => {
        presented = sshHostKeyFingerprint(key);
        return pin !== undefined && normaliseFingerprint(pin) === presented;
      },
    });
  });
}

function openSftp(client: Client): Promise<Sftp> {
  return new Promise((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(new Sftp(s)))));
}

async function snapshot(sftp: Sftp, path: string): Promise<RemoteSnapshot> {
  const l = await sftp.lstat(path);
  if (!l) return { path, existed: false };
  const real = l.isSymbolicLink() ? await sftp.realpath(path) : path;
  const st = l.isSymbolicLink() ? await sftp.stat(real) : l;
  if (!st.isFile()) throw new Error(`${path} exists and is not a regular file`);
  return {
    path: real,
    existed: true,
    bytes: await sftp.readFile(real),
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
  };
}

/**
 * SSH/SFTP, agentless: connects as `username` (key or password), refusing a host key that
 * does not match host_key_fingerprint, then does what deployFiles does for local files:
 * SHA-256 idempotency against the remote files' bytes (same bytes and mode: nothing written,
 * no command run), a snapshot of each file, atomic writes (temp file in the same directory,
 * 0600 until its mode is set, fsync, posix-rename), then validate_command and reload_command
 * over SSH exec; a failure restores every written file (new ones removed) and, after a
 * failed reload, runs the reload once more for the old files.
 */
export const sshConnector: TargetConnector = {
  type: TargetType.SSH,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(TargetType.SSH, sshConfig, ctx.config);
    if (c.use_sudo === true) {
      throw new DeployError(
        'use_sudo is not supported by this agent yet: give the SSH user write access to the files and use sudo in the commands',
        'write',
        true,
      );
    }
    checkDeployMaterial(material);
    const log = ctx.log ?? (() => undefined);
    const where = `ssh://${c.username}@${c.host}:${c.port ?? 22}`;

    const files: RemoteFile[] = [
      {
        path: c.cert_path,
        bytes: Buffer.from(
          c.chain_path === undefined ? joinPem(material.certPem, material.chainPem) : joinPem(material.certPem),
        ),
        mode: CERT_FILE_MODE,
        forceMode: false,
      },
    ];
    if (c.chain_path !== undefined) {
      files.push({
        path: c.chain_path,
        bytes: Buffer.from(joinPem(material.chainPem)),
        mode: CERT_FILE_MODE,
        forceMode: false,
      });
    }
    files.push({
      path: c.key_path,
      bytes: Buffer.from(joinPem(material.keyPem)),
      mode: c.key_file_mode !== undefined ? parseInt(c.key_file_mode, 8) : KEY_FILE_MODE,
      forceMode: c.key_file_mode !== undefined,
    });

    let client: Client;
    try {
      client = await connect(
        {
          host: c.host,
          port: c.port ?? 22,
          username: c.username,
          ...(c.private_key !== undefined
            ? { privateKey: c.private_key, passphrase: c.private_key_passphrase }
            : { password: c.password }),
        },
        c.host_key_fingerprint,
        ctx.signal,
      );
    } catch (err) {
      throw new DeployError(`cannot connect to ${where}: ${(err as Error).message}`, 'remote', true);
    }
    log(`connected to ${where} (host key ${c.host_key_fingerprint})`);
    try {
      return await deployOver(client, files, c.validate_command, c.reload_command, where, log, ctx.signal);
    } finally {
      client.end();
    }
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};

async function deployOver(
  client: Client,
  files: RemoteFile[],
  validate: readonly string[] | undefined,
  reload: readonly string[] | undefined,
  where: string,
  log: (l: string) => void,
  signal?: AbortSignal,
): Promise<DeployResult> {
  let sftp: Sftp;
  try {
    sftp = await openSftp(client);
  } catch (err) {
    throw new DeployError(`cannot open SFTP on ${where}: ${(err as Error).message}`, 'remote', true);
  }

  interface Plan {
    file: RemoteFile;
    snap: RemoteSnapshot;
    mode: number;
  }
  const plans: Plan[] = [];
  for (const file of files) {
    let snap: RemoteSnapshot;
    try {
      snap = await snapshot(sftp, file.path);
    } catch (err) {
      throw new DeployError(`cannot read ${where}${file.path}: ${(err as Error).message}`, 'write', true);
    }
    const mode = snap.existed && !file.forceMode && snap.mode !== undefined ? snap.mode : file.mode;
    plans.push({ file, snap, mode });
  }
  const runRemote = async (
    argv: readonly string[],
    withSignal: AbortSignal | undefined,
  ): Promise<string | undefined> => {
    try {
      const r = await exec(client, argv, DEFAULT_COMMAND_TIMEOUT_MS, withSignal);
      return r.code === 0 && !r.timedOut ? undefined : describeExec(argv, r);
    } catch (err) {
      return `remote \`${argv.join(' ')}\` could not be started: ${(err as Error).message}`;
    }
  };
  const steps = { validate, reload };
  const planned = plans.map((p) => ({
    ...p,
    path: p.snap.path,
    unchanged:
      p.snap.existed &&
      p.snap.bytes !== undefined &&
      sha256(p.snap.bytes) === sha256(p.file.bytes) &&
      p.snap.mode === p.mode,
  }));
  return runFileTransaction(
    planned,
    {
      async write(p) {
        await sftp.writeAtomic(p.snap.path, p.file.bytes, p.mode, log, p.snap.uid, p.snap.gid);
        return `wrote ${where}${p.snap.path} (${p.file.bytes.length} bytes, mode ${octal(p.mode)})`;
      },
      async restore(p) {
        if (p.snap.existed && p.snap.bytes && p.snap.mode !== undefined) {
          await sftp.writeAtomic(p.snap.path, p.snap.bytes, p.snap.mode, log, p.snap.uid, p.snap.gid);
          return `restored ${p.snap.path}`;
        }
        await sftp.unlink(p.snap.path).catch((err: { code?: number }) => {
          if (err.code !== SFTP_NO_SUCH_FILE) throw err as Error;
        });
        return `removed ${p.snap.path} (it did not exist before)`;
      },
      run: (step, stepSignal) => {
        const argv = steps[step];
        return argv ? runRemote(argv, stepSignal) : Promise.resolve(undefined);
      },
      label: (step) => `remote ${steps[step]?.join(' ') ?? ''}`,
    },
    { validate: validate !== undefined, reload: reload !== undefined, log, signal, where },
  );
}
