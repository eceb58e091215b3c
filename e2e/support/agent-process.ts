import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup, REPO_ROOT, tempDir, type EnvOverrides, type ExitInfo } from './server-process';
import { pollUntil, tail } from './util';

/**
 * The BUILT agent (`npx nest build agent`) as a child process. Its JSON log lines (pino) are
 * kept and parsed for assertions; every agent started here is stopped by `cleanupAll()`.
 */

export const AGENT_MAIN =
  process.env.CERTCTL_E2E_AGENT_MAIN ?? join(REPO_ROOT, 'dist/apps/agent/apps/agent/src/main.js');

export interface AgentLogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface AgentProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  stdout(): string;
  stderr(): string;
  output(): string;
  /** The JSON log lines so far (non-JSON lines are skipped). */
  logs(): AgentLogLine[];
  /** Resolves with the first log line (from `from` on) that matches; bounded. */
  waitForLog(
    what: string,
    match: (l: AgentLogLine) => boolean,
    opts?: { timeoutMs?: number; from?: number },
  ): Promise<AgentLogLine>;
  isRunning(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after `killAfterMs`); idempotent. */
  stop(killAfterMs?: number): Promise<ExitInfo>;
}

const running = new Set<ChildProcess>();
let cleanupRegistered = false;

/** Starts the built agent with exactly `env` (plus PATH/HOME); the caller sets CERTCTL_* variables. */
export async function startAgent(env: EnvOverrides): Promise<AgentProcess> {
  if (!existsSync(AGENT_MAIN)) {
    throw new Error(`${AGENT_MAIN} is missing: build the agent first (npx nest build agent)`);
  }
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    onCleanup(async () => {
      await Promise.all([...running].map((c) => stopChild(c, exitPromise(c), 5_000)));
    });
  }
  const cwd = await tempDir('certctl-e2e-agent-cwd-');
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? cwd };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const child = spawn(process.execPath, [AGENT_MAIN], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = exitPromise(child);
  const logs = (): AgentLogLine[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as AgentLogLine];
        } catch {
          return [];
        }
      });
  const output = () => `--- agent stdout ---\n${tail(out, 8_000)}\n--- agent stderr ---\n${tail(err)}`;
  let stopped: Promise<ExitInfo> | undefined;
  return {
    pid: child.pid!,
    exited,
    stdout: () => out,
    stderr: () => err,
    output,
    logs,
    async waitForLog(what, match, { timeoutMs = 30_000, from = 0 } = {}) {
      const found = await pollUntil(
        `agent log: ${what}`,
        async () => logs().slice(from).find(match),
        (l) => l !== undefined,
        { timeoutMs, intervalMs: 100 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${output()}`);
      });
      return found!;
    },
    isRunning: () => child.exitCode === null && child.signalCode === null,
    stop(killAfterMs = 15_000) {
      stopped ??= stopChild(child, exited, killAfterMs);
      return stopped;
    },
  };
}

function exitPromise(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function stopChild(child: ChildProcess, exited: Promise<ExitInfo>, killAfterMs: number): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
