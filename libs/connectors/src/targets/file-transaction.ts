import { DeployError, type DeployResult } from './target-port';

/** One file of a deployment, planned against its snapshot (local disk or a remote host). */
export interface PlannedFile {
  /** Where it goes (for messages and the result). */
  path: string;
  /** It already holds exactly what would be written (bytes, mode, owner): skipped. */
  unchanged: boolean;
}

/** How a transaction touches one kind of storage and runs its commands. */
export interface FileTransactionOps<P extends PlannedFile> {
  /** Writes the planned file atomically; returns the log line. */
  write(p: P): Promise<string>;
  /** Puts the snapshot back (or removes a file that did not exist); returns the log line, if any. */
  restore(p: P): Promise<string | undefined>;
  /** Runs validate or reload; returns an error message, or undefined on success. */
  run(step: 'validate' | 'reload', signal: AbortSignal | undefined): Promise<string | undefined>;
  /** For logs: `validated with <label>`. */
  label(step: 'validate' | 'reload'): string;
}

export interface FileTransactionOptions {
  validate: boolean;
  reload: boolean;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** The remote host (`user@host:port`) for messages; absent for local files. */
  where?: string;
}

/**
 * The deploy transaction every file-based target shares, wherever the files live: nothing
 * to do when every file is unchanged; otherwise write the changed files one by one, then
 * validate, then reload, and on any failure restore every written file (newest first), run
 * the reload again after a failed reload so the service is back on the restored files, and
 * throw a DeployError saying whether the rollback was complete.
 */
export async function runFileTransaction<P extends PlannedFile>(
  plans: readonly P[],
  ops: FileTransactionOps<P>,
  o: FileTransactionOptions,
): Promise<DeployResult> {
  const on = o.where ? ` on ${o.where}` : '';
  if (plans.every((p) => p.unchanged)) {
    const message = o.where
      ? `all ${plans.length} file(s)${on} already hold these bytes; nothing written, nothing run`
      : `all ${plans.length} file(s) already hold these bytes; nothing written, nothing reloaded`;
    o.log(message);
    return { changed: false, written: [], validated: false, reloaded: false, message };
  }

  const written: P[] = [];
  const fail = async (step: 'write' | 'validate' | 'reload', why: string): Promise<never> => {
    const problems: string[] = [];
    for (const p of [...written].reverse()) {
      try {
        const line = await ops.restore(p);
        if (line) o.log(line);
      } catch (err) {
        problems.push(`${p.path}: ${(err as Error).message}`);
      }
    }
    const restored = problems.length === 0;
    let message = `${step} failed${on}: ${why}; `;
    message += restored
      ? `restored ${written.length} file(s)`
      : `ROLLBACK INCOMPLETE, could not restore ${problems.join('; ')}`;
    if (step === 'reload') {
      // Bring the service back to the restored files; no abort signal: this must run.
      const again = await ops.run('reload', undefined);
      message +=
        again === undefined ? '; reloaded the previous files' : `; reloading the previous files failed too: ${again}`;
    }
    o.log(message);
    throw new DeployError(message, step, restored);
  };

  for (const p of plans) {
    if (p.unchanged) continue;
    if (o.signal?.aborted) await fail('write', 'deployment aborted');
    // Counted before the write: a failure after the rename (the directory fsync) still restores it.
    written.push(p);
    try {
      o.log(await ops.write(p));
    } catch (err) {
      await fail('write', `${p.path}: ${(err as Error).message}`);
    }
  }

  const done = { validate: false, reload: false };
  for (const step of ['validate', 'reload'] as const) {
    if (!o[step]) continue;
    const why = await ops.run(step, o.signal);
    if (why !== undefined) await fail(step, why);
    done[step] = true;
    o.log(`${step === 'validate' ? 'validated' : 'reloaded'} with ${ops.label(step)}`);
  }

  const message =
    `wrote ${written.length} file(s)${on}` + (done.validate ? ', validated' : '') + (done.reload ? ', reloaded' : '');
  return {
    changed: true,
    written: written.map((p) => (o.where ? `${o.where}${p.path}` : p.path)),
    validated: done.validate,
    reloaded: done.reload,
    message,
  };
}
