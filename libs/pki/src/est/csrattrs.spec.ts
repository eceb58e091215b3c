import * as asn1js from 'asn1js';
import { DomainError, ErrorCode } from '@certctl/domain';
import { openssl, tempDir } from '../crl/test-fixtures';
import { decodeEstBody } from './body';
import { encodeCsrAttrs, encodeCsrAttrsBase64, type CsrAttrsRules } from './csrattrs';

/** `openssl asn1parse -inform DER` of the CsrAttrs, plus a parse of the EKU extension value. */
function asn1parse(der: Buffer): { top: string; eku: string } {
  const t = tempDir({ 'a.der': der });
  try {
    const r = openssl(['asn1parse', '-inform', 'DER', '-in', t.path('a.der')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const octet = r.stdout.match(/^\s*(\d+):.*OCTET STRING/m);
    expect(octet).not.toBeNull();
    const e = openssl(['asn1parse', '-inform', 'DER', '-in', t.path('a.der'), '-strparse', octet?.[1] ?? '0']);
    expect(e.status).toBe(0);
    return { top: r.stdout, eku: e.stdout };
  } finally {
    t.remove();
  }
}

const objects = (text: string): string[] => [...text.matchAll(/(?:OBJECT|INTEGER)\s+:(.*)$/gm)].map((m) => m[1].trim());

describe('encodeCsrAttrs', () => {
  it('P-256 with channel binding: challengePassword, ecPublicKey/prime256v1, EKUs, ecdsa-with-SHA256', () => {
    const der = encodeCsrAttrs({
      allowed_key_algorithms: [
        { algorithm: 'ECDSA', min_size: 256 },
        { algorithm: 'RSA', min_size: 3072 },
      ],
      allowed_ekus: ['serverAuth', 'clientAuth'],
      channel_binding_required: true,
    });
    const { top, eku } = asn1parse(der);
    expect(objects(top)).toEqual([
      'challengePassword',
      'id-ecPublicKey',
      'prime256v1',
      'Extension Request',
      'X509v3 Extended Key Usage',
      'ecdsa-with-SHA256',
    ]);
    expect(objects(eku)).toEqual(['TLS Web Server Authentication', 'TLS Web Client Authentication']);
    // Structure per RFC 7030 4.5.2: SEQUENCE OF (OID | Attribute{type, SET OF value}).
    const parsed = asn1js.fromBER(new Uint8Array(der).buffer);
    expect(parsed.offset).toBe(der.length);
    const items = (parsed.result as asn1js.Sequence).valueBlock.value;
    expect(items[0]).toBeInstanceOf(asn1js.ObjectIdentifier);
    expect(items[1]).toBeInstanceOf(asn1js.Sequence);
    const keyAttr = (items[1] as asn1js.Sequence).valueBlock.value;
    expect(keyAttr[1]).toBeInstanceOf(asn1js.Set);
    expect(items[2]).toBeInstanceOf(asn1js.Sequence);
    expect(items[3]).toBeInstanceOf(asn1js.ObjectIdentifier);
    expect(items).toHaveLength(4);
  });

  it('P-384, RSA with the size hint, Ed25519, and the default EKU', () => {
    const p384 = asn1parse(encodeCsrAttrs({ allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 384 }] }));
    expect(objects(p384.top)).toEqual([
      'id-ecPublicKey',
      'secp384r1',
      'Extension Request',
      'X509v3 Extended Key Usage',
      'ecdsa-with-SHA384',
    ]);
    expect(objects(p384.eku)).toEqual(['TLS Web Server Authentication']);

    const rsa = asn1parse(
      encodeCsrAttrs({ allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 3072 }], allowed_ekus: ['clientAuth'] }),
    );
    expect(objects(rsa.top)).toEqual([
      'rsaEncryption',
      '0C00', // 3072
      'Extension Request',
      'X509v3 Extended Key Usage',
      'sha256WithRSAEncryption',
    ]);
    expect(objects(rsa.eku)).toEqual(['TLS Web Client Authentication']);
    expect(objects(asn1parse(encodeCsrAttrs({ allowed_key_algorithms: [{ algorithm: 'RSA' }] })).top)).toContain(
      '0800',
    );

    const ed = asn1parse(
      encodeCsrAttrs({ allowed_key_algorithms: [{ algorithm: 'Ed25519' }], allowed_ekus: ['1.2.3.4'] }),
    );
    expect(objects(ed.top)).toEqual(['ED25519', 'Extension Request', 'X509v3 Extended Key Usage']);
    expect(objects(ed.eku)).toEqual(['1.2.3.4']);

    const none = asn1parse(encodeCsrAttrs({}));
    expect(objects(none.top)).toEqual(['Extension Request', 'X509v3 Extended Key Usage']);
  });

  it('base64 form decodes back to the DER', () => {
    const rules: CsrAttrsRules = { allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }] };
    const b64 = encodeCsrAttrsBase64(rules);
    expect(b64).toMatch(/^([A-Za-z0-9+/=]{1,76}\r\n)+$/);
    expect(decodeEstBody(b64).equals(encodeCsrAttrs(rules))).toBe(true);
  });

  it('refuses rules it cannot express, naming the profile field', () => {
    const bad: [unknown, RegExp][] = [
      [{ allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 192 }] }, /profile\.allowed_key_algorithms\.0\.min_size: ECDSA/],
      [{ allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 1024 }] }, /profile\.allowed_key_algorithms\.0\.min_size: RSA/],
      [{ allowed_key_algorithms: [{ algorithm: 'DSA' }] }, /profile\.allowed_key_algorithms\.0\.algorithm/],
      [{ allowed_key_algorithms: 'ECDSA' }, /profile\.allowed_key_algorithms: must be a list/],
      [{ allowed_ekus: 'serverAuth' }, /profile\.allowed_ekus: must be a list/],
      [{ allowed_ekus: ['nope'] }, /profile\.allowed_ekus: unknown extended key usage "nope"/],
      [null, /profile: must be an object/],
    ]; // prettier-ignore
    for (const [rules, message] of bad) {
      let err: unknown;
      try {
        encodeCsrAttrs(rules as CsrAttrsRules);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe(ErrorCode.Validation);
      expect((err as DomainError).message).toMatch(message);
    }
  });
});
