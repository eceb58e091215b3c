import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { DomainError, ErrorCode } from '@certctl/domain';
import { makeCa, makeLeaf, openssl, tempDir } from '../crl/test-fixtures';
import { estBase64, estBase64Length, estCertsOnlyBody } from './base64';

describe('estBase64', () => {
  it('matches Node base64 for every length around the line and padding boundaries', () => {
    for (let n = 0; n <= 240; n++) {
      const der = randomBytes(n);
      const text = estBase64(der);
      expect(text.length).toBe(estBase64Length(n));
      expect(text.replace(/\r\n/g, '')).toBe(der.toString('base64'));
      if (n > 0) expect(text.endsWith('\r\n')).toBe(true);
      const lines = text.split('\r\n');
      expect(lines.pop()).toBe('');
      for (const [i, line] of lines.entries()) {
        expect(line).not.toMatch(/[\r\n]/);
        if (i < lines.length - 1) expect(line).toHaveLength(76);
        else expect(line.length).toBeLessThanOrEqual(76);
      }
    }
  });

  it('can use LF line ends and refuses non-bytes', () => {
    const der = randomBytes(100);
    const text = estBase64(der, { eol: '\n' });
    expect(text).toBe(`${der.toString('base64').slice(0, 76)}\n${der.toString('base64').slice(76)}\n`);
    let err: unknown;
    try {
      estBase64('abc' as unknown as Uint8Array);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe(ErrorCode.Validation);
  });

  it('gives a /cacerts body that the TESTING.md curl recipe turns into the certificates', async () => {
    const root = await makeCa({ name: 'CN=EST Root' });
    const issuing = await makeCa({ parent: root, name: 'CN=EST Issuing' });
    const leaf = await makeLeaf(issuing, { cn: 'est-device.test' });
    const body = estCertsOnlyBody([issuing.certDer, root.certDer]);
    expect(body).toMatch(/^[A-Za-z0-9+/=\r\n]+$/);
    const t = tempDir({ 'cacerts.b64': body, 'leaf.pem': leaf.certPem });
    try {
      // b64d() from TESTING.md, then openssl pkcs7 -print_certs and openssl verify.
      const r = spawnSync(
        'bash',
        [
          '-c',
          `set -e; tr -d '\\r\\n' < cacerts.b64 | openssl base64 -d -A > p7.der
           openssl pkcs7 -inform DER -in p7.der -print_certs -out est-ca.pem
           grep -c 'BEGIN CERTIFICATE' est-ca.pem
           openssl verify -CAfile est-ca.pem leaf.pem`,
        ],
        { cwd: t.dir, encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('2\nleaf.pem: OK\n');
      // openssl's own base64 decoder reads the 76-column lines without the tr step.
      const direct = openssl(['base64', '-d', '-in', t.path('cacerts.b64'), '-out', t.path('direct.der')]);
      expect(direct.status).toBe(0);
      const printed = openssl(['pkcs7', '-inform', 'DER', '-in', t.path('direct.der'), '-print_certs', '-noout']);
      expect(printed.status).toBe(0);
      expect(printed.stdout).toContain('subject=CN = EST Issuing');
      expect(printed.stdout).toContain('subject=CN = EST Root');
    } finally {
      t.remove();
    }
  });
});
