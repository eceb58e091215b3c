import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onCleanup } from './server-process';
import { runCommand } from './util';

/**
 * A private nginx (the Debian binary) on a loopback port: configuration, pid file, logs and
 * temp paths all live in `dir`; it serves TLS from the certificate and key files given.
 * Every instance started here is stopped by `cleanupAll()` (or `stop()`), even when a test fails.
 */

export interface NginxInstance {
  readonly dir: string;
  readonly port: number;
  readonly conf: string;
  readonly errorLog: string;
  /** argv for this instance: `nginx -c <conf> -p <dir> -e <log> ...args` */
  argv(...args: string[]): string[];
  stop(): Promise<void>;
}

export async function startNginx(opts: {
  dir: string;
  port: number;
  certPath: string;
  keyPath: string;
}): Promise<NginxInstance> {
  const { dir, port } = opts;
  const at = (f: string) => join(dir, f);
  const conf = at('nginx.conf');
  const errorLog = at('error.log');
  const pidFile = at('nginx.pid');
  await writeFile(
    conf,
    `worker_processes 1;
pid ${pidFile};
error_log ${errorLog};
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${opts.certPath};
    ssl_certificate_key ${opts.keyPath};
    return 200 "ok";
  }
}
`,
  );
  const argv = (...args: string[]) => ['nginx', '-c', conf, '-p', dir, '-e', errorLog, ...args];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopByPidFile(pidFile);
  };
  onCleanup(stop);
  const [cmd, ...args] = argv();
  const r = await runCommand(cmd, args, { timeoutMs: 20_000 });
  if (r.code !== 0) {
    const log = await readFile(errorLog, 'utf8').catch(() => '');
    throw new Error(`nginx did not start (${r.code}): ${r.stderr}${r.stdout}\n${errorLog}:\n${log.slice(-2_000)}`);
  }
  return { dir, port, conf, errorLog, argv, stop };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM the master named in the pid file (fast shutdown), SIGKILL after 10 s. */
async function stopByPidFile(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
