import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { isPendingOrder, type IssuanceRequest, type IssuanceResult } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { AwsPcaConnector } from './aws-pca-connector';
import { newCsr, pollUntilDone, rejection, trustFileDir } from '../remote-ca/testing/connector-spec-kit';
import {
  awsError,
  FAKE_PCA_ACCESS_KEY_ID,
  FAKE_PCA_CA_ARN,
  FAKE_PCA_REGION,
  FAKE_PCA_SECRET,
  FakeAcmPca,
} from './testing/fake-acm-pca';

/**
 * Contract tests of the ACM PCA connector (the real AWS SDK) against a local HTTPS ACM PCA
 * that verifies each request's SigV4 signature with the known secret, the JSON 1.1 protocol
 * (X-Amz-Target, content type) and the documented fields, and answers with AWS's shapes,
 * including RequestInProgressException while a certificate is being signed.
 */

let pca: FakeAcmPca;
let dir: string;
let caFile: string;
let csr: ParsedCsr;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region: FAKE_PCA_REGION,
    certificate_authority_arn: FAKE_PCA_CA_ARN,
    access_key_id: FAKE_PCA_ACCESS_KEY_ID,
    secret_access_key: FAKE_PCA_SECRET,
    endpoint: pca.api.url,
    ca_cert_path: caFile,
    ...extra,
  };
}

function connector(extra: Record<string, unknown> = {}): AwsPcaConnector {
  return new AwsPcaConnector({ config: config(extra) });
}

function request(extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr, commonName: 'pca.example.com', sans: { dns: ['pca.example.com'] }, ...extra };
}

beforeAll(async () => {
  pca = await FakeAcmPca.start();
  ({ dir, tlsCaFile: caFile } = trustFileDir('awspca-', pca.api.tlsCaPem));
});

afterAll(async () => {
  await pca.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  pca.api.received.length = 0;
  pca.refused.length = 0;
  pca.revocations.length = 0;
  pca.certificates.clear();
  pca.pendingPolls = 2;
  pca.outage = undefined;
  pca.hang = false;
  pca.caStatus = 'ACTIVE';
  csr = await newCsr('pca.example.com', { dns: ['pca.example.com'] });
});

describe('AWS ACM PCA connector', () => {
  it('signs SigV4 JSON 1.1 requests, issues with the documented fields and polls RequestInProgress until issued', async () => {
    const conn = connector({ validity_days: 90 });
    const outcome = await conn.issue(request({ profile: { max_ttl_seconds: 30 * 86_400 } as never }));
    expect(isPendingOrder(outcome)).toBe(true);
    if (!isPendingOrder(outcome)) return;
    expect(outcome.orderId).toMatch(new RegExp(`^${FAKE_PCA_CA_ARN}/certificate/[0-9a-f]{32}$`));

    // No signing_algorithm configured: the CA's own (DescribeCertificateAuthority) is used.
    expect(pca.operations()).toEqual(['DescribeCertificateAuthority', 'IssueCertificate', 'GetCertificate']);
    const issue = pca.api.received[1];
    expect(issue.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(issue.headers.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${FAKE_PCA_ACCESS_KEY_ID}/\\d{8}/eu-west-1/acm-pca/aws4_request, `),
    );
    const body = issue.json as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([
      'CertificateAuthorityArn',
      'Csr',
      'IdempotencyToken',
      'SigningAlgorithm',
      'Validity',
    ]);
    expect(Buffer.from(String(body.Csr), 'base64').toString()).toBe(derToPem(csr.der, 'CERTIFICATE REQUEST'));
    expect(body.SigningAlgorithm).toBe('SHA256WITHECDSA');
    // The profile's 30-day max TTL wins over the issuer's 90 days.
    expect(body.Validity).toEqual({ Type: 'DAYS', Value: 30 });
    expect(body.IdempotencyToken).toMatch(/^[0-9a-f]{32}$/);

    const [status, polls] = await pollUntilDone(conn, outcome.orderId, csr.spkiDer);
    expect(polls).toBe(2); // one more in progress (the first was during issue), then issued
    expect(status.state).toBe('issued');
    const result = (status as { result: IssuanceResult }).result;
    expect(new X509Certificate(result.certPem).checkIssued(new X509Certificate(pca.ca.issuing.certPem))).toBe(true);
    expect(result.chainPem).toBe(pca.ca.issuing.certPem); // the root is dropped
    expect(result.serialHex).toBe(pca.certificates.get(outcome.orderId)?.serialHex);
    expect(pca.refused).toEqual([]);
  });

  it('answers the certificate at once when PCA has signed it by the first GetCertificate', async () => {
    pca.pendingPolls = 0;
    const outcome = await connector({
      signing_algorithm: 'SHA384WITHECDSA',
      template_arn: 'arn:aws:acm-pca:::template/EndEntityCertificate/V1',
    }).issue(request({ ttlSeconds: 3600 }));
    expect(isPendingOrder(outcome)).toBe(false);
    expect(pca.operations()).toEqual(['IssueCertificate', 'GetCertificate']);
    const body = pca.api.received[0].json as Record<string, unknown>;
    expect(body.SigningAlgorithm).toBe('SHA384WITHECDSA');
    expect(body.TemplateArn).toBe('arn:aws:acm-pca:::template/EndEntityCertificate/V1');
    // One hour is not whole days: an ABSOLUTE end time in Unix seconds.
    const v = body.Validity as { Type: string; Value: number };
    expect(v.Type).toBe('ABSOLUTE');
    expect(Math.abs(v.Value - (Math.floor(Date.now() / 1000) + 3600))).toBeLessThan(120);
  });

  it('sends the same idempotency token for the same CSR, so a retry does not issue twice', async () => {
    const a = await connector().issue(request());
    const b = await connector().issue(request());
    expect(isPendingOrder(a) && isPendingOrder(b) && a.orderId === b.orderId).toBe(true);
    expect(pca.certificates.size).toBe(1);
  });

  it('reports RequestFailedException as a failed order with AWS message', async () => {
    const conn = connector();
    const outcome = await conn.issue(request());
    if (!isPendingOrder(outcome)) throw new Error('expected a pending order');
    const c = pca.certificates.get(outcome.orderId);
    if (c) c.failure = 'The certificate request failed: the CSR does not comply with the template';
    expect(await conn.getOrderStatus(outcome.orderId, { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: `certificate ${outcome.orderId} was not issued: The certificate request failed: the CSR does not comply with the template`,
    });
  });

  it('refuses an order id that is not a certificate of the configured CA, without calling AWS', async () => {
    await expect(
      connector().getOrderStatus('arn:aws:acm-pca:eu-west-1:999999999999:certificate-authority/x/certificate/1'),
    ).rejects.toThrow('is not a certificate ARN of CA');
    expect(pca.api.received).toHaveLength(0);
  });

  it('refuses an issued certificate for another public key', async () => {
    pca.pendingPolls = 0;
    const conn = connector();
    const outcome = await conn.issue(request());
    const arn = [...pca.certificates.keys()][0];
    expect(isPendingOrder(outcome)).toBe(false);
    const other = await newCsr('pca.example.com', { dns: ['pca.example.com'] });
    await expect(conn.getOrderStatus(arn, { spkiDer: other.spkiDer })).rejects.toThrow(/different public key/);
  });

  it('revokes with the colon-separated hex serial and the PCA reason', async () => {
    pca.pendingPolls = 0;
    const issued = (await connector().issue(request())) as IssuanceResult;
    await connector().revoke({ serialHex: issued.serialHex, reason: 'keyCompromise' });
    expect(pca.revocations).toEqual([
      {
        CertificateAuthorityArn: FAKE_PCA_CA_ARN,
        CertificateSerial: (issued.serialHex.length % 2 ? `0${issued.serialHex}` : issued.serialHex)
          .match(/../g)
          ?.join(':'),
        RevocationReason: 'KEY_COMPROMISE',
      },
    ]);
    const err = await rejection(connector().revoke({ serialHex: 'abcdef', reason: 'superseded' }));
    expect(err.code).toBe(ErrorCode.Validation);
    expect(err.message).toBe(
      'AWS ACM PCA: RevokeCertificate answered HTTP 400: ResourceNotFoundException: Certificate ab:cd:ef not found',
    );
  });

  it('answers the CA certificate from GetCertificateAuthorityCertificate', async () => {
    expect(await connector().getCaCertPem()).toBe(pca.ca.issuing.certPem);
    expect(pca.operations()).toEqual(['GetCertificateAuthorityCertificate']);
  });

  it('classifies AWS errors: a wrong secret (signature refused), throttling, outages, a hung endpoint', async () => {
    const denied = await rejection(connector({ secret_access_key: 'not-the-secret-0000' }).getCaCertPem());
    expect(denied).toBeInstanceOf(DomainError);
    expect(denied.code).toBe(ErrorCode.Validation);
    expect(denied.message).toBe(
      'AWS ACM PCA: GetCertificateAuthorityCertificate answered HTTP 403: InvalidSignatureException: The request signature we calculated does not match',
    );
    expect(denied.message).not.toContain('not-the-secret');

    const conn = connector();
    const outcome = await conn.issue(request());
    if (!isPendingOrder(outcome)) throw new Error('expected a pending order');
    pca.outage = awsError(400, 'ThrottlingException', 'Rate exceeded');
    expect((await rejection(conn.getOrderStatus(outcome.orderId, { spkiDer: csr.spkiDer }))).code).toBe(
      ErrorCode.RateLimited,
    );
    pca.outage = awsError(500, 'InternalFailure', 'We encountered an internal error.');
    const outage = await rejection(conn.getOrderStatus(outcome.orderId, { spkiDer: csr.spkiDer }));
    expect(outage.code).toBe(ErrorCode.Unavailable);
    expect(outage.message).toBe(
      'AWS ACM PCA: GetCertificate answered HTTP 500: InternalFailure: We encountered an internal error.',
    );

    pca.hang = true;
    const hung = await rejection(connector({ timeout_seconds: 1 }).getCaCertPem());
    expect(hung.code).toBe(ErrorCode.Unavailable);
    expect(hung.message).toMatch(/^AWS ACM PCA: GetCertificateAuthorityCertificate failed: no answer in time: /);
  });

  it('tests the connection through the registry (credentials, CA visible and ACTIVE)', async () => {
    expect(await validateIssuerConnection('AWSACMPCA', config())).toEqual({
      ok: true,
      message: `AWS ACM PCA reachable; CA ${FAKE_PCA_CA_ARN} is ACTIVE`,
    });
    pca.caStatus = 'DISABLED';
    expect(await validateIssuerConnection('AWSACMPCA', config())).toEqual({
      ok: false,
      message: 'AWS ACM PCA: the CA is DISABLED',
    });
  });
});
