import { X509Certificate } from 'node:crypto';
import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { ApiClient, mutualTlsOptions } from '../async-ca/http-json';
import { entrustConfig, type EntrustConfig } from '../issuer-configs';
import type {
  IssuanceOutcome,
  IssuanceRequest,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import type { CaHttpResponse } from '../remote-ca/ca-http';
import {
  configuredDays,
  evenHex,
  issuanceResult,
  lifetimeSeconds,
  requireCsr,
  sanLists,
} from '../remote-ca/issued-certificate';

const WHAT = 'Entrust CA Gateway';

/** Tracking ids go into a URL path and a database column: a bounded, path-safe token. */
const TRACKING_ID = /^[A-Za-z0-9~_.:-]{1,256}$/;

/** RFC 5280 reason names: CA Gateway's RevokeAction takes them as they are. */
const REASONS = new Set([
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
]);

/**
 * Enrollment statuses after which nothing will be issued. CA Gateway passes the status of
 * the CA behind it through; these names are our reading of it (guess: the public docs do not
 * list them), anything else without a certificate is treated as still pending.
 */
const DEAD_STATUS = new Set(['REJECTED', 'FAILED', 'CANCELLED', 'CANCELED', 'DENIED', 'REVOKED', 'EXPIRED']);

interface CagwCertificate {
  certificateData?: unknown;
  serialNumber?: unknown;
}

interface CagwEnrollment {
  trackingId?: unknown;
  status?: unknown;
  /** The issued certificate, base64 DER (requiredFormat X509). */
  body?: unknown;
  serialNumber?: unknown;
  chain?: CagwCertificate[];
}

/** CA Gateway's error body: `{"type":"ErrorResponse","error":{"code":"...","message":"..."}}`. */
export function entrustErrorMessage(res: CaHttpResponse): string | undefined {
  const e = (res.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!e) return undefined;
  const parts = [e.code, e.message].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length ? parts.join(': ') : undefined;
}

/** A base64 DER certificate (CA Gateway's `body` / `certificateData`) as PEM. */
function b64DerToPem(b64: unknown, role: string): string {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(b64)) {
    throw new DomainError(ErrorCode.Unavailable, `${WHAT} answered a ${role} that is not base64 DER`);
  }
  return derToPem(Buffer.from(b64, 'base64'), 'CERTIFICATE');
}

/** RFC 4514 escaping of an attribute value (a CN with a comma must stay one attribute). */
function dnValue(v: string): string {
  return v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}

/**
 * Entrust CA Gateway REST API v1 with mutual TLS (the gateway client credential). An
 * enrollment posts our CSR with the managed certificate's names to the configured CA and
 * profile; the gateway answers the certificate at once, or (CAs behind it that need an
 * approval) an enrollment with a tracking id that the server polls until it is issued.
 */
export class EntrustConnector implements IssuerConnector {
  readonly type = IssuerType.Entrust;
  private readonly cfg: EntrustConfig;
  private readonly api: ApiClient;
  private readonly caPath: string;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = entrustConfig.schema.parse(ctx.config);
    this.caPath = `/v1/certificate-authorities/${encodeURIComponent(this.cfg.ca_id)}`;
    this.api = new ApiClient({
      baseUrl: this.cfg.base_url,
      what: WHAT,
      headers: {},
      ...mutualTlsOptions(this.cfg),
      errorMessage: entrustErrorMessage,
    });
  }

  /** POST /v1/certificate-authorities/{caId}/enrollments: the certificate, or a tracking id to poll. */
  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const sans = sanLists(req);
    const seconds = lifetimeSeconds(req, configuredDays(this.cfg.validity_days));
    const body = {
      profileId: this.cfg.profile_id,
      // X509: the certificate comes back as base64 DER in enrollment.body.
      requiredFormat: { format: 'X509' },
      csr: Buffer.from(csr.der).toString('base64'),
      subjectAltNames: [
        ...sans.dns.map((value) => ({ type: 'dNSName', value })),
        ...sans.ip.map((value) => ({ type: 'iPAddress', value })),
        ...sans.email.map((value) => ({ type: 'rfc822Name', value })),
        ...sans.uri.map((value) => ({ type: 'uniformResourceIdentifier', value })),
      ],
      optionalCertificateRequestDetails: {
        subjectDn: `CN=${dnValue(req.commonName)}`,
        // ISO 8601 duration, as CA Gateway takes validityPeriod.
        ...(seconds === undefined ? {} : { validityPeriod: `PT${Math.max(1, Math.floor(seconds))}S` }),
      },
    };
    const res = await this.api.call('POST', `${this.caPath}/enrollments`, body);
    const enrollment = this.enrollmentOf(res, 'enrollment');
    const outcome = await this.outcome(enrollment, csr.spkiDer);
    if (outcome.state === 'issued') return outcome.result;
    if (outcome.state === 'failed') throw invalid(`${WHAT}: the enrollment ${outcome.message}`);
    const raw = enrollment.trackingId;
    const trackingId = typeof raw === 'number' ? String(raw) : raw;
    if (typeof trackingId !== 'string' || !TRACKING_ID.test(trackingId)) {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: a pending enrollment came back without a tracking id`);
    }
    return { state: 'pending', orderId: trackingId };
  }

  /** A renewal is a new enrollment for the new key. */
  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  /** GET .../enrollments/{trackingId}; an issued enrollment without its body is fetched by serial. */
  async getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus> {
    if (!TRACKING_ID.test(orderId)) throw invalid(`${WHAT} tracking id ${JSON.stringify(orderId)} is not valid`);
    const res = await this.api.call('GET', `${this.caPath}/enrollments/${encodeURIComponent(orderId)}`);
    const enrollment = this.enrollmentOf(res, 'enrollment status');
    const outcome = await this.outcome(enrollment, expected?.spkiDer);
    return outcome.state === 'failed'
      ? { state: 'failed', message: `enrollment ${orderId} ${outcome.message}` }
      : outcome;
  }

  /** POST .../certificates/{serial}/actions with a RevokeAction and the RFC 5280 reason. */
  async revoke(req: RevocationRequest): Promise<void> {
    const serial = evenHex(req.serialHex);
    await this.api.call('POST', `${this.caPath}/certificates/${serial}/actions`, {
      action: {
        type: 'RevokeAction',
        reason: REASONS.has(req.reason) ? req.reason : 'unspecified',
        comment: `Revoked by certctl (${req.reason})`,
      },
    });
  }

  /** The issuing CA's certificate (GET /v1/certificate-authorities/{caId} with its certificate). */
  async getCaCertPem(): Promise<string> {
    const ca = await this.caInfo();
    return b64DerToPem(ca.certificate?.certificateData, 'CA certificate');
  }

  /** The connection test: the client credential is accepted and the configured CA is visible. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      const ca = await this.caInfo();
      const pem = b64DerToPem(ca.certificate?.certificateData, 'CA certificate');
      return { ok: true, message: `${WHAT} reachable; CA ${this.cfg.ca_id} (${new X509Certificate(pem).subject})` };
    });
  }

  /** `$fields` asks for the CA certificate and chain, which the gateway otherwise leaves out. */
  private async caInfo(): Promise<{ certificate?: CagwCertificate; chain?: CagwCertificate[] }> {
    const res = await this.api.call('GET', `${this.caPath}?%24fields=ca.certificate%2Cca.chain`);
    const ca = (res.json as { ca?: { certificate?: CagwCertificate; chain?: CagwCertificate[] } } | undefined)?.ca;
    if (!ca) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: CA ${this.cfg.ca_id} answered no CA details`);
    return ca;
  }

  /** The enrollment of a 2xx answer; an ErrorResponse the gateway sent with 2xx is still an error. */
  private enrollmentOf(res: CaHttpResponse, what: string): CagwEnrollment {
    const json = res.json as { type?: unknown; enrollment?: CagwEnrollment } | undefined;
    if (json?.type === 'ErrorResponse') {
      throw invalid(`${WHAT}: ${entrustErrorMessage(res) ?? 'the gateway answered an error'}`);
    }
    if (!json?.enrollment)
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the ${what} answer has no enrollment`);
    return json.enrollment;
  }

  private async outcome(e: CagwEnrollment, spkiDer: Uint8Array | undefined): Promise<OrderStatus> {
    const status = typeof e.status === 'string' ? e.status.toUpperCase() : '';
    if (DEAD_STATUS.has(status)) return { state: 'failed', message: `is ${status.toLowerCase()}` };
    let leafPem: string | undefined;
    if (typeof e.body === 'string' && e.body.length > 0) leafPem = b64DerToPem(e.body, 'certificate');
    else if (status === 'ISSUED' && typeof e.serialNumber === 'string')
      leafPem = await this.certificate(e.serialNumber);
    if (!leafPem) return { state: 'pending' };
    if (!spkiDer) throw invalid(`${WHAT}: collecting an enrollment needs the public key it was made for`);
    // Not every CA behind the gateway returns the chain with the enrollment: fall back to the CA's.
    let chain = (e.chain ?? []).map((c) => b64DerToPem(c.certificateData, 'chain certificate'));
    if (chain.length === 0) {
      const ca = await this.caInfo();
      chain = [ca.certificate, ...(ca.chain ?? [])]
        .filter((c): c is CagwCertificate => c !== undefined)
        .map((c) => b64DerToPem(c.certificateData, 'CA certificate'));
    }
    return { state: 'issued', result: issuanceResult(leafPem, chain, spkiDer, WHAT) };
  }

  /** GET .../certificates/{serial}: the certificate of an enrollment that answered only its serial. */
  private async certificate(serialNumber: string): Promise<string> {
    const res = await this.api.call('GET', `${this.caPath}/certificates/${evenHex(serialNumber)}`);
    const cert = (res.json as { certificate?: CagwCertificate } | undefined)?.certificate;
    return b64DerToPem(cert?.certificateData, 'certificate');
  }
}
