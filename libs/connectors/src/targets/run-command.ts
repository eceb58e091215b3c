import { spawn } from 'node:child_process';

/** Default limit for a validate or reload command. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
/** Output kept per stream (the head; the rest is counted, not stored). */
export const MAX_COMMAND_OUTPUT = 16 * 1024;
/**
 * After the process exits, how long to wait for its pipes to close. A reload command that
 * starts a daemon (`apachectl start`, `haproxy -D`) can leave a child holding them open.
 */
const DRAIN_AFTER_EXIT_MS = 250;

export interface CommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  maxOutput?: number;
}

export interface CommandResult {
  argv: readonly string[];
  /** Exit code, or null when the process was killed or did not start. */
  code: number | null;
  /** The signal that ended it (after a timeout: SIGKILL). */
  killedBy: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started (ENOENT, EACCES). */
  spawnError?: string;
  stdout: string;
  stderr: string;
}

export function commandSucceeded(r: CommandResult): boolean {
  return r.code === 0 && !r.timedOut && !r.aborted && r.spawnError === undefined;
}

/** One line naming the command and why it failed, with its output (bounded). */
export function describeCommandFailure(r: CommandResult): string {
  const cmd = r.argv.join(' ');
  let why: string;
  if (r.spawnError !== undefined) why = `could not be started: ${r.spawnError}`;
  else if (r.aborted) why = 'was aborted';
  else if (r.timedOut) why = 'timed out';
  else if (r.killedBy) why = `was killed by ${r.killedBy}`;
  else why = `exited with code ${r.code}`;
  const out = [r.stderr.trim(), r.stdout.trim()].filter((s) => s !== '').join('\n');
  return out === '' ? `\`${cmd}\` ${why}` : `\`${cmd}\` ${why}: ${out}`;
}

class BoundedBuffer {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.parts.push(part);
      this.kept += part.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
  }

  toString(): string {
    const text = Buffer.concat(this.parts).toString('utf8');
    return this.dropped > 0 ? `${text}\n[... ${this.dropped} more bytes]` : text;
  }
}

/**
 * Runs an argv without a shell (metacharacters are plain arguments), with a timeout, an
 * abort signal and bounded output. Never throws: the result says what happened.
 */
export function runCommand(argv: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const limit = opts.maxOutput ?? MAX_COMMAND_OUTPUT;
  const stdout = new BoundedBuffer(limit);
  const stderr = new BoundedBuffer(limit);
  const base = { argv, timedOut: false, aborted: false };
  if (argv.length === 0) {
    return Promise.resolve({ ...base, code: null, killedBy: null, spawnError: 'empty argv', stdout: '', stderr: '' });
  }
  if (opts.signal?.aborted) {
    return Promise.resolve({ ...base, aborted: true, code: null, killedBy: null, stdout: '', stderr: '' });
  }

  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (spawnError?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({
        argv,
        code: exit?.code ?? null,
        killedBy: exit?.signal ?? null,
        timedOut,
        aborted,
        spawnError,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
      });
    };

    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a spawn means a kill failed; the exit event still comes.
      if (child.pid === undefined) finish(err.code ? `${err.code} (${argv[0]})` : err.message);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      drainTimer = setTimeout(() => finish(), DRAIN_AFTER_EXIT_MS);
    });
    child.on('close', () => {
      if (exit) finish();
    });
  });
}
