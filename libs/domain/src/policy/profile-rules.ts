/**
 * Certificate profile constraints and the pure checks that enforce them: key algorithm and
 * size, SAN shapes and DNS patterns, extended key usages and the validity cap. The API
 * validates profiles with the `normalize*` functions; issuance paths (CSR signing, EST,
 * SCEP, renewal) call `checkCsrAgainstProfile` before anything reaches an issuer.
 *
 * Normalizers return `{ value, errors }`: every error names its field by a dotted path
 * (`allowed_key_algorithms.1.min_size: ...`) relative to the `path` given.
 */

export const KeyAlgorithm = { ECDSA: 'ECDSA', RSA: 'RSA', Ed25519: 'Ed25519' } as const;
export type KeyAlgorithm = (typeof KeyAlgorithm)[keyof typeof KeyAlgorithm];
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = Object.values(KeyAlgorithm);

/** ECDSA sizes are curve bits: P-256, P-384, P-521. */
export const ECDSA_CURVE_SIZES: readonly number[] = [256, 384, 521];
export const RSA_MIN_KEY_SIZE = 2048;
export const RSA_MAX_KEY_SIZE = 16384;

/** 825 days: the longest validity a profile may allow. */
export const PROFILE_MAX_TTL_SECONDS = 825 * 86_400;

export interface KeyAlgorithmRule {
  algorithm: KeyAlgorithm;
  /** Minimum key size (RSA modulus bits, ECDSA curve bits); absent for Ed25519. */
  min_size?: number;
}

export interface SanRules {
  /** Exact names (`example.com`) or one-label wildcards (`*.example.com`); empty permits any DNS name. */
  permitted_dns_patterns: string[];
  allow_ip: boolean;
  allow_email: boolean;
  allow_uri: boolean;
  /** Upper bound on the number of SANs of all kinds; null for no bound. */
  max_sans: number | null;
}

export const DEFAULT_SAN_RULES: Readonly<SanRules> = {
  permitted_dns_patterns: [],
  allow_ip: false,
  allow_email: false,
  allow_uri: false,
  max_sans: null,
};
export const SAN_RULES_MAX_PATTERNS = 200;
export const SAN_RULES_MAX_SANS = 1000;

/** The named extended key usages and their RFC 5280 OIDs. */
export const EKU_OIDS = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
} as const;
export type EkuName = keyof typeof EKU_OIDS;
export const DEFAULT_EKUS: readonly string[] = ['serverAuth'];

export interface Normalized<T> {
  value: T;
  errors: string[];
}

const join = (path: string, key: string | number): string => (path ? `${path}.${key}` : String(key));

// ---------------------------------------------------------------------------------------
// Key algorithms

/** Case-insensitive API input: `ecdsa` -> `ECDSA`; undefined for anything else. */
export function parseKeyAlgorithm(input: string): KeyAlgorithm | undefined {
  const wanted = input.trim().toLowerCase();
  return KEY_ALGORITHMS.find((a) => a.toLowerCase() === wanted);
}

const KEY_ALGORITHM_ALIASES: Record<string, KeyAlgorithm> = {
  ecdsa: 'ECDSA',
  ec: 'ECDSA',
  ecpublickey: 'ECDSA',
  rsa: 'RSA',
  rsaencryption: 'RSA',
  ed25519: 'Ed25519',
};

/** Key facts from CSRs and stored versions: also accepts `EC`, `ecPublicKey`, `rsaEncryption`. */
export function keyAlgorithmOf(raw: string): KeyAlgorithm | undefined {
  return KEY_ALGORITHM_ALIASES[raw.trim().toLowerCase()];
}

/**
 * Validates and normalizes a list of allowed key algorithms: at least one, no algorithm
 * twice; ECDSA min_size is a curve size (default 256), RSA min_size 2048..16384 (default
 * 2048), Ed25519 has a fixed size so min_size is omitted (0 or null is read as omitted).
 */
export function normalizeKeyAlgorithmRules(
  input: readonly { algorithm: string; min_size?: number | null }[],
  path = 'allowed_key_algorithms',
): Normalized<KeyAlgorithmRule[]> {
  const errors: string[] = [];
  const value: KeyAlgorithmRule[] = [];
  if (input.length === 0) errors.push(`${path}: must list at least one key algorithm`);
  const seen = new Set<KeyAlgorithm>();
  input.forEach((rule, i) => {
    const at = join(path, i);
    const algorithm = parseKeyAlgorithm(rule.algorithm);
    if (!algorithm) {
      errors.push(`${at}.algorithm: must be one of ${KEY_ALGORITHMS.join(', ')}`);
      return;
    }
    if (seen.has(algorithm)) {
      errors.push(`${at}.algorithm: ${algorithm} is listed more than once`);
      return;
    }
    seen.add(algorithm);
    const size = rule.min_size ?? undefined;
    if (size !== undefined && !Number.isInteger(size)) {
      errors.push(`${at}.min_size: must be an integer`);
      return;
    }
    switch (algorithm) {
      case 'ECDSA':
        if (size !== undefined && !ECDSA_CURVE_SIZES.includes(size)) {
          errors.push(`${at}.min_size: ECDSA sizes are curve bits: ${ECDSA_CURVE_SIZES.join(', ')}`);
          return;
        }
        value.push({ algorithm, min_size: size ?? 256 });
        return;
      case 'RSA':
        if (size !== undefined && (size < RSA_MIN_KEY_SIZE || size > RSA_MAX_KEY_SIZE)) {
          errors.push(`${at}.min_size: RSA keys must be between ${RSA_MIN_KEY_SIZE} and ${RSA_MAX_KEY_SIZE} bits`);
          return;
        }
        value.push({ algorithm, min_size: size ?? RSA_MIN_KEY_SIZE });
        return;
      case 'Ed25519':
        if (size !== undefined && size !== 0) {
          errors.push(`${at}.min_size: must be omitted for Ed25519 (its key size is fixed)`);
          return;
        }
        value.push({ algorithm });
        return;
    }
  });
  return { value, errors };
}

/** A public key as read from a CSR or certificate: algorithm name and size in bits. */
export interface KeyFacts {
  algorithm: string;
  /** RSA modulus bits or ECDSA curve bits; ignored for Ed25519. */
  size: number;
}

/**
 * Why the key is not allowed by the rules, or undefined when it is. RSA keys below
 * RSA_MIN_KEY_SIZE are refused whatever a rule's min_size says.
 */
export function checkKey(key: KeyFacts, allowed: readonly KeyAlgorithmRule[]): string | undefined {
  const algorithm = keyAlgorithmOf(key.algorithm);
  if (!algorithm) return `key algorithm ${JSON.stringify(key.algorithm)} is not recognised`;
  const rule = allowed.find((r) => r.algorithm === algorithm);
  if (!rule) {
    return `key algorithm ${algorithm} is not allowed (allowed: ${allowed.map((r) => r.algorithm).join(', ')})`;
  }
  switch (algorithm) {
    case 'Ed25519':
      return undefined;
    case 'ECDSA': {
      if (!ECDSA_CURVE_SIZES.includes(key.size)) return `ECDSA curve size ${key.size} is not a supported curve`;
      const min = rule.min_size ?? 256;
      return key.size < min ? `ECDSA P-${key.size} key is below the minimum curve size ${min}` : undefined;
    }
    case 'RSA': {
      const min = Math.max(rule.min_size ?? RSA_MIN_KEY_SIZE, RSA_MIN_KEY_SIZE);
      return key.size < min ? `RSA ${key.size}-bit key is below the minimum of ${min} bits` : undefined;
    }
  }
}

// ---------------------------------------------------------------------------------------
// DNS names and patterns

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function dnsNameError(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 253) return 'is longer than 253 characters';
  if (name.endsWith('.')) return 'must not end with a dot';
  const labels = name.split('.');
  const bad = labels.find((l) => !LABEL.test(l));
  if (bad !== undefined) {
    return bad === ''
      ? 'has an empty label'
      : `label ${JSON.stringify(bad)} must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen`;
  }
  return undefined;
}

/** Lowercases and drops one trailing dot (`Example.COM.` -> `example.com`). */
export function normalizeDnsName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/**
 * A DNS SAN as it may appear in a certificate: a hostname, or a wildcard whose `*` is the
 * whole leftmost label over at least two labels (`*.example.com`; not `*.com`, `f*.x.com`).
 */
export function isValidDnsName(raw: string): boolean {
  const name = normalizeDnsName(raw);
  if (name.startsWith('*.')) {
    const base = name.slice(2);
    return dnsNameError(base) === undefined && base.includes('.');
  }
  return dnsNameError(name) === undefined;
}

/**
 * Why a permitted-DNS pattern is malformed, or undefined. Patterns are exact names or a
 * `*.` prefix over at least two labels; a `*` anywhere else is refused.
 */
export function dnsPatternError(pattern: string): string | undefined {
  const p = pattern.trim().toLowerCase();
  if (p.startsWith('*.')) {
    const base = p.slice(2);
    if (base.includes('*')) return 'may contain only one wildcard, as the whole leftmost label';
    const err = dnsNameError(base);
    if (err) return err;
    if (!base.includes('.')) return 'a wildcard must sit over at least two labels (e.g. *.example.com)';
    return undefined;
  }
  if (p.includes('*')) return 'a wildcard must be the whole leftmost label (e.g. *.example.com)';
  return dnsNameError(p);
}

/**
 * Whether a DNS SAN is covered by a pattern. `example.com` matches only itself;
 * `*.example.com` matches exactly one further label (`a.example.com`, and the wildcard SAN
 * `*.example.com` itself), never `example.com` or `a.b.example.com`. Case-insensitive.
 */
export function sanMatchesDnsPattern(san: string, pattern: string): boolean {
  const name = normalizeDnsName(san);
  const p = pattern.trim().toLowerCase();
  if (!p.startsWith('*.')) return name === p;
  const suffix = p.slice(1); // ".example.com"
  if (!name.endsWith(suffix)) return false;
  const head = name.slice(0, name.length - suffix.length);
  return head.length > 0 && !head.includes('.');
}

/** SAN rules with every absent field at its DEFAULT_SAN_RULES value (no validation). */
export function sanRulesWithDefaults(input: Partial<SanRules>): SanRules {
  return {
    permitted_dns_patterns: input.permitted_dns_patterns ?? [...DEFAULT_SAN_RULES.permitted_dns_patterns],
    allow_ip: input.allow_ip ?? DEFAULT_SAN_RULES.allow_ip,
    allow_email: input.allow_email ?? DEFAULT_SAN_RULES.allow_email,
    allow_uri: input.allow_uri ?? DEFAULT_SAN_RULES.allow_uri,
    max_sans: input.max_sans ?? DEFAULT_SAN_RULES.max_sans,
  };
}

export function normalizeSanRules(input: Partial<SanRules>, path = 'san_rules'): Normalized<SanRules> {
  const errors: string[] = [];
  const patterns: string[] = [];
  const raw = input.permitted_dns_patterns ?? [];
  if (raw.length > SAN_RULES_MAX_PATTERNS) {
    errors.push(`${path}.permitted_dns_patterns: at most ${SAN_RULES_MAX_PATTERNS} patterns`);
  }
  raw.forEach((p, i) => {
    const at = join(join(path, 'permitted_dns_patterns'), i);
    const err = dnsPatternError(p);
    const n = p.trim().toLowerCase();
    if (err) errors.push(`${at}: ${JSON.stringify(p)} ${err}`);
    else if (patterns.includes(n)) errors.push(`${at}: ${JSON.stringify(p)} is listed more than once`);
    else patterns.push(n);
  });
  const maxSans = input.max_sans ?? null;
  if (maxSans !== null && (!Number.isInteger(maxSans) || maxSans < 1 || maxSans > SAN_RULES_MAX_SANS)) {
    errors.push(`${path}.max_sans: must be an integer between 1 and ${SAN_RULES_MAX_SANS}`);
  }
  return { value: { ...sanRulesWithDefaults(input), permitted_dns_patterns: patterns, max_sans: maxSans }, errors };
}

/** The subject alternative names of a request, by kind. */
export interface SanFacts {
  dns?: readonly string[];
  ip?: readonly string[];
  email?: readonly string[];
  uri?: readonly string[];
}

/**
 * One way a request breaks a profile: the profile field it breaks, as a dotted path
 * (`allowed_key_algorithms`, `san_rules.allow_ip`; `san_rules` for a malformed SAN), and why.
 */
export interface ProfileViolation {
  rule: string;
  message: string;
}

/** Every way the SANs break the rules, each with the rule it breaks (empty when they comply). */
export function sanViolations(sans: SanFacts, rules: SanRules): ProfileViolation[] {
  const problems: ProfileViolation[] = [];
  const fail = (rule: string, message: string) => problems.push({ rule: `san_rules${rule}`, message });
  const dns = sans.dns ?? [];
  const total = dns.length + (sans.ip?.length ?? 0) + (sans.email?.length ?? 0) + (sans.uri?.length ?? 0);
  if (rules.max_sans !== null && total > rules.max_sans) {
    fail('.max_sans', `${total} SANs exceed the profile maximum of ${rules.max_sans}`);
  }
  for (const name of dns) {
    if (!isValidDnsName(name)) {
      fail('', `DNS SAN ${JSON.stringify(name)} is not a valid DNS name`);
    } else if (
      rules.permitted_dns_patterns.length > 0 &&
      !rules.permitted_dns_patterns.some((p) => sanMatchesDnsPattern(name, p))
    ) {
      fail(
        '.permitted_dns_patterns',
        `DNS SAN ${JSON.stringify(name)} is not permitted (permitted: ${rules.permitted_dns_patterns.join(', ')})`,
      );
    }
  }
  if (sans.ip?.length && !rules.allow_ip) fail('.allow_ip', 'IP address SANs are not allowed by the profile');
  if (sans.email?.length && !rules.allow_email) fail('.allow_email', 'email SANs are not allowed by the profile');
  if (sans.uri?.length && !rules.allow_uri) fail('.allow_uri', 'URI SANs are not allowed by the profile');
  return problems;
}

/** Every way the SANs break the rules (empty when they comply). */
export function checkSans(sans: SanFacts, rules: SanRules): string[] {
  return sanViolations(sans, rules).map((v) => v.message);
}

// ---------------------------------------------------------------------------------------
// Extended key usages

const OID = /^[0-2](\.(0|[1-9][0-9]{0,19})){1,63}$/;
const EKU_NAMES = Object.keys(EKU_OIDS) as EkuName[];

/**
 * The canonical form of an EKU: a known name case-insensitively (`serverauth` ->
 * `serverAuth`), the name of a known OID (`1.3.6.1.5.5.7.3.1` -> `serverAuth`), or any
 * other well-formed dotted OID as given. Undefined when it is neither.
 */
export function normalizeEku(input: string): string | undefined {
  const v = input.trim();
  const byName = EKU_NAMES.find((n) => n.toLowerCase() === v.toLowerCase());
  if (byName) return byName;
  if (v.length > 128 || !OID.test(v)) return undefined;
  const [first, second] = v.split('.').map(Number) as [number, number];
  if (first < 2 && second > 39) return undefined;
  return EKU_NAMES.find((n) => EKU_OIDS[n] === v) ?? v;
}

export function normalizeEkus(input: readonly string[], path = 'allowed_ekus'): Normalized<string[]> {
  const errors: string[] = [];
  const value: string[] = [];
  if (input.length === 0) errors.push(`${path}: must list at least one extended key usage`);
  input.forEach((raw, i) => {
    const eku = normalizeEku(raw);
    if (!eku) {
      errors.push(`${join(path, i)}: ${JSON.stringify(raw)} is neither ${EKU_NAMES.join(', ')} nor a dotted OID`);
    } else if (value.includes(eku)) {
      errors.push(`${join(path, i)}: ${JSON.stringify(raw)} is listed more than once`);
    } else {
      value.push(eku);
    }
  });
  return { value, errors };
}

/** The OID of an EKU given by name (case-insensitive) or as a dotted OID; undefined when it is neither. */
export function ekuOidOf(input: string): string | undefined {
  const eku = normalizeEku(input);
  return eku !== undefined && EKU_NAMES.includes(eku as EkuName) ? EKU_OIDS[eku as EkuName] : eku;
}

/** Requested EKUs the profile does not allow (names or OIDs, compared canonically). */
export function checkEkus(requested: readonly string[], allowed: readonly string[]): string[] {
  const permitted = new Set(allowed.map((e) => normalizeEku(e) ?? e));
  return requested
    .filter((e) => !permitted.has(normalizeEku(e) ?? e))
    .map((e) => `extended key usage ${JSON.stringify(e)} is not allowed (allowed: ${allowed.join(', ')})`);
}

// ---------------------------------------------------------------------------------------
// The whole profile

export interface ProfileConstraints {
  allowed_key_algorithms: readonly KeyAlgorithmRule[];
  max_ttl_seconds: number;
  allowed_ekus: readonly string[];
  san_rules: SanRules;
}

/** What an issuance request asks for, as parsed from its CSR and parameters. */
export interface CsrFacts {
  key: KeyFacts;
  sans: SanFacts;
  /** Requested EKUs; absent when the request asks for none (the profile's apply). */
  ekus?: readonly string[];
  /** Requested validity; absent when the issuer picks (capped at max_ttl_seconds). */
  ttl_seconds?: number;
}

/**
 * Every reason the request breaks the profile, each with the profile field it breaks, in
 * the order key, SANs, EKUs, validity; empty when it complies.
 */
export function profileViolations(csr: CsrFacts, profile: ProfileConstraints): ProfileViolation[] {
  const problems: ProfileViolation[] = [];
  const keyProblem = checkKey(csr.key, profile.allowed_key_algorithms);
  if (keyProblem) problems.push({ rule: 'allowed_key_algorithms', message: keyProblem });
  problems.push(...sanViolations(csr.sans, profile.san_rules));
  if (csr.ekus) {
    for (const message of checkEkus(csr.ekus, profile.allowed_ekus)) problems.push({ rule: 'allowed_ekus', message });
  }
  if (csr.ttl_seconds !== undefined && csr.ttl_seconds > profile.max_ttl_seconds) {
    problems.push({
      rule: 'max_ttl_seconds',
      message: `requested validity of ${csr.ttl_seconds} s exceeds the profile maximum of ${profile.max_ttl_seconds} s`,
    });
  }
  return problems;
}

/** Every reason the request breaks the profile; empty when it complies. */
export function checkCsrAgainstProfile(csr: CsrFacts, profile: ProfileConstraints): string[] {
  return profileViolations(csr, profile).map((v) => v.message);
}
