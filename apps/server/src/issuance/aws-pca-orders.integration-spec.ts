import { X509Certificate } from 'node:crypto';
import {
  awsError,
  FAKE_PCA_ACCESS_KEY_ID,
  FAKE_PCA_CA_ARN,
  FAKE_PCA_REGION,
  FAKE_PCA_SECRET,
  FakeAcmPca,
} from '../../../../libs/connectors/src/issuers/aws-pca/testing/fake-acm-pca';
import { awaitJobStatus, certificateVersions } from '../../../../test/integration/issued-certificates';
import { IssuerOrdersTestBed, issuerOrderId } from '../../../../test/integration/issuer-orders';

/**
 * AWS ACM PCA through the whole server: an issuer created through the API with static
 * keys (sealed at rest) and an endpoint override to a local, SigV4-verifying ACM PCA; an
 * Issuance job whose certificate is still RequestInProgress waits AwaitingIssuer with the
 * certificate ARN as its order, and the BullMQ poll loop collects it. Also: an outage while
 * polling (retried, same ARN) and a RequestFailedException (failed for good).
 */

const bed = new IssuerOrdersTestBed('pca');
const issuerId = `iss-pca-${bed.tag}`;
let pca: FakeAcmPca;

/** The next certificate from the PCA issuer, and its certificate ARN (the job's order). */
async function orderPcaCertificate() {
  const order = await bed.order(issuerId, 'svc');
  return { ...order, arn: String(await issuerOrderId(bed.t, order.jobId)) };
}

beforeAll(async () => {
  pca = await FakeAcmPca.start();
  await bed.start({ CERTCTL_ISSUER_POLL_TIMEOUT: '5s', CERTCTL_SCHEDULER_RETRY_INTERVAL: '200ms' });
  await bed.createIssuer({
    id: issuerId,
    type: 'AWSACMPCA',
    config: {
      region: FAKE_PCA_REGION,
      certificate_authority_arn: FAKE_PCA_CA_ARN,
      access_key_id: FAKE_PCA_ACCESS_KEY_ID,
      secret_access_key: FAKE_PCA_SECRET,
      endpoint: pca.api.url,
      ca_cert_path: bed.trustFile('tls-ca.pem', pca.api.tlsCaPem),
      timeout_seconds: 2,
    },
  });
});

afterAll(async () => {
  await bed.close();
  await pca?.stop();
});

beforeEach(() => {
  pca.outage = undefined;
  pca.pendingPolls = 2;
});

describe('AWS ACM PCA orders through the server', () => {
  it('keeps the secret access key sealed and tests the connection', async () => {
    const [row] = await bed.t.ds.query(`SELECT config::text AS config, secret_config FROM issuers WHERE id = $1`, [
      issuerId,
    ]);
    expect(row.config).not.toContain(FAKE_PCA_SECRET);
    expect(Buffer.from(row.secret_config).toString('latin1')).not.toContain(FAKE_PCA_SECRET);
    const res = await bed.t.http.post(`/api/v1/issuers/${issuerId}/test`).set('Authorization', bed.admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true });
  });

  it('waits AwaitingIssuer on RequestInProgress with the certificate ARN as order, then records the certificate', async () => {
    const { certId, commonName, jobId, outcome, arn } = await orderPcaCertificate();
    expect(outcome).toBe('AwaitingIssuer');
    expect(arn).toMatch(new RegExp(`^${FAKE_PCA_CA_ARN}/certificate/[0-9a-f]{32}$`));

    const job = await awaitJobStatus(bed.t, jobId, 'Completed');
    expect(job.last_error).toBeNull();
    const [v] = await certificateVersions(bed.t, certId);
    expect(v).toMatchObject({ job_id: jobId, issuer_id: issuerId });
    const leaf = new X509Certificate(v.pem_chain);
    expect(leaf.checkIssued(new X509Certificate(pca.ca.issuing.certPem))).toBe(true);
    expect(leaf.subject).toContain(`CN=${commonName}`);
    expect(v.pem_chain).toContain(pca.ca.issuing.certPem.trim());
    expect(v.pem_chain).not.toContain(pca.ca.root.certPem.trim());
    // The profile's 30-day max TTL became the PCA validity.
    expect((pca.certificates.get(arn)?.request.Validity as { Value: number }).Value).toBe(30);
    // One GetCertificate while issuing, then polls until signed (two in progress in all).
    expect(pca.certificates.get(arn)?.polls).toBe(3);
    expect(pca.refused).toEqual([]);
    expect(await bed.t.ds.query(`SELECT 1 FROM issuer_orders WHERE job_id = $1`, [jobId])).toHaveLength(0);
  });

  it('an outage while polling fails the job with the AWS error; the retry resumes the same certificate ARN', async () => {
    const issues = pca.operations().filter((o) => o === 'IssueCertificate').length;
    pca.pendingPolls = 1000;
    const { certId, jobId, arn } = await orderPcaCertificate();
    pca.outage = awsError(500, 'InternalFailure', 'We encountered an internal error.');
    const failed = await awaitJobStatus(bed.t, jobId, 'Failed');
    expect(failed.last_error).toBe(
      `issuer ${issuerId} order ${arn}: the CA could not be polled: AWS ACM PCA: GetCertificate answered HTTP 500: InternalFailure: We encountered an internal error.`,
    );
    expect(failed.attempts).toBeLessThan(failed.max_attempts);

    pca.outage = undefined;
    const c = pca.certificates.get(arn);
    if (c) c.pendingPolls = 0;
    await bed.t.ds.query(`UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = $1`, [jobId]);
    await awaitJobStatus(bed.t, jobId, 'Completed');
    expect(await certificateVersions(bed.t, certId)).toHaveLength(1);
    expect(pca.operations().filter((o) => o === 'IssueCertificate').length).toBe(issues + 1);
  });

  it('a RequestFailedException fails the job for good with the AWS message', async () => {
    pca.pendingPolls = 1000;
    const { certId, jobId, arn } = await orderPcaCertificate();
    const c = pca.certificates.get(arn);
    if (c) c.failure = 'The CSR does not comply with the template';
    const job = await awaitJobStatus(bed.t, jobId, 'Failed');
    expect(job.last_error).toBe(
      `issuer ${issuerId} order ${arn} was rejected by the CA: certificate ${arn} was not issued: The CSR does not comply with the template`,
    );
    expect(job.attempts).toBe(job.max_attempts);
    const [cert] = await bed.t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [certId]);
    expect(cert.status).toBe('Failed');
  });
});
