// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { id_kp_OCSPSigning, id_pkix_ocsp_nocheck } from '@peculiar/asn1-ocsp';
import * as asn1js from 'asn1js';
import { invalid } from '@certctl/domain';
import { ensureCryptoProvider, randomSerialHex } from '../crypto-provider';
import { CertificateInput, SigningIdentity, loadCertificate, loadSigner } from '../crl/signing';

export type OcspResponderKeyAlgorithm = 'P-256' | 'P-384' | 'RSA-2048' | 'RSA-3072';

export interface OcspResponderCertificateOptions {
  /** Default P-256 (the cheapest to sign with). */
  keyAlgorithm?: OcspResponderKeyAlgorithm;
  now?: Date;
}

export interface OcspResponderCertificate {
  /** Ready for buildOcspResponse({ responder }); its key is not extractable. */
  identity: SigningIdentity;
  certificatePem: string;
  certificateDer: Buffer;
  /** PKCS#8 PEM of the responder key, to be stored sealed by the caller. */
  privateKeyPem: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

const KEY_PARAMS: Record<OcspResponderKeyAlgorithm, webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams> = {
  'P-256': { name: 'ECDSA', namedCurve: 'P-256' },
  'P-384': { name: 'ECDSA', namedCurve: 'P-384' },
  'RSA-2048': {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
  'RSA-3072': {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 3072,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
};

const SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/**
 * A delegated OCSP responder certificate and key for `ca` (RFC 6960 4.2.2.2): issued directly
 * by the CA, keyUsage digitalSignature (critical), extendedKeyUsage id-kp-OCSPSigning (not
 * critical: RFC 6960 only requires its presence, and public responders mark it non-critical),
 * id-pkix-ocsp-nocheck (NULL, non-critical, 4.2.2.2.1: clients do not check
 * the responder's own revocation, which is why its lifetime should stay short), SKI and AKI.
 * Validity starts 5 minutes back (clock skew) and ends at `validityDays` or the CA's notAfter,
 * whichever is first. Rotate it with ocspResponderNeedsRotation().
 */
export async function createOcspResponderCertificate(
  ca: SigningIdentity,
  validityDays: number,
  options: OcspResponderCertificateOptions = {},
): Promise<OcspResponderCertificate> {
  ensureCryptoProvider();
  if (typeof validityDays !== 'number' || !Number.isFinite(validityDays) || validityDays <= 0 || validityDays > 3650) {
    throw invalid('validityDays must be a number of days greater than 0 and at most 3650');
  }
  const keyAlgorithm = options.keyAlgorithm ?? 'P-256';
  if (!Object.hasOwn(KEY_PARAMS, keyAlgorithm)) {
    throw invalid(`keyAlgorithm must be one of ${Object.keys(KEY_PARAMS).join(', ')}`);
  }
  const keyParams = KEY_PARAMS[keyAlgorithm];
  const now = options.now ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw invalid('now must be a valid date');

  const signer = await loadSigner(ca, 'ca');
  const caCert = signer.cert.cert;
  const bc = caCert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw invalid('ca.certificate is not a CA certificate (basicConstraints cA)');
  const ku = caCert.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw invalid('ca.certificate has a keyUsage without keyCertSign (RFC 5280 4.2.1.3)');
  }
  const notBefore = new Date(Math.max(now.getTime() - SKEW_MS, caCert.notBefore.getTime()));
  const notAfter = new Date(Math.min(now.getTime() + validityDays * DAY_MS, caCert.notAfter.getTime()));
  if (notAfter.getTime() <= now.getTime()) throw invalid('ca.certificate has expired: it cannot issue a responder');

  const keys = await webcrypto.subtle.generateKey(keyParams, true, ['sign', 'verify']);
  const caCn = caCert.subjectName.getField('CN')[0] ?? 'certctl CA';
  const caOrg = caCert.subjectName.getField('O')[0];
  const subject: x509.JsonName = [{ CN: [`${caCn} OCSP Responder`] }];
  if (caOrg) subject.push({ O: [caOrg] });
  const serialHex = randomSerialHex();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject,
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signer.webcryptoAlgorithm,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([id_kp_OCSPSigning], false),
      new x509.Extension(id_pkix_ocsp_nocheck, false, new asn1js.Null().toBER()),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(Buffer.from(signer.cert.keyIdentifier).toString('hex')),
    ],
  });

  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const importParams = keyParams.name === 'ECDSA' ? keyParams : { name: keyParams.name, hash: 'SHA-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importParams, false, ['sign']);
  const certificatePem = cert.toString('pem') + '\n';
  return {
    identity: { certificate: certificatePem, privateKey },
    certificatePem,
    certificateDer: Buffer.from(cert.rawData),
    privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    serialHex,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/**
 * True when a responder certificate should be replaced: expired, not yet valid, or with less
 * than `renewBeforeFraction` (default a third) of its lifetime left. Rotating that early
 * leaves room for responses signed now, whose nextUpdate must not outlive the certificate.
 */
export function ocspResponderNeedsRotation(
  certificate: CertificateInput,
  now: Date = new Date(),
  renewBeforeFraction = 1 / 3,
): boolean {
  if (!(renewBeforeFraction > 0 && renewBeforeFraction < 1))
    throw invalid('renewBeforeFraction must be between 0 and 1');
  const cert = loadCertificate(certificate, 'certificate').cert;
  const start = cert.notBefore.getTime();
  const end = cert.notAfter.getTime();
  const t = now.getTime();
  if (t < start || t >= end) return true;
  return end - t < (end - start) * renewBeforeFraction;
}
