import { DomainError, ErrorCode } from '@certctl/domain';
import { OpensslDir } from '../keys/testing';
import type { ParsedCsr } from './parse-csr';
import { parseCsr } from './parse-csr';
import { validateCsrAgainstProfile, type CertificateProfileRules } from './profile';

function makeCsr(overrides: Partial<ParsedCsr> = {}): ParsedCsr {
  return {
    der: new Uint8Array(),
    subject: 'CN=www.example.com',
    subjectDer: new Uint8Array(),
    commonName: 'www.example.com',
    sans: { dns: ['www.example.com'], ip: [], email: [], uri: [] },
    unsupportedSans: [],
    publicKey: { algorithm: 'ECDSA', size: 256, curve: 'P-256' },
    spkiDer: new Uint8Array(),
    signatureAlgorithm: 'ecdsa-with-SHA256',
    requestedEkus: [],
    mustStapleRequested: false,
    extensions: [],
    ...overrides,
  };
}

const profile = (overrides: Partial<CertificateProfileRules> = {}): CertificateProfileRules => ({
  allowed_key_algorithms: [
    { algorithm: 'ECDSA', min_size: 256 },
    { algorithm: 'RSA', min_size: 3072 },
  ],
  max_ttl_seconds: 90 * 86_400,
  allowed_ekus: ['serverAuth', 'clientAuth'],
  san_rules: { permitted_dns_patterns: ['*.example.com', 'example.com'], max_sans: 5 },
  must_staple: false,
  ...overrides,
});

function violationOf(fn: () => unknown): { message: string; rules: string[] } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).code).toBe(ErrorCode.Validation);
    const v = (e as DomainError).details?.violations as { rule: string }[];
    return { message: (e as DomainError).message, rules: v.map((x) => x.rule) };
  }
  throw new Error('expected a validation error');
}

describe('validateCsrAgainstProfile', () => {
  it('grants what the profile allows: TTL, EKUs, SANs with the CN, must-staple', () => {
    const d = validateCsrAgainstProfile(
      makeCsr({ sans: { dns: ['api.example.com'], ip: [], email: [], uri: [] } }),
      profile({ must_staple: true }),
      {
        ttlSeconds: 3600,
      },
    );
    expect(d).toEqual({
      ttlSeconds: 3600,
      ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      mustStaple: true,
      sans: { dns: ['www.example.com', 'api.example.com'], ip: [], email: [], uri: [] },
    });
    expect(validateCsrAgainstProfile(makeCsr(), profile({ allowed_ekus: [] })).ekus).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(validateCsrAgainstProfile(makeCsr({ requestedEkus: ['clientAuth'] }), profile()).ekus).toEqual([
      '1.3.6.1.5.5.7.3.2',
    ]);
    expect(validateCsrAgainstProfile(makeCsr(), profile()).ttlSeconds).toBe(90 * 86_400);
    expect(validateCsrAgainstProfile(makeCsr({ mustStapleRequested: true }), profile()).mustStaple).toBe(true);
  });

  it('names the key rule: family not allowed, below the minimum, RSA floor', () => {
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr({ publicKey: { algorithm: 'RSA', size: 2048 } }), profile()))
        .message,
    ).toBe('profile.allowed_key_algorithms: RSA 2048-bit key is below the minimum of 3072 bits');
    expect(
      violationOf(() =>
        validateCsrAgainstProfile(makeCsr({ publicKey: { algorithm: 'Ed25519', size: 256 } }), profile()),
      ).message,
    ).toBe('profile.allowed_key_algorithms: key algorithm Ed25519 is not allowed (allowed: ECDSA, RSA)');
    const p384only = profile({ allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 384 }] });
    expect(violationOf(() => validateCsrAgainstProfile(makeCsr(), p384only)).message).toBe(
      'profile.allowed_key_algorithms: ECDSA P-256 key is below the minimum curve size 384',
    );
    expect(
      violationOf(() =>
        validateCsrAgainstProfile(
          makeCsr({ publicKey: { algorithm: 'RSA', size: 1024 } }),
          profile({ allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 1024 }] }),
        ),
      ).message,
    ).toBe('profile.allowed_key_algorithms: RSA 1024-bit key is below the minimum of 2048 bits');
  });

  it('allows no key when the profile lists no algorithm (domain rule: at least one is required)', () => {
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr(), profile({ allowed_key_algorithms: [] }))).rules,
    ).toEqual(['profile.allowed_key_algorithms']);
  });

  it('rejects an RSA 1024 CSR made by openssl with the named rule', async () => {
    const ssl = new OpensslDir();
    const csr = await parseCsr(ssl.csr('rsa1024', ['-newkey', 'rsa:1024'], '/CN=legacy.example.com'));
    ssl.remove();
    expect(csr.publicKey).toEqual({ algorithm: 'RSA', size: 1024 });
    expect(() =>
      validateCsrAgainstProfile(csr, profile({ allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 2048 }] })),
    ).toThrow('profile.allowed_key_algorithms: RSA 1024-bit key is below the minimum of 2048 bits');
  });

  it('names each SAN rule', () => {
    const sans = {
      dns: ['www.example.com', 'evil.com', 'example.com'],
      ip: ['10.0.0.1'],
      email: ['a@example.com'],
      uri: ['spiffe://x/y'],
    };
    const v = violationOf(() =>
      validateCsrAgainstProfile(makeCsr({ sans, unsupportedSans: ['otherName 1.2.3'] }), profile()),
    );
    expect(v.rules).toEqual([
      'profile.san_rules',
      'profile.san_rules.max_sans',
      'profile.san_rules.permitted_dns_patterns',
      'profile.san_rules.allow_ip',
      'profile.san_rules.allow_email',
      'profile.san_rules.allow_uri',
    ]);
    expect(v.message).toContain(
      'profile.san_rules.permitted_dns_patterns: DNS SAN "evil.com" is not permitted (permitted: *.example.com, example.com)',
    );
    expect(v.message).toContain('profile.san_rules.allow_ip: IP address SANs are not allowed by the profile');
    expect(v.message).toContain('profile.san_rules.max_sans: 6 SANs exceed the profile maximum of 5');
    expect(v.message).toContain('profile.san_rules: otherName 1.2.3 SANs are not issued');
    const open = profile({ san_rules: { allow_ip: true, allow_email: true, allow_uri: true } });
    expect(validateCsrAgainstProfile(makeCsr({ sans }), open).sans).toEqual(sans);
  });

  it('matches a wildcard pattern against exactly one label (RFC 6125)', () => {
    const sans = (dns: string[]) => ({ dns, ip: [], email: [], uri: [] });
    const wildcardOnly = profile({ san_rules: { permitted_dns_patterns: ['*.example.com'] } });
    expect(
      validateCsrAgainstProfile(makeCsr({ sans: sans(['api.example.com', '*.example.com']) }), wildcardOnly).sans.dns,
    ).toEqual(['www.example.com', 'api.example.com', '*.example.com']);
    const v = violationOf(() =>
      validateCsrAgainstProfile(makeCsr({ sans: sans(['a.b.example.com', 'example.com']) }), wildcardOnly),
    );
    expect(v.rules).toEqual(['profile.san_rules.permitted_dns_patterns', 'profile.san_rules.permitted_dns_patterns']);
    expect(v.message).toContain('DNS SAN "a.b.example.com" is not permitted (permitted: *.example.com)');
    expect(v.message).toContain('DNS SAN "example.com" is not permitted (permitted: *.example.com)');
  });

  it('polices a host-name CN like a SAN, but not a plain device name', () => {
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr({ commonName: 'www.evil.com' }), profile())).message,
    ).toMatch(/permitted_dns_patterns: DNS SAN "www\.evil\.com" is not permitted/);
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr({ commonName: '192.168.1.1' }), profile())).rules,
    ).toEqual(['profile.san_rules.allow_ip']);
    expect(validateCsrAgainstProfile(makeCsr({ commonName: 'device-17' }), profile()).sans.dns).toEqual([
      'www.example.com',
    ]);
  });

  it('names the EKU and TTL rules', () => {
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr({ requestedEkus: ['codeSigning'] }), profile())).message,
    ).toBe('profile.allowed_ekus: extended key usage "codeSigning" is not allowed (allowed: serverAuth, clientAuth)');
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr(), profile(), { ekus: ['emailProtection'] })).rules,
    ).toEqual(['profile.allowed_ekus']);
    expect(
      violationOf(() => validateCsrAgainstProfile(makeCsr(), profile(), { ttlSeconds: 91 * 86_400 })).message,
    ).toBe('profile.max_ttl_seconds: requested validity of 7862400 s exceeds the profile maximum of 7776000 s');
    expect(violationOf(() => validateCsrAgainstProfile(makeCsr(), profile(), { ttlSeconds: 0 })).rules).toEqual([
      'ttl_seconds',
    ]);
  });

  it('reports every violation at once', () => {
    const v = violationOf(() =>
      validateCsrAgainstProfile(
        makeCsr({ publicKey: { algorithm: 'RSA', size: 2048 }, requestedEkus: ['codeSigning'] }),
        profile(),
        {
          ttlSeconds: 10 ** 9,
        },
      ),
    );
    expect(v.rules).toEqual(['profile.allowed_key_algorithms', 'profile.allowed_ekus', 'profile.max_ttl_seconds']);
    expect(v.message.split('; ')).toHaveLength(3);
  });

  it('refuses a malformed profile with the field named', () => {
    expect(() => validateCsrAgainstProfile(makeCsr(), profile({ max_ttl_seconds: 0 }))).toThrow(
      'profile.max_ttl_seconds: must be a positive whole number',
    );
    expect(() => validateCsrAgainstProfile(makeCsr(), profile({ allowed_ekus: ['serverAuthh'] }))).toThrow(
      /profile\.allowed_ekus: unknown extended key usage "serverAuthh"/,
    );
  });
});
