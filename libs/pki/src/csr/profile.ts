import {
  DEFAULT_EKUS,
  invalid,
  profileViolations,
  sanRulesWithDefaults,
  type CsrFacts,
  type ProfileConstraints,
  type ProfileViolation,
  type SanRules,
} from '@certctl/domain';
import type { PublicKeyInfo } from '../keys/keys';
import { ekuName, ekuOid } from './eku';
import type { ParsedCsr } from './parse-csr';
import { effectiveSans, type SubjectAltNames } from './san';

export type { ProfileViolation } from '@certctl/domain';

/**
 * The policy columns of a `certificate_profiles` row (same names and shapes): the domain's
 * ProfileConstraints (libs/domain/src/policy/profile-rules.ts) plus must_staple; absent SAN
 * rule fields take their DEFAULT_SAN_RULES values (no IP/email/URI SANs, no bound).
 */
export type CertificateProfileRules = Omit<ProfileConstraints, 'san_rules'> & {
  san_rules?: Partial<SanRules>;
  must_staple?: boolean;
};

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

/**
 * Checks a verified CSR against a profile with the domain's profile rules (checks on the
 * SANs the certificate will carry, a host-name CN included). Every rule is evaluated; on
 * failure one DomainError(Validation) is thrown whose message lists each violation prefixed
 * with the rule (`profile.allowed_key_algorithms: RSA 1024-bit key is below the minimum of
 * 2048 bits`) and whose details carry `{violations: [{rule, message}]}`. On success returns
 * what to issue.
 */
export function validateCsrAgainstProfile(
  csr: ParsedCsr,
  profile: CertificateProfileRules,
  req: CsrRequestOptions = {},
): ProfileDecision {
  const sans = effectiveSans(csr.commonName, csr.sans);
  const allowedEkus = allowedEkuOids(profile);
  const wanted = req.ekus ?? (csr.requestedEkus.length > 0 ? csr.requestedEkus : undefined);
  const ekus = wanted === undefined ? allowedEkus : [...new Set(wanted.map((e) => ekuOid(e, 'ekus')))];
  const maxTtl = profileMaxTtl(profile);
  const ttl = req.ttlSeconds;
  const ttlValid = ttl === undefined || (Number.isInteger(ttl) && ttl > 0);

  const violations = [
    ...csr.unsupportedSans.map((u) => violation('profile.san_rules', `${u} SANs are not issued`)),
    ...checkProfile(
      { key: csr.publicKey, sans, ekus: wanted && ekus.map(ekuName), ttl_seconds: ttlValid ? ttl : undefined },
      { ...profile, allowed_ekus: allowedEkus.map(ekuName) },
    ),
  ];
  if (!ttlValid) violations.push(violation('ttl_seconds', 'must be a positive whole number of seconds'));
  throwViolations(violations);
  return { ttlSeconds: ttl ?? maxTtl, ekus, mustStaple: profile.must_staple === true || csr.mustStapleRequested, sans };
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
  throwViolations(checkProfile({ key, sans }, profile));
}

/** The domain's violations with the rule prefixed `profile.`, in message and rule. */
function checkProfile(facts: CsrFacts, profile: CertificateProfileRules): ProfileViolation[] {
  const constraints: ProfileConstraints = { ...profile, san_rules: sanRulesWithDefaults(profile.san_rules ?? {}) };
  return profileViolations(facts, constraints).map((v) => violation(`profile.${v.rule}`, v.message));
}

function violation(rule: string, message: string): ProfileViolation {
  return { rule, message: `${rule}: ${message}` };
}

function throwViolations(violations: ProfileViolation[]): void {
  if (violations.length > 0) throw invalid(violations.map((v) => v.message).join('; '), { violations });
}

/** The EKU OIDs a profile allows (the domain's DEFAULT_EKUS when it lists none). */
export function allowedEkuOids(profile: Pick<CertificateProfileRules, 'allowed_ekus'> | undefined): string[] {
  const names = profile?.allowed_ekus && profile.allowed_ekus.length > 0 ? profile.allowed_ekus : DEFAULT_EKUS;
  return [...new Set(names.map((e) => ekuOid(e, 'profile.allowed_ekus')))];
}

export function profileMaxTtl(profile: Pick<CertificateProfileRules, 'max_ttl_seconds'>): number {
  const max = profile.max_ttl_seconds;
  if (!Number.isInteger(max) || max <= 0) throw invalid('profile.max_ttl_seconds: must be a positive whole number');
  return max;
}
