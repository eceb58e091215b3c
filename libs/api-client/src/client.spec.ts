import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, createCertctlClient, isApiError, unwrap } from './index';

/** A real HTTPS server (certificate from the openssl CLI) that records what it receives. */

const dir = mkdtempSync(join(tmpdir(), 'certctl-api-client-'));
const openssl = (args: string[]): void => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
};
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function makeCa(name: string): void {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']); // prettier-ignore
}

let server: Server;
let baseUrl: string;
let caPem: string;
let otherCaPem: string;
const seen: { method?: string; url?: string; auth?: string; body: string }[] = [];

beforeAll(async () => {
  makeCa('ca');
  makeCa('other');
  openssl(['req', '-x509', ...EC, '-keyout', 'srv.key', '-out', 'srv.pem', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-CA', 'ca.pem', '-CAkey', 'ca.key', '-addext', 'subjectAltName=IP:127.0.0.1']); // prettier-ignore
  caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  otherCaPem = readFileSync(join(dir, 'other.pem'), 'utf8');
  server = createServer(
    { key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')) },
    (req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
        if (req.url === '/api/v1/agents/ag-1/heartbeat') {
          res.writeHead(410, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'Gone', message: 'agent "ag-1" was retired', request_id: 'req-410' }));
        } else if (req.url === '/api/v1/agents/ag-2/heartbeat') {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('bad gateway');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ version: '1.2.3', node: 'v20', api: 'v1' }));
        }
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('createCertctlClient', () => {
  it('trusts the CA bundle and sends the API key as a Bearer token', async () => {
    const client = createCertctlClient({ baseUrl: `${baseUrl}/`, apiKey: 'cc_test_key', caBundlePem: caPem });
    try {
      const v = await unwrap(client.GET('/api/v1/version'));
      expect(v).toEqual({ version: '1.2.3', node: 'v20', api: 'v1' });
      const hb = await client.POST('/api/v1/agents/{id}/heartbeat', {
        params: { path: { id: 'ag-3' } },
        body: { os: 'linux' },
      });
      expect(hb.response.status).toBe(200);
    } finally {
      await client.close();
    }
    expect(seen.slice(-2)).toEqual([
      { method: 'GET', url: '/api/v1/version', auth: 'Bearer cc_test_key', body: '' },
      { method: 'POST', url: '/api/v1/agents/ag-3/heartbeat', auth: 'Bearer cc_test_key', body: '{"os":"linux"}' },
    ]);
  });

  it('refuses a server whose certificate the bundle does not vouch for', async () => {
    const before = seen.length;
    const client = createCertctlClient({ baseUrl, apiKey: 'k', caBundlePem: otherCaPem });
    try {
      await expect(client.GET('/api/v1/version')).rejects.toThrow(/fetch failed/);
    } finally {
      await client.close();
    }
    expect(seen.length).toBe(before);
  });
});

describe('unwrap / ApiError', () => {
  it('turns a JSON error body into a typed ApiError', async () => {
    const client = createCertctlClient({ baseUrl, apiKey: 'k', caBundlePem: caPem });
    try {
      const err = await unwrap(
        client.POST('/api/v1/agents/{id}/heartbeat', { params: { path: { id: 'ag-1' } }, body: {} }),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(isApiError(err, 410)).toBe(true);
      expect(isApiError(err, 404)).toBe(false);
      expect({ ...(err as ApiError), message: (err as ApiError).message }).toEqual({
        status: 410,
        error: 'Gone',
        message: 'agent "ag-1" was retired',
        request_id: 'req-410',
        details: undefined,
        name: 'ApiError',
      });
    } finally {
      await client.close();
    }
  });

  it('keeps a non-JSON error body as the message', async () => {
    const client = createCertctlClient({ baseUrl, apiKey: 'k', caBundlePem: caPem });
    try {
      const err = (await unwrap(
        client.POST('/api/v1/agents/{id}/heartbeat', { params: { path: { id: 'ag-2' } }, body: {} }),
      ).catch((e: unknown) => e)) as ApiError;
      expect([err.status, err.error, err.message, err.request_id]).toEqual([
        502,
        'Bad Gateway',
        'bad gateway',
        undefined,
      ]);
    } finally {
      await client.close();
    }
  });

  it('keeps structured extra fields (e.g. the retire 409 counts)', () => {
    const e = ApiError.from(
      { status: 409, statusText: 'Conflict', headers: new Headers({ 'x-request-id': 'r-9' }) },
      { error: 'Conflict', message: 'blocked', active_targets: 1 },
    );
    expect([e.status, e.request_id, e.details]).toEqual([409, 'r-9', { active_targets: 1 }]);
  });
});
