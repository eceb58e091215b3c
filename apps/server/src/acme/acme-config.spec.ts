import { configProblems as problems } from '../config/config-testing';
import { loadConfig } from '../config/config.schema';

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
      validation: {
        http01Port: 80,
        tlsAlpn01Port: 443,
        resolve: {},
        dnsResolver: undefined,
        timeoutMs: 5_000,
        attempts: 3,
      },
      rateLimits: { ordersPerHour: 300, pendingOrders: 300, keyChangesPerHour: 10 },
    });
  });

  it('reads every setting', () => {
    const c = loadConfig({
      CERTCTL_ACME_ENABLED: 'true',
      CERTCTL_ACME_ISSUER_ID: 'iss-acme',
      CERTCTL_ACME_PROFILE_ID: 'prof-web',
      CERTCTL_ACME_TOS_URL: 'https://ca.example.com/tos',
      CERTCTL_ACME_WEBSITE: 'https://ca.example.com/',
      CERTCTL_ACME_CAA_IDENTITIES: 'ca.example.com, Example.NET',
      CERTCTL_ACME_EAB_REQUIRED: 'yes',
      CERTCTL_CONFIG_ENCRYPTION_KEY: 'a-config-encryption-key-0123456789',
      CERTCTL_ACME_ALLOW_WILDCARDS: 'false',
      CERTCTL_ACME_ORDER_LIFETIME: '8h',
      CERTCTL_ACME_AUTH_MODE: 'Challenge',
      CERTCTL_ACME_HTTP01_PORT: '5002',
      CERTCTL_ACME_TLSALPN01_PORT: '5001',
      CERTCTL_ACME_RESOLVE: 'A.example=127.0.0.1, b.example=::1',
      CERTCTL_ACME_DNS_RESOLVER: '127.0.0.1:8053',
      CERTCTL_ACME_VALIDATION_TIMEOUT_MS: '2000',
      CERTCTL_ACME_VALIDATION_ATTEMPTS: '1',
      CERTCTL_ACME_RATE_ORDERS_PER_HOUR: '5',
      CERTCTL_ACME_RATE_PENDING_ORDERS: '0',
      CERTCTL_ACME_RATE_KEY_CHANGES_PER_HOUR: '2',
    }).acme;
    expect(c).toEqual({
      enabled: true,
      issuerId: 'iss-acme',
      profileId: 'prof-web',
      authMode: 'challenge',
      termsOfServiceUrl: 'https://ca.example.com/tos',
      website: 'https://ca.example.com/',
      caaIdentities: ['ca.example.com', 'example.net'],
      eabRequired: true,
      allowWildcards: false,
      orderLifetimeMs: 8 * 3_600_000,
      validation: {
        http01Port: 5002,
        tlsAlpn01Port: 5001,
        resolve: { 'a.example': '127.0.0.1', 'b.example': '::1' },
        dnsResolver: { host: '127.0.0.1', port: 8053 },
        timeoutMs: 2_000,
        attempts: 1,
      },
      rateLimits: { ordersPerHour: 5, pendingOrders: 0, keyChangesPerHour: 2 },
    });
  });

  it('names every bad variable', () => {
    expect(
      problems({
        CERTCTL_ACME_ENABLED: 'maybe',
        CERTCTL_ACME_TOS_URL: 'ftp://x',
        CERTCTL_ACME_CAA_IDENTITIES: 'not a domain',
        CERTCTL_ACME_ORDER_LIFETIME: '0h',
        CERTCTL_ACME_EAB_REQUIRED: 'true',
        CERTCTL_ACME_HTTP01_PORT: '0',
        CERTCTL_ACME_RESOLVE: 'a.example=not-an-ip',
        CERTCTL_ACME_DNS_RESOLVER: 'dns.example:53',
      }),
    ).toEqual([
      expect.stringMatching(/^CERTCTL_ACME_ORDER_LIFETIME must be hours/),
      expect.stringMatching(/^CERTCTL_ACME_CAA_IDENTITIES: "not a domain" is not a domain name/),
      expect.stringMatching(/^CERTCTL_ACME_EAB_REQUIRED needs CERTCTL_CONFIG_ENCRYPTION_KEY/),
      expect.stringMatching(/^CERTCTL_ACME_ENABLED must be true or false/),
      expect.stringMatching(/^CERTCTL_ACME_TOS_URL must be an http\(s\) URL/),
      'CERTCTL_ACME_RESOLVE: "a.example=not-an-ip" must be name=IP-address',
      'CERTCTL_ACME_DNS_RESOLVER must be IP:port, got "dns.example:53"',
      'CERTCTL_ACME_HTTP01_PORT must be an integer between 1 and 65535, got "0"',
    ]);
    expect(problems({ CERTCTL_ACME_AUTH_MODE: 'dns' })).toEqual([
      'CERTCTL_ACME_AUTH_MODE must be trust_authenticated or challenge, got "dns"',
    ]);
  });
});
