import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { deleteRedisPrefix } from '../../test/integration/global-teardown';
import { freePort, tail } from './util';
import { HttpsClient } from './https';

/**
 * Black-box harness: the BUILT server (`npx nest build server`) as a child process on a
 * loopback port, with its own fresh database (created by the server itself), data dir and
 * Redis key prefix. Everything started here is tracked and removed by `cleanupAll()`.
 */

export const REPO_ROOT = resolve(__dirname, '..', '..');
/** The built entry point; CERTCTL_E2E_SERVER_MAIN points the suite at another build. */
export const SERVER_MAIN =
  process.env.CERTCTL_E2E_SERVER_MAIN ?? join(REPO_ROOT, 'dist/apps/server/apps/server/src/main.js');
/** Admin connection (any database but ours); loopback only. */
export const PG_ADMIN_URL = process.env.CERTCTL_E2E_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.CERTCTL_E2E_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** An api/all replica's banner, or a worker's (CERTCTL_ROLE=worker: no API, no admin key). */
const BANNER = /certctl (?:server|worker) listening on /;

export type EnvOverrides = Record<string, string | undefined>;

export interface StartOptions {
  /** Extra variables; `undefined` removes one the harness would set. */
  env?: EnvOverrides;
  /** Reuse a database (restart, replicas); default: a fresh `certctl_e2e_<random>`. */
  dbName?: string;
  /** Reuse a data dir (restart); default: `<fresh temp dir>/data`, not created beforehand. */
  dataDir?: string;
  /** Redis key prefix; default: the database name. */
  redisPrefix?: string;
  port?: number;
  /** Bound on the wait for the listening banner. */
  bootTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** The URL printed in the banner, e.g. https://127.0.0.1:43127 */
  readonly baseUrl: string;
  readonly dbName: string;
  readonly databaseUrl: string;
  readonly redisPrefix: string;
  readonly dataDir: string;
  /** The environment the server runs with (restart it with the same settings). */
  readonly env: NodeJS.ProcessEnv;
  /** `TLS CA file:` from the banner (absent when the operator configured TLS files). */
  readonly caFile?: string;
  /** The initial admin key printed with the banner on a fresh database, if any. */
  readonly adminKey?: string;
  /** The stdout write holding the banner. */
  readonly banner: string;
  readonly exited: Promise<ExitInfo>;
  stdout(): string;
  stderr(): string;
  /** stdout + stderr, tail-trimmed, for failure messages. */
  output(): string;
  isRunning(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after `killAfterMs`); idempotent. */
  stop(killAfterMs?: number): Promise<ExitInfo>;
}

interface Tracked {
  children: Set<ChildProcess>;
  databases: Set<string>;
  prefixes: Set<string>;
  dirs: Set<string>;
  extra: (() => Promise<void>)[];
}

// Per test file: jest gives each file its own module registry.
const tracked: Tracked = { children: new Set(), databases: new Set(), prefixes: new Set(), dirs: new Set(), extra: [] };

export function randomName(): string {
  return `certctl_e2e_${randomBytes(6).toString('hex')}`;
}

export function databaseUrlFor(dbName: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${dbName}`;
  return u.toString();
}

/** Registers extra cleanup (e.g. a private redis-server) run by `cleanupAll()`. */
export function onCleanup(fn: () => Promise<void>): void {
  tracked.extra.push(fn);
}

/** A temp dir removed by `cleanupAll()`. */
export async function tempDir(label = 'certctl-e2e-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), label));
  tracked.dirs.add(dir);
  return dir;
}

interface Prepared {
  env: NodeJS.ProcessEnv;
  cwd: string;
  port: number;
  dbName: string;
  redisPrefix: string;
  dataDir: string;
}

async function prepare(opts: StartOptions): Promise<Prepared> {
  if (!existsSync(SERVER_MAIN)) {
    throw new Error(`${SERVER_MAIN} is missing: build the server first (npx nest build server)`);
  }
  const work = await tempDir();
  const dbName = opts.dbName ?? randomName();
  const redisPrefix = opts.redisPrefix ?? dbName;
  const dataDir = opts.dataDir ?? join(work, 'data');
  const port = opts.port ?? (await freePort());
  tracked.databases.add(dbName);
  tracked.prefixes.add(redisPrefix);
  tracked.dirs.add(dataDir);

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? work,
    CERTCTL_SERVER_HOST: '127.0.0.1',
    CERTCTL_SERVER_PORT: String(port),
    CERTCTL_DATA_DIR: dataDir,
    CERTCTL_DATABASE_URL: databaseUrlFor(dbName),
    CERTCTL_REDIS_URL: REDIS_URL,
    CERTCTL_REDIS_PREFIX: redisPrefix,
    CERTCTL_LOG_LEVEL: 'warn',
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  // The working directory is a scratch dir, not the repo: the built server must not
  // depend on being started from the source tree.
  return { env, cwd: work, port, dbName, redisPrefix, dataDir };
}

function spawnServer(p: Prepared): ChildProcess {
  const child = spawn(process.execPath, [SERVER_MAIN], {
    cwd: p.cwd,
    env: p.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  tracked.children.add(child);
  child.once('exit', () => tracked.children.delete(child));
  return child;
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

/**
 * The banner block is one `process.stdout.write` (well under PIPE_BUF, so one atomic pipe
 * write): complete at the first blank line not followed by the admin-key section.
 */
function parseBanner(stdout: string): { banner: string; baseUrl: string; caFile?: string; adminKey?: string } | null {
  const start = stdout.search(BANNER);
  if (start < 0) return null;
  const rest = stdout.slice(start);
  const end = /\n\n(?! {2}Initial admin)/.exec(rest);
  if (!end) return null;
  const banner = rest.slice(0, end.index);
  const baseUrl = /^certctl (?:server|worker) listening on (https:\/\/\S+)(?: \(.*\))?$/m.exec(banner)?.[1];
  if (!baseUrl) return null;
  const caFile = /^\s*TLS CA file:\s+(\S+)/m.exec(banner)?.[1];
  const adminKey = /Initial admin API key[^\n]*\n\s+(cc_[A-Za-z0-9_-]+)\s*$/m.exec(banner)?.[1];
  return { banner, baseUrl, caFile, adminKey };
}

/** Starts the built server and resolves once its banner is printed (bounded wait). */
export async function startServer(opts: StartOptions = {}): Promise<ServerProcess> {
  const p = await prepare(opts);
  const child = spawnServer(p);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = exitPromise(child);
  const output = () => `--- stdout ---\n${tail(out)}\n--- stderr ---\n${tail(err)}`;
  const bootTimeoutMs = opts.bootTimeoutMs ?? 30_000;

  const parsed = await new Promise<NonNullable<ReturnType<typeof parseBanner>>>((resolveBanner, reject) => {
    const timer = setTimeout(() => {
      cleanupListeners();
      child.kill('SIGKILL');
      reject(new Error(`server did not print its banner within ${bootTimeoutMs} ms\n${output()}`));
    }, bootTimeoutMs);
    const onData = () => {
      const b = parseBanner(out);
      if (b) {
        cleanupListeners();
        resolveBanner(b);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanupListeners();
      reject(new Error(`server exited before listening (code ${code}, signal ${signal})\n${output()}`));
    };
    const cleanupListeners = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });

  let stopped: Promise<ExitInfo> | undefined;
  const handle: ServerProcess = {
    pid: child.pid!,
    port: p.port,
    baseUrl: parsed.baseUrl,
    dbName: p.dbName,
    databaseUrl: databaseUrlFor(p.dbName),
    redisPrefix: p.redisPrefix,
    dataDir: p.dataDir,
    env: p.env,
    caFile: parsed.caFile,
    adminKey: parsed.adminKey,
    banner: parsed.banner,
    exited,
    stdout: () => out,
    stderr: () => err,
    output,
    isRunning: () => child.exitCode === null && child.signalCode === null,
    stop(killAfterMs = 15_000) {
      stopped ??= stopChild(child, exited, killAfterMs);
      return stopped;
    },
  };
  return handle;
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

export interface ExpectedExit extends ExitInfo {
  stdout: string;
  stderr: string;
  port: number;
  dbName: string;
  dataDir: string;
}

/** Runs the server where boot must fail; resolves with how it ended (bounded). */
export async function runServerExpectingExit(env: EnvOverrides = {}, timeoutMs = 20_000): Promise<ExpectedExit> {
  const p = await prepare({ env });
  const child = spawnServer(p);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = exitPromise(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const res = await exited;
  clearTimeout(timer);
  // 'exit' may precede the last pipe data: wait for the streams to close.
  await Promise.all([streamClosed(child.stdout!), streamClosed(child.stderr!)]);
  return { ...res, stdout, stderr, port: p.port, dbName: p.dbName, dataDir: p.dataDir };
}

function streamClosed(s: NodeJS.ReadableStream & { closed?: boolean }): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((r) => s.once('close', () => r()));
}

/** One admin connection to Postgres for the duration of `fn`. */
export async function withPgAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function databaseExists(name: string): Promise<boolean> {
  return withPgAdmin(
    async (c) => ((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0,
  );
}

/** Stops every server started in this file, then drops its databases, Redis keys and dirs. */
export async function cleanupAll(): Promise<void> {
  const problems: string[] = [];
  await Promise.all(
    [...tracked.children].map(async (child) => {
      const exited = exitPromise(child);
      await stopChild(child, exited, 5_000);
    }),
  );
  for (const fn of tracked.extra.splice(0)) {
    await fn().catch((e: Error) => problems.push(e.message));
  }
  if (tracked.databases.size) {
    await withPgAdmin(async (c) => {
      for (const name of tracked.databases) {
        await c.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
      }
    }).catch((e: Error) => problems.push(`drop databases: ${e.message}`));
    tracked.databases.clear();
  }
  for (const prefix of tracked.prefixes) {
    await deleteRedisPrefix(REDIS_URL, prefix).catch((e: Error) => problems.push(`redis ${prefix}: ${e.message}`));
  }
  tracked.prefixes.clear();
  for (const dir of tracked.dirs) await rm(dir, { recursive: true, force: true });
  tracked.dirs.clear();
  if (problems.length) throw new Error(`e2e cleanup: ${problems.join('; ')}`);
}

/**
 * A server that issues for real: its own encryption key, CERTCTL_PUBLIC_URL on its own
 * loopback listener (so CRL/OCSP/caIssuers URLs in what it signs point at it), the admin
 * key from its banner and an HTTPS client trusting its TLS CA.
 */
export async function startIssuingServer(
  label: string,
  env: Record<string, string | undefined> = {},
): Promise<{ srv: ServerProcess; api: HttpsClient; admin: string }> {
  const port = await freePort();
  const srv = await startServer({
    port,
    env: {
      CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-${label}-key-${randomBytes(16).toString('hex')}`,
      CERTCTL_PUBLIC_URL: `https://127.0.0.1:${port}`,
      ...env,
    },
  });
  if (!srv.caFile || !srv.adminKey) throw new Error(`no TLS CA file or admin key in the banner\n${srv.output()}`);
  return { srv, api: new HttpsClient(srv.port, srv.caFile), admin: srv.adminKey };
}
