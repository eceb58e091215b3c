import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLocalCa } from './local-ca';
import { validateIssuerConnection } from './registry';

const dir = mkdtempSync(join(tmpdir(), 'certctl-localca-'));
const at = (name: string) => join(dir, name);

/** A self-signed certificate and its key, made by openssl with the given extensions. */
function makeCert(name: string, cn: string, ext: string[], keyArgs: string[] = ['-nodes']): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      ...keyArgs,
      '-keyout',
      at(`${name}.key`),
      '-out',
      at(`${name}.pem`),
      '-subj',
      `/CN=${cn}`,
      '-days',
      '365',
      ...ext.flatMap((e) => ['-addext', e]),
    ],
    { stdio: 'ignore' },
  );
}

beforeAll(() => {
  const ca = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  makeCert('ca', 'Test Issuing CA', ca);
  makeCert('other', 'Other CA', ca);
  makeCert('enc', 'Encrypted CA', ca, ['-passout', 'pass:correct-passphrase']);
  makeCert('leaf', 'leaf.example.com', ['basicConstraints=critical,CA:FALSE']);
  makeCert('nosign', 'No Sign CA', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature']);
  writeFileSync(at('garbage.pem'), 'not a certificate\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sub = (cert: string, key: string, extra: Record<string, string> = {}) => ({
  ca_cert_path: at(cert),
  ca_key_path: at(key),
  ...extra,
});

describe('checkLocalCa', () => {
  it('passes self-signed mode without touching files', async () => {
    await expect(checkLocalCa({})).resolves.toEqual({ ok: true, message: expect.stringContaining('self-signed mode') });
  });

  it('passes a CA certificate with its matching key', async () => {
    const r = await checkLocalCa(sub('ca.pem', 'ca.key'));
    expect(r.ok).toBe(true);
    expect(r.message).toMatch(/^sub-CA mode: root CA "CN=Test Issuing CA" valid until \d{4}-.*and the key matches$/);
  });

  it('opens an encrypted key with its passphrase, and says what is wrong without one', async () => {
    await expect(
      checkLocalCa(sub('enc.pem', 'enc.key', { ca_key_passphrase: 'correct-passphrase' })),
    ).resolves.toMatchObject({
      ok: true,
    });
    await expect(checkLocalCa(sub('enc.pem', 'enc.key'))).resolves.toEqual({
      ok: false,
      message: `ca_key_path ${at('enc.key')} is encrypted; set ca_key_passphrase`,
    });
    await expect(checkLocalCa(sub('enc.pem', 'enc.key', { ca_key_passphrase: 'wrong' }))).resolves.toEqual({
      ok: false,
      message: `ca_key_path ${at('enc.key')} cannot be decrypted with ca_key_passphrase`,
    });
  });

  it.each([
    ['a missing certificate file', sub('absent.pem', 'ca.key'), `ca_cert_path ${at('absent.pem')} does not exist`],
    ['a directory', { ca_cert_path: dir, ca_key_path: at('ca.key') }, `ca_cert_path ${dir} is not a regular file`],
    [
      'a file that is no certificate',
      sub('garbage.pem', 'ca.key'),
      `ca_cert_path ${at('garbage.pem')} does not hold a PEM X.509 certificate`,
    ],
    ['a leaf certificate', sub('leaf.pem', 'leaf.key'), 'is not a CA certificate that may sign certificates'],
    ['a CA that may not sign', sub('nosign.pem', 'nosign.key'), 'is not a CA certificate that may sign certificates'],
    ['a key of another CA', sub('ca.pem', 'other.key'), 'does not match the CA certificate in ca_cert_path'],
    ['a certificate given as the key', sub('ca.pem', 'ca.pem'), 'does not hold a PEM private key'],
  ])('fails on %s', async (_what, config, expected) => {
    const r = await checkLocalCa(config);
    expect(r.ok).toBe(false);
    expect(r.message).toContain(expected);
  });

  it('fails on an unreadable file', async () => {
    if (process.getuid?.() === 0) return; // root reads everything; the other cases still run
    chmodSync(at('other.pem'), 0o000);
    const r = await checkLocalCa(sub('other.pem', 'other.key'));
    chmodSync(at('other.pem'), 0o644);
    expect(r).toEqual({ ok: false, message: `ca_cert_path ${at('other.pem')} is not readable by the server process` });
  });

  it('fails on an expired or not yet valid CA', async () => {
    const later = new Date(Date.now() + 400 * 86_400_000);
    expect((await checkLocalCa(sub('ca.pem', 'ca.key'), later)).message).toMatch(/the CA certificate expired on/);
    const earlier = new Date(Date.now() - 86_400_000);
    expect((await checkLocalCa(sub('ca.pem', 'ca.key'), earlier)).message).toMatch(/is not valid before/);
    const soon = new Date(Date.now() + 345 * 86_400_000);
    expect((await checkLocalCa(sub('ca.pem', 'ca.key'), soon)).message).toMatch(
      /warning: the CA certificate expires in \d+ day/,
    );
  });
});

describe('validateIssuerConnection', () => {
  it('validates the config first, then runs the LocalCA check', async () => {
    await expect(validateIssuerConnection('LocalCA', { ca_cert_path: 'relative.pem' })).resolves.toEqual({
      ok: false,
      message:
        'invalid configuration: config.ca_cert_path: must be an absolute path; config.ca_key_path: is required together with ca_cert_path',
    });
    await expect(validateIssuerConnection('LocalCA', sub('ca.pem', 'ca.key'))).resolves.toMatchObject({ ok: true });
  });

  it("runs the other types' own checks (ACME: the directory must answer; nothing listens on loopback port 1)", async () => {
    await expect(
      validateIssuerConnection('ACME', { directory_url: 'https://127.0.0.1:1/dir', email: 'a@example.com' }),
    ).resolves.toEqual({ ok: false, message: expect.stringContaining('ACME: GET https://127.0.0.1:1/dir failed') });
  });
});
