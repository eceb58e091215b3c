import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  awsError,
  FAKE_PCA_ACCESS_KEY_ID,
  FAKE_PCA_CA_ARN,
  FAKE_PCA_REGION,
  FAKE_PCA_SECRET,
  FakeAcmPca,
} from '../../../../libs/connectors/src/issuers/aws-pca/testing/fake-acm-pca';
import {
  awaitJobStatus,
  certificateVersions,
  createProfile,
  ISSUING_ENV,
} from '../../../../test/integration/issued-certificates';
import {
  createIssuer,
  FAST_ORDER_POLL_ENV,
  insertAgentWithTarget,
  issuerOrderId,
  orderCertificate,
} from '../../../../test/integration/issuer-orders';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

/**
 * AWS ACM PCA through the whole server: an issuer created through the API with static
 * keys (sealed at rest) and an endpoint override to a local, SigV4-verifying ACM PCA; an
 * Issuance job whose certificate is still RequestInProgress waits AwaitingIssuer with the
 * certificate ARN as its order, and the BullMQ poll loop collects it. Also: an outage while
 * polling (retried, same ARN) and a RequestFailedException (failed for good).
 */

const tag = randomBytes(3).toString('hex');
const issuerId = `iss-pca-${tag}`;
let db: PrivateDatabase;
let t: TestApp;
let admin: string;
let dir: string;
let pca: FakeAcmPca;

let certSeq = 0;
async function orderPcaCertificate(): Promise<{ certId: string; jobId: string; outcome: string; arn: string }> {
  const certId = `mc-pca-${tag}-${++certSeq}`;
  const { jobId, outcome } = await orderCertificate(t, admin, {
    id: certId,
    commonName: `svc${certSeq}.pca.example.com`,
    issuerId,
    profileId: `prof-pca-${tag}`,
    agentId: `ag-pca-${tag}`,
    targetId: `t-pca-${tag}`,
  });
  return { certId, jobId, outcome, arn: String(await issuerOrderId(t, jobId)) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aws-pca-'));
  pca = await FakeAcmPca.start();
  const caFile = join(dir, 'tls-ca.pem');
  writeFileSync(caFile, pca.api.tlsCaPem);
  db = await createPrivateDatabase(`aws_pca_${tag}`);
  t = await createTestApp({
    ...db.env,
    ...ISSUING_ENV,
    ...FAST_ORDER_POLL_ENV,
    CERTCTL_ISSUER_POLL_TIMEOUT: '5s',
    CERTCTL_SCHEDULER_RETRY_INTERVAL: '200ms',
  });
  admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
  await createIssuer(t, admin, {
    id: issuerId,
    type: 'AWSACMPCA',
    config: {
      region: FAKE_PCA_REGION,
      certificate_authority_arn: FAKE_PCA_CA_ARN,
      access_key_id: FAKE_PCA_ACCESS_KEY_ID,
      secret_access_key: FAKE_PCA_SECRET,
      endpoint: pca.api.url,
      ca_cert_path: caFile,
      timeout_seconds: 2,
    },
  });
  await createProfile(t, admin, `prof-pca-${tag}`, 'pca.example.com', 30 * 86_400);
  await insertAgentWithTarget(t, `ag-pca-${tag}`, `t-pca-${tag}`);
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
  await pca?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  pca.outage = undefined;
  pca.pendingPolls = 2;
});

describe('AWS ACM PCA orders through the server', () => {
  it('keeps the secret access key sealed and tests the connection', async () => {
    const [row] = await t.ds.query(`SELECT config::text AS config, secret_config FROM issuers WHERE id = $1`, [
      issuerId,
    ]);
    expect(row.config).not.toContain(FAKE_PCA_SECRET);
    expect(Buffer.from(row.secret_config).toString('latin1')).not.toContain(FAKE_PCA_SECRET);
    const res = await t.http.post(`/api/v1/issuers/${issuerId}/test`).set('Authorization', admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true });
  });

  it('waits AwaitingIssuer on RequestInProgress with the certificate ARN as order, then records the certificate', async () => {
    const { certId, jobId, outcome, arn } = await orderPcaCertificate();
    expect(outcome).toBe('AwaitingIssuer');
    expect(arn).toMatch(new RegExp(`^${FAKE_PCA_CA_ARN}/certificate/[0-9a-f]{32}$`));

    const job = await awaitJobStatus(t, jobId, 'Completed');
    expect(job.last_error).toBeNull();
    const [v] = await certificateVersions(t, certId);
    expect(v).toMatchObject({ job_id: jobId, issuer_id: issuerId });
    const leaf = new X509Certificate(v.pem_chain);
    expect(leaf.checkIssued(new X509Certificate(pca.ca.issuing.certPem))).toBe(true);
    expect(leaf.subject).toContain(`CN=svc${certSeq}.pca.example.com`);
    expect(v.pem_chain).toContain(pca.ca.issuing.certPem.trim());
    expect(v.pem_chain).not.toContain(pca.ca.root.certPem.trim());
    // The profile's 30-day max TTL became the PCA validity.
    expect((pca.certificates.get(arn)?.request.Validity as { Value: number }).Value).toBe(30);
    // One GetCertificate while issuing, then polls until signed (two in progress in all).
    expect(pca.certificates.get(arn)?.polls).toBe(3);
    expect(pca.refused).toEqual([]);
    expect(await t.ds.query(`SELECT 1 FROM issuer_orders WHERE job_id = $1`, [jobId])).toHaveLength(0);
  });

  it('an outage while polling fails the job with the AWS error; the retry resumes the same certificate ARN', async () => {
    const issues = pca.operations().filter((o) => o === 'IssueCertificate').length;
    pca.pendingPolls = 1000;
    const { certId, jobId, arn } = await orderPcaCertificate();
    pca.outage = awsError(500, 'InternalFailure', 'We encountered an internal error.');
    const failed = await awaitJobStatus(t, jobId, 'Failed');
    expect(failed.last_error).toBe(
      `issuer ${issuerId} order ${arn}: the CA could not be polled: AWS ACM PCA: GetCertificate answered HTTP 500: InternalFailure: We encountered an internal error.`,
    );
    expect(failed.attempts).toBeLessThan(failed.max_attempts);

    pca.outage = undefined;
    const c = pca.certificates.get(arn);
    if (c) c.pendingPolls = 0;
    await t.ds.query(`UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = $1`, [jobId]);
    await awaitJobStatus(t, jobId, 'Completed');
    expect(await certificateVersions(t, certId)).toHaveLength(1);
    expect(pca.operations().filter((o) => o === 'IssueCertificate').length).toBe(issues + 1);
  });

  it('a RequestFailedException fails the job for good with the AWS message', async () => {
    pca.pendingPolls = 1000;
    const { certId, jobId, arn } = await orderPcaCertificate();
    const c = pca.certificates.get(arn);
    if (c) c.failure = 'The CSR does not comply with the template';
    const job = await awaitJobStatus(t, jobId, 'Failed');
    expect(job.last_error).toBe(
      `issuer ${issuerId} order ${arn} was rejected by the CA: certificate ${arn} was not issued: The CSR does not comply with the template`,
    );
    expect(job.attempts).toBe(job.max_attempts);
    const [cert] = await t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [certId]);
    expect(cert.status).toBe('Failed');
  });
});
