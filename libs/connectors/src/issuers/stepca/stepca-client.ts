import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SignJWT } from 'jose';
import { DomainError, ErrorCode, invalid } from '@certctl/domain';
import { caHttp, caStatusError, caTimeoutMs, excerpt, type CaHttpResponse } from '../remote-ca/ca-http';
import { pemCertificates } from '../remote-ca/issued-certificate';
import { readCaBundle } from '../remote-ca/trust';
import type { StepCaConfig } from '../issuer-configs';
import { loadProvisionerKey, type ProvisionerKey } from './provisioner-key';

const WHAT = 'step-ca';

/** One-time tokens live this long: enough for one request, short enough to be useless later. */
const OTT_LIFETIME_SECONDS = 300;

/** step-ca's error body: `{"status": 400, "message": "..."}`. */
function stepError(res: CaHttpResponse): string {
  const message = (res.json as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message !== ''
    ? excerpt(message, 300)
    : res.text
      ? excerpt(res.text)
      : `HTTP ${res.status}`;
}

function sha256Hex(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/**
 * step-ca's native API: trust bootstrapped from the pinned root fingerprint (fetch
 * `/root/<fingerprint>` once without TLS verification, check the root's SHA-256 equals the
 * pin, then verify every call against that root, as `step ca bootstrap` does) or from a
 * configured root bundle; JWK-provisioner one-time tokens signed with jose.
 */
export class StepCaClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private root: Promise<string> | undefined;
  private provisioner: Promise<ProvisionerKey> | undefined;

  constructor(private readonly cfg: StepCaConfig) {
    this.base = cfg.ca_url.replace(/\/+$/, '');
    this.timeoutMs = caTimeoutMs(cfg.timeout_seconds);
  }

  /** The trusted root (PEM): the pinned one, or the first of the configured bundle. */
  trustedRoot(): Promise<string> {
    this.root ??=
      this.cfg.ca_cert_path !== undefined
        ? readCaBundle(this.cfg.ca_cert_path, 'config.ca_cert_path')
        : this.fetchPinnedRoot();
    return this.root;
  }

  async call(method: 'GET' | 'POST', path: string, json?: unknown): Promise<CaHttpResponse> {
    const res = await caHttp({
      method,
      url: `${this.base}${path}`,
      json,
      ca: await this.trustedRoot(),
      timeoutMs: this.timeoutMs,
      what: WHAT,
    });
    if (res.status >= 400)
      throw caStatusError(res.status, `${WHAT} ${method} ${path}: ${res.status} ${stepError(res)}`);
    return res;
  }

  /**
   * A one-time token for `audience` (`/1.0/sign`, `/1.0/revoke`): iss = provisioner name,
   * sub = the CN (sign) or the decimal serial (revoke), kid header = the provisioner key id,
   * `sha` = the root fingerprint (step-ca checks it when present), a random jti it records
   * so the token cannot be replayed.
   */
  async oneTimeToken(audiencePath: string, subject: string, sans?: string[]): Promise<string> {
    const p = await this.provisionerKey();
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {};
    if (sans) claims.sans = sans;
    if (this.cfg.root_fingerprint) claims.sha = this.cfg.root_fingerprint.toLowerCase();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: p.alg, kid: p.kid, typ: 'JWT' })
      .setIssuer(this.cfg.provisioner_name)
      .setSubject(subject)
      .setAudience(`${this.base}${audiencePath}`)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + OTT_LIFETIME_SECONDS)
      .setJti(randomBytes(32).toString('hex'))
      .sign(p.key);
  }

  provisionerKey(): Promise<ProvisionerKey> {
    this.provisioner ??= this.loadProvisionerKey();
    return this.provisioner;
  }

  private async loadProvisionerKey(): Promise<ProvisionerKey> {
    const { provisioner_key: inline, provisioner_key_path: path, provisioner_password: password } = this.cfg;
    if (inline !== undefined) return loadProvisionerKey(inline, password, 'config.provisioner_key');
    if (path !== undefined) {
      const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw invalid(`config.provisioner_key_path ${path} cannot be read (${e.code ?? e.message})`);
      });
      return loadProvisionerKey(text, password, 'config.provisioner_key_path');
    }
    return loadProvisionerKey(
      await this.fetchEncryptedKey(),
      password,
      `provisioner ${this.cfg.provisioner_name}'s encryptedKey`,
    );
  }

  /** The provisioner's encryptedKey from GET /provisioners (paged with cursor/limit). */
  private async fetchEncryptedKey(): Promise<string> {
    let cursor = '';
    for (let page = 0; page < 50; page++) {
      const res = await this.call(
        'GET',
        `/provisioners?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      const body = res.json as { provisioners?: unknown; nextCursor?: unknown } | undefined;
      const list = Array.isArray(body?.provisioners) ? (body.provisioners as Record<string, unknown>[]) : [];
      const found = list.find((p) => p.name === this.cfg.provisioner_name && p.type === 'JWK');
      if (found) {
        if (typeof found.encryptedKey !== 'string') {
          throw invalid(
            `${WHAT} provisioner ${this.cfg.provisioner_name} publishes no encryptedKey: set provisioner_key`,
          );
        }
        return found.encryptedKey;
      }
      cursor = typeof body?.nextCursor === 'string' ? body.nextCursor : '';
      if (!cursor) break;
    }
    throw invalid(`${WHAT} has no JWK provisioner named ${JSON.stringify(this.cfg.provisioner_name)}`);
  }

  private async fetchPinnedRoot(): Promise<string> {
    const fp = (this.cfg.root_fingerprint ?? '').toLowerCase();
    // Unverified TLS only for this fetch: what it returns is accepted only if it hashes to the pin.
    const res = await caHttp({
      method: 'GET',
      url: `${this.base}/root/${fp}`,
      insecureFetchForPinnedCheck: true,
      timeoutMs: this.timeoutMs,
      what: WHAT,
    });
    if (res.status >= 400) throw caStatusError(res.status, `${WHAT} GET /root/${fp}: ${res.status} ${stepError(res)}`);
    const pem = (res.json as { ca?: unknown } | undefined)?.ca;
    const [root] = typeof pem === 'string' ? pemCertificates(pem) : [];
    if (!root) throw new DomainError(ErrorCode.Unavailable, `${WHAT} GET /root/${fp} returned no certificate`);
    let actual: string;
    try {
      actual = sha256Hex(root);
    } catch {
      throw new DomainError(ErrorCode.Unavailable, `${WHAT} GET /root/${fp} returned an unreadable certificate`);
    }
    if (actual !== fp) {
      throw invalid(`${WHAT} root fingerprint mismatch: pinned ${fp}, the CA at ${this.base} serves ${actual}`);
    }
    return root;
  }
}
