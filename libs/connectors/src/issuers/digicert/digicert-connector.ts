import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { ApiClient } from '../async-ca/http-json';
import { bundleResult } from '../async-ca/pem-bundle';
import { digiCertConfig, type DigiCertConfig } from '../issuer-configs';
import type {
  IssuanceOutcome,
  IssuanceRequest,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import { caTimeoutMs, numericPathSegment, type CaHttpResponse } from '../remote-ca/ca-http';
import { configuredDays, evenHex, lifetimeSeconds, requireCsr, sanLists } from '../remote-ca/issued-certificate';

const WHAT = 'DigiCert';
export const DIGICERT_DEFAULT_BASE_URL = 'https://www.digicert.com';

/** Order statuses after which nothing will be issued (CertCentral's order `status`). */
const DEAD_ORDER = new Set(['rejected', 'canceled', 'cancelled', 'revoked', 'expired', 'denied']);

/**
 * CertCentral's revocation reasons. Its API takes these four names plus `unspecified`; the
 * RFC 5280 reasons it has no name for are sent as unspecified with the reason in comments.
 */
const REASONS: Record<string, string> = {
  keyCompromise: 'key_compromise',
  affiliationChanged: 'affiliation_changed',
  superseded: 'superseded',
  cessationOfOperation: 'cessation_of_operation',
};

interface DigiCertOrderAnswer {
  id?: unknown;
  certificate_id?: unknown;
  /** Present when CertCentral issued at once (pre-validated domains and organization). */
  certificate_chain?: { pem?: unknown }[];
}

interface DigiCertOrderInfo {
  id?: unknown;
  status?: unknown;
  certificate?: { id?: unknown };
}

/** CertCentral's error body: `{"errors":[{"code":"...","message":"..."}]}`. */
export function digiCertErrorMessage(res: CaHttpResponse): string | undefined {
  const errors = (res.json as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  return errors
    .map((e: { code?: unknown; message?: unknown }) =>
      [typeof e.code === 'string' ? e.code : undefined, typeof e.message === 'string' ? e.message : undefined]
        .filter(Boolean)
        .join(': '),
    )
    .filter(Boolean)
    .join('; ');
}

/**
 * DigiCert CertCentral Services API v2 (asynchronous): an order is placed with our CSR and
 * the managed certificate's names, and usually waits for domain/organization validation or
 * an approval; the server then polls the order until CertCentral issues it and downloads the
 * `pem_all` bundle. Authentication is the `X-DC-DEVKEY` API key header.
 */
export class DigiCertConnector implements IssuerConnector {
  readonly type = IssuerType.DigiCert;
  private readonly cfg: DigiCertConfig;
  private readonly api: ApiClient;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = digiCertConfig.schema.parse(ctx.config);
    this.api = new ApiClient({
      baseUrl: this.cfg.base_url ?? DIGICERT_DEFAULT_BASE_URL,
      what: WHAT,
      headers: { 'X-DC-DEVKEY': this.cfg.api_key },
      timeoutMs: caTimeoutMs(this.cfg.timeout_seconds),
      caCertPath: this.cfg.ca_cert_path,
      errorMessage: digiCertErrorMessage,
    });
  }

  /** POST /services/v2/order/certificate/{product_name_id}: issued at once, or an order id to poll. */
  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const sans = sanLists(req);
    if (sans.ip.length || sans.email.length || sans.uri.length) {
      throw invalid(`${WHAT} issues TLS certificates for DNS names only: remove the IP, email and URI SANs`);
    }
    const seconds = lifetimeSeconds(req, configuredDays(this.cfg.validity_days));
    const body: Record<string, unknown> = {
      certificate: {
        common_name: req.commonName,
        dns_names: sans.dns.filter((d) => d !== req.commonName),
        csr: derToPem(csr.der, 'CERTIFICATE REQUEST'),
        signature_hash: this.cfg.signature_hash ?? 'sha256',
      },
      organization: { id: this.cfg.organization_id },
      // Whole days, at least one: CertCentral sizes validity in days.
      ...(seconds === undefined ? {} : { validity_days: Math.max(1, Math.floor(seconds / 86_400)) }),
      ...(this.cfg.container_id === undefined ? {} : { container: { id: this.cfg.container_id } }),
      comments: 'Ordered by certctl',
    };
    const res = await this.api.call('POST', `/services/v2/order/certificate/${this.cfg.product_name_id}`, body);
    const answer = res.json as DigiCertOrderAnswer | undefined;
    const orderId = answer?.id;
    if (typeof orderId !== 'number' && typeof orderId !== 'string') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the order answer has no order id`);
    }
    const pems = (answer?.certificate_chain ?? []).map((c) => c.pem).filter((p): p is string => typeof p === 'string');
    if (pems.length) return bundleResult(pems.join('\n'), csr.spkiDer, WHAT);
    return { state: 'pending', orderId: String(orderId) };
  }

  /** A renewal is a new order for the new key (CertCentral's own renewal flow needs the old order id). */
  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  /** GET /services/v2/order/certificate/{order_id}; once issued, the pem_all download. */
  async getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus> {
    const id = orderSegment(orderId);
    const res = await this.api.call('GET', `/services/v2/order/certificate/${id}`);
    const info = res.json as DigiCertOrderInfo | undefined;
    const status = typeof info?.status === 'string' ? info.status.toLowerCase() : '';
    if (DEAD_ORDER.has(status)) return { state: 'failed', message: `order ${orderId} is ${status}` };
    if (status !== 'issued') return { state: 'pending' };
    const certId = info?.certificate?.id;
    if (typeof certId !== 'number' && typeof certId !== 'string') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: issued order ${orderId} names no certificate id`);
    }
    if (!expected) throw invalid(`${WHAT}: collecting order ${orderId} needs the public key it was ordered for`);
    const pem = await this.api.call(
      'GET',
      `/services/v2/certificate/${orderSegment(String(certId))}/download/format/pem_all`,
      undefined,
      '*/*',
    );
    return { state: 'issued', result: bundleResult(pem.text, expected.spkiDer, WHAT) };
  }

  /**
   * CertCentral revokes by its certificate id: the id is looked up by serial number in the
   * order list (filters[serial_number]), then PUT .../certificate/{id}/revoke.
   */
  async revoke(req: RevocationRequest): Promise<void> {
    const serial = evenHex(req.serialHex);
    const list = await this.api.call('GET', `/services/v2/order/certificate?filters[serial_number]=${serial}`);
    const orders = (list.json as { orders?: { certificate?: { id?: unknown; serial_number?: unknown } }[] })?.orders;
    const match = (orders ?? []).find(
      (o) => typeof o.certificate?.serial_number === 'string' && evenHex(o.certificate.serial_number) === serial,
    );
    const certId = match?.certificate?.id;
    if (typeof certId !== 'number' && typeof certId !== 'string') {
      throw invalid(`${WHAT} has no certificate with serial ${serial} in this account`);
    }
    const reason = REASONS[req.reason] ?? 'unspecified';
    await this.api.call('PUT', `/services/v2/certificate/${orderSegment(String(certId))}/revoke`, {
      reason,
      comments: `Revoked by certctl (${req.reason})`,
      skip_approval: true,
    });
  }

  async getCaCertPem(): Promise<string> {
    throw invalid(`${WHAT} issues from several intermediates: the chain comes with each certificate`);
  }

  /** The connection test: the API key is accepted and can see the configured organization. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      await this.api.call('GET', `/services/v2/organization/${this.cfg.organization_id}`);
      return { ok: true, message: `${WHAT} API reachable; organization ${this.cfg.organization_id} visible` };
    });
  }
}

/** Ids go into a URL path: digits only (CertCentral ids are numbers). */
function orderSegment(id: string): string {
  return numericPathSegment(id, WHAT);
}
