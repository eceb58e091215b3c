import { X509Certificate, randomBytes } from 'node:crypto';
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
 * The GlobalSign Atlas HVCA issuer through the whole server: created through the API (key
 * and secret sealed), tested (mTLS + login), an issuance that waits while HVCA answers 404
 * for a certificate not ready yet, and an HVCA outage while polling that fails the job with
 * the CA's message and leaves it to the retry loop.
 */

const bed = new IssuerOrdersTestBed('gs');
const { tag } = bed;
const KEY = `gs-key-${tag}`;
const SECRET = `gs-secret-${tag}-0123456789`;

/** A minimal HVCA: a certificate becomes visible after `hiddenPolls` GETs answered 404. */
class Hvca {
  readonly certs = new Map<string, { pem: string; gets: number }>();
  hiddenPolls = 2;
  outage?: ApiAnswer;
  private tokens = new Set<string>();

  constructor(
    readonly api: FakeCaApi,
    readonly ca: TestCa,
  ) {
    api.handler = (r) => this.handle(r);
  }

  private problem(status: number, description: string): ApiAnswer {
    return { status, body: JSON.stringify({ description }), contentType: 'application/problem+json' };
  }

  private async handle(r: ApiRequest): Promise<ApiAnswer | undefined> {
    if (r.clientCn !== 'certctl-client') return this.problem(403, 'client certificate not recognised');
    if (r.method === 'POST' && r.path === '/v2/login') {
      const b = r.json as { api_key?: string; api_secret?: string };
      if (b.api_key !== KEY || b.api_secret !== SECRET) return this.problem(401, 'Invalid API credentials');
      const token = randomBytes(8).toString('hex');
      this.tokens.add(token);
      return { status: 200, body: { access_token: token } };
    }
    if (!this.tokens.has(String(r.headers.authorization).replace(/^Bearer /, '')))
      return this.problem(401, 'Unauthorized');
    if (r.method === 'GET' && r.path === '/v2/trustchain') {
      return { status: 200, body: [this.ca.issuing.certPem, this.ca.root.certPem] };
    }
    if (r.method === 'POST' && r.path === '/v2/certificates') {
      const b = r.json as { subject_dn: { common_name: string }; san?: { dns_names?: string[] }; public_key: string };
      const signed = await this.ca.sign(b.public_key, {
        commonName: b.subject_dn.common_name,
        sans: { dns: b.san?.dns_names ?? [] },
      });
      const serial = signed.serialHex.toUpperCase();
      this.certs.set(serial, { pem: signed.certPem, gets: 0 });
      return { status: 201, headers: { location: `${this.api.url}/v2/certificates/${serial}` } };
    }
    const one = /^\/v2\/certificates\/([0-9A-F]+)$/.exec(r.path);
    if (r.method === 'GET' && one) {
      if (this.outage) return this.outage;
      const c = this.certs.get(one[1]);
      if (!c || ++c.gets <= this.hiddenPolls) return this.problem(404, 'Certificate not found');
      return { status: 200, body: { certificate: c.pem, status: 'ISSUED', updated_at: 1_700_000_000 } };
    }
    return this.problem(404, `no route ${r.method} ${r.path}`);
  }
}

let mtls: MutualTlsCa;
let hvca: Hvca;
let ca: TestCa;
const issuerId = `iss-gs-${tag}`;

beforeAll(async () => {
  mtls = await startMutualTlsCa('globalsign-int-', 'Atlas Int');
  ca = mtls.ca;
  hvca = new Hvca(mtls.api, ca);
  await bed.start();
});

afterAll(async () => {
  await bed.close();
  await mtls?.stop();
});

describe('GlobalSign Atlas HVCA issuer through the server (mutual TLS + API key login)', () => {
  it('creates the issuer through the API with the key and secret sealed; the connection test logs in', async () => {
    const res = await bed.t.http
      .post('/api/v1/issuers')
      .set('Authorization', bed.admin)
      .send({
        id: issuerId,
        name: issuerId,
        type: 'GlobalSign',
        config: {
          base_url: `${hvca.api.url}/v2`,
          api_key: KEY,
          api_secret: SECRET,
          ...mtls.tlsConfig,
          timeout_seconds: 5,
        },
      });
    expect(res.status).toBe(201);
    expect(res.body.config).toMatchObject({ api_key: '[REDACTED]', api_secret: '[REDACTED]' });
    const [row] = await bed.t.ds.query(`SELECT config, secret_config FROM issuers WHERE id = $1`, [issuerId]);
    expect(JSON.stringify(row.config)).not.toContain(SECRET);
    expect((row.secret_config as Buffer).toString('latin1')).not.toContain(SECRET);

    const test = await bed.t.http.post(`/api/v1/issuers/${issuerId}/test`).set('Authorization', bed.admin);
    expect(test.body).toMatchObject({
      ok: true,
      message: 'GlobalSign Atlas reachable; logged in, trust chain of 2 certificate(s)',
    });
  });

  it('waits AwaitingIssuer while HVCA answers 404, then records the certificate with its chain', async () => {
    const { certId, commonName, jobId, outcome } = await bed.order(issuerId);
    expect(outcome).toBe('AwaitingIssuer');
    const orderId = String(await issuerOrderId(bed.t, jobId));
    expect(hvca.certs.has(orderId)).toBe(true);

    const job = await awaitJobStatus(bed.t, jobId, 'Completed');
    expect(job.last_error).toBeNull();
    const [v] = await certificateVersions(bed.t, certId);
    const leaf = new X509Certificate(v.pem_chain);
    expect(leaf.subject).toContain(`CN=${commonName}`);
    expect(leaf.checkIssued(new X509Certificate(ca.issuing.certPem))).toBe(true);
    expect(v.pem_chain).toContain(ca.issuing.certPem.trim());
    expect(v.pem_chain).not.toContain(ca.root.certPem.trim());
    expect(hvca.certs.get(orderId)?.gets).toBe(3);
  });

  it('an HVCA outage while polling fails the job with the CA message and keeps it retryable', async () => {
    hvca.outage = {
      status: 503,
      body: JSON.stringify({ description: 'Maintenance' }),
      contentType: 'application/problem+json',
    };
    try {
      const { jobId, outcome } = await bed.order(issuerId);
      expect(outcome).toBe('AwaitingIssuer');
      const failed = await awaitJobStatus(bed.t, jobId, 'Failed');
      expect(failed.last_error).toMatch(
        /the CA could not be polled: GlobalSign Atlas: GET \/v2\/certificates\/[0-9A-F]+ answered HTTP 503: Maintenance$/,
      );
      expect(failed.attempts).toBeLessThan(failed.max_attempts);
    } finally {
      hvca.outage = undefined;
    }
  });
});
