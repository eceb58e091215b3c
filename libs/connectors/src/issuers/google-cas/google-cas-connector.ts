import { createHash, randomUUID } from 'node:crypto';
import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { ApiClient } from '../async-ca/http-json';
import { googleCasConfig, type GoogleCasConfig } from '../issuer-configs';
import type {
  IssuanceOutcome,
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import { caTimeoutMs, type CaHttpResponse } from '../remote-ca/ca-http';
import {
  chainField,
  configuredDuration,
  evenHex,
  issuanceResult,
  lifetimeSeconds,
  pemCertificates,
  requireCsr,
} from '../remote-ca/issued-certificate';
import { readOptionalCaBundle } from '../remote-ca/trust';
import { GoogleTokenSource } from './google-auth';

const WHAT = 'Google CAS';
export const GOOGLE_CAS_DEFAULT_BASE_URL = 'https://privateca.googleapis.com';
/** CAS requires a lifetime; with none configured and no profile maximum, 90 days. */
const DEFAULT_LIFETIME_SECONDS = 90 * 86_400;

/** RFC 5280 reason names -> CAS RevocationReason. */
const REASONS: Record<string, string> = {
  unspecified: 'REVOCATION_REASON_UNSPECIFIED',
  keyCompromise: 'KEY_COMPROMISE',
  cACompromise: 'CERTIFICATE_AUTHORITY_COMPROMISE',
  affiliationChanged: 'AFFILIATION_CHANGED',
  superseded: 'SUPERSEDED',
  cessationOfOperation: 'CESSATION_OF_OPERATION',
  certificateHold: 'CERTIFICATE_HOLD',
  privilegeWithdrawn: 'PRIVILEGE_WITHDRAWN',
  aACompromise: 'ATTRIBUTE_AUTHORITY_COMPROMISE',
};

/** A CAS Certificate resource (the fields read here). */
interface CasCertificate {
  name?: unknown;
  pemCertificate?: unknown;
  pemCertificateChain?: unknown;
  /** Present once the certificate is revoked. */
  revocationDetails?: unknown;
}

/** Google's error body: `{"error":{"code":400,"message":"...","status":"INVALID_ARGUMENT"}}`. */
export function googleErrorMessage(res: CaHttpResponse): string | undefined {
  const e = (res.json as { error?: { message?: unknown; status?: unknown } } | undefined)?.error;
  if (typeof e !== 'object' || e === null) return undefined;
  return [typeof e.status === 'string' ? e.status : undefined, typeof e.message === 'string' ? e.message : undefined]
    .filter(Boolean)
    .join(': ');
}

/**
 * Google Cloud Certificate Authority Service (privateca v1). Issuance is synchronous: a
 * Certificate is created in the CA pool from our CSR and answered with its PEM chain.
 * Authentication is an OAuth2 bearer token (service-account JWT grant or the metadata
 * server), renewed when it expires or the API refuses it.
 */
export class GoogleCasConnector implements IssuerConnector {
  readonly type = IssuerType.GoogleCAS;
  private readonly cfg: GoogleCasConfig;
  private readonly api: ApiClient;
  private readonly tokens: GoogleTokenSource;
  private trust?: Promise<string | undefined>;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = googleCasConfig.schema.parse(ctx.config);
    const timeoutMs = caTimeoutMs(this.cfg.timeout_seconds);
    this.tokens = new GoogleTokenSource({
      credentialsJson: this.cfg.credentials_json,
      ca: () => this.caBundle(),
      timeoutMs,
      what: WHAT,
    });
    this.api = new ApiClient({
      baseUrl: this.cfg.base_url ?? GOOGLE_CAS_DEFAULT_BASE_URL,
      what: WHAT,
      headers: async () => ({ authorization: `Bearer ${await this.tokens.token()}` }),
      timeoutMs,
      caCertPath: this.cfg.ca_cert_path,
      errorMessage: googleErrorMessage,
    });
  }

  /** projects/{p}/locations/{l}/caPools/{pool} */
  private get pool(): string {
    return `projects/${this.cfg.project}/locations/${this.cfg.location}/caPools/${this.cfg.ca_pool}`;
  }

  /**
   * POST /v1/{pool}/certificates?certificateId=...: the certificate id is derived from the
   * CSR and the UTC day, so a retried job whose first create got through finds it (409) and
   * reads it instead of issuing a second one. A found certificate that was revoked since (an
   * identical CSR re-sent, RSA signatures being deterministic) is not reused: a new id is used.
   */
  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const seconds = lifetimeSeconds(req, configuredDuration(this.cfg.lifetime)) ?? DEFAULT_LIFETIME_SECONDS;
    const day = (req.now ?? new Date()).toISOString().slice(0, 10);
    const derived = `certctl-${createHash('sha256').update(csr.der).update(day).digest('hex').slice(0, 40)}`;
    const body: Record<string, unknown> = {
      pemCsr: derToPem(csr.der, 'CERTIFICATE REQUEST'),
      lifetime: `${Math.max(1, Math.floor(seconds))}s`,
      ...(this.cfg.certificate_template === undefined ? {} : { certificateTemplate: this.templateName() }),
    };
    const first = await this.create(derived, body);
    if (first) return this.result(first, csr.spkiDer);
    const existing = (await this.call('GET', `/v1/${this.pool}/certificates/${derived}`)).json as CasCertificate;
    if (!existing?.revocationDetails) return this.result(existing, csr.spkiDer);
    const fresh = await this.create(`${derived.slice(0, 48)}-${randomUUID().slice(0, 8)}`, body);
    if (!fresh) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: certificate id collision, try again`);
    return this.result(fresh, csr.spkiDer);
  }

  /** Creates the certificate; undefined when one with this id exists already (409). */
  private async create(certificateId: string, body: Record<string, unknown>): Promise<CasCertificate | undefined> {
    const query = new URLSearchParams({ certificateId, requestId: randomUUID() });
    if (this.cfg.certificate_authority) query.set('issuingCertificateAuthorityId', this.cfg.certificate_authority);
    const res = await this.call('POST', `/v1/${this.pool}/certificates?${query.toString()}`, body, [409]);
    return res.status === 409 ? undefined : (res.json as CasCertificate);
  }

  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  /** CAS answers every issuance at once: there is never an order to poll. */
  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `${WHAT} issues synchronously and has no order ${orderId}` };
  }

  /**
   * CAS revokes a Certificate resource: its name is found by serial number
   * (list filter on hex_serial_number), then POST {name}:revoke with the reason.
   */
  async revoke(req: RevocationRequest): Promise<void> {
    const serial = evenHex(req.serialHex);
    const filter = `certificate_description.subject_description.hex_serial_number="${serial}"`;
    const list = await this.call(
      'GET',
      `/v1/${this.pool}/certificates?${new URLSearchParams({ filter, pageSize: '2' }).toString()}`,
    );
    const certs = (list.json as { certificates?: CasCertificate[] } | undefined)?.certificates ?? [];
    const name = certs.map((c) => c.name).find((n): n is string => typeof n === 'string');
    if (!name || !name.startsWith(`${this.pool}/certificates/`)) {
      throw invalid(`${WHAT} has no certificate with serial ${serial} in CA pool ${this.cfg.ca_pool}`);
    }
    await this.call('POST', `/v1/${name}:revoke`, {
      reason: REASONS[req.reason] ?? 'REVOCATION_REASON_UNSPECIFIED',
      requestId: randomUUID(),
    });
  }

  /**
   * The issuing CA certificate: the configured CA's own certificate, else the first chain
   * of the pool's POST {pool}:fetchCaCerts (each chain starts at a CA of the pool).
   */
  async getCaCertPem(): Promise<string> {
    if (this.cfg.certificate_authority) {
      const res = await this.call('GET', `/v1/${this.pool}/certificateAuthorities/${this.cfg.certificate_authority}`);
      const pems = (res.json as { pemCaCertificates?: unknown } | undefined)?.pemCaCertificates;
      const first = Array.isArray(pems) && typeof pems[0] === 'string' ? pemCertificates(pems[0])[0] : undefined;
      if (!first) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the CA answer has no pemCaCertificates`);
      return first;
    }
    const res = await this.call('POST', `/v1/${this.pool}:fetchCaCerts`, { requestId: randomUUID() });
    const chains = (res.json as { caCerts?: { certificates?: unknown }[] } | undefined)?.caCerts ?? [];
    const certs = chains[0]?.certificates;
    const first = Array.isArray(certs) && typeof certs[0] === 'string' ? pemCertificates(certs[0])[0] : undefined;
    if (!first)
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: CA pool ${this.cfg.ca_pool} has no CA certificate`);
    return first;
  }

  /** The connection test: a token is granted and the CA pool is visible to it. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      const res = await this.call('GET', `/v1/${this.pool}`);
      const tier = (res.json as { tier?: unknown } | undefined)?.tier;
      return {
        ok: true,
        message: `${WHAT} reachable; CA pool ${this.cfg.ca_pool}${typeof tier === 'string' ? ` (${tier})` : ''} visible`,
      };
    });
  }

  private templateName(): string {
    const t = this.cfg.certificate_template ?? '';
    return t.startsWith('projects/')
      ? t
      : `projects/${this.cfg.project}/locations/${this.cfg.location}/certificateTemplates/${t}`;
  }

  private result(cert: CasCertificate, spkiDer: Uint8Array): IssuanceResult {
    if (typeof cert?.pemCertificate !== 'string') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the Certificate answer has no pemCertificate`);
    }
    return issuanceResult(cert.pemCertificate, chainField(cert.pemCertificateChain), spkiDer, WHAT);
  }

  /**
   * One API call with the bearer token; a 401 (token revoked or expired early) drops the
   * cached token and retries once with a new one. `accepted` statuses are returned, not thrown.
   */
  private async call(
    method: 'GET' | 'POST',
    path: string,
    json?: unknown,
    accepted: number[] = [],
  ): Promise<CaHttpResponse> {
    let res = await this.api.raw(method, path, json);
    if (res.status === 401) {
      this.tokens.invalidate();
      res = await this.api.raw(method, path, json);
    }
    if ((res.status >= 200 && res.status < 300) || accepted.includes(res.status)) return res;
    throw this.api.error(method, path.split('?')[0], res);
  }

  private caBundle(): Promise<string | undefined> {
    this.trust ??= readOptionalCaBundle(this.cfg.ca_cert_path, 'config.ca_cert_path');
    return this.trust;
  }
}
