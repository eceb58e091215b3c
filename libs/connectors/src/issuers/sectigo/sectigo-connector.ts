import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { ApiClient } from '../async-ca/http-json';
import { bundleResult } from '../async-ca/pem-bundle';
import { sectigoConfig, type SectigoConfig } from '../issuer-configs';
import type {
  IssuanceOutcome,
  IssuanceRequest,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import { caTimeoutMs, numericPathSegment, type CaHttpResponse } from '../remote-ca/ca-http';
import { evenHex, requireCsr, sanLists } from '../remote-ca/issued-certificate';

const WHAT = 'Sectigo';

/** SCM certificate statuses after which the order will never be collectable. */
const DEAD_STATUS = new Set(['rejected', 'revoked', 'expired', 'invalid', 'declined', 'not enrolled', 'replaced']);

/** SCM's error body: `{"code": -16, "description": "..."}`. */
export function sectigoErrorMessage(res: CaHttpResponse): string | undefined {
  const body = res.json as { code?: unknown; description?: unknown } | undefined;
  if (typeof body?.description !== 'string') return undefined;
  return typeof body.code === 'number' ? `${body.description} (code ${body.code})` : body.description;
}

/**
 * Sectigo Certificate Manager (SCM) REST API, SSL v1 (asynchronous). Every call carries the
 * `login`, `password` and `customerUri` headers. Enrollment answers an `sslId`; the
 * certificate is collected from /collect/{sslId}/x509 once issued (SCM answers an error
 * while it is not), and the certificate's status (/api/ssl/v1/{sslId}) tells a rejected
 * order from one still in validation.
 */
export class SectigoConnector implements IssuerConnector {
  readonly type = IssuerType.Sectigo;
  private readonly cfg: SectigoConfig;
  private readonly api: ApiClient;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = sectigoConfig.schema.parse(ctx.config);
    this.api = new ApiClient({
      baseUrl: this.cfg.base_url,
      what: WHAT,
      headers: { login: this.cfg.login, password: this.cfg.password, customerUri: this.cfg.customer_uri },
      timeoutMs: caTimeoutMs(this.cfg.timeout_seconds),
      caCertPath: this.cfg.ca_cert_path,
      errorMessage: sectigoErrorMessage,
    });
  }

  /** POST /api/ssl/v1/enroll: SCM answers `{sslId, renewId}`; the certificate comes later. */
  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const sans = sanLists(req);
    const alt = [...sans.dns, ...sans.ip].filter((n) => n !== req.commonName);
    if (sans.email.length || sans.uri.length) {
      throw invalid(`${WHAT} SSL certificates take DNS names and IP addresses only: remove the email and URI SANs`);
    }
    const body: Record<string, unknown> = {
      orgId: this.cfg.org_id,
      csr: derToPem(csr.der, 'CERTIFICATE REQUEST').trim(),
      certType: this.cfg.cert_type,
      term: this.cfg.term_days,
      numberServers: 1,
      serverType: -1,
      comments: 'Enrolled by certctl',
      // SCM takes the SANs as one comma-separated string.
      ...(alt.length ? { subjAltNames: alt.join(',') } : {}),
      ...(this.cfg.external_requester ? { externalRequester: this.cfg.external_requester } : {}),
    };
    const res = await this.api.call('POST', '/api/ssl/v1/enroll', body);
    const sslId = (res.json as { sslId?: unknown } | undefined)?.sslId;
    if (typeof sslId !== 'number' && typeof sslId !== 'string') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the enroll answer has no sslId`);
    }
    return { state: 'pending', orderId: String(sslId) };
  }

  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  /**
   * GET /api/ssl/v1/collect/{sslId}/x509: the PEM bundle once issued. Any other answer
   * (SCM answers 400 with a "being processed" code while validation runs) is followed by
   * the certificate's status, so a rejected enrollment fails instead of waiting forever.
   */
  async getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus> {
    const id = numericPathSegment(orderId, WHAT);
    const collected = await this.api.raw('GET', `/api/ssl/v1/collect/${id}/x509`, undefined, '*/*');
    if (collected.status >= 200 && collected.status < 300 && collected.text.includes('-----BEGIN CERTIFICATE-----')) {
      if (!expected) throw invalid(`${WHAT}: collecting ${orderId} needs the public key it was enrolled for`);
      return { state: 'issued', result: bundleResult(collected.text, expected.spkiDer, WHAT) };
    }
    if (collected.status >= 500 || collected.status === 401 || collected.status === 403 || collected.status === 429) {
      throw this.api.error('GET', `/api/ssl/v1/collect/${id}/x509`, collected);
    }
    const info = await this.api.call('GET', `/api/ssl/v1/${id}`);
    const status = (info.json as { status?: unknown } | undefined)?.status;
    const s = typeof status === 'string' ? status : '';
    if (DEAD_STATUS.has(s.toLowerCase())) return { state: 'failed', message: `certificate ${orderId} is ${s}` };
    return { state: 'pending' };
  }

  /** POST /api/ssl/v1/revoke/serial/{serial} (SCM also revokes by sslId; the serial is what certctl holds). */
  async revoke(req: RevocationRequest): Promise<void> {
    const serial = evenHex(req.serialHex);
    await this.api.call('POST', `/api/ssl/v1/revoke/serial/${serial}`, {
      // SCM requires a non-empty reason of at most 512 characters.
      reason: `certctl: ${req.reason}`.slice(0, 512),
    });
  }

  async getCaCertPem(): Promise<string> {
    throw invalid(`${WHAT} issues from several intermediates: the chain comes with each certificate`);
  }

  /** The connection test: the credentials are accepted and the configured certificate type exists. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      const res = await this.api.call('GET', `/api/ssl/v1/types?organizationId=${this.cfg.org_id}`);
      const types = Array.isArray(res.json) ? (res.json as { id?: unknown; name?: unknown }[]) : [];
      const type = types.find((t) => t.id === this.cfg.cert_type);
      if (!type)
        return {
          ok: false,
          message: `${WHAT}: certificate type ${this.cfg.cert_type} is not available to organization ${this.cfg.org_id}`,
        };
      return { ok: true, message: `${WHAT} API reachable; certificate type ${String(type.name ?? type.id)}` };
    });
  }
}
