import { randomBytes } from 'node:crypto';
import { invalid } from '@certctl/domain';
import { derTlvLength, isBytes } from '../crl/der';
import { estBase64Length, writeEstBase64 } from './base64';

/** RFC 2046 5.1.1 boundary, restricted to characters that need no quoting in the header. */
const BOUNDARY = /^[A-Za-z0-9_.-]{1,70}$/;

export interface ServerKeygenParts {
  /** The certificate as a certs-only PKCS#7 (certsOnlyPkcs7), DER. */
  certPkcs7Der: Uint8Array;
  /** The private key as an unencrypted PKCS#8 PrivateKeyInfo, DER (RFC 7030 4.4.2). */
  privateKeyPkcs8Der?: Uint8Array;
  /**
   * Instead of privateKeyPkcs8Der: the key encrypted to the client, a CMS EnvelopedData
   * ContentInfo, DER (RFC 7030 4.4.2, `smime-type=server-generated-key`).
   */
  encryptedKeyCmsDer?: Uint8Array;
  /** multipart boundary; default a random one. */
  boundary?: string;
}

export interface ServerKeygenResponse {
  /** The response body; holds the key in base64: zeroize() it once it is sent. */
  body: Buffer;
  /** `multipart/mixed; boundary=...`. */
  contentType: string;
  boundary: string;
}

export const CONTENT_TYPE_PKCS8 = 'application/pkcs8';
export const CONTENT_TYPE_CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';
export const CONTENT_TYPE_SERVER_GENERATED_KEY = 'application/pkcs7-mime; smime-type=server-generated-key';

function requireDer(value: unknown, field: string): Uint8Array {
  if (!isBytes(value) || value.length === 0) throw invalid(`${field}: must be DER bytes`);
  if (value[0] !== 0x30 || derTlvLength(value) !== value.length) throw invalid(`${field}: is not one DER SEQUENCE`);
  return value;
}

/**
 * The RFC 7030 4.4.2 serverkeygen response: `multipart/mixed` with the private key part first
 * (`application/pkcs8`, or `application/pkcs7-mime; smime-type=server-generated-key` when the
 * key is encrypted to the client) and the certificate part
 * (`application/pkcs7-mime; smime-type=certs-only`), each with
 * `Content-Transfer-Encoding: base64` and base64 in 76-column CRLF lines. The body is built
 * directly into one Buffer (no string copy of the key); zeroize it and the key after sending.
 */
export function buildServerKeygenResponse(parts: ServerKeygenParts): ServerKeygenResponse {
  if (parts === null || typeof parts !== 'object') throw invalid('serverkeygen: parts must be an object');
  const cert = requireDer(parts.certPkcs7Der, 'certPkcs7Der');
  const hasPlain = parts.privateKeyPkcs8Der !== undefined;
  const hasEncrypted = parts.encryptedKeyCmsDer !== undefined;
  if (hasPlain === hasEncrypted)
    throw invalid('privateKeyPkcs8Der: give exactly one of privateKeyPkcs8Der and encryptedKeyCmsDer');
  const key = hasPlain
    ? requireDer(parts.privateKeyPkcs8Der, 'privateKeyPkcs8Der')
    : requireDer(parts.encryptedKeyCmsDer, 'encryptedKeyCmsDer');
  const keyType = hasPlain ? CONTENT_TYPE_PKCS8 : CONTENT_TYPE_SERVER_GENERATED_KEY;
  const boundary = parts.boundary ?? `est-${randomBytes(16).toString('hex')}`;
  if (typeof boundary !== 'string' || !BOUNDARY.test(boundary))
    throw invalid('boundary: must be 1 to 70 characters from A-Z a-z 0-9 _ . -');

  const header = (type: string): string =>
    `--${boundary}\r\nContent-Type: ${type}\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
  const keyHeader = header(keyType);
  const certHeader = header(CONTENT_TYPE_CERTS_ONLY);
  const closing = `--${boundary}--\r\n`;
  // Each base64 part ends with CRLF, which is the CRLF that belongs to the next delimiter.
  const size =
    keyHeader.length + estBase64Length(key.length) + certHeader.length + estBase64Length(cert.length) + closing.length;
  const body = Buffer.alloc(size);
  let o = body.write(keyHeader, 0, 'ascii');
  o = writeEstBase64(key, body, o);
  o += body.write(certHeader, o, 'ascii');
  o = writeEstBase64(cert, body, o);
  o += body.write(closing, o, 'ascii');
  if (o !== size) throw new Error(`buildServerKeygenResponse: wrote ${o} of ${size} bytes`);
  return { body, contentType: `multipart/mixed; boundary=${boundary}`, boundary };
}

/** Overwrites each buffer with zeros (server-generated private keys, the serverkeygen body). */
export function zeroize(...buffers: (Uint8Array | undefined | null)[]): void {
  for (const b of buffers) if (b) b.fill(0);
}
