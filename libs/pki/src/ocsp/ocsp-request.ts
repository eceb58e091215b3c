import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { Extension } from '@peculiar/asn1-x509';
import { OCSPRequest, Version, id_pkix_ocsp_nonce, id_pkix_ocsp_response } from '@peculiar/asn1-ocsp';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derTlvLength, integerToSerialHex, isBytes } from '../crl/der';
import { CertificateInfo, CertificateInput, loadCertificate } from '../crl/signing';

/** CertID hash algorithms this responder answers for. */
export type OcspHashAlgorithm = 'SHA-1' | 'SHA-256';

export const OCSP_HASH_OIDS: Readonly<Record<OcspHashAlgorithm, string>> = {
  'SHA-1': '1.3.14.3.2.26',
  'SHA-256': '2.16.840.1.101.3.4.2.1',
};
export const OCSP_HASH_LENGTHS: Readonly<Record<OcspHashAlgorithm, number>> = { 'SHA-1': 20, 'SHA-256': 32 };
const HASH_BY_OID = new Map<string, OcspHashAlgorithm>(
  Object.entries(OCSP_HASH_OIDS).map(([name, oid]) => [oid, name as OcspHashAlgorithm]),
);

/** RFC 6960 4.1.1 CertID, with the serial in certctl's canonical hex. */
export interface OcspCertId {
  hashAlgorithm: OcspHashAlgorithm;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lower-case hex, no leading zero octets: the form randomSerialHex() produces. */
  serialHex: string;
  /**
   * How the request encoded the hash AlgorithmIdentifier parameters (openssl sends NULL,
   * RFC 5754 SHA-2 encoders omit them). Echoed in the response so that clients that compare
   * CertIDs byte for byte match it. Default 'null'.
   */
  hashParameters?: 'null' | 'absent';
}

export interface ParsedOcspRequest {
  certIds: OcspCertId[];
  /** The nonce value (the content of the Nonce OCTET STRING), when the request carries one. */
  nonce?: Buffer;
  /** The request exactly as received (a cache key for nonce-less requests). */
  raw: Buffer;
}

export interface OcspRequestLimits {
  /** Refuse larger requests (default 64 KiB). */
  maxBytes?: number;
  /** Refuse requests asking for more certificates (default 100). */
  maxCertIds?: number;
  /** RFC 8954: 32 (default). RFC 9654 (which obsoletes it) allows up to 128. */
  maxNonceBytes?: number;
}

/**
 * An OCSP request this library cannot or will not answer: the responder answers
 * malformedRequest (RFC 6960 4.2.1). A validation DomainError, so other transports map it to 4xx.
 */
export class MalformedOcspRequest extends DomainError {
  constructor(message: string) {
    super(ErrorCode.Validation, message);
    this.name = 'MalformedOcspRequest';
  }
}

/** Request extensions we understand; a critical extension not in this list is refused (RFC 6960 4.4). */
const UNDERSTOOD_EXTENSIONS = new Set([id_pkix_ocsp_nonce, id_pkix_ocsp_response]);

/**
 * Decodes a DER OCSPRequest (RFC 6960 4.1.1): one or more CertIDs (SHA-1 or SHA-256) and the
 * optional nonce (RFC 8954: 1 to 32 octets). The request signature, if any, is ignored.
 * Anything else (undecodable, trailing bytes, unsupported hash, bad nonce, unknown critical
 * extension, over a limit) throws MalformedOcspRequest, and nothing else.
 */
export function parseOcspRequest(der: Uint8Array, limits: OcspRequestLimits = {}): ParsedOcspRequest {
  if (!isBytes(der)) throw new MalformedOcspRequest('OCSP request must be DER bytes');
  const maxBytes = limits.maxBytes ?? 65_536;
  if (der.length > maxBytes) throw new MalformedOcspRequest(`OCSP request is larger than ${maxBytes} bytes`);
  if (der.length === 0 || derTlvLength(der) !== der.length) {
    throw new MalformedOcspRequest('OCSP request is not a single DER structure (truncated, or trailing bytes)');
  }
  let request: OCSPRequest;
  try {
    request = AsnConvert.parse(der, OCSPRequest);
  } catch {
    throw new MalformedOcspRequest('OCSP request does not decode as an OCSPRequest (RFC 6960 4.1.1)');
  }
  try {
    return interpret(request, der, limits);
  } catch (e) {
    if (e instanceof MalformedOcspRequest) throw e;
    // The schema parser can accept shapes our reading does not expect: still the client's fault.
    throw new MalformedOcspRequest('OCSP request has an unexpected structure');
  }
}

function interpret(request: OCSPRequest, der: Uint8Array, limits: OcspRequestLimits): ParsedOcspRequest {
  const tbs = request.tbsRequest;
  if (tbs.version !== Version.v1) throw new MalformedOcspRequest('OCSP request version must be v1');
  const list = tbs.requestList;
  const maxCertIds = limits.maxCertIds ?? 100;
  if (!Array.isArray(list) || list.length === 0) throw new MalformedOcspRequest('OCSP request lists no CertID');
  if (list.length > maxCertIds) {
    throw new MalformedOcspRequest(`OCSP request lists ${list.length} CertIDs; at most ${maxCertIds} are answered`);
  }
  const certIds = list.map((single, i): OcspCertId => {
    const id = single.reqCert;
    const field = `requestList[${i}].reqCert`;
    const hashAlgorithm = HASH_BY_OID.get(id.hashAlgorithm.algorithm);
    if (!hashAlgorithm) {
      throw new MalformedOcspRequest(`${field}.hashAlgorithm ${id.hashAlgorithm.algorithm} is not SHA-1 or SHA-256`);
    }
    const params = id.hashAlgorithm.parameters;
    if (params !== null && params !== undefined) {
      throw new MalformedOcspRequest(`${field}.hashAlgorithm parameters must be NULL or absent`);
    }
    const issuerNameHash = Buffer.from(id.issuerNameHash.buffer);
    const issuerKeyHash = Buffer.from(id.issuerKeyHash.buffer);
    const length = OCSP_HASH_LENGTHS[hashAlgorithm];
    if (issuerNameHash.length !== length || issuerKeyHash.length !== length) {
      throw new MalformedOcspRequest(`${field}: ${hashAlgorithm} issuer hashes must be ${length} octets`);
    }
    const serialHex = integerToSerialHex(new Uint8Array(id.serialNumber));
    if (!serialHex) throw new MalformedOcspRequest(`${field}.serialNumber must be a positive INTEGER`);
    refuseUnknownCritical(single.singleRequestExtensions, `requestList[${i}].singleRequestExtensions`);
    return {
      hashAlgorithm,
      issuerNameHash,
      issuerKeyHash,
      serialHex,
      hashParameters: params === null ? 'null' : 'absent',
    };
  });

  let nonce: Buffer | undefined;
  const extensions = tbs.requestExtensions ?? [];
  refuseUnknownCritical(extensions, 'requestExtensions');
  for (const ext of extensions) {
    if (ext.extnID !== id_pkix_ocsp_nonce) continue;
    if (nonce) throw new MalformedOcspRequest('requestExtensions: the nonce extension appears twice');
    nonce = nonceValue(ext, limits.maxNonceBytes ?? 32);
  }
  return { certIds, nonce, raw: Buffer.from(der) };
}

function refuseUnknownCritical(extensions: readonly Extension[] | undefined, field: string): void {
  for (const ext of extensions ?? []) {
    if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.extnID)) {
      throw new MalformedOcspRequest(`${field}: critical extension ${ext.extnID} is not supported (RFC 6960 4.4)`);
    }
  }
}

/** RFC 8954: extnValue holds a DER OCTET STRING whose content, 1 to 32 octets, is the nonce. */
function nonceValue(ext: Extension, maxNonceBytes: number): Buffer {
  const outer = new Uint8Array(ext.extnValue.buffer);
  if (outer.length === 0 || outer[0] !== 0x04 || derTlvLength(outer) !== outer.length) {
    throw new MalformedOcspRequest('requestExtensions: the nonce must be an OCTET STRING (RFC 8954)');
  }
  let value: Buffer;
  try {
    value = Buffer.from(AsnConvert.parse(outer, OctetString).buffer);
  } catch {
    throw new MalformedOcspRequest('requestExtensions: the nonce must be an OCTET STRING (RFC 8954)');
  }
  if (value.length < 1 || value.length > maxNonceBytes) {
    throw new MalformedOcspRequest(`requestExtensions: the nonce must be 1 to ${maxNonceBytes} octets (RFC 8954)`);
  }
  return value;
}

/** True when `certId` names `issuerCert` (its name and key hashes, under the CertID's algorithm). */
export function certIdMatchesIssuer(certId: OcspCertId, issuerCert: CertificateInput): boolean {
  return certIdMatches(certId, loadCertificate(issuerCert, 'issuerCert'));
}

export function certIdMatches(certId: OcspCertId, issuer: CertificateInfo): boolean {
  const hashes =
    certId.hashAlgorithm === 'SHA-1' ? issuer.sha1 : certId.hashAlgorithm === 'SHA-256' ? issuer.sha256 : undefined;
  return (
    !!hashes &&
    isBytes(certId.issuerNameHash) &&
    isBytes(certId.issuerKeyHash) &&
    hashes.nameHash.equals(certId.issuerNameHash) &&
    hashes.keyHash.equals(certId.issuerKeyHash)
  );
}
