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
import { DEFAULT_CA_TIMEOUT_SECONDS, type CaHttpRequest, type CaHttpResponse } from '../remote-ca/ca-http';
import { readOptionalCaBundle } from '../remote-ca/trust';
import { evenHex, issuanceResult, pemCertificates, requireCsr } from '../remote-ca/issued-certificate';
import { ClientCredentialsTokenSource } from './oauth2-token';

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
 * Keyfactor EJBCA REST API v1, authenticated with a client certificate (mutual TLS) or an
 * OAuth2 bearer token (a static token, or the client-credentials grant: cached until shortly
 * before it expires, fetched again once when EJBCA answers 401). pkcs10enroll is synchronous: the certificate comes back in the answer. The end entity is
 * named after the certificate's common name (EJBCA creates or updates it with a one-time
 * enrollment password); the end entity profile must allow that.
 */
export class EjbcaConnector implements IssuerConnector {
  readonly type = IssuerType.EJBCA;
  private readonly cfg: EjbcaConfig;
  private readonly api: ApiClient;
  private readonly tokens?: ClientCredentialsTokenSource;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = ejbcaConfig.schema.parse(ctx.config);
    const c = this.cfg;
    const timeoutMs = (c.timeout_seconds ?? DEFAULT_CA_TIMEOUT_SECONDS) * 1000;
    if (c.auth_mode === 'oauth2' && c.token_url && c.client_id && c.client_secret) {
      let trust: Promise<string | undefined> | undefined;
      this.tokens = new ClientCredentialsTokenSource({
        tokenUrl: c.token_url,
        clientId: c.client_id,
        clientSecret: c.client_secret,
        scope: c.scope,
        ca: () => (trust ??= readOptionalCaBundle(c.trust_ca_path, 'config.trust_ca_path')),
        timeoutMs,
        what: WHAT,
      });
    }
    const tokens = this.tokens;
    this.api = new ApiClient({
      baseUrl: c.base_url,
      what: WHAT,
      headers:
        c.auth_mode !== 'oauth2'
          ? {}
          : tokens
            ? async () => ({ authorization: `Bearer ${await tokens.token()}` })
            : { authorization: `Bearer ${c.token}` },
      timeoutMs,
      caCertPath: c.trust_ca_path,
      caCertField: 'trust_ca_path',
      clientCert:
        c.client_cert_path && c.client_key_path
          ? { certPath: c.client_cert_path, keyPath: c.client_key_path, passphrase: c.client_key_passphrase }
          : undefined,
      errorMessage: ejbcaErrorMessage,
    });
  }

  /**
   * One API call; with the client-credentials grant a 401 drops the cached token and the
   * call is made once more with a fresh one (the provider may have revoked or rotated it).
   */
  private async call(
    method: CaHttpRequest['method'],
    path: string,
    json?: unknown,
    accept?: string,
  ): Promise<CaHttpResponse> {
    let res = await this.api.raw(method, path, json, accept);
    if (res.status === 401 && this.tokens) {
      this.tokens.invalidate();
      res = await this.api.raw(method, path, json, accept);
    }
    if (res.status >= 200 && res.status < 300) return res;
    throw this.api.error(method, path, res);
  }

  /** POST /v1/certificate/pkcs10enroll with the chain included. */
  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    const csr = requireCsr(req, WHAT);
    const res = await this.call('POST', `${API}/certificate/pkcs10enroll`, {
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
    await this.call(
      'PUT',
      `${API}/certificate/${encodeURIComponent(dn)}/${evenHex(req.serialHex)}/revoke?reason=${reason}`,
    );
  }

  /** GET /v1/ca/{subject_dn}/certificate/download. */
  async getCaCertPem(): Promise<string> {
    const dn = await this.caSubjectDn();
    const res = await this.call('GET', `${API}/ca/${encodeURIComponent(dn)}/certificate/download`, undefined, '*/*');
    const [pem] = pemCertificates(res.text);
    if (!pem)
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the CA certificate download has no PEM certificate`);
    return pem;
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `${WHAT} enrolls synchronously; there is no order ${orderId}` };
  }

  /** The connection test: the credential is accepted and the configured CA exists. */
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
    const res = await this.call('GET', `${API}/ca`);
    const cas = (res.json as { certificate_authorities?: { name?: unknown; subject_dn?: unknown }[] } | undefined)
      ?.certificate_authorities;
    const ca = (cas ?? []).find((c) => c.name === this.cfg.ca_name);
    if (typeof ca?.subject_dn !== 'string') {
      throw invalid(`${WHAT} has no CA named ${JSON.stringify(this.cfg.ca_name)} visible to these credentials`);
    }
    return ca.subject_dn;
  }
}
