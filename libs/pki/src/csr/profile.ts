import { invalid } from '@certctl/domain';
import { formatKeyInfo, type PublicKeyInfo } from '../keys/keys';
import { ekuName, ekuOid } from './eku';
import type { ParsedCsr } from './parse-csr';
import { dnsMatchesPattern, effectiveSans, sanCount, type SubjectAltNames } from './san';

/** One entry of `allowed_key_algorithms`: `{algorithm: 'ECDSA', min_size: 256}`. */
export interface KeyAlgorithmRule {
  /** ECDSA (alias EC), RSA or Ed25519; case-insensitive. */
  algorithm: string;
  /** Minimum RSA modulus bits or EC curve bits. */
  min_size?: number;
}

/** `san_rules` of a certificate profile. Absent booleans mean "not allowed". */
export interface SanRules {
  /** `example.com` (exactly) or `*.example.com` (any name below it); absent or empty: any DNS name. */
  permitted_dns_patterns?: string[];
  allow_ip?: boolean;
  allow_email?: boolean;
  allow_uri?: boolean;
  /** Most SANs in one certificate, CN included when it is a host name. */
  max_sans?: number;
}

/** The policy columns of a `certificate_profiles` row (same names and shapes). */
export interface CertificateProfileRules {
  /** Empty or absent: any supported key (RSA >= 2048 still required). */
  allowed_key_algorithms?: KeyAlgorithmRule[];
  max_ttl_seconds: number;
  /** EKU names (serverAuth, clientAuth, ...) or dotted OIDs; empty: serverAuth only. */
  allowed_ekus?: string[];
  san_rules?: SanRules;
  must_staple?: boolean;
}

/** What a request may ask for beyond the CSR itself (API issuance). */
export interface CsrRequestOptions {
  /** Requested lifetime; absent: the profile maximum. */
  ttlSeconds?: number;
  /** EKUs requested by the API caller; absent: the CSR's own EKUs, else the profile's. */
  ekus?: string[];
}

/** The issuance parameters the profile grants for this CSR (feed them to issueLeaf). */
export interface ProfileDecision {
  ttlSeconds: number;
  /** EKU OIDs for the certificate. */
  ekus: string[];
  mustStaple: boolean;
  /** SANs the certificate will carry (CN copied in when it is a host name). */
  sans: SubjectAltNames;
}

export interface ProfileViolation {
  rule: string;
  message: string;
}

/** Floor for RSA whatever a profile says (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;
export const DEFAULT_EKUS = ['serverAuth'];

/**
 * Checks a verified CSR against a profile. Every rule is evaluated; on failure one
 * DomainError(Validation) is thrown whose message lists each violation prefixed with the
 * rule (`profile.allowed_key_algorithms: RSA 1024 is below the minimum 2048`) and whose
 * details carry `{violations: [{rule, message}]}`. On success returns what to issue.
 */
export function validateCsrAgainstProfile(
  csr: ParsedCsr,
  profile: CertificateProfileRules,
  req: CsrRequestOptions = {},
): ProfileDecision {
  const violations: ProfileViolation[] = [];
  const fail = (rule: string, message: string) => violations.push({ rule, message: `${rule}: ${message}` });

  const sans = effectiveSans(csr.commonName, csr.sans);
  checkKeyAndSans(csr.publicKey, sans, csr.unsupportedSans, profile, fail);

  const allowedEkus = allowedEkuOids(profile);
  const wanted = req.ekus ?? (csr.requestedEkus.length > 0 ? csr.requestedEkus : undefined);
  let ekus = allowedEkus;
  if (wanted !== undefined) {
    const oids = wanted.map((e) => ekuOid(e, 'ekus'));
    for (const oid of oids) {
      if (!allowedEkus.includes(oid)) {
        fail(
          'profile.allowed_ekus',
          `${ekuName(oid)} is not allowed (allowed: ${allowedEkus.map(ekuName).join(', ')})`,
        );
      }
    }
    ekus = [...new Set(oids)];
  }

  const maxTtl = profileMaxTtl(profile);
  let ttlSeconds = maxTtl;
  if (req.ttlSeconds !== undefined) {
    if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds <= 0) {
      fail('ttl_seconds', 'must be a positive whole number of seconds');
    } else if (req.ttlSeconds > maxTtl) {
      fail('profile.max_ttl_seconds', `requested ${req.ttlSeconds} s exceeds the maximum ${maxTtl} s`);
    } else {
      ttlSeconds = req.ttlSeconds;
    }
  }

  throwViolations(violations);
  return { ttlSeconds, ekus, mustStaple: profile.must_staple === true || csr.mustStapleRequested, sans };
}

/**
 * The key and SAN rules of a profile applied to what a certificate will carry (issueLeaf
 * re-checks its final names with this, whatever the caller passed). Throws like
 * validateCsrAgainstProfile.
 */
export function assertKeyAndSansAllowed(
  key: PublicKeyInfo,
  sans: SubjectAltNames,
  profile: CertificateProfileRules,
): void {
  const violations: ProfileViolation[] = [];
  checkKeyAndSans(key, sans, [], profile, (rule, message) => violations.push({ rule, message: `${rule}: ${message}` }));
  throwViolations(violations);
}

function throwViolations(violations: ProfileViolation[]): void {
  if (violations.length > 0) throw invalid(violations.map((v) => v.message).join('; '), { violations });
}

function checkKeyAndSans(
  key: PublicKeyInfo,
  sans: SubjectAltNames,
  unsupportedSans: string[],
  profile: CertificateProfileRules,
  fail: (rule: string, message: string) => void,
): void {
  checkKey(key, profile.allowed_key_algorithms, fail);
  checkSans(sans, unsupportedSans, profile.san_rules ?? {}, fail);
}

function checkKey(
  key: PublicKeyInfo,
  rules: KeyAlgorithmRule[] | undefined,
  fail: (r: string, m: string) => void,
): void {
  const rule = 'profile.allowed_key_algorithms';
  if (key.algorithm === 'RSA' && key.size < MIN_RSA_BITS) {
    fail(rule, `${formatKeyInfo(key)} is below the minimum ${MIN_RSA_BITS}`);
    return;
  }
  if (!rules || rules.length === 0) return;
  const sameFamily = rules.filter((r) => keyFamily(r.algorithm, rule) === key.algorithm);
  if (sameFamily.length === 0) {
    fail(rule, `${formatKeyInfo(key)} is not allowed (allowed: ${rules.map(describeRule).join(', ')})`);
    return;
  }
  const minimum = Math.min(...sameFamily.map((r) => r.min_size ?? 0));
  if (key.size < minimum) fail(rule, `${formatKeyInfo(key)} is below the minimum ${minimum}`);
}

function keyFamily(alg: string, rule: string): PublicKeyInfo['algorithm'] {
  switch (alg.trim().toUpperCase()) {
    case 'ECDSA':
    case 'EC':
      return 'ECDSA';
    case 'RSA':
      return 'RSA';
    case 'ED25519':
      return 'Ed25519';
    default:
      throw invalid(`${rule}: unknown algorithm "${alg}" in the profile`);
  }
}

function describeRule(r: KeyAlgorithmRule): string {
  return r.min_size ? `${r.algorithm} >= ${r.min_size}` : r.algorithm;
}

function checkSans(
  sans: SubjectAltNames,
  unsupported: string[],
  rules: SanRules,
  fail: (r: string, m: string) => void,
): void {
  for (const u of unsupported) fail('profile.san_rules', `${u} SANs are not issued`);
  const patterns = rules.permitted_dns_patterns ?? [];
  if (patterns.length > 0) {
    for (const name of sans.dns) {
      if (!patterns.some((p) => dnsMatchesPattern(name, p))) {
        fail(
          'profile.san_rules.permitted_dns_patterns',
          `${name} is not permitted (permitted: ${patterns.join(', ')})`,
        );
      }
    }
  }
  if (sans.ip.length > 0 && rules.allow_ip !== true)
    fail('profile.san_rules.allow_ip', `IP SANs are not allowed (${sans.ip.join(', ')})`);
  if (sans.email.length > 0 && rules.allow_email !== true) {
    fail('profile.san_rules.allow_email', `email SANs are not allowed (${sans.email.join(', ')})`);
  }
  if (sans.uri.length > 0 && rules.allow_uri !== true)
    fail('profile.san_rules.allow_uri', `URI SANs are not allowed (${sans.uri.join(', ')})`);
  const n = sanCount(sans);
  if (rules.max_sans !== undefined && n > rules.max_sans) {
    fail('profile.san_rules.max_sans', `${n} SANs exceed the maximum ${rules.max_sans}`);
  }
}

/** The EKU OIDs a profile allows (serverAuth when it lists none). */
export function allowedEkuOids(profile: Pick<CertificateProfileRules, 'allowed_ekus'> | undefined): string[] {
  const names = profile?.allowed_ekus && profile.allowed_ekus.length > 0 ? profile.allowed_ekus : DEFAULT_EKUS;
  return [...new Set(names.map((e) => ekuOid(e, 'profile.allowed_ekus')))];
}

export function profileMaxTtl(profile: Pick<CertificateProfileRules, 'max_ttl_seconds'>): number {
  const max = profile.max_ttl_seconds;
  if (!Number.isInteger(max) || max <= 0) throw invalid('profile.max_ttl_seconds: must be a positive whole number');
  return max;
}
