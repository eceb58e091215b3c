import type { PolicyRuleType, Severity } from '../inventory/enums';
import { checkKey, normalizeKeyAlgorithmRules, type KeyAlgorithmRule } from './profile-rules';

/**
 * Compliance rules evaluated against managed certificates. Each rule type has a config
 * shape (validated and normalized on write by `normalizePolicyRuleConfig`) and a check
 * (`compilePolicyRule`) that turns certificate facts into a violation message or nothing.
 * Everything here is pure: the server reads the facts and stores the findings.
 */

export interface PolicyRuleConfigs {
  KeyAlgorithm: { allowed: KeyAlgorithmRule[] };
  MaxValidity: { max_days: number };
  RequiredSanPattern: { pattern: string };
  ForbiddenWildcard: Record<string, never>;
  OwnerRequired: Record<string, never>;
  AllowedIssuers: { issuer_ids: string[] };
  AllowedEnvironments: { environments: string[] };
  RequiredTags: { tags: string[] };
}
export type PolicyRuleConfig = PolicyRuleConfigs[PolicyRuleType];

export const POLICY_MAX_VALIDITY_DAYS = 3650;
export const POLICY_LIST_MAX_ITEMS = 200;
export const POLICY_PATTERN_MAX_LENGTH = 512;
/** Unbounded quantifiers (`*`, `+`, `{n,}`) a RequiredSanPattern may use. */
export const POLICY_PATTERN_MAX_UNBOUNDED = 4;

export interface PolicyRuleSpec {
  id: string;
  type: PolicyRuleType;
  config: Record<string, unknown>;
  severity: Severity;
  enabled: boolean;
}

/** What a rule can see of a certificate (its row plus its latest issued version, if any). */
export interface CertificateFacts {
  common_name: string;
  sans: readonly string[];
  environment: string;
  owner_id: string | null;
  issuer_id: string | null;
  tags: Record<string, unknown>;
  /** From the latest version; null before the first issuance or when not recorded. */
  key: { algorithm: string; size: number } | null;
  validity: { not_before: Date; not_after: Date } | null;
}

export interface PolicyFinding {
  rule_id: string;
  message: string;
  severity: Severity;
}

// ---------------------------------------------------------------------------------------
// Config validation

type Result = { config: Record<string, unknown>; errors: string[] };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownKeys(config: Record<string, unknown>, allowed: readonly string[], path: string): string[] {
  return Object.keys(config)
    .filter((k) => !allowed.includes(k))
    .map((k) => `${path}.${k}: unknown field (allowed: ${allowed.length ? allowed.join(', ') : 'none'})`);
}

/**
 * A non-empty list of distinct non-blank strings (trimmed). `caseInsensitive` makes
 * `Prod` and `prod` duplicates; `pattern` constrains each item.
 */
function stringList(
  value: unknown,
  path: string,
  opts: { caseInsensitive?: boolean; pattern?: RegExp; patternHint?: string; maxLength?: number } = {},
): { value: string[]; errors: string[] } {
  if (!Array.isArray(value)) return { value: [], errors: [`${path}: must be an array of strings`] };
  const errors: string[] = [];
  const out: string[] = [];
  if (value.length === 0) errors.push(`${path}: must not be empty`);
  if (value.length > POLICY_LIST_MAX_ITEMS) errors.push(`${path}: at most ${POLICY_LIST_MAX_ITEMS} items`);
  const maxLength = opts.maxLength ?? 200;
  value.forEach((item, i) => {
    const at = `${path}.${i}`;
    if (typeof item !== 'string') return errors.push(`${at}: must be a string`);
    const v = item.trim();
    if (v === '') return errors.push(`${at}: must not be blank`);
    if (v.length > maxLength) return errors.push(`${at}: must be at most ${maxLength} characters`);
    if (opts.pattern && !opts.pattern.test(v)) return errors.push(`${at}: ${opts.patternHint ?? 'malformed'}`);
    const key = opts.caseInsensitive ? v.toLowerCase() : v;
    if (out.some((o) => (opts.caseInsensitive ? o.toLowerCase() : o) === key)) {
      return errors.push(`${at}: ${JSON.stringify(v)} is listed more than once`);
    }
    out.push(v);
  });
  return { value: out, errors };
}

/**
 * Why a RequiredSanPattern is unsafe or malformed, or undefined. Patterns are JavaScript
 * regular expressions over one DNS name; we anchor them (`^(?:…)$`) and match
 * case-insensitively. To keep evaluation linear-ish over every certificate, patterns may
 * not back-reference, nest a quantifier inside a repeated group (`(a+)+`), or use more
 * than POLICY_PATTERN_MAX_UNBOUNDED unbounded quantifiers.
 */
export function requiredSanPatternError(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > POLICY_PATTERN_MAX_LENGTH) return `must be at most ${POLICY_PATTERN_MAX_LENGTH} characters`;
  try {
    // Compiled on its own first: an unbalanced `a)|(b` would otherwise escape our anchors.
    new RegExp(pattern);
  } catch (e) {
    return `not a valid regular expression (${(e as Error).message})`;
  }
  // frames: one per open group; `quantified` = something inside repeats.
  const frames: { quantified: boolean }[] = [{ quantified: false }];
  let unbounded = 0;
  let i = 0;
  /** Reads a quantifier at `at`; returns its length and whether it is unbounded / repeating. */
  const quantifierAt = (at: number): { len: number; unbounded: boolean; repeats: boolean } | undefined => {
    const c = pattern[at];
    let len = 0;
    let result: { unbounded: boolean; repeats: boolean } | undefined;
    if (c === '*' || c === '+') {
      len = 1;
      result = { unbounded: true, repeats: true };
    } else if (c === '?') {
      len = 1;
      result = { unbounded: false, repeats: false };
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(at));
      if (!m) return undefined;
      len = m[0].length;
      const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      result = { unbounded: max === Infinity, repeats: max > 1 };
    }
    if (!result) return undefined;
    if (pattern[at + len] === '?') len += 1; // lazy
    return { len, ...result };
  };
  while (i < pattern.length) {
    const c = pattern[i];
    let atomEnd = i + 1;
    let innerQuantified = false;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || (next === 'k' && pattern[i + 2] === '<')) return 'back-references are not allowed';
      atomEnd = i + 2;
    } else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j += 1;
      if (pattern[j] === ']') j += 1;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      atomEnd = j + 1;
    } else if (c === '(') {
      frames.push({ quantified: false });
      i += 1;
      continue;
    } else if (c === ')') {
      const closed = frames.pop()!;
      innerQuantified = closed.quantified;
    } else if (c === '|' || c === '^' || c === '$') {
      i += 1;
      continue;
    }
    const q = quantifierAt(atomEnd);
    const frame = frames[frames.length - 1];
    if (q) {
      if (innerQuantified && q.repeats) return 'a repeated group may not contain another quantifier, e.g. (a+)+';
      if (q.unbounded) unbounded += 1;
      frame.quantified = true;
      i = atomEnd + q.len;
    } else {
      if (innerQuantified) frame.quantified = true;
      i = atomEnd;
    }
  }
  if (unbounded > POLICY_PATTERN_MAX_UNBOUNDED) {
    return `uses ${unbounded} unbounded quantifiers (*, +, {n,}); at most ${POLICY_PATTERN_MAX_UNBOUNDED}`;
  }
  return undefined;
}

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const TAG_KEY = /^[\w.:/-]{1,128}$/;

/**
 * Validates a rule's config for its type and returns the normalized config to store.
 * `path` prefixes every error (`config.max_days: …`).
 */
export function normalizePolicyRuleConfig(type: PolicyRuleType, raw: unknown, path = 'config'): Result {
  if (!isPlainObject(raw)) return { config: {}, errors: [`${path}: must be an object`] };
  switch (type) {
    case 'KeyAlgorithm': {
      const errors = unknownKeys(raw, ['allowed'], path);
      const allowed = raw.allowed;
      if (!Array.isArray(allowed)) return { config: {}, errors: [...errors, `${path}.allowed: must be an array`] };
      const shapeErrors: string[] = [];
      const items = allowed.map((a, i) => {
        if (!isPlainObject(a) || typeof a.algorithm !== 'string') {
          shapeErrors.push(`${path}.allowed.${i}: must be {algorithm, min_size}`);
          return { algorithm: '' };
        }
        shapeErrors.push(...unknownKeys(a, ['algorithm', 'min_size'], `${path}.allowed.${i}`));
        if (a.min_size !== undefined && a.min_size !== null && typeof a.min_size !== 'number') {
          shapeErrors.push(`${path}.allowed.${i}.min_size: must be an integer`);
        }
        return { algorithm: a.algorithm, min_size: typeof a.min_size === 'number' ? a.min_size : undefined };
      });
      if (shapeErrors.length) return { config: {}, errors: [...errors, ...shapeErrors] };
      const n = normalizeKeyAlgorithmRules(items, `${path}.allowed`);
      return { config: { allowed: n.value }, errors: [...errors, ...n.errors] };
    }
    case 'MaxValidity': {
      const errors = unknownKeys(raw, ['max_days'], path);
      const d = raw.max_days;
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > POLICY_MAX_VALIDITY_DAYS) {
        errors.push(`${path}.max_days: must be an integer between 1 and ${POLICY_MAX_VALIDITY_DAYS}`);
      }
      return { config: { max_days: d }, errors };
    }
    case 'RequiredSanPattern': {
      const errors = unknownKeys(raw, ['pattern'], path);
      const p = raw.pattern;
      if (typeof p !== 'string') {
        errors.push(`${path}.pattern: must be a string (a regular expression)`);
      } else {
        const err = requiredSanPatternError(p);
        if (err) errors.push(`${path}.pattern: ${err}`);
      }
      return { config: { pattern: p }, errors };
    }
    case 'ForbiddenWildcard':
    case 'OwnerRequired':
      return { config: {}, errors: unknownKeys(raw, [], path) };
    case 'AllowedIssuers': {
      const errors = unknownKeys(raw, ['issuer_ids'], path);
      const l = stringList(raw.issuer_ids, `${path}.issuer_ids`, {
        pattern: ID_PATTERN,
        patternHint: 'must be an issuer id (lowercase letters, digits, . _ -)',
        maxLength: 128,
      });
      return { config: { issuer_ids: l.value }, errors: [...errors, ...l.errors] };
    }
    case 'AllowedEnvironments': {
      const errors = unknownKeys(raw, ['environments'], path);
      const l = stringList(raw.environments, `${path}.environments`, { caseInsensitive: true });
      return { config: { environments: l.value }, errors: [...errors, ...l.errors] };
    }
    case 'RequiredTags': {
      const errors = unknownKeys(raw, ['tags'], path);
      const l = stringList(raw.tags, `${path}.tags`, {
        pattern: TAG_KEY,
        patternHint: 'must be a tag key (letters, digits, _ . : / -)',
        maxLength: 128,
      });
      return { config: { tags: l.value }, errors: [...errors, ...l.errors] };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Evaluation

/** Checks one certificate; returns the violation message, or undefined when it complies. */
export type RuleCheck = (facts: CertificateFacts) => string | undefined;

const LIST_SHOWN = 5;
function listed(items: readonly string[]): string {
  const shown = items.slice(0, LIST_SHOWN).join(', ');
  return items.length > LIST_SHOWN ? `${shown} and ${items.length - LIST_SHOWN} more` : shown;
}

/** The certificate's names: the common name (when set) and its SANs, lowercased, distinct. */
export function certificateNames(facts: Pick<CertificateFacts, 'common_name' | 'sans'>): string[] {
  const names = [facts.common_name, ...facts.sans].map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  return [...new Set(names)];
}

const DAY_MS = 86_400_000;

/**
 * Compiles a rule once (regexes and lookups) for evaluation against many certificates.
 * Returns undefined for a config that no longer validates, which evaluates as no finding.
 */
export function compilePolicyRule(rule: Pick<PolicyRuleSpec, 'type' | 'config'>): RuleCheck | undefined {
  const { config, errors } = normalizePolicyRuleConfig(rule.type, rule.config);
  if (errors.length) return undefined;
  switch (rule.type) {
    case 'KeyAlgorithm': {
      const allowed = (config as PolicyRuleConfigs['KeyAlgorithm']).allowed;
      return (f) => (f.key && f.key.algorithm !== '' ? checkKey(f.key, allowed) : undefined);
    }
    case 'MaxValidity': {
      const maxDays = (config as PolicyRuleConfigs['MaxValidity']).max_days;
      return (f) => {
        if (!f.validity) return undefined;
        const ms = f.validity.not_after.getTime() - f.validity.not_before.getTime();
        if (ms <= maxDays * DAY_MS) return undefined;
        return `validity of ${Math.round((ms / DAY_MS) * 10) / 10} days exceeds the maximum of ${maxDays} days`;
      };
    }
    case 'RequiredSanPattern': {
      const pattern = (config as PolicyRuleConfigs['RequiredSanPattern']).pattern;
      const re = new RegExp(`^(?:${pattern})$`, 'i');
      return (f) => {
        // DNS names are at most 253 characters; longer text cannot be a conforming name.
        const bad = certificateNames(f).filter((n) => n.length > 253 || !re.test(n));
        return bad.length ? `names not matching the required pattern ${pattern}: ${listed(bad)}` : undefined;
      };
    }
    case 'ForbiddenWildcard':
      return (f) => {
        const wild = certificateNames(f).filter((n) => n.includes('*'));
        return wild.length ? `wildcard names are forbidden: ${listed(wild)}` : undefined;
      };
    case 'OwnerRequired':
      return (f) => (f.owner_id ? undefined : 'certificate has no owner');
    case 'AllowedIssuers': {
      const ids = (config as PolicyRuleConfigs['AllowedIssuers']).issuer_ids;
      return (f) => {
        if (!f.issuer_id) return 'certificate has no issuer';
        return ids.includes(f.issuer_id)
          ? undefined
          : `issuer ${JSON.stringify(f.issuer_id)} is not allowed (allowed: ${listed(ids)})`;
      };
    }
    case 'AllowedEnvironments': {
      const envs = (config as PolicyRuleConfigs['AllowedEnvironments']).environments;
      const wanted = new Set(envs.map((e) => e.toLowerCase()));
      return (f) => {
        const env = f.environment.trim();
        if (env === '') return 'certificate has no environment';
        return wanted.has(env.toLowerCase())
          ? undefined
          : `environment ${JSON.stringify(env)} is not allowed (allowed: ${listed(envs)})`;
      };
    }
    case 'RequiredTags': {
      const tags = (config as PolicyRuleConfigs['RequiredTags']).tags;
      return (f) => {
        const missing = tags.filter((t) => {
          const v = f.tags[t];
          return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
        });
        return missing.length ? `missing required tags: ${listed(missing)}` : undefined;
      };
    }
  }
}

/** Evaluates every enabled rule against one certificate, in the order given. */
export function evaluatePolicyRules(facts: CertificateFacts, rules: readonly PolicyRuleSpec[]): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  for (const rule of rules) {
    if (!rule.enabled) continue;
    const message = compilePolicyRule(rule)?.(facts);
    if (message !== undefined) findings.push({ rule_id: rule.id, message, severity: rule.severity });
  }
  return findings;
}
