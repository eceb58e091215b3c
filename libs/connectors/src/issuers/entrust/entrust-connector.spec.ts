import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { isPendingOrder, type IssuanceRequest, type IssuanceResult } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr, pollUntilDone, rejection } from '../remote-ca/testing/connector-spec-kit';
import type { ApiAnswer, ApiRequest, FakeCaApi, TestCa } from '../remote-ca/testing/fake-ca-api';
import { startMutualTlsCa, type MutualTlsCa } from '../remote-ca/testing/mutual-tls-ca';
import { EntrustConnector } from './entrust-connector';

/**
 * Contract tests against a local Entrust CA Gateway that requires a client certificate
 * signed by its client CA (mutual TLS, as the gateway does). The handler checks the
 * documented enrollment / CA / certificate-action requests and answers the gateway's shapes:
 * base64 DER certificates, `{type, enrollment:{trackingId,status,body,chain}}`, and
 * `{type:"ErrorResponse", error:{code,message}}` failures.
 */

const CA_ID = 'partition1~issuing-ca';
const CA_PATH = `/cagw/v1/certificate-authorities/${encodeURIComponent(CA_ID)}`;
const ENROLL_FIELDS = new Set([
  'profileId',
  'requiredFormat',
  'csr',
  'subjectAltNames',
  'optionalCertificateRequestDetails',
]);

let mtls: MutualTlsCa;
let api: FakeCaApi;
let ca: TestCa;
let csr: ParsedCsr;
let other: ParsedCsr;

/** Enrollments the fake gateway holds, and how it treats new ones. */
interface Enrollment {
  trackingId: string;
  csrPem: string;
  cn: string;
  dns: string[];
  status: string;
  polls: number;
  serial?: string;
  certPem?: string;
}
let enrollments: Map<string, Enrollment>;
let mode: 'issue' | 'approval' | 'reject';
let chainInEnrollment: boolean;
let nextId = 0;
let actions: { serial: string; body: unknown }[];

const der64 = (pem: string) => new X509Certificate(pem).raw.toString('base64');

function cagwError(status: number, code: string, message: string): ApiAnswer {
  return { status, body: { type: 'ErrorResponse', error: { code, message } } };
}

async function sign(e: Enrollment): Promise<void> {
  const signed = await ca.sign(e.csrPem, { commonName: e.cn, sans: { dns: e.dns } });
  Object.assign(e, { status: 'ISSUED', serial: signed.serialHex, certPem: signed.certPem });
}

function enrollmentBody(e: Enrollment, withBody: boolean) {
  return {
    type: 'EnrollmentResponse',
    enrollment: {
      trackingId: e.trackingId,
      status: e.status,
      ...(e.serial ? { serialNumber: e.serial } : {}),
      ...(withBody && e.certPem ? { body: der64(e.certPem) } : {}),
      ...(withBody && e.certPem && chainInEnrollment
        ? { chain: [{ certificateData: der64(ca.issuing.certPem) }, { certificateData: der64(ca.root.certPem) }] }
        : {}),
    },
  };
}

async function gateway(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (r.clientCn !== 'certctl-client') return cagwError(403, 'Forbidden', 'unknown client');
  if (r.method === 'POST' && r.path === `${CA_PATH}/enrollments`) {
    const b = r.json as Record<string, unknown>;
    const unknown = Object.keys(b).filter((k) => !ENROLL_FIELDS.has(k));
    if (unknown.length) return cagwError(400, 'InvalidField', `unknown fields: ${unknown.join(', ')}`);
    if (b.profileId !== 'tls-server') return cagwError(400, 'ProfileNotFound', 'Profile tls-server-x not found');
    if ((b.requiredFormat as { format?: unknown }).format !== 'X509') return cagwError(400, 'InvalidFormat', 'format');
    if (typeof b.csr !== 'string' || !/^[A-Za-z0-9+/=]+$/.test(b.csr)) return cagwError(400, 'InvalidCsr', 'csr');
    const sans = b.subjectAltNames as { type: string; value: string }[];
    if (sans.some((s) => !['dNSName', 'iPAddress', 'rfc822Name', 'uniformResourceIdentifier'].includes(s.type)))
      return cagwError(400, 'InvalidSan', 'subjectAltNames type');
    const details = b.optionalCertificateRequestDetails as { subjectDn?: string; validityPeriod?: string };
    const cn = /^CN=(.+)$/.exec(details.subjectDn ?? '')?.[1];
    if (!cn) return cagwError(400, 'InvalidSubject', 'subjectDn');
    const e: Enrollment = {
      trackingId: `trk-${nextId++}`,
      csrPem: derToPem(Buffer.from(b.csr, 'base64'), 'CERTIFICATE REQUEST'),
      cn,
      dns: sans.filter((s) => s.type === 'dNSName').map((s) => s.value),
      status: 'PENDING_APPROVAL',
      polls: 0,
    };
    enrollments.set(e.trackingId, e);
    if (mode === 'issue') await sign(e);
    if (mode === 'reject') e.status = 'REJECTED';
    return { status: 201, body: enrollmentBody(e, true) };
  }
  const status = new RegExp(`^${CA_PATH}/enrollments/([^/?]+)$`).exec(r.path);
  if (r.method === 'GET' && status) {
    const e = enrollments.get(decodeURIComponent(status[1]));
    if (!e) return cagwError(404, 'NotFound', 'Enrollment not found');
    // Approved on the third poll; the status answer names the serial, not the body.
    if (e.status === 'PENDING_APPROVAL' && ++e.polls >= 3) await sign(e);
    return { status: 200, body: enrollmentBody(e, false) };
  }
  const cert = new RegExp(`^${CA_PATH}/certificates/([0-9a-f]+)$`).exec(r.path);
  if (r.method === 'GET' && cert) {
    const e = [...enrollments.values()].find((x) => x.serial === cert[1]);
    if (!e?.certPem) return cagwError(404, 'NotFound', 'Certificate not found');
    return {
      status: 200,
      body: {
        type: 'CertificateResponse',
        certificate: { serialNumber: e.serial, certificateData: der64(e.certPem), status: 'issued' },
      },
    };
  }
  const action = new RegExp(`^${CA_PATH}/certificates/([0-9a-f]+)/actions$`).exec(r.path);
  if (r.method === 'POST' && action) {
    actions.push({ serial: action[1], body: r.json });
    return { status: 200, body: { type: 'ActionResponse', action: { type: 'RevokeAction', succeeded: true } } };
  }
  if (r.method === 'GET' && r.path === `${CA_PATH}?%24fields=ca.certificate%2Cca.chain`) {
    return {
      status: 200,
      body: {
        type: 'CAResponse',
        ca: {
          id: CA_ID,
          certificate: { certificateData: der64(ca.issuing.certPem) },
          chain: [{ certificateData: der64(ca.root.certPem) }],
        },
      },
    };
  }
  return cagwError(404, 'NotFound', `no route ${r.method} ${r.path}`);
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    base_url: `${api.url}/cagw`,
    ca_id: CA_ID,
    profile_id: 'tls-server',
    ...mtls.tlsConfig,
    ...extra,
  };
}

const connector = (extra: Record<string, unknown> = {}) => new EntrustConnector({ config: config(extra) });

function request(c: ParsedCsr = csr, extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr: c, commonName: 'app.example.com', sans: { dns: ['app.example.com', 'www.example.com'] }, ...extra };
}

beforeAll(async () => {
  mtls = await startMutualTlsCa('entrust-', 'Entrust Test');
  ({ api, ca } = mtls);
  [csr, other] = await Promise.all([newCsr('app.example.com'), newCsr('other.example.com')]);
});

afterAll(() => mtls?.stop());

beforeEach(() => {
  enrollments = new Map();
  nextId = 0;
  mode = 'issue';
  chainInEnrollment = true;
  actions = [];
  api.received.length = 0;
  api.handler = gateway;
});

describe('Entrust CA Gateway connector (mutual TLS)', () => {
  it('enrolls the CSR with the documented request and takes the certificate from the answer', async () => {
    const outcome = await connector({ validity_days: 90 }).issue(
      request(csr, { profile: { max_ttl_seconds: 30 * 86_400 } as never }),
    );
    expect(isPendingOrder(outcome)).toBe(false);
    const [post] = api.received;
    expect(post.clientCn).toBe('certctl-client');
    expect(post.path).toBe(`${CA_PATH}/enrollments`);
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.json).toEqual({
      profileId: 'tls-server',
      requiredFormat: { format: 'X509' },
      csr: Buffer.from(csr.der).toString('base64'),
      subjectAltNames: [
        { type: 'dNSName', value: 'app.example.com' },
        { type: 'dNSName', value: 'www.example.com' },
      ],
      // The profile's 30 days win over the issuer's 90.
      optionalCertificateRequestDetails: { subjectDn: 'CN=app.example.com', validityPeriod: 'PT2592000S' },
    });
    const result = outcome as IssuanceResult;
    expect(new X509Certificate(result.certPem).subject).toContain('CN=app.example.com');
    expect(result.serialHex).toBe(enrollments.get('trk-0')?.serial);
    // The intermediate stays, the self-signed root is dropped.
    expect(result.chainPem).toBe(ca.issuing.certPem);
  });

  it('waits for an approval: tracking id, pending polls, then the certificate by serial and the CA chain', async () => {
    mode = 'approval';
    chainInEnrollment = false;
    const conn = connector();
    const outcome = await conn.issue(request());
    expect(outcome).toEqual({ state: 'pending', orderId: 'trk-0' });
    const [status, polls] = await pollUntilDone(conn, 'trk-0', csr.spkiDer);
    expect(polls).toBe(3); // two pending answers, then issued
    expect(status.state).toBe('issued');
    const result = (status as { result: IssuanceResult }).result;
    expect(new X509Certificate(result.certPem).checkIssued(new X509Certificate(ca.issuing.certPem))).toBe(true);
    expect(result.chainPem).toBe(ca.issuing.certPem);
    const serial = enrollments.get('trk-0')?.serial;
    expect(api.received.map((r) => `${r.method} ${r.path}`).slice(-3)).toEqual([
      `GET ${CA_PATH}/enrollments/trk-0`,
      `GET ${CA_PATH}/certificates/${serial}`,
      `GET ${CA_PATH}?%24fields=ca.certificate%2Cca.chain`,
    ]);
  });

  it('reports a rejected enrollment as failed, and refuses a certificate for another key', async () => {
    mode = 'approval';
    const conn = connector();
    await conn.issue(request());
    const e = enrollments.get('trk-0');
    if (e) e.status = 'REJECTED';
    expect(await conn.getOrderStatus('trk-0', { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: 'enrollment trk-0 is rejected',
    });
    // A gateway answering someone else's key (here: the order checked against another CSR's).
    mode = 'issue';
    await conn.issue(request());
    await expect(conn.getOrderStatus('trk-1', { spkiDer: other.spkiDer })).rejects.toThrow(/different public key/);
  });

  it('refuses for good an enrollment the gateway rejects at once (Validation, not retried)', async () => {
    mode = 'reject';
    const err = await rejection(connector().issue(request()));
    expect(err.code).toBe(ErrorCode.Validation);
    expect(err.message).toBe('Entrust CA Gateway: the enrollment is rejected');
  });

  it('is refused at the TLS layer with a client certificate its CA did not sign (clear, retryable)', async () => {
    const err = await rejection(
      connector({ client_cert_path: mtls.certs.strangerCert, client_key_path: mtls.certs.strangerKey }).issue(
        request(),
      ),
    );
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(
      /^Entrust CA Gateway: POST https:\/\/127\.0\.0\.1:\d+\/cagw\/v1\/certificate-authorities\/.+\/enrollments failed/,
    );
    expect(api.received).toHaveLength(0);
  });

  it('quotes gateway errors ({error:{code,message}}) and classifies them', async () => {
    const bad = await rejection(connector({ profile_id: 'tls-server-x' }).issue(request()));
    expect(bad.code).toBe(ErrorCode.Validation);
    expect(bad.message).toBe(
      `Entrust CA Gateway: POST ${CA_PATH.replace('/cagw', '')}/enrollments answered HTTP 400: ProfileNotFound: Profile tls-server-x not found`,
    );
    api.handler = () => cagwError(503, 'ServiceUnavailable', 'CA offline');
    const outage = await rejection(connector().getOrderStatus('trk-9', { spkiDer: csr.spkiDer }));
    expect(outage.code).toBe(ErrorCode.Unavailable);
    expect(outage.message).toContain('HTTP 503: ServiceUnavailable: CA offline');
    await expect(connector().getOrderStatus('../x', { spkiDer: csr.spkiDer })).rejects.toThrow(
      'Entrust CA Gateway tracking id "../x" is not valid',
    );
  });

  it('fails a call to a gateway that never answers within timeout_seconds (Unavailable)', async () => {
    api.handler = () => undefined;
    const err = await rejection(connector({ timeout_seconds: 1 }).issue(request()));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(
      /^Entrust CA Gateway: no answer from https:\/\/127\.0\.0\.1:\d+ to POST .* within 1 s$/,
    );
  });

  it('revokes with a RevokeAction naming the RFC 5280 reason', async () => {
    await connector().revoke({ serialHex: 'A1B2C3', reason: 'keyCompromise' });
    await connector().revoke({ serialHex: '0f', reason: 'somethingElse' });
    expect(actions).toEqual([
      {
        serial: 'a1b2c3',
        body: {
          action: { type: 'RevokeAction', reason: 'keyCompromise', comment: 'Revoked by certctl (keyCompromise)' },
        },
      },
      {
        serial: '0f',
        body: {
          action: { type: 'RevokeAction', reason: 'unspecified', comment: 'Revoked by certctl (somethingElse)' },
        },
      },
    ]);
  });

  it('serves the CA certificate and tests the connection through the registry', async () => {
    expect(await connector().getCaCertPem()).toBe(ca.issuing.certPem);
    expect(await validateIssuerConnection('Entrust', config())).toEqual({
      ok: true,
      message: `Entrust CA Gateway reachable; CA ${CA_ID} (CN=Entrust Test Issuing)`,
    });
    const missing = join(mtls.dir, 'missing.key');
    expect(await validateIssuerConnection('Entrust', config({ client_key_path: missing }))).toEqual({
      ok: false,
      message: `config.client_key_path ${missing} cannot be read (does not exist)`,
    });
    const bad = await validateIssuerConnection('Entrust', config({ ca_id: '../etc' }));
    expect(bad.ok).toBe(false);
    expect(bad.message).toContain('config.ca_id: must be a CA Gateway certificate authority id');
  });
});
