import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { isPendingOrder, type IssuanceRequest, type IssuanceResult } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr, rejection, trustFileDir } from '../remote-ca/testing/connector-spec-kit';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../remote-ca/testing/fake-ca-api';
import { CLOUD_PLATFORM_SCOPE, forgetGoogleTokens } from './google-auth';
import { GoogleCasConnector } from './google-cas-connector';

/**
 * Contract tests against a local HTTPS stand-in for Google: its /token endpoint checks the
 * service account's JWT bearer grant (RS256 signature verified with the account's public
 * key, iss/aud/scope claims) and hands out access tokens; its privateca v1 routes check the
 * bearer token, the documented paths, query parameters and JSON fields, and answer with the
 * documented Certificate / error shapes.
 */

const PROJECT = 'certctl-test-project';
const LOCATION = 'europe-west1';
const POOL = 'web-pool';
const POOL_NAME = `projects/${PROJECT}/locations/${LOCATION}/caPools/${POOL}`;
const SA_EMAIL = 'certctl@certctl-test-project.iam.gserviceaccount.com';
const CERT_FIELDS = new Set(['pemCsr', 'lifetime', 'certificateTemplate']);

let api: FakeCaApi;
let ca: TestCa;
let dir: string;
let caFile: string;
let csr: ParsedCsr;
let saPublic: KeyObject;
let saPrivatePem: string;
let otherPrivatePem: string;

/** Google's state: tokens granted, certificates created. */
let granted: Set<string>;
let tokenRequests: number;
let certificates: Map<
  string,
  { name: string; pemCertificate: string; serial: string; body: unknown; revoked?: string }
>;
let revocations: { name: string; body: unknown }[];

function googleError(status: number, code: string, message: string): ApiAnswer {
  return { status, body: { error: { code: status, message, status: code } } };
}

async function google(r: ApiRequest): Promise<ApiAnswer | undefined> {
  const url = new URL(r.path, 'https://x');
  if (r.method === 'POST' && url.pathname === '/token') return tokenEndpoint(r);
  const auth = r.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ') || !granted.has(auth.slice(7))) {
    return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
  }
  const p = url.pathname;
  if (r.method === 'POST' && p === `/v1/${POOL_NAME}/certificates`) {
    const id = url.searchParams.get('certificateId') ?? '';
    if (!/^[a-zA-Z0-9_-]{1,63}$/.test(id)) return googleError(400, 'INVALID_ARGUMENT', 'certificate_id is invalid');
    if (!/^[0-9a-f-]{36}$/.test(url.searchParams.get('requestId') ?? ''))
      return googleError(400, 'INVALID_ARGUMENT', 'request_id must be a UUID');
    const caId = url.searchParams.get('issuingCertificateAuthorityId');
    if (caId !== null && caId !== 'ca-1') return googleError(404, 'NOT_FOUND', `CA ${caId} not found`);
    const b = r.json as Record<string, unknown>;
    const unknown = Object.keys(b).filter((k) => !CERT_FIELDS.has(k));
    if (unknown.length) return googleError(400, 'INVALID_ARGUMENT', `Unknown name "${unknown[0]}"`);
    if (typeof b.pemCsr !== 'string' || !b.pemCsr.includes('BEGIN CERTIFICATE REQUEST'))
      return googleError(400, 'INVALID_ARGUMENT', 'pem_csr is invalid');
    const lifetime = /^(\d+)s$/.exec(String(b.lifetime));
    if (!lifetime) return googleError(400, 'INVALID_ARGUMENT', 'lifetime must be a duration');
    const name = `${POOL_NAME}/certificates/${id}`;
    if (certificates.has(name)) return googleError(409, 'ALREADY_EXISTS', `Resource '${name}' already exists`);
    const signed = await ca.sign(b.pemCsr, {
      commonName: 'shop.example.com',
      sans: { dns: ['shop.example.com'] },
      ttlSeconds: Number(lifetime[1]),
    });
    const cert = { name, pemCertificate: signed.certPem, serial: signed.serialHex, body: b };
    certificates.set(name, cert);
    return { status: 200, body: casCertificate(cert) };
  }
  const one = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/caPools\/[^/]+\/certificates\/[^/:]+)$/.exec(p);
  if (r.method === 'GET' && one) {
    const c = certificates.get(one[1]);
    return c ? { status: 200, body: casCertificate(c) } : googleError(404, 'NOT_FOUND', 'Certificate not found');
  }
  if (r.method === 'GET' && p === `/v1/${POOL_NAME}/certificates`) {
    const m = /^certificate_description\.subject_description\.hex_serial_number="([0-9a-f]+)"$/.exec(
      url.searchParams.get('filter') ?? '',
    );
    if (!m) return googleError(400, 'INVALID_ARGUMENT', 'invalid filter');
    const found = [...certificates.values()].filter((c) => c.serial === m[1]);
    return { status: 200, body: found.length ? { certificates: found.map(casCertificate) } : {} };
  }
  const revoke = /^\/v1\/(.+\/certificates\/[^/:]+):revoke$/.exec(p);
  if (r.method === 'POST' && revoke) {
    const c = certificates.get(revoke[1]);
    if (!c) return googleError(404, 'NOT_FOUND', 'Certificate not found');
    c.revoked = String((r.json as { reason?: unknown }).reason);
    revocations.push({ name: revoke[1], body: r.json });
    return { status: 200, body: { name: revoke[1], revocationDetails: { revocationState: 'KEY_COMPROMISE' } } };
  }
  if (r.method === 'POST' && p === `/v1/${POOL_NAME}:fetchCaCerts`) {
    return { status: 200, body: { caCerts: [{ certificates: [ca.issuing.certPem, ca.root.certPem] }] } };
  }
  if (r.method === 'GET' && p === `/v1/${POOL_NAME}/certificateAuthorities/ca-1`) {
    return {
      status: 200,
      body: {
        name: `${POOL_NAME}/certificateAuthorities/ca-1`,
        pemCaCertificates: [ca.issuing.certPem, ca.root.certPem],
      },
    };
  }
  if (r.method === 'GET' && p === `/v1/${POOL_NAME}`) return { status: 200, body: { name: POOL_NAME, tier: 'DEVOPS' } };
  return googleError(404, 'NOT_FOUND', `no route ${r.method} ${p}`);
}

/** OAuth2 JWT bearer grant (RFC 7523) as Google's token endpoint documents it. */
async function tokenEndpoint(r: ApiRequest): Promise<ApiAnswer> {
  tokenRequests++;
  const bad = (error: string, description: string): ApiAnswer => ({
    status: 400,
    body: { error, error_description: description },
  });
  if (r.headers['content-type'] !== 'application/x-www-form-urlencoded') return bad('invalid_request', 'form body');
  const form = new URLSearchParams(r.text);
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    return bad('unsupported_grant_type', 'Invalid grant_type');
  const assertion = form.get('assertion') ?? '';
  try {
    const header = decodeProtectedHeader(assertion);
    if (header.alg !== 'RS256' || header.typ !== 'JWT' || header.kid !== 'key-1') throw new Error('header');
    const { payload } = await jwtVerify(assertion, saPublic, { issuer: SA_EMAIL, audience: `${api.url}/token` });
    if (payload.scope !== CLOUD_PLATFORM_SCOPE || (payload.exp ?? 0) - (payload.iat ?? 0) > 3600)
      throw new Error('claims');
  } catch {
    return bad('invalid_grant', 'Invalid JWT Signature.');
  }
  const token = `ya29.test-${tokenRequests}`;
  granted.add(token);
  return { status: 200, body: { access_token: token, expires_in: 3599, token_type: 'Bearer' } };
}

function casCertificate(c: { name: string; pemCertificate: string; revoked?: string }): Record<string, unknown> {
  return {
    name: c.name,
    pemCertificate: c.pemCertificate,
    pemCertificateChain: [ca.issuing.certPem, ca.root.certPem],
    ...(c.revoked
      ? { revocationDetails: { revocationState: c.revoked, revocationTime: new Date().toISOString() } }
      : {}),
  };
}

function serviceAccount(privateKeyPem = saPrivatePem): string {
  return JSON.stringify({
    type: 'service_account',
    project_id: PROJECT,
    private_key_id: 'key-1',
    private_key: privateKeyPem,
    client_email: SA_EMAIL,
    client_id: '1234567890',
    token_uri: `${api.url}/token`,
  });
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project: PROJECT,
    location: LOCATION,
    ca_pool: POOL,
    credentials_json: serviceAccount(),
    base_url: api.url,
    ca_cert_path: caFile,
    ...extra,
  };
}

function connector(extra: Record<string, unknown> = {}): GoogleCasConnector {
  return new GoogleCasConnector({ config: config(extra) });
}

function request(extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr, commonName: 'shop.example.com', sans: { dns: ['shop.example.com'] }, ...extra };
}

beforeAll(async () => {
  [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('CAS Test')]);
  ({ dir, tlsCaFile: caFile } = trustFileDir('gcas-', api.tlsCaPem));
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  saPublic = sa.publicKey;
  saPrivatePem = sa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  otherPrivatePem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
});

afterAll(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  forgetGoogleTokens();
  granted = new Set();
  tokenRequests = 0;
  certificates = new Map();
  revocations = [];
  api.received.length = 0;
  api.handler = google;
  csr = await newCsr('shop.example.com');
});

describe('Google CAS connector', () => {
  it('gets a token with a signed JWT grant, creates the certificate with the documented request and caches the token', async () => {
    const conn = connector({ lifetime: '90d' });
    const outcome = await conn.issue(request({ profile: { max_ttl_seconds: 30 * 86_400 } as never }));
    expect(isPendingOrder(outcome)).toBe(false);
    const result = outcome as IssuanceResult;

    const [post] = api.received.filter((r) => r.path.startsWith(`/v1/${POOL_NAME}/certificates?`));
    expect(post.method).toBe('POST');
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.headers.authorization).toBe('Bearer ya29.test-1');
    const query = new URL(post.path, 'https://x').searchParams;
    expect(query.get('certificateId')).toMatch(/^certctl-[0-9a-f]{40}$/);
    expect(query.has('issuingCertificateAuthorityId')).toBe(false);
    // The profile's 30-day max TTL wins over the issuer's 90 days.
    expect(post.json).toEqual({ pemCsr: derToPem(csr.der, 'CERTIFICATE REQUEST'), lifetime: '2592000s' });

    const stored = [...certificates.values()][0];
    expect(result.serialHex).toBe(stored.serial);
    expect(result.certPem).toBe(stored.pemCertificate);
    expect(result.chainPem).toBe(ca.issuing.certPem); // the root is dropped

    // A second issuance by another connector instance reuses the cached token.
    await connector().issue(request({ csr: await newCsr('shop.example.com') }));
    expect(tokenRequests).toBe(1);
  });

  it('names the issuing CA and the certificate template when configured', async () => {
    await connector({ certificate_authority: 'ca-1', certificate_template: 'tls-server' }).issue(request());
    const [post] = api.received.filter((r) => r.method === 'POST' && r.path.includes('/certificates?'));
    expect(new URL(post.path, 'https://x').searchParams.get('issuingCertificateAuthorityId')).toBe('ca-1');
    expect((post.json as { certificateTemplate: string }).certificateTemplate).toBe(
      `projects/${PROJECT}/locations/${LOCATION}/certificateTemplates/tls-server`,
    );
  });

  it('a retried issuance for the same CSR reads the certificate CAS already created (409) instead of a second one', async () => {
    const first = (await connector().issue(request())) as IssuanceResult;
    const again = (await connector().issue(request())) as IssuanceResult;
    expect(again.serialHex).toBe(first.serialHex);
    expect(certificates.size).toBe(1);
    expect(api.received.filter((r) => r.method === 'GET' && r.path.includes('/certificates/certctl-'))).toHaveLength(1);
  });

  it('does not reuse a revoked certificate for the same CSR: it creates a new one', async () => {
    const first = (await connector().issue(request())) as IssuanceResult;
    await connector().revoke({ serialHex: first.serialHex, reason: 'superseded' });
    const again = (await connector().issue(request())) as IssuanceResult;
    expect(again.serialHex).not.toBe(first.serialHex);
    expect(certificates.size).toBe(2);
    const ids = [...certificates.keys()].map((n) => n.split('/').pop());
    expect(ids[1]).toMatch(new RegExp(`^${ids[0]?.slice(0, 48)}-[0-9a-f]{8}$`));
  });

  it('revokes by finding the certificate by serial, then POST {name}:revoke with the CAS reason', async () => {
    const issued = (await connector().issue(request())) as IssuanceResult;
    await connector().revoke({ serialHex: issued.serialHex, reason: 'keyCompromise' });
    expect(revocations).toHaveLength(1);
    expect(revocations[0].name).toBe([...certificates.keys()][0]);
    expect(revocations[0].body).toEqual({
      reason: 'KEY_COMPROMISE',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    await expect(connector().revoke({ serialHex: 'abcdef', reason: 'superseded' })).rejects.toThrow(
      'Google CAS has no certificate with serial abcdef in CA pool web-pool',
    );
  });

  it('answers the issuing CA certificate from fetchCaCerts, or from the configured CA', async () => {
    expect(await connector().getCaCertPem()).toBe(ca.issuing.certPem);
    expect(api.to(`/v1/${POOL_NAME}:fetchCaCerts`)).toHaveLength(1);
    expect(await connector({ certificate_authority: 'ca-1' }).getCaCertPem()).toBe(ca.issuing.certPem);
  });

  it('refuses a token grant signed with another key, quoting Google and never the key', async () => {
    const err = await rejection(connector({ credentials_json: serviceAccount(otherPrivatePem) }).issue(request()));
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(ErrorCode.Validation);
    expect(err.message).toMatch(
      /^Google CAS: token request to https:\/\/127\.0\.0\.1:\d+ answered HTTP 400: invalid_grant: Invalid JWT Signature\.$/,
    );
    expect(certificates.size).toBe(0);
  });

  it('gets a new token when the API refuses the cached one (401), and retries the call once', async () => {
    await connector().getCaCertPem();
    granted.clear(); // Google revoked the token
    expect(await connector().getCaCertPem()).toBe(ca.issuing.certPem);
    expect(tokenRequests).toBe(2);
  });

  it('quotes Google errors ({"error":{status,message}}) and classifies them', async () => {
    const notFound = await rejection(connector({ certificate_authority: 'ca-9' }).issue(request()));
    expect(notFound.code).toBe(ErrorCode.Validation);
    expect(notFound.message).toBe(
      `Google CAS: POST /v1/${POOL_NAME}/certificates answered HTTP 404: NOT_FOUND: CA ca-9 not found`,
    );
    api.handler = (r) =>
      r.path === '/token' ? google(r) : googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.');
    const outage = await rejection(connector().issue(request()));
    expect(outage.code).toBe(ErrorCode.Unavailable);
    expect(outage.message).toContain('HTTP 503: UNAVAILABLE: The service is currently unavailable.');
    api.handler = (r) => (r.path === '/token' ? google(r) : googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.'));
    expect((await rejection(connector().issue(request()))).code).toBe(ErrorCode.RateLimited);
  });

  it('fails a call to an API that never answers within timeout_seconds (Unavailable)', async () => {
    api.handler = () => undefined;
    const err = await rejection(connector({ timeout_seconds: 1 }).issue(request()));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/^Google CAS: no answer from https:\/\/127\.0\.0\.1:\d+ to POST \/token within 1 s$/);
  });

  it('without credentials_json, takes the token from the metadata server', async () => {
    const seen: { path?: string; flavor?: string }[] = [];
    const metadata: Server = createServer((req, res) => {
      seen.push({ path: req.url, flavor: req.headers['metadata-flavor'] as string | undefined });
      granted.add('ya29.metadata');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'ya29.metadata', expires_in: 3599, token_type: 'Bearer' }));
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    const saved = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = `127.0.0.1:${(metadata.address() as AddressInfo).port}`;
    try {
      expect(await connector({ credentials_json: undefined }).getCaCertPem()).toBe(ca.issuing.certPem);
      expect(seen).toEqual([{ path: '/computeMetadata/v1/instance/service-accounts/default/token', flavor: 'Google' }]);
      expect(api.to(`/v1/${POOL_NAME}:fetchCaCerts`)[0].headers.authorization).toBe('Bearer ya29.metadata');
    } finally {
      if (saved === undefined) delete process.env.GCE_METADATA_HOST;
      else process.env.GCE_METADATA_HOST = saved;
      await new Promise<void>((resolve) => metadata.close(() => resolve()));
    }
  });

  it('tests the connection through the registry (token and CA pool)', async () => {
    expect(await validateIssuerConnection('GoogleCAS', config())).toEqual({
      ok: true,
      message: 'Google CAS reachable; CA pool web-pool (DEVOPS) visible',
    });
    const bad = await validateIssuerConnection('GoogleCAS', config({ ca_pool: 'other-pool' }));
    expect(bad).toEqual({
      ok: false,
      message: `Google CAS: GET /v1/projects/${PROJECT}/locations/${LOCATION}/caPools/other-pool answered HTTP 404: NOT_FOUND: no route GET /v1/projects/${PROJECT}/locations/${LOCATION}/caPools/other-pool`,
    });
  });
});
