import { X509Certificate } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import type { IssuanceRequest, IssuanceResult } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr, pollUntilDone, rejection } from '../remote-ca/testing/connector-spec-kit';
import type { ApiAnswer, ApiRequest, FakeCaApi, TestCa } from '../remote-ca/testing/fake-ca-api';
import { startMutualTlsCa, type MutualTlsCa } from '../remote-ca/testing/mutual-tls-ca';
import { GlobalSignConnector } from './globalsign-connector';
import { clearHvcaTokens } from './hvca-session';

/**
 * Contract tests against a local GlobalSign Atlas HVCA v2 API that requires a client
 * certificate signed by its client CA (mutual TLS) and a bearer token from POST /v2/login.
 * It checks the documented requests and answers HVCA's shapes: 201 + Location for a
 * certificate request, 404 until the certificate is ready, `{certificate, status,
 * updated_at}`, the trust chain as a JSON array of PEM, and problem+json `{description}` errors.
 */

const KEY = 'gs-api-key-0123';
const SECRET = 'gs-api-secret-abcdefghijklmnop';
const REQUEST_FIELDS = new Set(['validity', 'subject_dn', 'san', 'public_key']);

let mtls: MutualTlsCa;
let api: FakeCaApi;
let ca: TestCa;
let csr: ParsedCsr;
let other: ParsedCsr;

interface HvcaCert {
  certPem: string;
  status: 'ISSUED' | 'REVOKED';
  /** GETs answered 404 before the certificate shows up. */
  hiddenFor: number;
}
let issued: Map<string, HvcaCert>;
let validTokens: Set<string>;
let logins: number;
let hiddenPolls: number;
let omitLocation: boolean;

function problem(status: number, description: string): ApiAnswer {
  return { status, body: JSON.stringify({ description }), contentType: 'application/problem+json' };
}

async function hvca(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (r.clientCn !== 'certctl-client') return problem(403, 'client certificate not recognised');
  if (r.method === 'POST' && r.path === '/v2/login') {
    const b = r.json as Record<string, unknown>;
    if (Object.keys(b).sort().join() !== 'api_key,api_secret') return problem(400, 'malformed login');
    if (b.api_key !== KEY || b.api_secret !== SECRET) return problem(401, 'Invalid API credentials');
    const token = `tok-${++logins}`;
    validTokens.add(token);
    return { status: 200, body: { access_token: token } };
  }
  const token = /^Bearer (.+)$/.exec(String(r.headers.authorization))?.[1];
  if (!token || !validTokens.has(token)) return problem(401, 'Unauthorized');
  if (r.method === 'POST' && r.path === '/v2/certificates') {
    const b = r.json as Record<string, unknown>;
    const unknown = Object.keys(b).filter((k) => !REQUEST_FIELDS.has(k));
    if (unknown.length) return problem(422, `unknown fields: ${unknown.join(', ')}`);
    const validity = b.validity as { not_before?: unknown; not_after?: unknown };
    if (typeof validity.not_before !== 'number' || typeof validity.not_after !== 'number')
      return problem(422, 'validity must have not_before and not_after');
    const cn = (b.subject_dn as { common_name?: unknown }).common_name;
    if (typeof cn !== 'string') return problem(422, 'subject_dn.common_name is required');
    if (typeof b.public_key !== 'string' || !b.public_key.includes('BEGIN CERTIFICATE REQUEST'))
      return problem(422, 'public_key must be a PEM public key or PKCS#10 request');
    if (cn === 'forbidden.example.com') return problem(422, 'subject_dn.common_name is not permitted by policy');
    const san = (b.san ?? {}) as { dns_names?: string[] };
    const ttl = validity.not_after > 0 ? validity.not_after - validity.not_before : undefined;
    const signed = await ca.sign(b.public_key, { commonName: cn, sans: { dns: san.dns_names ?? [] }, ttlSeconds: ttl });
    const serial = signed.serialHex.toUpperCase();
    issued.set(serial, { certPem: signed.certPem, status: 'ISSUED', hiddenFor: hiddenPolls });
    return {
      status: 201,
      headers: omitLocation ? {} : { location: `${api.url}/v2/certificates/${serial}` },
    };
  }
  const one = /^\/v2\/certificates\/([0-9A-F]+)$/.exec(r.path);
  if (one && r.method === 'GET') {
    const c = issued.get(one[1]);
    if (!c || c.hiddenFor-- > 0) return problem(404, 'Certificate not found');
    return { status: 200, body: { certificate: c.certPem, status: c.status, updated_at: 1_700_000_000 } };
  }
  if (one && r.method === 'DELETE') {
    const c = issued.get(one[1]);
    if (!c) return problem(404, 'Certificate not found');
    c.status = 'REVOKED';
    return { status: 204 };
  }
  if (r.method === 'GET' && r.path === '/v2/trustchain') {
    return { status: 200, body: [ca.issuing.certPem, ca.root.certPem] };
  }
  return problem(404, `no route ${r.method} ${r.path}`);
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    base_url: `${api.url}/v2`,
    api_key: KEY,
    api_secret: SECRET,
    ...mtls.tlsConfig,
    ...extra,
  };
}

const connector = (extra: Record<string, unknown> = {}) => new GlobalSignConnector({ config: config(extra) });

function request(c: ParsedCsr = csr, extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr: c, commonName: 'api.example.com', sans: { dns: ['api.example.com', 'www.example.com'] }, ...extra };
}

beforeAll(async () => {
  mtls = await startMutualTlsCa('globalsign-', 'Atlas Test');
  ({ api, ca } = mtls);
  [csr, other] = await Promise.all([newCsr('api.example.com'), newCsr('other.example.com')]);
});

afterAll(() => mtls?.stop());

beforeEach(() => {
  clearHvcaTokens();
  issued = new Map();
  validTokens = new Set();
  logins = 0;
  hiddenPolls = 2;
  omitLocation = false;
  api.received.length = 0;
  api.handler = hvca;
});

describe('GlobalSign Atlas HVCA connector (mutual TLS + API key login)', () => {
  it('logs in, requests the certificate as documented, and polls it until issued (chain from /v2/trustchain)', async () => {
    const conn = connector({ validity_days: 90 });
    const now = new Date('2026-12-06T10:00:00Z');
    const outcome = await conn.issue(request(csr, { now, profile: { max_ttl_seconds: 7 * 86_400 } as never }));
    const serial = [...issued.keys()][0];
    expect(outcome).toEqual({ state: 'pending', orderId: serial });

    const [login, post] = api.received;
    expect(login.json).toEqual({ api_key: KEY, api_secret: SECRET });
    expect(post.clientCn).toBe('certctl-client');
    expect(post.headers.authorization).toBe('Bearer tok-1');
    const notBefore = now.getTime() / 1000;
    expect(post.json).toEqual({
      // The profile's 7 days win over the issuer's 90.
      validity: { not_before: notBefore, not_after: notBefore + 7 * 86_400 },
      subject_dn: { common_name: 'api.example.com' },
      san: { dns_names: ['api.example.com', 'www.example.com'] },
      public_key: derToPem(csr.der, 'CERTIFICATE REQUEST'),
    });

    const [status, polls] = await pollUntilDone(conn, serial, csr.spkiDer);
    expect(polls).toBe(3); // two pending answers (404), then issued
    expect(status.state).toBe('issued');
    const result = (status as { result: IssuanceResult }).result;
    expect(new X509Certificate(result.certPem).subject).toContain('CN=api.example.com');
    expect(result.serialHex).toBe(serial.toLowerCase());
    expect(result.chainPem).toBe(ca.issuing.certPem);
    // One login served every call, including those of another connector instance.
    await connector().getCaCertPem();
    expect(logins).toBe(1);
  });

  it('asks for the policy maximum (not_after 0) when neither the request nor the issuer names a lifetime', async () => {
    await connector().issue(request(csr, { now: new Date(1_800_000_000_000) }));
    const post = api.received.find((r) => r.path === '/v2/certificates');
    expect((post?.json as { validity: unknown }).validity).toEqual({ not_before: 1_800_000_000, not_after: 0 });
  });

  it('logs in again when HVCA rejects the cached token (401), then retries the call once', async () => {
    const conn = connector();
    await conn.getCaCertPem();
    validTokens.clear(); // expired or revoked on the HVCA side
    expect(await conn.getCaCertPem()).toBe(ca.issuing.certPem);
    expect(logins).toBe(2);
    expect(api.received.map((r) => `${r.method} ${r.path} ${r.headers.authorization ?? ''}`.trim())).toEqual([
      'POST /v2/login',
      'GET /v2/trustchain Bearer tok-1',
      'GET /v2/trustchain Bearer tok-1',
      'POST /v2/login',
      'GET /v2/trustchain Bearer tok-2',
    ]);
  });

  it('quotes HVCA problem descriptions, classifies them, and never shows the credentials', async () => {
    const denied = await rejection(connector({ api_secret: 'wrong-secret-0000' }).issue(request()));
    expect(denied.code).toBe(ErrorCode.Validation);
    expect(denied.message).toBe('GlobalSign Atlas: POST /v2/login answered HTTP 401: Invalid API credentials');
    expect(denied.message).not.toContain('wrong-secret');

    const policy = await rejection(connector().issue(request(csr, { commonName: 'forbidden.example.com' })));
    expect(policy.code).toBe(ErrorCode.Validation);
    expect(policy.message).toBe(
      'GlobalSign Atlas: POST /v2/certificates answered HTTP 422: subject_dn.common_name is not permitted by policy',
    );

    api.handler = () => problem(503, 'Service temporarily unavailable');
    const outage = await rejection(connector().getOrderStatus('0A1B', { spkiDer: csr.spkiDer }));
    expect(outage.code).toBe(ErrorCode.Unavailable);
    expect(outage.message).toContain('HTTP 503: Service temporarily unavailable');
  });

  it('is refused at the TLS layer with a client certificate its CA did not sign (clear, retryable)', async () => {
    const err = await rejection(
      connector({ client_cert_path: mtls.certs.strangerCert, client_key_path: mtls.certs.strangerKey }).issue(
        request(),
      ),
    );
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/^GlobalSign Atlas: POST https:\/\/127\.0\.0\.1:\d+\/v2\/login failed/);
    expect(api.received).toHaveLength(0);
  });

  it('fails a call to an API that never answers within timeout_seconds (Unavailable)', async () => {
    api.handler = () => undefined;
    const err = await rejection(connector({ timeout_seconds: 1 }).issue(request()));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(
      /^GlobalSign Atlas: no answer from https:\/\/127\.0\.0\.1:\d+ to POST \/v2\/login within 1 s$/,
    );
  });

  it('refuses an answer without a Location, and a certificate for another key', async () => {
    omitLocation = true;
    const noLocation = await rejection(connector().issue(request()));
    expect(noLocation.code).toBe(ErrorCode.Unavailable);
    expect(noLocation.message).toContain('no usable Location header');

    omitLocation = false;
    hiddenPolls = 0;
    const outcome = await connector().issue(request());
    const id = (outcome as { orderId: string }).orderId;
    await expect(connector().getOrderStatus(id, { spkiDer: other.spkiDer })).rejects.toThrow(/different public key/);
    await expect(connector().getOrderStatus('../x', { spkiDer: csr.spkiDer })).rejects.toThrow(
      'is not a serial number',
    );
  });

  it('revokes with DELETE /v2/certificates/{serial}; a revoked order reads as failed', async () => {
    hiddenPolls = 0;
    const outcome = await connector().issue(request());
    const id = (outcome as { orderId: string }).orderId;
    await connector().revoke({ serialHex: id.toLowerCase(), reason: 'keyCompromise' });
    expect(api.received.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([`/v2/certificates/${id}`]);
    expect(await connector().getOrderStatus(id, { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: `certificate ${id} is revoked`,
    });
  });

  it('serves the issuing CA and tests the connection through the registry', async () => {
    expect(await connector().getCaCertPem()).toBe(ca.issuing.certPem);
    expect(await validateIssuerConnection('GlobalSign', config())).toEqual({
      ok: true,
      message: 'GlobalSign Atlas reachable; logged in, trust chain of 2 certificate(s)',
    });
    const bad = await validateIssuerConnection('GlobalSign', config({ api_key: 'nope-nope' }));
    expect(bad).toEqual({
      ok: false,
      message: 'GlobalSign Atlas: POST /v2/login answered HTTP 401: Invalid API credentials',
    });
  });
});
