import { IssuerType, invalid } from '@certctl/domain';
import { buildCrl, buildOcspResponse, issueLeaf, type CaSigner, type IssuedCertificate } from '@certctl/pki';
import type {
  CrlRequest,
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OcspSignRequest,
  OrderStatus,
} from './issuer-port';

function result(c: IssuedCertificate): IssuanceResult {
  return {
    certPem: c.certPem,
    chainPem: c.chainPem,
    serialHex: c.serialHex,
    fingerprintSha256: c.fingerprintSha256,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
  };
}

/**
 * The Local CA: signs with a CA this server holds (a generated root or intermediate, or a
 * sub-CA loaded from files). Issuance is synchronous; revocation data (CRL, OCSP) is
 * signed here, so revoking at the CA is the revocation record itself.
 */
export class LocalCaConnector implements IssuerConnector {
  readonly type = IssuerType.LocalCA;
  private readonly ca: CaSigner;
  private readonly defaultTtlSeconds: number | undefined;

  constructor(private readonly ctx: IssuerConnectorContext) {
    if (!ctx.ca) throw new Error('LocalCaConnector needs the signing CA');
    this.ca = ctx.ca;
    const days = ctx.config.default_validity_days;
    this.defaultTtlSeconds = typeof days === 'number' ? days * 86_400 : undefined;
  }

  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    if (!req.csr && !req.publicKeySpki) throw invalid('issuance needs a CSR or a public key');
    const ttl = req.ttlSeconds ?? this.defaultTtlSeconds;
    return result(
      await issueLeaf(this.ca, {
        csr: req.csr,
        publicKey: req.csr ? undefined : req.publicKeySpki,
        commonName: req.commonName,
        sans: req.sans,
        profile: req.profile,
        ttlSeconds: req.profile && ttl !== undefined ? Math.min(ttl, req.profile.max_ttl_seconds) : ttl,
        ekus: req.ekus,
        publicUrl: this.ctx.publicUrl,
        issuerId: this.ctx.urlId,
        now: req.now,
      }),
    );
  }

  renew(req: IssuanceRequest): Promise<IssuanceResult> {
    return this.issue(req);
  }

  /** Nothing to tell: this server's CRL and OCSP answers are the CA's revocation data. */
  async revoke(): Promise<void> {}

  generateCrl(req: CrlRequest): Promise<Buffer> {
    return buildCrl({ issuer: this.identity(), ...req });
  }

  signOcsp(req: OcspSignRequest): Promise<Buffer> {
    return buildOcspResponse({
      responder: req.responder ?? this.identity(),
      issuerCert: this.ca.certDer,
      responses: req.responses,
      nonce: req.nonce,
      producedAt: req.producedAt,
    });
  }

  async getCaCertPem(): Promise<string> {
    return this.ca.certPem;
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `Local CA issues synchronously; there is no order ${orderId}` };
  }

  /** One identity object per CA: the CRL/OCSP code caches what it derives against it. */
  private identity() {
    return caIdentity(this.ca);
  }
}

const identities = new WeakMap<CaSigner, { certificate: Uint8Array; privateKey: CaSigner['privateKey'] }>();
function caIdentity(ca: CaSigner) {
  let id = identities.get(ca);
  if (!id) {
    id = { certificate: ca.certDer, privateKey: ca.privateKey };
    identities.set(ca, id);
  }
  return id;
}
