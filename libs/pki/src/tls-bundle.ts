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
  /** The CA key, kept (0600) so the server certificate can be re-issued under the same CA. */
  caKeyPem: string;
  certPem: string;
  keyPem: string;
}

const ECDSA_P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN_SHA256: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY') + '\n';
}

/**
 * A self-signed ECDSA P-256 CA (10 years) and a server certificate it signs, for a server
 * that has no operator-provided TLS material. Clients trust the CA file, never the leaf,
 * so the leaf can later be re-issued (`issueTlsServerCertificate`) without touching them.
 */
export async function createSelfSignedTlsBundle(req: TlsBundleRequest): Promise<TlsBundle> {
  ensureCryptoProvider();
  const now = req.now ?? new Date();
  const caDays = Math.max(req.validityDays ?? 825, 3650);
  const caKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: `CN=${req.caCommonName ?? 'certctl local TLS CA'}, O=certctl`,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + caDays * 86_400_000),
    keys: caKeys,
    signingAlgorithm: SIGN_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caCertPem = ca.toString('pem') + '\n';
  const caKeyPem = await pkcs8Pem(caKeys.privateKey);
  const leaf = await issueTlsServerCertificate({ ...req, caCertPem, caKeyPem, now });
  return { caCertPem, caKeyPem, ...leaf };
}

/** A fresh server key and certificate (SANs from the request) signed by an existing CA. */
export async function issueTlsServerCertificate(
  req: TlsBundleRequest & { caCertPem: string; caKeyPem: string },
): Promise<{ certPem: string; keyPem: string }> {
  ensureCryptoProvider();
  const now = req.now ?? new Date();
  const days = req.validityDays ?? 825;
  const ca = new x509.X509Certificate(req.caCertPem);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(req.caKeyPem),
    ECDSA_P256,
    false,
    ['sign'],
  );
  const notAfter = new Date(Math.min(now.getTime() + days * 86_400_000, ca.notAfter.getTime()));
  const leafKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const san = [
    ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...req.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: `CN=${req.dnsNames[0] ?? req.ipAddresses[0] ?? 'certctl'}`,
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKey,
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
  return { certPem: leaf.toString('pem') + '\n', keyPem: await pkcs8Pem(leafKeys.privateKey) };
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
