// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { AsnConvert, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import * as A from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { DomainError, EKU_OIDS, ErrorCode, invalid, RSA_MIN_KEY_SIZE } from '@certctl/domain';
import { CaSigner, keyIdentifier } from '../ca/ca-signer';
import { nameConstraintViolation, readNameConstraints, type ParsedNameConstraints } from '../ca/name-constraints';
import { pkiUrls } from '../ca/pki-urls';
import { ensureCryptoProvider, randomSerialHex } from '../crypto-provider';
import { ekuName, ekuOid } from '../csr/eku';
import { csrSpki, type ParsedCsr } from '../csr/parse-csr';
import { allowedEkuOids, assertKeyAndSansAllowed, profileMaxTtl, type CertificateProfileRules } from '../csr/profile';
import { effectiveSans, normalizeSans, sanCount, type SubjectAltNames } from '../csr/san';
import { TLS_FEATURE_STATUS_REQUEST, TlsFeatures, id_pe_tlsfeature } from '../csr/tls-feature';
import { describePublicKey, type PublicKeyInfo } from '../keys/keys';
import { derToPem, pemToDers, toArrayBuffer } from '../keys/pem';

export interface IssueLeafRequest {
  /** A parsed, verified CSR: supplies the public key and, unless overridden, CN and SANs. */
  csr?: ParsedCsr;
  /** SubjectPublicKeyInfo (DER or PEM) when there is no CSR (server-side key generation). */
  publicKey?: Uint8Array | string;
  /** Subject CN (default: the CSR's CN). Ignored when `subject` is given. */
  commonName?: string;
  /** Full subject DN, e.g. "CN=api.example.com, O=Example" (default: CN only). */
  subject?: string;
  /** SANs (default: the CSR's). A host-name CN is always copied in (CA/B BR 7.1.4.3). */
  sans?: Partial<SubjectAltNames>;
  /**
   * Enforced on what the certificate will carry: key and SAN rules, EKUs, must_staple, and
   * the lifetime capped at max_ttl_seconds (run validateCsrAgainstProfile first for the
   * full list of violations and the requested-TTL check).
   */
  profile?: CertificateProfileRules;
  /** Requested lifetime; capped by the profile's max TTL and the CA's notAfter. */
  ttlSeconds?: number;
  /** EKU names or OIDs (default: the profile's allowed EKUs, else serverAuth). */
  ekus?: string[];
  /** Add the TLS Feature status_request extension (default: profile.must_staple or the CSR's request). */
  mustStaple?: boolean;
  /** This server's public URL (`CERTCTL_PUBLIC_URL`): CRL DP and AIA point below it. */
  publicUrl: string;
  /** The issuer id in the CRL/OCSP/CA-certificate URLs. */
  issuerId: string;
  now?: Date;
}

export interface IssuedCertificate {
  certPem: string;
  certDer: Uint8Array;
  /** Lower-case hex, 40 digits (20 random octets, positive). */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex SHA-256 of the DER certificate. */
  fingerprintSha256: string;
  /** The issuing CA and intermediates above it (no self-signed root), nearest first. */
  chainPem: string;
}

/** Lifetime when neither the request nor a profile says (90 days). */
export const DEFAULT_LEAF_TTL_SECONDS = 90 * 86_400;
const SKEW_MS = 60_000;

const OID_CN = '2.5.4.3';

/**
 * `value` with its ASN.1 tree built once: asn1-schema serializes an IAsnConvertible by
 * calling its toASN(), so constant parts (issuer name, algorithm, fixed extensions) skip
 * the per-certificate object-to-ASN.1 conversion. The tree is only read when encoding.
 */
function prebuilt<T>(value: T): T {
  const block = AsnSerializer.toASN(value);
  return { toASN: () => block, fromASN: () => value } as unknown as T;
}
const ext = (e: x509.Extension) => prebuilt(AsnConvert.parse(e.rawData, A.Extension));

interface FixedExtensions {
  endEntity: A.Extension;
  kuSignOnly: A.Extension;
  kuRsa: A.Extension;
  mustStaple: A.Extension;
}
let fixed: FixedExtensions | undefined;

/** Extensions that never change, built once (lazily: @peculiar/x509 needs its crypto provider). */
function fixedExtensions(): FixedExtensions {
  return (fixed ??= {
    endEntity: ext(new x509.BasicConstraintsExtension(false, undefined, true)),
    kuSignOnly: ext(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)),
    kuRsa: ext(
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    ),
    mustStaple: prebuilt(
      new A.Extension({
        extnID: id_pe_tlsfeature,
        critical: false,
        extnValue: new OctetString(AsnConvert.serialize(new TlsFeatures([TLS_FEATURE_STATUS_REQUEST]))),
      }),
    ),
  });
}

/** Per-CA encoded pieces: AKI, CRL DP + AIA per (publicUrl, issuerId), EKU sets, chain PEM. */
interface CaCache {
  issuer: A.Name;
  algorithm: A.AlgorithmIdentifier;
  aki: A.Extension;
  /** Name constraints of this CA and the CAs above it. */
  constraints: { subject: string; nc: ParsedNameConstraints; hasDn: boolean }[];
  urls: Map<string, A.Extension[]>;
  ekus: Map<string, A.Extension>;
  chainPem: string;
}
const caCaches = new WeakMap<CaSigner, CaCache>();

function caCache(ca: CaSigner): CaCache {
  let c = caCaches.get(ca);
  if (!c) {
    c = {
      issuer: prebuilt(ca.subjectName),
      algorithm: prebuilt(ca.signatureAlgorithmIdentifier),
      aki: ext(new x509.AuthorityKeyIdentifierExtension(Buffer.from(ca.subjectKeyIdentifier).toString('hex'))),
      constraints: [ca.certificate, ...ca.chain].flatMap((cert) => {
        const nc = readNameConstraints(cert);
        const hasDn = nc ? [...nc.permitted, ...nc.excluded].some((st) => st.kind === 'dn') : false;
        return nc ? [{ subject: cert.subject, nc, hasDn }] : [];
      }),
      urls: new Map(),
      ekus: new Map(),
      chainPem: ca.chainPem(),
    };
    caCaches.set(ca, c);
  }
  return c;
}

function revocationExtensions(cache: CaCache, publicUrl: string, issuerId: string): A.Extension[] {
  const key = `${publicUrl}\n${issuerId}`;
  let exts = cache.urls.get(key);
  if (!exts) {
    const urls = pkiUrls(publicUrl, issuerId);
    exts = [
      ext(new x509.CRLDistributionPointsExtension([urls.crl])),
      ext(new x509.AuthorityInfoAccessExtension({ ocsp: [urls.ocsp], caIssuers: [urls.caIssuers] })),
    ];
    if (cache.urls.size >= 64) cache.urls.clear();
    cache.urls.set(key, exts);
  }
  return exts;
}

function ekuExtension(cache: CaCache, oids: string[]): A.Extension {
  const key = oids.join(',');
  let e = cache.ekus.get(key);
  if (!e) {
    e = ext(new x509.ExtendedKeyUsageExtension(oids, false));
    if (cache.ekus.size >= 64) cache.ekus.clear();
    cache.ekus.set(key, e);
  }
  return e;
}

/**
 * Signs an end-entity certificate with `ca`: a 20-octet random positive serial; subject
 * CN (or the given DN); SANs; SKI and AKI; keyUsage by key type (ECDSA/Ed25519:
 * digitalSignature; RSA: + keyEncipherment); EKUs from the request or profile (default
 * serverAuth); TLS Feature must-staple on request; CRL DP and AIA (OCSP, CA issuers) under
 * `publicUrl`; validity from one minute ago (clock skew) to min(requested, profile max
 * TTL, CA notAfter). Bad input throws DomainError(Validation) naming the field; a CA that
 * is not currently valid throws DomainError(Unavailable).
 *
 * Encoding is done with @peculiar/asn1-x509 directly, with the per-CA parts encoded once,
 * rather than through X509CertificateGenerator (which re-parses every extension and the
 * result): 4-6 times the throughput here (bench/issue.bench.ts).
 */
export async function issueLeaf(ca: CaSigner, req: IssueLeafRequest): Promise<IssuedCertificate> {
  ensureCryptoProvider();
  const { spki, key } = subjectKey(req);
  const { subject, cn } = subjectName(req);

  const sans = effectiveSans(cn, normalizeSans(req.sans ?? req.csr?.sans ?? {}, 'sans'));
  if (sanCount(sans) === 0 && subject.length === 0) {
    throw invalid('sans: a certificate without a subject CN needs at least one SAN');
  }
  if (req.profile) assertKeyAndSansAllowed(key, sans, req.profile);

  const cache = caCache(ca);
  for (const { subject: caSubject, nc, hasDn } of cache.constraints) {
    const dn =
      hasDn && subject.length > 0 ? subject.map((rdn) => new Uint8Array(AsnConvert.serialize(rdn))) : undefined;
    const violation = nameConstraintViolation({ ...sans, dn, dnText: cn }, nc);
    if (violation) throw invalid(`sans: ${violation} by the name constraints of CA "${caSubject}"`);
  }

  const nowMs = Math.floor((req.now ?? new Date()).getTime() / 1000) * 1000;
  if (ca.notBefore.getTime() > nowMs || ca.notAfter.getTime() <= nowMs) {
    throw new DomainError(
      ErrorCode.Unavailable,
      `issuer: CA "${ca.subject}" is not valid now (expires ${ca.notAfter.toISOString()})`,
    );
  }
  let ttl = req.ttlSeconds ?? (req.profile ? profileMaxTtl(req.profile) : DEFAULT_LEAF_TTL_SECONDS);
  if (!Number.isInteger(ttl) || ttl <= 0) throw invalid('ttl_seconds: must be a positive whole number of seconds');
  if (req.profile) ttl = Math.min(ttl, profileMaxTtl(req.profile));
  const notBefore = new Date(nowMs - SKEW_MS);
  const notAfter = new Date(Math.min(nowMs + ttl * 1000, Math.floor(ca.notAfter.getTime() / 1000) * 1000));

  const f = fixedExtensions();
  const extensions = [
    f.endEntity,
    key.algorithm === 'RSA' ? f.kuRsa : f.kuSignOnly,
    ekuExtension(cache, leafEkus(req)),
  ];
  if (sanCount(sans) > 0) extensions.push(sanExtension(sans, subject.length === 0));
  const ski = keyIdentifier(new Uint8Array(spki.subjectPublicKey));
  extensions.push(
    new A.Extension({
      extnID: A.id_ce_subjectKeyIdentifier,
      extnValue: new OctetString(AsnConvert.serialize(new A.SubjectKeyIdentifier(ski))),
    }),
    cache.aki,
    ...revocationExtensions(cache, req.publicUrl, req.issuerId),
  );
  if (req.mustStaple ?? (req.profile?.must_staple || req.csr?.mustStapleRequested || false)) {
    extensions.push(f.mustStaple);
  }

  const serialHex = randomSerialHex();
  const tbs = new A.TBSCertificate({
    version: A.Version.v3,
    serialNumber: toArrayBuffer(Buffer.from(serialHex, 'hex')),
    signature: cache.algorithm,
    issuer: cache.issuer,
    validity: new A.Validity({ notBefore, notAfter }),
    subject,
    subjectPublicKeyInfo: spki,
    extensions: new A.Extensions(extensions),
  });
  const tbsBlock = AsnSerializer.toASN(tbs);
  const signature = await ca.sign(new Uint8Array(tbsBlock.toBER(false)));
  const certDer = new Uint8Array(
    AsnConvert.serialize(
      new A.Certificate({
        // The TBS is already in ASN.1 form: hand the block over instead of rebuilding it.
        tbsCertificate: { toASN: () => tbsBlock, fromASN: () => tbs } as unknown as A.TBSCertificate,
        signatureAlgorithm: cache.algorithm,
        signatureValue: toArrayBuffer(signature),
      }),
    ),
  );
  return {
    certPem: derToPem(certDer, 'CERTIFICATE'),
    certDer,
    serialHex,
    notBefore,
    notAfter,
    fingerprintSha256: createHash('sha256').update(certDer).digest('hex'),
    chainPem: cache.chainPem,
  };
}

function subjectKey(req: IssueLeafRequest): { spki: A.SubjectPublicKeyInfo; key: PublicKeyInfo } {
  let der: Uint8Array;
  let key: PublicKeyInfo;
  if (req.csr) {
    der = req.csr.spkiDer;
    key = req.csr.publicKey;
    const parsed = csrSpki(req.csr);
    if (parsed) return { spki: parsed, key: checkKeySize(key) };
  } else if (req.publicKey !== undefined) {
    der = typeof req.publicKey === 'string' ? pemToDers(req.publicKey, ['PUBLIC KEY'], 'public_key')[0] : req.publicKey;
    key = describePublicKey(der, 'public_key');
  } else {
    throw invalid('csr: a CSR or a public key is required');
  }
  return { spki: AsnConvert.parse(der, A.SubjectPublicKeyInfo), key: checkKeySize(key) };
}

function checkKeySize(key: PublicKeyInfo): PublicKeyInfo {
  if (key.algorithm === 'RSA' && key.size < RSA_MIN_KEY_SIZE)
    throw invalid(`public_key: RSA ${key.size} is below the minimum ${RSA_MIN_KEY_SIZE}`);
  return key;
}

function subjectName(req: IssueLeafRequest): { subject: A.Name; cn?: string } {
  if (req.subject !== undefined) {
    let name: x509.Name;
    try {
      name = new x509.Name(req.subject);
    } catch {
      throw invalid(`subject: "${req.subject}" is not a distinguished name`);
    }
    const cns = name.getField('CN');
    if (cns.length > 1) throw invalid('subject: more than one CN');
    if (cns[0] !== undefined) checkCn(cns[0]);
    return { subject: AsnConvert.parse(name.toArrayBuffer(), A.Name), cn: cns[0] };
  }
  const cn = req.commonName ?? req.csr?.commonName;
  if (cn === undefined) return { subject: new A.Name([]) };
  checkCn(cn);
  const atv = new A.AttributeTypeAndValue({ type: OID_CN, value: new A.AttributeValue({ utf8String: cn }) });
  return { subject: new A.Name([new A.RelativeDistinguishedName([atv])]), cn };
}

function checkCn(cn: string): void {
  if (cn.length === 0 || cn.length > 64) throw invalid('subject.cn: must be 1-64 characters (RFC 5280 ub-common-name)');
}

function leafEkus(req: IssueLeafRequest): string[] {
  const allowed = req.profile ? allowedEkuOids(req.profile) : undefined;
  if (req.ekus === undefined) return allowed ?? [EKU_OIDS.serverAuth];
  if (req.ekus.length === 0) throw invalid('ekus: must not be empty');
  const oids = [...new Set(req.ekus.map((e) => ekuOid(e, 'ekus')))];
  for (const oid of oids) {
    if (allowed && !allowed.includes(oid)) throw invalid(`profile.allowed_ekus: ${ekuName(oid)} is not allowed`);
  }
  return oids;
}

function sanExtension(sans: SubjectAltNames, critical: boolean): A.Extension {
  const names = [
    ...sans.dns.map((dNSName) => new A.GeneralName({ dNSName })),
    ...sans.ip.map((iPAddress) => new A.GeneralName({ iPAddress })),
    ...sans.email.map((rfc822Name) => new A.GeneralName({ rfc822Name })),
    ...sans.uri.map((uniformResourceIdentifier) => new A.GeneralName({ uniformResourceIdentifier })),
  ];
  return new A.Extension({
    extnID: A.id_ce_subjectAltName,
    critical, // RFC 5280 4.2.1.6: critical when the subject is empty
    extnValue: new OctetString(AsnConvert.serialize(new A.SubjectAlternativeName(names))),
  });
}
