import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { apiCall, HttpsClient, renewAndWait, type HttpsResponse } from './support/https';
import { openssl } from './support/openssl';
import {
  cleanupAll,
  runServerExpectingExit,
  startIssuingServer,
  startServer,
  tempDir,
  type ServerProcess,
} from './support/server-process';
import { freePort, isListening, runCommand } from './support/util';

/**
 * The plain-HTTP PKI listener (CERTCTL_PKI_HTTP_PORT) and CERTCTL_PKI_PUBLIC_URL, against the
 * built server: a Local CA certificate's CRL DP and AIA (OCSP, caIssuers) point at
 * http://127.0.0.1:<pki port>; `openssl ocsp` over that URL says good, then revoked; the CRL
 * fetched over HTTP lists the revoked serial; the caIssuers URL serves the DER CA
 * certificate; nothing but /.well-known/pki/* is reachable on that port; the HTTPS listener
 * still serves the PKI endpoints; SIGTERM closes both listeners and exits 0.
 */

const tag = randomBytes(3).toString('hex');
const issuerId = `iss-e2e-pkihttp-${tag}`;
const profileId = `prof-e2e-pkihttp-${tag}`;
const certId = `mc-e2e-pkihttp-${tag}`;
const ONLY_PKI = /this port serves only \/\.well-known\/pki/;

let srv: ServerProcess;
let api: HttpsClient;
let admin: string;
let dir: string;
let pkiPort: number;
let pkiBase: string;

beforeAll(async () => {
  pkiPort = await freePort();
  pkiBase = `http://127.0.0.1:${pkiPort}`;
  ({ srv, api, admin } = await startIssuingServer('pki-http', {
    CERTCTL_KEYGEN_MODE: 'server',
    CERTCTL_PKI_HTTP_PORT: String(pkiPort),
    CERTCTL_PKI_PUBLIC_URL: pkiBase,
  }));
  dir = await tempDir('certctl-e2e-pkihttp-');
}, 60_000);

afterAll(cleanupAll, 60_000);

const call = (method: 'GET' | 'POST', path: string, body?: object, expected = 200): Promise<HttpsResponse> =>
  apiCall(api, admin, method, path, body, expected);

interface Fetched {
  code: string;
  type: string;
  body: string;
}

/** curl with the body to `out` (or returned as text); `https` trusts only the server's TLS CA. */
async function curl(url: string, out?: string, extra: string[] = []): Promise<Fetched> {
  const file = out ?? join(dir, `body-${randomBytes(4).toString('hex')}`);
  const tls = url.startsWith('https://') ? ['--cacert', srv.caFile!] : [];
  const r = await runCommand('curl', [
    '-sS', '--noproxy', '*', '--max-time', '10', ...tls,
    '-o', file, '-w', '%{http_code} %{content_type}', ...extra, url,
  ]); // prettier-ignore
  expect({ url, exit: r.code, stderr: r.stderr }).toEqual({ url, exit: 0, stderr: '' });
  const space = r.stdout.indexOf(' ');
  const [code, type] = space < 0 ? [r.stdout, ''] : [r.stdout.slice(0, space), r.stdout.slice(space + 1)];
  return { code, type, body: out ? '' : await readFile(file, 'utf8').catch(() => '') };
}

async function serialOf(file: string): Promise<string> {
  return (await openssl(['x509', '-in', file, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '');
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('plain-HTTP PKI listener', () => {
  let leafFile: string;
  let rootFile: string;
  let ocspUrl: string;
  let crlUrl: string;

  test('the banner names the PKI listener', () => {
    expect(srv.banner).toContain(`PKI (HTTP):   ${pkiBase}/.well-known/pki/`);
  });

  test('an issued certificate points its CRL DP and AIA at the http:// PKI base', async () => {
    await call('POST', '/api/v1/issuers', { id: issuerId, name: `E2E PKI HTTP ${tag}`, type: 'LocalCA' }, 201);
    await call(
      'POST',
      '/api/v1/profiles',
      {
        id: profileId,
        name: `E2E PKI HTTP ${tag}`,
        allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
        max_ttl_seconds: 7 * 86_400,
      },
      201,
    );
    await call(
      'POST',
      '/api/v1/certificates',
      { id: certId, name: certId, common_name: 'www.pkihttp.example.com', issuer_id: issuerId, profile_id: profileId },
      201,
    );
    const done = await renewAndWait(api, admin, certId);
    expect({ status: done.status, error: done.last_error }).toEqual({ status: 'Completed', error: null });
    const pem = await call('GET', `/api/v1/certificates/${certId}/export/pem`);
    leafFile = join(dir, 'leaf.pem');
    await writeFile(leafFile, pem.json.certificate_pem);

    const text = (await openssl(['x509', '-in', leafFile, '-noout', '-text'])).stdout;
    ocspUrl = /OCSP - URI:(\S+)/.exec(text)?.[1] ?? '';
    crlUrl = /X509v3 CRL Distribution Points:[\s\S]*?URI:(\S+)/.exec(text)?.[1] ?? '';
    const caIssuers = /CA Issuers - URI:(\S+)/.exec(text)?.[1] ?? '';
    expect({ ocspUrl, crlUrl, caIssuers }).toEqual({
      ocspUrl: `${pkiBase}/.well-known/pki/ocsp/${issuerId}`,
      crlUrl: `${pkiBase}/.well-known/pki/crl/${issuerId}`,
      caIssuers: `${pkiBase}/.well-known/pki/ca/${issuerId}.crt`,
    });

    // caIssuers over plain HTTP: the DER issuer (root) certificate, which verifies the leaf.
    const der = join(dir, 'root.der');
    expect(await curl(caIssuers, der)).toMatchObject({ code: '200', type: 'application/pkix-cert' });
    rootFile = join(dir, 'root.pem');
    await openssl(['x509', '-inform', 'DER', '-in', der, '-out', rootFile]);
    expect((await openssl(['verify', '-CAfile', rootFile, leafFile])).stdout.trim()).toBe(`${leafFile}: OK`);
  });

  /** openssl ocsp as the relying party, POSTing (with a nonce) to the AIA URL over plain HTTP. */
  async function ocspStatus(): Promise<string> {
    const r = await openssl([
      'ocsp', '-issuer', rootFile, '-cert', leafFile, '-url', ocspUrl, '-CAfile', rootFile, '-timeout', '10',
    ]); // prettier-ignore
    expect(r.stderr).toContain('Response verify OK');
    return r.stdout;
  }

  /** The OCSP GET form (RFC 6960 A.1) over plain HTTP, twice: the second answer comes from the OCSP fast path's cache. */
  async function ocspGetStatus(label: string): Promise<string> {
    const req = join(dir, `${label}-req.der`);
    await openssl(['ocsp', '-issuer', rootFile, '-cert', leafFile, '-no_nonce', '-reqout', req]);
    const url = `${ocspUrl}/${encodeURIComponent((await readFile(req)).toString('base64'))}`;
    const lines: string[] = [];
    for (const n of [1, 2]) {
      const resp = join(dir, `${label}-get-${n}.der`);
      expect(await curl(url, resp)).toMatchObject({ code: '200', type: 'application/ocsp-response' });
      const r = await openssl([
        'ocsp', '-respin', resp, '-issuer', rootFile, '-cert', leafFile, '-no_nonce', '-CAfile', rootFile,
      ]); // prettier-ignore
      expect(r.stderr).toContain('Response verify OK');
      lines.push(r.stdout);
    }
    expect(lines[1]).toBe(lines[0]);
    return lines[0];
  }

  async function crlText(label: string): Promise<string> {
    const der = join(dir, `${label}-crl.der`);
    expect(await curl(crlUrl, der)).toMatchObject({ code: '200', type: 'application/pkix-crl' });
    const verified = await openssl(['crl', '-inform', 'DER', '-in', der, '-noout', '-CAfile', rootFile]);
    expect(verified.stderr + verified.stdout).toContain('verify OK');
    return (await openssl(['crl', '-inform', 'DER', '-in', der, '-noout', '-text'])).stdout;
  }

  test('before revocation: OCSP over HTTP says good (POST and GET); the CRL parses without the serial', async () => {
    const good = new RegExp(`^${escapeRe(leafFile)}: good$`, 'm');
    expect(await ocspStatus()).toMatch(good);
    expect(await ocspGetStatus('before')).toMatch(good);
    const text = await crlText('before');
    expect(text).toContain('Certificate Revocation List');
    expect(text).not.toContain(`Serial Number: ${await serialOf(leafFile)}`);
  });

  test('after revocation: OCSP over HTTP says revoked; the CRL over HTTP lists the serial', async () => {
    const revoked = await call('POST', `/api/v1/certificates/${certId}/revoke`, { reason: 'keyCompromise' });
    expect(revoked.json.status).toBe('Revoked');
    const line = new RegExp(`^${escapeRe(leafFile)}: revoked$[\\s\\S]*Reason: keyCompromise`, 'm');
    expect(await ocspStatus()).toMatch(line);
    expect(await ocspGetStatus('after')).toMatch(line);
    expect(await crlText('after')).toContain(`Serial Number: ${await serialOf(leafFile)}`);
  });

  test('the HTTPS listener still serves /.well-known/pki', async () => {
    const https = crlUrl.replace(pkiBase, srv.baseUrl);
    expect(https.startsWith('https://')).toBe(true);
    expect(await curl(https, join(dir, 'https-crl.der'))).toMatchObject({ code: '200', type: 'application/pkix-crl' });
    const ca = `${srv.baseUrl}/.well-known/pki/ca/${issuerId}.crt`;
    expect(await curl(ca, join(dir, 'https-ca.der'))).toMatchObject({ code: '200', type: 'application/pkix-cert' });
  });

  test.each<[string, string[]]>([
    ['/api/v1/auth/me', []],
    ['/health', []],
    ['/ready', []],
    ['/acme/directory', []],
    ['/scep?operation=GetCACaps', []],
    ['/.well-known/est/cacerts', []],
    ['/api/docs', []],
    ['/.well-known/pkix', []],
    // Dot segments, plain and encoded, never climb out of /.well-known/pki.
    ['/.well-known/pki/../../health', ['--path-as-is']],
    ['/.well-known/pki/%2e%2e/%2e%2e/api/v1/auth/me', ['--path-as-is']],
  ])('%s on the PKI port -> 404 naming what the port serves', async (path, extra) => {
    const r = await curl(`${pkiBase}${path}`, undefined, [...extra, '-H', `Authorization: Bearer ${admin}`]);
    expect({ path, code: r.code, type: r.type }).toEqual({
      path,
      code: '404',
      type: 'application/json; charset=utf-8',
    });
    expect(JSON.parse(r.body)).toMatchObject({ error: 'Not Found', message: expect.stringMatching(ONLY_PKI) });
  });

  test('the PKI port answers only GET, HEAD and POST', async () => {
    const r = await curl(`${crlUrl}`, undefined, ['-X', 'DELETE']);
    expect({ code: r.code, message: JSON.parse(r.body).message }).toEqual({
      code: '405',
      message: expect.stringContaining('GET, HEAD, POST'),
    });
    const head = await curl(crlUrl, undefined, ['-I']);
    expect(head).toMatchObject({ code: '200', type: 'application/pkix-crl' });
  });

  test('SIGTERM closes both listeners and the process exits 0', async () => {
    expect(await isListening(pkiPort)).toBe(true);
    expect(await srv.stop()).toEqual({ code: 0, signal: null });
    expect(await isListening(pkiPort)).toBe(false);
    expect(await isListening(srv.port)).toBe(false);
  });
});

describe('boot refuses bad PKI settings (exit 2, naming the variable)', () => {
  test.each<[Record<string, string>, string]>([
    [{ CERTCTL_PKI_HTTP_PORT: '70000' }, 'CERTCTL_PKI_HTTP_PORT'],
    [{ CERTCTL_PKI_HTTP_PORT: '8080', CERTCTL_PKI_HTTP_HOST: 'pki.example.com' }, 'CERTCTL_PKI_HTTP_HOST'],
    [{ CERTCTL_PKI_PUBLIC_URL: 'ftp://pki.example.com' }, 'CERTCTL_PKI_PUBLIC_URL'],
    [{ CERTCTL_PKI_PUBLIC_URL: 'http://pki.example.com/?x=1' }, 'CERTCTL_PKI_PUBLIC_URL'],
  ])('%j', async (env, name) => {
    const r = await runServerExpectingExit(env);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 2, signal: null });
    expect(r.stderr).toContain(name);
    expect(r.stdout).not.toContain('listening on');
  });

  test('a PKI port already in use stops the boot naming CERTCTL_PKI_HTTP_PORT', async () => {
    const busy: Server = createServer();
    const port = await freePort();
    await new Promise<void>((ok) => busy.listen(port, '127.0.0.1', ok));
    try {
      const r = await runServerExpectingExit({
        CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-pki-http-key-${randomBytes(16).toString('hex')}`,
        CERTCTL_PKI_HTTP_PORT: String(port),
      });
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 2, signal: null });
      expect(r.stderr).toMatch(/CERTCTL_PKI_HTTP_PORT: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      await new Promise((ok) => busy.close(ok));
    }
  }, 60_000);

  test('an http:// CERTCTL_PKI_PUBLIC_URL without CERTCTL_PKI_HTTP_PORT boots, with a notice', async () => {
    const other = await startServer({
      env: {
        CERTCTL_CONFIG_ENCRYPTION_KEY: `e2e-pki-http-key-${randomBytes(16).toString('hex')}`,
        CERTCTL_PKI_PUBLIC_URL: 'http://pki.example.com',
      },
    });
    expect(other.stdout()).toMatch(
      /CERTCTL_PKI_PUBLIC_URL is http:\/\/ \(http:\/\/pki\.example\.com\) but CERTCTL_PKI_HTTP_PORT is unset/,
    );
    expect(other.banner).not.toContain('PKI (HTTP)');
    expect(await other.stop()).toEqual({ code: 0, signal: null });
  }, 60_000);
});
