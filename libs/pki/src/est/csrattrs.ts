import * as asn1js from 'asn1js';
import { KeyAlgorithm, RSA_MAX_KEY_SIZE, RSA_MIN_KEY_SIZE, invalid, type KeyAlgorithmRule } from '@certctl/domain';
import { allowedEkuOids } from '../csr/profile';
import { estBase64 } from './base64';

export const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
export const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
export const OID_EXT_KEY_USAGE = '2.5.29.37';
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_ED25519 = '1.3.101.112';

const CURVES: Partial<Record<number, { oid: string; signature: string }>> = {
  256: { oid: '1.2.840.10045.3.1.7', signature: '1.2.840.10045.4.3.2' }, // secp256r1, ecdsa-with-SHA256
  384: { oid: '1.3.132.0.34', signature: '1.2.840.10045.4.3.3' }, // secp384r1, ecdsa-with-SHA384
  521: { oid: '1.3.132.0.35', signature: '1.2.840.10045.4.3.4' }, // secp521r1, ecdsa-with-SHA512
};
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

/** The profile columns csrattrs is derived from (a `certificate_profiles` row fits). */
export interface CsrAttrsRules {
  /** The first rule is the key the client is told to generate; empty/absent: no key hint. */
  allowed_key_algorithms?: readonly KeyAlgorithmRule[];
  /** EKUs asked for in an extensionRequest (absent/empty: the profile default, serverAuth). */
  allowed_ekus?: readonly string[];
  /** RFC 9266 channel binding: the client must put the tls-exporter value in challengePassword. */
  channel_binding_required?: boolean;
}

const oid = (value: string): asn1js.ObjectIdentifier => new asn1js.ObjectIdentifier({ value });
const attribute = (type: string, values: asn1js.AsnType[]): asn1js.Sequence =>
  new asn1js.Sequence({ value: [oid(type), new asn1js.Set({ value: values })] });

/**
 * The CsrAttrs (RFC 7030 4.5.2) a profile implies, DER: challengePassword as a bare OID when
 * channel binding is required; the key as an Attribute in the RFC 7030 / RFC 9908 style
 * (ecPublicKey with the named curve, rsaEncryption with the minimum modulus size as an
 * INTEGER) or the bare id-Ed25519 OID; an extensionRequest holding an extKeyUsage extension
 * with the profile's EKUs; and the signature algorithm OID that goes with the key. Only the
 * profile's first key rule is advertised (a client can act on one). Errors name the profile
 * field.
 */
export function encodeCsrAttrs(rules: CsrAttrsRules): Buffer {
  if (rules === null || typeof rules !== 'object') throw invalid('profile: must be an object');
  const items: asn1js.AsnType[] = [];
  if (rules.channel_binding_required === true) items.push(oid(OID_CHALLENGE_PASSWORD));

  let signatureOid: string | undefined;
  const keyRules = rules.allowed_key_algorithms ?? [];
  if (!Array.isArray(keyRules)) throw invalid('profile.allowed_key_algorithms: must be a list');
  if (keyRules.length > 0) {
    const rule: KeyAlgorithmRule | undefined = (keyRules as readonly KeyAlgorithmRule[])[0];
    const field = 'profile.allowed_key_algorithms.0';
    switch (rule?.algorithm) {
      case KeyAlgorithm.ECDSA: {
        const size: number = rule.min_size ?? 256;
        const curve = CURVES[size];
        if (!curve) throw invalid(`${field}.min_size: ECDSA curve size must be 256, 384 or 521 (got ${size})`);
        items.push(attribute(OID_EC_PUBLIC_KEY, [oid(curve.oid)]));
        signatureOid = curve.signature;
        break;
      }
      case KeyAlgorithm.RSA: {
        const size: number = rule.min_size ?? RSA_MIN_KEY_SIZE;
        if (!Number.isInteger(size) || size < RSA_MIN_KEY_SIZE || size > RSA_MAX_KEY_SIZE)
          throw invalid(
            `${field}.min_size: RSA size must be a whole number from ${RSA_MIN_KEY_SIZE} to ${RSA_MAX_KEY_SIZE}`,
          );
        items.push(attribute(OID_RSA_ENCRYPTION, [new asn1js.Integer({ value: size })]));
        signatureOid = SHA256_WITH_RSA;
        break;
      }
      case KeyAlgorithm.Ed25519:
        items.push(oid(OID_ED25519));
        break;
      default:
        throw invalid(`${field}.algorithm: must be ECDSA, RSA or Ed25519`);
    }
  }

  if (rules.allowed_ekus !== undefined && !Array.isArray(rules.allowed_ekus))
    throw invalid('profile.allowed_ekus: must be a list');
  const ekus = allowedEkuOids(rules.allowed_ekus ? { allowed_ekus: rules.allowed_ekus } : undefined);
  const ekuValue = new asn1js.Sequence({ value: ekus.map(oid) }).toBER();
  const ekuExtension = new asn1js.Sequence({
    value: [oid(OID_EXT_KEY_USAGE), new asn1js.OctetString({ valueHex: ekuValue })],
  });
  items.push(attribute(OID_EXTENSION_REQUEST, [new asn1js.Sequence({ value: [ekuExtension] })]));

  if (signatureOid) items.push(oid(signatureOid));
  return Buffer.from(new asn1js.Sequence({ value: items }).toBER());
}

/** The body of an EST /csrattrs response (`application/csrattrs`): encodeCsrAttrs in base64 lines. */
export function encodeCsrAttrsBase64(rules: CsrAttrsRules): string {
  return estBase64(encodeCsrAttrs(rules));
}
