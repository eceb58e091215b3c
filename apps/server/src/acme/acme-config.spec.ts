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
      authzLifetimeMs: 86_400_000,
      nonceTtlMs: 3_600_000,
      gcIntervalMs: 600_000,
      ari: { enabled: true, pollIntervalMs: 6 * 3_600_000 },
      validation: {
        http01Port: 80,
        tlsAlpn01Port: 443,
        resolve: {},
        dnsResolver: undefined,
        timeoutMs: 5_000,
        attempts: 3,
        concurrency: { 'http-01': 10, 'dns-01': 10, 'tls-alpn-01': 10 },
      },
      rateLimits: { ordersPerHour: 300, pendingOrders: 300, keyChangesPerHour: 10, challengeRespondsPerHour: 600 },
    });
  });

  it('reads every setting', () => {
    const c = loadConfig({
      CERTCTL_ACME_SERVER_ENABLED: 'true',
      CERTCTL_ACME_SERVER_ISSUER_ID: 'iss-acme',
      CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: 'prof-web',
      CERTCTL_ACME_SERVER_TOS_URL: 'https://ca.example.com/tos',
      CERTCTL_ACME_SERVER_WEBSITE: 'https://ca.example.com/',
      CERTCTL_ACME_SERVER_CAA_IDENTITIES: 'ca.example.com, Example.NET',
      CERTCTL_ACME_SERVER_EAB_REQUIRED: 'yes',
      CERTCTL_CONFIG_ENCRYPTION_KEY: 'a-config-encryption-key-0123456789',
      CERTCTL_ACME_SERVER_ALLOW_WILDCARDS: 'false',
      CERTCTL_ACME_SERVER_ORDER_TTL: '8h',
      CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'Challenge',
      CERTCTL_ACME_SERVER_HTTP01_PORT: '5002',
      CERTCTL_ACME_SERVER_TLSALPN01_PORT: '5001',
      CERTCTL_ACME_SERVER_RESOLVE: 'A.example=127.0.0.1, b.example=::1',
      CERTCTL_ACME_SERVER_DNS01_RESOLVER: '127.0.0.1:8053',
      CERTCTL_ACME_SERVER_VALIDATION_TIMEOUT_MS: '2000',
      CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS: '1',
      CERTCTL_ACME_SERVER_RATE_LIMIT_ORDERS_PER_HOUR: '5',
      CERTCTL_ACME_SERVER_RATE_LIMIT_CONCURRENT_ORDERS: '0',
      CERTCTL_ACME_SERVER_RATE_LIMIT_KEY_CHANGE_PER_HOUR: '2',
      CERTCTL_ACME_SERVER_RATE_LIMIT_CHALLENGE_RESPONDS_PER_HOUR: '7',
      CERTCTL_ACME_SERVER_AUTHZ_TTL: '90m',
      CERTCTL_ACME_SERVER_NONCE_TTL: '30s',
      CERTCTL_ACME_SERVER_GC_INTERVAL: '1m30s',
      CERTCTL_ACME_SERVER_ARI_ENABLED: 'off',
      CERTCTL_ACME_SERVER_ARI_POLL_INTERVAL: '1d',
      CERTCTL_ACME_SERVER_HTTP01_CONCURRENCY: '3',
      CERTCTL_ACME_SERVER_DNS01_CONCURRENCY: '2',
      CERTCTL_ACME_SERVER_TLSALPN01_CONCURRENCY: '1',
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
      authzLifetimeMs: 90 * 60_000,
      nonceTtlMs: 30_000,
      gcIntervalMs: 90_000,
      ari: { enabled: false, pollIntervalMs: 86_400_000 },
      validation: {
        http01Port: 5002,
        tlsAlpn01Port: 5001,
        resolve: { 'a.example': '127.0.0.1', 'b.example': '::1' },
        dnsResolver: { host: '127.0.0.1', port: 8053 },
        timeoutMs: 2_000,
        attempts: 1,
        concurrency: { 'http-01': 3, 'dns-01': 2, 'tls-alpn-01': 1 },
      },
      rateLimits: { ordersPerHour: 5, pendingOrders: 0, keyChangesPerHour: 2, challengeRespondsPerHour: 7 },
    });
  });

  it('names every bad variable', () => {
    expect(
      problems({
        CERTCTL_ACME_SERVER_ENABLED: 'maybe',
        CERTCTL_ACME_SERVER_TOS_URL: 'ftp://x',
        CERTCTL_ACME_SERVER_CAA_IDENTITIES: 'not a domain',
        CERTCTL_ACME_SERVER_ORDER_TTL: '0h',
        CERTCTL_ACME_SERVER_EAB_REQUIRED: 'true',
        CERTCTL_ACME_SERVER_HTTP01_PORT: '0',
        CERTCTL_ACME_SERVER_RESOLVE: 'a.example=not-an-ip',
        CERTCTL_ACME_SERVER_DNS01_RESOLVER: 'dns.example:53',
      }),
    ).toEqual([
      expect.stringMatching(/^CERTCTL_ACME_SERVER_CAA_IDENTITIES: "not a domain" is not a domain name/),
      expect.stringMatching(/^CERTCTL_ACME_SERVER_EAB_REQUIRED needs CERTCTL_CONFIG_ENCRYPTION_KEY/),
      expect.stringMatching(/^CERTCTL_ACME_SERVER_ENABLED must be true or false/),
      expect.stringMatching(/^CERTCTL_ACME_SERVER_TOS_URL must be an http\(s\) URL/),
      expect.stringMatching(/^CERTCTL_ACME_SERVER_ORDER_TTL must be between 60000 ms/),
      'CERTCTL_ACME_SERVER_RESOLVE: "a.example=not-an-ip" must be name=IP-address',
      'CERTCTL_ACME_SERVER_DNS01_RESOLVER must be IP:port, got "dns.example:53"',
      'CERTCTL_ACME_SERVER_HTTP01_PORT must be an integer between 1 and 65535, got "0"',
    ]);
    expect(problems({ CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'dns' })).toEqual([
      'CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE must be trust_authenticated or challenge, got "dns"',
    ]);
    expect(problems({ CERTCTL_ACME_SERVER_NONCE_TTL: 'soon' })).toEqual([
      'CERTCTL_ACME_SERVER_NONCE_TTL must be a duration such as 30s, 5m or 24h, got "soon"',
    ]);
  });

  it('refuses the old CERTCTL_ACME_* server names, naming the new one, but not the ACME client names', () => {
    expect(
      problems({
        CERTCTL_ACME_ENABLED: 'true',
        CERTCTL_ACME_AUTH_MODE: 'challenge',
        CERTCTL_ACME_RESOLVE: 'a=1.2.3.4',
      }),
    ).toEqual([
      "CERTCTL_ACME_ENABLED is no longer read: the ACME server's setting is now CERTCTL_ACME_SERVER_ENABLED",
      "CERTCTL_ACME_AUTH_MODE is no longer read: the ACME server's setting is now CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE",
      "CERTCTL_ACME_RESOLVE is no longer read: the ACME server's setting is now CERTCTL_ACME_SERVER_RESOLVE",
    ]);
    // Set but empty is unset, as for every variable.
    expect(problems({ CERTCTL_ACME_ENABLED: '' })).toEqual([]);
    expect(problems({ CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: '127.0.0.1:5002' })).toEqual([]);
  });
});
