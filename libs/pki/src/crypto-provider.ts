// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

let installed = false;

/** Points @peculiar/x509 at Node's WebCrypto. Idempotent; every pki entry point calls it. */
export function ensureCryptoProvider(): void {
  if (installed) return;
  // Node's webcrypto is the WebCrypto API; the DOM `Crypto` type is not in our lib.
  x509.cryptoProvider.set(webcrypto as never);
  installed = true;
}

/** A positive 20-byte serial as hex (RFC 5280 4.1.2.2: at most 20 octets, non-negative). */
export function randomSerialHex(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(20));
  bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive and no leading zero octet to strip
  return Buffer.from(bytes).toString('hex');
}
