import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError, ErrorCode } from '@certctl/domain';
import { buildCsr, createSelfSignedTlsBundle, generateKeyPair, parseCsr, type ParsedCsr } from '@certctl/pki';
import { ejbcaConfig } from '../issuer-configs';
import { validateIssuerConnection } from '../registry';
import { TestCa } from '../remote-ca/testing/fake-ca-api';
import { EjbcaConnector } from './ejbca-connector';
import { forgetClientCredentialTokens } from './oauth2-token';

/**
 * Contract tests of EJBCA's OAuth2 mode: a local HTTPS server plays the OAuth provider's
 * token endpoint (checks the client-credentials form: grant_type, client_id, client_secret,
 * scope; answers RFC 6749 5.1/5.2 JSON) and EJBCA's REST API (accepts only `Authorization:
 * Bearer <a token it issued and has not revoked>`, answers 401 otherwise, as EJBCA does).
 */

const API = '/ejbca/ejbca-rest-api/v1';
const CA_DN = 'CN=EJBCA OAuth Issuing';
const CLIENT_ID = 'certctl';
const CLIENT_SECRET = 's3cr3t-client-secret';
const STATIC_TOKEN = 'static-operator-token';

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let server: Server;
let url: string;
let dir: string;
let tlsCa: string;
let ca: TestCa;
let csr: ParsedCsr;
let seen: Seen[];
/** Tokens the provider issued that EJBCA still accepts. */
let valid: Set<string>;
let issued: number;
let expiresIn: number | undefined;
/** When false, EJBCA refuses every token (a role mapping removed on the EJBCA side). */
let ejbcaAccepts = true;

function tokenEndpoint(s: Seen): [number, unknown] {
  if (s.headers['content-type'] !== 'application/x-www-form-urlencoded') {
    return [400, { error: 'invalid_request', error_description: 'form body expected' }];
  }
  const form = new URLSearchParams(s.body);
  if (form.get('grant_type') !== 'client_credentials') return [400, { error: 'unsupported_grant_type' }];
  if (form.get('client_id') !== CLIENT_ID || form.get('client_secret') !== CLIENT_SECRET) {
    return [401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' }];
  }
  if (form.has('scope') && form.get('scope') !== 'ejbca-api') return [400, { error: 'invalid_scope' }];
  const token = `at-${++issued}`;
  valid.add(token);
  return [200, { access_token: token, token_type: 'Bearer', ...(expiresIn ? { expires_in: expiresIn } : {}) }];
}

async function ejbca(s: Seen): Promise<[number, unknown]> {
  const auth = String(s.headers.authorization ?? '');
  const token = /^Bearer (\S+)$/.exec(auth)?.[1];
  if (!token || !ejbcaAccepts || (!valid.has(token) && token !== STATIC_TOKEN)) {
    return [401, { error_code: 401, error_message: 'Authentication failed: invalid bearer token' }];
  }
  if (s.method === 'GET' && s.path === `${API}/ca`) {
    return [200, { certificate_authorities: [{ id: 1, name: 'IssuingCA', subject_dn: CA_DN, issuer_dn: 'CN=Root' }] }];
  }
  if (s.method === 'POST' && s.path === `${API}/certificate/pkcs10enroll`) {
    const b = JSON.parse(s.body) as Record<string, unknown>;
    const signed = await ca.sign(String(b.certificate_request), {
      commonName: 'app.example.com',
      sans: { dns: ['app.example.com'] },
    });
    return [
      201,
      {
        certificate: new X509Certificate(signed.certPem).raw.toString('base64'),
        serial_number: signed.serialHex.toUpperCase(),
        response_format: 'DER',
        certificate_chain: [new X509Certificate(ca.issuing.certPem).raw.toString('base64')],
      },
    ];
  }
  const revoke = new RegExp(`^${API}/certificate/([^/]+)/([0-9a-f]+)/revoke\\?reason=([A-Z_]+)$`).exec(s.path);
  if (s.method === 'PUT' && revoke) return [200, { revoked: true }];
  return [404, { error_code: 404, error_message: `no route ${s.method} ${s.path}` }];
}

function oauth(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    base_url: url,
    auth_mode: 'oauth2',
    token_url: `${url}/realms/pki/protocol/openid-connect/token`,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    ca_name: 'IssuingCA',
    certificate_profile: 'TLSServer',
    end_entity_profile: 'WebEE',
    trust_ca_path: tlsCa,
    ...extra,
  };
}

const tokenCalls = () => seen.filter((s) => s.path.endsWith('/token'));
const apiCalls = () => seen.filter((s) => s.path.startsWith(API));

async function rejection(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ejbca-oauth-'));
  const tls = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  tlsCa = join(dir, 'tls-ca.pem');
  writeFileSync(tlsCa, tls.caCertPem);
  ca = await TestCa.create('EJBCA OAuth');
  server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(s);
      const answer = s.path.endsWith('/token') ? Promise.resolve(tokenEndpoint(s)) : ejbca(s);
      void answer.then(([status, body]) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  csr = await parseCsr(await buildCsr({ keys: await generateKeyPair('ECDSA-P256'), commonName: 'app.example.com' }));
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen = [];
  valid = new Set();
  issued = 0;
  expiresIn = 3600;
  forgetClientCredentialTokens();
});

describe('EJBCA REST connector (OAuth2 bearer token)', () => {
  it('fetches a token with the client-credentials form, sends it as Bearer, and reuses it while valid', async () => {
    const c = new EjbcaConnector({ config: oauth({ scope: 'ejbca-api' }) });
    const result = await c.issue({ csr, commonName: 'app.example.com', sans: { dns: ['app.example.com'] } });
    expect(new X509Certificate(result.certPem).subject).toContain('CN=app.example.com');
    await new EjbcaConnector({ config: oauth({ scope: 'ejbca-api' }) }).revoke({
      serialHex: '0a',
      reason: 'superseded',
    });

    expect(tokenCalls()).toHaveLength(1);
    const t = tokenCalls()[0];
    expect(t.method).toBe('POST');
    expect(t.path).toBe('/realms/pki/protocol/openid-connect/token');
    expect(Object.fromEntries(new URLSearchParams(t.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      scope: 'ejbca-api',
    });
    expect(apiCalls().map((s) => [s.method, s.headers.authorization])).toEqual([
      ['POST', 'Bearer at-1'],
      ['GET', 'Bearer at-1'],
      ['PUT', 'Bearer at-1'],
    ]);
  });

  it('fetches a new token once shortly before the cached one expires', async () => {
    expiresIn = 30; // inside the renewal margin: never reused
    const c = new EjbcaConnector({ config: oauth() });
    expect(await c.check()).toEqual({ ok: true, message: `EJBCA reachable; CA IssuingCA (${CA_DN})` });
    expect(await c.check()).toMatchObject({ ok: true });
    expect(tokenCalls()).toHaveLength(2);
    expect(new URLSearchParams(tokenCalls()[0].body).has('scope')).toBe(false);
    expect(apiCalls().map((s) => s.headers.authorization)).toEqual(['Bearer at-1', 'Bearer at-2']);
  });

  it('on 401 drops the cached token and retries once with a fresh one', async () => {
    const c = new EjbcaConnector({ config: oauth() });
    await c.check();
    valid.clear(); // the provider revoked every token it issued
    expect(await c.check()).toMatchObject({ ok: true });
    expect(apiCalls().map((s) => s.headers.authorization)).toEqual(['Bearer at-1', 'Bearer at-1', 'Bearer at-2']);
  });

  it('a token EJBCA keeps refusing is one retry, then a clear 4xx error', async () => {
    const c = new EjbcaConnector({ config: oauth() });
    await c.check();
    ejbcaAccepts = false;
    try {
      const err = await rejection(c.revoke({ serialHex: '0b', reason: 'keyCompromise' }));
      expect(err.code).toBe(ErrorCode.Validation);
      expect(err.message).toBe(`EJBCA: GET ${API}/ca answered HTTP 401: Authentication failed: invalid bearer token`);
      expect(tokenCalls()).toHaveLength(2);
    } finally {
      ejbcaAccepts = true;
    }
  });

  it('quotes the provider’s OAuth error and never the secret', async () => {
    const err = await rejection(
      new EjbcaConnector({ config: oauth({ client_secret: 'wrong-secret' }) }).getCaCertPem(),
    );
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(ErrorCode.Validation);
    expect(err.message).toBe(
      `EJBCA: token request to ${url} answered HTTP 401: invalid_client: Invalid client or Invalid client credentials`,
    );
    expect(err.message).not.toContain('wrong-secret');
    expect(apiCalls()).toHaveLength(0);
  });

  it('sends a static token as is (no token endpoint)', async () => {
    const cfg = oauth({ token: STATIC_TOKEN, token_url: undefined, client_id: undefined, client_secret: undefined });
    expect(await validateIssuerConnection('EJBCA', cfg)).toEqual({
      ok: true,
      message: `EJBCA reachable; CA IssuingCA (${CA_DN})`,
    });
    expect(tokenCalls()).toHaveLength(0);
    expect(apiCalls().map((s) => s.headers.authorization)).toEqual([`Bearer ${STATIC_TOKEN}`]);
  });

  it('validates the auth settings field by field, with the secrets marked secret', () => {
    const issues = (cfg: Record<string, unknown>) => {
      const r = ejbcaConfig.schema.safeParse(cfg);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues(oauth())).toEqual([]);
    expect(issues(oauth({ client_secret: undefined }))).toEqual([
      'client_secret: is required for the client-credentials grant',
    ]);
    expect(issues(oauth({ token: 'x' }))).toEqual([
      'token: is a static token: leave it out when token_url, client_id and client_secret are set',
    ]);
    expect(issues(oauth({ token_url: undefined, client_id: undefined, client_secret: undefined }))).toEqual([
      'token_url: auth_mode oauth2 needs token_url, client_id and client_secret (or a static token)',
    ]);
    expect(issues(oauth({ token_url: 'http://idp.example.com/token' }))[0]).toMatch(/^token_url: /);
    expect(issues(oauth({ auth_mode: 'mtls' }))).toEqual([
      'client_cert_path: is required for auth_mode mtls',
      'client_key_path: is required for auth_mode mtls',
      'token_url: only applies to auth_mode oauth2',
      'client_id: only applies to auth_mode oauth2',
      'client_secret: only applies to auth_mode oauth2',
    ]);
    expect([...ejbcaConfig.secretFields].sort()).toEqual(['client_key_passphrase', 'client_secret', 'token']);
  });
});
