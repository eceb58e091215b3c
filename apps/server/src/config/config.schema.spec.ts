import { configProblems as problems } from './config-testing';
import { loadConfig } from './config.schema';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8443 });
    expect(c.database.url).toBe('postgres://postgres@127.0.0.1:5432/certctl');
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.http.maxBodyBytes).toBe(1024 * 1024);
    expect(c.http.corsOrigins).toEqual([]);
    expect(c.rateLimit.enabled).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names the variable of every bad value', () => {
    const p = problems({
      CERTCTL_SERVER_PORT: 'abc',
      CERTCTL_DATABASE_URL: 'mysql://x/y',
      CERTCTL_MAX_BODY_SIZE: 'lots',
      CERTCTL_RATE_LIMIT_ENABLED: 'maybe',
      CERTCTL_LOG_LEVEL: 'loud',
    });
    for (const name of [
      'CERTCTL_SERVER_PORT',
      'CERTCTL_DATABASE_URL',
      'CERTCTL_MAX_BODY_SIZE',
      'CERTCTL_RATE_LIMIT_ENABLED',
      'CERTCTL_LOG_LEVEL',
    ]) {
      expect(p.some((m) => m.includes(name))).toBe(true);
    }
  });

  it('parses byte sizes with units and bounds them', () => {
    expect(loadConfig({ CERTCTL_MAX_BODY_SIZE: '512KiB' }).http.maxBodyBytes).toBe(512 * 1024);
    expect(loadConfig({ CERTCTL_MAX_BODY_SIZE: '2MB' }).http.maxBodyBytes).toBe(2_000_000);
    expect(problems({ CERTCTL_MAX_BODY_SIZE: '10' })[0]).toContain('between');
  });

  it('requires the TLS cert and key together', () => {
    expect(problems({ CERTCTL_SERVER_TLS_CERT_PATH: '/x.pem' })[0]).toContain('CERTCTL_SERVER_TLS_KEY_PATH');
  });

  it('accepts only bare origins for CORS', () => {
    expect(loadConfig({ CERTCTL_CORS_ORIGINS: 'https://a.example, https://b.example:8443' }).http.corsOrigins).toEqual([
      'https://a.example',
      'https://b.example:8443',
    ]);
    expect(problems({ CERTCTL_CORS_ORIGINS: '*' })[0]).toContain('CERTCTL_CORS_ORIGINS');
    expect(problems({ CERTCTL_CORS_ORIGINS: 'https://a.example/path' })[0]).toContain('CERTCTL_CORS_ORIGINS');
  });

  it('validates trusted proxies', () => {
    expect(loadConfig({ CERTCTL_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8, ::1' }).http.trustedProxies).toEqual([
      'loopback',
      '10.0.0.0/8',
      '::1',
    ]);
    expect(problems({ CERTCTL_TRUSTED_PROXIES: '10.0.0.0/33' })[0]).toContain('CERTCTL_TRUSTED_PROXIES');
    expect(problems({ CERTCTL_TRUSTED_PROXIES: 'proxy.example' })[0]).toContain('CERTCTL_TRUSTED_PROXIES');
  });

  it('refuses a short bootstrap token', () => {
    expect(problems({ CERTCTL_BOOTSTRAP_TOKEN: 'short' })[0]).toContain('CERTCTL_BOOTSTRAP_TOKEN');
  });
});

describe('agent bootstrap token', () => {
  it('is optional, trimmed, and at least 16 characters', () => {
    expect(loadConfig({}).agentBootstrapToken).toBeUndefined();
    expect(loadConfig({ CERTCTL_AGENT_BOOTSTRAP_TOKEN: '  agent-enroll-token-0123  ' }).agentBootstrapToken).toBe(
      'agent-enroll-token-0123',
    );
    expect(problems({ CERTCTL_AGENT_BOOTSTRAP_TOKEN: 'short' })[0]).toContain('CERTCTL_AGENT_BOOTSTRAP_TOKEN');
  });

  it('DENY_EMPTY=true refuses a configuration without the token, naming both variables', () => {
    const p = problems({ CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY: 'true' });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain('CERTCTL_AGENT_BOOTSTRAP_TOKEN is required');
    expect(p[0]).toContain('CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY=true');
    expect(
      loadConfig({
        CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY: 'true',
        CERTCTL_AGENT_BOOTSTRAP_TOKEN: 'agent-enroll-token-0123',
      }).agentBootstrapToken,
    ).toBe('agent-enroll-token-0123');
    expect(problems({ CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY: 'maybe' })[0]).toContain(
      'CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY',
    );
  });

  it('must differ from the admin bootstrap token', () => {
    const same = 'one-token-for-everything-0123';
    expect(problems({ CERTCTL_AGENT_BOOTSTRAP_TOKEN: same, CERTCTL_BOOTSTRAP_TOKEN: same })[0]).toContain(
      'must differ from CERTCTL_BOOTSTRAP_TOKEN',
    );
  });
});
