import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCsr } from '@certctl/pki';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../../remote-ca/testing/fake-ca-api';

/** Test helpers: a local ACM PCA (JSON 1.1 over SigV4). Not for production code. */

export const FAKE_PCA_REGION = 'eu-west-1';
export const FAKE_PCA_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
export const FAKE_PCA_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
export const FAKE_PCA_CA_ARN =
  'arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/0f9d6c1e-1234-4abc-9def-0123456789ab';

const ISSUE_FIELDS = new Set([
  'ApiPassthrough',
  'CertificateAuthorityArn',
  'Csr',
  'IdempotencyToken',
  'SigningAlgorithm',
  'TemplateArn',
  'Validity',
  'ValidityNotBefore',
]);
const SIGNING = new Set([
  'SHA256WITHECDSA',
  'SHA384WITHECDSA',
  'SHA512WITHECDSA',
  'SHA256WITHRSA',
  'SHA384WITHRSA',
  'SHA512WITHRSA',
]);
const REASONS = new Set([
  'UNSPECIFIED',
  'KEY_COMPROMISE',
  'CERTIFICATE_AUTHORITY_COMPROMISE',
  'AFFILIATION_CHANGED',
  'SUPERSEDED',
  'CESSATION_OF_OPERATION',
  'PRIVILEGE_WITHDRAWN',
  'A_A_COMPROMISE',
]);

export interface FakePcaCertificate {
  arn: string;
  csrPem: string;
  /** GetCertificate answers RequestInProgressException this many more times. */
  pendingPolls: number;
  polls: number;
  request: Record<string, unknown>;
  certPem?: string;
  serialHex?: string;
  /** Set: GetCertificate answers RequestFailedException with this message. */
  failure?: string;
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * Checks an AWS Signature Version 4 Authorization header the way AWS does: algorithm,
 * credential scope (key id, date, region, service, aws4_request), the signed headers
 * (host, x-amz-date, x-amz-target and content-type at least) and the signature itself,
 * recomputed from the canonical request with the known secret. Returns what is wrong.
 */
export function sigV4Problem(
  r: ApiRequest,
  o: { accessKeyId: string; secret: string; region: string; service: string },
): string | undefined {
  const auth = String(r.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return `malformed Authorization header: ${auth.slice(0, 40)}`;
  const [, credential, signedHeaderList, signature] = m;
  const [keyId, date, region, service, terminator] = credential.split('/');
  if (keyId !== o.accessKeyId) return `unknown access key ${keyId}`;
  if (region !== o.region || service !== o.service || terminator !== 'aws4_request')
    return `credential scope ${credential} is not <date>/${o.region}/${o.service}/aws4_request`;
  const amzDate = String(r.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date)
    return 'x-amz-date missing or not the scope date';
  const at = Date.parse(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  if (Math.abs(Date.now() - at) > 15 * 60_000) return 'Signature expired';
  const signed = signedHeaderList.split(';');
  for (const h of ['host', 'x-amz-date', 'x-amz-target', 'content-type']) {
    if (!signed.includes(h)) return `header ${h} is not signed`;
  }
  if ([...signed].sort().join(';') !== signedHeaderList) return 'SignedHeaders are not sorted';
  const url = new URL(r.path, 'https://x');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
  const canonicalHeaders = signed
    .map(
      (h) =>
        `${h}:${String(r.headers[h] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalRequest = [r.method, url.pathname, query, canonicalHeaders, signedHeaderList, sha256Hex(r.text)].join(
    '\n',
  );
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${o.secret}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    return 'The request signature we calculated does not match';
  return undefined;
}

/**
 * An ACM PCA on 127.0.0.1: every request must be a SigV4-signed JSON 1.1 call
 * (`X-Amz-Target: ACMPrivateCA.<Operation>`); certificates stay in progress for
 * `pendingPolls` GetCertificate calls, then are signed by a test CA.
 */
export class FakeAcmPca {
  readonly certificates = new Map<string, FakePcaCertificate>();
  readonly revocations: Record<string, unknown>[] = [];
  /** Refused requests and why (a test asserts it stays empty). */
  readonly refused: string[] = [];
  pendingPolls = 2;
  caStatus = 'ACTIVE';
  /** Answers every GetCertificate instead of the certificate (an outage). */
  outage?: ApiAnswer;
  hang = false;
  private readonly tokens = new Map<string, string>();

  private constructor(
    readonly api: FakeCaApi,
    readonly ca: TestCa,
  ) {
    api.handler = (r) => this.handle(r);
  }

  static async start(): Promise<FakeAcmPca> {
    const [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('PCA Test')]);
    return new FakeAcmPca(api, ca);
  }

  /** The operations called, in order. */
  operations(): string[] {
    return this.api.received.map((r) => String(r.headers['x-amz-target'] ?? '').replace('ACMPrivateCA.', ''));
  }

  stop(): Promise<void> {
    return this.api.stop();
  }

  private async handle(r: ApiRequest): Promise<ApiAnswer | undefined> {
    if (this.hang) return undefined;
    const problem = sigV4Problem(r, {
      accessKeyId: FAKE_PCA_ACCESS_KEY_ID,
      secret: FAKE_PCA_SECRET,
      region: FAKE_PCA_REGION,
      service: 'acm-pca',
    });
    if (problem) {
      this.refused.push(problem);
      return awsError(403, 'InvalidSignatureException', problem);
    }
    if (r.method !== 'POST' || r.path !== '/') return awsError(404, 'UnknownOperationException', r.path);
    if (r.headers['content-type'] !== 'application/x-amz-json-1.1') {
      this.refused.push(`content-type ${r.headers['content-type']}`);
      return awsError(400, 'SerializationException', 'Content-Type must be application/x-amz-json-1.1');
    }
    const target = String(r.headers['x-amz-target'] ?? '');
    const body = (r.json ?? {}) as Record<string, unknown>;
    if (body.CertificateAuthorityArn !== FAKE_PCA_CA_ARN)
      return awsError(
        400,
        'ResourceNotFoundException',
        `Could not find certificate authority ${String(body.CertificateAuthorityArn)}`,
      );
    switch (target) {
      case 'ACMPrivateCA.DescribeCertificateAuthority':
        return ok({
          CertificateAuthority: {
            Arn: FAKE_PCA_CA_ARN,
            Status: this.caStatus,
            Type: 'SUBORDINATE',
            CertificateAuthorityConfiguration: { KeyAlgorithm: 'EC_prime256v1', SigningAlgorithm: 'SHA256WITHECDSA' },
          },
        });
      case 'ACMPrivateCA.IssueCertificate':
        return this.issue(body);
      case 'ACMPrivateCA.GetCertificate':
        return this.get(body);
      case 'ACMPrivateCA.RevokeCertificate': {
        if (!/^([0-9a-f]{2}:)*[0-9a-f]{2}$/.test(String(body.CertificateSerial)))
          return awsError(400, 'InvalidRequestException', 'CertificateSerial must be hexadecimal');
        if (!REASONS.has(String(body.RevocationReason)))
          return awsError(400, 'ValidationException', 'RevocationReason is invalid');
        const serial = String(body.CertificateSerial).replace(/:/g, '');
        if (![...this.certificates.values()].some((c) => c.serialHex === serial))
          return awsError(400, 'ResourceNotFoundException', `Certificate ${String(body.CertificateSerial)} not found`);
        this.revocations.push(body);
        return ok({});
      }
      case 'ACMPrivateCA.GetCertificateAuthorityCertificate':
        return ok({ Certificate: this.ca.issuing.certPem, CertificateChain: this.ca.root.certPem });
      default:
        return awsError(400, 'UnknownOperationException', target);
    }
  }

  private async issue(b: Record<string, unknown>): Promise<ApiAnswer> {
    const unknown = Object.keys(b).filter((k) => !ISSUE_FIELDS.has(k));
    if (unknown.length) return awsError(400, 'ValidationException', `Unknown fields ${unknown.join(', ')}`);
    if (!SIGNING.has(String(b.SigningAlgorithm))) return awsError(400, 'ValidationException', 'SigningAlgorithm');
    const v = b.Validity as { Type?: unknown; Value?: unknown } | undefined;
    if (
      !v ||
      !['DAYS', 'ABSOLUTE', 'END_DATE', 'MONTHS', 'YEARS'].includes(String(v.Type)) ||
      typeof v.Value !== 'number'
    )
      return awsError(400, 'ValidationException', 'Validity is required');
    const csrPem = typeof b.Csr === 'string' ? Buffer.from(b.Csr, 'base64').toString('utf8') : '';
    if (!csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----'))
      return awsError(400, 'MalformedCSRException', 'The certificate signing request is invalid');
    const token = typeof b.IdempotencyToken === 'string' ? b.IdempotencyToken : undefined;
    const again = token === undefined ? undefined : this.tokens.get(token);
    if (again) return ok({ CertificateArn: again });
    const arn = `${FAKE_PCA_CA_ARN}/certificate/${randomBytes(16).toString('hex')}`;
    if (token !== undefined) this.tokens.set(token, arn);
    this.certificates.set(arn, { arn, csrPem, pendingPolls: this.pendingPolls, polls: 0, request: b });
    return ok({ CertificateArn: arn });
  }

  private async get(b: Record<string, unknown>): Promise<ApiAnswer> {
    if (this.outage) return this.outage;
    const c = this.certificates.get(String(b.CertificateArn));
    if (!c) return awsError(400, 'ResourceNotFoundException', `Could not find certificate ${String(b.CertificateArn)}`);
    c.polls++;
    if (c.failure) return awsError(400, 'RequestFailedException', c.failure);
    if (!c.certPem && c.pendingPolls-- > 0)
      return awsError(400, 'RequestInProgressException', 'The request to issue the certificate is still in progress');
    if (!c.certPem) {
      const v = c.request.Validity as { Type: string; Value: number };
      const ttlSeconds = v.Type === 'DAYS' ? v.Value * 86_400 : v.Value - Math.floor(Date.now() / 1000);
      // PCA without a template copies the CSR's subject and SANs.
      const csr = await parseCsr(c.csrPem);
      const commonName = csr.commonName ?? 'pca.example.com';
      const sans = csr.sans.dns.length ? csr.sans : { ...csr.sans, dns: [commonName] };
      const signed = await this.ca.sign(c.csrPem, { commonName, sans, ttlSeconds });
      c.certPem = signed.certPem;
      c.serialHex = signed.serialHex.length % 2 ? `0${signed.serialHex}` : signed.serialHex;
    }
    // AWS's chain: the issuing CA and above, root included.
    return ok({ Certificate: c.certPem, CertificateChain: this.ca.issuing.certPem + this.ca.root.certPem });
  }
}

function ok(body: Record<string, unknown>): ApiAnswer {
  return { status: 200, body };
}

/** JSON 1.1 error: `{"__type": "...", "message": "..."}`. */
export function awsError(status: number, type: string, message: string): ApiAnswer {
  return { status, body: { __type: type, message } };
}
