import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { mutualTlsOptions } from '../async-ca/http-json';
import { globalSignConfig, type GlobalSignConfig } from '../issuer-configs';
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
  pemCertificates,
  requireCsr,
  sanLists,
} from '../remote-ca/issued-certificate';
import { HvcaSession } from './hvca-session';

const WHAT = 'GlobalSign Atlas';
export const GLOBALSIGN_DEFAULT_BASE_URL = 'https://emea.api.hvca.globalsign.com:8443';

/** HVCA names certificates by serial number (hex): what the Location header ends with. */
const SERIAL = /^[0-9A-Fa-f]{1,64}$/;

/** HVCA's error body (application/problem+json): `{"description": "..."}`. */
export function globalSignErrorMessage(res: CaHttpResponse): string | undefined {
  const b = res.json as { description?: unknown; detail?: unknown; title?: unknown } | undefined;
  for (const m of [b?.description, b?.detail, b?.title]) if (typeof m === 'string' && m.length > 0) return m;
  return undefined;
}

/**
 * GlobalSign Atlas HVCA (API v2) with mutual TLS and an API key/secret login. Issuance is
 * asynchronous: POST /v2/certificates answers 201 with the certificate's URL (Location,
 * ending with its serial number), and the certificate is fetched from there once issued.
 * The chain comes from the account's /v2/trustchain.
 */
export class GlobalSignConnector implements IssuerConnector {
  readonly type = IssuerType.GlobalSign;
  private readonly cfg: GlobalSignConfig;
  private readonly session: HvcaSession;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = globalSignConfig.schema.parse(ctx.config);
    // GlobalSign documents the API URL with its /v2; the paths below carry it.
    const baseUrl = (this.cfg.base_url ?? GLOBALSIGN_DEFAULT_BASE_URL).replace(/\/+$/, '').replace(/\/v2$/, '');
    this.session = new HvcaSession(
      {
        baseUrl,
        what: WHAT,
        ...mutualTlsOptions(this.cfg),
        errorMessage: globalSignErrorMessage,
      },
      this.cfg.api_key,
      this.cfg.api_secret,
    );
  }

  /**
   * POST /v2/certificates with the names, the validity and the CSR as `public_key` (HVCA
   * takes a PEM public key or a PKCS#10 request, and only reads the key and its signature
   * from it). not_after 0 asks for the longest validity the account's policy allows.
   */
  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const sans = sanLists(req);
    const notBefore = Math.floor((req.now ?? new Date()).getTime() / 1000);
    const seconds = lifetimeSeconds(req, configuredDays(this.cfg.validity_days));
    const san: Record<string, string[]> = {};
    if (sans.dns.length) san.dns_names = sans.dns;
    if (sans.ip.length) san.ip_addresses = sans.ip;
    if (sans.email.length) san.emails = sans.email;
    if (sans.uri.length) san.uris = sans.uri;
    const res = await this.session.call('POST', '/v2/certificates', {
      validity: { not_before: notBefore, not_after: seconds === undefined ? 0 : notBefore + Math.floor(seconds) },
      subject_dn: { common_name: req.commonName },
      ...(Object.keys(san).length ? { san } : {}),
      public_key: derToPem(csr.der, 'CERTIFICATE REQUEST'),
    });
    return { state: 'pending', orderId: serialFromLocation(res.headers.location) };
  }

  /** A renewal is a new certificate for the new key. */
  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  /**
   * GET /v2/certificates/{serial}: `{certificate, status, updated_at}` once issued. Until
   * then HVCA answers 404 (guess from the API's "retrieve after a short delay"), which is
   * read as pending; the server's order deadline bounds how long that is believed.
   */
  async getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus> {
    if (!SERIAL.test(orderId))
      throw invalid(`${WHAT} certificate id ${JSON.stringify(orderId)} is not a serial number`);
    const path = `/v2/certificates/${orderId}`;
    const res = await this.session.raw('GET', path);
    if (res.status === 404 || res.status === 202) return { state: 'pending' };
    if (res.status < 200 || res.status >= 300) throw this.session.error('GET', path, res);
    const body = res.json as { certificate?: unknown; status?: unknown } | undefined;
    const status = typeof body?.status === 'string' ? body.status.toUpperCase() : '';
    if (status === 'REVOKED') return { state: 'failed', message: `certificate ${orderId} is revoked` };
    if (typeof body?.certificate !== 'string' || !body.certificate.includes('BEGIN CERTIFICATE')) {
      return { state: 'pending' };
    }
    if (!expected) throw invalid(`${WHAT}: collecting certificate ${orderId} needs the public key it was ordered for`);
    const chain = await this.trustChain();
    return { state: 'issued', result: issuanceResult(body.certificate, chain, expected.spkiDer, WHAT) };
  }

  /** DELETE /v2/certificates/{serial} (HVCA takes no reason). */
  async revoke(req: RevocationRequest): Promise<void> {
    await this.session.call('DELETE', `/v2/certificates/${evenHex(req.serialHex).toUpperCase()}`);
  }

  /** The issuing CA: the first certificate of the account's trust chain. */
  async getCaCertPem(): Promise<string> {
    const [issuing] = await this.trustChain();
    if (!issuing) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the trust chain is empty`);
    return issuing;
  }

  /** The connection test: mutual TLS and the API key/secret log in, and the trust chain is readable. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      await this.session.authenticate(true);
      const chain = await this.trustChain();
      return { ok: true, message: `${WHAT} reachable; logged in, trust chain of ${chain.length} certificate(s)` };
    });
  }

  /** GET /v2/trustchain: a JSON array of PEM certificates, issuing CA first. */
  private async trustChain(): Promise<string[]> {
    const res = await this.session.call('GET', '/v2/trustchain');
    if (!Array.isArray(res.json))
      throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the trust chain is not a list`);
    return res.json.filter((p): p is string => typeof p === 'string').flatMap(pemCertificates);
  }
}

/** The certificate's serial from POST /v2/certificates' Location header (URL or path). */
function serialFromLocation(location: string | string[] | undefined): string {
  const value = Array.isArray(location) ? location[0] : location;
  const serial = value?.split('?')[0].replace(/\/+$/, '').split('/').pop();
  if (!serial || !SERIAL.test(serial)) {
    throw new DomainError(
      ErrorCode.Unavailable,
      `${WHAT}: the certificate request answer has no usable Location header (${JSON.stringify(value ?? null)})`,
    );
  }
  return serial;
}
