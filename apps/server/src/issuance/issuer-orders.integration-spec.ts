import { X509Certificate } from 'node:crypto';
import {
  FakeCaApi,
  TestCa,
  type ApiAnswer,
  type ApiRequest,
} from '../../../../libs/connectors/src/issuers/remote-ca/testing/fake-ca-api';
import { awaitJobStatus, certificateVersions } from '../../../../test/integration/issued-certificates';
import { IssuerOrdersTestBed, issuerOrderId } from '../../../../test/integration/issuer-orders';
import { eventually } from '../../../../test/integration/test-app';

/**
 * Asynchronous CAs through the whole server: a DigiCert issuer created through the API
 * (talking to a local HTTPS CertCentral), an Issuance job that waits (AwaitingIssuer) while
 * the BullMQ poll loop asks the CA, and the certificate recorded as a synchronous issuance
 * records it. Also: the CA unreachable while polling (job Failed, retried, resumes the same
 * order), a rejected order, the order deadline, and a hung CA that does not hold up another.
 */

const KEY = 'dc-int-devkey-0123456789';

/** A minimal CertCentral: orders stay pending for `pendingPolls` polls, then get issued. */
class CertCentral {
  readonly orders = new Map<
    number,
    { csrPem: string; cn: string; status: string; polls: number; certId?: number; pem?: string }
  >();
  pendingPolls = 2;
  /** Answer for order-status polls instead of the order (an outage). */
  outage?: ApiAnswer;
  hang = false;
  private nextId = 7000;

  constructor(
    readonly api: FakeCaApi,
    readonly ca: TestCa,
  ) {
    api.handler = (r) => this.handle(r);
  }

  orderPosts(): ApiRequest[] {
    return this.api.received.filter((r) => r.method === 'POST');
  }

  private async handle(r: ApiRequest): Promise<ApiAnswer | undefined> {
    if (this.hang) return undefined;
    if (r.headers['x-dc-devkey'] !== KEY)
      return { status: 401, body: { errors: [{ code: 'access_denied', message: 'Invalid API key.' }] } };
    if (r.method === 'GET' && r.path === '/services/v2/organization/4242') return { status: 200, body: { id: 4242 } };
    if (r.method === 'POST' && r.path === '/services/v2/order/certificate/ssl_plus') {
      const b = r.json as { certificate: { csr: string; common_name: string } };
      const id = this.nextId++;
      this.orders.set(id, { csrPem: b.certificate.csr, cn: b.certificate.common_name, status: 'pending', polls: 0 });
      return { status: 201, body: { id, requests: [{ id: id + 1, status: 'pending' }] } };
    }
    const info = /^\/services\/v2\/order\/certificate\/(\d+)$/.exec(r.path);
    if (r.method === 'GET' && info) {
      if (this.outage) return this.outage;
      const o = this.orders.get(Number(info[1]));
      if (!o) return { status: 404, body: { errors: [{ code: 'not_found', message: 'Order not found.' }] } };
      if (o.status === 'pending' && ++o.polls > this.pendingPolls) {
        const signed = await this.ca.sign(o.csrPem, { commonName: o.cn, sans: { dns: [o.cn] } });
        Object.assign(o, { status: 'issued', certId: Number(info[1]) + 50_000, pem: signed.certPem });
      }
      return { status: 200, body: { id: Number(info[1]), status: o.status, certificate: { id: o.certId } } };
    }
    const dl = /^\/services\/v2\/certificate\/(\d+)\/download\/format\/pem_all$/.exec(r.path);
    if (r.method === 'GET' && dl) {
      const o = [...this.orders.values()].find((x) => x.certId === Number(dl[1]));
      if (!o?.pem) return { status: 404, body: { errors: [{ code: 'not_found', message: 'No certificate.' }] } };
      return { status: 200, body: o.pem + this.ca.issuing.certPem + this.ca.root.certPem, contentType: 'text/plain' };
    }
    return { status: 404, body: { errors: [{ code: 'not_found', message: `${r.method} ${r.path}` }] } };
  }
}

const bed = new IssuerOrdersTestBed('async');
const { tag } = bed;
let good: CertCentral;
let hung: CertCentral;
let ca: TestCa;

async function createDigiCertIssuer(id: string, cc: CertCentral): Promise<void> {
  await bed.createIssuer({
    id,
    type: 'DigiCert',
    config: {
      api_key: KEY,
      organization_id: 4242,
      product_name_id: 'ssl_plus',
      base_url: cc.api.url,
      ca_cert_path: bed.trustFile(`${id}-tls.pem`, cc.api.tlsCaPem),
      timeout_seconds: 2,
    },
  });
}

/** A managed certificate of `issuerId` mapped to a target, and an Issuance job run once. */
const orderFrom = (issuerId: string) => bed.order(issuerId, 'shop');

beforeAll(async () => {
  ca = await TestCa.create('Async Test');
  const [a, b] = await Promise.all([FakeCaApi.start(), FakeCaApi.start()]);
  good = new CertCentral(a, ca);
  hung = new CertCentral(b, ca);
  await bed.start({ CERTCTL_ISSUER_POLL_TIMEOUT: '5s', CERTCTL_SCHEDULER_RETRY_INTERVAL: '200ms' });
  await createDigiCertIssuer(`iss-dc-${tag}`, good);
  await createDigiCertIssuer(`iss-dc-hung-${tag}`, hung);
});

afterAll(async () => {
  await bed.close();
  await Promise.all([good?.api.stop(), hung?.api.stop()]);
});

beforeEach(() => {
  good.outage = undefined;
  good.pendingPolls = 2;
  hung.hang = false;
});

describe('asynchronous CA orders (DigiCert through the server)', () => {
  it('the issuer connection test reaches the CA', async () => {
    const res = await bed.t.http.post(`/api/v1/issuers/iss-dc-${tag}/test`).set('Authorization', bed.admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true });
  });

  it('waits AwaitingIssuer, polls the order until issued, then records the certificate like a synchronous issuance', async () => {
    const { certId, jobId, outcome } = await orderFrom(`iss-dc-${tag}`);
    expect(outcome).toBe('AwaitingIssuer');
    const [order] = await bed.t.ds.query(`SELECT order_id, issuer_id FROM issuer_orders WHERE job_id = $1`, [jobId]);
    expect(order).toMatchObject({ issuer_id: `iss-dc-${tag}` });

    const job = await awaitJobStatus(bed.t, jobId, 'Completed');
    expect(job.last_error).toBeNull();
    const [v] = await certificateVersions(bed.t, certId);
    expect(v).toMatchObject({ job_id: jobId, issuer_id: `iss-dc-${tag}`, ca_id: null, csr_pem: null });
    expect(v.sealed_private_key).not.toBeNull(); // server keygen: the key sealed, as synchronously
    const leaf = new X509Certificate(v.pem_chain);
    expect(leaf.checkIssued(new X509Certificate(ca.issuing.certPem))).toBe(true);
    expect(v.pem_chain).toContain(ca.issuing.certPem.trim());
    expect(v.pem_chain).not.toContain(ca.root.certPem.trim());
    // Three polls: two pending answers, then issued.
    expect(good.orders.get(Number(order.order_id))?.polls).toBe(3);

    const [cert] = await bed.t.ds.query(`SELECT status, expires_at FROM managed_certificates WHERE id = $1`, [certId]);
    expect(cert.status).toBe('Active');
    const deployments = await bed.t.ds.query(
      `SELECT status FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`,
      [certId],
    );
    expect(deployments).toHaveLength(1);
    const audit = await bed.t.ds.query(
      `SELECT action FROM audit_events WHERE resource_id = $1 AND category = 'domain' ORDER BY created_at`,
      [certId],
    );
    expect(audit.map((a: { action: string }) => a.action)).toEqual(
      expect.arrayContaining(['certificate_order_placed', 'certificate_issued']),
    );
    expect(await bed.t.ds.query(`SELECT 1 FROM issuer_orders WHERE job_id = $1`, [jobId])).toHaveLength(0);
  });

  it('a CA outage while polling fails the job with the CA error; the retry loop resumes the same order', async () => {
    good.outage = { status: 503, body: { errors: [{ code: 'service_unavailable', message: 'Maintenance.' }] } };
    const posts = good.orderPosts().length;
    const { certId, jobId, outcome } = await orderFrom(`iss-dc-${tag}`);
    expect(outcome).toBe('AwaitingIssuer');
    const failed = await awaitJobStatus(bed.t, jobId, 'Failed');
    expect(failed.last_error).toMatch(
      /^issuer iss-dc-\S+ order \d+: the CA could not be polled: DigiCert: GET \/services\/v2\/order\/certificate\/\d+ answered HTTP 503: service_unavailable: Maintenance\.$/,
    );
    expect(failed.attempts).toBeLessThan(failed.max_attempts);

    // The CA is back; the retry backoff (minutes) has passed.
    good.outage = undefined;
    await bed.t.ds.query(`UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = $1`, [jobId]);
    await awaitJobStatus(bed.t, jobId, 'Completed');
    expect(await certificateVersions(bed.t, certId)).toHaveLength(1);
    // One order at the CA: the retry polled it instead of ordering again.
    expect(good.orderPosts().length).toBe(posts + 1);
  });

  it('a rejected order fails the job for good with the CA message and the certificate Failed', async () => {
    good.pendingPolls = 1000;
    const { certId, jobId } = await orderFrom(`iss-dc-${tag}`);
    const orderId = await issuerOrderId(bed.t, jobId);
    const o = good.orders.get(Number(orderId));
    if (o) o.status = 'rejected';
    const job = await awaitJobStatus(bed.t, jobId, 'Failed');
    expect(job.last_error).toBe(
      `issuer iss-dc-${tag} order ${orderId} was rejected by the CA: order ${orderId} is rejected`,
    );
    expect(job.attempts).toBe(job.max_attempts);
    const [cert] = await bed.t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [certId]);
    expect(cert.status).toBe('Failed');
  });

  it('an order still pending past CERTCTL_ISSUER_ORDER_TIMEOUT fails with a timeout error', async () => {
    good.pendingPolls = 1000;
    const { jobId } = await orderFrom(`iss-dc-${tag}`);
    await bed.t.ds.query(`UPDATE issuer_orders SET deadline_at = now() WHERE job_id = $1`, [jobId]);
    const job = await awaitJobStatus(bed.t, jobId, 'Failed');
    expect(job.last_error).toMatch(
      /^timed out: issuer iss-dc-\S+ order \d+ still pending after 3d \(CERTCTL_ISSUER_ORDER_TIMEOUT\)$/,
    );
    expect(job.attempts).toBe(job.max_attempts);
  });

  it('a CA that hangs fails its own poll with a clear error and does not hold up another issuer', async () => {
    hung.pendingPolls = 1000;
    const slow = await orderFrom(`iss-dc-hung-${tag}`);
    expect(slow.outcome).toBe('AwaitingIssuer');
    hung.hang = true; // accepts connections, never answers
    const fast = await orderFrom(`iss-dc-${tag}`);
    await awaitJobStatus(bed.t, fast.jobId, 'Completed');
    const failed = await awaitJobStatus(bed.t, slow.jobId, 'Failed');
    expect(failed.last_error).toMatch(
      /the CA could not be polled: DigiCert: no answer from https:\/\/127\.0\.0\.1:\d+ to GET .* within 2 s$/,
    );
    expect(failed.attempts).toBeLessThan(failed.max_attempts);
    await eventually(async () => ((await certificateVersions(bed.t, fast.certId)).length === 1 ? true : undefined));
  });
});
