import { createHash, randomBytes } from 'node:crypto';
import { lstat, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { runFileTransaction } from './file-transaction';
import { DeployError, type DeployResult } from './target-port';
import { commandSucceeded, describeCommandFailure, runCommand } from './run-command';

/** Mode of certificate and chain files created by a deployment. */
export const CERT_FILE_MODE = 0o644;
/** Mode of key files (and files holding a key) created by a deployment. */
export const KEY_FILE_MODE = 0o600;

/** One file a deployment writes. */
export interface DeployFile {
  path: string;
  bytes: string | Uint8Array;
  /** Mode for a file that does not exist yet; an existing file keeps its own mode unless `forceMode`. */
  mode: number;
  /** Apply `mode` to an existing file too (an explicitly configured key_file_mode). */
  forceMode?: boolean;
  /** User name or numeric id; applied to new and existing files. Existing files otherwise keep their owner. */
  owner?: string;
  group?: string;
}

/**
 * A validate or reload step: an argv run without a shell, or an in-process action (e.g. the
 * HAProxy runtime API). A reload step runs a second time after a rollback, so it must read
 * the files from disk rather than close over the new material.
 */
export type DeployStep = readonly string[] | { name: string; run: (signal?: AbortSignal) => Promise<void> };

export interface DeployFilesRequest {
  files: readonly DeployFile[];
  validate?: DeployStep;
  reload?: DeployStep;
  /** Per command; default 60 s. */
  timeoutMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

interface Snapshot {
  /** The path written: an existing symlink is followed so the link stays in place. */
  path: string;
  existed: boolean;
  bytes?: Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const toBuffer = (b: string | Uint8Array) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b));
const octal = (m: number) => `0${(m & 0o7777).toString(8)}`;

/** Numeric ids pass through; names are looked up with getent (covers NSS sources such as LDAP). */
async function resolveId(db: 'passwd' | 'group', name: string, signal?: AbortSignal): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const r = await runCommand(['getent', db, name], { timeoutMs: 10_000, signal });
  if (r.spawnError !== undefined || r.timedOut) {
    throw new DeployError(`cannot look up ${name}: ${describeCommandFailure(r)}`, 'write', true);
  }
  const id = commandSucceeded(r) ? Number(r.stdout.split(':')[2]) : NaN;
  if (!Number.isInteger(id)) {
    throw new DeployError(`${db === 'passwd' ? 'user' : 'group'} ${name} does not exist on this host`, 'write', true);
  }
  return id;
}

async function snapshot(path: string): Promise<Snapshot> {
  let real = path;
  try {
    if ((await lstat(path)).isSymbolicLink()) real = await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path, existed: false };
    throw err;
  }
  const st = await stat(real);
  if (!st.isFile()) throw new Error(`${path} exists and is not a regular file`);
  return { path: real, existed: true, bytes: await readFile(real), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces a file atomically: a temporary file in the same directory (created 0600, so a key
 * is never readable by others), ownership and mode set, fsync, rename over the target, fsync
 * of the directory so the rename survives a crash.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  mode: number,
  uid?: number,
  gid?: number,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.certctl-${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await fh.writeFile(bytes);
      const st = await fh.stat();
      const wantUid = uid ?? st.uid;
      const wantGid = gid ?? st.gid;
      if (wantUid !== st.uid || wantGid !== st.gid) await fh.chown(wantUid, wantGid);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    await fsyncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

function stepName(step: DeployStep): string {
  return 'run' in step ? step.name : step.join(' ');
}

/** Runs a step; returns an error message, or undefined on success. */
async function runStep(
  step: DeployStep,
  timeoutMs: number | undefined,
  signal?: AbortSignal,
): Promise<string | undefined> {
  if ('run' in step) {
    if (signal?.aborted) return `${step.name} was aborted`;
    try {
      await step.run(signal);
      return undefined;
    } catch (err) {
      return `${step.name} failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const r = await runCommand(step, { timeoutMs, signal });
  return commandSucceeded(r) ? undefined : describeCommandFailure(r);
}

const pathLocks = new Map<string, Promise<void>>();

/** Serialises deployments touching the same files within this process (two targets sharing a file). */
async function withPathLocks<T>(paths: readonly string[], fn: () => Promise<T>): Promise<T> {
  const releases: (() => void)[] = [];
  try {
    for (const p of [...new Set(paths)].sort()) {
      const prev = pathLocks.get(p) ?? Promise.resolve();
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const tail = prev.then(() => held);
      pathLocks.set(p, tail);
      releases.push(() => {
        release();
        if (pathLocks.get(p) === tail) pathLocks.delete(p);
      });
      await prev;
    }
    return await fn();
  } finally {
    for (const r of releases.reverse()) r();
  }
}

/**
 * The deployment primitive shared by every file-based target:
 * 1. idempotency: when every file already holds these bytes (SHA-256) with the requested
 *    owner and mode, nothing is written or reloaded (`changed: false`);
 * 2. snapshot of each existing file (bytes, mode, owner);
 * 3. atomic write of each file, keeping an existing file's owner and mode;
 * 4. validate: on failure every file is restored (new files deleted);
 * 5. reload: on failure the files are restored and the reload is run once more so the
 *    service goes back to the old configuration.
 * Failures throw DeployError with the step and whether the files were restored.
 */
export async function deployFiles(req: DeployFilesRequest): Promise<DeployResult> {
  const paths = req.files.map((f) => f.path);
  if (new Set(paths).size !== paths.length)
    throw new DeployError('two files of one deployment share a path', 'write', true);
  return withPathLocks(paths, () => deployLocked(req));
}

async function deployLocked(req: DeployFilesRequest): Promise<DeployResult> {
  const log = req.log ?? (() => undefined);
  const { signal, timeoutMs } = req;

  interface Plan {
    file: DeployFile;
    bytes: Buffer;
    snap: Snapshot;
    uid?: number;
    gid?: number;
    mode: number;
  }
  const plans: Plan[] = [];
  for (const file of req.files) {
    let snap: Snapshot;
    try {
      snap = await snapshot(file.path);
    } catch (err) {
      throw new DeployError(`cannot read ${file.path}: ${(err as Error).message}`, 'write', true);
    }
    const uid = file.owner !== undefined ? await resolveId('passwd', file.owner, signal) : snap.uid;
    const gid = file.group !== undefined ? await resolveId('group', file.group, signal) : snap.gid;
    const mode = snap.existed && !file.forceMode && snap.mode !== undefined ? snap.mode : file.mode;
    plans.push({ file, bytes: toBuffer(file.bytes), snap, uid, gid, mode });
  }

  const changed = (p: Plan) =>
    !(
      p.snap.existed &&
      p.snap.bytes !== undefined &&
      sha256(p.snap.bytes) === sha256(p.bytes) &&
      p.snap.mode === p.mode &&
      (p.uid === undefined || p.snap.uid === p.uid) &&
      (p.gid === undefined || p.snap.gid === p.gid)
    );
  const planned = plans.map((p) => ({ ...p, path: p.snap.path, unchanged: !changed(p) }));
  const steps = { validate: req.validate, reload: req.reload };
  return runFileTransaction(
    planned,
    {
      async write(p) {
        await writeFileAtomic(p.snap.path, p.bytes, p.mode, p.uid, p.gid);
        return `wrote ${p.snap.path} (${p.bytes.length} bytes, mode ${octal(p.mode)})`;
      },
      async restore(p) {
        if (p.snap.existed && p.snap.bytes && p.snap.mode !== undefined) {
          await writeFileAtomic(p.snap.path, p.snap.bytes, p.snap.mode, p.snap.uid, p.snap.gid);
          return `restored ${p.snap.path}`;
        }
        const removed = await unlink(p.snap.path).then(
          () => true,
          (err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return false; // the write failed before its rename
            throw err;
          },
        );
        if (!removed) return undefined;
        await fsyncDir(dirname(p.snap.path));
        return `removed ${p.snap.path} (it did not exist before)`;
      },
      run: (step, stepSignal) => {
        const s = steps[step];
        return s ? runStep(s, timeoutMs, stepSignal) : Promise.resolve(undefined);
      },
      label: (step) => {
        const s = steps[step];
        return s ? stepName(s) : '';
      },
    },
    { validate: req.validate !== undefined, reload: req.reload !== undefined, log, signal },
  );
}
