import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { commandSucceeded, describeCommandFailure, runCommand } from '../run-command';
import type { DeployMaterial } from '../target-port';

/*
 * Test support for the target connectors: real certificates made by openssl, free loopback
 * ports, polling. Used by specs only.
 */

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (the chain) in `dir`: ca.pem + ca.key. */
export function makeCa(dir: string, cn = 'Deploy Test CA'): void {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.pem'),
    '-subj',
    `/CN=${cn}`,
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A leaf signed by the CA in `dir`, for localhost and 127.0.0.1, with its own key. */
export function makeLeaf(dir: string, name: string, cn = 'localhost'): DeployMaterial {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const pem = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${cn}`,
  ]);
  execFileSync('sh', [
    '-c',
    `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=critical,CA:FALSE\\n' > "$1"`,
    'sh',
    ext,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(dir, 'ca.pem'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    pem,
    '-days',
    '7',
    '-extfile',
    ext,
  ]);
  return {
    certPem: readFileSync(pem, 'utf8'),
    chainPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    keyPem: readFileSync(key, 'utf8'),
  };
}

/** A port nobody listens on at the moment (the kernel's choice on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls until the probe returns a value (errors count as "not yet"); fails with the last error. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ends a daemon by the pid in its pid file and waits for it to go. */
export async function stopByPidFile(pidFile: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  await stopPid(pid, signal);
}

export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, signal);
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** Runs a command that starts a daemon; on failure the error carries its output and log tail. */
export async function startDaemon(argv: string[], logFile?: string): Promise<void> {
  const r = await runCommand(argv, { timeoutMs: 30_000 });
  if (commandSucceeded(r)) return;
  let log = '';
  try {
    log = readFileSync(logFile ?? '', 'utf8')
      .split('\n')
      .slice(-20)
      .join('\n');
  } catch {
    // no log written
  }
  throw new Error(`${describeCommandFailure(r)}${log ? `\n${logFile}:\n${log}` : ''}`);
}
