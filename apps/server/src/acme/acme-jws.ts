import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, flattenedVerify, type JWK } from 'jose';
import { AcmeProblem, badNonce, malformed, unauthorized } from './acme-problem';

/** Signature algorithms accepted on ACME requests. */
export const ACME_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'EdDSA'] as const;
const ALGORITHMS: readonly string[] = ACME_ALGORITHMS;

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface AcmeProtectedHeader {
  alg: string;
  nonce?: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

/** A JWS whose structure and headers were checked; the signature is checked by `verifyWith`. */
export interface ParsedJws {
  jws: FlattenedJws;
  header: AcmeProtectedHeader;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** The request body as a flattened JWS (RFC 7515 7.2.2), members checked; malformed otherwise. */
export function parseFlattenedJws(body: Buffer): FlattenedJws {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw malformed('the request body is not JSON: it must be a flattened JWS object');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw malformed('the request body must be a flattened JWS object');
  }
  const o = doc as Record<string, unknown>;
  if ('signatures' in o) throw malformed('the general JWS serialization is not accepted: send one flattened JWS');
  if ('header' in o) throw malformed('the JWS may not carry an unprotected header');
  for (const k of ['protected', 'payload', 'signature'] as const) {
    if (typeof o[k] !== 'string') throw malformed(`the JWS member "${k}" must be a string`);
    if (!B64URL.test(o[k])) throw malformed(`the JWS member "${k}" must be base64url without padding`);
  }
  if (o.protected === '') throw malformed('the JWS protected header is empty');
  return { protected: o.protected as string, payload: o.payload as string, signature: o.signature as string };
}

function decodeHeader(jws: FlattenedJws): Record<string, unknown> {
  let h: unknown;
  try {
    h = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'));
  } catch {
    throw malformed('the JWS protected header is not base64url JSON');
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h))
    throw malformed('the JWS protected header must be an object');
  return h as Record<string, unknown>;
}

/**
 * Structural rules of RFC 8555 6.2 on the protected header of a request JWS: algorithm,
 * `url`, exactly one of `jwk`/`kid`. `alg` must be asymmetric (never `none` or MAC).
 */
export function parseRequestJws(body: Buffer): ParsedJws {
  const jws = parseFlattenedJws(body);
  const h = decodeHeader(jws);
  if (typeof h.alg !== 'string' || !ALGORITHMS.includes(h.alg)) {
    throw new AcmeProblem(
      400,
      'badSignatureAlgorithm',
      `JWS algorithm ${JSON.stringify(h.alg)} is not supported; use one of ${ALGORITHMS.join(', ')}`,
      { algorithms: [...ALGORITHMS] },
    );
  }
  if (typeof h.url !== 'string') throw malformed('the JWS protected header has no "url"');
  if (h.nonce !== undefined && typeof h.nonce !== 'string') throw badNonce('the JWS "nonce" must be a string');
  if (h.jwk !== undefined && h.kid !== undefined) throw malformed('the JWS protected header has both "jwk" and "kid"');
  if (h.jwk === undefined && h.kid === undefined)
    throw malformed('the JWS protected header has neither "jwk" nor "kid"');
  if (h.kid !== undefined && typeof h.kid !== 'string') throw malformed('the JWS "kid" must be an account URL string');
  if (h.jwk !== undefined) assertPublicJwk(h.jwk);
  return {
    jws,
    header: {
      alg: h.alg,
      url: h.url,
      nonce: h.nonce,
      jwk: h.jwk,
      kid: h.kid,
    },
  };
}

/** A JWK that is a public key of a type we verify: private members are refused. */
export function assertPublicJwk(jwk: unknown): asserts jwk is JWK {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    throw malformed('"jwk" must be a JSON Web Key object');
  const k = jwk as Record<string, unknown>;
  if (!['RSA', 'EC', 'OKP'].includes(k.kty as string)) {
    throw new AcmeProblem(400, 'badPublicKey', `key type ${JSON.stringify(k.kty)} is not supported (RSA, EC, OKP)`);
  }
  for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    if (secret in k) throw malformed(`"jwk" carries the private member "${secret}": send the public key only`);
  }
}

/** The node KeyObject of a public JWK; badPublicKey when it does not import. */
export function publicKeyOf(jwk: JWK): KeyObject {
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new AcmeProblem(400, 'badPublicKey', `the JWK is not a valid public key: ${(e as Error).message}`);
  }
}

/** RFC 7638 SHA-256 thumbprint: the identity of an account key. */
export async function thumbprintOf(jwk: JWK): Promise<string> {
  try {
    return await calculateJwkThumbprint(jwk, 'sha256');
  } catch (e) {
    throw new AcmeProblem(400, 'badPublicKey', `the JWK lacks members of its key type: ${(e as Error).message}`);
  }
}

/**
 * The key as we store it: re-exported from the imported key, so only the public members
 * of its type are kept (no stray members, and nothing Postgres JSONB would refuse).
 */
export function canonicalJwk(jwk: JWK): JWK {
  return publicKeyOf(jwk).export({ format: 'jwk' }) as JWK;
}

/** Ids in our URLs and headers: checked before they reach a query. */
export const ID_FORM = /^[A-Za-z0-9._-]{1,128}$/;

/** Verifies the signature with `key` (RSA keys under 2048 bits are refused by jose). */
export async function verifyWith(p: ParsedJws, key: KeyObject): Promise<Buffer> {
  try {
    const { payload } = await flattenedVerify(p.jws, key, { algorithms: [p.header.alg] });
    return Buffer.from(payload);
  } catch (e) {
    throw malformed(`JWS signature verification failed: ${(e as Error).message}`);
  }
}

/** The JSON object of a payload ({} refused for POST-as-GET elsewhere). */
export function jsonPayload(payload: Buffer, what: string): Record<string, unknown> {
  if (payload.length === 0) throw malformed(`${what} needs a JSON object payload, got an empty (POST-as-GET) payload`);
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw malformed(`the ${what} payload is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw malformed(`the ${what} payload must be a JSON object`);
  return v as Record<string, unknown>;
}

/** The JWS `url` must be the URL the request was sent to (RFC 8555 6.4). */
export function assertUrl(header: AcmeProtectedHeader, requestUrl: string): void {
  if (header.url !== requestUrl) {
    throw unauthorized(`the JWS "url" ${JSON.stringify(header.url)} is not this request's URL ${requestUrl}`);
  }
}
