import { KeyObject, sign as nodeSign, webcrypto } from 'node:crypto';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { CryptoKey, PublicKeyInfo } from './keys';

/** How a CA key signs: the X.509 AlgorithmIdentifier and the matching WebCrypto parameters. */
export interface SignatureAlgorithm {
  /** Dotted OID of the signature algorithm (e.g. 1.2.840.10045.4.3.2, ecdsa-with-SHA256). */
  oid: string;
  name: string;
  /** For @peculiar/x509 and pkijs generators (`signingAlgorithm`). */
  webcrypto: webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;
  /** Node hash name, null for Ed25519. */
  hash: 'sha256' | 'sha384' | 'sha512' | null;
}

const ECDSA_BY_CURVE = {
  'P-256': { oid: '1.2.840.10045.4.3.2', name: 'ecdsa-with-SHA256', hash: 'sha256', webHash: 'SHA-256' },
  'P-384': { oid: '1.2.840.10045.4.3.3', name: 'ecdsa-with-SHA384', hash: 'sha384', webHash: 'SHA-384' },
  'P-521': { oid: '1.2.840.10045.4.3.4', name: 'ecdsa-with-SHA512', hash: 'sha512', webHash: 'SHA-512' },
} as const;

/**
 * The signature algorithm a key of this kind signs certificates, CRLs and OCSP responses
 * with: ECDSA with the curve's hash, RSA PKCS#1 v1.5 with SHA-256, pure Ed25519.
 */
export function signatureAlgorithmFor(key: PublicKeyInfo): SignatureAlgorithm {
  if (key.algorithm === 'ECDSA') {
    const a = ECDSA_BY_CURVE[key.curve ?? 'P-256'];
    return { oid: a.oid, name: a.name, hash: a.hash, webcrypto: { name: 'ECDSA', hash: a.webHash } };
  }
  if (key.algorithm === 'RSA') {
    return {
      oid: '1.2.840.113549.1.1.11',
      name: 'sha256WithRSAEncryption',
      hash: 'sha256',
      webcrypto: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    };
  }
  return { oid: '1.3.101.112', name: 'Ed25519', hash: null, webcrypto: { name: 'Ed25519' } };
}

/** The AlgorithmIdentifier: RSA carries an explicit NULL parameter, ECDSA and Ed25519 none (RFC 5758, 8410). */
export function algorithmIdentifier(alg: SignatureAlgorithm): AlgorithmIdentifier {
  return new AlgorithmIdentifier(
    alg.oid === '1.2.840.113549.1.1.11' ? { algorithm: alg.oid, parameters: null } : { algorithm: alg.oid },
  );
}

/**
 * A function that signs bytes with `key` and returns the signature as X.509 and CMS carry
 * it (ECDSA as a DER ECDSA-Sig-Value). Node's callback form runs on the libuv thread pool,
 * off the event loop, and is faster than WebCrypto on this machine (no P1363 -> DER step).
 */
export function makeSigner(
  key: CryptoKey | KeyObject,
  alg: SignatureAlgorithm,
): (data: Uint8Array) => Promise<Uint8Array> {
  const ko = key instanceof KeyObject ? key : KeyObject.from(key);
  const opts = { key: ko, dsaEncoding: 'der' as const };
  return (data) =>
    new Promise((resolve, reject) => {
      nodeSign(alg.hash, data, opts, (err, sig) => (err ? reject(err) : resolve(sig)));
    });
}
