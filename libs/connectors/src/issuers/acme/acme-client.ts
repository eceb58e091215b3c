import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  FlattenedSign,
  generateKeyPair,
  importPKCS8,
  type JWK,
  type KeyLike,
} from 'jose';
import { createHash } from 'node:crypto';
import { invalid } from '@certctl/domain';
import type { CaRenewalInfo } from '../issuer-port';
import {
  AcmeProblemError,
  AcmeTransport,
  describeProblem,
  header,
  json,
  links,
  retryAfterSeconds,
  unavailable,
  type AcmeProblem,
  type AcmeResponse,
} from './acme-transport';

/** RFC 8555 section 7.1.1, plus RFC 9773's renewalInfo. */
export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange?: string;
  renewalInfo?: string;
  meta?: {
    termsOfService?: string;
    website?: string;
    caaIdentities?: string[];
    externalAccountRequired?: boolean;
    profiles?: Record<string, string>;
  };
}

export interface AcmeIdentifier {
  type: 'dns' | 'ip';
  value: string;
}

export interface AcmeOrder {
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: AcmeIdentifier[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: AcmeProblem;
}

export interface AcmeChallenge {
  type: string;
  url: string;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  error?: AcmeProblem;
}

export interface AcmeAuthorization {
  identifier: AcmeIdentifier;
  status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  challenges: AcmeChallenge[];
  wildcard?: boolean;
}

/** The suggested renewal window of RFC 9773 section 4.2 (with the answer's Retry-After). */
export type RenewalInfo = CaRenewalInfo;

/** The account key as stored: PKCS#8 PEM (sealed by the caller) and the account URL once registered. */
export interface AcmeAccountKey {
  privateKeyPem: string;
  accountUrl?: string;
}

export const ACCOUNT_KEY_ALG = 'ES256';
/** badNonce answers retried before giving up (each carries a fresh nonce). */
const BAD_NONCE_RETRIES = 8;
const BAD_NONCE = 'urn:ietf:params:acme:error:badNonce';

export async function newAccountKeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPair(ACCOUNT_KEY_ALG, { extractable: true });
  return exportPKCS8(privateKey);
}

/**
 * The RFC 8555 protocol: JWS-signed POSTs with nonce bookkeeping (a badNonce answer is
 * retried with the nonce it carries), POST-as-GET reads and polling that honours
 * Retry-After. One instance serves one issuance (it caches the directory and nonce).
 */
export class AcmeClient {
  private directoryCache?: AcmeDirectory;
  private nonce?: string;
  private key?: { privateKey: KeyLike; jwk: JWK; thumbprint: string };
  private kid?: string;

  constructor(
    readonly directoryUrl: string,
    private readonly transport: AcmeTransport,
    /** Sleeps between polls; injectable so the pacing is observable. */
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async directory(): Promise<AcmeDirectory> {
    if (this.directoryCache) return this.directoryCache;
    const r = await this.transport.request('GET', this.directoryUrl);
    if (r.status !== 200) {
      const what = `directory ${this.directoryUrl}`;
      if (r.status >= 500) throw unavailable(`ACME ${what}: HTTP ${r.status}`);
      throw invalid(`ACME ${what}: HTTP ${r.status} (is directory_url the CA's ACME directory?)`);
    }
    const dir = json<Partial<AcmeDirectory>>(r, 'directory');
    for (const f of ['newNonce', 'newAccount', 'newOrder', 'revokeCert'] as const) {
      if (typeof dir[f] !== 'string') {
        throw invalid(`ACME directory ${this.directoryUrl} has no ${f}: not an RFC 8555 directory`);
      }
    }
    this.directoryCache = dir as AcmeDirectory;
    return this.directoryCache;
  }

  /** Loads the account key (and URL, when it is registered already). */
  async useAccountKey(account: AcmeAccountKey): Promise<void> {
    const privateKey = await importPKCS8<KeyLike>(account.privateKeyPem, ACCOUNT_KEY_ALG, { extractable: true });
    const full = await exportJWK(privateKey);
    // The public half: a JWK without the private scalar.
    const jwk: JWK = { kty: full.kty, crv: full.crv, x: full.x, y: full.y };
    this.key = { privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
    this.kid = account.accountUrl;
  }

  get accountUrl(): string | undefined {
    return this.kid;
  }

  /** RFC 8555 section 8.1: token || '.' || base64url(JWK thumbprint). */
  keyAuthorization(token: string): string {
    return `${token}.${this.requireKey().thumbprint}`;
  }

  /** RFC 8555 section 8.4: the TXT record value for dns-01. */
  dnsTxtValue(token: string): string {
    return base64url.encode(createHash('sha256').update(this.keyAuthorization(token)).digest());
  }

  /**
   * newAccount (section 7.3): agrees to the terms of service, binds the external account
   * when `eab` is given (section 7.3.4). An existing account for the key answers 200 with
   * its URL, so this is safe to repeat from any replica.
   */
  async register(opts: { email?: string; eab?: { kid: string; hmacKeyB64url: string } }): Promise<string> {
    const dir = await this.directory();
    const key = this.requireKey();
    const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
    if (opts.email) payload.contact = [`mailto:${opts.email}`];
    if (opts.eab) {
      let hmac: Uint8Array;
      try {
        hmac = base64url.decode(opts.eab.hmacKeyB64url.replace(/=+$/, ''));
      } catch {
        throw invalid('config.eab_hmac_key: is not base64url');
      }
      payload.externalAccountBinding = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(key.jwk)))
        .setProtectedHeader({ alg: 'HS256', kid: opts.eab.kid, url: dir.newAccount })
        .sign(hmac);
    }
    const r = await this.post(dir.newAccount, payload, 'newAccount', { useJwk: true });
    const url = header(r, 'location');
    if (!url) throw unavailable('ACME newAccount: the CA returned no account URL (Location)');
    this.kid = url;
    return url;
  }

  async newOrder(identifiers: AcmeIdentifier[], extra: { profile?: string; replaces?: string } = {}) {
    const dir = await this.directory();
    const r = await this.post(dir.newOrder, { identifiers, ...extra }, 'newOrder');
    const url = header(r, 'location');
    if (!url) throw unavailable('ACME newOrder: the CA returned no order URL (Location)');
    return { url, order: json<AcmeOrder>(r, 'newOrder') };
  }

  async authorization(url: string): Promise<AcmeAuthorization> {
    return json<AcmeAuthorization>(await this.postAsGet(url, 'authorization'), 'authorization');
  }

  /** Tells the CA the challenge is ready to be checked (section 7.5.1: an empty object). */
  async respond(challengeUrl: string): Promise<void> {
    await this.post(challengeUrl, {}, 'challenge');
  }

  async finalize(order: AcmeOrder, csrDer: Uint8Array): Promise<void> {
    await this.post(order.finalize, { csr: base64url.encode(csrDer) }, 'finalize');
  }

  /**
   * Polls `url` until `done` says the resource settled, honouring Retry-After (capped so a
   * confused CA cannot park the job) and giving up after `timeoutMs`.
   */
  async poll<T>(url: string, what: string, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let delayMs = 500;
    for (;;) {
      const r = await this.postAsGet(url, what);
      const value = json<T>(r, what);
      if (done(value)) return value;
      if (Date.now() >= deadline) throw unavailable(`ACME ${what} ${url}: not settled after ${timeoutMs / 1000} s`);
      const hinted = retryAfterSeconds(r);
      const wait = hinted !== undefined ? Math.min(hinted * 1000, 60_000) : delayMs;
      delayMs = Math.min(delayMs * 2, 5_000);
      await this.sleep(Math.max(0, Math.min(wait, deadline - Date.now())));
    }
  }

  /** The PEM chain at `url`, and the alternate chains the CA links to (section 7.4.2). */
  async certificateChain(url: string): Promise<{ pem: string; alternates: string[] }> {
    const r = await this.postAsGet(url, 'certificate', 'application/pem-certificate-chain');
    return { pem: r.body.toString('utf8'), alternates: links(r, 'alternate') };
  }

  /** revokeCert (section 7.6), signed with the account key that ordered the certificate. */
  async revoke(certDer: Uint8Array, reason: number): Promise<void> {
    const dir = await this.directory();
    await this.post(dir.revokeCert, { certificate: base64url.encode(certDer), reason }, 'revokeCert');
  }

  /**
   * RFC 9773: the CA's renewal window, or undefined when the CA has no renewalInfo (or no
   * answer for this certificate). A CA outage (5xx, 429) is an error: the caller keeps the
   * window it had and asks again later.
   */
  async renewalInfo(certId: string): Promise<RenewalInfo | undefined> {
    const dir = await this.directory();
    if (!dir.renewalInfo) return undefined;
    const url = `${dir.renewalInfo.replace(/\/$/, '')}/${certId}`;
    const r = await this.transport.request('GET', url);
    if (r.status >= 500 || r.status === 429) throw unavailable(`ACME renewalInfo ${url}: HTTP ${r.status}`);
    if (r.status !== 200) return undefined;
    const info = json<Partial<RenewalInfo>>(r, 'renewalInfo');
    const w = info.suggestedWindow;
    if (!w || Number.isNaN(Date.parse(w.start ?? '')) || Number.isNaN(Date.parse(w.end ?? ''))) return undefined;
    // RFC 9773 4.2: a window whose end is not after its start is invalid.
    if (Date.parse(w.end) <= Date.parse(w.start)) return undefined;
    const retryAfter = retryAfterSeconds(r);
    return {
      suggestedWindow: { start: w.start, end: w.end },
      ...(typeof info.explanationURL === 'string' ? { explanationURL: info.explanationURL } : {}),
      ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
    };
  }

  async postAsGet(url: string, what: string, accept?: string): Promise<AcmeResponse> {
    return this.post(url, undefined, what, { accept });
  }

  /**
   * One signed request. A badNonce problem (the CA rejects nonces at will; Pebble does
   * 5 % of the time) is retried with the nonce that answer carried.
   */
  private async post(
    url: string,
    payload: unknown,
    what: string,
    opts: { useJwk?: boolean; accept?: string } = {},
  ): Promise<AcmeResponse> {
    for (let attempt = 0; ; attempt++) {
      const body = await this.sign(url, payload, opts.useJwk ?? false);
      const r = await this.transport.request('POST', url, { body, accept: opts.accept });
      const fresh = header(r, 'replay-nonce');
      if (fresh) this.nonce = fresh;
      if (r.status < 400) return r;
      const problem = parseProblem(r);
      if (problem.type === BAD_NONCE && attempt < BAD_NONCE_RETRIES) continue;
      throw new AcmeProblemError(problem, r.status, what);
    }
  }

  private async sign(url: string, payload: unknown, useJwk: boolean): Promise<string> {
    const key = this.requireKey();
    if (!useJwk && !this.kid) throw new Error('ACME: the account is not registered yet');
    const nonce = await this.takeNonce();
    const bytes = payload === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(payload));
    const jws = await new FlattenedSign(bytes)
      .setProtectedHeader({
        alg: ACCOUNT_KEY_ALG,
        nonce,
        url,
        ...(useJwk ? { jwk: key.jwk } : { kid: this.kid }),
      })
      .sign(key.privateKey);
    return JSON.stringify(jws);
  }

  private async takeNonce(): Promise<string> {
    const held = this.nonce;
    this.nonce = undefined;
    if (held) return held;
    const dir = await this.directory();
    const r = await this.transport.request('HEAD', dir.newNonce);
    const nonce = header(r, 'replay-nonce');
    if (!nonce) throw unavailable(`ACME newNonce: HTTP ${r.status} without a Replay-Nonce`);
    return nonce;
  }

  private requireKey() {
    if (!this.key) throw new Error('ACME: no account key loaded');
    return this.key;
  }
}

function parseProblem(r: AcmeResponse): AcmeProblem {
  try {
    const p = JSON.parse(r.body.toString('utf8')) as AcmeProblem;
    return typeof p === 'object' && p !== null ? p : {};
  } catch {
    return { detail: r.body.toString('utf8').slice(0, 200) };
  }
}

export { describeProblem };
