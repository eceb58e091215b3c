import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { invalid } from '@certctl/domain';
import { DerSequence, derTlvLength, exactArrayBuffer, isBytes } from '../crl/der';

/** A certificate that parses like any other but encodes as the exact bytes it came from. */
class VerbatimCertificate extends pkijs.Certificate {
  constructor(
    schema: asn1js.AsnType,
    private readonly der: ArrayBuffer,
  ) {
    super({ schema });
  }

  override toSchema(): asn1js.Sequence {
    return new DerSequence(this.der);
  }
}

/**
 * A certificate known only by its bytes: SignedData.toSchema() asks nothing else of the
 * certificates it carries, and parsing each one with pkijs costs more than the rest of a
 * certs-only answer.
 */
class OpaqueCertificate extends pkijs.Certificate {
  constructor(private readonly der: ArrayBuffer) {
    super();
  }

  override toSchema(): asn1js.Sequence {
    return new DerSequence(this.der);
  }
}

/** Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE, signature BIT STRING }. */
function looksLikeCertificate(asn: asn1js.AsnType): boolean {
  if (!(asn instanceof asn1js.Sequence)) return false;
  const [tbs, alg, sig, ...rest] = asn.valueBlock.value;
  return (
    rest.length === 0 &&
    tbs instanceof asn1js.Sequence &&
    alg instanceof asn1js.Sequence &&
    sig instanceof asn1js.BitString
  );
}

/** A parsed certificate that encodes back as exactly `der` (a copy, not a re-encoding). */
export function verbatimCertificate(der: Uint8Array): pkijs.Certificate {
  const buffer = exactArrayBuffer(new Uint8Array(der));
  const asn = asn1js.fromBER(buffer);
  if (asn.offset === -1 || asn.offset !== buffer.byteLength) throw invalid('not a DER X.509 certificate');
  return new VerbatimCertificate(asn.result, buffer);
}

/**
 * A "certs-only" PKCS#7 / CMS SignedData (RFC 5652 5.1; RFC 8951 and RFC 8894 use it for EST
 * /cacerts and SCEP GetCACert): version 1, no digest algorithms, id-data with no content,
 * the certificates in the order given and byte for byte as given, no signers. DER.
 */
export function certsOnlyPkcs7(certsDer: readonly Uint8Array[]): Buffer {
  if (!Array.isArray(certsDer) || certsDer.length === 0) throw invalid('certsDer must list at least one certificate');
  const certificates = certsDer.map((der, i) => {
    const field = `certsDer[${i}]`;
    if (!isBytes(der)) throw invalid(`${field} must be DER bytes`);
    const buffer = exactArrayBuffer(new Uint8Array(der));
    if (derTlvLength(new Uint8Array(buffer)) !== buffer.byteLength)
      throw invalid(`${field} is not a DER X.509 certificate`);
    const asn = asn1js.fromBER(buffer);
    if (asn.offset === -1 || !looksLikeCertificate(asn.result))
      throw invalid(`${field} is not a DER X.509 certificate`);
    return new OpaqueCertificate(buffer);
  });
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: pkijs.ContentInfo.DATA }),
    digestAlgorithms: [],
    certificates,
    signerInfos: [],
  });
  const contentInfo = new pkijs.ContentInfo({
    contentType: pkijs.ContentInfo.SIGNED_DATA,
    content: signedData.toSchema(),
  });
  return Buffer.from(contentInfo.toSchema().toBER());
}

/**
 * A degenerate SignedData (no signers, no content) carrying one CRL, byte for byte: what RFC
 * 8894 3.3.4 puts in the pkcsPKIEnvelope of a GetCRL reply. DER.
 */
export function crlOnlyPkcs7(crlDer: Uint8Array): Buffer {
  if (!isBytes(crlDer)) throw invalid('crlDer must be DER bytes');
  const buffer = exactArrayBuffer(new Uint8Array(crlDer));
  if (derTlvLength(new Uint8Array(buffer)) !== buffer.byteLength) throw invalid('crlDer is not a DER CRL');
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = new VerbatimCrl(buffer);
  } catch {
    throw invalid('crlDer is not a DER CRL');
  }
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: pkijs.ContentInfo.DATA }),
    digestAlgorithms: [],
    crls: [crl],
    signerInfos: [],
  });
  const contentInfo = new pkijs.ContentInfo({
    contentType: pkijs.ContentInfo.SIGNED_DATA,
    content: signedData.toSchema(),
  });
  return Buffer.from(contentInfo.toSchema().toBER());
}

/** A CRL that parses like any other but encodes as the exact bytes it came from (its signature covers them). */
class VerbatimCrl extends pkijs.CertificateRevocationList {
  constructor(private readonly der: ArrayBuffer) {
    const asn = asn1js.fromBER(der);
    if (asn.offset === -1) throw new Error(asn.result.error);
    super({ schema: asn.result });
  }

  override toSchema(): asn1js.Sequence {
    return new DerSequence(this.der);
  }
}
