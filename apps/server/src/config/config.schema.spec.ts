import { configProblems as problems } from './config-testing';
import { loadConfig, pkiPublicBaseUrl, publicBaseUrl } from './config.schema';

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

describe('PKI distribution settings', () => {
  it('are off by default: no plain-HTTP listener, CRL/AIA URLs under the public URL', () => {
    const c = loadConfig({});
    expect(c.pki.httpListener).toBeUndefined();
    expect(c.pki.publicUrl).toBeUndefined();
    expect(pkiPublicBaseUrl(c)).toBe('https://localhost:8443');
    const pub = loadConfig({ CERTCTL_PUBLIC_URL: 'https://certctl.example.com' });
    expect(pkiPublicBaseUrl(pub)).toBe('https://certctl.example.com');
  });

  it('CERTCTL_PKI_HTTP_PORT starts a listener on CERTCTL_SERVER_HOST unless CERTCTL_PKI_HTTP_HOST is set', () => {
    expect(loadConfig({ CERTCTL_PKI_HTTP_PORT: '8080' }).pki.httpListener).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(loadConfig({ CERTCTL_SERVER_HOST: '0.0.0.0', CERTCTL_PKI_HTTP_PORT: ' 80 ' }).pki.httpListener).toEqual({
      host: '0.0.0.0',
      port: 80,
    });
    expect(
      loadConfig({ CERTCTL_SERVER_HOST: '0.0.0.0', CERTCTL_PKI_HTTP_PORT: '80', CERTCTL_PKI_HTTP_HOST: '::' }).pki
        .httpListener,
    ).toEqual({ host: '::', port: 80 });
    // A host alone starts nothing.
    expect(loadConfig({ CERTCTL_PKI_HTTP_HOST: '127.0.0.1' }).pki.httpListener).toBeUndefined();
  });

  it('refuses a bad port or host, naming the variable', () => {
    for (const port of ['0', '65536', 'http', '-1', '80.5']) {
      const p = problems({ CERTCTL_PKI_HTTP_PORT: port });
      expect({ port, p }).toEqual({ port, p: [expect.stringContaining('CERTCTL_PKI_HTTP_PORT')] });
    }
    for (const host of ['pki.example.com', '10.0.0.300', '*']) {
      const p = problems({ CERTCTL_PKI_HTTP_PORT: '80', CERTCTL_PKI_HTTP_HOST: host });
      expect({ host, p }).toEqual({ host, p: [expect.stringContaining('CERTCTL_PKI_HTTP_HOST')] });
    }
  });

  it('CERTCTL_PKI_PUBLIC_URL takes http:// or https:// and is the CRL/AIA base; CERTCTL_PUBLIC_URL stays https', () => {
    const c = loadConfig({
      CERTCTL_PUBLIC_URL: 'https://certctl.example.com',
      CERTCTL_PKI_PUBLIC_URL: ' http://pki.example.com ',
    });
    expect(c.pki.publicUrl).toBe('http://pki.example.com');
    expect(pkiPublicBaseUrl(c)).toBe('http://pki.example.com');
    expect(publicBaseUrl(c)).toBe('https://certctl.example.com');
    expect(pkiPublicBaseUrl(loadConfig({ CERTCTL_PKI_PUBLIC_URL: 'https://pki.example.com/certctl' }))).toBe(
      'https://pki.example.com/certctl',
    );
    expect(problems({ CERTCTL_PUBLIC_URL: 'http://certctl.example.com' })[0]).toContain('CERTCTL_PUBLIC_URL');
  });

  it('refuses a CERTCTL_PKI_PUBLIC_URL that is not http(s), or has credentials, a query or a fragment', () => {
    for (const url of [
      'pki.example.com',
      'ftp://pki.example.com',
      'http://user:pw@pki.example.com',
      'http://pki.example.com/?x=1',
      'http://pki.example.com/?',
      'http://pki.example.com/#top',
    ]) {
      const p = problems({ CERTCTL_PKI_PUBLIC_URL: url });
      expect({ url, p }).toEqual({ url, p: [expect.stringContaining('CERTCTL_PKI_PUBLIC_URL')] });
    }
  });
});
