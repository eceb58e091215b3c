// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, Extension } from '@peculiar/asn1-x509';
import {
  CertID,
  CertStatus,
  KeyHash,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import * as asn1js from 'asn1js';
import { invalid } from '@certctl/domain';
import { DerSequence, isBytes, requireDate, serialHexToInteger } from '../crl/der';
import { CrlReason, reasonCodeFor } from '../crl/reasons';
import {
  CertificateInfo,
  CertificateInput,
  Signer,
  SigningIdentity,
  loadCertificate,
  loadSigner,
  sameSubjectAndKey,
} from '../crl/signing';
import { OCSP_HASH_LENGTHS, OCSP_HASH_OIDS, OcspCertId, certIdMatches } from './ocsp-request';

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export interface OcspSingleResponse {
  /** Usually a CertID from parseOcspRequest, echoed as the client sent it. */
  certId: OcspCertId;
  status: OcspCertStatus;
  /** Required for 'revoked'. */
  revokedAt?: Date;
  /** For 'revoked'; omitted from the response when unspecified (as in CRLs). */
  reason?: CrlReason;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface BuildOcspResponseInput {
  /** The issuing CA itself, or its delegated responder (id-kp-OCSPSigning, issued by the CA). */
  responder: SigningIdentity;
  /** The CA that issued the certificates asked about. */
  issuerCert: CertificateInput;
  responses: readonly OcspSingleResponse[];
  /** The request's nonce, echoed (omit for cacheable, pre-signed responses). */
  nonce?: Uint8Array;
  producedAt: Date;
}

/** RFC 9654 upper bound; parseOcspRequest applies the (stricter, default 32) request limit. */
const MAX_NONCE_BYTES = 128;

interface PreparedResponder {
  signer: Signer;
  responderId: ResponderID;
  /** [0] EXPLICIT SEQUENCE OF Certificate with the delegated responder's certificate. */
  certs?: asn1js.Constructed;
  notBefore: Date;
  notAfter: Date;
}

const prepared = new WeakMap<Signer, WeakMap<CertificateInfo, Promise<PreparedResponder>>>();

/** Checks (once per responder and issuer) that the responder may answer for the issuer. */
function prepare(signer: Signer, issuer: CertificateInfo): Promise<PreparedResponder> {
  let perIssuer = prepared.get(signer);
  if (!perIssuer) {
    perIssuer = new WeakMap();
    prepared.set(signer, perIssuer);
  }
  let pending = perIssuer.get(issuer);
  if (!pending) {
    pending = prepareUncached(signer, issuer);
    perIssuer.set(issuer, pending);
    const cache = perIssuer;
    pending.catch(() => cache.delete(issuer));
  }
  return pending;
}

async function prepareUncached(signer: Signer, issuer: CertificateInfo): Promise<PreparedResponder> {
  const cert = signer.cert.cert;
  let certs: asn1js.Constructed | undefined;
  if (!sameSubjectAndKey(signer.cert, issuer)) {
    // RFC 6960 4.2.2.2: a delegated responder is issued directly by the CA and carries
    // id-kp-OCSPSigning; clients reject anything else, so refuse to sign with it.
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    const issuedByCa =
      cert.issuerName.toString() === issuer.cert.subjectName.toString() &&
      (await cert.verify({ publicKey: issuer.cert.publicKey, signatureOnly: true }));
    if (!issuedByCa || !eku?.usages.includes(id_kp_OCSPSigning)) {
      throw invalid(
        'responder.certificate is neither issuerCert nor a delegated OCSP responder (id-kp-OCSPSigning) issued by it (RFC 6960 4.2.2.2)',
      );
    }
    if (ku && !(ku.usages & (x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation))) {
      throw invalid('responder.certificate keyUsage does not allow digitalSignature (RFC 5280 4.2.1.12)');
    }
    certs = new asn1js.Constructed({
      idBlock: { tagClass: 3, tagNumber: 0 },
      value: [new asn1js.Sequence({ value: [new DerSequence(signer.cert.der)] })],
    });
  }
  return {
    signer,
    // byKey: SHA-1 of the responder's public key BIT STRING (RFC 6960 4.2.1), the compact form.
    responderId: new ResponderID({ byKey: new KeyHash(createHash('sha1').update(signer.cert.publicKeyBits).digest()) }),
    certs,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

function certIdFor(certId: OcspCertId, field: string): CertID {
  const oid = OCSP_HASH_OIDS[certId.hashAlgorithm];
  const length = OCSP_HASH_LENGTHS[certId.hashAlgorithm];
  if (!oid) throw invalid(`${field}.hashAlgorithm must be SHA-1 or SHA-256`);
  if (
    !isBytes(certId.issuerNameHash) ||
    !isBytes(certId.issuerKeyHash) ||
    certId.issuerNameHash.length !== length ||
    certId.issuerKeyHash.length !== length
  ) {
    throw invalid(`${field}: issuer hashes must be ${length}-octet ${certId.hashAlgorithm} values`);
  }
  const hashAlgorithm = new AlgorithmIdentifier({ algorithm: oid });
  if (certId.hashParameters !== 'absent') hashAlgorithm.parameters = null;
  const serial = serialHexToInteger(certId.serialHex, `${field}.serialHex`, Infinity);
  return new CertID({
    hashAlgorithm,
    issuerNameHash: new OctetString(certId.issuerNameHash),
    issuerKeyHash: new OctetString(certId.issuerKeyHash),
    serialNumber: serial.slice().buffer,
  });
}

/**
 * A signed, successful OCSPResponse (RFC 6960 4.2.1) carrying a BasicOCSPResponse: responder
 * ID byKey, GeneralizedTimes in whole seconds, one SingleResponse per entry (good, revoked
 * with its time and reason, unknown), the nonce echoed when given, and the delegated
 * responder's certificate in `certs` (none when the CA signs itself). Each CertID must name
 * `issuerCert`, and responses may not outlive the responder certificate. Throws a validation
 * DomainError naming the field otherwise.
 */
export async function buildOcspResponse(input: BuildOcspResponseInput): Promise<Buffer> {
  if (!input || typeof input !== 'object') throw invalid('OCSP response input is required');
  const producedAt = requireDate(input.producedAt, 'producedAt');
  const list: unknown = input.responses;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid('responses must list at least one certificate status');
  }
  if (input.nonce !== undefined) {
    if (!isBytes(input.nonce) || input.nonce.length < 1 || input.nonce.length > MAX_NONCE_BYTES) {
      throw invalid(`nonce must be 1 to ${MAX_NONCE_BYTES} octets (RFC 9654)`);
    }
  }
  const issuer = loadCertificate(input.issuerCert, 'issuerCert');
  const responder = await prepare(await loadSigner(input.responder, 'responder'), issuer);
  if (producedAt < responder.notBefore || producedAt > responder.notAfter) {
    throw invalid('responder.certificate is not valid at producedAt (rotate the responder certificate)');
  }

  const singles = input.responses.map((r, i): SingleResponse => {
    const field = `responses[${i}]`;
    if (!r || typeof r !== 'object' || !r.certId || typeof r.certId !== 'object') {
      throw invalid(`${field}.certId is required`);
    }
    const certID = certIdFor(r.certId, `${field}.certId`);
    if (!certIdMatches(r.certId, issuer)) {
      throw invalid(`${field}.certId names another issuer than issuerCert`);
    }
    const thisUpdate = requireDate(r.thisUpdate, `${field}.thisUpdate`);
    const nextUpdate = requireDate(r.nextUpdate, `${field}.nextUpdate`);
    if (nextUpdate <= thisUpdate) throw invalid(`${field}.nextUpdate must be later than thisUpdate`);
    if (nextUpdate > responder.notAfter) {
      throw invalid(`${field}.nextUpdate is after the responder certificate expires (rotate it first)`);
    }
    let certStatus: CertStatus;
    switch (r.status) {
      case 'good':
      case 'unknown':
        if (r.revokedAt !== undefined || r.reason !== undefined) {
          throw invalid(`${field}: revokedAt and reason only apply to status 'revoked'`);
        }
        certStatus = new CertStatus(r.status === 'good' ? { good: null } : { unknown: null });
        break;
      case 'revoked': {
        const revocationTime = requireDate(r.revokedAt, `${field}.revokedAt`);
        const code = r.reason === undefined ? undefined : reasonCodeFor(r.reason, `${field}.reason`);
        certStatus = new CertStatus({
          revoked: new RevokedInfo({
            revocationTime,
            revocationReason: code === undefined ? undefined : new CRLReason(code),
          }),
        });
        break;
      }
      default:
        throw invalid(`${field}.status must be good, revoked or unknown`);
    }
    return new SingleResponse({ certID, certStatus, thisUpdate, nextUpdate });
  });

  const responseData = new ResponseData({
    responderID: responder.responderId,
    producedAt,
    responses: singles,
    responseExtensions: input.nonce
      ? [
          new Extension({
            extnID: id_pkix_ocsp_nonce,
            critical: false,
            extnValue: new OctetString(AsnConvert.serialize(new OctetString(input.nonce))),
          }),
        ]
      : undefined,
  });
  const tbs = AsnConvert.serialize(responseData);
  const signature = await responder.signer.sign(tbs);
  // BasicOCSPResponse around the signed bytes as they are (RFC 6960 4.2.1).
  const basic = new asn1js.Sequence({
    value: [
      new DerSequence(tbs),
      new DerSequence(responder.signer.algorithmDer),
      new asn1js.BitString({ valueHex: signature }),
      ...(responder.certs ? [responder.certs] : []),
    ],
  });
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(basic.toBER()) }),
  });
  return Buffer.from(AsnConvert.serialize(response));
}

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';

const ERROR_STATUS_CODES: Readonly<Record<OcspErrorStatus, OCSPResponseStatus>> = {
  malformedRequest: OCSPResponseStatus.malformedRequest,
  internalError: OCSPResponseStatus.internalError,
  tryLater: OCSPResponseStatus.tryLater,
  unauthorized: OCSPResponseStatus.unauthorized,
};
const errorResponses = new Map<OcspErrorStatus, Buffer>();

/** An unsigned OCSPResponse with an error status and no responseBytes (RFC 6960 4.2.1). */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  let der = errorResponses.get(status);
  if (!der) {
    if (!Object.hasOwn(ERROR_STATUS_CODES, status)) {
      throw invalid('status must be malformedRequest, internalError, tryLater or unauthorized');
    }
    der = Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: ERROR_STATUS_CODES[status] })));
    errorResponses.set(status, der);
  }
  return Buffer.from(der); // a copy: callers may not alter the cached bytes
}
