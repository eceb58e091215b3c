import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, fingerprintOf, freePort, freePorts, OpensslPki } from './caddy-envoy-keystore.testing';
import { caddyConnector, caddyTag, withCaddyCertificate } from './caddy';
import { DeployError, type DeployMaterial } from './target-port';
import { fetchServedCertificate } from './verify-endpoint';

/*
 * The real Caddy from Debian (`apt-get install caddy`, 2.6.2 in bookworm) on loopback ports,
 * with its storage and autosave in a temp dir and automatic HTTPS off (no ACME traffic).
 */

const NAME = 'caddy.example.test';

interface Caddy {
  proc: ChildProcess;
  adminPort: number;
  tlsPort: number;
  configPath: string;
  output: () => string;
}

async function startCaddy(dir: string, tls?: Record<string, unknown>): Promise<Caddy> {
  const [adminPort, tlsPort] = await freePorts(2);
  const config = {
    admin: { listen: `127.0.0.1:${adminPort}` },
    apps: {
      http: {
        servers: {
          s: {
            listen: [`127.0.0.1:${tlsPort}`],
            automatic_https: { disable: true },
            tls_connection_policies: [{}],
            routes: [{ handle: [{ handler: 'static_response', body: 'ok' }] }],
          },
        },
      },
      ...(tls ? { tls } : {}),
    },
  };
  const configPath = join(dir, 'caddy.json');
  await writeFile(configPath, JSON.stringify(config));
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
  const proc = spawn('caddy', ['run', '--config', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  await eventually(async () => {
    if (proc.exitCode !== null) throw new Error(`caddy exited: ${out}`);
    const r = await fetch(`http://127.0.0.1:${adminPort}/config/`);
    if (!r.ok) throw new Error(`admin API: ${r.status}`);
  }, 20_000);
  return { proc, adminPort, tlsPort, configPath, output: () => out };
}

async function stopCaddy(c: Caddy | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await exited;
}

const served = (c: Caddy) => fetchServedCertificate({ host: '127.0.0.1', port: c.tlsPort, servername: NAME });

/** The running configuration, over a new connection (Caddy restarts its admin server after a change). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document the tests walk freely
function runningConfig(c: Caddy): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: c.adminPort, path: '/config/', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('caddyConnector with the real Caddy', () => {
  const pki = new OpensslPki();
  let first: DeployMaterial;
  let second: DeployMaterial;
  let mismatched: DeployMaterial;

  beforeAll(() => {
    first = pki.leaf(NAME);
    second = pki.leaf(NAME);
    mismatched = { ...second, keyPem: first.keyPem }; // Caddy refuses a key that is not the certificate's
  });
  afterAll(() => pki.remove());

  describe('file mode', () => {
    let dir: string;
    let caddy: Caddy | undefined;
    let config: Record<string, unknown>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'certctl-caddy-file-'));
      const cert = join(dir, 'site.crt');
      const key = join(dir, 'site.key');
      // The first deployment puts files in place for Caddy to start with (nothing to reload yet).
      const initial = await caddyConnector.deploy(first, {
        targetId: 't-file',
        jobId: 'j0',
        config: { mode: 'file', cert_path: cert, key_path: key, reload_command: ['true'] },
      });
      expect(initial.written).toEqual([cert, key]);
      caddy = await startCaddy(dir, { certificates: { load_files: [{ certificate: cert, key }] } });
      config = {
        mode: 'file',
        cert_path: cert,
        key_path: key,
        reload_command: [
          'caddy',
          'reload',
          '--config',
          caddy.configPath,
          '--address',
          `127.0.0.1:${caddy.adminPort}`,
          '--force',
        ],
      };
    });
    afterAll(async () => {
      await stopCaddy(caddy);
      await rm(dir, { recursive: true, force: true });
    });

    it('writes the full chain and a 0600 key, reloads Caddy, and Caddy serves the new certificate', async () => {
      const running = caddy as Caddy;
      expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(first.certPem));

      const r = await caddyConnector.deploy(second, { targetId: 't-file', jobId: 'j1', config });
      expect(r).toMatchObject({ changed: true, validated: false, reloaded: true });
      expect(await readFile(join(dir, 'site.crt'), 'utf8')).toBe(
        `${second.certPem.trim()}\n${second.chainPem.trim()}\n`,
      );
      expect((await stat(join(dir, 'site.key'))).mode & 0o777).toBe(0o600);
      await eventually(async () =>
        expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(second.certPem)),
      );

      const again = await caddyConnector.deploy(second, { targetId: 't-file', jobId: 'j2', config });
      expect(again).toMatchObject({ changed: false, reloaded: false });
    });

    it('restores the files and reloads the old ones when Caddy refuses the new pair', async () => {
      const running = caddy as Caddy;
      const before = await readFile(join(dir, 'site.key'), 'utf8');
      const err: unknown = await caddyConnector
        .deploy(mismatched, { targetId: 't-file', jobId: 'j3', config })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeployError);
      expect(err).toMatchObject({ step: 'reload', rolledBack: true });
      expect((err as Error).message).toMatch(/private key does not match/);
      expect((err as Error).message).toContain('reloaded the previous files');
      expect(await readFile(join(dir, 'site.key'), 'utf8')).toBe(before);
      expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(second.certPem));
    });
  });

  describe('admin_api mode', () => {
    let dir: string;
    let caddy: Caddy | undefined;
    let admin: string;
    const other = { certificate: '', key: '', tags: ['someone-else'] };

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'certctl-caddy-admin-'));
      const otherCert = pki.leaf('other.example.test');
      other.certificate = otherCert.certPem;
      other.key = otherCert.keyPem;
      // Another certificate loaded by someone else must survive our deployments.
      caddy = await startCaddy(dir, { certificates: { load_pem: [other] } });
      admin = `http://127.0.0.1:${caddy.adminPort}`;
    });
    afterAll(async () => {
      await stopCaddy(caddy);
      await rm(dir, { recursive: true, force: true });
    });

    const deploy = (m: DeployMaterial, adminUrl = admin) =>
      caddyConnector.deploy(m, { targetId: 't-admin', jobId: 'j', config: { mode: 'admin_api', admin_url: adminUrl } });

    it('loads the certificate into the running Caddy, replaces it on renewal, keeps other entries', async () => {
      const running = caddy as Caddy;
      const r = await deploy(first);
      expect(r).toEqual({
        changed: true,
        written: [`${admin}/config/apps/tls/certificates/load_pem`],
        validated: true,
        reloaded: true,
        message: expect.stringContaining(caddyTag('t-admin')),
      });
      expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(first.certPem));

      expect(await deploy(first)).toMatchObject({ changed: false, reloaded: false });

      await deploy(second);
      await eventually(async () =>
        expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(second.certPem)),
      );
      const loaded = (await runningConfig(running)).apps.tls.certificates.load_pem;
      expect(loaded).toHaveLength(2);
      expect(loaded[0]).toEqual(other);
      expect(loaded[1]).toEqual({
        certificate: `${second.certPem.trim()}\n${second.chainPem.trim()}\n`,
        key: `${second.keyPem.trim()}\n`,
        tags: [caddyTag('t-admin')],
      });
    });

    it('leaves the running configuration alone when Caddy refuses the pair', async () => {
      const running = caddy as Caddy;
      const before = await runningConfig(running);
      const err: unknown = await deploy(mismatched).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeployError);
      expect(err).toMatchObject({ step: 'remote', rolledBack: true });
      expect((err as Error).message).toMatch(
        /^Caddy refused the new configuration \(HTTP (400|500)\): .*private key does not match/,
      );
      expect(await runningConfig(running)).toEqual(before);
      expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(second.certPem));
    });

    it('re-reads and keeps a change someone else made between its read and its write (If-Match, 412)', async () => {
      const running = caddy as Caddy;
      // A proxy in front of the admin API that, just before forwarding our first write,
      // changes the configuration directly (as another operator would).
      let posts = 0;
      const statuses: number[] = [];
      const forward = (method: string, path: string, headers: Record<string, string>, body: Buffer) =>
        new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
          (resolve, reject) => {
            const req = request(
              { host: '127.0.0.1', port: running.adminPort, method, path, headers, agent: false },
              (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () =>
                  resolve({
                    status: res.statusCode ?? 0,
                    headers: { ...res.headers, ...res.trailers },
                    body: Buffer.concat(chunks),
                  }),
                );
              },
            );
            req.on('error', reject);
            req.end(body);
          },
        );
      const proxy: Server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          void (async () => {
            if (req.method === 'POST' && ++posts === 1) {
              const route = JSON.stringify({ handle: [{ handler: 'static_response', body: 'added meanwhile' }] });
              const r = await forward(
                'POST',
                '/config/apps/http/servers/s/routes',
                { 'Content-Type': 'application/json' },
                Buffer.from(route),
              );
              expect(r.status).toBe(200);
            }
            const headers: Record<string, string> = { 'Content-Type': 'application/json' };
            if (req.headers['if-match']) headers['If-Match'] = req.headers['if-match'];
            const up = await forward(req.method ?? 'GET', req.url ?? '/', headers, Buffer.concat(chunks));
            if (req.method === 'POST') statuses.push(up.status);
            const etag = up.headers.etag;
            res.writeHead(up.status, typeof etag === 'string' ? { Etag: etag } : {});
            res.end(up.body);
          })();
        });
      });
      const proxyPort = await freePort();
      await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
      try {
        const log: string[] = [];
        const r = await caddyConnector.deploy(first, {
          targetId: 't-admin',
          jobId: 'j',
          config: { mode: 'admin_api', admin_url: `http://127.0.0.1:${proxyPort}` },
          log: (l) => log.push(l),
        });
        expect(r.changed).toBe(true);
        expect(statuses).toEqual([412, 200]);
        expect(log).toContain('the Caddy configuration changed while deploying; reading it again');
      } finally {
        await new Promise((r) => proxy.close(r));
      }
      const cfg = await runningConfig(running);
      expect(cfg.apps.http.servers.s.routes).toHaveLength(2); // the other change was not lost
      expect((await served(running)).fingerprintSha256).toBe(fingerprintOf(first.certPem));
    });

    it('reports an unreachable admin API as a remote failure', async () => {
      const port = await freePort();
      await expect(deploy(first, `http://127.0.0.1:${port}`)).rejects.toMatchObject({
        name: 'DeployError',
        step: 'remote',
        rolledBack: true,
        message: expect.stringMatching(
          /^cannot reach the Caddy admin API at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
        ),
      });
    });
  });

  describe('withCaddyCertificate', () => {
    const entry = { certificate: 'C', key: 'K', tags: [caddyTag('t')] };

    it('creates the path in an empty configuration and refuses shapes it cannot extend', () => {
      expect(withCaddyCertificate(null, entry)).toEqual({ apps: { tls: { certificates: { load_pem: [entry] } } } });
      expect(withCaddyCertificate({ apps: { tls: { certificates: { load_pem: [entry] } } } }, entry)).toBeUndefined();
      expect(() => withCaddyCertificate({ apps: { tls: [] } }, entry)).toThrow('apps.tls is not an object');
      expect(() => withCaddyCertificate([], entry)).toThrow('the configuration is not a JSON object');
    });
  });

  it('refuses a file-mode configuration without paths before touching anything', async () => {
    await expect(
      caddyConnector.deploy(first, { targetId: 't', jobId: 'j', config: { mode: 'file', cert_path: '/tmp/x.crt' } }),
    ).rejects.toMatchObject({ step: 'write', message: expect.stringContaining('key_path: is required for mode file') });
  });
});
