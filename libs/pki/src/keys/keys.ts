import { KeyObject, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { invalid } from '@certctl/domain';
import { derToPem, toArrayBuffer } from './pem';

/** Key algorithms certctl generates (same names as the LocalCA issuer's `key_algorithm`). */
export const KEY_ALGORITHMS = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** Public key families, as profiles name them in `allowed_key_algorithms[].algorithm`. */
export type KeyType = 'ECDSA' | 'RSA' | 'Ed25519';
export type EcCurve = 'P-256' | 'P-384' | 'P-521';

/** What a public key is: `{algorithm: 'RSA', size: 2048}`, `{algorithm: 'ECDSA', size: 256, curve: 'P-256'}`. */
export interface PublicKeyInfo {
  algorithm: KeyType;
  /** RSA modulus bits; EC curve bits (256, 384, 521); 256 for Ed25519. */
  size: number;
  curve?: EcCurve;
}

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Largest RSA modulus accepted from outside: bigger keys only cost CPU (DoS). */
export const MAX_RSA_BITS = 16384;

const NODE_CURVES: Record<string, EcCurve> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const CURVE_BITS: Record<EcCurve, number> = { 'P-256': 256, 'P-384': 384, 'P-521': 521 };

/** "ECDSA P-256", "RSA 2048", "Ed25519": how errors and audit lines name a key. */
export function formatKeyInfo(k: PublicKeyInfo): string {
  if (k.algorithm === 'ECDSA') return `ECDSA ${k.curve ?? k.size}`;
  if (k.algorithm === 'RSA') return `RSA ${k.size}`;
  return 'Ed25519';
}

function generationParams(
  alg: KeyAlgorithm,
): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm {
  switch (alg) {
    case 'ECDSA-P256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ECDSA-P384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'RSA-2048':
    case 'RSA-3072':
    case 'RSA-4096':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: Number(alg.slice(4)),
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      };
    case 'Ed25519':
      return { name: 'Ed25519' };
  }
}

/** Parses a key algorithm name case-insensitively ("ecdsa-p256" -> "ECDSA-P256"). */
export function parseKeyAlgorithm(input: string, field = 'key_algorithm'): KeyAlgorithm {
  const found = KEY_ALGORITHMS.find((a) => a.toLowerCase() === input.trim().toLowerCase());
  if (!found) throw invalid(`${field}: "${input}" is not one of ${KEY_ALGORITHMS.join(', ')}`);
  return found;
}

/**
 * A new key pair. `extractable` (default true) lets the private key be exported as
 * PKCS#8; pass false for keys that must never leave the process.
 */
export async function generateKeyPair(alg: KeyAlgorithm, opts: { extractable?: boolean } = {}): Promise<CryptoKeyPair> {
  const params = generationParams(parseKeyAlgorithm(alg));
  return (await webcrypto.subtle.generateKey(params, opts.extractable ?? true, ['sign', 'verify'])) as CryptoKeyPair;
}

/**
 * PKCS#8 PEM of a private key. With `passphrase` the key is encrypted (PBES2: PBKDF2 with
 * HMAC-SHA256 + AES-256-CBC, "ENCRYPTED PRIVATE KEY"), e.g. for a CA key file at rest.
 */
export function exportPrivateKeyPem(key: CryptoKey | KeyObject, opts: { passphrase?: string } = {}): string {
  const ko = key instanceof KeyObject ? key : KeyObject.from(key);
  if (ko.type !== 'private') throw invalid('private_key: not a private key');
  if (opts.passphrase !== undefined) {
    if (opts.passphrase.length === 0) throw invalid('passphrase: must not be empty');
    return ko.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: opts.passphrase }).toString();
  }
  return derToPem(ko.export({ type: 'pkcs8', format: 'der' }), 'PRIVATE KEY');
}

/** SubjectPublicKeyInfo PEM ("PUBLIC KEY") of a public or private key. */
export function exportPublicKeyPem(key: CryptoKey | KeyObject): string {
  return derToPem(spkiDerOf(key), 'PUBLIC KEY');
}

/** SubjectPublicKeyInfo DER of a public key, or of the public half of a private key. */
export function spkiDerOf(key: CryptoKey | KeyObject): Uint8Array {
  const ko = key instanceof KeyObject ? key : KeyObject.from(key);
  const pub = ko.type === 'private' ? createPublicKey(ko) : ko;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/**
 * Algorithm and size of a public key (SPKI DER or PEM, CryptoKey, KeyObject). Keys of any
 * other kind (DSA, RSA-PSS-only, X25519, unnamed or other curves) are refused with a
 * Validation error naming `field`.
 */
export function describePublicKey(
  key: Uint8Array | string | CryptoKey | KeyObject,
  field = 'public_key',
): PublicKeyInfo {
  return describeKeyObject(toKeyObject(key, field), field);
}

function toKeyObject(key: Uint8Array | string | CryptoKey | KeyObject, field: string): KeyObject {
  if (key instanceof KeyObject) return key;
  try {
    if (typeof key === 'string') return createPublicKey(key);
    if (key instanceof Uint8Array) return createPublicKey({ key: Buffer.from(key), format: 'der', type: 'spki' });
    return KeyObject.from(key);
  } catch (e) {
    throw invalid(`${field}: not a readable public key (${(e as Error).message})`);
  }
}

/** Shared by CSR parsing and key import: the supported key kinds and their size. */
export function describeKeyObject(ko: KeyObject, field: string): PublicKeyInfo {
  const details = ko.asymmetricKeyDetails ?? {};
  const type = ko.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 512 || bits > MAX_RSA_BITS) throw invalid(`${field}: RSA modulus of ${bits} bits is out of range`);
    const e = details.publicExponent ?? 0n;
    if (e < 3n || e % 2n === 0n) throw invalid(`${field}: RSA public exponent ${e} is not an odd number >= 3`);
    return { algorithm: 'RSA', size: bits };
  }
  if (type === 'ec') {
    const curve = NODE_CURVES[details.namedCurve ?? ''];
    if (!curve)
      throw invalid(`${field}: EC curve ${details.namedCurve ?? '(unnamed)'} is not supported (P-256, P-384, P-521)`);
    return { algorithm: 'ECDSA', size: CURVE_BITS[curve], curve };
  }
  if (type === 'ed25519') return { algorithm: 'Ed25519', size: 256 };
  throw invalid(`${field}: ${type ?? 'unknown'} keys are not supported (ECDSA, RSA, Ed25519)`);
}

/** WebCrypto import parameters for a key of this kind (RSA keys sign with PKCS#1 v1.5). */
export function importParams(
  info: PublicKeyInfo,
): webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm {
  if (info.algorithm === 'ECDSA') return { name: 'ECDSA', namedCurve: info.curve ?? 'P-256' };
  if (info.algorithm === 'RSA') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return { name: 'Ed25519' };
}

/**
 * A private key PEM as a Node KeyObject: PKCS#8, encrypted PKCS#8 (with `passphrase`),
 * SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". Validation errors name `field` and
 * never echo key material.
 */
export function readPrivateKey(pem: string, opts: { passphrase?: string; field?: string } = {}): KeyObject {
  const field = opts.field ?? 'private_key';
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
  if (encrypted && opts.passphrase === undefined)
    throw invalid(`${field}: the key is encrypted; a passphrase is required`);
  let ko: KeyObject;
  try {
    // Node never prompts: without a passphrase an encrypted key fails (caught above).
    ko = createPrivateKey({ key: pem, format: 'pem', passphrase: opts.passphrase ?? '' });
  } catch {
    throw invalid(
      encrypted ? `${field}: cannot decrypt the key (wrong passphrase)` : `${field}: not a readable PEM private key`,
    );
  }
  if (ko.type !== 'private') throw invalid(`${field}: not a private key`);
  return ko;
}

export interface ImportedKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  info: PublicKeyInfo;
}

/**
 * Loads a private key PEM: PKCS#8 ("PRIVATE KEY"), encrypted PKCS#8 ("ENCRYPTED PRIVATE
 * KEY", needs `passphrase`), and the OpenSSL traditional forms "EC PRIVATE KEY" (SEC1) and
 * "RSA PRIVATE KEY" (PKCS#1) that ADCS and `openssl genrsa` exports use. Errors name
 * `field` and never echo key material.
 */
export async function importPrivateKeyPem(
  pem: string,
  opts: { passphrase?: string; field?: string; extractable?: boolean } = {},
): Promise<ImportedKey> {
  const field = opts.field ?? 'private_key';
  const ko = readPrivateKey(pem, { passphrase: opts.passphrase, field });
  const info = describeKeyObject(ko, field);
  if (info.algorithm === 'RSA' && info.size < 2048)
    throw invalid(`${field}: RSA ${info.size} is below the minimum 2048`);
  const params = importParams(info);
  const pkcs8 = new Uint8Array(ko.export({ type: 'pkcs8', format: 'der' }));
  try {
    const privateKey = await webcrypto.subtle.importKey(
      'pkcs8',
      toArrayBuffer(pkcs8),
      params,
      opts.extractable ?? true,
      ['sign'],
    );
    const spki = spkiDerOf(ko);
    const publicKey = await webcrypto.subtle.importKey('spki', toArrayBuffer(spki), params, true, ['verify']);
    return { privateKey, publicKey, info };
  } catch (e) {
    throw invalid(`${field}: key cannot be used for signing (${(e as Error).message})`);
  }
}

/** True when `privateKey` is the private half of the public key in `spkiDer` (compares key material). */
export function keyMatchesSpki(privateKey: CryptoKey | KeyObject, spkiDer: Uint8Array): boolean {
  const ko = privateKey instanceof KeyObject ? privateKey : KeyObject.from(privateKey);
  try {
    const pub = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
    return createPublicKey(ko).equals(pub);
  } catch {
    return false;
  }
}
