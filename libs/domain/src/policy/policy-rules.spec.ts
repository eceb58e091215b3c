import type { PolicyRuleType, Severity } from '../inventory/enums';
import {
  certificateNames,
  compilePolicyRule,
  evaluatePolicyRules,
  normalizePolicyRuleConfig,
  requiredSanPatternError,
  type CertificateFacts,
  type PolicyRuleSpec,
} from './policy-rules';

const DAY = 86_400_000;
const base: CertificateFacts = {
  common_name: 'api.example.com',
  sans: ['api.example.com', 'www.example.com'],
  environment: 'production',
  owner_id: 'o-alice',
  issuer_id: 'iss-local',
  tags: { cost_center: 'cc-1', app: 'api' },
  key: { algorithm: 'ECDSA', size: 256 },
  validity: {
    not_before: new Date('2030-01-01T00:00:00Z'),
    not_after: new Date(Date.parse('2030-01-01T00:00:00Z') + 90 * DAY),
  },
};

const check = (type: PolicyRuleType, config: Record<string, unknown>, facts: Partial<CertificateFacts> = {}) => {
  const c = compilePolicyRule({ type, config });
  if (!c) throw new Error(`config did not validate: ${JSON.stringify(config)}`);
  return c({ ...base, ...facts });
};

describe('normalizePolicyRuleConfig', () => {
  it('accepts and normalizes each type', () => {
    expect(
      normalizePolicyRuleConfig('KeyAlgorithm', {
        allowed: [{ algorithm: 'rsa', min_size: 3072 }, { algorithm: 'ed25519' }],
      }),
    ).toEqual({
      config: { allowed: [{ algorithm: 'RSA', min_size: 3072 }, { algorithm: 'Ed25519' }] },
      errors: [],
    });
    expect(normalizePolicyRuleConfig('MaxValidity', { max_days: 397 })).toEqual({
      config: { max_days: 397 },
      errors: [],
    });
    expect(normalizePolicyRuleConfig('RequiredSanPattern', { pattern: '[a-z0-9-]+\\.example\\.com' }).errors).toEqual(
      [],
    );
    expect(normalizePolicyRuleConfig('ForbiddenWildcard', {})).toEqual({ config: {}, errors: [] });
    expect(normalizePolicyRuleConfig('OwnerRequired', {})).toEqual({ config: {}, errors: [] });
    expect(normalizePolicyRuleConfig('AllowedIssuers', { issuer_ids: [' iss-a ', 'iss-b'] })).toEqual({
      config: { issuer_ids: ['iss-a', 'iss-b'] },
      errors: [],
    });
    expect(normalizePolicyRuleConfig('AllowedEnvironments', { environments: ['prod', 'Staging'] }).config).toEqual({
      environments: ['prod', 'Staging'],
    });
    expect(normalizePolicyRuleConfig('RequiredTags', { tags: ['cost_center', 'app'] }).config).toEqual({
      tags: ['cost_center', 'app'],
    });
  });

  it('names the field of each error', () => {
    expect(normalizePolicyRuleConfig('MaxValidity', { max_days: 0 }).errors).toEqual([
      'config.max_days: must be an integer between 1 and 3650',
    ]);
    expect(normalizePolicyRuleConfig('MaxValidity', { max_days: '30' }).errors).toHaveLength(1);
    expect(normalizePolicyRuleConfig('MaxValidity', {}).errors).toHaveLength(1);
    expect(normalizePolicyRuleConfig('MaxValidity', { max_days: 30, extra: 1 }).errors).toEqual([
      'config.extra: unknown field (allowed: max_days)',
    ]);
    expect(normalizePolicyRuleConfig('OwnerRequired', { x: 1 }).errors).toEqual([
      'config.x: unknown field (allowed: none)',
    ]);
    expect(normalizePolicyRuleConfig('RequiredSanPattern', { pattern: '(' }).errors[0]).toMatch(
      /^config\.pattern: not a valid regular expression/,
    );
    expect(normalizePolicyRuleConfig('RequiredSanPattern', {}).errors).toEqual([
      'config.pattern: must be a string (a regular expression)',
    ]);
    expect(normalizePolicyRuleConfig('AllowedIssuers', { issuer_ids: [] }).errors).toEqual([
      'config.issuer_ids: must not be empty',
    ]);
    expect(normalizePolicyRuleConfig('AllowedIssuers', { issuer_ids: ['Bad Id', 'a', 'a', 5] }).errors).toEqual([
      'config.issuer_ids.0: must be an issuer id (lowercase letters, digits, . _ -)',
      'config.issuer_ids.2: "a" is listed more than once',
      'config.issuer_ids.3: must be a string',
    ]);
    expect(normalizePolicyRuleConfig('AllowedEnvironments', { environments: ['prod', 'PROD', ' '] }).errors).toEqual([
      'config.environments.1: "PROD" is listed more than once',
      'config.environments.2: must not be blank',
    ]);
    expect(normalizePolicyRuleConfig('RequiredTags', { tags: 'app' }).errors).toEqual([
      'config.tags: must be an array of strings',
    ]);
    expect(
      normalizePolicyRuleConfig('KeyAlgorithm', { allowed: [{ algorithm: 'ECDSA', min_size: 200 }] }).errors,
    ).toEqual(['config.allowed.0.min_size: ECDSA sizes are curve bits: 256, 384, 521']);
    expect(normalizePolicyRuleConfig('KeyAlgorithm', { allowed: ['RSA'] }).errors).toEqual([
      'config.allowed.0: must be {algorithm, min_size}',
    ]);
    expect(normalizePolicyRuleConfig('KeyAlgorithm', { allowed: [{ algorithm: 'RSA', bits: 1 }] }).errors).toEqual([
      'config.allowed.0.bits: unknown field (allowed: algorithm, min_size)',
    ]);
    expect(normalizePolicyRuleConfig('KeyAlgorithm', []).errors).toEqual(['config: must be an object']);
  });
});

describe('requiredSanPatternError', () => {
  it('accepts ordinary host patterns', () => {
    for (const ok of [
      '[a-z0-9-]+\\.example\\.com',
      '(api|www)\\.example\\.com',
      '(?:[a-z]+-)?svc\\.internal',
      '.*\\.corp\\.example\\.com',
      '[a-z]{2,8}-[0-9]{1,3}\\.example\\.com',
      '(?=.*prod).*',
    ]) {
      expect({ ok, err: requiredSanPatternError(ok) }).toEqual({ ok, err: undefined });
    }
  });

  it('refuses patterns that could backtrack badly or escape the anchors', () => {
    expect(requiredSanPatternError('(a+)+$')).toMatch(/repeated group/);
    expect(requiredSanPatternError('([a-z]*\\.)*example\\.com')).toMatch(/repeated group/);
    expect(requiredSanPatternError('((ab)+){2,}')).toMatch(/repeated group/);
    expect(requiredSanPatternError('(a)\\1')).toMatch(/back-references/);
    expect(requiredSanPatternError('(?<x>a)\\k<x>')).toMatch(/back-references/);
    expect(requiredSanPatternError('a)|(b')).toMatch(/not a valid regular expression/);
    expect(requiredSanPatternError('.*.*.*.*.*')).toMatch(/5 unbounded quantifiers/);
    expect(requiredSanPatternError('')).toBe('must not be empty');
    expect(requiredSanPatternError('a'.repeat(513))).toMatch(/at most 512/);
  });

  it('allows an optional (non-repeating) group around a quantifier', () => {
    expect(requiredSanPatternError('([a-z]+\\.)?example\\.com')).toBeUndefined();
    expect(requiredSanPatternError('[(]a+[)]+')).toBeUndefined();
  });
});

describe('rule checks', () => {
  it('KeyAlgorithm: flags disallowed or short keys, ignores certificates without a key', () => {
    const cfg = {
      allowed: [
        { algorithm: 'ECDSA', min_size: 384 },
        { algorithm: 'RSA', min_size: 2048 },
      ],
    };
    expect(check('KeyAlgorithm', cfg)).toBe('ECDSA P-256 key is below the minimum curve size 384');
    expect(check('KeyAlgorithm', cfg, { key: { algorithm: 'RSA', size: 4096 } })).toBeUndefined();
    expect(check('KeyAlgorithm', cfg, { key: { algorithm: 'Ed25519', size: 256 } })).toMatch(/Ed25519 is not allowed/);
    expect(check('KeyAlgorithm', cfg, { key: null })).toBeUndefined();
    expect(check('KeyAlgorithm', cfg, { key: { algorithm: '', size: 0 } })).toBeUndefined();
  });

  it('MaxValidity: compares the issued validity period', () => {
    expect(check('MaxValidity', { max_days: 90 })).toBeUndefined();
    expect(check('MaxValidity', { max_days: 89 })).toBe('validity of 90 days exceeds the maximum of 89 days');
    expect(check('MaxValidity', { max_days: 1 }, { validity: null })).toBeUndefined();
  });

  it('RequiredSanPattern: every name must match the anchored, case-insensitive pattern', () => {
    expect(check('RequiredSanPattern', { pattern: '[a-z]+\\.example\\.com' })).toBeUndefined();
    expect(check('RequiredSanPattern', { pattern: '[a-z]+\\.EXAMPLE\\.com' })).toBeUndefined();
    // Anchored: a prefix or suffix match is not enough.
    expect(check('RequiredSanPattern', { pattern: 'api' })).toBe(
      'names not matching the required pattern api: api.example.com, www.example.com',
    );
    expect(check('RequiredSanPattern', { pattern: 'api\\.example\\.com' })).toBe(
      'names not matching the required pattern api\\.example\\.com: www.example.com',
    );
    expect(check('RequiredSanPattern', { pattern: '.*' }, { common_name: '', sans: [] })).toBeUndefined();
    const many = Array.from({ length: 8 }, (_, i) => `h${i}.other.net`);
    expect(check('RequiredSanPattern', { pattern: '.*\\.example\\.com' }, { common_name: '', sans: many })).toMatch(
      /h4\.other\.net and 3 more$/,
    );
  });

  it('ForbiddenWildcard: flags wildcard names', () => {
    expect(check('ForbiddenWildcard', {})).toBeUndefined();
    expect(check('ForbiddenWildcard', {}, { sans: ['*.example.com', 'a.example.com'] })).toBe(
      'wildcard names are forbidden: *.example.com',
    );
  });

  it('OwnerRequired: flags certificates without an owner', () => {
    expect(check('OwnerRequired', {})).toBeUndefined();
    expect(check('OwnerRequired', {}, { owner_id: null })).toBe('certificate has no owner');
  });

  it('AllowedIssuers: flags other or missing issuers', () => {
    expect(check('AllowedIssuers', { issuer_ids: ['iss-local'] })).toBeUndefined();
    expect(check('AllowedIssuers', { issuer_ids: ['iss-acme'] })).toBe(
      'issuer "iss-local" is not allowed (allowed: iss-acme)',
    );
    expect(check('AllowedIssuers', { issuer_ids: ['iss-acme'] }, { issuer_id: null })).toBe(
      'certificate has no issuer',
    );
  });

  it('AllowedEnvironments: case-insensitive membership; empty environment is a violation', () => {
    expect(check('AllowedEnvironments', { environments: ['Production'] })).toBeUndefined();
    expect(check('AllowedEnvironments', { environments: ['staging'] })).toBe(
      'environment "production" is not allowed (allowed: staging)',
    );
    expect(check('AllowedEnvironments', { environments: ['staging'] }, { environment: ' ' })).toBe(
      'certificate has no environment',
    );
  });

  it('RequiredTags: every tag present with a non-blank value', () => {
    expect(check('RequiredTags', { tags: ['app'] })).toBeUndefined();
    expect(
      check('RequiredTags', { tags: ['app', 'team', 'cost_center', 'blank'] }, { tags: { app: 'x', blank: ' ' } }),
    ).toBe('missing required tags: team, cost_center, blank');
  });

  it('refuses to compile a config that does not validate', () => {
    expect(compilePolicyRule({ type: 'MaxValidity', config: { max_days: -1 } })).toBeUndefined();
  });
});

describe('evaluatePolicyRules', () => {
  const rule = (
    id: string,
    type: PolicyRuleType,
    config: Record<string, unknown>,
    severity: Severity,
    enabled = true,
  ): PolicyRuleSpec => ({
    id,
    type,
    config,
    severity,
    enabled,
  });

  it('returns one finding per violated enabled rule, carrying its severity', () => {
    const findings = evaluatePolicyRules({ ...base, owner_id: null, sans: ['*.example.com'] }, [
      rule('pol-owner', 'OwnerRequired', {}, 'critical'),
      rule('pol-wild', 'ForbiddenWildcard', {}, 'info'),
      rule('pol-off', 'OwnerRequired', {}, 'warning', false),
      rule('pol-env', 'AllowedEnvironments', { environments: ['production'] }, 'warning'),
    ]);
    expect(findings).toEqual([
      { rule_id: 'pol-owner', message: 'certificate has no owner', severity: 'critical' },
      { rule_id: 'pol-wild', message: 'wildcard names are forbidden: *.example.com', severity: 'info' },
    ]);
  });

  it('skips rules whose stored config is broken instead of failing the certificate', () => {
    expect(evaluatePolicyRules(base, [rule('pol-bad', 'MaxValidity', {}, 'warning')])).toEqual([]);
  });

  it('collects distinct lowercased names', () => {
    expect(
      certificateNames({ common_name: 'API.example.com', sans: ['api.example.com', ' ', 'b.example.com'] }),
    ).toEqual(['api.example.com', 'b.example.com']);
  });
});
