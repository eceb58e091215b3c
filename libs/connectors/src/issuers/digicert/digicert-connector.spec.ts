import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { isPendingOrder, type IssuanceRequest, type IssuanceResult } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr, pollUntilDone, rejection, trustFileDir } from '../remote-ca/testing/connector-spec-kit';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../remote-ca/testing/fake-ca-api';
import { DigiCertConnector } from './digicert-connector';

/**
 * Contract tests against a local HTTPS CertCentral: the handler checks what DigiCert
 * documents for Services API v2 (paths, X-DC-DEVKEY, JSON fields) and answers with its
 * documented shapes, including `{"errors":[{code,message}]}` failures.
 */

const KEY = 'dc-test-devkey-0123456789';
/** Top-level fields of an order request this connector may send. */
const ORDER_FIELDS = new Set(['certificate', 'organization', 'validity_days', 'container', 'comments']);
const CERT_FIELDS = new Set(['common_name', 'dns_names', 'csr', 'signature_hash']);

let api: FakeCaApi;
let ca: TestCa;
let dir: string;
let caFile: string;
let csr: ParsedCsr;
let other: ParsedCsr;

/** Orders the fake CertCentral holds: status, the CSR, and how many polls until issuance. */
interface Order {
  id: number;
  csrPem: string;
  commonName: string;
  dnsNames: string[];
  status: string;
  pendingPolls: number;
  certId?: number;
  pem?: string;
  serial?: string;
}
let orders: Map<number, Order>;
let nextId = 0;
let issueAtOnce: boolean;
let revoked: { certId: string; body: unknown }[];

function dcError(status: number, code: string, message: string): ApiAnswer {
  return { status, body: { errors: [{ code, message }] } };
}

async function certcentral(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (r.headers['x-dc-devkey'] !== KEY) return dcError(401, 'access_denied', 'Invalid API key.');
  const orderPost = /^\/services\/v2\/order\/certificate\/([a-z0-9_]+)$/.exec(r.path);
  if (r.method === 'POST' && orderPost) {
    if (orderPost[1] !== 'ssl_plus') return dcError(400, 'invalid_product', 'Unknown product.');
    const b = r.json as Record<string, unknown>;
    const unknown = Object.keys(b).filter((k) => !ORDER_FIELDS.has(k));
    if (unknown.length) return dcError(400, 'invalid_field', `Unknown fields: ${unknown.join(', ')}`);
    const cert = b.certificate as Record<string, unknown>;
    if (Object.keys(cert).some((k) => !CERT_FIELDS.has(k))) return dcError(400, 'invalid_field', 'certificate');
    if ((b.organization as { id?: unknown }).id !== 4242)
      return dcError(400, 'invalid_organization', 'Organization not found.');
    if (typeof cert.csr !== 'string' || !cert.csr.includes('BEGIN CERTIFICATE REQUEST'))
      return dcError(400, 'missing_csr', 'CSR is required.');
    const dnsNames = cert.dns_names as string[];
    if (dnsNames.some((d) => !/^[a-z0-9.-]+$/.test(d))) return dcError(400, 'invalid_dns_name', 'Invalid DNS name.');
    const id = nextId++;
    const order: Order = {
      id,
      csrPem: cert.csr,
      commonName: String(cert.common_name),
      dnsNames,
      status: 'pending',
      pendingPolls: 2,
    };
    orders.set(id, order);
    if (issueAtOnce) {
      await sign(order);
      return { status: 201, body: { id, certificate_id: order.certId, certificate_chain: chainOf(order) } };
    }
    return { status: 201, body: { id, requests: [{ id: id + 5000, status: 'pending' }] } };
  }
  const info = /^\/services\/v2\/order\/certificate\/(\d+)$/.exec(r.path);
  if (r.method === 'GET' && info) {
    const o = orders.get(Number(info[1]));
    if (!o) return dcError(404, 'not_found', 'Order not found.');
    if (o.status === 'pending' && o.pendingPolls-- <= 0) await sign(o);
    return {
      status: 200,
      body: { id: o.id, status: o.status, certificate: { id: o.certId, common_name: o.commonName } },
    };
  }
  const download = /^\/services\/v2\/certificate\/(\d+)\/download\/format\/pem_all$/.exec(r.path);
  if (r.method === 'GET' && download) {
    const o = [...orders.values()].find((x) => x.certId === Number(download[1]));
    if (!o?.pem) return dcError(404, 'not_found', 'Certificate not found.');
    // pem_all: leaf, intermediate, root.
    return { status: 200, body: o.pem + ca.issuing.certPem + ca.root.certPem, contentType: 'application/x-pem-file' };
  }
  if (r.method === 'GET' && r.path.startsWith('/services/v2/order/certificate?')) {
    const serial = new URL(r.path, 'https://x').searchParams.get('filters[serial_number]');
    const found = [...orders.values()].filter((o) => o.serial === serial);
    return {
      status: 200,
      body: { orders: found.map((o) => ({ id: o.id, certificate: { id: o.certId, serial_number: o.serial } })) },
    };
  }
  const revoke = /^\/services\/v2\/certificate\/(\d+)\/revoke$/.exec(r.path);
  if (r.method === 'PUT' && revoke) {
    revoked.push({ certId: revoke[1], body: r.json });
    return { status: 201, body: { id: 1, type: 'revoke', status: 'approved' } };
  }
  if (r.method === 'GET' && r.path === '/services/v2/organization/4242') {
    return { status: 200, body: { id: 4242, name: 'Example Inc' } };
  }
  return dcError(404, 'not_found', `no route ${r.method} ${r.path}`);
}

async function sign(o: Order): Promise<void> {
  const signed = await ca.sign(o.csrPem, { commonName: o.commonName, sans: { dns: [o.commonName, ...o.dnsNames] } });
  o.status = 'issued';
  o.certId = o.id + 100_000;
  o.pem = signed.certPem;
  o.serial = signed.serialHex;
}

function chainOf(o: Order): { subject_common_name: string; pem: string }[] {
  return [
    { subject_common_name: o.commonName, pem: o.pem ?? '' },
    { subject_common_name: 'Test Issuing', pem: ca.issuing.certPem },
    { subject_common_name: 'Test Root', pem: ca.root.certPem },
  ];
}

function connector(extra: Record<string, unknown> = {}): DigiCertConnector {
  return new DigiCertConnector({
    config: {
      api_key: KEY,
      organization_id: 4242,
      product_name_id: 'ssl_plus',
      base_url: api.url,
      ca_cert_path: caFile,
      ...extra,
    },
  });
}

function request(c: ParsedCsr = csr, extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr: c, commonName: 'shop.example.com', sans: { dns: ['shop.example.com', 'www.example.com'] }, ...extra };
}

beforeAll(async () => {
  [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('DigiCert Test')]);
  api.handler = certcentral;
  ({ dir, tlsCaFile: caFile } = trustFileDir('digicert-', api.tlsCaPem));
  [csr, other] = await Promise.all([newCsr('shop.example.com'), newCsr('other.example.com')]);
});

afterAll(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  orders = new Map();
  nextId = 1000;
  issueAtOnce = false;
  revoked = [];
  api.received.length = 0;
  api.handler = certcentral;
});

describe('DigiCert CertCentral connector', () => {
  it('places an order with the documented request and polls it until issued (pem_all download)', async () => {
    const conn = connector({ validity_days: 90 });
    const outcome = await conn.issue(request(csr, { profile: { max_ttl_seconds: 30 * 86_400 } as never }));
    expect(isPendingOrder(outcome)).toBe(true);
    if (!isPendingOrder(outcome)) return;
    expect(outcome.orderId).toBe('1000');

    const [post] = api.to('/services/v2/order/certificate/ssl_plus');
    expect(post.method).toBe('POST');
    expect(post.headers['content-type']).toBe('application/json');
    const body = post.json as Record<string, Record<string, unknown>>;
    expect(body.certificate.common_name).toBe('shop.example.com');
    expect(body.certificate.dns_names).toEqual(['www.example.com']);
    expect(body.certificate.csr).toBe(derToPem(csr.der, 'CERTIFICATE REQUEST'));
    expect(body.certificate.signature_hash).toBe('sha256');
    expect(body.organization).toEqual({ id: 4242 });
    // The profile's 30-day max TTL wins over the issuer's 90 days.
    expect(body.validity_days).toBe(30);

    const [status, polls] = await pollUntilDone(conn, outcome.orderId, csr.spkiDer);
    expect(polls).toBe(3); // two pending answers, then issued
    expect(status.state).toBe('issued');
    const result = (status as { result: IssuanceResult }).result;
    const leaf = new X509Certificate(result.certPem);
    expect(leaf.subject).toContain('CN=shop.example.com');
    expect(result.serialHex).toBe(orders.get(1000)?.serial);
    // The chain keeps the intermediate and drops the root.
    expect(result.chainPem).toBe(ca.issuing.certPem);
    expect(api.to('/services/v2/certificate/101000/download/format/pem_all')).toHaveLength(1);
  });

  it('takes a certificate CertCentral issued at once from the order answer', async () => {
    issueAtOnce = true;
    const outcome = await connector().issue(request());
    expect(isPendingOrder(outcome)).toBe(false);
    expect((outcome as IssuanceResult).chainPem).toBe(ca.issuing.certPem);
  });

  it('reports a rejected order as failed with its status', async () => {
    const conn = connector();
    const outcome = await conn.issue(request());
    if (!isPendingOrder(outcome)) throw new Error('expected a pending order');
    const o = orders.get(Number(outcome.orderId));
    if (o) o.status = 'rejected';
    expect(await conn.getOrderStatus(outcome.orderId, { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: `order ${outcome.orderId} is rejected`,
    });
  });

  it('refuses an issued certificate for another public key', async () => {
    const conn = connector();
    const outcome = await conn.issue(request());
    if (!isPendingOrder(outcome)) throw new Error('expected a pending order');
    await pollUntilDone(conn, outcome.orderId, csr.spkiDer);
    await expect(conn.getOrderStatus(outcome.orderId, { spkiDer: other.spkiDer })).rejects.toThrow(
      /different public key/,
    );
  });

  it('quotes DigiCert errors ({"errors":[{code,message}]}) and classifies them; the key never appears', async () => {
    const bad = await rejection(connector({ organization_id: 1 }).issue(request()));
    expect(bad).toBeInstanceOf(DomainError);
    expect(bad.code).toBe(ErrorCode.Validation);
    expect(bad.message).toBe(
      'DigiCert: POST /services/v2/order/certificate/ssl_plus answered HTTP 400: invalid_organization: Organization not found.',
    );
    const denied = await rejection(connector({ api_key: 'wrong-key-0000' }).issue(request()));
    expect(denied.message).toContain('access_denied: Invalid API key.');
    expect(denied.message).not.toContain('wrong-key-0000');

    api.handler = () => dcError(503, 'service_unavailable', 'Maintenance.');
    const outage = await rejection(connector().getOrderStatus('1000', { spkiDer: csr.spkiDer }));
    expect(outage.code).toBe(ErrorCode.Unavailable);
    expect(outage.message).toContain('HTTP 503: service_unavailable: Maintenance.');
  });

  it('fails a call to a CA that never answers within timeout_seconds (Unavailable)', async () => {
    api.handler = () => undefined;
    const err = await rejection(connector({ timeout_seconds: 1 }).issue(request()));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/^DigiCert: no answer from https:\/\/127\.0\.0\.1:\d+ to POST .* within 1 s$/);
  });

  it('revokes by looking up the certificate id by serial, then PUT .../revoke with the reason', async () => {
    issueAtOnce = true;
    const issued = (await connector().issue(request())) as IssuanceResult;
    await connector().revoke({ serialHex: issued.serialHex, reason: 'keyCompromise' });
    expect(revoked).toEqual([
      {
        certId: '101000',
        body: { reason: 'key_compromise', comments: 'Revoked by certctl (keyCompromise)', skip_approval: true },
      },
    ]);
    await expect(connector().revoke({ serialHex: 'abcdef', reason: 'superseded' })).rejects.toThrow(
      'DigiCert has no certificate with serial abcdef in this account',
    );
  });

  it('tests the connection through the registry (key and organization)', async () => {
    const cfg = {
      api_key: KEY,
      organization_id: 4242,
      product_name_id: 'ssl_plus',
      base_url: api.url,
      ca_cert_path: caFile,
    };
    expect(await validateIssuerConnection('DigiCert', cfg)).toEqual({
      ok: true,
      message: 'DigiCert API reachable; organization 4242 visible',
    });
    const bad = await validateIssuerConnection('DigiCert', { ...cfg, api_key: 'nope-nope-nope' });
    expect(bad.ok).toBe(false);
    expect(bad.message).toContain('HTTP 401: access_denied');
  });

  it('refuses names CertCentral TLS products cannot carry before calling it', async () => {
    await expect(
      connector().issue(request(csr, { sans: { dns: ['shop.example.com'], ip: ['10.0.0.1'] } })),
    ).rejects.toThrow('DigiCert issues TLS certificates for DNS names only');
    expect(api.received).toHaveLength(0);
  });
});
