import { createHash } from 'node:crypto';
import { caHttp } from '../remote-ca/ca-http';
import { bearerTokenFromAnswer, CachedTokenSource, TokenStore, type BearerToken } from '../remote-ca/token-cache';

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

/** Tokens by credential (hash of endpoint, client, secret and scope). */
const store = new TokenStore();

/**
 * OAuth2 client-credentials grant (RFC 6749 4.4) with the client authenticated in the form
 * body (client_secret_post, what Keycloak, Entra ID and Okta all accept). Concurrent callers
 * share one token request; the secret never appears in an error message.
 */
export class ClientCredentialsTokenSource extends CachedTokenSource {
  constructor(private readonly o: ClientCredentials) {
    super(
      store,
      createHash('sha256')
        .update(JSON.stringify([o.tokenUrl, o.clientId, o.clientSecret, o.scope ?? '']))
        .digest('hex'),
    );
  }

  protected async fetchToken(): Promise<BearerToken> {
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
    return bearerTokenFromAnswer(res, what);
  }
}

/** Empties the token cache (tests that count token requests). */
export function forgetClientCredentialTokens(): void {
  store.clear();
}
