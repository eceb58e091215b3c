import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployMaterial } from './target-port';

/**
 * Test helpers for the Caddy, Envoy and Java keystore connector specs: real certificates
 * made by the openssl CLI (root -> intermediate -> leaves) in a private temp directory.
 * Not for production code.
 */
export class OpensslPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'certctl-target-pki-'));
  private serial = 0;

  constructor() {
    this.run(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'root.key',
        '-out',
        'root.pem',
        '-days',
        '30',
      ].concat(['-subj', '/CN=Target Test Root', '-addext', 'basicConstraints=critical,CA:TRUE']),
    );
    this.run(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'int.key'].concat([
        '-subj',
        '/CN=Target Test Intermediate',
        '-out',
        'int.csr',
      ]),
    );
    writeFileSync(
      join(this.dir, 'int.ext'),
      'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n',
    );
    this.run(
      ['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', '1000'].concat([
        '-days',
        '20',
        '-extfile',
        'int.ext',
        '-out',
        'int.pem',
      ]),
    );
  }

  get rootPem(): string {
    return this.read('root.pem');
  }

  /** A fresh EC P-256 leaf for `dnsName`, signed by the intermediate; chain = the intermediate. */
  leaf(dnsName: string): DeployMaterial {
    const n = `leaf${++this.serial}`;
    this.run(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`].concat([
        '-subj',
        `/CN=${dnsName}`,
        '-out',
        `${n}.csr`,
      ]),
    );
    writeFileSync(
      join(this.dir, `${n}.ext`),
      `basicConstraints=CA:FALSE\nsubjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\n`,
    );
    this.run(
      [
        'x509',
        '-req',
        '-in',
        `${n}.csr`,
        '-CA',
        'int.pem',
        '-CAkey',
        'int.key',
        '-set_serial',
        String(2000 + this.serial),
      ].concat(['-days', '10', '-extfile', `${n}.ext`, '-out', `${n}.pem`]),
    );
    return { certPem: this.read(`${n}.pem`), chainPem: this.read('int.pem'), keyPem: this.read(`${n}.key`) };
  }

  read(name: string): string {
    return readFileSync(join(this.dir, name), 'utf8');
  }

  run(args: string[]): string {
    const r = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SHA-256 over the DER of the first certificate in `pem`, lowercase hex. */
export function fingerprintOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/**
 * `n` distinct loopback TCP ports nothing listens on right now. They are held open together
 * until all are known: closing one before asking for the next could return the same port.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => {
              const addr = s.address();
              if (addr && typeof addr === 'object') resolve(addr.port);
              else reject(new Error('no port'));
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => (s.listening ? s.close(r) : r(undefined)))));
  }
}

/** A loopback TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** Polls `probe` until it returns without throwing (or the time is up, then rethrows). */
export async function eventually<T>(probe: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
