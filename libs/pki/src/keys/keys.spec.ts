import { KeyObject, createPrivateKey, verify } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import {
  describePublicKey,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  keyMatchesSpki,
  parseKeyAlgorithm,
  spkiDerOf,
  type KeyAlgorithm,
} from './keys';
import { derToPem, pemBlocks, pemToDers } from './pem';
import { algorithmIdentifier, makeSigner, signatureAlgorithmFor } from './signing';
import { OpensslDir } from './testing';

const validation = (message: RegExp | string) =>
  expect.objectContaining({ name: 'DomainError', code: ErrorCode.Validation, message: expect.stringMatching(message) });

describe('key generation and PKCS#8 export', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());

  it.each<[KeyAlgorithm, RegExp, object]>([
    ['ECDSA-P256', /ASN1 OID: prime256v1/, { algorithm: 'ECDSA', size: 256, curve: 'P-256' }],
    ['ECDSA-P384', /ASN1 OID: secp384r1/, { algorithm: 'ECDSA', size: 384, curve: 'P-384' }],
    ['RSA-2048', /Private-Key: \(2048 bit, 2 primes\)/, { algorithm: 'RSA', size: 2048 }],
    ['Ed25519', /ED25519 Private-Key/, { algorithm: 'Ed25519', size: 256 }],
  ])('%s: openssl reads the PKCS#8 PEM and the key is described', async (alg, text, info) => {
    const keys = await generateKeyPair(alg);
    const pem = exportPrivateKeyPem(keys.privateKey);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const file = ssl.write(`${alg}.key`, pem);
    expect(ssl.ok(['pkey', '-in', file, '-noout', '-text'])).toMatch(text);
    expect(describePublicKey(keys.publicKey)).toEqual(info);
    expect(describePublicKey(exportPublicKeyPem(keys.privateKey))).toEqual(info);
    const back = await importPrivateKeyPem(pem);
    expect(back.info).toEqual(info);
    expect(keyMatchesSpki(back.privateKey, spkiDerOf(keys.publicKey))).toBe(true);
  });

  it('makes RSA 3072 and 4096 keys of those sizes', async () => {
    for (const bits of [3072, 4096] as const) {
      const keys = await generateKeyPair(`RSA-${bits}`);
      expect(describePublicKey(keys.publicKey)).toEqual({ algorithm: 'RSA', size: bits });
    }
  }, 60_000);

  it('encrypts an exported key with a passphrase that openssl and import accept, and refuses a wrong one', async () => {
    const keys = await generateKeyPair('ECDSA-P256');
    const pem = exportPrivateKeyPem(keys.privateKey, { passphrase: 'correct horse' });
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const file = ssl.write('enc.key', pem);
    expect(ssl.ok(['pkcs8', '-in', file, '-passin', 'pass:correct horse', '-topk8', '-nocrypt'])).toMatch(
      /BEGIN PRIVATE KEY/,
    );
    expect(ssl.run(['pkcs8', '-in', file, '-passin', 'pass:wrong', '-topk8', '-nocrypt']).status).not.toBe(0);
    await expect(importPrivateKeyPem(pem, { passphrase: 'correct horse' })).resolves.toMatchObject({
      info: { algorithm: 'ECDSA' },
    });
    await expect(importPrivateKeyPem(pem, { passphrase: 'wrong', field: 'ca_key' })).rejects.toEqual(
      validation(/^ca_key: cannot decrypt the key/),
    );
    await expect(importPrivateKeyPem(pem)).rejects.toEqual(
      validation(/^private_key: the key is encrypted; a passphrase is required$/),
    );
  });

  it('imports OpenSSL traditional SEC1 and PKCS#1 keys', async () => {
    ssl.ok(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sec1.key']);
    expect(ssl.read('sec1.key').toString()).toMatch(/BEGIN EC PRIVATE KEY/);
    await expect(importPrivateKeyPem(ssl.read('sec1.key').toString())).resolves.toMatchObject({
      info: { algorithm: 'ECDSA', curve: 'P-256' },
    });
    ssl.ok(['genrsa', '-traditional', '-out', 'pkcs1.key', '2048']);
    expect(ssl.read('pkcs1.key').toString()).toMatch(/BEGIN RSA PRIVATE KEY/);
    await expect(importPrivateKeyPem(ssl.read('pkcs1.key').toString())).resolves.toMatchObject({
      info: { algorithm: 'RSA', size: 2048 },
    });
  });

  it('describes a P-521 key and refuses unsupported kinds and garbage with named validation errors', async () => {
    ssl.ok(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521', '-out', 'p521.key']);
    expect(describePublicKey(createPrivateKey(ssl.read('p521.key')))).toEqual({
      algorithm: 'ECDSA',
      size: 521,
      curve: 'P-521',
    });
    ssl.ok(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', 'k1.key']);
    await expect(importPrivateKeyPem(ssl.read('k1.key').toString())).rejects.toEqual(
      validation(/^private_key: EC curve secp256k1 is not supported/),
    );
    ssl.ok(['genpkey', '-algorithm', 'X25519', '-out', 'x.key']);
    await expect(importPrivateKeyPem(ssl.read('x.key').toString(), { field: 'k' })).rejects.toEqual(
      validation(/^k: x25519 keys are not supported/),
    );
    ssl.ok(['genrsa', '-out', 'small.key', '1024']);
    await expect(importPrivateKeyPem(ssl.read('small.key').toString())).rejects.toEqual(
      validation(/RSA 1024 is below the minimum 2048/),
    );
    await expect(importPrivateKeyPem('not a key')).rejects.toEqual(
      validation(/^private_key: not a readable PEM private key$/),
    );
    expect(() => describePublicKey(new Uint8Array([1, 2, 3]))).toThrow(DomainError);
    expect(() => parseKeyAlgorithm('DSA-1024')).toThrow(/key_algorithm: "DSA-1024" is not one of/);
    expect(parseKeyAlgorithm('ecdsa-p384')).toBe('ECDSA-P384');
  });

  it('tells a matching key from another one', async () => {
    const a = await generateKeyPair('ECDSA-P256');
    const b = await generateKeyPair('ECDSA-P256');
    expect(keyMatchesSpki(a.privateKey, spkiDerOf(a.publicKey))).toBe(true);
    expect(keyMatchesSpki(a.privateKey, spkiDerOf(b.publicKey))).toBe(false);
    expect(keyMatchesSpki(KeyObject.from(a.privateKey), new Uint8Array([0x30, 0]))).toBe(false);
  });
});

describe('signing', () => {
  it.each<[KeyAlgorithm, string]>([
    ['ECDSA-P256', '1.2.840.10045.4.3.2'],
    ['ECDSA-P384', '1.2.840.10045.4.3.3'],
    ['RSA-2048', '1.2.840.113549.1.1.11'],
    ['Ed25519', '1.3.101.112'],
  ])('%s signs with %s, verifiable with the public key', async (alg, oid) => {
    const keys = await generateKeyPair(alg);
    const sa = signatureAlgorithmFor(describePublicKey(keys.publicKey));
    expect(sa.oid).toBe(oid);
    const data = new TextEncoder().encode('to be signed');
    const sig = await makeSigner(keys.privateKey, sa)(data);
    // ECDSA comes back DER-encoded (the X.509 form), which Node's verify takes as is.
    expect(verify(sa.hash, data, KeyObject.from(keys.publicKey), sig)).toBe(true);
    const tampered = Uint8Array.from(data);
    tampered[0] ^= 1;
    expect(verify(sa.hash, tampered, KeyObject.from(keys.publicKey), sig)).toBe(false);
  });

  it('gives RSA an explicit NULL parameter and ECDSA none', async () => {
    const { AsnConvert } = await import('@peculiar/asn1-schema');
    const rsa = new Uint8Array(
      AsnConvert.serialize(algorithmIdentifier(signatureAlgorithmFor({ algorithm: 'RSA', size: 2048 }))),
    );
    expect(Buffer.from(rsa).toString('hex')).toBe('300d06092a864886f70d01010b0500');
    const ec = new Uint8Array(
      AsnConvert.serialize(
        algorithmIdentifier(signatureAlgorithmFor({ algorithm: 'ECDSA', size: 256, curve: 'P-256' })),
      ),
    );
    expect(Buffer.from(ec).toString('hex')).toBe('300a06082a8648ce3d040302');
  });
});

describe('PEM helpers', () => {
  it('round-trips DER through PEM and picks blocks by label', () => {
    const der = Uint8Array.from({ length: 100 }, (_, i) => i);
    const pem = derToPem(der, 'CERTIFICATE') + derToPem(der.slice(0, 10), 'X509 CRL');
    expect(pem.split('\n')[1]).toHaveLength(64);
    expect(pemBlocks(pem, 'f').map((b) => b.label)).toEqual(['CERTIFICATE', 'X509 CRL']);
    expect(Buffer.from(pemToDers(pem, ['CERTIFICATE'], 'f')[0]).equals(Buffer.from(der))).toBe(true);
    expect(() => pemToDers(pem, ['PRIVATE KEY'], 'cert')).toThrow(/^cert: no PEM block labelled PRIVATE KEY$/);
    expect(() => pemBlocks('-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END X-----', 'k')).toThrow(/headers/);
  });
});
