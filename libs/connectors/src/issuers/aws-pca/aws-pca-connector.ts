import { createHash } from 'node:crypto';
import {
  DescribeCertificateAuthorityCommand,
  GetCertificateAuthorityCertificateCommand,
  GetCertificateCommand,
  IssueCertificateCommand,
  RevokeCertificateCommand,
  type ACMPCAClient,
  type RevocationReason,
  type SigningAlgorithm,
  type Validity,
} from '@aws-sdk/client-acm-pca';
import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { awsAcmPcaConfig, type AwsAcmPcaConfig } from '../issuer-configs';
import type {
  IssuanceOutcome,
  IssuanceRequest,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import { caTimeoutMs } from '../remote-ca/ca-http';
import {
  configuredDays,
  evenHex,
  issuanceResult,
  lifetimeSeconds,
  pemCertificates,
  requireCsr,
} from '../remote-ca/issued-certificate';
import { readOptionalCaBundle } from '../remote-ca/trust';
import { acmPcaClient, awsError, awsErrorName, WHAT } from './aws-pca-client';

/** IssueCertificate requires a validity; with none configured and no profile maximum, 90 days. */
const DEFAULT_VALIDITY_SECONDS = 90 * 86_400;
/** PCA usually signs within seconds: the first poll comes soon. */
const FIRST_POLL_SECONDS = 2;

/** RFC 5280 reason names -> ACM PCA RevocationReason. */
const REASONS: Record<string, RevocationReason> = {
  unspecified: 'UNSPECIFIED',
  keyCompromise: 'KEY_COMPROMISE',
  cACompromise: 'CERTIFICATE_AUTHORITY_COMPROMISE',
  affiliationChanged: 'AFFILIATION_CHANGED',
  superseded: 'SUPERSEDED',
  cessationOfOperation: 'CESSATION_OF_OPERATION',
  privilegeWithdrawn: 'PRIVILEGE_WITHDRAWN',
  aACompromise: 'A_A_COMPROMISE',
};

/**
 * AWS Certificate Manager Private CA through the AWS SDK (JSON 1.1 over SigV4).
 * IssueCertificate answers a certificate ARN at once but signs asynchronously: GetCertificate
 * answers RequestInProgressException until the certificate exists. The ARN is the pending
 * order's id and the server polls it.
 */
export class AwsPcaConnector implements IssuerConnector {
  readonly type = IssuerType.AWSACMPCA;
  private readonly cfg: AwsAcmPcaConfig;
  private readonly timeoutMs: number;
  private client?: Promise<ACMPCAClient>;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = awsAcmPcaConfig.schema.parse(ctx.config);
    this.timeoutMs = caTimeoutMs(this.cfg.timeout_seconds);
  }

  /**
   * IssueCertificate with our CSR. The idempotency token is derived from the CSR, so a
   * retry after a lost answer (within PCA's five-minute window) gets the same certificate ARN
   * instead of a second certificate. One GetCertificate follows: done, or a pending order.
   */
  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const signingAlgorithm = this.cfg.signing_algorithm ?? (await this.caSigningAlgorithm());
    const seconds = lifetimeSeconds(req, configuredDays(this.cfg.validity_days)) ?? DEFAULT_VALIDITY_SECONDS;
    const out = await this.send('IssueCertificate', (c) =>
      c.send(
        new IssueCertificateCommand({
          CertificateAuthorityArn: this.cfg.certificate_authority_arn,
          Csr: Buffer.from(derToPem(csr.der, 'CERTIFICATE REQUEST')),
          SigningAlgorithm: signingAlgorithm,
          Validity: validity(seconds, req.now ?? new Date()),
          ...(this.cfg.template_arn ? { TemplateArn: this.cfg.template_arn } : {}),
          IdempotencyToken: createHash('sha256').update(csr.der).digest('hex').slice(0, 32),
        }),
      ),
    );
    const arn = out.CertificateArn;
    if (!arn) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: IssueCertificate answered no CertificateArn`);
    const status = await this.getOrderStatus(arn, { spkiDer: csr.spkiDer });
    if (status.state === 'issued') return status.result;
    if (status.state === 'failed') throw invalid(`${WHAT}: ${status.message}`);
    return { state: 'pending', orderId: arn, retryAfterSeconds: FIRST_POLL_SECONDS };
  }

  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  /** GetCertificate: RequestInProgressException is pending, RequestFailedException failed. */
  async getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus> {
    this.checkCertificateArn(orderId);
    let out: { Certificate?: string; CertificateChain?: string };
    try {
      const client = await this.acm();
      out = await client.send(
        new GetCertificateCommand({
          CertificateAuthorityArn: this.cfg.certificate_authority_arn,
          CertificateArn: orderId,
        }),
      );
    } catch (e) {
      const name = awsErrorName(e);
      if (name === 'RequestInProgressException') return { state: 'pending' };
      if (name === 'RequestFailedException') {
        return { state: 'failed', message: `certificate ${orderId} was not issued: ${(e as Error).message}` };
      }
      throw awsError('GetCertificate', e);
    }
    if (!out.Certificate)
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: GetCertificate answered no Certificate`);
    if (!expected) throw invalid(`${WHAT}: collecting ${orderId} needs the public key it was requested for`);
    return {
      state: 'issued',
      result: issuanceResult(out.Certificate, [out.CertificateChain ?? ''], expected.spkiDer, WHAT),
    };
  }

  /** RevokeCertificate by serial (colon-separated hex, as openssl prints it and AWS documents). */
  async revoke(req: RevocationRequest): Promise<void> {
    const serial = evenHex(req.serialHex).match(/../g)?.join(':') ?? '';
    await this.send('RevokeCertificate', (c) =>
      c.send(
        new RevokeCertificateCommand({
          CertificateAuthorityArn: this.cfg.certificate_authority_arn,
          CertificateSerial: serial,
          RevocationReason: REASONS[req.reason] ?? 'UNSPECIFIED',
        }),
      ),
    );
  }

  /** GetCertificateAuthorityCertificate: the CA's own certificate (its chain is separate). */
  async getCaCertPem(): Promise<string> {
    const out = await this.send('GetCertificateAuthorityCertificate', (c) =>
      c.send(
        new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: this.cfg.certificate_authority_arn }),
      ),
    );
    const [pem] = pemCertificates(out.Certificate ?? '');
    if (!pem) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the CA has no certificate yet (not activated)`);
    return pem;
  }

  /** The connection test: the credentials can describe the CA, and it is ACTIVE. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      const ca = await this.describe();
      if (ca.Status !== 'ACTIVE')
        return { ok: false, message: `${WHAT}: the CA is ${ca.Status ?? 'in an unknown state'}` };
      return { ok: true, message: `${WHAT} reachable; CA ${this.cfg.certificate_authority_arn} is ACTIVE` };
    });
  }

  /** The CA's own signing algorithm, when the issuer does not set one (it must match the CA key). */
  private async caSigningAlgorithm(): Promise<SigningAlgorithm> {
    const alg = (await this.describe()).CertificateAuthorityConfiguration?.SigningAlgorithm;
    if (!alg) throw invalid(`${WHAT}: the CA does not say its signing algorithm: set signing_algorithm`);
    return alg;
  }

  private async describe() {
    const out = await this.send('DescribeCertificateAuthority', (c) =>
      c.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: this.cfg.certificate_authority_arn })),
    );
    if (!out.CertificateAuthority) {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: DescribeCertificateAuthority answered no CA`);
    }
    return out.CertificateAuthority;
  }

  /** Order ids are certificate ARNs below the configured CA (they come back from Postgres). */
  private checkCertificateArn(arn: string): void {
    if (!arn.startsWith(`${this.cfg.certificate_authority_arn}/certificate/`) || !/^[\w:/.-]{1,256}$/.test(arn)) {
      throw invalid(
        `${WHAT}: ${JSON.stringify(arn)} is not a certificate ARN of CA ${this.cfg.certificate_authority_arn}`,
      );
    }
  }

  private async send<T>(op: string, call: (c: ACMPCAClient) => Promise<T>): Promise<T> {
    const client = await this.acm();
    try {
      return await call(client);
    } catch (e) {
      throw awsError(op, e);
    }
  }

  private acm(): Promise<ACMPCAClient> {
    this.client ??= readOptionalCaBundle(this.cfg.ca_cert_path, 'config.ca_cert_path').then((ca) =>
      acmPcaClient(this.cfg, this.timeoutMs, ca),
    );
    return this.client;
  }
}

/** Whole days as DAYS; anything else as an ABSOLUTE end (Unix seconds). */
function validity(seconds: number, now: Date): Validity {
  if (seconds % 86_400 === 0) return { Type: 'DAYS', Value: seconds / 86_400 };
  return { Type: 'ABSOLUTE', Value: Math.floor(now.getTime() / 1000) + Math.floor(seconds) };
}
