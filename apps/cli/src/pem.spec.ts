import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePemCertificates } from './pem';

/** What the import reports for each certificate, checked against openssl's own reading of it. */
describe('parsePemCertificates', () => {
  let dir: string;
  const openssl = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' });
  const make = (name: string, key: string[], ext: string[]): string => {
    const out = join(dir, `${name}.pem`);
    openssl(['req', '-x509', '-newkey', ...key, '-nodes', '-keyout', join(dir, `${name}.key`), '-out', out,
      '-days', '3', '-subj', `/O=Example/CN=${name}`, ...ext]); // prettier-ignore
    return readFileSync(out, 'utf8');
  };
  const fingerprint = (pem: string): string =>
    execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem, encoding: 'utf8' })
      .split('=')[1]
      .trim()
      .replace(/:/g, '')
      .toLowerCase();

  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'certctl-cli-pem-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every certificate of a bundle, skips keys, and reports a broken block without losing the others', () => {
    const rsa = make('rsa.example.com', ['rsa:2048'], [
      '-addext', 'subjectAltName=DNS:rsa.example.com,IP:10.0.0.5,email:ops@example.com', '-addext', 'basicConstraints=CA:FALSE',
    ]); // prettier-ignore
    const ca = make('ca.example.com', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], [
      '-addext', 'basicConstraints=critical,CA:TRUE',
    ]); // prettier-ignore
    const key = readFileSync(join(dir, 'rsa.example.com.key'), 'utf8');
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const blocks = parsePemCertificates(`junk\n${rsa}${key}${broken}${ca}`);

    expect(blocks).toHaveLength(3);
    expect(blocks[0]).toEqual({
      index: 1,
      cert: expect.objectContaining({
        fingerprint_sha256: fingerprint(rsa),
        common_name: 'rsa.example.com',
        sans: ['rsa.example.com', '10.0.0.5', 'ops@example.com'],
        subject_dn: 'O=Example,CN=rsa.example.com',
        key_algorithm: 'RSA',
        key_size: 2048,
        is_ca: false,
      }),
    });
    expect(blocks[1]).toEqual({ index: 2, error: expect.stringMatching(/^certificate #2: /) });
    expect(blocks[2]).toEqual({
      index: 3,
      cert: expect.objectContaining({
        fingerprint_sha256: fingerprint(ca),
        key_algorithm: 'ECDSA',
        key_size: 384,
        is_ca: true,
        sans: [],
      }),
    });
    const c = (blocks[0] as { cert: { not_before: string; not_after: string; serial: string } }).cert;
    const days = (Date.parse(c.not_after) - Date.parse(c.not_before)) / 86_400_000;
    expect(days).toBe(3);
    const serial = openssl(['x509', '-noout', '-serial', '-in', join(dir, 'rsa.example.com.pem')]);
    expect(c.serial).toBe(serial.split('=')[1].trim().toLowerCase());
  });

  it('finds nothing in a text without certificates', () => {
    expect(parsePemCertificates('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toEqual([]);
  });
});
