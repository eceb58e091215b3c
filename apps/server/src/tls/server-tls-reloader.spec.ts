import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { createSelfSignedTlsBundle, issueTlsServerCertificate, type TlsBundle } from '@certctl/pki';
import { Counter, Registry } from 'prom-client';
import { loadConfig } from '../config/config.schema';
import { resolveServerTls, type ServerTls } from './server-tls';
import { ServerTlsReloader, type ServerTlsReloaderOptions } from './server-tls-reloader';

const NAMES = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
const serial = (pem: string) => new X509Certificate(pem).serialNumber;

function harness(
  env: Record<string, string>,
  initial: { key: string; cert: string },
  extra: Partial<ServerTlsReloaderOptions> = {},
) {
  const registry = new Registry();
  const reloads = new Counter({ name: 'reloads_total', help: 'h', labelNames: ['result'], registers: [registry] });
  const setSecureContext = jest.fn<void, [SecureContextOptions]>();
  const logger = { log: jest.fn(), warn: jest.fn() };
  const reloader = new ServerTlsReloader({
    config: loadConfig(env),
    server: { setSecureContext },
    initial,
    reloads,
    logger,
    ...extra,
  });
  const count = async (result: string) =>
    (await reloads.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { reloader, setSecureContext, logger, count };
}

describe('ServerTlsReloader (configured files)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-tls-reload-'));
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  const env = {
    CERTCTL_SERVER_TLS_CERT_PATH: certPath,
    CERTCTL_SERVER_TLS_KEY_PATH: keyPath,
    CERTCTL_SERVER_TLS_RELOAD_INTERVAL: '1s',
  };
  let bundle: TlsBundle;
  let second: { certPem: string; keyPem: string };
  let expired: { certPem: string; keyPem: string };
  const put = (cert: string, key: string) => {
    writeFileSync(certPath, cert);
    writeFileSync(keyPath, key);
  };

  beforeAll(async () => {
    bundle = await createSelfSignedTlsBundle(NAMES);
    const ca = { caCertPem: bundle.caCertPem, caKeyPem: bundle.caKeyPem };
    second = await issueTlsServerCertificate({ ...NAMES, ...ca });
    expired = await issueTlsServerCertificate({
      ...NAMES,
      ...ca,
      now: new Date(Date.now() - 10 * 86_400_000),
      validityDays: 1,
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('does nothing while the files hold the served pair', async () => {
    put(bundle.certPem, bundle.keyPem);
    const h = harness(env, { cert: bundle.certPem, key: bundle.keyPem });
    expect(await h.reloader.check()).toBe('unchanged');
    expect(await h.reloader.check()).toBe('unchanged');
    expect(h.setSecureContext).not.toHaveBeenCalled();
    expect(h.logger.warn).not.toHaveBeenCalled();
    expect([await h.count('reloaded'), await h.count('rejected')]).toEqual([0, 0]);
  });

  it('serves a changed, usable pair with the boot TLS options, and logs subject, serial and notAfter', async () => {
    put(bundle.certPem, bundle.keyPem);
    const h = harness(env, { cert: bundle.certPem, key: bundle.keyPem });
    put(second.certPem + bundle.caCertPem, second.keyPem);
    expect(await h.reloader.check()).toBe('reloaded');
    expect(h.setSecureContext).toHaveBeenCalledTimes(1);
    expect(h.setSecureContext.mock.calls[0][0]).toEqual({
      cert: second.certPem + bundle.caCertPem,
      key: second.keyPem,
      minVersion: 'TLSv1.3',
    });
    const logged = String(h.logger.log.mock.calls[0][0]);
    expect(logged).toContain(certPath);
    expect(logged).toContain(`serial ${serial(second.certPem)}`);
    expect(logged).toContain('subject "CN=localhost"');
    expect(logged).toContain(`notAfter ${new Date(new X509Certificate(second.certPem).validTo).toISOString()}`);
    expect(await h.count('reloaded')).toBe(1);
    // Now the new pair is the served one: no second swap.
    expect(await h.reloader.check()).toBe('unchanged');
    expect(h.setSecureContext).toHaveBeenCalledTimes(1);
  });

  it('keeps the old certificate on an unusable pair, warns once per distinct content, counts every rejected check', async () => {
    put(bundle.certPem, bundle.keyPem);
    const h = harness(env, { cert: bundle.certPem, key: bundle.keyPem });

    // Mid-rotation: new certificate, old key.
    put(second.certPem, bundle.keyPem);
    for (let i = 0; i < 3; i++) expect(await h.reloader.check()).toBe('rejected');
    expect(h.setSecureContext).not.toHaveBeenCalled();
    expect(h.logger.warn).toHaveBeenCalledTimes(1);
    const mismatch = String(h.logger.warn.mock.calls[0][0]);
    expect(mismatch).toContain(certPath);
    expect(mismatch).toContain(keyPath);
    expect(mismatch).toMatch(/does not match/);
    expect(mismatch).toContain(`still serving subject "CN=localhost", serial ${serial(bundle.certPem)}`);
    expect(await h.count('rejected')).toBe(3);

    // Other unusable content: one more warning.
    put(expired.certPem, expired.keyPem);
    expect(await h.reloader.check()).toBe('rejected');
    expect(await h.reloader.check()).toBe('rejected');
    expect(h.logger.warn).toHaveBeenCalledTimes(2);
    expect(String(h.logger.warn.mock.calls[1][0])).toMatch(/expired/);

    // An unreadable file: named with its variable.
    rmSync(keyPath);
    expect(await h.reloader.check()).toBe('rejected');
    expect(h.logger.warn).toHaveBeenCalledTimes(3);
    expect(String(h.logger.warn.mock.calls[2][0])).toContain(`CERTCTL_SERVER_TLS_KEY_PATH=${keyPath} cannot be read`);

    // Garbage in the certificate file.
    put('not a certificate', second.keyPem);
    expect(await h.reloader.check()).toBe('rejected');
    expect(String(h.logger.warn.mock.calls[3][0])).toMatch(/certificate is not a readable PEM/);
    expect(h.setSecureContext).not.toHaveBeenCalled();
    expect(await h.count('rejected')).toBe(7);

    // The completed rotation is served on the next check.
    put(second.certPem, second.keyPem);
    expect(await h.reloader.check()).toBe('reloaded');
    expect(h.setSecureContext).toHaveBeenCalledTimes(1);
    expect(await h.count('reloaded')).toBe(1);

    // The same bad content as before, after a good reload: a new episode, warned again.
    put(second.certPem, bundle.keyPem);
    expect(await h.reloader.check()).toBe('rejected');
    expect(h.logger.warn).toHaveBeenCalledTimes(5);
    expect(String(h.logger.warn.mock.calls[4][0])).toContain(`serial ${serial(second.certPem)}`);
  });

  it('asks for client certificates after a reload too when EST is on (same options as at boot)', async () => {
    put(bundle.certPem, bundle.keyPem);
    const estEnv = {
      ...env,
      CERTCTL_EST_ENABLED: 'true',
      CERTCTL_EST_USERNAME: 'device',
      CERTCTL_EST_PASSWORD: 'a-long-enough-password',
    };
    const h = harness(estEnv, { cert: bundle.certPem, key: bundle.keyPem });
    put(second.certPem, second.keyPem);
    expect(await h.reloader.check()).toBe('reloaded');
    expect(h.setSecureContext.mock.calls[0][0]).toMatchObject({
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: false,
    });
  });
});

describe('ServerTlsReloader (generated bundle)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-tls-reload-gen-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { CERTCTL_DATA_DIR: dir, CERTCTL_SERVER_HOST: '127.0.0.1' };

  it('re-issues a leaf near expiry under the same CA (the boot logic) and serves it', async () => {
    const boot = await resolveServerTls(loadConfig(env));
    const h = harness(env, boot);
    expect(await h.reloader.check()).toBe('unchanged');

    // A leaf 10 days from expiry, under the same CA: inside the 30-day re-issue window.
    const tlsDir = join(dir, 'tls');
    const ca = {
      caCertPem: readFileSync(join(tlsDir, 'ca.pem'), 'utf8'),
      caKeyPem: readFileSync(join(tlsDir, 'ca.key'), 'utf8'),
    };
    const names = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
    const ageing = await issueTlsServerCertificate({ ...names, ...ca, validityDays: 10 });
    writeFileSync(join(tlsDir, 'server.pem'), ageing.certPem + ca.caCertPem);
    writeFileSync(join(tlsDir, 'server.key'), ageing.keyPem);
    const h2 = harness(env, { cert: ageing.certPem + ca.caCertPem, key: ageing.keyPem });

    expect(await h2.reloader.check()).toBe('reloaded');
    const served = h2.setSecureContext.mock.calls[0][0];
    const leaf = new X509Certificate(String(served.cert));
    expect(leaf.serialNumber).not.toBe(serial(ageing.certPem));
    expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 86_400_000);
    expect(leaf.verify(new X509Certificate(ca.caCertPem).publicKey)).toBe(true);
    expect(served.cert).toBe(readFileSync(join(tlsDir, 'server.pem'), 'utf8'));
    expect(readFileSync(join(tlsDir, 'ca.pem'), 'utf8')).toBe(ca.caCertPem);
    expect(String(h2.logger.log.mock.calls[0][0])).toContain('(reissued)');
    expect(h2.logger.warn).not.toHaveBeenCalled();
    expect(await h2.reloader.check()).toBe('unchanged');
  });

  it('keeps serving when the re-issue check fails, warning once', async () => {
    const initial = await resolveServerTls(loadConfig(env));
    const failing = jest.fn<Promise<ServerTls>, []>().mockRejectedValue(new Error('EACCES: permission denied'));
    const h = harness(env, initial, { resolveGenerated: failing });
    expect(await h.reloader.check()).toBe('rejected');
    expect(await h.reloader.check()).toBe('rejected');
    expect(h.logger.warn).toHaveBeenCalledTimes(1);
    expect(String(h.logger.warn.mock.calls[0][0])).toMatch(/re-issuing the generated TLS certificate .* EACCES/);
    expect(h.setSecureContext).not.toHaveBeenCalled();
    expect(await h.count('rejected')).toBe(2);
  });
});

describe('ServerTlsReloader timer', () => {
  let bundle: TlsBundle;
  let next: { certPem: string; keyPem: string };
  beforeAll(async () => {
    bundle = await createSelfSignedTlsBundle(NAMES);
    next = await issueTlsServerCertificate({ ...NAMES, caCertPem: bundle.caCertPem, caKeyPem: bundle.caKeyPem });
  });
  afterEach(() => jest.useRealTimers());

  const generatedNext = async (): Promise<ServerTls> => ({ cert: next.certPem, key: next.keyPem, source: 'reissued' });

  it('schedules nothing with an interval of 0', () => {
    jest.useFakeTimers();
    const h = harness({ CERTCTL_SERVER_TLS_RELOAD_INTERVAL: '0' }, { cert: bundle.certPem, key: bundle.keyPem });
    h.reloader.start();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('checks every interval, survives a failing swap, and stops', async () => {
    jest.useFakeTimers();
    const h = harness(
      { CERTCTL_SERVER_TLS_RELOAD_INTERVAL: '5s' },
      { cert: bundle.certPem, key: bundle.keyPem },
      { resolveGenerated: generatedNext },
    );
    h.setSecureContext.mockImplementationOnce(() => {
      throw new Error('swap failed');
    });
    h.reloader.start();
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(4_999);
    expect(h.setSecureContext).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(1);
    expect(h.setSecureContext).toHaveBeenCalledTimes(1);
    expect(String(h.logger.warn.mock.calls[0][0])).toMatch(/swap failed; still serving .*serial/);
    expect(await h.count('rejected')).toBe(1);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(h.setSecureContext).toHaveBeenCalledTimes(2);
    expect(await h.count('reloaded')).toBe(1);
    h.reloader.stop();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('CERTCTL_SERVER_TLS_RELOAD_INTERVAL', () => {
  const interval = (v?: string) => loadConfig({ CERTCTL_SERVER_TLS_RELOAD_INTERVAL: v }).server.tlsReloadIntervalMs;

  it('defaults to 1m, takes durations, and 0 turns it off', () => {
    expect(interval()).toBe(60_000);
    expect(interval('1s')).toBe(1_000);
    expect(interval('2m30s')).toBe(150_000);
    expect(interval('0')).toBe(0);
    expect(interval('0s')).toBe(0);
  });

  it.each(['soon', '500ms', '2d', '-1'])('refuses %s naming the variable', (v) => {
    expect(() => interval(v)).toThrow(/CERTCTL_SERVER_TLS_RELOAD_INTERVAL/);
  });
});
