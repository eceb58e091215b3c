import { invalid } from '@certctl/domain';
import { derTlvLength, isBytes } from '../crl/der';

/** Largest EST request body accepted by default (a CSR with many SANs stays far below). */
export const EST_MAX_BODY_BYTES = 64 * 1024;

/** Content-Transfer-Encoding values a client may send; RFC 8951 2 says base64 is used whatever it says. */
const KNOWN_TRANSFER_ENCODINGS = new Set(['base64', 'binary', '7bit', '8bit']);

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const WHITESPACE = /[ \t\r\n\f\v]/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface DecodeEstBodyOptions {
  /** Upper bound on the raw body size in bytes (default EST_MAX_BODY_BYTES). */
  maxBytes?: number;
  /** Field named in errors (default `body`). */
  field?: string;
}

/**
 * The DER carried by an EST request body (RFC 7030 4.2.1 and 4.4.1, RFC 8951 2), whatever
 * real clients send: base64 with or without line breaks (LF or CRLF) and padding, a
 * PEM-wrapped CSR (`-----BEGIN CERTIFICATE REQUEST-----`, `NEW CERTIFICATE REQUEST`), or
 * binary DER. `Content-Transfer-Encoding` is checked to be a known value but does not decide
 * the decoding (RFC 8951: base64 always; some clients send binary anyway). The result is one
 * complete DER SEQUENCE with nothing after it; anything else is a DomainError(Validation)
 * naming `body`. A string body must hold only characters U+0000..U+00FF (read as latin1).
 */
export function decodeEstBody(
  body: Buffer | Uint8Array | string,
  contentTransferEncoding?: string,
  opts: DecodeEstBodyOptions = {},
): Buffer {
  const field = opts.field ?? 'body';
  const maxBytes = opts.maxBytes ?? EST_MAX_BODY_BYTES;
  if (contentTransferEncoding !== undefined) {
    if (typeof contentTransferEncoding !== 'string')
      throw invalid('Content-Transfer-Encoding: must be a single header value');
    const cte = contentTransferEncoding.trim().toLowerCase();
    if (!KNOWN_TRANSFER_ENCODINGS.has(cte))
      throw invalid(
        `Content-Transfer-Encoding: unsupported value ${JSON.stringify(contentTransferEncoding.slice(0, 40))} (use base64)`,
      );
  }

  let bytes: Buffer;
  if (typeof body === 'string') {
    if (hasWideChar(body)) throw invalid(`${field}: contains characters that are neither base64 nor DER`);
    bytes = Buffer.from(body, 'latin1');
  } else if (isBytes(body)) {
    bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  } else {
    throw invalid(`${field}: must be the request bytes`);
  }
  if (bytes.length === 0) throw invalid(`${field}: is empty (expected a base64 DER PKCS#10 request)`);
  if (bytes.length > maxBytes) throw invalid(`${field}: is larger than ${maxBytes} bytes`);

  // Binary DER: a SEQUENCE whose length covers the whole body. Base64 text never decodes this
  // way by accident: its first byte would be '0' (0x30), which decodes to 0xd0..0xd3, not 0x30.
  if (bytes[0] === 0x30 && derTlvLength(bytes) === bytes.length) return Buffer.from(bytes);

  const text = bytes.toString('latin1');
  let b64 = text;
  if (text.includes('-----BEGIN ')) {
    const blocks = [...text.matchAll(PEM_BLOCK)];
    if (blocks.length !== 1) throw invalid(`${field}: must hold exactly one PEM block, found ${blocks.length}`);
    const [, begin, inner, end] = blocks[0];
    if (begin !== end) throw invalid(`${field}: PEM BEGIN ${begin} does not match END ${end}`);
    if (inner.includes(':')) throw invalid(`${field}: encrypted or header-carrying PEM is not accepted`);
    b64 = inner;
  }
  b64 = b64.replace(WHITESPACE, '');
  if (b64.length === 0) throw invalid(`${field}: holds no base64 data`);
  if (!BASE64.test(b64)) throw invalid(`${field}: is neither DER nor base64 (invalid character)`);
  const unpadded = b64.replace(/=+$/, '');
  if (unpadded.length % 4 === 1 || (b64.length !== unpadded.length && b64.length % 4 !== 0))
    throw invalid(`${field}: base64 has a bad length or padding`);
  const der = Buffer.from(unpadded, 'base64');
  if (der.length === 0 || der[0] !== 0x30) throw invalid(`${field}: base64 does not decode to a DER SEQUENCE`);
  const tlv = derTlvLength(der);
  if (tlv === -1) throw invalid(`${field}: DER is truncated or not definite-length`);
  if (tlv !== der.length) throw invalid(`${field}: has ${der.length - tlv} bytes after the DER structure`);
  return der;
}

function hasWideChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return true;
  return false;
}
