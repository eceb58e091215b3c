import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { DomainError, ErrorCode } from '@certctl/domain';
import { createSelfSignedTlsBundle } from '@certctl/pki';
import { ConfigError, type AppConfig } from '../config/config.schema';
import type { EstLabelConfig } from '../enrollment/enrollment-config';
import { verifyEnrollmentPassword } from '../enrollment/enrollment-password';
import { EstLabels } from './est-labels';

function labels(list: Partial<EstLabelConfig>[], enabled = true): EstLabels {
  const full = list.map((l) => ({
    label: '',
    issuerId: 'iss-x',
    auth: 'basic' as const,
    channelBinding: false,
    allowNameChange: false,
    serverKeygen: true,
    ...l,
  }));
  const config = { enrollment: { est: { enabled, labels: full, maxAuthFailures: 3, lockoutMs: 60_000 } } };
  return new EstLabels(config as unknown as AppConfig);
}

function bootError(l: EstLabels): ConfigError {
  let err: unknown;
  try {
    l.onModuleInit();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('EstLabels (boot preparation)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'certctl-est-labels-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hashes a plain password once, drops the plain text and warns', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const l = labels([{ username: 'u', password: 'plain-password-1' }]);
    l.onModuleInit();
    const cfg = l.get(undefined).config;
    expect(cfg.password).toBeUndefined();
    expect(cfg.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(warn.mock.calls[0][0]).toMatch(/CERTCTL_EST_PASSWORD is set in plain text.*CERTCTL_EST_PASSWORD_HASH/);
    const label = l.get(undefined);
    expect(label.name).toBe('default');
    expect(await verifyEnrollmentPassword('plain-password-1', label.passwordHash!)).toBe(true);
    warn.mockRestore();
  });

  it('reads trust bundles; refuses the boot for unreadable or empty bundles and malformed hashes', async () => {
    const bundle = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: [] });
    writeFileSync(join(dir, 'ok.pem'), bundle.caCertPem);
    writeFileSync(join(dir, 'empty.pem'), 'no certificates here\n');
    const ok = labels([{ label: 'dev', auth: 'mtls', trustBundlePath: join(dir, 'ok.pem') }]);
    ok.onModuleInit();
    expect(ok.get('dev').trustAnchors.map((c) => c.subject)).toEqual(['CN=certctl local TLS CA\nO=certctl']);

    const err = bootError(
      labels([
        { label: 'a', auth: 'mtls', trustBundlePath: join(dir, 'missing.pem') },
        { label: 'b-c', auth: 'either', trustBundlePath: join(dir, 'empty.pem'), passwordHash: 'md5$abc' },
      ]),
    );
    expect(err.problems).toEqual([
      expect.stringMatching(/^CERTCTL_EST_PROFILE_A_TRUST_BUNDLE_PATH: cannot read .*missing\.pem/),
      expect.stringMatching(/^CERTCTL_EST_PROFILE_B_C_PASSWORD_HASH: expected scrypt/),
      expect.stringMatching(/^CERTCTL_EST_PROFILE_B_C_TRUST_BUNDLE_PATH: cannot read .*empty\.pem.*no PEM block/),
    ]);
  });

  it('answers 404 naming the reason for a disabled EST or an unknown label', () => {
    const off = labels([], false);
    off.onModuleInit();
    expect(() => off.get(undefined)).toThrow(/EST is not enabled/);
    const on = labels([{ username: 'u', passwordHash: undefined }]);
    on.onModuleInit();
    let err: unknown;
    try {
      on.get('nope');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe(ErrorCode.NotFound);
    expect((err as DomainError).message).toMatch(/nope/);
  });
});
