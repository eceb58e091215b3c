import {
  KeyObject,
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  webcrypto,
} from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { parseCsr, type ParsedCsr } from '../csr/parse-csr';
import { certsOnlyPkcs7, crlOnlyPkcs7, verbatimCertificate } from '../pkcs7/certs-only';

/** RFC 8894 3.2.1.4 failInfo values. */
export type ScepFailInfo = 'badAlg' | 'badMessageCheck' | 'badRequest' | 'badTime' | 'badCertId';
export const SCEP_FAIL_INFO_CODES: Readonly<Record<ScepFailInfo, string>> = {
  badAlg: '0',
  badMessageCheck: '1',
  badRequest: '2',
  badTime: '3',
  badCertId: '4',
};

/** RFC 8894 3.2.1.2 messageType values this layer understands. */
export const SCEP_MESSAGE_TYPES = {
  CertRep: 3,
  RenewalReq: 17,
  PKCSReq: 19,
  CertPoll: 20, // GetCertInitial
  GetCert: 21,
  GetCRL: 22,
} as const;
export type ScepRequestType = 'PKCSReq' | 'RenewalReq' | 'GetCertInitial' | 'GetCert' | 'GetCRL';
const REQUEST_TYPE_BY_CODE: Record<string, ScepRequestType> = {
  '19': 'PKCSReq',
  '17': 'RenewalReq',
  '20': 'GetCertInitial',
  '21': 'GetCert',
  '22': 'GetCRL',
};

export type ScepPkiStatus = 'success' | 'failure' | 'pending';
const PKI_STATUS_CODES: Record<ScepPkiStatus, string> = { success: '0', failure: '2', pending: '3' };

/**
 * A PKIMessage this server cannot or will not process. A validation DomainError (4xx on other
 * transports); the SCEP endpoint answers a FAILURE CertRep carrying `failInfo` when it can.
 */
export class ScepError extends DomainError {
  constructor(
    readonly failInfo: ScepFailInfo,
    message: string,
  ) {
    super(ErrorCode.Validation, message);
    this.name = 'ScepError';
  }
}

/** The RA (or CA) that receives PKIMessages and signs CertReps. The key must be RSA. */
export interface ScepRa {
  /** DER X.509 certificate of the RA. */
  certificate: Uint8Array;
  privateKey: KeyObject | webcrypto.CryptoKey;
}

export type ScepContentCipher = 'DES-CBC' | 'DES-EDE3-CBC' | 'AES-128-CBC' | 'AES-192-CBC' | 'AES-256-CBC';

export interface ParsedPkiMessage {
  messageType: ScepRequestType;
  transactionId: string;
  senderNonce: Buffer;
  /** DER of the certificate that signed the message (self-signed for PKCSReq, ours for RenewalReq). */
  signerCertificate: Uint8Array;
  /** Digest of the signature ("sha1", "sha256", ...). */
  digestAlgorithm: string;
  /** Content encryption of the inner EnvelopedData. */
  contentCipher: ScepContentCipher;
  /** The decrypted messageData (a PKCS#10 for PKCSReq/RenewalReq). */
  messageData: Buffer;
  /** PKCSReq/RenewalReq: the request, its signature verified. */
  csr?: ParsedCsr;
  /** GetCertInitial: IssuerAndSubject; GetCert/GetCRL: IssuerAndSerialNumber. DER of the issuer Name. */
  issuerDer?: Uint8Array;
  /** GetCertInitial: DER of the subject Name. */
  subjectDer?: Uint8Array;
  /** GetCert/GetCRL: serial as lower-case hex without leading zero octets. */
  serialHex?: string;
  /** signingTime signed attribute, when present. */
  signingTime?: Date;
}

export interface ParsePkiMessageOptions {
  /** Largest accepted message (default 256 KiB). */
  maxBytes?: number;
  /** Reject a signingTime further than this from now (default 24 h). */
  maxClockSkewMs?: number;
  now?: Date;
}

// RFC 8894 3.2.1 attribute OIDs (VeriSign arc).
const OID_MESSAGE_TYPE = '2.16.840.1.113733.1.9.2';
const OID_PKI_STATUS = '2.16.840.1.113733.1.9.3';
const OID_FAIL_INFO = '2.16.840.1.113733.1.9.4';
const OID_SENDER_NONCE = '2.16.840.1.113733.1.9.5';
const OID_RECIPIENT_NONCE = '2.16.840.1.113733.1.9.6';
const OID_TRANSACTION_ID = '2.16.840.1.113733.1.9.7';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_SIGNING_TIME = '1.2.840.113549.1.9.5';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const OID_RSA = '1.2.840.113549.1.1.1';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';

const HASH_BY_OID: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  [OID_SHA256]: 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** Signature algorithm OIDs that name their own hash. rsaEncryption and id-ecPublicKey use the digestAlgorithm. */
const SIG_HASH_BY_OID: Record<string, string | undefined> = {
  [OID_RSA]: undefined,
  '1.2.840.10045.2.1': undefined,
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

interface CipherSpec {
  name: ScepContentCipher;
  oid: string;
  keyBytes: number;
  ivBytes: number;
  /** Node cipher doing the work (single DES runs as EDE3 with K1 = K2 = K3, which equals DES). */
  node: string;
}
const CIPHERS: readonly CipherSpec[] = [
  { name: 'DES-CBC', oid: '1.3.14.3.2.7', keyBytes: 8, ivBytes: 8, node: 'des-ede3-cbc' },
  { name: 'DES-EDE3-CBC', oid: '1.2.840.113549.3.7', keyBytes: 24, ivBytes: 8, node: 'des-ede3-cbc' },
  { name: 'AES-128-CBC', oid: '2.16.840.1.101.3.4.1.2', keyBytes: 16, ivBytes: 16, node: 'aes-128-cbc' },
  { name: 'AES-192-CBC', oid: '2.16.840.1.101.3.4.1.22', keyBytes: 24, ivBytes: 16, node: 'aes-192-cbc' },
  { name: 'AES-256-CBC', oid: '2.16.840.1.101.3.4.1.42', keyBytes: 32, ivBytes: 16, node: 'aes-256-cbc' },
];

const DEFAULT_MAX_BYTES = 256 * 1024;
const DEFAULT_SKEW_MS = 24 * 3600 * 1000;
const MAX_TRANSACTION_ID = 256;

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function keyObject(key: KeyObject | webcrypto.CryptoKey): KeyObject {
  return key instanceof KeyObject ? key : KeyObject.from(key);
}

function berOf(der: ArrayBuffer, what: string): asn1js.AsnType {
  const asn = asn1js.fromBER(der);
  if (asn.offset === -1 || asn.offset !== der.byteLength) throw new ScepError('badRequest', `${what} is not valid DER`);
  return asn.result;
}

function contentBytes(os: unknown, what: string): Buffer {
  if (os instanceof asn1js.OctetString) return Buffer.from(os.getValue());
  // [0] IMPLICIT OCTET STRING (encryptedContent) arrives as a plain primitive or constructed block.
  if (os instanceof asn1js.Constructed) {
    const parts = os.valueBlock.value.map((v) => contentBytes(v, what));
    return Buffer.concat(parts);
  }
  if (os instanceof asn1js.Primitive) return Buffer.from(os.valueBlock.valueHexView);
  throw new ScepError('badRequest', `${what} is missing`);
}

/**
 * Parsed certificates by the byte array they came from: the RA certificate is the same array
 * for every message (ScepRa), so it is parsed once instead of twice per request. Verbatim: it
 * encodes back as those bytes, without re-encoding the whole certificate into each reply.
 */
const parsedCertificates = new WeakMap<Uint8Array, pkijs.Certificate>();

function certificateOf(der: Uint8Array, what: string): pkijs.Certificate {
  let cert = parsedCertificates.get(der);
  if (!cert) {
    try {
      cert = verbatimCertificate(der);
    } catch {
      throw new ScepError('badRequest', `${what} is not a DER X.509 certificate`);
    }
    parsedCertificates.set(der, cert);
  }
  return cert;
}

/** Parses a certificate, keeping the exact bytes it came from. */
function readCertificate(cert: pkijs.CertificateSetItem): { parsed: pkijs.Certificate; der: Uint8Array } | undefined {
  if (!(cert instanceof pkijs.Certificate)) return undefined;
  return { parsed: cert, der: new Uint8Array(cert.toSchema().toBER()) };
}

function sameIssuerAndSerial(cert: pkijs.Certificate, ias: pkijs.IssuerAndSerialNumber): boolean {
  return (
    Buffer.from(cert.issuer.toSchema().toBER()).equals(Buffer.from(ias.issuer.toSchema().toBER())) &&
    Buffer.from(cert.serialNumber.valueBlock.valueHexView).equals(Buffer.from(ias.serialNumber.valueBlock.valueHexView))
  );
}

function subjectKeyId(cert: pkijs.Certificate): Buffer | undefined {
  const ext = cert.extensions?.find((e) => e.extnID === '2.5.29.14');
  if (!ext) return undefined;
  const inner = asn1js.fromBER(ext.extnValue.getValue());
  return inner.result instanceof asn1js.OctetString ? Buffer.from(inner.result.getValue()) : undefined;
}

function matchesRid(cert: pkijs.Certificate, rid: unknown): boolean {
  if (rid instanceof pkijs.IssuerAndSerialNumber) return sameIssuerAndSerial(cert, rid);
  if (rid instanceof asn1js.OctetString || rid instanceof asn1js.Primitive) {
    const ski = subjectKeyId(cert);
    return !!ski && ski.equals(Buffer.from(rid.valueBlock.valueHexView));
  }
  return false;
}

function attributeValue(attrs: pkijs.Attribute[], oid: string): asn1js.AsnType | undefined {
  const found = attrs.filter((a) => a.type === oid);
  if (found.length > 1) throw new ScepError('badRequest', `signed attribute ${oid} appears more than once`);
  if (found.length === 0) return undefined;
  if (found[0].values.length !== 1) throw new ScepError('badRequest', `signed attribute ${oid} must have one value`);
  return found[0].values[0] as asn1js.AsnType;
}

function stringAttr(attrs: pkijs.Attribute[], oid: string, name: string): string | undefined {
  const v = attributeValue(attrs, oid);
  if (v === undefined) return undefined;
  if (
    !(v instanceof asn1js.PrintableString || v instanceof asn1js.Utf8String || v instanceof asn1js.IA5String) ||
    typeof v.valueBlock.value !== 'string'
  )
    throw new ScepError('badRequest', `${name} must be a PrintableString`);
  return v.valueBlock.value;
}

function octetAttr(attrs: pkijs.Attribute[], oid: string, name: string): Buffer | undefined {
  const v = attributeValue(attrs, oid);
  if (v === undefined) return undefined;
  if (!(v instanceof asn1js.OctetString)) throw new ScepError('badRequest', `${name} must be an OCTET STRING`);
  return Buffer.from(v.getValue());
}

/**
 * RSA PKCS#1 v1.5 decryption (RFC 8017 7.2.2) of a content-encryption key of `keyBytes`.
 * Node 20 refuses RSA_PKCS1_PADDING for private decryption (CVE-2023-46809), so this decrypts
 * raw and unpads here with implicit rejection: on bad padding or a wrong length it returns a
 * random key (RFC 3218 2.3.2), and the failure shows only later as undecryptable content.
 */
function rsaPkcs1v15DecryptKey(privateKey: KeyObject, encrypted: Buffer, keyBytes: number): Buffer {
  const k = ((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) + 7) >> 3;
  const fallback = randomBytes(keyBytes);
  if (encrypted.length !== k) return fallback;
  let em: Buffer;
  try {
    em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, encrypted);
  } catch {
    return fallback;
  }
  if (em.length !== k) return fallback;
  // Branch-free scan for the first zero octet after the 0x00 0x02 header.
  let good = (em[0] === 0 ? 1 : 0) & (em[1] === 2 ? 1 : 0);
  let zeroIndex = 0;
  let found = 0;
  for (let i = 2; i < k; i++) {
    const isZero = em[i] === 0 ? 1 : 0;
    const first = isZero & (found ^ 1);
    zeroIndex = first ? i : zeroIndex;
    found |= isZero;
  }
  good &= found & (zeroIndex >= 10 ? 1 : 0) & (k - zeroIndex - 1 === keyBytes ? 1 : 0);
  const key = em.subarray(k - keyBytes);
  const out = Buffer.alloc(keyBytes);
  for (let i = 0; i < keyBytes; i++) out[i] = good ? key[i] : fallback[i];
  em.fill(0);
  return out;
}

function decryptContent(spec: CipherSpec, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const nodeKey = spec.name === 'DES-CBC' ? Buffer.concat([key, key, key]) : key;
  try {
    const d = createDecipheriv(spec.node, nodeKey, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new ScepError('badMessageCheck', 'the enveloped content could not be decrypted with the RA key');
  } finally {
    nodeKey.fill(0);
  }
}

function decryptEnvelope(envelopeDer: Buffer, ra: ScepRa): { content: Buffer; cipher: ScepContentCipher } {
  const ci = new pkijs.ContentInfo({ schema: berOf(toArrayBuffer(envelopeDer), 'pkcsPKIEnvelope') });
  if (ci.contentType !== OID_ENVELOPED_DATA)
    throw new ScepError('badRequest', 'pkcsPKIEnvelope must be a CMS EnvelopedData');
  const env = new pkijs.EnvelopedData({ schema: ci.content });
  const raCert = certificateOf(ra.certificate, 'the RA certificate');
  const ktris = env.recipientInfos.filter((r) => r.variant === 1).map((r) => r.value as pkijs.KeyTransRecipientInfo);
  const mine = ktris.find((r) => matchesRid(raCert, r.rid));
  if (!mine) throw new ScepError('badMessageCheck', 'the message is not encrypted to this RA certificate');
  if (mine.keyEncryptionAlgorithm.algorithmId !== OID_RSA)
    throw new ScepError(
      'badAlg',
      `key transport ${mine.keyEncryptionAlgorithm.algorithmId} is not supported (RSA PKCS#1 v1.5 only)`,
    );
  const eci = env.encryptedContentInfo;
  const spec = CIPHERS.find((c) => c.oid === eci.contentEncryptionAlgorithm.algorithmId);
  if (!spec)
    throw new ScepError('badAlg', `content encryption ${eci.contentEncryptionAlgorithm.algorithmId} is not supported`);
  const ivParam = eci.contentEncryptionAlgorithm.algorithmParams as unknown;
  if (!(ivParam instanceof asn1js.OctetString)) throw new ScepError('badRequest', 'content encryption IV is missing');
  const iv = Buffer.from(ivParam.getValue());
  if (iv.length !== spec.ivBytes)
    throw new ScepError('badRequest', `content encryption IV must be ${spec.ivBytes} bytes`);
  const encrypted = contentBytes(eci.encryptedContent, 'encryptedContent');
  const cek = rsaPkcs1v15DecryptKey(keyObject(ra.privateKey), Buffer.from(mine.encryptedKey.getValue()), spec.keyBytes);
  try {
    return { content: decryptContent(spec, cek, iv, encrypted), cipher: spec.name };
  } finally {
    cek.fill(0);
  }
}

function serialHexOf(int: asn1js.Integer): string {
  const hex = Buffer.from(int.valueBlock.valueHexView)
    .toString('hex')
    .replace(/^(00)+/, '');
  return hex === '' ? '00' : hex;
}

function checkSigningTime(attrs: pkijs.Attribute[], opts: ParsePkiMessageOptions): Date | undefined {
  const v = attributeValue(attrs, OID_SIGNING_TIME);
  if (v === undefined) return undefined;
  if (!(v instanceof asn1js.UTCTime || v instanceof asn1js.GeneralizedTime))
    throw new ScepError('badRequest', 'signingTime must be a UTCTime or GeneralizedTime');
  const t = v.toDate();
  const now = (opts.now ?? new Date()).getTime();
  if (Number.isNaN(t.getTime()) || Math.abs(t.getTime() - now) > (opts.maxClockSkewMs ?? DEFAULT_SKEW_MS))
    throw new ScepError('badTime', 'signingTime is too far from the current time');
  return t;
}

/**
 * Parses an RFC 8894 PKIMessage: verifies the SignedData signature with the signer certificate
 * it carries, reads the SCEP signed attributes, decrypts the pkcsPKIEnvelope with the RA key,
 * and for PKCSReq/RenewalReq parses the PKCS#10 (signature checked, challengePassword read).
 * Whether the signer may ask (RenewalReq: a certificate we issued) is the caller's decision.
 * Every failure is a ScepError.
 */
export async function parsePkiMessage(
  der: Uint8Array,
  ra: ScepRa,
  opts: ParsePkiMessageOptions = {},
): Promise<ParsedPkiMessage> {
  try {
    return await parseUnchecked(der, ra, opts);
  } catch (e) {
    if (e instanceof ScepError) throw e;
    throw new ScepError('badRequest', 'the PKIMessage is malformed');
  }
}

async function parseUnchecked(der: Uint8Array, ra: ScepRa, opts: ParsePkiMessageOptions): Promise<ParsedPkiMessage> {
  if (!(der instanceof Uint8Array) || der.length === 0) throw new ScepError('badRequest', 'the PKIMessage is empty');
  if (der.length > (opts.maxBytes ?? DEFAULT_MAX_BYTES))
    throw new ScepError('badRequest', 'the PKIMessage is too large');
  const ci = new pkijs.ContentInfo({ schema: berOf(toArrayBuffer(der), 'the PKIMessage') });
  if (ci.contentType !== OID_SIGNED_DATA) throw new ScepError('badRequest', 'the PKIMessage must be a CMS SignedData');
  const sd = new pkijs.SignedData({ schema: ci.content });
  if (sd.signerInfos.length !== 1) throw new ScepError('badRequest', 'the PKIMessage must have exactly one signer');
  const si = sd.signerInfos[0];
  const certs = (sd.certificates ?? []).map(readCertificate).filter((c) => c !== undefined);
  const signer = certs.find((c) => matchesRid(c.parsed, si.sid));
  if (!signer) throw new ScepError('badCertId', 'the signer certificate is not in the PKIMessage');
  if (!si.signedAttrs) throw new ScepError('badRequest', 'the PKIMessage has no signed attributes');
  const attrs = si.signedAttrs.attributes;

  // Signature over the DER SET OF signed attributes (RFC 5652 5.4), as received.
  const digestName = HASH_BY_OID[si.digestAlgorithm.algorithmId];
  if (!digestName) throw new ScepError('badAlg', `digest algorithm ${si.digestAlgorithm.algorithmId} is not supported`);
  const sigOid = si.signatureAlgorithm.algorithmId;
  if (!(sigOid in SIG_HASH_BY_OID)) throw new ScepError('badAlg', `signature algorithm ${sigOid} is not supported`);
  const sigHash = SIG_HASH_BY_OID[sigOid] ?? digestName;
  const signedBytes = Buffer.from(si.signedAttrs.encodedValue);
  if (signedBytes.length === 0) throw new ScepError('badRequest', 'the signed attributes are empty');
  signedBytes[0] = 0x31;
  const signerKey = createPublicKey({
    key: Buffer.from(signer.parsed.subjectPublicKeyInfo.toSchema().toBER()),
    format: 'der',
    type: 'spki',
  });
  let ok: boolean;
  try {
    ok = nodeVerify(sigHash, signedBytes, signerKey, Buffer.from(si.signature.getValue()));
  } catch {
    ok = false;
  }
  if (!ok) throw new ScepError('badMessageCheck', 'the PKIMessage signature does not verify');

  const contentType = attributeValue(attrs, OID_CONTENT_TYPE);
  if (!(contentType instanceof asn1js.ObjectIdentifier) || contentType.valueBlock.toString() !== OID_DATA)
    throw new ScepError('badRequest', 'the contentType signed attribute must be id-data');
  if (sd.encapContentInfo.eContentType !== OID_DATA)
    throw new ScepError('badRequest', 'the signed content must be id-data');
  const content = contentBytes(sd.encapContentInfo.eContent, 'the signed content');
  const digest = octetAttr(attrs, OID_MESSAGE_DIGEST, 'messageDigest');
  if (!digest || !createHash(digestName).update(content).digest().equals(digest))
    throw new ScepError('badMessageCheck', 'messageDigest does not match the signed content');

  const typeCode = stringAttr(attrs, OID_MESSAGE_TYPE, 'messageType');
  if (typeCode === undefined) throw new ScepError('badRequest', 'messageType is missing');
  const messageType = REQUEST_TYPE_BY_CODE[typeCode];
  if (!messageType) throw new ScepError('badRequest', `messageType ${typeCode.slice(0, 8)} is not supported`);
  const transactionId = stringAttr(attrs, OID_TRANSACTION_ID, 'transactionID');
  if (!transactionId || transactionId.length > MAX_TRANSACTION_ID)
    throw new ScepError('badRequest', `transactionID is required (1-${MAX_TRANSACTION_ID} characters)`);
  const senderNonce = octetAttr(attrs, OID_SENDER_NONCE, 'senderNonce');
  if (!senderNonce || senderNonce.length < 8 || senderNonce.length > 64)
    throw new ScepError('badRequest', 'senderNonce is required (8-64 bytes)');
  const signingTime = checkSigningTime(attrs, opts);

  const { content: messageData, cipher } = decryptEnvelope(content, ra);
  const result: ParsedPkiMessage = {
    messageType,
    transactionId,
    senderNonce,
    signerCertificate: signer.der,
    digestAlgorithm: digestName,
    contentCipher: cipher,
    messageData,
    signingTime,
  };
  if (messageType === 'PKCSReq' || messageType === 'RenewalReq') {
    try {
      result.csr = await parseCsr(new Uint8Array(messageData), { allowSha1: true });
    } catch (e) {
      throw new ScepError(
        'badRequest',
        `the certificate request is invalid: ${e instanceof Error ? e.message : 'malformed'}`,
      );
    }
  } else {
    const seq = berOf(toArrayBuffer(messageData), 'messageData');
    if (!(seq instanceof asn1js.Sequence) || seq.valueBlock.value.length !== 2)
      throw new ScepError('badRequest', 'messageData must be a SEQUENCE of two elements');
    const [issuer, second] = seq.valueBlock.value;
    if (!(issuer instanceof asn1js.Sequence)) throw new ScepError('badRequest', 'messageData issuer must be a Name');
    result.issuerDer = new Uint8Array(issuer.toBER());
    if (messageType === 'GetCertInitial') {
      if (!(second instanceof asn1js.Sequence)) throw new ScepError('badRequest', 'messageData subject must be a Name');
      result.subjectDer = new Uint8Array(second.toBER());
    } else {
      if (!(second instanceof asn1js.Integer))
        throw new ScepError('badRequest', 'messageData serialNumber must be an INTEGER');
      result.serialHex = serialHexOf(second);
    }
  }
  return result;
}

export interface BuildCertRepParams {
  ra: ScepRa;
  /** DER certificate the content is encrypted to: the request's signer certificate. */
  recipientCert: Uint8Array;
  transactionId: string;
  /** The request's senderNonce. */
  recipientNonce: Uint8Array;
  status: ScepPkiStatus;
  /** Required when status is failure. */
  failInfo?: ScepFailInfo;
  /** Success of PKCSReq/RenewalReq/GetCertInitial/GetCert: the issued certificate first, then its chain. */
  issued?: { certDer: Uint8Array; chainDers?: readonly Uint8Array[] };
  /** Success of GetCRL: the CRL (DER), sent in a degenerate SignedData. */
  crlDer?: Uint8Array;
  /** Content encryption for the reply (default AES-256-CBC). */
  contentCipher?: 'AES-256-CBC' | 'AES-128-CBC' | 'DES-EDE3-CBC';
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/** RFC 5652 EnvelopedData (as a ContentInfo) to one RSA recipient, RSA PKCS#1 v1.5 key transport. */
export function envelopeTo(recipientCertDer: Uint8Array, content: Uint8Array, cipherName: ScepContentCipher): Buffer {
  const spec = CIPHERS.find((c) => c.name === cipherName);
  if (!spec || spec.name === 'DES-CBC') throw new ScepError('badAlg', `cannot encrypt with ${cipherName}`);
  const cert = certificateOf(recipientCertDer, 'the recipient certificate');
  const spki = Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER());
  const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  if (pub.asymmetricKeyType !== 'rsa') throw new ScepError('badAlg', 'the recipient certificate key must be RSA');
  const key = randomBytes(spec.keyBytes);
  const iv = randomBytes(spec.ivBytes);
  const c = createCipheriv(spec.node, key, iv);
  const encrypted = Buffer.concat([c.update(content), c.final()]);
  const encryptedKey = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, key);
  key.fill(0);
  const env = new pkijs.EnvelopedData({
    version: 0,
    recipientInfos: [
      new pkijs.RecipientInfo({
        variant: 1,
        value: new pkijs.KeyTransRecipientInfo({
          version: 0,
          rid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
          keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
            algorithmId: OID_RSA,
            algorithmParams: new asn1js.Null(),
          }),
          encryptedKey: new asn1js.OctetString({ valueHex: toArrayBuffer(encryptedKey) }),
        }),
      }),
    ],
    encryptedContentInfo: new pkijs.EncryptedContentInfo({
      contentType: OID_DATA,
      contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: spec.oid,
        algorithmParams: new asn1js.OctetString({ valueHex: toArrayBuffer(iv) }),
      }),
      encryptedContent: new asn1js.OctetString({ valueHex: toArrayBuffer(encrypted) }),
      // One primitive OCTET STRING (pkijs would split it into constructed 1 KiB pieces): DER.
      disableSplit: true,
    }),
  });
  const ci = new pkijs.ContentInfo({ contentType: OID_ENVELOPED_DATA, content: env.toSchema() });
  return Buffer.from(ci.toSchema().toBER());
}

export interface SignScepParams {
  signerCertDer: Uint8Array;
  signerKey: KeyObject | webcrypto.CryptoKey;
  /** SCEP attributes beyond contentType/messageDigest/signingTime. */
  attributes: pkijs.Attribute[];
  /** eContent (id-data, one primitive OCTET STRING); undefined for none at all. */
  content?: Uint8Array;
  /** Digest for the signature (default sha256). */
  digest?: 'sha1' | 'sha256';
}

const DIGEST_OIDS: Record<'sha1' | 'sha256', string> = { sha1: '1.3.14.3.2.26', sha256: OID_SHA256 };

/**
 * A SignedData (ContentInfo, DER) signed by an RSA key with signed attributes, encoded in DER
 * order (the SET OF sorted, as OpenSSL re-encodes it when verifying). Used for CertRep and,
 * in tests, to build client requests.
 */
export function signScepMessage(p: SignScepParams): Buffer {
  const digest = p.digest ?? 'sha256';
  const key = keyObject(p.signerKey);
  const content = Buffer.from(p.content ?? new Uint8Array(0));
  const cert = certificateOf(p.signerCertDer, 'the signer certificate');
  const attrs = [
    attribute(OID_CONTENT_TYPE, new asn1js.ObjectIdentifier({ value: OID_DATA })),
    attribute(OID_SIGNING_TIME, new asn1js.UTCTime({ valueDate: new Date() })),
    attribute(
      OID_MESSAGE_DIGEST,
      new asn1js.OctetString({ valueHex: toArrayBuffer(createHash(digest).update(content).digest()) }),
    ),
    ...p.attributes,
  ]
    .map((a) => ({ a, der: Buffer.from(a.toSchema().toBER()) }))
    .sort((x, y) => Buffer.compare(x.der, y.der));
  const setDer = Buffer.from(new asn1js.Set({ value: attrs.map((x) => x.a.toSchema()) }).toBER());
  const isRsa = key.asymmetricKeyType === 'rsa';
  const signature = nodeSign(digest, setDer, key);
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
    digestAlgorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: DIGEST_OIDS[digest],
      algorithmParams: new asn1js.Null(),
    }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: attrs.map((x) => x.a) }),
    signatureAlgorithm: new pkijs.AlgorithmIdentifier(
      isRsa
        ? { algorithmId: OID_RSA, algorithmParams: new asn1js.Null() }
        : { algorithmId: digest === 'sha1' ? '1.2.840.10045.4.1' : '1.2.840.10045.4.3.2' },
    ),
    signature: new asn1js.OctetString({ valueHex: toArrayBuffer(signature) }),
  });
  const sd = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [
      new pkijs.AlgorithmIdentifier({ algorithmId: DIGEST_OIDS[digest], algorithmParams: new asn1js.Null() }),
    ],
    encapContentInfo: encapsulatedData(p.content ? content : undefined),
    certificates: [cert],
    signerInfos: [signerInfo],
  });
  const ci = new pkijs.ContentInfo({ contentType: OID_SIGNED_DATA, content: sd.toSchema() });
  return Buffer.from(ci.toSchema().toBER());
}

/**
 * id-data content as DER: one primitive OCTET STRING, present even when empty. pkijs would
 * split it into a constructed string (BER) and drop an empty one; Go's pkcs7 (micromdm
 * scepclient) reads neither a CertRep without content nor an empty constructed string.
 */
class DataContent extends pkijs.EncapsulatedContentInfo {
  constructor(private readonly bytes: Uint8Array) {
    super({ eContentType: OID_DATA });
  }

  override toSchema(): asn1js.Sequence {
    return new asn1js.Sequence({
      value: [
        new asn1js.ObjectIdentifier({ value: OID_DATA }),
        new asn1js.Constructed({
          idBlock: { tagClass: 3, tagNumber: 0 },
          value: [new asn1js.OctetString({ valueHex: toArrayBuffer(this.bytes) })],
        }),
      ],
    });
  }
}

function encapsulatedData(content: Uint8Array | undefined): pkijs.EncapsulatedContentInfo {
  return content ? new DataContent(content) : new pkijs.EncapsulatedContentInfo({ eContentType: OID_DATA });
}

/** SCEP request/response signed attributes (RFC 8894 3.2.1), for callers building messages. */
export function scepAttributes(a: {
  messageType: number;
  transactionId: string;
  senderNonce: Uint8Array;
  recipientNonce?: Uint8Array;
  pkiStatus?: ScepPkiStatus;
  failInfo?: ScepFailInfo;
}): pkijs.Attribute[] {
  const out = [
    attribute(OID_MESSAGE_TYPE, new asn1js.PrintableString({ value: String(a.messageType) })),
    attribute(OID_TRANSACTION_ID, new asn1js.PrintableString({ value: a.transactionId })),
    attribute(OID_SENDER_NONCE, new asn1js.OctetString({ valueHex: toArrayBuffer(a.senderNonce) })),
  ];
  if (a.recipientNonce)
    out.push(attribute(OID_RECIPIENT_NONCE, new asn1js.OctetString({ valueHex: toArrayBuffer(a.recipientNonce) })));
  if (a.pkiStatus)
    out.push(attribute(OID_PKI_STATUS, new asn1js.PrintableString({ value: PKI_STATUS_CODES[a.pkiStatus] })));
  if (a.failInfo)
    out.push(attribute(OID_FAIL_INFO, new asn1js.PrintableString({ value: SCEP_FAIL_INFO_CODES[a.failInfo] })));
  return out;
}

/**
 * An RFC 8894 CertRep: SignedData by the RA (SHA-256), transactionID echoed, recipientNonce =
 * the request's senderNonce, a fresh senderNonce, pkiStatus and failInfo; on success the content
 * is an EnvelopedData to `recipientCert` holding a certs-only PKCS#7 with the issued certificate first.
 */
export function buildCertRep(p: BuildCertRepParams): Buffer {
  if (!p.transactionId || p.transactionId.length > MAX_TRANSACTION_ID)
    throw new ScepError('badRequest', 'transactionId is required');
  if (p.status === 'failure' && !p.failInfo) throw new ScepError('badRequest', 'failInfo is required for a failure');
  if (p.status === 'success' && !p.issued === !p.crlDer) {
    throw new ScepError('badRequest', 'success needs exactly one of issued and crlDer');
  }
  // PENDING and FAILURE carry empty id-data (as micromdm's server does), not an absent one.
  let content: Buffer = Buffer.alloc(0);
  if (p.status === 'success') {
    const inner = p.issued
      ? certsOnlyPkcs7([p.issued.certDer, ...(p.issued.chainDers ?? [])])
      : crlOnlyPkcs7(p.crlDer as Uint8Array);
    content = envelopeTo(p.recipientCert, inner, p.contentCipher ?? 'AES-256-CBC');
  }
  const ra = keyObject(p.ra.privateKey);
  if (ra.asymmetricKeyType !== 'rsa') throw new ScepError('badAlg', 'the RA key must be RSA');
  return signScepMessage({
    signerCertDer: p.ra.certificate,
    signerKey: ra,
    content,
    attributes: scepAttributes({
      messageType: SCEP_MESSAGE_TYPES.CertRep,
      transactionId: p.transactionId,
      senderNonce: randomBytes(16),
      recipientNonce: p.recipientNonce,
      pkiStatus: p.status,
      failInfo: p.status === 'failure' ? p.failInfo : undefined,
    }),
  });
}

/** Imports a PEM or DER RSA private key for ScepRa. */
export function scepRaKey(pemOrDer: string | Uint8Array): KeyObject {
  const key =
    typeof pemOrDer === 'string'
      ? createPrivateKey(pemOrDer)
      : createPrivateKey({ key: Buffer.from(pemOrDer), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'rsa') throw new ScepError('badAlg', 'the RA key must be RSA');
  return key;
}
