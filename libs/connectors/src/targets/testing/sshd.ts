import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './target-fixtures';

/*
 * A real OpenSSH server (Debian's /usr/sbin/sshd) on a free loopback port, with its host key,
 * authorized_keys and pid file in a temporary directory. It logs in as the user running the
 * tests (root in the CI container: PermitRootLogin prohibit-password, i.e. keys only).
 * Used by specs only.
 */

export interface TestSshd {
  dir: string;
  port: number;
  username: string;
  /** OpenSSH private key (PEM) the server accepts. */
  clientKey: string;
  /** The host key's fingerprint as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  stop(): Promise<void>;
}

function keygen(path: string, type: 'ed25519' | 'ecdsa'): void {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'certctl-test', '-f', path], { stdio: 'ignore' });
}

function fingerprint(pubPath: string): string {
  const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubPath], { encoding: 'utf8' });
  const fp = out.split(' ')[1];
  if (!fp?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen output: ${out}`);
  return fp;
}

async function waitForBanner(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('SSH-'));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not answer on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Another host key, for "wrong host key" cases. */
export function otherHostKeyFingerprint(dir: string): string {
  const p = join(dir, 'other_host_key');
  keygen(p, 'ed25519');
  return fingerprint(`${p}.pub`);
}

export async function startTestSshd(): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-sshd-'));
  const at = (f: string) => join(dir, f);
  const port = await freePort();
  keygen(at('host_key'), 'ed25519');
  keygen(at('client_key'), 'ed25519');
  writeFileSync(at('authorized_keys'), readFileSync(at('client_key.pub')), { mode: 0o600 });
  // sshd insists on its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const username = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  writeFileSync(
    at('sshd_config'),
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${at('host_key')}`,
      `PidFile ${at('sshd.pid')}`,
      `AuthorizedKeysFile ${at('authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      `AllowUsers ${username}`,
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', at('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 16_384) stderr += c.toString();
  });
  await waitForBanner(port, child, () => stderr);
  return {
    dir,
    port,
    username,
    clientKey: readFileSync(at('client_key'), 'utf8'),
    hostKeyFingerprint: fingerprint(at('host_key.pub')),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
