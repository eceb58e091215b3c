import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTlsBundle, createSelfSignedTlsBundle } from './tls-bundle';

describe('createSelfSignedTlsBundle', () => {
  it('makes an ECDSA P-256 CA and a server certificate that openssl verifies', async () => {
    const b = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
    const ca = new X509Certificate(b.caCertPem);
    const leaf = new X509Certificate(b.certPem);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(leaf.subjectAltName).toContain('DNS:localhost');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(/^[0-7]/.test(leaf.serialNumber)).toBe(true); // positive serial

    const dir = mkdtempSync(join(tmpdir(), 'certctl-tls-'));
    writeFileSync(join(dir, 'ca.pem'), b.caCertPem);
    writeFileSync(join(dir, 'leaf.pem'), b.certPem);
    const out = execFileSync(
      'openssl',
      ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslserver', join(dir, 'leaf.pem')],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toMatch(/leaf\.pem: OK$/);
    expect(checkTlsBundle(b.certPem, b.keyPem).subject).toContain('CN=localhost');
  });

  it('refuses a key that does not belong to the certificate, and garbage', async () => {
    const a = await createSelfSignedTlsBundle({ dnsNames: ['a.test'], ipAddresses: [] });
    const b = await createSelfSignedTlsBundle({ dnsNames: ['b.test'], ipAddresses: [] });
    expect(() => checkTlsBundle(a.certPem, b.keyPem)).toThrow('does not match');
    expect(() => checkTlsBundle('nope', a.keyPem)).toThrow('certificate');
    expect(() => checkTlsBundle(a.certPem, 'nope')).toThrow('private key');
  });

  it('refuses an expired certificate', async () => {
    const old = await createSelfSignedTlsBundle({
      dnsNames: ['old.test'],
      ipAddresses: [],
      now: new Date('2020-01-01T00:00:00Z'),
      validityDays: 30,
    });
    expect(() => checkTlsBundle(old.certPem, old.keyPem)).toThrow('expired');
  });
});
