// Test-only helpers (imported by *.spec.ts and the OCSP bench, never by library code): CA and
// leaf certificates made directly with @peculiar/x509, and a runner for the real openssl CLI.
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { ensureCryptoProvider, randomSerialHex } from '../crypto-provider';
import type { SigningIdentity } from './signing';

export type FixtureKeyAlg = 'P-256' | 'P-384' | 'RSA-2048' | 'Ed25519';

const KEYGEN: Record<FixtureKeyAlg, webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | { name: string }> = {
  'P-256': { name: 'ECDSA', namedCurve: 'P-256' },
  'P-384': { name: 'ECDSA', namedCurve: 'P-384' },
  'RSA-2048': {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
  Ed25519: { name: 'Ed25519' },
};
const SIGN: Record<FixtureKeyAlg, webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams> = {
  'P-256': { name: 'ECDSA', hash: 'SHA-256' },
  'P-384': { name: 'ECDSA', hash: 'SHA-384' },
  'RSA-2048': { name: 'RSASSA-PKCS1-v1_5' },
  Ed25519: { name: 'Ed25519' },
};

export interface FixtureCa {
  identity: SigningIdentity;
  cert: x509.X509Certificate;
  certPem: string;
  certDer: Uint8Array;
  keys: webcrypto.CryptoKeyPair;
  alg: FixtureKeyAlg;
}

export interface FixtureLeaf {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  certPem: string;
  certDer: Uint8Array;
  serialHex: string;
}

async function keyPair(alg: FixtureKeyAlg): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEYGEN[alg] as webcrypto.EcKeyGenParams, true, ['sign', 'verify']);
}

function pemOf(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}

/** A self-signed root, or (with `parent`) an intermediate CA signed by `parent`. */
export async function makeCa(
  opts: {
    alg?: FixtureKeyAlg;
    name?: string | x509.JsonName;
    parent?: FixtureCa;
    notBefore?: Date;
    notAfter?: Date;
    keyUsage?: x509.KeyUsageFlags;
    withSki?: boolean;
  } = {},
): Promise<FixtureCa> {
  ensureCryptoProvider();
  const alg = opts.alg ?? 'P-256';
  const keys = await keyPair(alg);
  const notBefore = opts.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = opts.notAfter ?? new Date(Date.now() + 365 * 86_400_000);
  const name = opts.name ?? `CN=certctl test ${opts.parent ? 'intermediate' : 'root'} ${alg}, O=certctl`;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(opts.keyUsage ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  if (opts.withSki !== false) extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  let cert: x509.X509Certificate;
  if (opts.parent) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(opts.parent.cert));
    cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: name,
      issuer: opts.parent.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: opts.parent.keys.privateKey,
      signingAlgorithm: SIGN[opts.parent.alg],
      extensions,
    });
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerialHex(),
      name,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: SIGN[alg],
      extensions,
    });
  }
  const certDer = new Uint8Array(cert.rawData);
  return {
    identity: { certificate: pemOf(cert), privateKey: keys.privateKey },
    cert,
    certPem: pemOf(cert),
    certDer,
    keys,
    alg,
  };
}

/** A TLS server leaf signed by `ca` (P-256 key). */
export async function makeLeaf(
  ca: FixtureCa,
  opts: { serialHex?: string; cn?: string; notAfter?: Date } = {},
): Promise<FixtureLeaf> {
  ensureCryptoProvider();
  const keys = await keyPair('P-256');
  const serialHex = opts.serialHex ?? randomSerialHex();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: `CN=${opts.cn ?? 'leaf.test'}`,
    issuer: ca.cert.subjectName,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGN[ca.alg],
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: opts.cn ?? 'leaf.test' }]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert, keys, certPem: pemOf(cert), certDer: new Uint8Array(cert.rawData), serialHex };
}

/** A private temp directory; `files` are written into it. */
export function tempDir(files: Record<string, string | Uint8Array> = {}): {
  dir: string;
  path: (name: string) => string;
  write: (name: string, data: string | Uint8Array) => string;
  remove: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-pki-'));
  const path = (name: string): string => join(dir, name);
  const write = (name: string, data: string | Uint8Array): string => {
    writeFileSync(path(name), data);
    return path(name);
  };
  for (const [name, data] of Object.entries(files)) write(name, data);
  return { dir, path, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the openssl CLI; returns its exit status and both outputs (never throws on failure). */
export function openssl(args: string[]): { status: number; stdout: string; stderr: string; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}
