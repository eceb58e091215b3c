import { randomBytes } from 'node:crypto';
import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { ApiClient } from '../async-ca/http-json';
import { ejbcaConfig, type EjbcaConfig } from '../issuer-configs';
import type {
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import { DEFAULT_CA_TIMEOUT_SECONDS, type CaHttpResponse } from '../remote-ca/ca-http';
import { evenHex, issuanceResult, pemCertificates, requireCsr } from '../remote-ca/issued-certificate';

const WHAT = 'EJBCA';
const API = '/ejbca/ejbca-rest-api/v1';

/** EJBCA's revocation reason names (RFC 5280 reasons in upper snake case). */
const REASONS: Record<string, string> = {
  unspecified: 'UNSPECIFIED',
  keyCompromise: 'KEY_COMPROMISE',
  caCompromise: 'CA_COMPROMISE',
  affiliationChanged: 'AFFILIATION_CHANGED',
  superseded: 'SUPERSEDED',
  cessationOfOperation: 'CESSATION_OF_OPERATION',
  certificateHold: 'CERTIFICATE_HOLD',
  privilegeWithdrawn: 'PRIVILEGES_WITHDRAWN',
};

/** EJBCA's error body: `{"error_code": 400, "error_message": "..."}`. */
export function ejbcaErrorMessage(res: CaHttpResponse): string | undefined {
  const m = (res.json as { error_message?: unknown } | undefined)?.error_message;
  return typeof m === 'string' ? m : undefined;
}

/** A base64 DER certificate (EJBCA's response_format DER) as PEM. */
function b64DerToPem(b64: unknown): string {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(b64)) {
    throw new DomainError(ErrorCode.Unavailable, `${WHAT} answered a certificate that is not base64 DER`);
  }
  return derToPem(Buffer.from(b64, 'base64'), 'CERTIFICATE');
}

/**
 * Keyfactor EJBCA REST API v1 with client-certificate (mutual TLS) authentication.
 * pkcs10enroll is synchronous: the certificate comes back in the answer. The end entity is
 * named after the certificate's common name (EJBCA creates or updates it with a one-time
 * enrollment password); the end entity profile must allow that.
 */
export class EjbcaConnector implements IssuerConnector {
  readonly type = IssuerType.EJBCA;
  private readonly cfg: EjbcaConfig;
  private readonly api: ApiClient;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = ejbcaConfig.schema.parse(ctx.config);
    this.api = new ApiClient({
      baseUrl: this.cfg.base_url,
      what: WHAT,
      headers: {},
      timeoutMs: (this.cfg.timeout_seconds ?? DEFAULT_CA_TIMEOUT_SECONDS) * 1000,
      caCertPath: this.cfg.trust_ca_path,
      clientCert: {
        certPath: this.cfg.client_cert_path,
        keyPath: this.cfg.client_key_path,
        passphrase: this.cfg.client_key_passphrase,
      },
      errorMessage: ejbcaErrorMessage,
    });
  }

  /** POST /v1/certificate/pkcs10enroll with the chain included. */
  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    const csr = requireCsr(req, WHAT);
    const res = await this.api.call('POST', `${API}/certificate/pkcs10enroll`, {
      certificate_request: derToPem(csr.der, 'CERTIFICATE REQUEST'),
      certificate_profile_name: this.cfg.certificate_profile,
      end_entity_profile_name: this.cfg.end_entity_profile,
      certificate_authority_name: this.cfg.ca_name,
      username: req.commonName,
      // A one-time enrollment password: EJBCA needs one, certctl never reuses it.
      password: randomBytes(18).toString('base64url'),
      include_chain: true,
    });
    const body = res.json as { certificate?: unknown; certificate_chain?: unknown } | undefined;
    const chain = Array.isArray(body?.certificate_chain) ? body.certificate_chain.map(b64DerToPem) : [];
    return issuanceResult(b64DerToPem(body?.certificate), chain, csr.spkiDer, WHAT);
  }

  renew(req: IssuanceRequest): Promise<IssuanceResult> {
    return this.issue(req);
  }

  /** PUT /v1/certificate/{issuer_dn}/{serial}/revoke?reason=...; the issuer DN is the CA's subject. */
  async revoke(req: RevocationRequest): Promise<void> {
    const dn = await this.caSubjectDn();
    const reason = REASONS[req.reason] ?? 'UNSPECIFIED';
    await this.api.call(
      'PUT',
      `${API}/certificate/${encodeURIComponent(dn)}/${evenHex(req.serialHex)}/revoke?reason=${reason}`,
    );
  }

  /** GET /v1/ca/{subject_dn}/certificate/download. */
  async getCaCertPem(): Promise<string> {
    const dn = await this.caSubjectDn();
    const res = await this.api.call(
      'GET',
      `${API}/ca/${encodeURIComponent(dn)}/certificate/download`,
      undefined,
      '*/*',
    );
    const [pem] = pemCertificates(res.text);
    if (!pem)
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the CA certificate download has no PEM certificate`);
    return pem;
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `${WHAT} enrolls synchronously; there is no order ${orderId}` };
  }

  /** The connection test: the client certificate is accepted and the configured CA exists. */
  async check(): Promise<ConnectorCheck> {
    try {
      const dn = await this.caSubjectDn();
      return { ok: true, message: `${WHAT} reachable; CA ${this.cfg.ca_name} (${dn})` };
    } catch (e) {
      return { ok: false, message: e instanceof Error ? e.message : String(e) };
    }
  }

  /** GET /v1/ca lists the CAs this client may see: the configured one's subject DN. */
  private async caSubjectDn(): Promise<string> {
    const res = await this.api.call('GET', `${API}/ca`);
    const cas = (res.json as { certificate_authorities?: { name?: unknown; subject_dn?: unknown }[] } | undefined)
      ?.certificate_authorities;
    const ca = (cas ?? []).find((c) => c.name === this.cfg.ca_name);
    if (typeof ca?.subject_dn !== 'string') {
      throw invalid(`${WHAT} has no CA named ${JSON.stringify(this.cfg.ca_name)} visible to this client certificate`);
    }
    return ca.subject_dn;
  }
}
