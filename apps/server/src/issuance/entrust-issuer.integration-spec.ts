import { X509Certificate } from 'node:crypto';
import { derToPem } from '@certctl/pki';
import type {
  ApiAnswer,
  ApiRequest,
  FakeCaApi,
  TestCa,
} from '../../../../libs/connectors/src/issuers/remote-ca/testing/fake-ca-api';
import {
  startMutualTlsCa,
  type MutualTlsCa,
} from '../../../../libs/connectors/src/issuers/remote-ca/testing/mutual-tls-ca';
import { awaitJobStatus, certificateVersions } from '../../../../test/integration/issued-certificates';
import { IssuerOrdersTestBed, issuerOrderId } from '../../../../test/integration/issuer-orders';

/**
 * The Entrust CA Gateway issuer through the whole server: created and tested through the
 * API with a client certificate (the local gateway requires one signed by its client CA), an
 * Issuance job that waits (AwaitingIssuer) while the BullMQ poll loop asks the gateway about
 * an enrollment awaiting approval, the certificate recorded once approved, and a revocation
 * made through the API reaching the gateway as a RevokeAction.
 */

const bed = new IssuerOrdersTestBed('entrust');
const { tag } = bed;
const CA_ID = 'pkiaas~issuing';
const CA_PATH = `/cagw/v1/certificate-authorities/${encodeURIComponent(CA_ID)}`;

const der64 = (pem: string) => new X509Certificate(pem).raw.toString('base64');

/** A minimal CA Gateway: enrollments wait for approval for `pendingPolls` status polls. */
class CaGateway {
  readonly enrollments = new Map<string, { csrPem: string; cn: string; polls: number; certPem?: string }>();
  readonly actions: { serial: string; body: unknown }[] = [];
  pendingPolls = 2;
  private nextId = 0;

  constructor(
    readonly api: FakeCaApi,
    readonly ca: TestCa,
  ) {
    api.handler = (r) => this.handle(r);
  }

  private error(status: number, code: string, message: string): ApiAnswer {
    return { status, body: { type: 'ErrorResponse', error: { code, message } } };
  }

  private async handle(r: ApiRequest): Promise<ApiAnswer | undefined> {
    if (r.clientCn !== 'certctl-client') return this.error(403, 'Forbidden', 'unknown client');
    if (r.method === 'GET' && r.path === `${CA_PATH}?%24fields=ca.certificate%2Cca.chain`) {
      const ca = { certificate: { certificateData: der64(this.ca.issuing.certPem) } };
      return { status: 200, body: { type: 'CAResponse', ca } };
    }
    if (r.method === 'POST' && r.path === `${CA_PATH}/enrollments`) {
      const b = r.json as { csr: string; profileId: string; optionalCertificateRequestDetails: { subjectDn: string } };
      if (b.profileId !== 'tls') return this.error(400, 'ProfileNotFound', 'no such profile');
      const trackingId = `trk-${tag}-${this.nextId++}`;
      this.enrollments.set(trackingId, {
        csrPem: derToPem(Buffer.from(b.csr, 'base64'), 'CERTIFICATE REQUEST'),
        cn: b.optionalCertificateRequestDetails.subjectDn.replace(/^CN=/, ''),
        polls: 0,
      });
      return { status: 201, body: { type: 'EnrollmentResponse', enrollment: { trackingId, status: 'PENDING' } } };
    }
    const status = new RegExp(`^${CA_PATH}/enrollments/([^/?]+)$`).exec(r.path);
    if (r.method === 'GET' && status) {
      const e = this.enrollments.get(status[1]);
      if (!e) return this.error(404, 'NotFound', 'Enrollment not found');
      if (!e.certPem && ++e.polls > this.pendingPolls) {
        e.certPem = (await this.ca.sign(e.csrPem, { commonName: e.cn, sans: { dns: [e.cn] } })).certPem;
      }
      const done = e.certPem
        ? { status: 'ISSUED', body: der64(e.certPem), chain: [{ certificateData: der64(this.ca.issuing.certPem) }] }
        : { status: 'PENDING' };
      return { status: 200, body: { type: 'EnrollmentResponse', enrollment: { trackingId: status[1], ...done } } };
    }
    const action = new RegExp(`^${CA_PATH}/certificates/([0-9a-f]+)/actions$`).exec(r.path);
    if (r.method === 'POST' && action) {
      this.actions.push({ serial: action[1], body: r.json });
      return { status: 200, body: { type: 'ActionResponse' } };
    }
    return this.error(404, 'NotFound', `${r.method} ${r.path}`);
  }
}

let mtls: MutualTlsCa;
let gateway: CaGateway;
let ca: TestCa;

/** An Entrust issuer through the API; `client` overrides the trusted client certificate. */
async function createEntrustIssuer(id: string, client: Partial<MutualTlsCa['tlsConfig']> = {}): Promise<void> {
  await bed.createIssuer({
    id,
    type: 'Entrust',
    config: {
      base_url: `${gateway.api.url}/cagw`,
      ca_id: CA_ID,
      profile_id: 'tls',
      ...mtls.tlsConfig,
      ...client,
      timeout_seconds: 5,
    },
  });
}

beforeAll(async () => {
  mtls = await startMutualTlsCa('entrust-int-', 'Entrust Int');
  ca = mtls.ca;
  gateway = new CaGateway(mtls.api, ca);
  await bed.start();
  await createEntrustIssuer(`iss-entrust-${tag}`);
  await createEntrustIssuer(`iss-entrust-stranger-${tag}`, {
    client_cert_path: mtls.certs.strangerCert,
    client_key_path: mtls.certs.strangerKey,
  });
});

afterAll(async () => {
  await bed.close();
  await mtls?.stop();
});

describe('Entrust CA Gateway issuer through the server (mutual TLS)', () => {
  let certId: string;

  it('tests the connection with the client certificate; a certificate the gateway does not trust fails clearly', async () => {
    const ok = await bed.t.http.post(`/api/v1/issuers/iss-entrust-${tag}/test`).set('Authorization', bed.admin);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true, message: expect.stringContaining('CN=Entrust Int Issuing') });
    const refused = await bed.t.http
      .post(`/api/v1/issuers/iss-entrust-stranger-${tag}/test`)
      .set('Authorization', bed.admin);
    expect(refused.status).toBe(200);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.message).toMatch(
      /^Entrust CA Gateway: GET https:\/\/127\.0\.0\.1:\d+\/cagw\/v1\/certificate-authorities\/.+ failed/,
    );
  });

  it('waits AwaitingIssuer while the enrollment awaits approval, then records the approved certificate', async () => {
    const order = await bed.order(`iss-entrust-${tag}`);
    certId = order.certId;
    expect(order.outcome).toBe('AwaitingIssuer');
    expect(await issuerOrderId(bed.t, order.jobId)).toBe(`trk-${tag}-0`);

    const job = await awaitJobStatus(bed.t, order.jobId, 'Completed');
    expect(job.last_error).toBeNull();
    const [v] = await certificateVersions(bed.t, certId);
    const leaf = new X509Certificate(v.pem_chain);
    expect(leaf.subject).toContain(`CN=${order.commonName}`);
    expect(leaf.checkIssued(new X509Certificate(ca.issuing.certPem))).toBe(true);
    expect(v.pem_chain).toContain(ca.issuing.certPem.trim());
    // Two pending status answers, then the approved certificate.
    expect(gateway.enrollments.get(`trk-${tag}-0`)?.polls).toBe(3);
  });

  it('tells the gateway about a revocation made through the API (RevokeAction, RFC 5280 reason)', async () => {
    const [v] = await certificateVersions(bed.t, certId);
    const res = await bed.t.http
      .post(`/api/v1/certificates/${certId}/revoke`)
      .set('Authorization', bed.admin)
      .send({ reason: 'keyCompromise' });
    expect(res.status).toBeLessThan(300);
    expect(gateway.actions).toEqual([
      {
        serial: v.serial_number.length % 2 ? `0${v.serial_number}` : v.serial_number,
        body: {
          action: { type: 'RevokeAction', reason: 'keyCompromise', comment: 'Revoked by certctl (keyCompromise)' },
        },
      },
    ]);
  });
});
