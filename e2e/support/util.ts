import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { inspect } from 'node:util';

/** A free TCP port on loopback (the kernel picks it; released before the caller binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (v: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Calls `fn` until `done(value)` holds or the deadline passes; errors thrown by `fn` count
 * as "not yet". On timeout it throws, quoting the last value or error.
 */
export async function pollUntil<T>(
  what: string,
  fn: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 15_000, intervalMs = 200 }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await fn();
      if (done(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${inspect(last, { depth: 5 })}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a third-party program (curl, openssl, ...) with a minimal environment (PATH only,
 * so no proxy or CA-bundle variables leak in) and a bounded run time.
 */
export async function runCommand(
  cmd: string,
  args: string[],
  {
    input = '',
    timeoutMs = 20_000,
    cwd,
    env = {},
  }: {
    input?: string;
    timeoutMs?: number;
    cwd?: string;
    /** Variables the program needs beyond PATH (e.g. SSL_CERT_FILE). */
    env?: Record<string, string>;
  } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the program may exit before reading stdin
    child.stdin.end(input);
  });
}

/** The last `n` characters, for failure messages. */
export function tail(s: string, n = 4_000): string {
  return s.length > n ? `...${s.slice(-n)}` : s;
}
