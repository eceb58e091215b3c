import { exportJWK, FlattenedSign, generateKeyPair, type JWK, type KeyLike } from 'jose';

/** What an ACME request got back (status, headers lower-cased, body text). */
export interface AcmeHttpResponse {
  status: number;
  headers: Record<string, string | undefined>;
  text: string;
}

/** Sends one request to the server under test: path relative to the server, body as text. */
export type AcmeSend = (
  method: 'GET' | 'HEAD' | 'POST',
  path: string,
  body?: string,
  contentType?: string,
) => Promise<AcmeHttpResponse>;

export type AcmeAlg = 'ES256' | 'ES384' | 'RS256' | 'EdDSA';

export interface AcmeKey {
  alg: AcmeAlg;
  privateKey: KeyLike;
  jwk: JWK;
}

export async function acmeKey(alg: AcmeAlg = 'ES256'): Promise<AcmeKey> {
  const pair = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwk = await exportJWK(pair.publicKey);
  return { alg, privateKey: pair.privateKey, jwk };
}

export interface SignOptions {
  /** Sign with this key (default: the client's). */
  key?: AcmeKey;
  /** Embed the key as `jwk` instead of naming the account by `kid`. */
  jwk?: boolean;
  /** Override the nonce (default: a fresh one from newNonce); null omits it. */
  nonce?: string | null;
  /** Override the protected `url`. */
  url?: string;
  /** Override the `kid`. */
  kid?: string;
}

/** A flattened JWS as RFC 8555 requests carry it. */
export async function signJws(
  key: AcmeKey,
  header: Record<string, unknown>,
  payload: unknown,
): Promise<{ protected: string; payload: string; signature: string }> {
  const bytes = payload === '' ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
  const jws = await new FlattenedSign(bytes).setProtectedHeader({ alg: key.alg, ...header }).sign(key.privateKey);
  return { protected: jws.protected as string, payload: jws.payload, signature: jws.signature };
}

/**
 * A minimal ACME client for tests: JWS built with jose, every step visible so a test can
 * break one rule at a time (nonce, url, kid/jwk) and see the server refuse it.
 */
export class AcmeTestClient {
  kid?: string;
  directory: Record<string, string> = {};

  constructor(
    private readonly send: AcmeSend,
    /** Scheme and authority the server names itself by (CERTCTL_PUBLIC_URL). */
    readonly base: string,
    public key: AcmeKey,
    readonly prefix = '/acme',
  ) {}

  path(url: string): string {
    return url.startsWith(this.base) ? url.slice(this.base.length) : url;
  }

  async loadDirectory(): Promise<AcmeHttpResponse> {
    const res = await this.send('GET', `${this.prefix}/directory`);
    if (res.status === 200) this.directory = JSON.parse(res.text) as Record<string, string>;
    return res;
  }

  async nonce(): Promise<string> {
    const res = await this.send('HEAD', `${this.prefix}/new-nonce`);
    const n = res.headers['replay-nonce'];
    if (!n) throw new Error(`newNonce gave no Replay-Nonce (status ${res.status})`);
    return n;
  }

  async post(url: string, payload: unknown, opts: SignOptions = {}): Promise<AcmeHttpResponse> {
    const key = opts.key ?? this.key;
    const nonce = opts.nonce === undefined ? await this.nonce() : opts.nonce;
    const header: Record<string, unknown> = { url: opts.url ?? url };
    if (nonce !== null) header.nonce = nonce;
    if (opts.jwk) header.jwk = key.jwk;
    else header.kid = opts.kid ?? this.kid;
    const jws = await signJws(key, header, payload);
    return this.send('POST', this.path(url), JSON.stringify(jws), 'application/jose+json');
  }

  /** newAccount; remembers the account URL as `kid` when one is returned. */
  async register(payload: Record<string, unknown> = { termsOfServiceAgreed: true }): Promise<AcmeHttpResponse> {
    const res = await this.post(this.directory.newAccount, payload, { jwk: true });
    if (res.headers.location && (res.status === 201 || res.status === 200)) this.kid = res.headers.location;
    return res;
  }
}

/** The parsed JSON body of an ACME response. */
export function acmeJson(res: AcmeHttpResponse): Record<string, unknown> {
  return JSON.parse(res.text) as Record<string, unknown>;
}

/** The ACME error type of a problem response (`badNonce`, `malformed`, ...). */
export function problemType(res: AcmeHttpResponse): string {
  const t = acmeJson(res).type;
  return (typeof t === 'string' ? t : '').replace('urn:ietf:params:acme:error:', '');
}

/** An External Account Binding (RFC 8555 7.3.4): the account key MACed with the EAB key. */
export async function eabBinding(
  kid: string,
  hmacKeyB64url: string,
  accountJwk: JWK,
  newAccountUrl: string,
): Promise<{ protected: string; payload: string; signature: string }> {
  const jws = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(accountJwk)))
    .setProtectedHeader({ alg: 'HS256', kid, url: newAccountUrl })
    .sign(Buffer.from(hmacKeyB64url, 'base64url'));
  return { protected: jws.protected as string, payload: jws.payload, signature: jws.signature };
}
