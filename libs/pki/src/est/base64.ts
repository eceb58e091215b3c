import { invalid } from '@certctl/domain';
import { certsOnlyPkcs7 } from '../pkcs7/certs-only';
import { isBytes } from '../crl/der';

/** Input bytes per output line: 57 bytes encode to exactly 76 base64 characters (RFC 2045 6.8). */
const BYTES_PER_LINE = 57;
const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'ascii');
const CRLF = '\r\n';

/** Length of the base64 text of `n` bytes in 76-column lines, each ended by `eol`. */
export function estBase64Length(n: number, eol = CRLF): number {
  if (n === 0) return 0;
  const lines = Math.ceil(n / BYTES_PER_LINE);
  return Math.ceil(n / 3) * 4 + lines * eol.length;
}

/**
 * Base64 of `src` in 76-column lines each ended by `eol`, written straight into `target` at
 * `offset` (no intermediate JS string, so a private key's text exists only in buffers the
 * caller can zeroize). Returns the offset after the last byte written.
 */
export function writeEstBase64(src: Uint8Array, target: Buffer, offset: number, eol = CRLF): number {
  let o = offset;
  for (let line = 0; line < src.length; line += BYTES_PER_LINE) {
    const end = Math.min(line + BYTES_PER_LINE, src.length);
    for (let i = line; i < end; i += 3) {
      const b0 = src[i];
      const b1 = i + 1 < end ? src[i + 1] : 0;
      const b2 = i + 2 < end ? src[i + 2] : 0;
      target[o++] = ALPHABET[b0 >> 2];
      target[o++] = ALPHABET[((b0 & 0x03) << 4) | (b1 >> 4)];
      target[o++] = i + 1 < end ? ALPHABET[((b1 & 0x0f) << 2) | (b2 >> 6)] : 0x3d;
      target[o++] = i + 2 < end ? ALPHABET[b2 & 0x3f] : 0x3d;
    }
    o += target.write(eol, o, 'ascii');
  }
  return o;
}

/**
 * The base64 body of an EST response (RFC 7030 4.1.3, 4.2.3, 4.5.2; RFC 8951 2): standard
 * alphabet with padding, 76-column lines ended by CRLF (RFC 2045 6.8), CRLF after the last line.
 */
export function estBase64(der: Uint8Array, opts: { eol?: '\r\n' | '\n' } = {}): string {
  if (!isBytes(der)) throw invalid('der must be bytes');
  const eol = opts.eol ?? CRLF;
  const out = Buffer.alloc(estBase64Length(der.length, eol));
  writeEstBase64(der, out, 0, eol);
  return out.toString('ascii');
}

/**
 * The body of EST /cacerts, /simpleenroll and /simplereenroll responses
 * (`application/pkcs7-mime`, RFC 7030 4.1.3 and 4.2.3): a certs-only PKCS#7 of the
 * certificates in the order given, base64 in 76-column lines.
 */
export function estCertsOnlyBody(certsDer: readonly Uint8Array[]): string {
  return estBase64(certsOnlyPkcs7(certsDer));
}
