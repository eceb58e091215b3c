import { spawn } from 'node:child_process';
import { DomainError, ErrorCode } from '@certctl/domain';

/** Scripts print certificates and CRLs, not logs: more than this is a broken script. */
const MAX_STDOUT_BYTES = 1024 * 1024;
/** The tail of stderr kept for the error message. */
const MAX_STDERR_CHARS = 2000;
/**
 * A fixed PATH and nothing from the server's own environment: it holds the database URL
 * and the configuration encryption key, which an operator script has no business seeing.
 */
const SCRIPT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Exit code a script uses for "try again later" (sysexits EX_TEMPFAIL): retried. */
export const EXIT_TEMPFAIL = 75;

export interface ScriptRun {
  /** Names the script in errors (`sign_script`). */
  role: string;
  path: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  timeoutMs: number;
}

export interface ScriptOutput {
  stdout: Buffer;
  stderr: string;
}

function tail(s: string): string {
  const t = s.trim();
  return t.length > MAX_STDERR_CHARS ? `…${t.slice(-MAX_STDERR_CHARS)}` : t;
}

/**
 * Runs an operator script as an argument vector (never through a shell), in its own process
 * group so a timeout kills the script and whatever it started (openssl, curl...). The error
 * of a failed run names the script and its exit code and carries the end of its stderr.
 */
export function runScript(run: ScriptRun): Promise<ScriptOutput> {
  return new Promise((resolve, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(run.path, run.args, {
        cwd: run.cwd,
        env: { PATH: SCRIPT_PATH, LANG: 'C.UTF-8', ...run.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        shell: false,
      });
    } catch (e) {
      reject(
        new DomainError(ErrorCode.Validation, `${run.role} ${run.path} cannot be started: ${(e as Error).message}`),
      );
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: DomainError | undefined;
    const kill = (why: DomainError) => {
      failure ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(
      () =>
        kill(
          new DomainError(
            ErrorCode.Unavailable,
            `${run.role} ${run.path} did not finish within ${Math.round(run.timeoutMs / 1000)} s and was killed`,
          ),
        ),
      run.timeoutMs,
    );
    child.stdout?.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > MAX_STDOUT_BYTES) {
        kill(new DomainError(ErrorCode.Validation, `${run.role} ${run.path} printed more than 1 MiB on stdout`));
        return;
      }
      out.push(c);
    });
    child.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString('utf8')).slice(-4 * MAX_STDERR_CHARS);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'is not executable' : e.message;
      reject(new DomainError(ErrorCode.Validation, `${run.role} ${run.path} ${why}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      const stderr = tail(err);
      const said = stderr ? `: ${stderr}` : ' (no stderr output)';
      if (code === 0) return resolve({ stdout: Buffer.concat(out), stderr });
      if (signal)
        return reject(new DomainError(ErrorCode.Unavailable, `${run.role} ${run.path} was killed by ${signal}${said}`));
      if (code === EXIT_TEMPFAIL) {
        return reject(
          new DomainError(ErrorCode.Unavailable, `${run.role} ${run.path} asked to retry later (exit ${code})${said}`),
        );
      }
      const hint = code === 126 ? ' (not executable)' : code === 127 ? ' (a command it runs was not found)' : '';
      reject(
        new DomainError(ErrorCode.Validation, `${run.role} ${run.path} failed with exit code ${code}${hint}${said}`),
      );
    });
  });
}
