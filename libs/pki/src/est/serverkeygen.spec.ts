import { KeyObject } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import { makeCa, makeLeaf, openssl, tempDir } from '../crl/test-fixtures';
import { certsOnlyPkcs7 } from '../pkcs7/certs-only';
import { decodeEstBody } from './body';
import { buildServerKeygenResponse, zeroize } from './serverkeygen';

interface Part {
  headers: Record<string, string>;
  content: string;
}

/** A strict RFC 2046 multipart/mixed reader: CRLF delimiters, closing delimiter, headers per part. */
function parseMultipart(body: string, contentType: string): Part[] {
  const boundary = /^multipart\/mixed; boundary=([A-Za-z0-9_.-]+)$/.exec(contentType)?.[1];
  expect(boundary).toBeDefined();
  expect(body.startsWith(`--${boundary}\r\n`)).toBe(true);
  expect(body.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
  const inner = body.slice(`--${boundary}\r\n`.length, body.length - `\r\n--${boundary}--\r\n`.length);
  return inner.split(`\r\n--${boundary}\r\n`).map((raw) => {
    const split = raw.indexOf('\r\n\r\n');
    expect(split).toBeGreaterThan(0);
    const headers: Record<string, string> = {};
    for (const line of raw.slice(0, split).split('\r\n')) {
      const m = /^([A-Za-z-]+): (.*)$/.exec(line);
      expect(m).not.toBeNull();
      if (m) headers[m[1].toLowerCase()] = m[2];
    }
    return { headers, content: raw.slice(split + 4) };
  });
}

describe('buildServerKeygenResponse', () => {
  it('multipart/mixed with the PKCS#8 key and the certs-only PKCS#7 that openssl reads back (RFC 7030 4.4.2)', async () => {
    const ca = await makeCa({ name: 'CN=EST Keygen CA' });
    const leaf = await makeLeaf(ca, { cn: 'keygen-device.test' });
    const keyDer = KeyObject.from(leaf.keys.privateKey).export({ type: 'pkcs8', format: 'der' });
    const p7 = certsOnlyPkcs7([leaf.certDer]);

    const res = buildServerKeygenResponse({ certPkcs7Der: p7, privateKeyPkcs8Der: keyDer, boundary: 'estBoundary' });
    expect(res.contentType).toBe('multipart/mixed; boundary=estBoundary');
    const parts = parseMultipart(res.body.toString('ascii'), res.contentType);
    expect(parts.map((p) => p.headers)).toEqual([
      { 'content-type': 'application/pkcs8', 'content-transfer-encoding': 'base64' },
      { 'content-type': 'application/pkcs7-mime; smime-type=certs-only', 'content-transfer-encoding': 'base64' },
    ]);
    for (const p of parts) for (const line of p.content.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);

    const t = tempDir({ 'key.der': decodeEstBody(parts[0].content), 'cert.p7': decodeEstBody(parts[1].content) });
    try {
      const pkey = openssl(['pkey', '-inform', 'DER', '-in', t.path('key.der'), '-pubout']);
      expect(pkey.stderr).toBe('');
      expect(pkey.status).toBe(0);
      const certs = openssl([
        'pkcs7',
        '-inform',
        'DER',
        '-in',
        t.path('cert.p7'),
        '-print_certs',
        '-out',
        t.path('c.pem'),
      ]);
      expect(certs.status).toBe(0);
      const pub = openssl(['x509', '-in', t.path('c.pem'), '-noout', '-pubkey', '-subject']);
      expect(pub.status).toBe(0);
      expect(pub.stdout).toContain('subject=CN = keygen-device.test');
      // The key part is the private key of the certificate in the certificate part.
      expect(pub.stdout).toContain(pkey.stdout.trim());
    } finally {
      t.remove();
    }

    zeroize(res.body, keyDer);
    expect(res.body.every((b) => b === 0)).toBe(true);
    expect(keyDer.every((b) => b === 0)).toBe(true);
  });

  it('uses a random boundary by default and the server-generated-key type for an encrypted key', async () => {
    const ca = await makeCa();
    const p7 = certsOnlyPkcs7([ca.certDer]);
    const a = buildServerKeygenResponse({ certPkcs7Der: p7, encryptedKeyCmsDer: p7 });
    const b = buildServerKeygenResponse({ certPkcs7Der: p7, encryptedKeyCmsDer: p7 });
    expect(a.boundary).not.toBe(b.boundary);
    expect(a.boundary).toMatch(/^est-[0-9a-f]{32}$/);
    const parts = parseMultipart(a.body.toString('ascii'), a.contentType);
    expect(parts[0].headers['content-type']).toBe('application/pkcs7-mime; smime-type=server-generated-key');
    expect(decodeEstBody(parts[0].content).equals(p7)).toBe(true);
  });

  it('refuses bad parts with a validation error naming the field', async () => {
    const ca = await makeCa();
    const p7 = certsOnlyPkcs7([ca.certDer]);
    const key = Buffer.from([0x30, 0x00]);
    const bad: [unknown, RegExp][] = [
      [{ certPkcs7Der: 'x', privateKeyPkcs8Der: key }, /^certPkcs7Der: must be DER bytes/],
      [{ certPkcs7Der: Buffer.concat([p7, Buffer.from([0])]), privateKeyPkcs8Der: key }, /^certPkcs7Der: is not one DER SEQUENCE/],
      [{ certPkcs7Der: p7 }, /^privateKeyPkcs8Der: give exactly one/],
      [{ certPkcs7Der: p7, privateKeyPkcs8Der: key, encryptedKeyCmsDer: key }, /^privateKeyPkcs8Der: give exactly one/],
      [{ certPkcs7Der: p7, privateKeyPkcs8Der: Buffer.from([2, 1, 0]) }, /^privateKeyPkcs8Der: is not one DER SEQUENCE/],
      [{ certPkcs7Der: p7, privateKeyPkcs8Der: key, boundary: 'a b' }, /^boundary: must be 1 to 70/],
      [{ certPkcs7Der: p7, privateKeyPkcs8Der: key, boundary: 'x'.repeat(71) }, /^boundary: must be 1 to 70/],
      [null, /parts must be an object/],
    ]; // prettier-ignore
    for (const [parts, message] of bad) {
      let err: unknown;
      try {
        buildServerKeygenResponse(parts as Parameters<typeof buildServerKeygenResponse>[0]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe(ErrorCode.Validation);
      expect((err as DomainError).message).toMatch(message);
    }
  });
});
