import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DomainError, ErrorCode, invalid } from '@certctl/domain';
import { importPKCS8, SignJWT } from 'jose';
import { caHttp } from '../remote-ca/ca-http';
import { bearerTokenFromAnswer, CachedTokenSource, TokenStore, type BearerToken } from '../remote-ca/token-cache';

/** The scope CAS needs (Google documents no narrower one for privateca). */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google caps a service-account assertion at one hour. */
const ASSERTION_LIFETIME_SECONDS = 3600;

/** The fields of a service-account key file the JWT bearer grant uses. */
export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

export interface TokenSourceOptions {
  /** config.credentials_json; absent: GOOGLE_APPLICATION_CREDENTIALS, else the metadata server. */
  credentialsJson?: string;
  /** Trust anchors (PEM) for the token endpoint's TLS certificate. */
  ca?: () => Promise<string | undefined>;
  timeoutMs: number;
  what: string;
}

/** Access tokens by credential (hash of the key material and token endpoint). */
const store = new TokenStore();

/**
 * OAuth2 access tokens for Google APIs: a service account's JWT bearer grant (RFC 7523,
 * an RS256 assertion signed with the account's key, POSTed to its token_uri), or the GCE /
 * GKE metadata server's token for the attached service account (workload identity).
 */
export class GoogleTokenSource extends CachedTokenSource {
  constructor(private readonly o: TokenSourceOptions) {
    super(
      store,
      createHash('sha256')
        .update(o.credentialsJson ?? `adc:${process.env.GOOGLE_APPLICATION_CREDENTIALS ?? ''}`)
        .digest('hex'),
    );
  }

  protected async fetchToken(): Promise<BearerToken> {
    const json = this.o.credentialsJson ?? (await this.applicationDefaultCredentials());
    if (json === undefined) return this.metadataToken();
    return this.serviceAccountToken(parseServiceAccount(json, this.o.what));
  }

  /** GOOGLE_APPLICATION_CREDENTIALS, as Google's client libraries read it. */
  private async applicationDefaultCredentials(): Promise<string | undefined> {
    const path = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    if (!path) return undefined;
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      throw invalid(
        `${this.o.what}: GOOGLE_APPLICATION_CREDENTIALS ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }

  private async serviceAccountToken(sa: ServiceAccountKey): Promise<BearerToken> {
    const tokenUri = sa.token_uri ?? GOOGLE_TOKEN_URI;
    let key: Awaited<ReturnType<typeof importPKCS8>>;
    try {
      key = await importPKCS8(sa.private_key, 'RS256');
    } catch {
      throw invalid(`${this.o.what}: the service account's private_key is not an RSA PKCS#8 PEM key`);
    }
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: CLOUD_PLATFORM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(sa.private_key_id ? { kid: sa.private_key_id } : {}) })
      .setIssuer(sa.client_email)
      .setAudience(tokenUri)
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
    const res = await caHttp({
      method: 'POST',
      url: tokenUri,
      form: { grant_type: JWT_BEARER_GRANT, assertion },
      ca: await this.o.ca?.(),
      timeoutMs: this.o.timeoutMs,
      what: this.o.what,
    });
    return bearerTokenFromAnswer(res, `${this.o.what}: token request to ${new URL(tokenUri).origin}`);
  }

  /** The attached service account's token (GCE_METADATA_HOST overrides the host, as Google's libraries allow). */
  private async metadataToken(): Promise<BearerToken> {
    const host = process.env.GCE_METADATA_HOST ?? 'metadata.google.internal';
    const res = await caHttp({
      method: 'GET',
      url: `http://${host}/computeMetadata/v1/instance/service-accounts/default/token`,
      headers: { 'Metadata-Flavor': 'Google' },
      timeoutMs: this.o.timeoutMs,
      what: this.o.what,
    }).catch((e: unknown) => {
      throw new DomainError(
        ErrorCode.Unavailable,
        `${this.o.what}: no credentials_json and no metadata server (${e instanceof Error ? e.message : String(e)}); set credentials_json or run on Google Cloud with an attached service account`,
      );
    });
    return bearerTokenFromAnswer(res, `${this.o.what}: metadata server token request`);
  }
}

/** A service-account key file's JSON; other credential types (user, external account) are refused. */
export function parseServiceAccount(json: string, what: string): ServiceAccountKey {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw invalid(`${what}: the credentials are not JSON`);
  }
  if (v?.type !== 'service_account') {
    throw invalid(`${what}: only service-account keys are supported (the credentials are of type ${String(v?.type)})`);
  }
  if (typeof v.client_email !== 'string' || typeof v.private_key !== 'string') {
    throw invalid(`${what}: the service-account key has no client_email or private_key`);
  }
  if (v.token_uri !== undefined && (typeof v.token_uri !== 'string' || !v.token_uri.startsWith('https://'))) {
    throw invalid(`${what}: the service-account key's token_uri must be an https:// URL`);
  }
  return {
    client_email: v.client_email,
    private_key: v.private_key,
    private_key_id: typeof v.private_key_id === 'string' ? v.private_key_id : undefined,
    token_uri: v.token_uri,
  };
}

/** Empties the token cache (tests that rotate keys or count token requests). */
export function forgetGoogleTokens(): void {
  store.clear();
}
