// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { isIP } from 'node:net';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { invalid } from '@certctl/domain';
import { ensureCryptoProvider } from '../crypto-provider';
import type { CryptoKeyPair } from '../keys/keys';
import { emptySans, normalizeSans, type SubjectAltNames } from './san';

export interface BuildCsrRequest {
  /** The key pair the CSR is for (signed with its private half: proof of possession). */
  keys: CryptoKeyPair;
  /** Subject CN; omitted when absent. */
  commonName?: string;
  /** subjectAltName entries, requested through the extensionRequest attribute. */
  sans?: Partial<SubjectAltNames>;
  /** PKCS#9 challengePassword attribute (SCEP challenge, EST channel binding). */
  challengePassword?: string;
}

const OPAQUE_URI = /^(urn|mailto|tel|sip|sips|did|spiffe):/i;

/**
 * Sorts SAN strings as certctl stores them (`api.example.com`, `10.0.0.5`, `ops@example.com`,
 * `spiffe://td/x`) into kinds; an explicit `DNS:`/`IP:`/`email:`/`URI:` prefix is honoured.
 */
export function sansFromStrings(values: readonly string[], field = 'sans'): SubjectAltNames {
  const out = emptySans();
  for (const raw of values) {
    const v = raw.trim();
    const prefixed = /^(dns|ip|email|uri):(.*)$/i.exec(v);
    if (prefixed && !prefixed[2].startsWith('//')) {
      const kind = prefixed[1].toLowerCase() as keyof SubjectAltNames;
      out[kind].push(prefixed[2]);
    } else if (isIP(v)) out.ip.push(v);
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || OPAQUE_URI.test(v)) out.uri.push(v);
    else if (v.includes('@')) out.email.push(v);
    else out.dns.push(v);
  }
  return normalizeSans(out, field);
}

function signingAlgorithm(key: webcrypto.CryptoKey): webcrypto.Algorithm | webcrypto.EcdsaParams {
  const alg = key.algorithm as webcrypto.KeyAlgorithm & { namedCurve?: string };
  switch (alg.name) {
    case 'ECDSA':
      return {
        name: 'ECDSA',
        hash: alg.namedCurve === 'P-384' ? 'SHA-384' : alg.namedCurve === 'P-521' ? 'SHA-512' : 'SHA-256',
      };
    case 'RSASSA-PKCS1-v1_5':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    case 'Ed25519':
      return { name: 'Ed25519' };
    default:
      throw invalid(`key: ${alg.name} keys cannot sign a CSR here`);
  }
}

/**
 * A PKCS#10 certificate request (PEM) for `keys`: subject CN and the SANs as an
 * extensionRequest, signed with the private key. Only the public key goes into it; the
 * private key is used for the signature and stays with the caller.
 */
export async function buildCsr(req: BuildCsrRequest): Promise<string> {
  ensureCryptoProvider();
  const sans = normalizeSans(req.sans ?? {}, 'sans');
  const names: x509.JsonGeneralName[] = [
    ...sans.dns.map((value) => ({ type: 'dns' as const, value })),
    ...sans.ip.map((value) => ({ type: 'ip' as const, value })),
    ...sans.email.map((value) => ({ type: 'email' as const, value })),
    ...sans.uri.map((value) => ({ type: 'url' as const, value })),
  ];
  const cn = req.commonName?.trim();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cn ? [{ CN: [cn] }] : [],
    keys: req.keys as never,
    signingAlgorithm: signingAlgorithm(req.keys.privateKey) as never,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : [],
    attributes: req.challengePassword === undefined ? [] : [new x509.ChallengePasswordAttribute(req.challengePassword)],
  });
  return csr.toString('pem') + '\n';
}
