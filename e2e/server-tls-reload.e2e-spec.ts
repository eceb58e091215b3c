import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { HttpsClient, tlsHandshake } from './support/https';
import { makeCa, makeSelfSigned, makeServerCert, type CertFiles } from './support/openssl';
import { cleanupAll, runServerExpectingExit, startServer, tempDir, type ServerProcess } from './support/server-process';
import { freePort, isListening, pollUntil } from './support/util';

/**
 * Hot reload of the server's own TLS certificate (CERTCTL_SERVER_TLS_RELOAD_INTERVAL): the
 * built server, its certificate files rotated the way the kubelet updates a mounted Secret
 * (a new directory behind an atomically swapped `..data` symlink), new TLS connections
 * checked with node's tls client.
 */

let dir: string;
let ca: CertFiles;
let caPem: Buffer;
let first: CertFiles;
let second: CertFiles;
let stranger: CertFiles;
/** The paths the server is given: symlinks through `live/..data`, as in a Secret volume. */
let live: { cert: string; key: string };
let version = 0;

const serialOf = async (f: CertFiles) => new X509Certificate(await readFile(f.cert)).serialNumber;

/** Publishes a cert/key pair as one atomic change of both files (kubelet AtomicWriter style). */
async function publish(cert: string, key: string): Promise<void> {
  const root = join(dir, 'live');
  const v = join(root, `..v${++version}`);
  await mkdir(v, { recursive: true });
  await writeFile(join(v, 'tls.crt'), await readFile(cert));
  await writeFile(join(v, 'tls.key'), await readFile(key));
  await symlink(`..v${version}`, join(root, '..data_tmp'));
  await rename(join(root, '..data_tmp'), join(root, '..data'));
}

/** The serial of the certificate a fresh TLS connection is presented (verified against the test CA). */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem });
    const timer = setTimeout(() => socket.destroy(new Error('no TLS handshake within 5 s')), 5_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      if (socket.authorized) resolve(serial);
      else reject(new Error(`served certificate not trusted: ${String(socket.authorizationError)}`));
    });
    socket.once('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function reloadCount(api: HttpsClient, admin: string, result: 'reloaded' | 'rejected'): Promise<number> {
  const r = await api.get('/api/v1/metrics/prometheus', { bearer: admin });
  expect(r.status).toBe(200);
  const m = new RegExp(`^certctl_server_tls_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(r.text);
  if (!m) throw new Error(`certctl_server_tls_reloads_total{result="${result}"} missing from /metrics`);
  return Number(m[1]);
}

beforeAll(async () => {
  dir = await tempDir('certctl-e2e-tls-reload-');
  ca = await makeCa(dir);
  // One after the other: both update the CA's serial file.
  first = await makeServerCert(dir, ca, 'first');
  second = await makeServerCert(dir, ca, 'second');
  stranger = await makeSelfSigned(dir, 'stranger');
  caPem = await readFile(ca.cert);
  await publish(first.cert, first.key);
  await symlink('..data/tls.crt', join(dir, 'live', 'tls.crt'));
  await symlink('..data/tls.key', join(dir, 'live', 'tls.key'));
  live = { cert: join(dir, 'live', 'tls.crt'), key: join(dir, 'live', 'tls.key') };
}, 30_000);

afterAll(cleanupAll, 60_000);

describe('a running server picks up its rotated certificate files', () => {
  let srv: ServerProcess;
  let api: HttpsClient;
  let admin: string;

  beforeAll(async () => {
    srv = await startServer({
      env: {
        CERTCTL_SERVER_TLS_CERT_PATH: live.cert,
        CERTCTL_SERVER_TLS_KEY_PATH: live.key,
        CERTCTL_SERVER_TLS_RELOAD_INTERVAL: '1s',
        CERTCTL_LOG_LEVEL: 'info',
      },
    });
    if (!srv.adminKey) throw new Error(`no admin key in the banner\n${srv.output()}`);
    admin = srv.adminKey;
    api = new HttpsClient(srv.port, ca.cert);
  }, 60_000);
  afterAll(() => srv?.stop());

  test('a new certificate is served to new connections while /health keeps answering', async () => {
    expect(await servedSerial(srv.port)).toBe(await serialOf(first));

    // Probe /health the whole time the rotation is under way.
    const health: (number | string)[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        health.push(
          await api.get('/health').then(
            (r) => r.status,
            (e: Error) => e.message,
          ),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await publish(second.cert, second.key);
    const want = await serialOf(second);
    await pollUntil(
      'the new serial is served',
      () => servedSerial(srv.port),
      (s) => s === want,
      {
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    );
    await new Promise((r) => setTimeout(r, 500));
    probing = false;
    await prober;

    expect(health.length).toBeGreaterThan(3);
    expect(health.filter((s) => s !== 200)).toEqual([]);
    // Same TLS policy after the swap: TLS 1.2 is still refused.
    expect((await tlsHandshake(srv.port, ca.cert, { maxVersion: 'TLSv1.2' })).error).toBeDefined();
    expect(await tlsHandshake(srv.port, ca.cert)).toMatchObject({ protocol: 'TLSv1.3', authorized: true });
    expect(await reloadCount(api, admin, 'reloaded')).toBe(1);
    expect(await reloadCount(api, admin, 'rejected')).toBe(0);
    // The new certificate is logged (serial as node prints it).
    expect(srv.stdout()).toContain(`serial ${want}`);
  });

  test('a mismatched key is refused: the previous certificate stays, rejected is counted, warned once', async () => {
    await publish(second.cert, stranger.key);
    // Several intervals.
    await new Promise((r) => setTimeout(r, 4_500));

    expect(await servedSerial(srv.port)).toBe(await serialOf(second));
    expect((await api.get('/health')).status).toBe(200);
    expect(await reloadCount(api, admin, 'rejected')).toBeGreaterThanOrEqual(1);
    expect(await reloadCount(api, admin, 'reloaded')).toBe(1);
    const warnings = srv
      .stdout()
      .split('\n')
      .filter((l) => l.includes('changed but cannot be served'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(live.cert);
    expect(warnings[0]).toMatch(/does not match/);
    expect(srv.isRunning()).toBe(true);
  });
});

test('a worker replica (CERTCTL_ROLE=worker) reloads its certificate too, and opens no PKI HTTP port', async () => {
  await publish(first.cert, first.key);
  const pkiPort = await freePort();
  const worker = await startServer({
    env: {
      CERTCTL_ROLE: 'worker',
      CERTCTL_SERVER_TLS_CERT_PATH: live.cert,
      CERTCTL_SERVER_TLS_KEY_PATH: live.key,
      CERTCTL_SERVER_TLS_RELOAD_INTERVAL: '1s',
      CERTCTL_PKI_HTTP_PORT: String(pkiPort),
      CERTCTL_PKI_PUBLIC_URL: `http://127.0.0.1:${pkiPort}`,
    },
  });
  try {
    expect(worker.banner).toContain('certctl worker listening on');
    expect(worker.adminKey).toBeUndefined();
    expect(await servedSerial(worker.port)).toBe(await serialOf(first));
    await publish(second.cert, second.key);
    const want = await serialOf(second);
    await pollUntil(
      'the worker serves the new serial',
      () => servedSerial(worker.port),
      (s) => s === want,
      {
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    );
    expect((await new HttpsClient(worker.port, ca.cert).get('/health')).status).toBe(200);
    // The PKI listener belongs to replicas that serve the API.
    expect(await isListening(pkiPort)).toBe(false);
  } finally {
    await worker.stop();
  }
});

test('a bad CERTCTL_SERVER_TLS_RELOAD_INTERVAL stops the boot (exit 2), naming the variable', async () => {
  const r = await runServerExpectingExit({ CERTCTL_SERVER_TLS_RELOAD_INTERVAL: 'soon' });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toMatchObject({ code: 2, signal: null });
  expect(r.stderr).toMatch(/CERTCTL_SERVER_TLS_RELOAD_INTERVAL/);
  expect(r.stdout).not.toContain('listening on');
  expect(await isListening(r.port)).toBe(false);
});
