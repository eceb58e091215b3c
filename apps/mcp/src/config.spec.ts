import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';

const dir = mkdtempSync(join(tmpdir(), 'certctl-mcp-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const error = (env: NodeJS.ProcessEnv): string => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('loadConfig accepted the environment');
};

describe('loadConfig', () => {
  it('reads the URL (origin only), the key and the CA bundle', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, PEM);
    expect(
      loadConfig({
        CERTCTL_SERVER_URL: 'https://certctl.example.com:8443/',
        CERTCTL_API_KEY: ' cc_key ',
        CERTCTL_SERVER_CA_BUNDLE_PATH: ca,
      }),
    ).toEqual({ serverUrl: 'https://certctl.example.com:8443', apiKey: 'cc_key', caBundlePem: PEM });
    expect(
      loadConfig({ CERTCTL_SERVER_URL: 'https://c.example.com', CERTCTL_API_KEY: 'k' }).caBundlePem,
    ).toBeUndefined();
  });

  it('accepts plain http only for a loopback host', () => {
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'http://127.1.2.3']) {
      expect(loadConfig({ CERTCTL_SERVER_URL: url, CERTCTL_API_KEY: 'k' }).serverUrl).toBe(new URL(url).origin);
    }
    for (const url of ['http://certctl.example.com', 'http://10.0.0.5:8443', 'http://127.0.0.1.example.com']) {
      expect(error({ CERTCTL_SERVER_URL: url, CERTCTL_API_KEY: 'k' })).toMatch(/^CERTCTL_SERVER_URL must be https/);
    }
    expect(error({ CERTCTL_SERVER_URL: 'ftp://127.0.0.1', CERTCTL_API_KEY: 'k' })).toMatch(/must be https/);
  });

  it('names what is missing or malformed', () => {
    expect(error({ CERTCTL_API_KEY: 'k' })).toMatch(/^CERTCTL_SERVER_URL is not set/);
    expect(error({ CERTCTL_SERVER_URL: 'not a url', CERTCTL_API_KEY: 'k' })).toBe(
      'CERTCTL_SERVER_URL is not a URL: not a url',
    );
    expect(error({ CERTCTL_SERVER_URL: 'https://c.example.com/api/v1', CERTCTL_API_KEY: 'k' })).toMatch(
      /must be the server origin only/,
    );
    expect(error({ CERTCTL_SERVER_URL: 'https://c.example.com' })).toBe('CERTCTL_API_KEY is not set');
    const missing = join(dir, 'nope.pem');
    expect(
      error({
        CERTCTL_SERVER_URL: 'https://c.example.com',
        CERTCTL_API_KEY: 'k',
        CERTCTL_SERVER_CA_BUNDLE_PATH: missing,
      }),
    ).toMatch(new RegExp(`^cannot read CERTCTL_SERVER_CA_BUNDLE_PATH ${missing}: ENOENT`));
    const notPem = join(dir, 'key.txt');
    writeFileSync(notPem, 'hello');
    expect(
      error({
        CERTCTL_SERVER_URL: 'https://c.example.com',
        CERTCTL_API_KEY: 'k',
        CERTCTL_SERVER_CA_BUNDLE_PATH: notPem,
      }),
    ).toBe(`CERTCTL_SERVER_CA_BUNDLE_PATH ${notPem} holds no PEM certificate`);
  });
});
