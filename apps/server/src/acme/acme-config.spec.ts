import { ConfigError, loadConfig } from '../config/config.schema';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('ACME configuration', () => {
  it('is off by default, trust_authenticated, issuing through iss-local', () => {
    expect(loadConfig({}).acme).toEqual({
      enabled: false,
      issuerId: 'iss-local',
      profileId: undefined,
      authMode: 'trust_authenticated',
      termsOfServiceUrl: undefined,
      website: undefined,
      caaIdentities: [],
      eabRequired: false,
      allowWildcards: true,
      orderLifetimeMs: 86_400_000,
    });
  });

  it('reads every setting', () => {
    const c = loadConfig({
      CERTCTL_ACME_ENABLED: 'true',
      CERTCTL_ACME_ISSUER_ID: 'iss-acme',
      CERTCTL_ACME_PROFILE_ID: 'prof-web',
      CERTCTL_ACME_AUTH_MODE: 'TRUST_AUTHENTICATED',
      CERTCTL_ACME_TOS_URL: 'https://ca.example.com/tos',
      CERTCTL_ACME_WEBSITE: 'https://ca.example.com/',
      CERTCTL_ACME_CAA_IDENTITIES: 'ca.example.com, Example.NET',
      CERTCTL_ACME_EAB_REQUIRED: 'yes',
      CERTCTL_CONFIG_ENCRYPTION_KEY: 'a-config-encryption-key-0123456789',
      CERTCTL_ACME_ALLOW_WILDCARDS: 'false',
      CERTCTL_ACME_ORDER_LIFETIME: '8h',
    }).acme;
    expect(c).toEqual({
      enabled: true,
      issuerId: 'iss-acme',
      profileId: 'prof-web',
      authMode: 'trust_authenticated',
      termsOfServiceUrl: 'https://ca.example.com/tos',
      website: 'https://ca.example.com/',
      caaIdentities: ['ca.example.com', 'example.net'],
      eabRequired: true,
      allowWildcards: false,
      orderLifetimeMs: 8 * 3_600_000,
    });
  });

  it('names every bad variable, and refuses challenge mode until it exists', () => {
    expect(
      problems({
        CERTCTL_ACME_ENABLED: 'maybe',
        CERTCTL_ACME_AUTH_MODE: 'challenge',
        CERTCTL_ACME_TOS_URL: 'ftp://x',
        CERTCTL_ACME_CAA_IDENTITIES: 'not a domain',
        CERTCTL_ACME_ORDER_LIFETIME: '0h',
        CERTCTL_ACME_EAB_REQUIRED: 'true',
      }),
    ).toEqual([
      expect.stringMatching(/^CERTCTL_ACME_AUTH_MODE=challenge .* is not available yet/),
      expect.stringMatching(/^CERTCTL_ACME_ORDER_LIFETIME must be hours/),
      expect.stringMatching(/^CERTCTL_ACME_CAA_IDENTITIES: "not a domain" is not a domain name/),
      expect.stringMatching(/^CERTCTL_ACME_EAB_REQUIRED needs CERTCTL_CONFIG_ENCRYPTION_KEY/),
      expect.stringMatching(/^CERTCTL_ACME_ENABLED must be true or false/),
      expect.stringMatching(/^CERTCTL_ACME_TOS_URL must be an http\(s\) URL/),
    ]);
    expect(problems({ CERTCTL_ACME_AUTH_MODE: 'dns' })).toEqual([
      'CERTCTL_ACME_AUTH_MODE must be trust_authenticated, got "dns"',
    ]);
  });
});
