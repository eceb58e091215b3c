import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { makeSelfSigned } from '../../e2e/support/openssl';
import { freePort, pollUntil } from '../../e2e/support/util';
import { readRepoFile, repoRoot } from './dockerfile';

/**
 * deploy/nginx/run.sh, the compose nginx sidecar, with the real nginx from Debian: the same
 * script and server blocks, on loopback ports and a private prefix (the `CERT_DIR`,
 * `TLS_TEMPLATE`, `TLS_CONF`, `NGINX_ARGS` knobs). It must serve plain HTTP until the agent
 * has written a certificate, switch TLS on once both files exist, reload on each new pair
 * (the agent writes the certificate and the key one after the other), and stop nginx with
 * itself on SIGTERM.
 */

let dir: string;
let certDir: string;
let httpPort: number;
let tlsPort: number;
let sidecar: ChildProcess;
let output = '';
let exited: Promise<number | null>;

const httpBody = (): Promise<string> =>
  new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: httpPort, path: '/', timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });

/** SHA-256 fingerprint of the certificate nginx serves on the TLS port, or the connect error. */
const served = (): Promise<string> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false, servername: 'app.example.test' });
    s.setTimeout(5_000, () => s.destroy(new Error('timeout')));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(`error: ${e.code ?? e.message}`));
    s.once('secureConnect', () => {
      resolve(s.getPeerX509Certificate()?.fingerprint256 ?? 'none');
      s.end();
    });
  });

/** Writes like the agent does: each file whole under a temporary name, then renamed into place. */
async function deploy(pair: { cert: string; key: string }, only?: 'cert' | 'key'): Promise<string> {
  const cert = await readFile(pair.cert, 'utf8');
  if (only !== 'key') {
    await writeFile(join(certDir, '.tls.crt.tmp'), cert, { mode: 0o644 });
    await rename(join(certDir, '.tls.crt.tmp'), join(certDir, 'tls.crt'));
  }
  if (only !== 'cert') {
    await writeFile(join(certDir, '.tls.key.tmp'), await readFile(pair.key), { mode: 0o600 });
    await rename(join(certDir, '.tls.key.tmp'), join(certDir, 'tls.key'));
  }
  return new X509Certificate(cert).fingerprint256;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certctl-nginx-sidecar-'));
  certDir = join(dir, 'certs');
  await mkdir(certDir);
  await mkdir(join(dir, 'conf.d'));
  await mkdir(join(dir, 'logs'));
  httpPort = await freePort();
  tlsPort = await freePort();
  const at = (f: string) => join(dir, f);
  await writeFile(
    at('nginx.conf'),
    `worker_processes 1;
pid ${at('nginx.pid')};
error_log ${at('logs/error.log')};
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${at('cb')}; proxy_temp_path ${at('px')}; fastcgi_temp_path ${at('fc')};
  uwsgi_temp_path ${at('uw')}; scgi_temp_path ${at('sc')};
  include ${at('conf.d')}/*.conf;
}
`,
  );
  // The repository's server blocks, moved to loopback ports and this test's certificate directory.
  const http = readRepoFile('deploy/nginx/default.conf');
  const tls = readRepoFile('deploy/nginx/tls.conf');
  expect(http).toContain('listen 80 default_server;');
  expect(tls).toContain('listen 443 ssl;');
  await writeFile(
    at('conf.d/default.conf'),
    http.replace('listen 80 default_server;', `listen 127.0.0.1:${httpPort} default_server;`),
  );
  await writeFile(
    at('tls.conf'),
    tls.replace('listen 443 ssl;', `listen 127.0.0.1:${tlsPort} ssl;`).replaceAll('/etc/nginx/certs', certDir),
  );

  sidecar = spawn('sh', [join(repoRoot, 'deploy/nginx/run.sh')], {
    env: {
      PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}`,
      CERT_DIR: certDir,
      TLS_TEMPLATE: at('tls.conf'),
      TLS_CONF: at('conf.d/certctl-tls.conf'),
      INTERVAL: '0.2',
      NGINX_ARGS: `-c ${at('nginx.conf')} -p ${dir} -e ${at('logs/error.log')}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sidecar.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  sidecar.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  exited = new Promise((resolve) => sidecar.once('exit', (code) => resolve(code)));
}, 30_000);

afterAll(async () => {
  if (sidecar.exitCode === null && sidecar.signalCode === null) sidecar.kill('SIGTERM');
  await exited;
  // Should the script have lost nginx, stop it by its pid file.
  const pid = Number((await readFile(join(dir, 'nginx.pid'), 'utf8').catch(() => '')).trim());
  if (pid) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
}, 30_000);

const withOutput = (e: Error): never => {
  throw new Error(`${e.message}\nrun.sh output:\n${output}`);
};

test('before any certificate: plain HTTP answers, TLS is off', async () => {
  const body = await pollUntil('HTTP answers', httpBody, (b) => b.length > 0, { timeoutMs: 20_000 }).catch(withOutput);
  expect(body).toBe('certctl demo nginx: waiting for a certificate from the agent\n');
  expect(await served()).toBe('error: ECONNREFUSED');
}, 30_000);

test('the first pair switches TLS on; each new pair is served after a reload', async () => {
  const a = await makeSelfSigned(dir, 'a');
  const b = await makeSelfSigned(dir, 'b');
  const wantA = await deploy(a);
  await pollUntil('nginx serves the first certificate', served, (f) => f === wantA, { timeoutMs: 20_000 }).catch(
    withOutput,
  );

  // The certificate lands before its key: the mismatched pair fails `nginx -t` and is not loaded.
  const wantB = await deploy(b, 'cert');
  await pollUntil(
    'run.sh rejected the mismatched pair',
    async () => output,
    (o) => o.includes('the new files fail the configuration check; still serving the previous certificate'),
    { timeoutMs: 20_000 },
  ).catch(withOutput);
  expect(await served()).toBe(wantA);
  await deploy(b, 'key');
  await pollUntil('nginx serves the renewed certificate', served, (f) => f === wantB, { timeoutMs: 20_000 }).catch(
    withOutput,
  );
  expect(output).toContain('certctl-nginx: reloaded with the new certificate');
}, 60_000);

test('SIGTERM stops nginx and the script', async () => {
  const pid = Number((await readFile(join(dir, 'nginx.pid'), 'utf8')).trim());
  expect(pid).toBeGreaterThan(1);
  sidecar.kill('SIGTERM');
  await exited;
  await pollUntil(
    'the nginx master exited',
    async () => {
      try {
        process.kill(pid, 0);
        return 'alive';
      } catch {
        return 'gone';
      }
    },
    (s) => s === 'gone',
    { timeoutMs: 20_000 },
  ).catch(withOutput);
}, 30_000);
