import { createHash } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import { ApiClient, type ApiClientOptions } from '../async-ca/http-json';
import type { CaHttpRequest, CaHttpResponse } from '../remote-ca/ca-http';

/**
 * HVCA access tokens live 10 minutes (GlobalSign's API guide); one is reused for 9 so a
 * token is never sent in its last minute. A 401 before that (revoked, or another replica's
 * login replaced it) triggers one fresh login and a retry.
 */
export const TOKEN_REUSE_MS = 9 * 60 * 1000;

/**
 * Tokens by account, shared by the connector instances this process builds (one per call).
 * A cache only: losing it costs a login, and every replica logs in on its own.
 */
const tokens = new Map<string, { token: string; expiresAt: number }>();

/** Test hook: forget every cached token. */
export function clearHvcaTokens(): void {
  tokens.clear();
}

/**
 * An authenticated HVCA session: POST /v2/login {api_key, api_secret} answers an
 * access_token, sent as `Authorization: Bearer` on every other call. Two clients over the
 * same TLS settings: the login goes without a token, the API calls with the current one.
 */
export class HvcaSession {
  /** The cache key: a hash, so no secret is kept as a map key. */
  private readonly key: string;
  private readonly login: ApiClient;
  private readonly api: ApiClient;
  private readonly what: string;
  private token?: string;

  constructor(
    options: Omit<ApiClientOptions, 'headers'>,
    private readonly apiKey: string,
    private readonly apiSecret: string,
  ) {
    this.key = createHash('sha256').update(`${options.baseUrl}\0${apiKey}\0${apiSecret}`).digest('hex');
    this.what = options.what;
    this.login = new ApiClient({ ...options, headers: {} });
    this.api = new ApiClient({
      ...options,
      headers: async (): Promise<Record<string, string>> =>
        this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
    });
  }

  /** One authenticated call; a 2xx answer or the mapped error (after one re-login on 401). */
  async call(method: CaHttpRequest['method'], path: string, json?: unknown): Promise<CaHttpResponse> {
    const res = await this.raw(method, path, json);
    if (res.status >= 200 && res.status < 300) return res;
    throw this.api.error(method, path, res);
  }

  /** The authenticated exchange without status mapping (callers that read 404 as "not yet"). */
  async raw(method: CaHttpRequest['method'], path: string, json?: unknown): Promise<CaHttpResponse> {
    await this.authenticate(false);
    const res = await this.api.raw(method, path, json);
    if (res.status !== 401) return res;
    tokens.delete(this.key);
    await this.authenticate(true);
    return this.api.raw(method, path, json);
  }

  /** The domain error of a non-2xx answer (HVCA's problem+json description quoted). */
  error(method: string, path: string, res: CaHttpResponse): Error {
    return this.api.error(method, path, res);
  }

  /** Logs in unless a cached token is still fresh (the connection test forces a login). */
  async authenticate(fresh: boolean): Promise<void> {
    const cached = tokens.get(this.key);
    if (!fresh && cached && cached.expiresAt > Date.now()) {
      this.token = cached.token;
      return;
    }
    const res = await this.login.call('POST', '/v2/login', { api_key: this.apiKey, api_secret: this.apiSecret });
    const token = (res.json as { access_token?: unknown } | undefined)?.access_token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
      throw new DomainError(ErrorCode.Unavailable, `${this.what}: the login answer has no access_token`);
    }
    tokens.set(this.key, { token, expiresAt: Date.now() + TOKEN_REUSE_MS });
    this.token = token;
  }
}
