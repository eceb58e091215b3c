import { invalid } from '@certctl/domain';

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

/**
 * Every PEM block in `text` (RFC 7468), in order. PEM is a text armour, not ASN.1: the
 * DER inside is parsed by the caller with the ASN.1 libraries. `field` names the input in
 * errors. Encapsulated headers (`Proc-Type: ...`, legacy OpenSSL encryption) are refused.
 */
export function pemBlocks(text: string, field: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const body = m[2];
    if (!BASE64_BODY.test(body)) {
      throw invalid(`${field}: PEM block "${m[1]}" has headers or characters outside base64`);
    }
    const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
    if (der.length === 0) throw invalid(`${field}: PEM block "${m[1]}" is empty`);
    blocks.push({ label: m[1], der: new Uint8Array(der.buffer, der.byteOffset, der.byteLength) });
  }
  return blocks;
}

/** The DER of every block with one of `labels`; at least one is required. */
export function pemToDers(text: string, labels: readonly string[], field: string): Uint8Array[] {
  const ders = pemBlocks(text, field)
    .filter((b) => labels.includes(b.label))
    .map((b) => b.der);
  if (ders.length === 0) throw invalid(`${field}: no PEM block labelled ${labels.join(' or ')}`);
  return ders;
}

/** PEM text with a trailing newline, 64-column base64 (RFC 7468). */
export function derToPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A fresh ArrayBuffer holding exactly the bytes of `u8` (for APIs that take ArrayBuffer). */
export function toArrayBuffer(u8: Uint8Array): ArrayBuffer {
  return u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength) as ArrayBuffer;
}
