// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { KeyObject, constants, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AsnConvert, type IAsnParseOptions } from '@peculiar/asn1-schema';
import * as A from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { DomainError, invalid } from '@certctl/domain';
import { describeKeyObject, type PublicKeyInfo } from '../keys/keys';
import { pemBlocks } from '../keys/pem';
import { ekuName } from './eku';
import { normalizeSans, type SubjectAltNames } from './san';
import { TLS_FEATURE_STATUS_REQUEST, TlsFeatures, id_pe_tlsfeature } from './tls-feature';

export interface CsrExtension {
  oid: string;
  critical: boolean;
  /** DER of the extension value (the content of extnValue). */
  value: Uint8Array;
}

/** A PKCS#10 request whose signature verified (proof of possession of the private key). */
export interface ParsedCsr {
  der: Uint8Array;
  /** Subject DN as text (RFC 4514 style, e.g. "CN=api.example.com, O=Example"). */
  subject: string;
  /** DER of the subject Name, as requested. */
  subjectDer: Uint8Array;
  commonName?: string;
  /** Normalized SANs (lower-cased DNS names, canonical IPs). */
  sans: SubjectAltNames;
  /** SAN forms certctl does not issue (otherName, directoryName, registeredID, ...). */
  unsupportedSans: string[];
  publicKey: PublicKeyInfo;
  /** DER SubjectPublicKeyInfo: what the certificate will carry. */
  spkiDer: Uint8Array;
  /** Signature algorithm name, e.g. "ecdsa-with-SHA256". */
  signatureAlgorithm: string;
  /** EKUs asked for in the extensionRequest (profile names where known, else OIDs). */
  requestedEkus: string[];
  /** The request carries a TLS Feature extension with status_request (RFC 7633). */
  mustStapleRequested: boolean;
  /** Every extension in the extensionRequest attribute, in order. */
  extensions: CsrExtension[];
  /** challengePassword attribute (SCEP, RFC 8894 3.2), when present. */
  challengePassword?: string;
}

export interface ParseCsrOptions {
  /** Largest accepted DER size (default 64 KiB). */
  maxBytes?: number;
  /** Accept SHA-1 signatures (old SCEP clients). Proof of possession only; default false. */
  allowSha1?: boolean;
}

/** The parsed SubjectPublicKeyInfo of each ParsedCsr, so issuance does not parse it again. */
const spkiByCsr = new WeakMap<ParsedCsr, A.SubjectPublicKeyInfo>();

/** @internal The request's SubjectPublicKeyInfo as parseCsr decoded it (undefined for copies). */
export function csrSpki(csr: ParsedCsr): A.SubjectPublicKeyInfo | undefined {
  return spkiByCsr.get(csr);
}

const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];
const DEFAULT_MAX_BYTES = 64 * 1024;
const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}\s*$/;
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const OID_CN = '2.5.4.3';
const OID_MGF1 = '1.2.840.113549.1.1.8';

type Hash = 'sha1' | 'sha256' | 'sha384' | 'sha512';
const HASH_BY_OID: Record<string, Hash> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

interface SigSpec {
  name: string;
  keyType: PublicKeyInfo['algorithm'];
  hash: Hash | null;
}
const SIG_BY_OID: Record<string, SigSpec> = {
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', keyType: 'RSA', hash: 'sha1' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', keyType: 'RSA', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', keyType: 'RSA', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', keyType: 'RSA', hash: 'sha512' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', keyType: 'ECDSA', hash: 'sha1' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', keyType: 'ECDSA', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', keyType: 'ECDSA', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', keyType: 'ECDSA', hash: 'sha512' },
  '1.3.101.112': { name: 'Ed25519', keyType: 'Ed25519', hash: null },
};
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';

/**
 * Parses a PKCS#10 request (PEM, bare base64 as EST sends it, or DER bytes), verifies its
 * signature with the key it carries, and extracts subject, SANs, key, requested
 * extensions and challengePassword. Anything malformed, unsupported or not verifying
 * throws DomainError(Validation) with a message naming the part (`csr.signature: ...`);
 * no other error type escapes for any input.
 */
export async function parseCsr(input: string | Uint8Array, opts: ParseCsrOptions = {}): Promise<ParsedCsr> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const der = csrDer(input, maxBytes);
  const berOptions: IAsnParseOptions = { berOptions: { maxDepth: 32, maxNodes: 4096, maxContentLength: maxBytes } };

  let req: CertificationRequest;
  try {
    req = AsnConvert.parse(der, CertificationRequest, berOptions);
  } catch {
    throw invalid('csr: not a DER PKCS#10 certification request');
  }
  const info = req.certificationRequestInfo;
  const tbs = req.certificationRequestInfoRaw;
  if (info.version !== 0) throw invalid(`csr: version ${info.version} is not v1 (0)`);
  if (!tbs || tbs.byteLength === 0) throw invalid('csr: certificationRequestInfo is missing');

  const { key, spkiDer, publicKey } = readPublicKey(info.subjectPKInfo);
  const sig = signatureSpec(req.signatureAlgorithm, publicKey, opts.allowSha1 ?? false);
  if (!(await verifySignature(sig, new Uint8Array(tbs), key, new Uint8Array(req.signature)))) {
    throw invalid('csr.signature: the signature does not verify with the request key (proof of possession failed)');
  }

  const { subject, subjectDer, commonName } = readSubject(info.subject);
  const parsed: ParsedCsr = {
    der,
    subject,
    subjectDer,
    commonName,
    sans: { dns: [], ip: [], email: [], uri: [] },
    unsupportedSans: [],
    publicKey,
    spkiDer,
    signatureAlgorithm: sig.name,
    requestedEkus: [],
    mustStapleRequested: false,
    extensions: [],
  };
  readAttributes(info.attributes, parsed, berOptions);
  spkiByCsr.set(parsed, info.subjectPKInfo);
  return parsed;
}

function csrDer(input: string | Uint8Array, maxBytes: number): Uint8Array {
  let der: Uint8Array;
  if (typeof input === 'string') {
    if (input.length > maxBytes * 2) throw invalid(`csr: larger than ${maxBytes} bytes`);
    if (input.includes('-----BEGIN')) {
      const blocks = pemBlocks(input, 'csr').filter((b) => CSR_LABELS.includes(b.label));
      if (blocks.length !== 1) throw invalid('csr: expected exactly one PEM block labelled CERTIFICATE REQUEST');
      der = blocks[0].der;
    } else {
      if (!BASE64.test(input)) throw invalid('csr: neither PEM nor base64-encoded DER');
      der = new Uint8Array(Buffer.from(input.replace(/\s+/g, ''), 'base64'));
    }
  } else if (input instanceof Uint8Array) {
    der = input;
  } else {
    throw invalid('csr: must be PEM text or DER bytes');
  }
  if (der.length === 0) throw invalid('csr: empty');
  if (der.length > maxBytes) throw invalid(`csr: larger than ${maxBytes} bytes`);
  return der;
}

function readPublicKey(spki: A.SubjectPublicKeyInfo): {
  key: KeyObject;
  spkiDer: Uint8Array;
  publicKey: PublicKeyInfo;
} {
  let spkiDer: Uint8Array;
  let key: KeyObject;
  try {
    spkiDer = new Uint8Array(AsnConvert.serialize(spki));
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch {
    throw invalid('csr.public_key: not a readable SubjectPublicKeyInfo');
  }
  return { key, spkiDer, publicKey: describeKeyObject(key, 'csr.public_key') };
}

interface VerifySpec {
  name: string;
  hash: Hash | null;
  pss?: { saltLength: number };
}

function signatureSpec(alg: A.AlgorithmIdentifier, key: PublicKeyInfo, allowSha1: boolean): VerifySpec {
  let spec: VerifySpec & { keyType: PublicKeyInfo['algorithm'] };
  if (alg.algorithm === OID_RSASSA_PSS) {
    spec = { ...pssSpec(alg), keyType: 'RSA' };
  } else {
    const known = SIG_BY_OID[alg.algorithm];
    if (!known) throw invalid(`csr.signature: algorithm ${alg.algorithm} is not supported`);
    spec = known;
  }
  if (spec.keyType !== key.algorithm) {
    throw invalid(`csr.signature: ${spec.name} does not match the ${key.algorithm} request key`);
  }
  if (spec.hash === 'sha1' && !allowSha1) throw invalid(`csr.signature: ${spec.name} (SHA-1) is not accepted`);
  return spec;
}

function pssSpec(alg: A.AlgorithmIdentifier): VerifySpec {
  let params: RsaSaPssParams;
  try {
    params = alg.parameters ? AsnConvert.parse(alg.parameters, RsaSaPssParams) : new RsaSaPssParams();
  } catch {
    throw invalid('csr.signature: malformed RSASSA-PSS parameters');
  }
  const hash = HASH_BY_OID[params.hashAlgorithm.algorithm];
  let mgfHash: string | undefined;
  try {
    const mgf = params.maskGenAlgorithm;
    if (mgf.algorithm === OID_MGF1 && mgf.parameters) {
      mgfHash = AsnConvert.parse(mgf.parameters, A.AlgorithmIdentifier).algorithm;
    }
  } catch {
    mgfHash = undefined;
  }
  if (!hash || mgfHash === undefined || HASH_BY_OID[mgfHash] !== hash || params.trailerField !== 1) {
    throw invalid('csr.signature: RSASSA-PSS parameters are not supported (MGF1 with the same SHA hash required)');
  }
  if (params.saltLength < 0 || params.saltLength > 512)
    throw invalid('csr.signature: RSASSA-PSS salt length out of range');
  return { name: `RSASSA-PSS-${hash.toUpperCase()}`, hash, pss: { saltLength: params.saltLength } };
}

/** Node's verify on the thread pool; ECDSA signatures stay in their DER form. */
function verifySignature(spec: VerifySpec, data: Uint8Array, key: KeyObject, signature: Uint8Array): Promise<boolean> {
  const keyOpts = spec.pss
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss.saltLength }
    : { key, dsaEncoding: 'der' as const };
  return new Promise((resolve) => {
    try {
      nodeVerify(spec.hash, data, keyOpts, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false); // malformed signature encodings are just signatures that do not verify
    }
  });
}

function readSubject(name: A.Name): { subject: string; subjectDer: Uint8Array; commonName?: string } {
  let subjectDer: Uint8Array;
  let subject: string;
  const cns: string[] = [];
  try {
    subjectDer = new Uint8Array(AsnConvert.serialize(name));
    subject = new x509.Name(subjectDer).toString();
    for (const rdn of name) for (const atv of rdn) if (atv.type === OID_CN) cns.push(atv.value.toString());
  } catch {
    throw invalid('csr.subject: not a readable distinguished name');
  }
  if (cns.length > 1) throw invalid('csr.subject: more than one CN');
  const cn = cns[0];
  if (cn !== undefined && (cn.length === 0 || cn.length > 64)) throw invalid('csr.subject: CN must be 1-64 characters');
  return { subject, subjectDer, commonName: cn };
}

function readAttributes(attributes: A.Attribute[], out: ParsedCsr, berOptions: IAsnParseOptions): void {
  let sawExtensions = false;
  for (const attr of attributes) {
    if (attr.type === OID_EXTENSION_REQUEST) {
      if (sawExtensions || attr.values.length !== 1)
        throw invalid('csr.extensions: expected one extensionRequest attribute value');
      sawExtensions = true;
      readExtensions(attr.values[0], out, berOptions);
    } else if (attr.type === OID_CHALLENGE_PASSWORD) {
      if (out.challengePassword !== undefined || attr.values.length !== 1) {
        throw invalid('csr.challenge_password: expected one challengePassword value');
      }
      try {
        out.challengePassword = AsnConvert.parse(attr.values[0], A.DirectoryString, berOptions).toString();
      } catch {
        throw invalid('csr.challenge_password: not a DirectoryString');
      }
      // Beyond PKCS#9's 255: Intune dynamic challenges are signed tokens of several hundred
      // to a few thousand characters, and NDES-style clients send them here unchanged.
      if (out.challengePassword.length > 8192) throw invalid('csr.challenge_password: longer than 8192 characters');
    }
  }
}

function readExtensions(value: ArrayBuffer, out: ParsedCsr, berOptions: IAsnParseOptions): void {
  let exts: A.Extensions;
  try {
    exts = AsnConvert.parse(value, A.Extensions, berOptions);
  } catch {
    throw invalid('csr.extensions: malformed extensionRequest');
  }
  const seen = new Set<string>();
  for (const ext of exts) {
    if (seen.has(ext.extnID)) throw invalid(`csr.extensions: duplicate extension ${ext.extnID}`);
    seen.add(ext.extnID);
    const raw = new Uint8Array(ext.extnValue.buffer);
    out.extensions.push({ oid: ext.extnID, critical: ext.critical, value: raw });
    try {
      if (ext.extnID === A.id_ce_subjectAltName) {
        readSans(AsnConvert.parse(raw, A.SubjectAlternativeName, berOptions), out);
      } else if (ext.extnID === A.id_ce_extKeyUsage) {
        out.requestedEkus = AsnConvert.parse(raw, A.ExtendedKeyUsage, berOptions).map((oid) => ekuName(oid));
      } else if (ext.extnID === id_pe_tlsfeature) {
        out.mustStapleRequested = AsnConvert.parse(raw, TlsFeatures, berOptions).includes(TLS_FEATURE_STATUS_REQUEST);
      }
    } catch (e) {
      if (e instanceof DomainError) throw e;
      throw invalid(`csr.extensions: malformed extension ${ext.extnID}`);
    }
  }
}

function readSans(names: A.GeneralName[], out: ParsedCsr): void {
  const raw: SubjectAltNames = { dns: [], ip: [], email: [], uri: [] };
  for (const gn of names) {
    if (gn.dNSName !== undefined) raw.dns.push(gn.dNSName);
    else if (gn.iPAddress !== undefined) raw.ip.push(gn.iPAddress);
    else if (gn.rfc822Name !== undefined) raw.email.push(gn.rfc822Name);
    else if (gn.uniformResourceIdentifier !== undefined) raw.uri.push(gn.uniformResourceIdentifier);
    else if (gn.otherName) out.unsupportedSans.push(`otherName ${gn.otherName.typeId}`);
    else if (gn.directoryName) out.unsupportedSans.push('directoryName');
    else if (gn.registeredID) out.unsupportedSans.push(`registeredID ${gn.registeredID}`);
    else out.unsupportedSans.push('x400Address/ediPartyName');
  }
  out.sans = normalizeSans(raw, 'csr.san');
}
