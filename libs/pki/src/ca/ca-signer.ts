// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as A from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { ensureCryptoProvider } from '../crypto-provider';
import { describePublicKey, type CryptoKey, type PublicKeyInfo } from '../keys/keys';
import { derToPem } from '../keys/pem';
import { algorithmIdentifier, makeSigner, signatureAlgorithmFor, type SignatureAlgorithm } from '../keys/signing';

/**
 * A CA that can sign: its certificate, the certificates above it and its private key.
 * Built by createRootCa, createIntermediateCa or loadCaSigner (which check that the key
 * matches and that the certificate is a usable CA), then shared by every issuance,
 * CRL and OCSP signing with this CA. Immutable; safe to share across requests.
 */
export class CaSigner {
  readonly certDer: Uint8Array;
  readonly certPem: string;
  readonly keyInfo: PublicKeyInfo;
  /** Algorithm this CA signs with (ECDSA with the curve's hash, RSA PKCS#1 v1.5 SHA-256, Ed25519). */
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints pathLenConstraint; undefined means no limit. */
  readonly pathLenConstraint: number | undefined;
  /** This CA's key identifier (its SKI extension, else RFC 5280 method 1). Leaves carry it as AKI. */
  readonly subjectKeyIdentifier: Uint8Array;
  /** This CA's subject as parsed ASN.1: the issuer field of what it signs, byte for byte. */
  readonly subjectName: A.Name;
  readonly signatureAlgorithmIdentifier: A.AlgorithmIdentifier;
  private readonly signFn: (data: Uint8Array) => Promise<Uint8Array>;

  /**
   * Use createRootCa / createIntermediateCa / loadCaSigner: they check what this
   * constructor trusts (key matches, CA flags, validity).
   */
  constructor(
    readonly certificate: x509.X509Certificate,
    readonly privateKey: CryptoKey,
    /** Certificates above this CA, nearest first; ends with the root when it is known. */
    readonly chain: readonly x509.X509Certificate[],
  ) {
    ensureCryptoProvider();
    this.certDer = new Uint8Array(certificate.rawData);
    this.certPem = derToPem(this.certDer, 'CERTIFICATE');
    this.keyInfo = describePublicKey(new Uint8Array(certificate.publicKey.rawData), 'ca_cert.public_key');
    this.signatureAlgorithm = signatureAlgorithmFor(this.keyInfo);
    this.signatureAlgorithmIdentifier = algorithmIdentifier(this.signatureAlgorithm);
    this.subject = certificate.subject;
    this.notBefore = certificate.notBefore;
    this.notAfter = certificate.notAfter;
    this.pathLenConstraint = certificate.getExtension(x509.BasicConstraintsExtension)?.pathLength;
    const asn = AsnConvert.parse(certificate.rawData, A.Certificate);
    this.subjectName = asn.tbsCertificate.subject;
    const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    this.subjectKeyIdentifier = ski
      ? new Uint8Array(Buffer.from(ski, 'hex'))
      : keyIdentifier(new Uint8Array(asn.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey));
    this.signFn = makeSigner(privateKey, this.signatureAlgorithm);
  }

  /**
   * Signs `data` (a DER TBSCertificate, TBSCertList, ResponseData, ...) and returns the
   * signature value as X.509/CMS carry it (ECDSA: DER ECDSA-Sig-Value). Runs on the
   * thread pool.
   */
  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.signFn(data);
  }

  /** True for a self-signed (root) CA. */
  get isRoot(): boolean {
    return this.chain.length === 0 && this.certificate.subject === this.certificate.issuer;
  }

  /**
   * PEM of this CA and the intermediates above it, nearest first, without a self-signed
   * root: what a server sends after its leaf (RFC 8446 4.4.2) and what `-untrusted` takes.
   */
  chainPem(): string {
    return [this.certificate, ...this.chain]
      .filter((c) => c.subject !== c.issuer)
      .map((c) => derToPem(new Uint8Array(c.rawData), 'CERTIFICATE'))
      .join('');
  }

  /** PEM of the self-signed root at the top of this CA's chain, when it is known. */
  rootPem(): string | undefined {
    const top = [this.certificate, ...this.chain].at(-1);
    return top && top.subject === top.issuer ? derToPem(new Uint8Array(top.rawData), 'CERTIFICATE') : undefined;
  }
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(subjectPublicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(subjectPublicKey).digest());
}
