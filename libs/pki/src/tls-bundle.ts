// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ensureCryptoProvider, randomSerialHex } from './crypto-provider';

export interface TlsBundleRequest {
  /** DNS names for the server certificate's SAN (e.g. localhost, the host name). */
  dnsNames: string[];
  /** IP addresses for the SAN (e.g. 127.0.0.1, ::1). */
  ipAddresses: string[];
  /** Subject CN of the generated CA. */
  caCommonName?: string;
  validityDays?: number;
  now?: Date;
}

export interface TlsBundle {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

const ECDSA_P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN_SHA256: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/**
 * A self-signed ECDSA P-256 CA and a server certificate it signs, for a server that has
 * no operator-provided TLS material. Clients trust the CA file, never the leaf alone, so
 * the leaf can be re-issued without touching clients.
 */
export async function createSelfSignedTlsBundle(req: TlsBundleRequest): Promise<TlsBundle> {
  ensureCryptoProvider();
  const now = req.now ?? new Date();
  const days = req.validityDays ?? 825;
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate small clock skew
  const notAfter = new Date(now.getTime() + days * 86_400_000);

  const caKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const caName = `CN=${req.caCommonName ?? 'certctl local TLS CA'}, O=certctl`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leafKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const san = [
    ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...req.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: `CN=${req.dnsNames[0] ?? req.ipAddresses[0] ?? 'certctl'}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(san),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });

  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
  return {
    caCertPem: ca.toString('pem') + '\n',
    certPem: leaf.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
  };
}

export interface TlsBundleCheck {
  notAfter: Date;
  subject: string;
}

/**
 * Checks that a PEM certificate and key load, belong together and are currently valid.
 * Throws an Error naming what is wrong, so a misconfigured server fails closed at boot.
 */
export function checkTlsBundle(certPem: string, keyPem: string, now = new Date()): TlsBundleCheck {
  let cert: NodeX509;
  try {
    cert = new NodeX509(certPem);
  } catch (e) {
    throw new Error(`certificate is not a readable PEM X.509 certificate (${(e as Error).message})`, { cause: e });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new Error(`private key is not a readable PEM private key (${(e as Error).message})`, { cause: e });
  }
  if (!cert.checkPrivateKey(key)) throw new Error('private key does not match the certificate');
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now.getTime()) throw new Error(`certificate expired on ${notAfter.toISOString()}`);
  if (new Date(cert.validFrom).getTime() > now.getTime()) throw new Error('certificate is not yet valid');
  return { notAfter, subject: cert.subject };
}
