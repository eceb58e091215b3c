import * as asn1js from 'asn1js';
import { invalid } from '@certctl/domain';

/**
 * A SEQUENCE whose DER was produced elsewhere (a TBS structure encoded by
 * @peculiar/asn1-schema and already signed, or a certificate as its CA issued it), written
 * verbatim when asn1js encodes the structure around it. Re-encoding a parsed certificate
 * costs more than an ECDSA signature, and re-encoding signed bytes must never change them.
 */
export class DerSequence extends asn1js.Sequence {
  private readonly der: ArrayBuffer;

  constructor(der: ArrayBuffer | Uint8Array) {
    super();
    this.der = exactArrayBuffer(der);
    // A wrong tag here is a bug in this library, never bad input: callers pass what
    // asn1-schema encoded or a certificate that already parsed.
    if (new Uint8Array(this.der)[0] !== 0x30) throw new Error('DerSequence: not a DER SEQUENCE');
  }

  override toBER(_sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    if (writer) {
      writer.write(this.der);
      return new ArrayBuffer(0);
    }
    return this.der;
  }
}

/** The bytes as an ArrayBuffer of exactly their length (a view's buffer may be a larger pool). */
export function exactArrayBuffer(bytes: ArrayBuffer | Uint8Array): ArrayBuffer {
  // isView rather than instanceof: buffers from another realm (Node core, jest's sandbox) fail instanceof.
  if (!ArrayBuffer.isView(bytes)) return bytes;
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole && !(typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer)
    ? (bytes.buffer as ArrayBuffer)
    : new Uint8Array(bytes).buffer;
}

/** A Uint8Array (Buffer included), whichever realm made it. */
export function isBytes(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]';
}

/**
 * Total length of the DER TLV that starts `bytes` (identifier, definite length, contents), or
 * -1 when the header is not a definite-length DER header that fits in `bytes`. Used to refuse
 * trailing garbage before a schema parse, which would otherwise ignore it.
 */
export function derTlvLength(bytes: Uint8Array): number {
  if (bytes.length < 2) return -1;
  if ((bytes[0] & 0x1f) === 0x1f) return -1; // high tag numbers never start our structures
  const first = bytes[1];
  let length: number;
  let header = 2;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4 || bytes.length < 2 + n) return -1; // 0 = indefinite (BER only)
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[2 + i];
    header += n;
  }
  const total = header + length;
  return total <= bytes.length ? total : -1;
}

/** `d` truncated to whole seconds (GeneralizedTime with fractional seconds is not allowed). */
export function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** A valid Date, truncated to whole seconds; a validation error naming `field` otherwise. */
export function requireDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(`${field} must be a valid date`);
  return wholeSeconds(value);
}

const HEX = /^[0-9a-fA-F]+$/;

/**
 * A certificate serial as hex (any case, optional leading zeros) to the content octets of a
 * DER INTEGER: minimal, positive, at most `maxOctets` (RFC 5280 4.1.2.2: 20) octets.
 */
export function serialHexToInteger(serialHex: unknown, field: string, maxOctets = 20): Uint8Array {
  if (typeof serialHex !== 'string' || !HEX.test(serialHex)) throw invalid(`${field} must be a hexadecimal serial`);
  let hex = serialHex.toLowerCase().replace(/^0+/, '');
  if (hex.length === 0) throw invalid(`${field} must be a positive serial (RFC 5280 4.1.2.2)`);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  if (bytes.length > maxOctets) throw invalid(`${field} is longer than ${maxOctets} octets (RFC 5280 4.1.2.2)`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * DER INTEGER content octets of a positive serial to the canonical hex used across certctl:
 * lower case, no leading zero octets (what randomSerialHex() produces). Undefined when the
 * integer is empty, zero or negative.
 */
export function integerToSerialHex(content: Uint8Array): string | undefined {
  if (content.length === 0 || content[0] & 0x80) return undefined;
  let i = 0;
  while (i < content.length && content[i] === 0) i++;
  if (i === content.length) return undefined;
  return Buffer.from(content.buffer, content.byteOffset + i, content.length - i).toString('hex');
}
