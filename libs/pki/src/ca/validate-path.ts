// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as A from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { invalid } from '@certctl/domain';
import { ensureCryptoProvider } from '../crypto-provider';
import { pemToDers } from '../keys/pem';
import { commonNameAsSan } from '../csr/san';
import { nameConstraintViolation, readNameConstraints, type ConstrainedNames } from './name-constraints';

export type PathValidationResult =
  { valid: true; /** leaf first, trust anchor last */ path: x509.X509Certificate[] } | { valid: false; reason: string };

const MAX_PATH = 10;
const OID_EMAIL_ADDRESS = '1.2.840.113549.1.9.1';
const OID_CN = '2.5.4.3';
/** Critical extensions this validator understands (anything else critical fails the path, RFC 5280 6.1.3/6.1.4). */
const UNDERSTOOD_CRITICAL = new Set([
  A.id_ce_keyUsage,
  A.id_ce_basicConstraints,
  A.id_ce_subjectAltName,
  A.id_ce_nameConstraints,
  A.id_ce_extKeyUsage,
  A.id_ce_issuerAltName,
  A.id_ce_subjectKeyIdentifier,
  A.id_ce_authorityKeyIdentifier,
  A.id_ce_certificatePolicies, // accepted, not processed: certctl does not use policy OIDs
  '1.3.6.1.5.5.7.1.24', // TLS feature (must-staple): a TLS-client matter
]);

/**
 * RFC 5280 section 6 path validation for certificates certctl issues. Builds the path
 * leaf -> chain -> trust anchor by issuer/subject name (DER equality) and key identifiers,
 * and checks: every signature; every certificate's validity at `at` (the anchor's too);
 * basicConstraints cA and keyUsage keyCertSign (when keyUsage is present) on every CA;
 * pathLenConstraint (self-issued intermediates not counted); name constraints of every CA,
 * the anchor's included, on every certificate below it (DNS, IP, email, URI, directory
 * name; a host-name CN counts as a DNS name when there is no DNS SAN, as in OpenSSL;
 * self-issued intermediates exempt); unknown critical extensions fail.
 * Not done: certificate policy processing, revocation (CRL/OCSP), EKU chaining.
 * pkijs' CertificateChainValidationEngine was not used: it ignores pathLenConstraint,
 * unions instead of intersecting nested permitted subtrees, and skips the anchor's.
 * Bad PEM input throws DomainError(Validation); a path that does not validate returns
 * `{valid: false, reason}`.
 */
export async function validatePath(
  leafPem: string,
  chainPems: string | readonly string[],
  trustAnchorPem: string,
  at: Date = new Date(),
): Promise<PathValidationResult> {
  ensureCryptoProvider();
  const [leaf, ...extraLeaves] = readCerts(leafPem, 'leaf');
  if (extraLeaves.length > 0) throw invalid('leaf: expected one certificate');
  const anchors = readCerts(trustAnchorPem, 'trust_anchor');
  if (anchors.length !== 1) throw invalid('trust_anchor: expected one certificate');
  const anchor = anchors[0];
  const pool = (typeof chainPems === 'string' ? [chainPems] : chainPems)
    .filter((p) => p.trim() !== '')
    .flatMap((p) => readCerts(p, 'chain'));

  const built = await buildPath(leaf, pool, anchor);
  if (typeof built === 'string') return { valid: false, reason: built };
  const reason = checkPath(built, at);
  return reason ? { valid: false, reason } : { valid: true, path: built };
}

function readCerts(pem: string, field: string): x509.X509Certificate[] {
  return pemToDers(pem, ['CERTIFICATE'], field).map((der, i) => {
    try {
      return new x509.X509Certificate(der);
    } catch {
      throw invalid(`${field}: certificate #${i + 1} is not a readable X.509 certificate`);
    }
  });
}

const nameDer = (n: x509.Name) => Buffer.from(n.toArrayBuffer());
const label = (c: x509.X509Certificate) => `"${c.subject}"`;

function keyIdsCompatible(child: x509.X509Certificate, issuer: x509.X509Certificate): boolean {
  const aki = child.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  return !aki || !ski || aki.toLowerCase() === ski.toLowerCase();
}

async function signedBy(child: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  return child.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false);
}

/** Leaf first, anchor last; or the reason no path exists. */
async function buildPath(
  leaf: x509.X509Certificate,
  pool: x509.X509Certificate[],
  anchor: x509.X509Certificate,
): Promise<x509.X509Certificate[] | string> {
  const path = [leaf];
  const remaining = [...pool];
  const anchorSubject = nameDer(anchor.subjectName);
  for (let current = leaf; path.length <= MAX_PATH;) {
    const issuerName = nameDer(current.issuerName);
    if (issuerName.equals(anchorSubject) && keyIdsCompatible(current, anchor)) {
      if (!(await signedBy(current, anchor))) {
        return `the signature of ${label(current)} does not verify with the trust anchor ${label(anchor)}`;
      }
      path.push(anchor);
      return path;
    }
    const candidates = remaining.filter(
      (c) => nameDer(c.subjectName).equals(issuerName) && keyIdsCompatible(current, c),
    );
    let next: x509.X509Certificate | undefined;
    for (const c of candidates) {
      if (await signedBy(current, c)) {
        next = c;
        break;
      }
    }
    if (!next) {
      return candidates.length > 0
        ? `the signature of ${label(current)} does not verify with its issuer ${label(candidates[0])}`
        : `no issuer of ${label(current)} among the chain and the trust anchor (issuer "${current.issuer}")`;
    }
    remaining.splice(remaining.indexOf(next), 1);
    path.push(next);
    current = next;
  }
  return `path longer than ${MAX_PATH} certificates`;
}

const selfIssued = (c: x509.X509Certificate) => nameDer(c.subjectName).equals(nameDer(c.issuerName));

function checkPath(path: x509.X509Certificate[], at: Date): string | undefined {
  for (const c of path) {
    if (c.notBefore.getTime() > at.getTime()) return `${label(c)} is not valid before ${c.notBefore.toISOString()}`;
    if (c.notAfter.getTime() < at.getTime()) return `${label(c)} expired on ${c.notAfter.toISOString()}`;
    for (const ext of c.extensions) {
      if (ext.critical && !UNDERSTOOD_CRITICAL.has(ext.type))
        return `${label(c)} has an unrecognized critical extension ${ext.type}`;
    }
  }
  for (let i = 1; i < path.length; i++) {
    const ca = path[i];
    const bc = ca.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) return `${label(ca)} is not a CA (basicConstraints cA is not set)`;
    const ku = ca.getExtension(x509.KeyUsagesExtension);
    if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) return `${label(ca)} lacks keyUsage keyCertSign`;
    if (bc.pathLength !== undefined) {
      const below = path.slice(1, i).filter((c) => !selfIssued(c)).length;
      if (below > bc.pathLength) {
        return `${label(ca)} has pathLenConstraint ${bc.pathLength} but ${below} CA certificates follow it`;
      }
    }
    let nc;
    try {
      nc = readNameConstraints(ca);
    } catch {
      return `${label(ca)} has a malformed nameConstraints extension`;
    }
    if (!nc) continue;
    const unsupported = [...nc.permitted, ...nc.excluded].find((s) => s.kind === 'other');
    if (unsupported && unsupported.kind === 'other') {
      return `${label(ca)} has name constraints of an unsupported form (${unsupported.description})`;
    }
    for (let j = 0; j < i; j++) {
      if (j > 0 && selfIssued(path[j])) continue; // RFC 5280 6.1.4(b): self-issued intermediates are exempt
      let reason: string | undefined;
      try {
        reason = nameConstraintViolation(namesOf(path[j], j === 0), nc);
      } catch {
        reason = 'its names cannot be read (malformed subjectAltName)';
      }
      if (reason) return `${label(path[j])} violates the name constraints of ${label(ca)}: ${reason}`;
    }
  }
  return undefined;
}

function namesOf(cert: x509.X509Certificate, isLeaf: boolean): ConstrainedNames {
  const out: ConstrainedNames = { dns: [], ip: [], email: [], uri: [] };
  const san = cert.getExtension(A.id_ce_subjectAltName);
  if (san) {
    for (const gn of AsnConvert.parse(san.value, A.SubjectAlternativeName)) {
      if (gn.dNSName !== undefined) out.dns.push(gn.dNSName.toLowerCase());
      else if (gn.rfc822Name !== undefined) out.email.push(gn.rfc822Name);
      else if (gn.uniformResourceIdentifier !== undefined) out.uri.push(gn.uniformResourceIdentifier);
      else if (gn.iPAddress !== undefined) out.ip.push(gn.iPAddress);
    }
  }
  const subject = AsnConvert.parse(cert.subjectName.toArrayBuffer(), A.Name);
  if (subject.length > 0) {
    out.dn = subject.map((rdn) => new Uint8Array(AsnConvert.serialize(rdn)));
    out.dnText = cert.subject;
  }
  const sanHasDns = out.dns.length > 0;
  const sanHasEmail = out.email.length > 0;
  for (const rdn of subject) {
    for (const atv of rdn) {
      // RFC 5280 4.2.1.10: emailAddress in the subject is constrained like an rfc822Name SAN.
      if (atv.type === OID_EMAIL_ADDRESS && !sanHasEmail) out.email.push(atv.value.toString());
      // OpenSSL checks a leaf's host-name CN as a DNS name when it has no DNS SAN.
      if (atv.type === OID_CN && isLeaf && !sanHasDns) {
        const asSan = commonNameAsSan(atv.value.toString());
        if (asSan?.dns) out.dns.push(asSan.dns);
      }
    }
  }
  return out;
}
