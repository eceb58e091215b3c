import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Test helpers: drive the real openssl CLI in a private temp directory. Not for production code. */
export class OpensslDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'certctl-pki-issue-'));

  /** Removes the directory (call from afterAll). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  write(name: string, content: string | Uint8Array): string {
    writeFileSync(this.path(name), content);
    return this.path(name);
  }

  read(name: string): Buffer {
    return readFileSync(this.path(name));
  }

  /** Runs openssl in the directory; returns status, stdout and stderr (never throws on a non-zero exit). */
  run(args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs openssl and returns stdout; throws with stderr when it fails. */
  ok(args: string[]): string {
    const r = this.run(args);
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A CSR made by `openssl req` with a fresh key; returns the CSR PEM (key in `<name>.key`). */
  csr(name: string, newkey: string[], subj: string, addext: string[] = [], extra: string[] = []): string {
    this.ok([
      'req',
      '-new',
      ...newkey,
      '-nodes',
      '-keyout',
      `${name}.key`,
      ...(subj === '' ? [] : ['-subj', subj]), // '' : take the subject (and attributes) from -config
      ...addext.flatMap((e) => ['-addext', e]),
      ...extra,
      '-out',
      `${name}.csr`,
    ]);
    return this.read(`${name}.csr`).toString();
  }
}

export const EC_P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
export const EC_P384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];
export const RSA_2048 = ['-newkey', 'rsa:2048'];
