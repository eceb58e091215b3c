import { X509Certificate } from 'node:crypto';
import { DomainError, ErrorCode, invalid, IssuerType } from '@certctl/domain';
import type { ConnectorCheck } from '../../connector';
import { connectionCheck } from '../remote-ca/connection-check';
import { adcsConfig, type AdcsConfig } from '../issuer-configs';
import type {
  IssuanceOutcome,
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import {
  caHttp,
  caStatusError,
  caTimeoutMs,
  excerpt,
  type CaHttpRequest,
  type CaHttpResponse,
} from '../remote-ca/ca-http';
import { issuanceResult, pemCertificates, requireCsr } from '../remote-ca/issued-certificate';
import { readClientCertificate, readOptionalCaBundle } from '../remote-ca/trust';
import { pageText, parseRetrievePage, parseSubmitPage } from './certsrv-pages';

const WHAT = 'ADCS';
/** certsrv request ids are DWORDs. */
const REQ_ID = /^\d{1,10}$/;

/**
 * Microsoft AD Certificate Services through its web enrollment pages (certsrv), the way a
 * browser uses them: POST certfnsh.asp with the base64 CSR and the template, read the
 * request id from the answer page, and download certnew.cer?ReqID=<n>&Enc=b64. A template
 * that needs CA manager approval answers "Certificate Pending": the request id becomes the
 * order certctl polls with certnew.cer until the CA manager issues or denies it.
 *
 * Revocation is not part of web enrollment (it needs the CA's DCOM interface or certutil on
 * the CA): revoke() says so instead of pretending.
 */
export class AdcsConnector implements IssuerConnector {
  readonly type = IssuerType.ADCS;
  private readonly cfg: AdcsConfig;
  private readonly base: string;
  private trust?: Promise<string | undefined>;
  private client?: Promise<CaHttpRequest['clientCert']>;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = adcsConfig.schema.parse(ctx.config);
    // The root of web enrollment, with or without the /certsrv the operator typed.
    const url = this.cfg.server_url.replace(/\/+$/, '');
    this.base = /\/certsrv$/i.test(url) ? url : `${url}/certsrv`;
  }

  async issue(req: IssuanceRequest): Promise<IssuanceOutcome> {
    const csr = requireCsr(req, WHAT);
    const res = await this.send('POST', '/certfnsh.asp', {
      Mode: 'newreq',
      // Base64 DER without PEM armour: certsrv accepts both, this is what its form posts.
      CertRequest: Buffer.from(csr.der).toString('base64'),
      CertAttrib: `CertificateTemplate:${this.cfg.template}`,
      TargetStoreFlags: '0',
      SaveCert: 'yes',
    });
    const page = parseSubmitPage(res.text);
    if (page.kind === 'pending') return { state: 'pending', orderId: page.reqId };
    if (page.kind === 'denied') {
      throw invalid(
        `${WHAT} refused the request${page.reqId ? ` (request id ${page.reqId})` : ''} for template ${this.cfg.template}: ${page.message}`,
      );
    }
    const status = await this.retrieve(page.reqId, csr.spkiDer);
    if (status.state === 'issued') return status.result;
    if (status.state === 'pending') return { state: 'pending', orderId: page.reqId };
    throw invalid(`${WHAT} request ${page.reqId}: ${status.message}`);
  }

  renew(req: IssuanceRequest): Promise<IssuanceOutcome> {
    return this.issue(req);
  }

  async revoke(req: RevocationRequest): Promise<void> {
    throw invalid(
      `${WHAT} web enrollment (certsrv) cannot revoke certificates: revoke serial ${req.serialHex} on the CA ` +
        `(certutil -revoke ${req.serialHex} or the Certification Authority console); certctl has recorded the revocation but did not tell the CA`,
    );
  }

  /** The CA certificate: certnew.cer?ReqID=CACert&Renewal=0&Enc=b64. */
  async getCaCertPem(): Promise<string> {
    const res = await this.send('GET', '/certnew.cer?ReqID=CACert&Renewal=0&Enc=b64');
    const [pem] = pemCertificates(res.text);
    if (!pem) throw new DomainError(ErrorCode.Unavailable, `${WHAT}: the CA certificate download has no certificate`);
    return pem;
  }

  async getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus> {
    if (!REQ_ID.test(orderId)) return { state: 'failed', message: `${WHAT}: ${orderId} is not a request id` };
    if (!expected) throw invalid(`${WHAT}: polling request ${orderId} needs the public key the request carried`);
    return this.retrieve(orderId, expected.spkiDer);
  }

  /** The connection test: credentials accepted and the CA certificate downloadable. */
  check(): Promise<ConnectorCheck> {
    return connectionCheck(async () => {
      const ca = new X509Certificate(await this.getCaCertPem());
      return { ok: true, message: `${WHAT} web enrollment reachable; CA ${ca.subject.replace(/\n/g, ', ')}` };
    });
  }

  /** certnew.cer?ReqID=<n>&Enc=b64: the certificate, "Taken Under Submission", or the reason it failed. */
  private async retrieve(reqId: string, spkiDer: Uint8Array): Promise<OrderStatus> {
    const res = await this.send('GET', `/certnew.cer?ReqID=${reqId}&Enc=b64`);
    const page = parseRetrievePage(res.text);
    if (page.kind === 'pending') return { state: 'pending' };
    if (page.kind === 'failed') return { state: 'failed', message: `${WHAT} request ${reqId}: ${page.message}` };
    return { state: 'issued', result: await this.withChain(page.pem, spkiDer) };
  }

  /** The leaf with the CA certificate above it (dropped by issuanceResult when it is the self-signed root). */
  private async withChain(leafPem: string, spkiDer: Uint8Array): Promise<IssuanceResult> {
    const ca = await this.getCaCertPem();
    const issuedByCa = new X509Certificate(leafPem).checkIssued(new X509Certificate(ca));
    return issuanceResult(leafPem, issuedByCa ? [ca] : [], spkiDer, WHAT);
  }

  private async send(method: 'GET' | 'POST', path: string, form?: Record<string, string>): Promise<CaHttpResponse> {
    this.trust ??= readOptionalCaBundle(this.cfg.trust_ca_path, 'config.trust_ca_path');
    this.client ??= this.readClientCert();
    const headers: Record<string, string> = {};
    if (this.cfg.username !== undefined && this.cfg.password !== undefined) {
      const user = this.cfg.domain ? `${this.cfg.domain}\\${this.cfg.username}` : this.cfg.username;
      headers.authorization = `Basic ${Buffer.from(`${user}:${this.cfg.password}`, 'utf8').toString('base64')}`;
    }
    const res = await caHttp({
      method,
      url: `${this.base}${path}`,
      headers: { ...headers, accept: 'text/html, application/pkix-cert, */*' },
      form,
      ca: await this.trust,
      clientCert: await this.client,
      timeoutMs: caTimeoutMs(this.cfg.timeout_seconds),
      what: WHAT,
    });
    if (res.status >= 200 && res.status < 300) return res;
    const where = `${method} ${path.split('?')[0]}`;
    if (res.status === 401) {
      const offered = [res.headers['www-authenticate']].flat().filter(Boolean).join(', ');
      const hint =
        offered && !/basic/i.test(offered)
          ? `; certsrv offers only ${offered}: NTLM/Kerberos need an authenticating reverse proxy (see the ADCS connector docs)`
          : '';
      throw new DomainError(
        ErrorCode.Validation,
        `${WHAT}: ${where} answered HTTP 401: the credentials were refused${hint}`,
      );
    }
    throw caStatusError(
      res.status,
      `${WHAT}: ${where} answered HTTP ${res.status}: ${excerpt(pageText(res.text)) || 'no details'}`,
    );
  }

  /** Mutual TLS is optional for certsrv (a reverse proxy may ask for it): both files, or none. */
  private async readClientCert(): Promise<CaHttpRequest['clientCert']> {
    const { client_cert_path: certPath, client_key_path: keyPath } = this.cfg;
    if (certPath === undefined || keyPath === undefined) return undefined;
    return readClientCertificate({ certPath, keyPath, passphrase: this.cfg.client_key_passphrase });
  }
}
