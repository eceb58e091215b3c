import { DomainError, ErrorCode } from '@certctl/domain';
import { caStatusError, excerpt, type CaHttpResponse } from './ca-http';

/** A token is fetched again this long before the provider says it expires (clock skew, request time). */
const EXPIRY_MARGIN_MS = 60_000;
/** Lifetime assumed when the token answer has no expires_in (RFC 6749 makes it optional). */
const DEFAULT_LIFETIME_SECONDS = 300;

/** A bearer token and when it expires (epoch ms). */
export interface BearerToken {
  token: string;
  expiresAt: number;
}

/**
 * Bearer tokens by credential key (a hash that holds no secret), and the token requests under
 * way. One store per kind of credential, module-wide, because connectors are built per
 * operation; an access token is a short-lived per-replica cache (each replica can fetch its
 * own), so keeping it in memory loses nothing.
 */
export class TokenStore {
  private readonly tokens = new Map<string, BearerToken>();
  private readonly inFlight = new Map<string, Promise<BearerToken>>();

  /** The token of `key`, reused until a minute before it expires; concurrent callers share one `fetch`. */
  async token(key: string, fetch: () => Promise<BearerToken>): Promise<string> {
    const hit = this.tokens.get(key);
    if (hit && hit.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return hit.token;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = fetch().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const fresh = await pending;
    this.tokens.set(key, fresh);
    return fresh.token;
  }

  /** Drops the token of `key` (its API refused it); the next `token` call fetches a new one. */
  forget(key: string): void {
    this.tokens.delete(key);
  }

  /** Empties the store (tests that rotate keys or count token requests). */
  clear(): void {
    this.tokens.clear();
  }
}

/**
 * The cached bearer token of one credential: `key` in `store`, fetched by the subclass's
 * `fetchToken` (the grant it speaks) when missing or about to expire.
 */
export abstract class CachedTokenSource {
  protected constructor(
    private readonly store: TokenStore,
    private readonly key: string,
  ) {}

  token(): Promise<string> {
    return this.store.token(this.key, () => this.fetchToken());
  }

  /** Forgets the cached token (the API refused it: revoked, or the keys were rotated). */
  invalidate(): void {
    this.store.forget(this.key);
  }

  protected abstract fetchToken(): Promise<BearerToken>;
}

/**
 * The token of an OAuth2 token endpoint's answer (RFC 6749 5.1), or the error it answered
 * (5.2: `error: error_description` quoted, else an excerpt of the body). `what` names the
 * request in messages ("EJBCA: token request to https://idp").
 */
export function bearerTokenFromAnswer(res: CaHttpResponse, what: string): BearerToken {
  const body = res.json as
    { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } | undefined;
  if (res.status < 200 || res.status >= 300) {
    const detail =
      typeof body?.error === 'string'
        ? [body.error, typeof body.error_description === 'string' ? body.error_description : undefined]
            .filter(Boolean)
            .join(': ')
        : excerpt(res.text) || 'no details';
    throw caStatusError(res.status, `${what} answered HTTP ${res.status}: ${detail}`);
  }
  if (typeof body?.access_token !== 'string' || body.access_token === '') {
    throw new DomainError(ErrorCode.Unavailable, `${what} answered no access_token`);
  }
  const seconds =
    typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_LIFETIME_SECONDS;
  return { token: body.access_token, expiresAt: Date.now() + seconds * 1000 };
}
