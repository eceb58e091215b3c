import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { isPendingOrder, type IssuanceRequest, type IssuanceResult } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr, pollUntilDone, rejection, trustFileDir } from '../remote-ca/testing/connector-spec-kit';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../remote-ca/testing/fake-ca-api';
import { SectigoConnector } from './sectigo-connector';

/**
 * Contract tests against a local HTTPS Sectigo Certificate Manager: the handler checks the
 * SSL v1 REST API as documented (login/password/customerUri headers, enroll fields, collect
 * formats) and answers with SCM's shapes, including `{code, description}` errors and the
 * "being processed" answer of collect before issuance.
 */

const LOGIN = 'api-user';
const PASSWORD = 'sc-pass-0123456789';
const CUSTOMER = 'example-co';
const ENROLL_FIELDS = new Set([
  'orgId',
  'csr',
  'certType',
  'term',
  'numberServers',
  'serverType',
  'comments',
  'subjAltNames',
  'externalRequester',
]);

let api: FakeCaApi;
let ca: TestCa;
let dir: string;
let caFile: string;
let csr: ParsedCsr;

interface Enrollment {
  sslId: number;
  csrPem: string;
  sans: string[];
  status: string;
  pendingPolls: number;
  pem?: string;
  serial?: string;
}
let enrollments: Map<number, Enrollment>;
let nextId = 0;
let revoked: { serial: string; body: unknown }[];

function scmError(status: number, code: number, description: string): ApiAnswer {
  return { status, body: { code, description } };
}

async function scm(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (r.headers.login !== LOGIN || r.headers.password !== PASSWORD || r.headers.customeruri !== CUSTOMER) {
    return scmError(401, -16, 'Unknown user');
  }
  if (r.method === 'POST' && r.path === '/api/ssl/v1/enroll') {
    const b = r.json as Record<string, unknown>;
    const unknown = Object.keys(b).filter((k) => !ENROLL_FIELDS.has(k));
    if (unknown.length) return scmError(400, -1, `Unknown fields: ${unknown.join(', ')}`);
    if (b.orgId !== 77) return scmError(400, -1106, 'Organization not found');
    if (b.certType !== 224) return scmError(400, -1107, 'Invalid certificate type');
    if (b.term !== 365) return scmError(400, -1108, 'Invalid term');
    if (typeof b.csr !== 'string' || !b.csr.startsWith('-----BEGIN CERTIFICATE REQUEST-----'))
      return scmError(400, -1001, 'CSR is invalid');
    const sslId = nextId++;
    enrollments.set(sslId, {
      sslId,
      csrPem: b.csr,
      sans: typeof b.subjAltNames === 'string' ? b.subjAltNames.split(',') : [],
      status: 'Applied',
      pendingPolls: 2,
    });
    return { status: 200, body: { renewId: `renew-${sslId}`, sslId } };
  }
  const collect = /^\/api\/ssl\/v1\/collect\/(\d+)\/x509$/.exec(r.path);
  if (r.method === 'GET' && collect) {
    const e = enrollments.get(Number(collect[1]));
    if (!e) return scmError(404, -1400, 'Certificate not found');
    if (e.status === 'Applied' && e.pendingPolls-- <= 0) {
      const signed = await ca.sign(e.csrPem, { commonName: 'mail.example.com', sans: { dns: e.sans } });
      Object.assign(e, { status: 'Issued', pem: signed.certPem, serial: signed.serialHex });
    }
    if (e.status !== 'Issued') return scmError(400, -1400, 'Certificate is being processed by Sectigo');
    // The x509 format: root first, then intermediate, then the leaf (order differs by format).
    return { status: 200, body: ca.root.certPem + ca.issuing.certPem + (e.pem ?? ''), contentType: 'text/plain' };
  }
  const info = /^\/api\/ssl\/v1\/(\d+)$/.exec(r.path);
  if (r.method === 'GET' && info) {
    const e = enrollments.get(Number(info[1]));
    if (!e) return scmError(404, -1400, 'Certificate not found');
    return { status: 200, body: { sslId: e.sslId, status: e.status, commonName: 'mail.example.com' } };
  }
  const revoke = /^\/api\/ssl\/v1\/revoke\/serial\/([0-9a-f]+)$/.exec(r.path);
  if (r.method === 'POST' && revoke) {
    revoked.push({ serial: revoke[1], body: r.json });
    return { status: 204 };
  }
  if (r.method === 'GET' && r.path === '/api/ssl/v1/types?organizationId=77') {
    return { status: 200, body: [{ id: 224, name: 'OV SSL', terms: [365] }] };
  }
  return scmError(404, -1, `no route ${r.method} ${r.path}`);
}

function connector(extra: Record<string, unknown> = {}): SectigoConnector {
  return new SectigoConnector({
    config: {
      base_url: api.url,
      customer_uri: CUSTOMER,
      login: LOGIN,
      password: PASSWORD,
      org_id: 77,
      cert_type: 224,
      term_days: 365,
      ca_cert_path: caFile,
      ...extra,
    },
  });
}

function request(extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr, commonName: 'mail.example.com', sans: { dns: ['mail.example.com', 'smtp.example.com'] }, ...extra };
}

async function enroll(conn = connector()): Promise<string> {
  const outcome = await conn.issue(request());
  if (!isPendingOrder(outcome)) throw new Error('Sectigo always answers a pending enrollment');
  return outcome.orderId;
}

beforeAll(async () => {
  [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('Sectigo Test')]);
  ({ dir, tlsCaFile: caFile } = trustFileDir('sectigo-', api.tlsCaPem));
  csr = await newCsr('mail.example.com');
});

afterAll(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  enrollments = new Map();
  nextId = 5000;
  revoked = [];
  api.received.length = 0;
  api.handler = scm;
});

describe('Sectigo Certificate Manager connector', () => {
  it('enrolls with the documented headers and fields, then collects the x509 bundle after validation', async () => {
    const conn = connector({ external_requester: 'pki@example.com' });
    const id = await enroll(conn);
    expect(id).toBe('5000');
    const [post] = api.to('/api/ssl/v1/enroll');
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.json).toEqual({
      orgId: 77,
      csr: derToPem(csr.der, 'CERTIFICATE REQUEST').trim(),
      certType: 224,
      term: 365,
      numberServers: 1,
      serverType: -1,
      comments: 'Enrolled by certctl',
      subjAltNames: 'smtp.example.com',
      externalRequester: 'pki@example.com',
    });

    const [status, polls] = await pollUntilDone(conn, id, csr.spkiDer);
    expect(polls).toBe(3);
    const result = (status as { result: IssuanceResult }).result;
    expect(new X509Certificate(result.certPem).subject).toContain('CN=mail.example.com');
    expect(result.serialHex).toBe(enrollments.get(5000)?.serial);
    // Whatever order SCM's bundle uses, the leaf comes first and the chain is nearest CA first.
    expect(result.chainPem).toBe(ca.issuing.certPem);
    // While pending, each collect was followed by a status read.
    expect(api.to('/api/ssl/v1/5000')).toHaveLength(2);
  });

  it('reports a rejected enrollment as failed', async () => {
    const conn = connector();
    const id = await enroll(conn);
    const e = enrollments.get(Number(id));
    if (e) e.status = 'Rejected';
    expect(await conn.getOrderStatus(id, { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: `certificate ${id} is Rejected`,
    });
  });

  it('quotes SCM errors ({code, description}); the password never appears', async () => {
    const err = await rejection(connector({ org_id: 1 }).issue(request()));
    expect(err.code).toBe(ErrorCode.Validation);
    expect(err.message).toBe('Sectigo: POST /api/ssl/v1/enroll answered HTTP 400: Organization not found (code -1106)');
    const denied = await rejection(connector({ password: 'wrong-password-123' }).issue(request()));
    expect(denied.message).toBe('Sectigo: POST /api/ssl/v1/enroll answered HTTP 401: Unknown user (code -16)');
    expect(denied.message).not.toContain('wrong-password-123');
  });

  it('an outage while collecting is Unavailable (not "still pending")', async () => {
    const id = await enroll();
    api.handler = () => scmError(502, -1, 'Bad gateway');
    const err = await rejection(connector().getOrderStatus(id, { spkiDer: csr.spkiDer }));
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toContain(`GET /api/ssl/v1/collect/${id}/x509 answered HTTP 502`);
  });

  it('fails a call to an SCM that never answers within timeout_seconds', async () => {
    api.handler = () => undefined;
    const err = await rejection(connector({ timeout_seconds: 1 }).getOrderStatus('5000', { spkiDer: csr.spkiDer }));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/no answer from .* within 1 s$/);
  });

  it('revokes by serial with a reason', async () => {
    await connector().revoke({ serialHex: '0A1B2C', reason: 'keyCompromise' });
    expect(revoked).toEqual([{ serial: '0a1b2c', body: { reason: 'certctl: keyCompromise' } }]);
  });

  it('tests the connection: credentials and certificate type', async () => {
    const cfg = {
      base_url: api.url,
      customer_uri: CUSTOMER,
      login: LOGIN,
      password: PASSWORD,
      org_id: 77,
      cert_type: 224,
      term_days: 365,
      ca_cert_path: caFile,
    };
    expect(await validateIssuerConnection('Sectigo', cfg)).toEqual({
      ok: true,
      message: 'Sectigo API reachable; certificate type OV SSL',
    });
    expect(await validateIssuerConnection('Sectigo', { ...cfg, cert_type: 9 })).toEqual({
      ok: false,
      message: 'Sectigo: certificate type 9 is not available to organization 77',
    });
  });
});
