// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { KeyObject, createHash, createPublicKey, sign as nodeSign, verify as nodeVerify, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { invalid } from '@certctl/domain';
import { ensureCryptoProvider } from '../crypto-provider';
import { derTlvLength, exactArrayBuffer, isBytes } from './der';

/**
 * What signs a CRL or an OCSP response: a certificate and the private key that belongs to it.
 * Keep one object per key and reuse it: what is derived from it (parsed certificate,
 * algorithm, key check) is cached against the object, so treat it as immutable.
 */
export interface SigningIdentity {
  /** The signer's certificate, PEM or DER. */
  certificate: string | Uint8Array;
  /** Its private key with usage 'sign': ECDSA P-256/P-384/P-521, RSASSA-PKCS1-v1_5 (SHA-256+) or Ed25519. */
  privateKey: webcrypto.CryptoKey;
}

/** One X.509 certificate, PEM or DER. */
export type CertificateInput = string | Uint8Array;

/** What the CRL and OCSP code needs from a certificate, computed once per certificate. */
export interface CertificateInfo {
  /** The certificate exactly as given (DER). */
  readonly der: ArrayBuffer;
  readonly cert: x509.X509Certificate;
  /** The subject Name exactly as encoded in the certificate. */
  readonly subjectDer: Uint8Array;
  readonly issuerDer: Uint8Array;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: ArrayBuffer;
  /** Contents of the subjectPublicKey BIT STRING (what OCSP key hashes cover). */
  readonly publicKeyBits: Uint8Array;
  /** The certificate's subjectKeyIdentifier, or the SHA-1 of its public key (RFC 5280 4.2.1.2 (1)). */
  readonly keyIdentifier: Uint8Array;
  readonly sha1: { readonly nameHash: Buffer; readonly keyHash: Buffer };
  readonly sha256: { readonly nameHash: Buffer; readonly keyHash: Buffer };
}

const byBytes = new WeakMap<Uint8Array, CertificateInfo>();
const byPem = new Map<string, CertificateInfo>();
const PEM_CACHE_SIZE = 256;

/** Parses (once per input) a certificate; a validation error naming `field` when it is not one. */
export function loadCertificate(input: CertificateInput, field: string): CertificateInfo {
  if (typeof input === 'string') {
    const hit = byPem.get(input);
    if (hit) {
      byPem.delete(input); // LRU: re-insert as newest
      byPem.set(input, hit);
      return hit;
    }
    let der: ArrayBuffer;
    try {
      der = x509.PemConverter.decodeFirst(input);
    } catch {
      throw invalid(`${field} is not a PEM certificate`);
    }
    const info = parseCertificate(new Uint8Array(der), field);
    byPem.set(input, info);
    if (byPem.size > PEM_CACHE_SIZE) byPem.delete(byPem.keys().next().value as string);
    return info;
  }
  if (!isBytes(input)) throw invalid(`${field} must be a PEM string or DER bytes`);
  const hit = byBytes.get(input);
  if (hit) return hit;
  const info = parseCertificate(input, field);
  byBytes.set(input, info);
  return info;
}

function parseCertificate(bytes: Uint8Array, field: string): CertificateInfo {
  ensureCryptoProvider();
  const der = exactArrayBuffer(new Uint8Array(bytes)); // private copy: later changes to the input cannot reach the cache
  const view = new Uint8Array(der);
  if (derTlvLength(view) !== view.length) throw invalid(`${field} is not a DER X.509 certificate`);
  let parsed: pkijs.Certificate;
  let cert: x509.X509Certificate;
  try {
    const asn = asn1js.fromBER(view);
    if (asn.offset === -1) throw new Error(asn.result.error);
    parsed = new pkijs.Certificate({ schema: asn.result });
    cert = new x509.X509Certificate(der);
  } catch {
    throw invalid(`${field} is not a DER X.509 certificate`);
  }
  const subjectDer = new Uint8Array(parsed.subject.valueBeforeDecode);
  const issuerDer = new Uint8Array(parsed.issuer.valueBeforeDecode);
  const publicKeyBits = parsed.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView.slice();
  const spki = cert.publicKey.rawData;
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyIdentifier = ski
    ? new Uint8Array(Buffer.from(ski.keyId, 'hex'))
    : new Uint8Array(createHash('sha1').update(publicKeyBits).digest());
  const digest = (alg: string, data: Uint8Array): Buffer => createHash(alg).update(data).digest();
  return {
    der,
    cert,
    subjectDer,
    issuerDer,
    spki,
    publicKeyBits,
    keyIdentifier,
    sha1: { nameHash: digest('sha1', subjectDer), keyHash: digest('sha1', publicKeyBits) },
    sha256: { nameHash: digest('sha256', subjectDer), keyHash: digest('sha256', publicKeyBits) },
  };
}

/** True when the two certificates have the same subject (as encoded) and the same public key. */
export function sameSubjectAndKey(a: CertificateInfo, b: CertificateInfo): boolean {
  return Buffer.from(a.subjectDer).equals(b.subjectDer) && Buffer.from(a.publicKeyBits).equals(b.publicKeyBits);
}

/** A loaded signing identity: certificate, signature algorithm, and a function that signs. */
export interface Signer {
  readonly cert: CertificateInfo;
  /** signatureAlgorithm of what this signer produces. */
  readonly algorithm: AlgorithmIdentifier;
  readonly algorithmDer: ArrayBuffer;
  /** The same algorithm as WebCrypto sign() parameters (for @peculiar/x509 generators). */
  readonly webcryptoAlgorithm: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams;
  readonly privateKey: webcrypto.CryptoKey;
  /** Signs `data` and returns the signature as X.509 carries it (ECDSA: DER Ecdsa-Sig-Value). */
  sign(data: ArrayBuffer): Promise<ArrayBuffer>;
}

interface Scheme {
  oid: string;
  /** RSA signature AlgorithmIdentifiers carry NULL parameters; ECDSA and EdDSA omit them. */
  nullParameters: boolean;
  signParams: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams;
  /** node:crypto digest name (null for Ed25519, which hashes internally). */
  digest: string | null;
  /** Cheap enough (tens of microseconds) to sign on the event loop rather than the threadpool. */
  inline: boolean;
}

const ECDSA_HASH: Record<string, [string, string]> = {
  'P-256': ['SHA-256', '1.2.840.10045.4.3.2'],
  'P-384': ['SHA-384', '1.2.840.10045.4.3.3'],
  'P-521': ['SHA-512', '1.2.840.10045.4.3.4'],
};
const RSA_PKCS1_OID: Record<string, string> = {
  'SHA-256': '1.2.840.113549.1.1.11',
  'SHA-384': '1.2.840.113549.1.1.12',
  'SHA-512': '1.2.840.113549.1.1.13',
};
const nodeDigest = (webcryptoHash: string): string => webcryptoHash.replace('-', '').toLowerCase();

function schemeOf(key: webcrypto.CryptoKey, field: string): Scheme {
  const alg = key.algorithm as webcrypto.KeyAlgorithm & { namedCurve?: string; hash?: { name: string } };
  switch (alg.name) {
    case 'ECDSA': {
      const curve = alg.namedCurve ?? '';
      const entry = Object.hasOwn(ECDSA_HASH, curve) ? ECDSA_HASH[curve] : undefined;
      if (!entry) throw invalid(`${field}: ECDSA curve ${curve} is not supported (P-256, P-384, P-521)`);
      return {
        oid: entry[1],
        nullParameters: false,
        signParams: { name: 'ECDSA', hash: entry[0] },
        digest: nodeDigest(entry[0]),
        inline: curve === 'P-256',
      };
    }
    case 'RSASSA-PKCS1-v1_5': {
      const hash = alg.hash?.name ?? '';
      const oid = Object.hasOwn(RSA_PKCS1_OID, hash) ? RSA_PKCS1_OID[hash] : undefined;
      if (!oid) throw invalid(`${field}: RSA key hash ${hash} is not supported (SHA-256, SHA-384, SHA-512)`);
      return {
        oid,
        nullParameters: true,
        signParams: { name: 'RSASSA-PKCS1-v1_5' },
        digest: nodeDigest(hash),
        inline: false,
      };
    }
    case 'Ed25519':
      return { oid: '1.3.101.112', nullParameters: false, signParams: { name: 'Ed25519' }, digest: null, inline: true };
    default:
      throw invalid(`${field}: key algorithm ${alg.name} is not supported (ECDSA, RSASSA-PKCS1-v1_5, Ed25519)`);
  }
}

const signers = new WeakMap<SigningIdentity, Promise<Signer>>();
const CHECK_MESSAGE = new TextEncoder().encode('certctl signing identity check');

/**
 * Loads (once per identity object) what signing needs, and checks that the private key
 * belongs to the certificate: a mismatch would otherwise yield CRLs and OCSP responses that
 * no client can verify, silently.
 */
export function loadSigner(identity: SigningIdentity, field: string): Promise<Signer> {
  if (!identity || typeof identity !== 'object') return Promise.reject(invalid(`${field} is required`));
  let pending = signers.get(identity);
  if (!pending) {
    pending = createSigner(identity, field);
    signers.set(identity, pending);
    pending.catch(() => signers.delete(identity));
  }
  return pending;
}

async function createSigner(identity: SigningIdentity, field: string): Promise<Signer> {
  const cert = loadCertificate(identity.certificate, `${field}.certificate`);
  const key = identity.privateKey;
  // Duck-typed: Node 20 does not expose the CryptoKey class on node:crypto.
  const k = key as Partial<webcrypto.CryptoKey> | undefined;
  if (!k || typeof k !== 'object' || k.type !== 'private' || !Array.isArray(k.usages) || !k.usages.includes('sign')) {
    throw invalid(`${field}.privateKey must be a private CryptoKey with usage 'sign'`);
  }
  const scheme = schemeOf(key, `${field}.privateKey`);
  const algorithm = new AlgorithmIdentifier({ algorithm: scheme.oid });
  if (scheme.nullParameters) algorithm.parameters = null;
  // node:crypto rather than WebCrypto: it returns the DER Ecdsa-Sig-Value X.509 wants (no
  // P1363 conversion through an ASN.1 encoder), and a P-256 or Ed25519 signature (~25 us) is
  // cheaper inline than a threadpool round trip. RSA and larger curves go to the threadpool.
  const keyObject = KeyObject.from(key);
  const signOptions = { key: keyObject, dsaEncoding: 'der' as const };
  const sign = scheme.inline
    ? async (data: ArrayBuffer): Promise<ArrayBuffer> =>
        exactArrayBuffer(nodeSign(scheme.digest, new Uint8Array(data), signOptions))
    : (data: ArrayBuffer): Promise<ArrayBuffer> =>
        new Promise((resolve, reject) =>
          nodeSign(scheme.digest, new Uint8Array(data), signOptions, (err, signature) =>
            err ? reject(err) : resolve(exactArrayBuffer(signature)),
          ),
        );

  let matches: boolean;
  try {
    const probe = await sign(exactArrayBuffer(CHECK_MESSAGE));
    const publicKey = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
    matches = nodeVerify(scheme.digest, CHECK_MESSAGE, { key: publicKey, dsaEncoding: 'der' }, new Uint8Array(probe));
  } catch {
    matches = false; // a key of another type than the certificate's
  }
  if (!matches) throw invalid(`${field}.privateKey does not match ${field}.certificate`);
  return {
    cert,
    algorithm,
    algorithmDer: AsnConvert.serialize(algorithm),
    webcryptoAlgorithm: scheme.signParams,
    privateKey: key,
    sign,
  };
}
