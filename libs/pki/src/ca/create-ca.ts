// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as A from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { invalid } from '@certctl/domain';
import { ensureCryptoProvider, randomSerialHex } from '../crypto-provider';
import {
  describePublicKey,
  exportPrivateKeyPem,
  generateKeyPair,
  parseKeyAlgorithm,
  spkiDerOf,
  type CryptoKeyPair,
  type KeyAlgorithm,
} from '../keys/keys';
import { signatureAlgorithmFor } from '../keys/signing';
import { CaSigner, keyIdentifier } from './ca-signer';
import {
  dnsWithinSubtree,
  nameConstraintsExtension,
  normalizeDnsConstraint,
  readNameConstraints,
  type NameConstraintsParams,
} from './name-constraints';
import { pkiUrls } from './pki-urls';

export interface CaCertificateParams {
  /** Subject DN, e.g. "CN=Example Root CA, O=Example". */
  subject: string;
  /** Key to generate (default ECDSA-P256); ignored when `keys` is given. */
  keyAlgorithm?: KeyAlgorithm;
  /** Bring your own key pair (e.g. from importPrivateKeyPem). */
  keys?: CryptoKeyPair;
  /** Lifetime in days (root default 3650, intermediate default 1825; capped by the parent). */
  validityDays?: number;
  now?: Date;
  /** basicConstraints pathLenConstraint: how many CAs may follow below this one. */
  pathLenConstraint?: number;
  nameConstraints?: NameConstraintsParams;
}

export interface CreateIntermediateCaParams extends CaCertificateParams {
  /**
   * Put a CRL distribution point and AIA (OCSP, CA issuers) for the parent's endpoints in
   * the intermediate, so relying parties can check it for revocation.
   */
  parentRevocation?: { publicUrl: string; parentIssuerId: string };
}

export interface CreatedCa {
  signer: CaSigner;
  certPem: string;
  /** PKCS#8 PEM of the new CA key (absent when `keys` were not extractable). */
  keyPem?: string;
}

const SKEW_MS = 60_000;
const MAX_PATH_LEN = 8;

/** A self-signed root CA (the top of a hierarchy, or a single-level local CA). */
export async function createRootCa(params: CaCertificateParams): Promise<CreatedCa> {
  ensureCryptoProvider();
  const name = parseSubject(params.subject);
  const keys = params.keys ?? (await generateKeyPair(parseKeyAlgorithm(params.keyAlgorithm ?? 'ECDSA-P256')));
  const { notBefore, notAfter } = validity(params, 3650);
  const pathLen = checkPathLen(params.pathLenConstraint);
  const signer = describePublicKey(keys.publicKey, 'keys');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: name,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: signatureAlgorithmFor(signer).webcrypto,
    extensions: caExtensions(keys, pathLen, params.nameConstraints),
  });
  return created(new CaSigner(cert, keys.privateKey, []), keys);
}

/**
 * An intermediate or issuing CA signed by `parent`. Its pathLenConstraint defaults to the
 * parent's minus one (0, an issuing CA, under an unconstrained parent) and must stay below
 * the parent's; its validity ends no later than the parent's; permitted DNS subtrees must
 * lie inside the parent's.
 */
export async function createIntermediateCa(parent: CaSigner, params: CreateIntermediateCaParams): Promise<CreatedCa> {
  ensureCryptoProvider();
  const now = params.now ?? new Date();
  if (parent.notAfter.getTime() <= now.getTime() + SKEW_MS) {
    throw invalid(`parent: CA "${parent.subject}" has expired`);
  }
  if (parent.pathLenConstraint === 0) {
    throw invalid(`path_len_constraint: parent CA "${parent.subject}" has pathLenConstraint 0 and cannot sign a CA`);
  }
  const parentLimit = parent.pathLenConstraint;
  const pathLen = checkPathLen(params.pathLenConstraint ?? (parentLimit !== undefined ? parentLimit - 1 : 0));
  if (parentLimit !== undefined && (pathLen === undefined || pathLen >= parentLimit)) {
    throw invalid(`path_len_constraint: must be below the parent's ${parentLimit}`);
  }
  checkConstraintsInsideParent(parent, params.nameConstraints);

  const name = parseSubject(params.subject);
  const keys = params.keys ?? (await generateKeyPair(parseKeyAlgorithm(params.keyAlgorithm ?? 'ECDSA-P256')));
  const v = validity({ ...params, now }, 1825);
  const notAfter = v.notAfter.getTime() > parent.notAfter.getTime() ? parent.notAfter : v.notAfter;
  const extensions = caExtensions(keys, pathLen, params.nameConstraints);
  extensions.push(new x509.AuthorityKeyIdentifierExtension(Buffer.from(parent.subjectKeyIdentifier).toString('hex')));
  if (params.parentRevocation) {
    const urls = pkiUrls(params.parentRevocation.publicUrl, params.parentRevocation.parentIssuerId);
    extensions.push(new x509.CRLDistributionPointsExtension([urls.crl]));
    extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp], caIssuers: [urls.caIssuers] }));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: parent.certificate.subjectName,
    notBefore: v.notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: parent.privateKey,
    signingAlgorithm: parent.signatureAlgorithm.webcrypto,
    extensions,
  });
  return created(new CaSigner(cert, keys.privateKey, [parent.certificate, ...parent.chain]), keys);
}

function created(signer: CaSigner, keys: CryptoKeyPair): CreatedCa {
  return {
    signer,
    certPem: signer.certPem,
    keyPem: keys.privateKey.extractable ? exportPrivateKeyPem(keys.privateKey) : undefined,
  };
}

function parseSubject(subject: string): x509.Name {
  let name: x509.Name;
  try {
    name = new x509.Name(subject);
  } catch {
    throw invalid(`subject: "${subject}" is not a distinguished name (e.g. "CN=Example CA, O=Example")`);
  }
  if (name.toArrayBuffer().byteLength <= 2 || name.getField('CN').length === 0) {
    throw invalid('subject: a CA subject needs a CN');
  }
  return name;
}

function validity(
  params: { validityDays?: number; now?: Date },
  defaultDays: number,
): { notBefore: Date; notAfter: Date } {
  const days = params.validityDays ?? defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > 36500)
    throw invalid('validity_days: must be a whole number of days, 1-36500');
  const now = Math.floor((params.now ?? new Date()).getTime() / 1000) * 1000;
  return { notBefore: new Date(now - SKEW_MS), notAfter: new Date(now + days * 86_400_000) };
}

function checkPathLen(pathLen: number | undefined): number | undefined {
  if (pathLen === undefined) return undefined;
  if (!Number.isInteger(pathLen) || pathLen < 0 || pathLen > MAX_PATH_LEN) {
    throw invalid(`path_len_constraint: must be a whole number 0-${MAX_PATH_LEN}`);
  }
  return pathLen;
}

function caExtensions(
  keys: CryptoKeyPair,
  pathLen: number | undefined,
  nc: NameConstraintsParams | undefined,
): x509.Extension[] {
  const spki = AsnConvert.parse(spkiDerOf(keys.publicKey), A.SubjectPublicKeyInfo);
  const ski = keyIdentifier(new Uint8Array(spki.subjectPublicKey));
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLen, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    new x509.SubjectKeyIdentifierExtension(Buffer.from(ski).toString('hex')),
  ];
  const ncExt = nameConstraintsExtension(nc);
  if (ncExt) exts.push(ncExt);
  return exts;
}

/** A child's permitted DNS subtrees must each lie inside one of the parent's (else they only mislead). */
function checkConstraintsInsideParent(parent: CaSigner, nc: NameConstraintsParams | undefined): void {
  const parentPermitted = [parent.certificate, ...parent.chain]
    .map((c) => readNameConstraints(c)?.permitted.filter((s) => s.kind === 'dns') ?? [])
    .filter((l) => l.length > 0);
  (nc?.permittedDns ?? []).forEach((raw, i) => {
    const field = `name_constraints.permitted_dns[${i}]`;
    const value = normalizeDnsConstraint(raw, field);
    const bare = value.startsWith('.') ? value.slice(1) : value;
    for (const level of parentPermitted) {
      if (!level.some((s) => s.kind === 'dns' && (s.value === value || dnsWithinSubtree(bare, s.value)))) {
        throw invalid(`${field}: "${value}" lies outside the permitted subtrees of the CAs above`);
      }
    }
  });
}
