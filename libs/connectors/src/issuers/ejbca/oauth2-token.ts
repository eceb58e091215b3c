import { createHash } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import { caHttp, caStatusError, excerpt } from '../remote-ca/ca-http';

/** A token is fetched again this long before the provider says it expires (clock skew, request time). */
const EXPIRY_MARGIN_MS = 60_000;
/** Lifetime assumed when the token answer has no expires_in (RFC 6749 makes it optional). */
const DEFAULT_LIFETIME_SECONDS = 300;

export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /** Trust anchors (PEM) for the token endpoint's TLS certificate. */
  ca: () => Promise<string | undefined>;
  timeoutMs: number;
  /** Names the service in errors ("EJBCA"). */
  what: string;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * Tokens by credential (hash of endpoint, client, secret and scope). Module-wide because
 * connectors are built per operation; an access token is a short-lived per-replica cache
 * (each replica can fetch its own), so keeping it in memory loses nothing.
 */
const cache = new Map<string, CachedToken>();
const inFlight = new Map<string, Promise<CachedToken>>();

/**
 * OAuth2 client-credentials grant (RFC 6749 4.4) with the client authenticated in the form
 * body (client_secret_post, what Keycloak, Entra ID and Okta all accept). Concurrent callers
 * share one token request; the secret never appears in an error message.
 */
export class ClientCredentialsTokenSource {
  private readonly key: string;

  constructor(private readonly o: ClientCredentials) {
    this.key = createHash('sha256')
      .update(JSON.stringify([o.tokenUrl, o.clientId, o.clientSecret, o.scope ?? '']))
      .digest('hex');
  }

  async token(): Promise<string> {
    const hit = cache.get(this.key);
    if (hit && hit.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return hit.token;
    let pending = inFlight.get(this.key);
    if (!pending) {
      pending = this.fetch().finally(() => inFlight.delete(this.key));
      inFlight.set(this.key, pending);
    }
    const fresh = await pending;
    cache.set(this.key, fresh);
    return fresh.token;
  }

  /** Forgets the cached token (the API answered 401: revoked, or the provider rotated its keys). */
  invalidate(): void {
    cache.delete(this.key);
  }

  private async fetch(): Promise<CachedToken> {
    const what = `${this.o.what}: token request to ${new URL(this.o.tokenUrl).origin}`;
    const res = await caHttp({
      method: 'POST',
      url: this.o.tokenUrl,
      headers: { accept: 'application/json' },
      form: {
        grant_type: 'client_credentials',
        client_id: this.o.clientId,
        client_secret: this.o.clientSecret,
        ...(this.o.scope ? { scope: this.o.scope } : {}),
      },
      ca: await this.o.ca(),
      timeoutMs: this.o.timeoutMs,
      what: this.o.what,
    });
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
}

/** Empties the token cache (tests that count token requests). */
export function forgetClientCredentialTokens(): void {
  cache.clear();
}
