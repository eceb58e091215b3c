import {
  checkCsrAgainstProfile,
  checkEkus,
  checkKey,
  checkSans,
  DEFAULT_SAN_RULES,
  dnsPatternError,
  ekuOidOf,
  isValidDnsName,
  keyAlgorithmOf,
  normalizeEku,
  normalizeEkus,
  normalizeKeyAlgorithmRules,
  normalizeSanRules,
  parseKeyAlgorithm,
  profileViolations,
  sanMatchesDnsPattern,
  sanRulesWithDefaults,
  sanViolations,
  type ProfileConstraints,
  type SanRules,
} from './profile-rules';

describe('key algorithm rules', () => {
  it('parses API input case-insensitively and refuses aliases there', () => {
    expect(parseKeyAlgorithm('ecdsa')).toBe('ECDSA');
    expect(parseKeyAlgorithm(' ED25519 ')).toBe('Ed25519');
    expect(parseKeyAlgorithm('EC')).toBeUndefined();
    expect(keyAlgorithmOf('EC')).toBe('ECDSA');
    expect(keyAlgorithmOf('rsaEncryption')).toBe('RSA');
    expect(keyAlgorithmOf('DSA')).toBeUndefined();
  });

  it('normalizes sizes with defaults and canonical names', () => {
    const n = normalizeKeyAlgorithmRules([
      { algorithm: 'rsa' },
      { algorithm: 'Ecdsa', min_size: 384 },
      { algorithm: 'ed25519', min_size: null },
    ]);
    expect(n.errors).toEqual([]);
    expect(n.value).toEqual([
      { algorithm: 'RSA', min_size: 2048 },
      { algorithm: 'ECDSA', min_size: 384 },
      { algorithm: 'Ed25519' },
    ]);
  });

  it('names the field of every bad entry', () => {
    const n = normalizeKeyAlgorithmRules([
      { algorithm: 'ECDSA', min_size: 300 },
      { algorithm: 'RSA', min_size: 1024 },
      { algorithm: 'Ed25519', min_size: 256 },
      { algorithm: 'DSA' },
      { algorithm: 'rsa', min_size: 4096 },
    ]);
    expect(n.errors).toEqual([
      'allowed_key_algorithms.0.min_size: ECDSA sizes are curve bits: 256, 384, 521',
      'allowed_key_algorithms.1.min_size: RSA keys must be between 2048 and 16384 bits',
      'allowed_key_algorithms.2.min_size: must be omitted for Ed25519 (its key size is fixed)',
      'allowed_key_algorithms.3.algorithm: must be one of ECDSA, RSA, Ed25519',
      'allowed_key_algorithms.4.algorithm: RSA is listed more than once',
    ]);
    expect(normalizeKeyAlgorithmRules([]).errors).toEqual([
      'allowed_key_algorithms: must list at least one key algorithm',
    ]);
    expect(normalizeKeyAlgorithmRules([{ algorithm: 'RSA', min_size: 2048.5 }]).errors).toEqual([
      'allowed_key_algorithms.0.min_size: must be an integer',
    ]);
  });

  it('checks a key against the allowed list', () => {
    const allowed = normalizeKeyAlgorithmRules([
      { algorithm: 'ECDSA', min_size: 384 },
      { algorithm: 'RSA', min_size: 3072 },
    ]).value;
    expect(checkKey({ algorithm: 'EC', size: 384 }, allowed)).toBeUndefined();
    expect(checkKey({ algorithm: 'ECDSA', size: 521 }, allowed)).toBeUndefined();
    expect(checkKey({ algorithm: 'ECDSA', size: 256 }, allowed)).toBe(
      'ECDSA P-256 key is below the minimum curve size 384',
    );
    expect(checkKey({ algorithm: 'ECDSA', size: 300 }, allowed)).toMatch(/not a supported curve/);
    expect(checkKey({ algorithm: 'RSA', size: 2048 }, allowed)).toBe(
      'RSA 2048-bit key is below the minimum of 3072 bits',
    );
    expect(checkKey({ algorithm: 'RSA', size: 4096 }, allowed)).toBeUndefined();
    expect(checkKey({ algorithm: 'Ed25519', size: 256 }, allowed)).toBe(
      'key algorithm Ed25519 is not allowed (allowed: ECDSA, RSA)',
    );
    expect(checkKey({ algorithm: 'DSA', size: 2048 }, allowed)).toMatch(/not recognised/);
    expect(checkKey({ algorithm: 'ed25519', size: 0 }, [{ algorithm: 'Ed25519' }])).toBeUndefined();
  });

  it('holds RSA to the 2048-bit floor and ECDSA to P-256 whatever an unnormalized rule says', () => {
    expect(checkKey({ algorithm: 'RSA', size: 1024 }, [{ algorithm: 'RSA', min_size: 1024 }])).toBe(
      'RSA 1024-bit key is below the minimum of 2048 bits',
    );
    expect(checkKey({ algorithm: 'RSA', size: 2048 }, [{ algorithm: 'RSA' }])).toBeUndefined();
    expect(checkKey({ algorithm: 'ECDSA', size: 256 }, [{ algorithm: 'ECDSA' }])).toBeUndefined();
    expect(checkKey({ algorithm: 'ECDSA', size: 384 }, [])).toBe('key algorithm ECDSA is not allowed (allowed: )');
  });
});

describe('DNS patterns', () => {
  it('accepts exact names and one-label wildcards', () => {
    expect(dnsPatternError('example.com')).toBeUndefined();
    expect(dnsPatternError('*.Example.COM')).toBeUndefined();
    expect(dnsPatternError('xn--bcher-kva.example')).toBeUndefined();
    expect(dnsPatternError('localhost')).toBeUndefined();
  });

  it('refuses malformed patterns with a reason', () => {
    expect(dnsPatternError('*.com')).toMatch(/at least two labels/);
    expect(dnsPatternError('*')).toMatch(/whole leftmost label/);
    expect(dnsPatternError('f*.example.com')).toMatch(/whole leftmost label/);
    expect(dnsPatternError('*.*.example.com')).toMatch(/only one wildcard/);
    expect(dnsPatternError('a.*.example.com')).toMatch(/whole leftmost label/);
    expect(dnsPatternError('-bad.example.com')).toMatch(/label "-bad"/);
    expect(dnsPatternError('a..b')).toBe('has an empty label');
    expect(dnsPatternError('under_score.example.com')).toMatch(/label "under_score"/);
    expect(dnsPatternError('example.com.')).toMatch(/dot/);
    expect(dnsPatternError(`${'a'.repeat(64)}.com`)).toMatch(/1-63/);
    expect(dnsPatternError('')).toBe('must not be empty');
  });

  it('matches a wildcard against exactly one label', () => {
    expect(sanMatchesDnsPattern('api.example.com', '*.example.com')).toBe(true);
    expect(sanMatchesDnsPattern('API.Example.com.', '*.example.com')).toBe(true);
    expect(sanMatchesDnsPattern('*.example.com', '*.example.com')).toBe(true);
    expect(sanMatchesDnsPattern('example.com', '*.example.com')).toBe(false);
    expect(sanMatchesDnsPattern('a.b.example.com', '*.example.com')).toBe(false);
    expect(sanMatchesDnsPattern('evilexample.com', '*.example.com')).toBe(false);
    expect(sanMatchesDnsPattern('api.example.com.evil.net', '*.example.com')).toBe(false);
  });

  it('matches an exact pattern only against itself', () => {
    expect(sanMatchesDnsPattern('example.com', 'example.com')).toBe(true);
    expect(sanMatchesDnsPattern('www.example.com', 'example.com')).toBe(false);
    expect(sanMatchesDnsPattern('*.example.com', 'example.com')).toBe(false);
  });

  it('validates DNS SANs (wildcards only as a whole leftmost label)', () => {
    expect(isValidDnsName('a.example.com')).toBe(true);
    expect(isValidDnsName('*.example.com')).toBe(true);
    expect(isValidDnsName('*.com')).toBe(false);
    expect(isValidDnsName('a*.example.com')).toBe(false);
    expect(isValidDnsName('a b.example.com')).toBe(false);
  });
});

describe('SAN rules', () => {
  it('normalizes with secure defaults and lowercases patterns', () => {
    expect(normalizeSanRules({})).toEqual({
      value: { permitted_dns_patterns: [], allow_ip: false, allow_email: false, allow_uri: false, max_sans: null },
      errors: [],
    });
    expect(
      normalizeSanRules({ permitted_dns_patterns: ['*.Example.com'], allow_ip: true, max_sans: 10 }).value,
    ).toEqual({
      permitted_dns_patterns: ['*.example.com'],
      allow_ip: true,
      allow_email: false,
      allow_uri: false,
      max_sans: 10,
    });
  });

  it('reports bad patterns, duplicates and bounds by path', () => {
    const n = normalizeSanRules({ permitted_dns_patterns: ['ok.com', '*.com', 'OK.com'], max_sans: 0 });
    expect(n.errors).toEqual([
      'san_rules.permitted_dns_patterns.1: "*.com" a wildcard must sit over at least two labels (e.g. *.example.com)',
      'san_rules.permitted_dns_patterns.2: "OK.com" is listed more than once',
      'san_rules.max_sans: must be an integer between 1 and 1000',
    ]);
  });

  const rules: SanRules = {
    permitted_dns_patterns: ['*.example.com', 'example.com'],
    allow_ip: false,
    allow_email: true,
    allow_uri: false,
    max_sans: 3,
  };

  it('accepts conforming SANs', () => {
    expect(checkSans({ dns: ['example.com', 'www.example.com'], email: ['a@example.com'] }, rules)).toEqual([]);
  });

  it('lists every problem', () => {
    expect(
      checkSans(
        { dns: ['a.b.example.com', 'bad name', 'www.example.com'], ip: ['10.0.0.1'], uri: ['spiffe://x'] },
        rules,
      ),
    ).toEqual([
      '5 SANs exceed the profile maximum of 3',
      'DNS SAN "a.b.example.com" is not permitted (permitted: *.example.com, example.com)',
      'DNS SAN "bad name" is not a valid DNS name',
      'IP address SANs are not allowed by the profile',
      'URI SANs are not allowed by the profile',
    ]);
  });

  it('names the rule each problem breaks', () => {
    expect(
      sanViolations({ dns: ['a.b.example.com', 'bad name'], email: ['a@example.com'], uri: ['spiffe://x'] }, rules),
    ).toEqual([
      { rule: 'san_rules.max_sans', message: '4 SANs exceed the profile maximum of 3' },
      {
        rule: 'san_rules.permitted_dns_patterns',
        message: 'DNS SAN "a.b.example.com" is not permitted (permitted: *.example.com, example.com)',
      },
      { rule: 'san_rules', message: 'DNS SAN "bad name" is not a valid DNS name' },
      { rule: 'san_rules.allow_uri', message: 'URI SANs are not allowed by the profile' },
    ]);
  });

  it('fills absent fields with the defaults without validating', () => {
    expect(sanRulesWithDefaults({})).toEqual(DEFAULT_SAN_RULES);
    expect(sanRulesWithDefaults({ permitted_dns_patterns: ['x*'], allow_ip: true, max_sans: 0 })).toEqual({
      ...DEFAULT_SAN_RULES,
      permitted_dns_patterns: ['x*'],
      allow_ip: true,
      max_sans: 0,
    });
  });

  it('permits any valid DNS name when no pattern is listed', () => {
    expect(checkSans({ dns: ['anything.example.org'] }, { ...rules, permitted_dns_patterns: [] })).toEqual([]);
  });
});

describe('extended key usages', () => {
  it('canonicalizes names and OIDs', () => {
    expect(normalizeEku('SERVERAUTH')).toBe('serverAuth');
    expect(normalizeEku('ocspsigning')).toBe('OCSPSigning');
    expect(normalizeEku('1.3.6.1.5.5.7.3.2')).toBe('clientAuth');
    expect(normalizeEku('1.3.6.1.4.1.311.20.2.2')).toBe('1.3.6.1.4.1.311.20.2.2');
    expect(normalizeEku('2.999.1')).toBe('2.999.1');
  });

  it('refuses what is neither a name nor a dotted OID', () => {
    for (const bad of ['fooAuth', '1', '3.1', '1.40', '1.2.03', '1..2', '1.2.', ' ']) {
      expect({ bad, eku: normalizeEku(bad) }).toEqual({ bad, eku: undefined });
    }
  });

  it('normalizes a list, rejecting duplicates after canonicalization', () => {
    expect(normalizeEkus(['serverAuth', 'clientauth']).value).toEqual(['serverAuth', 'clientAuth']);
    expect(normalizeEkus(['serverAuth', '1.3.6.1.5.5.7.3.1', 'nope']).errors).toEqual([
      'allowed_ekus.1: "1.3.6.1.5.5.7.3.1" is listed more than once',
      expect.stringMatching(/^allowed_ekus\.2: "nope" is neither serverAuth, .* nor a dotted OID$/),
    ]);
    expect(normalizeEkus([]).errors).toEqual(['allowed_ekus: must list at least one extended key usage']);
  });

  it('maps names and OIDs to OIDs', () => {
    expect(ekuOidOf('ServerAuth')).toBe('1.3.6.1.5.5.7.3.1');
    expect(ekuOidOf('1.3.6.1.5.5.7.3.2')).toBe('1.3.6.1.5.5.7.3.2');
    expect(ekuOidOf('1.3.6.1.4.1.311.20.2.2')).toBe('1.3.6.1.4.1.311.20.2.2');
    expect(ekuOidOf('fooAuth')).toBeUndefined();
    expect(ekuOidOf('1.40')).toBeUndefined();
  });

  it('checks requested EKUs against the allowed ones', () => {
    expect(checkEkus(['1.3.6.1.5.5.7.3.1'], ['serverAuth'])).toEqual([]);
    expect(checkEkus(['clientAuth'], ['serverAuth'])).toEqual([
      'extended key usage "clientAuth" is not allowed (allowed: serverAuth)',
    ]);
  });
});

describe('checkCsrAgainstProfile', () => {
  const profile: ProfileConstraints = {
    allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
    max_ttl_seconds: 90 * 86_400,
    allowed_ekus: ['serverAuth'],
    san_rules: {
      permitted_dns_patterns: ['*.example.com'],
      allow_ip: false,
      allow_email: false,
      allow_uri: false,
      max_sans: null,
    },
  };

  it('passes a conforming request', () => {
    expect(
      checkCsrAgainstProfile(
        {
          key: { algorithm: 'ECDSA', size: 256 },
          sans: { dns: ['api.example.com'] },
          ekus: ['serverAuth'],
          ttl_seconds: 3600,
        },
        profile,
      ),
    ).toEqual([]);
  });

  it('collects every violation, each with the profile field it breaks', () => {
    const facts = {
      key: { algorithm: 'RSA', size: 4096 },
      sans: { dns: ['example.com'], ip: ['10.1.1.1'] },
      ekus: ['codeSigning'],
      ttl_seconds: 91 * 86_400,
    };
    expect(checkCsrAgainstProfile(facts, profile)).toEqual([
      'key algorithm RSA is not allowed (allowed: ECDSA)',
      'DNS SAN "example.com" is not permitted (permitted: *.example.com)',
      'IP address SANs are not allowed by the profile',
      'extended key usage "codeSigning" is not allowed (allowed: serverAuth)',
      'requested validity of 7862400 s exceeds the profile maximum of 7776000 s',
    ]);
    expect(profileViolations(facts, profile).map((v) => v.rule)).toEqual([
      'allowed_key_algorithms',
      'san_rules.permitted_dns_patterns',
      'san_rules.allow_ip',
      'allowed_ekus',
      'max_ttl_seconds',
    ]);
  });
});
