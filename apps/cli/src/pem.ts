import { X509Certificate } from 'node:crypto';

/** A certificate read from a PEM file, in the shape the discovery report takes. */
export interface PemCertificate {
  fingerprint_sha256: string;
  common_name: string;
  sans: string[];
  serial: string;
  issuer_dn: string;
  subject_dn: string;
  not_before: string;
  not_after: string;
  key_algorithm: string;
  key_size: number | null;
  is_ca: boolean;
}

export type PemBlock = { index: number; cert: PemCertificate } | { index: number; error: string };

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** Node prints DNs one RDN per line; the API stores them comma-separated. */
const dn = (s: string): string => s.split('\n').filter(Boolean).join(',');

function sans(x: X509Certificate): string[] {
  if (!x.subjectAltName) return [];
  // "DNS:a.example, IP Address:10.0.0.1, email:x@y": keep only the values.
  return x.subjectAltName
    .split(', ')
    .map((part) => part.slice(part.indexOf(':') + 1))
    .filter(Boolean);
}

function describe(x: X509Certificate): PemCertificate {
  const key = x.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType ?? 'unknown';
  const algorithm = type === 'rsa' || type === 'rsa-pss' ? 'RSA' : type === 'ec' ? 'ECDSA' : type.toUpperCase();
  const size = details.modulusLength ?? (details.namedCurve ? CURVE_BITS[details.namedCurve] : undefined) ?? null;
  const cn = /^CN=(.*)$/m.exec(x.subject)?.[1] ?? '';
  return {
    fingerprint_sha256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    common_name: cn,
    sans: sans(x),
    serial: x.serialNumber.toLowerCase(),
    issuer_dn: dn(x.issuer),
    subject_dn: dn(x.subject),
    not_before: new Date(x.validFrom).toISOString(),
    not_after: new Date(x.validTo).toISOString(),
    key_algorithm: algorithm,
    key_size: size,
    is_ca: x.ca,
  };
}

/**
 * Every CERTIFICATE block of a PEM text, in order; a block that does not parse is returned as
 * an error (numbered from 1) rather than stopping the others. Keys and other blocks are ignored.
 */
export function parsePemCertificates(text: string): PemBlock[] {
  return [...text.matchAll(CERT_BLOCK)].map((m, i) => {
    try {
      return { index: i + 1, cert: describe(new X509Certificate(m[0])) };
    } catch (e) {
      return { index: i + 1, error: `certificate #${i + 1}: ${(e as Error).message}` };
    }
  });
}
