import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { OpensslDir } from '../../../../../pki/src/keys/testing';

/** Test helpers: a real Pebble ACME CA (Debian `pebble`) on loopback ports. Not for production code. */

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** GET over HTTPS trusting `ca`; resolves status and body (never throws on HTTP errors). */
export function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

export interface PebbleOptions {
  /** PEBBLE_VA_ALWAYS_VALID: every authorization is valid without a validation. */
  alwaysValid: boolean;
  /** Port Pebble's VA connects to for http-01 (the built-in responder's port). */
  httpPort?: number;
  /** externalAccountMACKeys: EAB becomes required. */
  eabKeys?: Record<string, string>;
  /** Run pebble-challtestsrv as Pebble's DNS server (every name -> 127.0.0.1). */
  challtestsrv?: boolean;
  /** PEBBLE_WFE_NONCEREJECT; default: Pebble's own 5 %. */
  nonceRejectPercent?: number;
  /** PEBBLE_ALTERNATE_ROOTS: extra hierarchies, offered as Link rel="alternate" chains. */
  alternateRoots?: number;
}

/**
 * One Pebble with its own TLS CA (a `localhost` certificate with IP:127.0.0.1), free ports
 * and temp directory. badNonce injection stays at Pebble's default 5 %.
 */
export class Pebble {
  readonly dir = new OpensslDir();
  directoryUrl = '';
  managementUrl = '';
  /** PEM of the TLS CA that signs Pebble's HTTPS certificate (for trust_ca_path). */
  tlsCaPem = '';
  tlsCaPath = '';
  challtestsrvManagement = '';
  private pebble?: ChildProcess;
  private challtest?: ChildProcess;
  private log = '';

  constructor(private readonly opts: PebbleOptions) {}

  async start(): Promise<void> {
    const d = this.dir;
    d.ok(
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
        '-keyout',
        'tls-ca.key',
        '-out',
        'tls-ca.pem',
        '-subj',
        '/CN=Pebble test TLS CA',
      ]),
    );
    d.ok(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
        '-keyout',
        'localhost.key',
        '-out',
        'localhost.csr',
        '-subj',
        '/CN=localhost',
      ]),
    );
    d.write('san.ext', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    d.ok(
      ['x509', '-req', '-in', 'localhost.csr', '-CA', 'tls-ca.pem', '-CAkey', 'tls-ca.key', '-CAcreateserial'].concat([
        '-days',
        '2',
        '-extfile',
        'san.ext',
        '-out',
        'localhost.pem',
      ]),
    );
    this.tlsCaPath = d.path('tls-ca.pem');
    this.tlsCaPem = d.read('tls-ca.pem').toString();

    const env: NodeJS.ProcessEnv = { ...process.env, PEBBLE_VA_NOSLEEP: '1' };
    if (this.opts.alwaysValid) env.PEBBLE_VA_ALWAYS_VALID = '1';
    delete env.PEBBLE_WFE_NONCEREJECT; // Pebble's default: 5 % of nonces rejected (badNonce)
    if (this.opts.alternateRoots) env.PEBBLE_ALTERNATE_ROOTS = String(this.opts.alternateRoots);
    if (this.opts.nonceRejectPercent !== undefined) env.PEBBLE_WFE_NONCEREJECT = String(this.opts.nonceRejectPercent);
    const args: string[] = [];
    if (this.opts.challtestsrv) {
      const dnsPort = await freePort();
      const mgmt = await freePort();
      this.challtest = spawn(
        'pebble-challtestsrv',
        ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', ''].concat([
          '-management',
          `127.0.0.1:${mgmt}`,
          '-defaultIPv4',
          '127.0.0.1',
          '-defaultIPv6',
          '',
        ]),
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      this.capture(this.challtest);
      this.challtestsrvManagement = `http://127.0.0.1:${mgmt}`;
      args.push('-dnsserver', `127.0.0.1:${dnsPort}`);
    }
    const port = await freePort();
    const mgmtPort = await freePort();
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: d.path('localhost.pem'),
        privateKey: d.path('localhost.key'),
        httpPort: this.opts.httpPort ?? 5002,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: !!this.opts.eabKeys,
        ...(this.opts.eabKeys ? { externalAccountMACKeys: this.opts.eabKeys } : {}),
      },
    };
    d.write('pebble.json', JSON.stringify(config));
    this.pebble = spawn('pebble', ['-config', d.path('pebble.json'), ...args], {
      env,
      cwd: d.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.capture(this.pebble);
    this.directoryUrl = `https://127.0.0.1:${port}/dir`;
    this.managementUrl = `https://127.0.0.1:${mgmtPort}`;
    await this.waitReady();
  }

  private capture(p: ChildProcess): void {
    const add = (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-20_000);
    };
    p.stdout?.on('data', add);
    p.stderr?.on('data', add);
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.pebble?.exitCode !== null) throw new Error(`pebble exited: ${this.log}`);
      try {
        const r = await httpsGet(this.directoryUrl, this.tlsCaPem);
        if (r.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`pebble did not answer within 30 s: ${this.log}`);
      await sleep(200);
    }
    if (this.challtestsrvManagement) {
      for (;;) {
        try {
          const r = await fetch(`${this.challtestsrvManagement}/clear-txt`, { method: 'POST', body: '{"host":"x."}' });
          if (r.status < 500) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`pebble-challtestsrv did not answer: ${this.log}`);
        await sleep(200);
      }
    }
  }

  /** An issuing root of this Pebble run (`/roots/0`; alternates `/roots/1`...). */
  async rootPem(index = 0): Promise<string> {
    const r = await httpsGet(`${this.managementUrl}/roots/${index}`, this.tlsCaPem);
    if (r.status !== 200) throw new Error(`pebble /roots/${index}: ${r.status}`);
    return r.body;
  }

  /** Pebble's view of a certificate (`/cert-status-by-serial/<hex>`): {Status: "Valid" | "Revoked", ...}. */
  async certStatus(serialHex: string): Promise<{ Status?: string; Reason?: number } & Record<string, unknown>> {
    const r = await httpsGet(`${this.managementUrl}/cert-status-by-serial/${serialHex}`, this.tlsCaPem);
    if (r.status !== 200) throw new Error(`pebble cert-status ${serialHex}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as { Status?: string };
  }

  logs(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    await Promise.all([stop(this.pebble), stop(this.challtest)]);
    this.dir.remove();
  }
}
