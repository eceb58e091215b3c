/**
 * What the HTTP benchmarks share: certctl run as a plain Node process (TypeScript compiled on
 * load by swc: jest's sandbox slows asn1js down), one load generator script that drives
 * certctl and the reference server alike, and the result table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '../../apps/server/src/config/config.schema';
import { ensureDatabaseExists, runMigrationsLocked } from '../../apps/server/src/database/database-bootstrap';
import { createServerApp } from '../../apps/server/src/server-app';
import { OpensslDir } from '../../libs/pki/src/keys/testing';
import { deleteRedisPrefix } from '../../test/integration/global-teardown';

export const root = join(__dirname, '..', '..');

/** swc require hook: runs the TypeScript sources in plain Node (as the server runs, built). */
export const SWC_HOOK = `
const Module = require('module');
const fs = require('fs');
const swc = require(${JSON.stringify(join(root, 'node_modules/@swc/core'))});
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const m = /^@certctl\\/(domain|pki|connectors|approval)$/.exec(request);
  return resolve.call(this, m ? ${JSON.stringify(root)} + '/libs/' + m[1] + '/src/index.ts' : request, ...rest);
};
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022', keepClassNames: true },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};`;

/**
 * The load generator (plain Node, no dependencies). `node loadgen.js <url> <concurrency>
 * <seconds|count:N> <bodies.json> [options.json]`: workers with their own keep-alive
 * connections POST the bodies; `seconds` cycles over them for that long after a 1 s warm-up,
 * `count:N` sends the first N once each (for requests that must not repeat, such as SCEP
 * transactions) after sending the next `warmup` ones. A response counts when its status is
 * `okStatus` and, with `okHex`, its body contains those bytes. Prints one JSON line.
 */
export const LOADGEN = `
const http = require('http');
const https = require('https');
const fs = require('fs');
const [url, concurrency, amount, bodiesFile, optionsFile] = process.argv.slice(2);
const bodies = JSON.parse(fs.readFileSync(bodiesFile, 'utf8')).map((b) => Buffer.from(b, 'base64'));
const o = optionsFile ? JSON.parse(fs.readFileSync(optionsFile, 'utf8')) : {};
const okHex = o.okHex ? Buffer.from(o.okHex, 'hex') : null;
const u = new URL(url);
const lib = u.protocol === 'https:' ? https : http;
const agent = new lib.Agent({ keepAlive: true, maxSockets: Number(concurrency), ...(o.ca ? { ca: fs.readFileSync(o.ca) } : {}) });
function post(body) {
  return new Promise((resolve) => {
    const req = lib.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent,
      headers: { ...(o.headers || {}), 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve(res.statusCode === (o.okStatus || 200) && (!okHex || b.includes(okHex)));
      });
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}
async function run(next, record) {
  const worker = async () => {
    for (let body = next(); body; body = next()) {
      const t0 = performance.now();
      const ok = await post(body);
      record(ok, performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Number(concurrency) }, worker));
}
function timed(ms) {
  let i = 0;
  const deadline = performance.now() + ms;
  return () => (performance.now() < deadline ? bodies[i++ % bodies.length] : undefined);
}
function once(from, to) {
  let i = from;
  return () => (i < to ? bodies[i++] : undefined);
}
(async () => {
  const count = amount.startsWith('count:') ? Number(amount.slice(6)) : 0;
  const warmup = count ? Math.min(o.warmup || 0, bodies.length - count) : 0;
  await run(count ? once(count, count + warmup) : timed(1000), () => {});
  const lat = [];
  let errors = 0;
  const t0 = performance.now();
  await run(count ? once(0, count) : timed(Number(amount) * 1000), (ok, ms) => { if (ok) lat.push(ms); else errors++; });
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const p = (q) => lat.length ? lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)] : NaN;
  process.stdout.write(JSON.stringify({ ok: lat.length, errors, rps: lat.length / elapsed, p50: p(0.5), p99: p(0.99) }) + '\\n');
  agent.destroy();
})();`;

export interface Figures {
  ok: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

export function lastJson<T>(out: string): T {
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as T;
}

/**
 * Starts `file` (a bench file's server branch) in a plain Node process with the swc hook
 * at `hookPath`; resolves with the port it prints as `{"port":N}`.
 */
export function startServerChild(
  file: string,
  hookPath: string,
  env: Record<string, string>,
  started: ChildProcess[],
): Promise<number> {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const server = spawn(process.execPath, ['--no-warnings', ...profile, '-r', hookPath, file], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(server);
  return new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    server.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.stderr.on('data', (c: Buffer) => (err += c.toString()));
    server.on('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
}

/** Runs the load generator (in this network namespace) and reads its figures. */
export function runLoadgen(loadgenPath: string, args: string[]): Promise<Figures> {
  return new Promise<Figures>((resolve, reject) => {
    const p = spawn(process.execPath, [loadgenPath, ...args]);
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('exit', (code) =>
      code === 0 ? resolve(lastJson<Figures>(out)) : reject(new Error(`loadgen ${code}: ${err}`)),
    );
  });
}

/** A Markdown table of the rows, under a title line. */
export function table(title: string, rows: Record<string, string | number>[]): string {
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
  return (
    [
      title,
      line(cols),
      `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`,
      ...rows.map((r) => line(cols.map((c) => String(r[c])))),
    ].join('\n') + '\n'
  );
}

/**
 * A database and Redis prefix of a benchmark's own (CERTCTL_BENCH_PG_URL / _REDIS_URL, else
 * the test ones): `create()` makes and migrates the database, `drop()` removes both, and
 * `serverEnv` points a certctl process at them.
 */
export function benchStore(name: string, encryptionKey: string) {
  const suffix = randomBytes(4).toString('hex');
  const adminUrl =
    process.env.CERTCTL_BENCH_PG_URL ??
    process.env.CERTCTL_TEST_PG_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl =
    process.env.CERTCTL_BENCH_REDIS_URL ?? process.env.CERTCTL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const dbName = `certctl_bench_${name}_${suffix}`;
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const dbUrl = u.toString();
  return {
    suffix,
    dbUrl,
    serverEnv: {
      CERTCTL_DATABASE_URL: dbUrl,
      CERTCTL_REDIS_URL: redisUrl,
      CERTCTL_REDIS_PREFIX: dbName,
      CERTCTL_CONFIG_ENCRYPTION_KEY: encryptionKey,
      CERTCTL_LOG_LEVEL: 'silent',
    },
    async create(): Promise<void> {
      await ensureDatabaseExists(dbUrl);
      await runMigrationsLocked(dbUrl);
    },
    async drop(): Promise<void> {
      const admin = new Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
      await deleteRedisPrefix(redisUrl, dbName);
    },
    /** A Local CA issuer row (its root is made at the first issuance). */
    async insertLocalCaIssuer(id: string): Promise<void> {
      const db = new Client({ connectionString: dbUrl });
      await db.connect();
      await db.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, $1, 'LocalCA', '{}')`, [id]);
      await db.end();
    },
  };
}

export type BenchStore = ReturnType<typeof benchStore>;

/**
 * A benchmark file's two parts. Run by startServerChild (`serverFlag` set to 1), the file
 * serves the app; under jest it declares the suite `title`: `body` gets a scratch directory
 * and the list to put server children in, the store is created before, and afterwards the
 * children are stopped, the store dropped and the directory removed.
 */
export function benchSuite(
  title: string,
  o: { serverFlag: string; store: BenchStore },
  body: (t: OpensslDir, servers: ChildProcess[]) => void,
): void {
  if (process.env[o.serverFlag] === '1') {
    serveBenchChild();
    return;
  }
  describe(title, () => {
    const t = new OpensslDir();
    const servers: ChildProcess[] = [];

    beforeAll(() => o.store.create());
    afterAll(async () => {
      for (const s of servers) s.kill('SIGTERM');
      await o.store.drop();
      t.remove();
    });

    body(t, servers);
  });
}

/**
 * The server side of startServerChild: the real server app from this process's environment
 * on a loopback port (HTTPS when BENCH_TLS holds `{key, cert}`), its port printed, a clean
 * exit on SIGTERM (so --cpu-prof writes its profile).
 */
export function serveBenchChild(): void {
  void (async () => {
    const tls = process.env.BENCH_TLS
      ? (JSON.parse(process.env.BENCH_TLS) as { key: string; cert: string })
      : undefined;
    const app = await createServerApp(loadConfig(process.env), tls, { logger: false, swagger: false });
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
    process.once('SIGTERM', () => process.exit(0));
  })().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
