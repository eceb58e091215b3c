import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpsClient, tlsHandshake } from './support/https';
import { firstPemCert, openssl } from './support/openssl';
import { cleanupAll, startServer, withPgAdmin, type ServerProcess } from './support/server-process';
import { isListening, pollUntil, runCommand, tail } from './support/util';

/**
 * One built server on a fresh database, shared by the tests of this file (in order):
 * boot, API basics, TLS, Postgres connection loss, graceful shutdown, restart.
 */

const ADMIN_PERMISSION_COUNT = 82;

let srv: ServerProcess;
let api: HttpsClient;
let caPem: Buffer;

beforeAll(async () => {
  srv = await startServer();
  if (!srv.caFile) throw new Error(`no "TLS CA file:" line in the banner\n${srv.output()}`);
  caPem = await readFile(srv.caFile);
  api = new HttpsClient(srv.port, caPem);
}, 60_000);

afterAll(cleanupAll, 60_000);

describe('boot on a fresh database', () => {
  test('creates and migrates the database, prints the banner, the CA file and one admin key', async () => {
    expect(srv.baseUrl).toBe(`https://127.0.0.1:${srv.port}`);
    expect(srv.stdout()).toContain(`created database ${srv.dbName}`);
    expect(srv.stdout()).toMatch(/applied migrations: \S/);
    expect(srv.caFile).toBe(join(srv.dataDir, 'tls', 'ca.pem'));
    expect(new X509Certificate(caPem).ca).toBe(true);
    expect(srv.adminKey).toMatch(/^cc_[A-Za-z0-9_-]{20,}$/);
    expect(srv.stdout().split(srv.adminKey!).length - 1).toBe(2); // the key line and the curl example
  });

  test('curl --cacert <ca> GET /health -> 200 {"status":"ok"}', async () => {
    const r = await runCommand('curl', [
      '-sS', '--noproxy', '*', '--max-time', '10', '--cacert', srv.caFile!,
      '-w', '\n%{http_code}', `${srv.baseUrl}/health`,
    ]); // prettier-ignore
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = r.stdout.split('\n');
    const status = lines.pop();
    expect(status).toBe('200');
    expect(JSON.parse(lines.join('\n'))).toEqual({ status: 'ok' });
  });

  test('GET /ready -> 200 with postgres and redis up', async () => {
    const r = await api.get('/ready');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ready', checks: { postgres: 'up', redis: 'up' } });
  });

  test('GET /api/v1/auth/me without a key -> 401 with the error body and X-Request-ID', async () => {
    const r = await api.get('/api/v1/auth/me');
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ error: 'Unauthorized', message: expect.any(String), request_id: expect.any(String) });
    expect(r.json.message.length).toBeGreaterThan(0);
    expect(r.json.request_id.length).toBeGreaterThan(0);
    expect(r.headers['x-request-id']).toBe(r.json.request_id);
  });

  test('GET /api/v1/auth/me with a wrong key -> 401', async () => {
    const r = await api.get('/api/v1/auth/me', { bearer: `cc_${'A'.repeat(43)}` });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('Unauthorized');
  });

  test('GET /api/v1/auth/me with the printed key -> 200, admin with every permission', async () => {
    const r = await api.get('/api/v1/auth/me', { bearer: srv.adminKey });
    expect(r.status).toBe(200);
    expect(r.json.roles).toEqual(['admin']);
    expect(r.json.permissions).toHaveLength(ADMIN_PERMISSION_COUNT);
    const catalogue = await api.get('/api/v1/auth/permissions', { bearer: srv.adminKey });
    expect(catalogue.status).toBe(200);
    expect(catalogue.json.total).toBe(ADMIN_PERMISSION_COUNT);
    expect(catalogue.json.data.filter((p: { granted: boolean }) => !p.granted)).toEqual([]);
  });
});

describe('TLS', () => {
  test('a TLS 1.2-only client is refused; a TLS 1.3 client verifies with the printed CA', async () => {
    const old = await tlsHandshake(srv.port, caPem, { maxVersion: 'TLSv1.2' });
    expect(old.protocol).toBeUndefined();
    expect(old.error).toMatch(/protocol.version|unsupported.protocol/i);

    const modern = await tlsHandshake(srv.port, caPem, { minVersion: 'TLSv1.3' });
    expect(modern).toMatchObject({ protocol: 'TLSv1.3', authorized: true });

    const s12 = await runCommand('openssl', ['s_client', '-connect', `127.0.0.1:${srv.port}`, '-tls1_2']);
    expect(s12.code).not.toBe(0);
    expect(s12.stdout).not.toMatch(/-----BEGIN CERTIFICATE-----/);
  });

  test('openssl s_client -tls1_3 verifies the chain; the leaf is ECDSA P-256 with SAN IP 127.0.0.1', async () => {
    const s = await runCommand('openssl', [
      's_client', '-connect', `127.0.0.1:${srv.port}`, '-tls1_3', '-CAfile', srv.caFile!,
      '-verify_ip', '127.0.0.1', '-verify_return_error',
    ]); // prettier-ignore
    const out = `${s.stdout}\n${s.stderr}`;
    expect({ code: s.code, verify: /Verify return code: (\d+)/.exec(out)?.[1] }).toEqual({ code: 0, verify: '0' });
    expect(out).toMatch(/TLSv1\.3/);
    const leaf = firstPemCert(s.stdout);
    expect(leaf).toBeDefined();
    const text = (await openssl(['x509', '-noout', '-text'], leaf)).stdout;
    expect(text).toMatch(/Public Key Algorithm: id-ecPublicKey/);
    expect(text).toMatch(/NIST CURVE: P-256|ASN1 OID: prime256v1/);
    expect(text).toMatch(/X509v3 Subject Alternative Name:[^\n]*\n[^\n]*IP Address:127\.0\.0\.1\b/);
  });
});

describe('Postgres connection loss', () => {
  test("after the server's backends are terminated, /ready and authenticated requests recover", async () => {
    expect((await api.get('/api/v1/auth/me', { bearer: srv.adminKey })).status).toBe(200);
    const terminated = await withPgAdmin((c) =>
      c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
        srv.dbName,
      ]),
    );
    expect(terminated.rowCount).toBeGreaterThan(0);

    await pollUntil(
      '/ready 200 after pg_terminate_backend',
      () => api.get('/ready'),
      (r) => r.status === 200,
    );
    await pollUntil(
      '/api/v1/auth/me 200 after pg_terminate_backend',
      () => api.get('/api/v1/auth/me', { bearer: srv.adminKey }),
      (r) => r.status === 200,
    );
    expect({ running: srv.isRunning(), stderr: tail(srv.stderr(), 1_500) }).toMatchObject({ running: true });
  });
});

describe('shutdown and restart', () => {
  let leafFingerprint: string | undefined;

  test('SIGTERM -> exit code 0 within the deadline, port released', async () => {
    leafFingerprint = (await tlsHandshake(srv.port, caPem)).fingerprint256;
    expect(leafFingerprint).toBeDefined();
    const t0 = Date.now();
    const exit = await srv.stop(15_000);
    const ms = Date.now() - t0;
    expect({ ...exit, stderr: tail(srv.stderr(), 1_500) }).toMatchObject({ code: 0, signal: null });
    expect(ms).toBeLessThan(15_000);
    expect(await isListening(srv.port)).toBe(false);
  });

  test('restart on the same data dir and database: CA reused byte for byte, no new admin key', async () => {
    await srv.stop(); // idempotent: independent of the previous test's outcome
    const again = await startServer({ dbName: srv.dbName, dataDir: srv.dataDir, redisPrefix: srv.redisPrefix });
    try {
      expect(again.caFile).toBe(srv.caFile);
      expect(await readFile(again.caFile!)).toEqual(caPem);
      expect(again.adminKey).toBeUndefined();
      expect(again.stdout()).not.toMatch(/Initial admin|cc_[A-Za-z0-9_-]{20,}/);
      expect(again.stdout()).not.toMatch(/created database|applied migrations/);

      expect((await tlsHandshake(again.port, caPem)).fingerprint256).toBe(leafFingerprint);
      const api2 = new HttpsClient(again.port, again.caFile!);
      const me = await api2.get('/api/v1/auth/me', { bearer: srv.adminKey });
      expect(me.status).toBe(200);
      expect(me.json.roles).toEqual(['admin']);
    } finally {
      await again.stop();
    }
    // Output written after the banner (e.g. a late key) would show up here.
    expect(again.stdout()).not.toMatch(/Initial admin/);
  });
});
