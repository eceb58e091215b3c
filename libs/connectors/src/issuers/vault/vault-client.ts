import { createHash } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import { caHttp, caStatusError, caTimeoutMs, excerpt, type CaHttpResponse } from '../remote-ca/ca-http';
import { readOptionalCaBundle } from '../remote-ca/trust';
import type { VaultPkiConfig } from '../issuer-configs';

const WHAT = 'Vault PKI';

/** Log in again this long before an AppRole token's lease ends (clock skew, slow requests). */
const RENEW_MARGIN_MS = 30_000;

interface CachedToken {
  token: string;
  /** Epoch ms; Infinity for tokens without a lease (root-like, periodic without TTL). */
  expiresAt: number;
}

/**
 * AppRole tokens by credential set (a hash of address, namespace, mount, role_id and
 * secret_id): connectors are built per job, and a login per issuance would mint a token
 * each time. A token is only a cache: each replica logs in on its own, and a changed
 * secret_id hashes to a new entry.
 */
const approleTokens = new Map<string, CachedToken>();

/** Vault's error body: `{"errors": ["..."]}`. */
function vaultErrors(res: CaHttpResponse): string {
  const errors = (res.json as { errors?: unknown } | undefined)?.errors;
  if (Array.isArray(errors) && errors.length > 0) return errors.map((e) => excerpt(String(e), 200)).join('; ');
  return res.text ? excerpt(res.text) : `HTTP ${res.status}`;
}

/**
 * Vault's HTTP API as the PKI connector uses it: X-Vault-Token from the configured token
 * or an AppRole login (cached until shortly before its lease ends, and redone once when
 * Vault answers 403 to a cached token), X-Vault-Namespace when configured.
 */
export class VaultClient {
  private caBundle: Promise<string | undefined> | undefined;
  private readonly timeoutMs: number;
  private readonly base: string;

  constructor(private readonly cfg: VaultPkiConfig) {
    this.timeoutMs = caTimeoutMs(cfg.timeout_seconds);
    this.base = cfg.address.replace(/\/+$/, '');
  }

  /** A PKI endpoint below the mount: `sign/<role>`, `ca/pem`, `revoke`. */
  pkiPath(rest: string): string {
    return `/v1/${this.cfg.mount}/${rest}`;
  }

  /** An authenticated call; `Validation` / `Unavailable` errors carry Vault's own messages. */
  async call(method: 'GET' | 'POST', path: string, json?: unknown): Promise<CaHttpResponse> {
    let token = await this.token(false);
    let res = await this.send(method, path, json, token);
    if (res.status === 403 && this.usesAppRole()) {
      // The cached token may have been revoked or may have expired early: log in once more.
      token = await this.token(true);
      res = await this.send(method, path, json, token);
    }
    if (res.status >= 400)
      throw caStatusError(res.status, `${WHAT} ${method} ${path}: ${res.status} ${vaultErrors(res)}`);
    return res;
  }

  /** An unauthenticated call (Vault serves the CA certificate without a token). */
  async callPublic(path: string): Promise<CaHttpResponse> {
    const res = await this.send('GET', path, undefined, undefined);
    if (res.status >= 400) throw caStatusError(res.status, `${WHAT} GET ${path}: ${res.status} ${vaultErrors(res)}`);
    return res;
  }

  /** Proves the credentials: an AppRole login, or the token's own lookup (allowed by Vault's default policy). */
  async checkAuth(): Promise<string> {
    if (this.usesAppRole()) {
      await this.token(true);
      return 'AppRole login succeeded';
    }
    await this.call('GET', '/v1/auth/token/lookup-self');
    return 'token accepted';
  }

  private usesAppRole(): boolean {
    return this.cfg.role_id !== undefined;
  }

  private async token(fresh: boolean): Promise<string> {
    if (this.cfg.token !== undefined) return this.cfg.token;
    const key = this.cacheKey();
    const cached = approleTokens.get(key);
    if (!fresh && cached && cached.expiresAt - RENEW_MARGIN_MS > Date.now()) return cached.token;
    const loginPath = `/v1/auth/${this.cfg.approle_mount ?? 'approle'}/login`;
    const res = await this.send(
      'POST',
      loginPath,
      { role_id: this.cfg.role_id, secret_id: this.cfg.secret_id },
      undefined,
    );
    if (res.status >= 400) {
      throw caStatusError(res.status, `${WHAT} AppRole login (POST ${loginPath}): ${res.status} ${vaultErrors(res)}`);
    }
    const auth = (res.json as { auth?: { client_token?: unknown; lease_duration?: unknown } } | undefined)?.auth;
    if (typeof auth?.client_token !== 'string' || auth.client_token === '') {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT} AppRole login answered without auth.client_token`);
    }
    const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
    const entry = { token: auth.client_token, expiresAt: lease > 0 ? Date.now() + lease * 1000 : Infinity };
    approleTokens.set(key, entry);
    return entry.token;
  }

  private cacheKey(): string {
    const c = this.cfg;
    return createHash('sha256')
      .update(JSON.stringify([c.address, c.namespace ?? '', c.approle_mount ?? '', c.role_id, c.secret_id]))
      .digest('hex');
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    json: unknown,
    token: string | undefined,
  ): Promise<CaHttpResponse> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['x-vault-token'] = token;
    if (this.cfg.namespace !== undefined) headers['x-vault-namespace'] = this.cfg.namespace;
    return caHttp({
      method,
      url: `${this.base}${path}`,
      headers,
      json,
      ca: await this.trust(),
      timeoutMs: this.timeoutMs,
      what: WHAT,
    });
  }

  private trust(): Promise<string | undefined> {
    this.caBundle ??= readOptionalCaBundle(this.cfg.ca_cert_path, 'config.ca_cert_path');
    return this.caBundle;
  }
}
