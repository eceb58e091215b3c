import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpsClient, tlsHandshake } from './support/https';
import { makeCa, makeSelfSigned, makeServerCert, type CertFiles } from './support/openssl';
import {
  cleanupAll,
  databaseExists,
  runServerExpectingExit,
  startServer,
  tempDir,
  type EnvOverrides,
} from './support/server-process';
import { isListening } from './support/util';

/** Boot-time configuration: bad settings stop the boot (exit 2); operator TLS files are served. */

let dir: string;
let ca: CertFiles;
let server: CertFiles;
let a: CertFiles;
let b: CertFiles;

beforeAll(async () => {
  dir = await tempDir('certctl-e2e-pki-');
  ca = await makeCa(dir);
  [server, a, b] = await Promise.all([makeServerCert(dir, ca), makeSelfSigned(dir, 'a'), makeSelfSigned(dir, 'b')]);
}, 30_000);

afterAll(cleanupAll, 60_000);

describe('fail closed at boot: exit code 2, the variable named on stderr, nothing listening', () => {
  const cases: [string, () => EnvOverrides, RegExp[]][] = [
    ['CERTCTL_SERVER_PORT=abc', () => ({ CERTCTL_SERVER_PORT: 'abc' }), [/CERTCTL_SERVER_PORT/]],
    ['CERTCTL_MAX_BODY_SIZE=lots', () => ({ CERTCTL_MAX_BODY_SIZE: 'lots' }), [/CERTCTL_MAX_BODY_SIZE/]],
    [
      'TLS cert path without key path',
      () => ({ CERTCTL_SERVER_TLS_CERT_PATH: server.cert }),
      [/CERTCTL_SERVER_TLS_CERT_PATH/, /CERTCTL_SERVER_TLS_KEY_PATH/],
    ],
    [
      'TLS key path without cert path',
      () => ({ CERTCTL_SERVER_TLS_KEY_PATH: server.key }),
      [/CERTCTL_SERVER_TLS_CERT_PATH/, /CERTCTL_SERVER_TLS_KEY_PATH/],
    ],
    [
      'TLS cert and key files that do not exist',
      () => ({
        CERTCTL_SERVER_TLS_CERT_PATH: join(dir, 'missing.pem'),
        CERTCTL_SERVER_TLS_KEY_PATH: join(dir, 'missing.key'),
      }),
      [/CERTCTL_SERVER_TLS_CERT_PATH/, /missing\.pem/],
    ],
    [
      'TLS key file that does not exist',
      () => ({ CERTCTL_SERVER_TLS_CERT_PATH: server.cert, CERTCTL_SERVER_TLS_KEY_PATH: join(dir, 'missing.key') }),
      [/CERTCTL_SERVER_TLS_KEY_PATH/, /missing\.key/],
    ],
    [
      'TLS cert and key that do not match',
      () => ({ CERTCTL_SERVER_TLS_CERT_PATH: a.cert, CERTCTL_SERVER_TLS_KEY_PATH: b.key }),
      [/CERTCTL_SERVER_TLS_CERT_PATH/, /CERTCTL_SERVER_TLS_KEY_PATH/, /match/i],
    ],
  ];

  test.each(cases)('%s', async (_name, env, stderrMatches) => {
    const r = await runServerExpectingExit(env());
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toMatchObject({ code: 2, signal: null });
    for (const m of stderrMatches) expect(r.stderr).toMatch(m);
    expect(r.stdout).not.toContain('listening on');
    expect(await isListening(r.port)).toBe(false);
    // Fail closed before touching anything: no database, no generated TLS material.
    expect(await databaseExists(r.dbName)).toBe(false);
    expect(existsSync(join(r.dataDir, 'tls'))).toBe(false);
  });
});

describe('operator-provided TLS certificate', () => {
  test('is served as configured, and no CA is generated or printed', async () => {
    const srv = await startServer({
      env: { CERTCTL_SERVER_TLS_CERT_PATH: server.cert, CERTCTL_SERVER_TLS_KEY_PATH: server.key },
    });
    try {
      expect(srv.caFile).toBeUndefined();
      expect(srv.stdout()).not.toContain('TLS CA file');
      expect(existsSync(join(srv.dataDir, 'tls'))).toBe(false);

      const expected = new X509Certificate(await readFile(server.cert)).fingerprint256;
      const hs = await tlsHandshake(srv.port, ca.cert);
      expect(hs).toMatchObject({ protocol: 'TLSv1.3', authorized: true, fingerprint256: expected });

      const api = new HttpsClient(srv.port, ca.cert);
      const health = await api.get('/health');
      expect(health.status).toBe(200);
      expect(health.json).toEqual({ status: 'ok' });
      // The printed admin key (fresh database) works over the operator's TLS too.
      expect((await api.get('/api/v1/auth/me', { bearer: srv.adminKey })).status).toBe(200);
    } finally {
      await srv.stop();
    }
  });
});
