import type { IssuerType } from '@certctl/domain';
import type {
  CaSigner,
  CertificateProfileRules,
  CrlEntry,
  OcspSingleResponse,
  ParsedCsr,
  SigningIdentity,
  SubjectAltNames,
} from '@certctl/pki';
import type { ConfigObject } from '../config/spec';

/** What to issue: the names come from the managed certificate, the key from the CSR or the server. */
export interface IssuanceRequest {
  /** A parsed, signature-verified CSR (agent keygen, EST, SCEP, ACME). */
  csr?: ParsedCsr;
  /** SubjectPublicKeyInfo DER when the server generated the key (no CSR). */
  publicKeySpki?: Uint8Array;
  commonName: string;
  sans: Partial<SubjectAltNames>;
  profile?: CertificateProfileRules;
  /** Requested lifetime; the connector caps it at the profile's max TTL as far as its CA allows. */
  ttlSeconds?: number;
  ekus?: string[];
  now?: Date;
  /**
   * Renewals: the certificate being replaced (PEM). ACME sends its RFC 9773 id as the
   * order's `replaces`; other CAs ignore it.
   */
  replacesCertPem?: string;
}

export interface IssuanceResult {
  certPem: string;
  /** CA certificates above the leaf, nearest first, without the self-signed root. */
  chainPem: string;
  /** Lower-case hex without leading zeros stripped (as issued). */
  serialHex: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface RevocationRequest {
  serialHex: string;
  /** RFC 5280 reason name (keyCompromise, superseded, ...). */
  reason: string;
}

/**
 * An order an asynchronous CA (DigiCert, Sectigo, ...) accepted but has not issued yet
 * (validation, approval). The server keeps `orderId` in Postgres and polls getOrderStatus.
 */
export interface PendingOrder {
  state: 'pending';
  /** The CA's own id of the order (what getOrderStatus takes), at most 256 characters. */
  orderId: string;
  /** The CA's hint for the first poll (Retry-After); the server bounds it. */
  retryAfterSeconds?: number;
}

/** What issue()/renew() answer: the certificate, or an order the CA completes later. */
export type IssuanceOutcome = IssuanceResult | PendingOrder;

export function isPendingOrder(o: IssuanceOutcome): o is PendingOrder {
  return (o as Partial<PendingOrder>).state === 'pending';
}

/** Asynchronous CAs (DigiCert, Sectigo, ...) answer orders later; synchronous ones are always done. */
export type OrderStatus =
  | { state: 'issued'; result: IssuanceResult }
  | { state: 'pending'; retryAfterSeconds?: number }
  | { state: 'failed'; message: string };

export interface CrlRequest {
  entries: readonly CrlEntry[];
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface OcspSignRequest {
  responses: readonly OcspSingleResponse[];
  /** Delegated responder (id-kp-OCSPSigning) issued by this CA; absent: the CA signs itself. */
  responder?: SigningIdentity;
  nonce?: Uint8Array;
  producedAt: Date;
}

/**
 * The issuer port: one instance per issuer (and, for CAs held by the server, per signing
 * CA). Connectors for remote CAs implement what their CA offers; generateCrl and signOcsp
 * exist only where this server signs revocation data itself (Local CA).
 */
export interface IssuerConnector {
  readonly type: IssuerType;
  /** Synchronous CAs answer the certificate; asynchronous ones may answer a pending order. */
  issue(req: IssuanceRequest): Promise<IssuanceOutcome>;
  renew(req: IssuanceRequest): Promise<IssuanceOutcome>;
  /** Tells the CA; for a CA whose CRL/OCSP this server serves, recording it is enough. */
  revoke(req: RevocationRequest): Promise<void>;
  generateCrl?(req: CrlRequest): Promise<Buffer>;
  signOcsp?(req: OcspSignRequest): Promise<Buffer>;
  getCaCertPem(): Promise<string>;
  /**
   * A pending order's state. `expected.spkiDer` is the public key the order's CSR carried:
   * an issued certificate for any other key is refused.
   */
  getOrderStatus(orderId: string, expected?: { spkiDer: Uint8Array }): Promise<OrderStatus>;
  /**
   * CAs that suggest renewal windows (ACME ARI, RFC 9773): the window for an issued
   * certificate, or undefined when the CA offers none (the threshold rules apply).
   */
  renewalInfo?(certPem: string): Promise<CaRenewalInfo | undefined>;
}

/** RFC 9773 renewal information: the CA's suggested renewal window for one certificate. */
export interface CaRenewalInfo {
  suggestedWindow: { start: string; end: string };
  explanationURL?: string;
  /** The CA's Retry-After: when to ask again at the earliest. */
  retryAfterSeconds?: number;
}

/** What a factory gets to build a connector for one issuer row. */
export interface IssuerConnectorContext {
  issuerId: string;
  /** The issuer's full (unsealed) configuration, already validated against its type's schema. */
  config: ConfigObject;
  /** Base of the CRL distribution point and AIA URLs (CERTCTL_PKI_PUBLIC_URL, else the public URL). */
  publicUrl: string;
  /** The id that names the signing CA in CRL/OCSP/CA-issuer URLs (issuer id, or intermediate id). */
  urlId: string;
  /** For CAs held by this server: the signing CA. */
  ca?: CaSigner;
}

export type IssuerConnectorFactory = (ctx: IssuerConnectorContext) => IssuerConnector;

/** Nest injection token of the registry (type -> factory). */
export const ISSUER_CONNECTORS = Symbol('ISSUER_CONNECTORS');
export type IssuerConnectorRegistry = ReadonlyMap<IssuerType, IssuerConnectorFactory>;
