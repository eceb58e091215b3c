// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { invalid } from '@certctl/domain';
import { keyMatchesSpki, readPrivateKey } from '../keys/keys';
import { pemToDers, toArrayBuffer } from '../keys/pem';

export interface Pkcs12Params {
  /** The private key PEM (PKCS#8, encrypted PKCS#8 with `keyPassphrase`, SEC1, PKCS#1). */
  keyPem: string;
  keyPassphrase?: string;
  /** The certificate of that key. */
  certPem: string;
  /** Chain certificates to include (one PEM string with several blocks, or a list). */
  chainPems?: string | readonly string[];
  /** Protects the key, the certificates and the MAC. */
  password: string;
  /** friendlyName bag attribute (the alias keytool and Windows show). */
  friendlyName?: string;
  /** PBKDF2 and MAC iterations (default 10,000; OpenSSL 3's default is 2,048). */
  iterations?: number;
}

export const PKCS12_DEFAULT_ITERATIONS = 10_000;

const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_KEY_BAG_SHROUDED = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';

/**
 * A PKCS#12 (RFC 7292) file for a key and its certificate chain, in the modern profile
 * OpenSSL 3 writes by default and Windows 10+/Java 11+ read: the shrouded key bag and the
 * certificate bags are encrypted with PBES2 (PBKDF2 with HMAC-SHA256, AES-256-CBC), the
 * whole is protected by an HMAC-SHA256 MAC. No RC2 or 3DES, so OpenSSL 3 opens it without
 * `-legacy`. The key and certificate bags share a localKeyID (SHA-1 of the certificate) and
 * friendlyName. Built on pkijs; the MAC key derivation runs in JavaScript on the caller's
 * thread (about 1.3 ms per 1,000 iterations here).
 */
export async function toPkcs12(params: Pkcs12Params): Promise<Uint8Array> {
  if (typeof params.password !== 'string' || params.password.length === 0 || params.password.length > 1024) {
    throw invalid('password: must be 1-1024 characters');
  }
  const iterations = params.iterations ?? PKCS12_DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1000 || iterations > 1_000_000) {
    throw invalid('iterations: must be a whole number 1,000-1,000,000');
  }
  if (params.friendlyName !== undefined && (params.friendlyName.length === 0 || params.friendlyName.length > 256)) {
    throw invalid('friendly_name: must be 1-256 characters');
  }

  const key = readPrivateKey(params.keyPem, { passphrase: params.keyPassphrase, field: 'key' });
  const certDer = pemToDers(params.certPem, ['CERTIFICATE'], 'cert')[0];
  let spki: Uint8Array;
  try {
    spki = new Uint8Array(new x509.X509Certificate(certDer).publicKey.rawData);
  } catch {
    throw invalid('cert: not a readable X.509 certificate');
  }
  if (!keyMatchesSpki(key, spki)) throw invalid('key: does not match the certificate');
  const chainDers = (typeof params.chainPems === 'string' ? [params.chainPems] : (params.chainPems ?? []))
    .filter((p) => p.trim() !== '')
    .flatMap((p) => pemToDers(p, ['CERTIFICATE'], 'chain'));

  const crypto = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never });
  const password = toArrayBuffer(new TextEncoder().encode(params.password));
  const pbes2 = {
    password,
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: iterations,
  };

  const localKeyId = createHash('sha1').update(certDer).digest();
  const leafAttributes = [
    new pkijs.Attribute({
      type: OID_LOCAL_KEY_ID,
      values: [new asn1js.OctetString({ valueHex: toArrayBuffer(localKeyId) })],
    }),
  ];
  if (params.friendlyName !== undefined) {
    leafAttributes.unshift(
      new pkijs.Attribute({ type: OID_FRIENDLY_NAME, values: [new asn1js.BmpString({ value: params.friendlyName })] }),
    );
  }

  let certBags: pkijs.SafeBag[];
  let keyBag: pkijs.PKCS8ShroudedKeyBag;
  try {
    certBags = [certDer, ...chainDers].map(
      (der, i) =>
        new pkijs.SafeBag({
          bagId: OID_CERT_BAG,
          bagValue: new pkijs.CertBag({ parsedValue: pkijs.Certificate.fromBER(toArrayBuffer(der)) }),
          bagAttributes: i === 0 ? leafAttributes : undefined,
        }),
    );
    keyBag = new pkijs.PKCS8ShroudedKeyBag({
      parsedValue: pkijs.PrivateKeyInfo.fromBER(
        toArrayBuffer(new Uint8Array(key.export({ type: 'pkcs8', format: 'der' }))),
      ),
    });
  } catch {
    throw invalid('chain: a certificate is not readable');
  }
  await keyBag.makeInternalValues(pbes2, crypto);

  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0, // password-based MAC
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certBags }) }, // PBES2-encrypted
            {
              privacyMode: 0, // the key bag is shrouded already
              value: new pkijs.SafeContents({
                safeBags: [
                  new pkijs.SafeBag({ bagId: OID_KEY_BAG_SHROUDED, bagValue: keyBag, bagAttributes: leafAttributes }),
                ],
              }),
            },
          ],
        },
      }),
    },
  });
  await pfx.parsedValue!.authenticatedSafe!.makeInternalValues({ safeContents: [pbes2, {}] }, crypto);
  await pfx.makeInternalValues(
    { password, iterations, pbkdf2HashAlgorithm: { name: 'SHA-256' }, hmacHashAlgorithm: 'SHA-256' },
    crypto,
  );
  return new Uint8Array(pfx.toSchema().toBER(false));
}
