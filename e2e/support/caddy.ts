import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onCleanup } from './server-process';
import { tail } from './util';

/**
 * A private Caddy (the Debian binary) whose automatic HTTPS gets its certificates from an
 * ACME directory: loopback listeners only (`default_bind 127.0.0.1`), no admin endpoint,
 * storage, HOME and XDG dirs all inside `dir`, so it never touches the real user's dirs.
 * It runs in its own process group, stopped by `stop()` or `cleanupAll()`.
 */

export interface CaddyOptions {
  dir: string;
  httpPort: number;
  httpsPort: number;
  /** The ACME directory URL (`acme_ca`). */
  directoryUrl: string;
  /** PEM file of the CA that signed the ACME server's TLS certificate (`acme_ca_root`). */
  acmeCaRoot: string;
  /** Site addresses of the one site block, e.g. `['a.caddy.test', 'b.caddy.test']`. */
  names: string[];
  /** What the site answers. */
  body: string;
  email?: string;
  /** Extra environment, e.g. SSL_CERT_FILE (the roots Go trusts, used for OCSP stapling). */
  env?: Record<string, string>;
}

/** One line of Caddy's JSON log (stderr when it is not a terminal). */
export interface CaddyLogLine {
  level?: string;
  logger?: string;
  msg?: string;
  identifier?: string;
  error?: string;
  [key: string]: unknown;
}

export interface CaddyInstance {
  readonly pid: number;
  readonly caddyfile: string;
  /** Caddy's log lines so far (JSON; anything else as `{ msg: <raw line> }`). */
  logs(): CaddyLogLine[];
  /** The raw log, tail-trimmed, for failure messages. */
  output(): string;
  /**
   * Resolves once every name has a "certificate obtained successfully" line; rejects at
   * the first "could not get certificate" error (CertMagic would only retry it minutes
   * later), when Caddy exits, or after `timeoutMs`.
   */
  waitForCertificates(names: string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The Caddyfile of the instance: what docs/operator/acme.md shows. */
export function caddyfileFor(o: CaddyOptions): string {
  return `{
	admin off
	default_bind 127.0.0.1
	http_port ${o.httpPort}
	https_port ${o.httpsPort}
	email ${o.email ?? 'ops@caddy.test'}
	acme_ca ${o.directoryUrl}
	acme_ca_root ${o.acmeCaRoot}
	storage file_system {
		root ${join(o.dir, 'storage')}
	}
}

${o.names.join(', ')} {
	respond "${o.body}"
}
`;
}

export async function startCaddy(o: CaddyOptions): Promise<CaddyInstance> {
  const home = join(o.dir, 'home');
  await mkdir(home, { recursive: true });
  const caddyfile = join(o.dir, 'Caddyfile');
  await writeFile(caddyfile, caddyfileFor(o));
  const child = spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
    cwd: o.dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CONFIG_HOME: join(home, 'config'),
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so stop() reaches anything it forks.
    detached: true,
  });
  if (child.pid === undefined) {
    await new Promise((r) => child.once('error', r));
    throw new Error('caddy did not start (is /usr/bin/caddy installed?)');
  }
  const pid = child.pid;
  let raw = '';
  let partial = '';
  const lines: CaddyLogLine[] = [];
  const listeners = new Set<() => void>();
  const onData = (d: string) => {
    raw += d;
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      try {
        lines.push(JSON.parse(line) as CaddyLogLine);
      } catch {
        lines.push({ msg: line });
      }
    }
    for (const l of listeners) l();
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitInfo = `caddy exited (code ${code}, signal ${signal})`;
      for (const l of listeners) l();
      resolve();
    }),
  );
  const output = () => tail(raw, 6_000);

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      const signal = (s: NodeJS.Signals) => {
        try {
          process.kill(-pid, s);
        } catch {
          // the group is gone already
        }
      };
      if (exitInfo) return;
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopped;
  };
  onCleanup(stop);

  const waitForCertificates = (names: string[], timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        const obtained = new Set(
          lines.filter((l) => l.msg === 'certificate obtained successfully').map((l) => l.identifier),
        );
        const failed = lines.find((l) => l.msg === 'could not get certificate from issuer' || l.level === 'error');
        let problem: string | undefined;
        if (names.every((n) => obtained.has(n))) {
          finish();
          resolve();
          return;
        }
        if (failed) problem = `caddy failed: ${JSON.stringify(failed)}`;
        else if (exitInfo) problem = exitInfo;
        if (problem) {
          finish();
          reject(new Error(`${problem}\n--- caddy log ---\n${output()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`caddy obtained no certificate for ${names.join(', ')} within ${timeoutMs} ms\n${output()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  return { pid, caddyfile, logs: () => lines, output, waitForCertificates, stop };
}
