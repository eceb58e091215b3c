import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { openssl, tempDir } from '../crl/test-fixtures';
import { parseCsr } from '../csr/parse-csr';
import { derTlvLength } from '../crl/der';
import { decodeEstBody } from './body';

function invalidMessage(fn: () => unknown): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(ErrorCode.Validation);
  return (err as DomainError).message;
}

describe('decodeEstBody', () => {
  let csrDer: Buffer;
  let csrPem: string;

  beforeAll(() => {
    const t = tempDir();
    try {
      const r = openssl([
        'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', t.path('dev.key'), '-subj', '/CN=dev1', '-outform', 'DER', '-out', t.path('dev.der'),
      ]); // prettier-ignore
      expect(r.status).toBe(0);
      // What the TESTING.md recipe posts: `openssl base64` output (64-column LF lines).
      expect(openssl(['base64', '-in', t.path('dev.der'), '-out', t.path('dev.b64')]).status).toBe(0);
      expect(
        openssl(['req', '-inform', 'DER', '-in', t.path('dev.der'), '-outform', 'PEM', '-out', t.path('dev.pem')])
          .status,
      ).toBe(0);
      csrDer = readFileSync(t.path('dev.der'));
      csrPem = readFileSync(t.path('dev.pem'), 'utf8');
      expect(readFileSync(t.path('dev.b64'), 'utf8').replace(/\n/g, '')).toBe(csrDer.toString('base64'));
    } finally {
      t.remove();
    }
  });

  it('decodes every shape real EST clients send to the same DER', async () => {
    const b64 = csrDer.toString('base64');
    const lines = (eol: string, width: number): string => (b64.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(eol);
    const shapes: [string, Buffer | string, string | undefined][] = [
      ['one line', b64, 'base64'],
      ['64-column LF (openssl base64)', `${lines('\n', 64)}\n`, 'base64'],
      ['76-column CRLF', `${lines('\r\n', 76)}\r\n`, 'base64'],
      ['unpadded', b64.replace(/=+$/, ''), undefined],
      ['Buffer of text, upper-case header', Buffer.from(lines('\r\n', 64)), ' BASE64 '],
      ['PEM CERTIFICATE REQUEST', csrPem, undefined],
      ['PEM NEW CERTIFICATE REQUEST, CRLF', csrPem.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST').replace(/\n/g, '\r\n'), 'base64'],
      ['binary DER Buffer', csrDer, 'binary'],
      ['binary DER read as latin1 string', csrDer.toString('latin1'), undefined],
      ['binary DER though the header says base64', csrDer, 'base64'],
    ]; // prettier-ignore
    for (const [name, body, cte] of shapes) {
      const der = decodeEstBody(body, cte);
      expect({ name, hex: der.toString('hex') }).toEqual({ name, hex: csrDer.toString('hex') });
    }
    const parsed = await parseCsr(decodeEstBody(csrPem));
    expect(parsed.commonName).toBe('dev1');
  });

  it('the decoded DER is what openssl reads back', () => {
    const t = tempDir({ 'out.der': decodeEstBody(`${csrDer.toString('base64')}\r\n`) });
    try {
      const r = openssl(['req', '-inform', 'DER', '-in', t.path('out.der'), '-noout', '-verify', '-subject']);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(/verify OK/i);
      expect(r.stdout).toContain('CN = dev1');
    } finally {
      t.remove();
    }
  });

  it('refuses bad bodies with a validation error naming body', () => {
    const b64 = csrDer.toString('base64');
    const cases: [Buffer | string, RegExp][] = [
      ['', /^body: is empty/],
      [Buffer.alloc(0), /^body: is empty/],
      ['  \r\n ', /^body: holds no base64 data/],
      ['not base64!', /^body: is neither DER nor base64/],
      [b64.replace(/^MI/, 'M*'), /^body: is neither DER nor base64/],
      [b64.slice(0, 4) + '=' + b64.slice(5), /^body: is neither DER nor base64/],
      ['QUJD', /^body: base64 does not decode to a DER SEQUENCE/],
      [b64.slice(0, 41), /^body: base64 has a bad length or padding/],
      [csrDer.subarray(0, csrDer.length - 10).toString('base64'), /^body: DER is truncated/],
      [Buffer.concat([csrDer, Buffer.from([0, 0])]).toString('base64'), /^body: has 2 bytes after the DER structure/],
      [csrPem + csrPem, /^body: must hold exactly one PEM block, found 2/],
      [csrPem.replace('END CERTIFICATE REQUEST', 'END CERTIFICATE'), /^body: PEM BEGIN CERTIFICATE REQUEST does not match END CERTIFICATE/],
      [csrPem.replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n\n'), /^body: encrypted or header-carrying PEM/],
      ['-----BEGIN CERTIFICATE REQUEST-----\nMIIB', /^body: must hold exactly one PEM block, found 0/],
      ['MII\u0100', /^body: contains characters that are neither base64 nor DER/],
      [Buffer.alloc(70_000, 0x41), /^body: is larger than 65536 bytes/],
    ]; // prettier-ignore
    for (const [body, message] of cases) expect(invalidMessage(() => decodeEstBody(body))).toMatch(message);
    expect(invalidMessage(() => decodeEstBody(b64, 'quoted-printable'))).toMatch(
      /^Content-Transfer-Encoding: unsupported value "quoted-printable"/,
    );
    expect(invalidMessage(() => decodeEstBody(42 as unknown as string))).toMatch(/^body: must be the request bytes/);
    expect(invalidMessage(() => decodeEstBody(b64, undefined, { maxBytes: 100 }))).toMatch(/larger than 100 bytes/);
    expect(invalidMessage(() => decodeEstBody('', undefined, { field: 'csr' }))).toMatch(/^csr: is empty/);
  });

  it('random and mutated bodies give a validation error or one whole DER SEQUENCE, never anything else', () => {
    const b64 = Buffer.from(csrDer.toString('base64'));
    for (let i = 0; i < 3000; i++) {
      let body: Buffer;
      if (i % 3 === 0) body = randomBytes(i % 200);
      else {
        body = Buffer.from(i % 2 ? b64 : csrDer);
        for (let k = 0; k < 1 + (i % 4); k++) body[(i * 7919 + k * 104729) % body.length] = randomBytes(1)[0];
        if (i % 5 === 0) body = body.subarray(0, i % body.length);
      }
      try {
        const der = decodeEstBody(body);
        expect(der[0]).toBe(0x30);
        expect(derTlvLength(der)).toBe(der.length);
      } catch (e) {
        expect(e).toBeInstanceOf(DomainError);
        expect((e as DomainError).code).toBe(ErrorCode.Validation);
      }
    }
  });
});
