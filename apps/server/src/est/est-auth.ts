import { createHmac, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { DomainError, ErrorCode, IdPrefix, newId } from '@certctl/domain';
import { AuditRepository } from '../audit/audit.repository';
import { AppConfig } from '../config/config.schema';
import { verifyEnrollmentPassword } from '../enrollment/enrollment-password';
import { RedisService, withTimeout } from '../redis/redis.service';
import type { EstLabel } from './est-labels';

export const EST_REALM = 'certctl EST';

/** Who a request authenticated as. */
export interface EstIdentity {
  /** `est:<label>:<username or client certificate subject>`. */
  actorId: string;
  username?: string;
  /** The TLS client certificate, when one was presented (verified against the trust bundle or not). */
  clientCert?: X509Certificate;
}

/** How long a verified Basic credential is remembered (see verifiedCache). */
const VERIFIED_TTL_MS = 5 * 60_000;
const VERIFIED_MAX = 1_000;
/** Longest chain followed from a client certificate to a trust anchor. */
const MAX_CHAIN = 6;

/** 401 with the challenge RFC 7617 asks for; the controller adds WWW-Authenticate. */
export class EstUnauthorized extends DomainError {
  constructor(message: string) {
    super(ErrorCode.Unauthenticated, message);
  }
}

/**
 * EST authentication per label (RFC 7030 3.2.3, 3.3.2): HTTP Basic with a scrypt-hashed
 * enrollment password, a TLS client certificate chaining to the label's trust bundle, both,
 * or either. Failed Basic attempts are counted per source address in Redis (shared by every
 * replica); at CERTCTL_EST_AUTH_MAX_FAILURES within CERTCTL_EST_AUTH_LOCKOUT the address
 * gets 429 until the window ends, even with the right password. Counting needs Redis:
 * without it Basic fails closed (503), so an outage cannot be used to guess uncounted.
 */
@Injectable()
export class EstAuth {
  private readonly logger = new Logger('EST');
  /**
   * Basic credentials verified recently, by HMAC (process-local key) of label, user and
   * password: scrypt is deliberately slow, and a device enrolling several times should not
   * pay it every time. Only successes are remembered; nothing here reveals the password.
   */
  private readonly verified = new Map<string, number>();
  private readonly cacheKey = randomBytes(32);
  private readonly maxFailures: number;
  private readonly lockoutMs: number;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    private readonly audit: AuditRepository,
  ) {
    this.maxFailures = config.enrollment.est.maxAuthFailures;
    this.lockoutMs = config.enrollment.est.lockoutMs;
  }

  /**
   * Authenticates a request for an enrollment operation. `clientCertAccepted` lets
   * simplereenroll count a certificate we issued (checked by the caller) as the client
   * certificate credential even when it does not chain to the label's trust bundle.
   */
  async authenticate(req: Request, label: EstLabel, clientCertAccepted = false): Promise<EstIdentity> {
    const mode = label.config.auth;
    const ip = sourceIp(req);
    const basic = parseBasic(req.headers.authorization);
    const clientCert = peerCertificate(req);

    let certOk = false;
    let certProblem = 'no TLS client certificate was presented';
    if (clientCert && mode !== 'basic') {
      if (clientCertAccepted) certOk = true;
      else {
        const problem = chainProblem(clientCert.leaf, clientCert.presented, label.trustAnchors);
        certOk = problem === undefined;
        if (problem) certProblem = `the TLS client certificate ${problem}`;
      }
    }

    const wantsBasic = mode === 'basic' || mode === 'both' || (mode === 'either' && (basic !== undefined || !certOk));
    let username: string | undefined;
    if (wantsBasic) {
      await this.assertNotLockedOut(ip);
      if (!basic) {
        throw new EstUnauthorized(
          mode === 'either' && clientCert
            ? `${certProblem}; send HTTP Basic credentials instead`
            : 'HTTP Basic credentials are required for this EST label',
        );
      }
      if (!(await this.checkBasic(label, basic.user, basic.password))) throw await this.failure(ip, label);
      username = basic.user;
    }
    if ((mode === 'mtls' || mode === 'both') && !certOk) throw new EstUnauthorized(certProblem);
    if (mode === 'either' && !certOk && !username) throw new EstUnauthorized(certProblem);

    const who = username ?? clientCert?.leaf.subject.replace(/\n/g, ',') ?? 'anonymous';
    return { actorId: `est:${label.name}:${who}`.slice(0, 255), username, clientCert: clientCert?.leaf };
  }

  private async checkBasic(label: EstLabel, user: string, password: string): Promise<boolean> {
    const want = label.config.username ?? '';
    const hash = label.passwordHash;
    if (!hash) return false;
    const mac = createHmac('sha256', this.cacheKey).update(`${label.name}\0${user}\0${password}`).digest('base64');
    const until = this.verified.get(mac);
    if (until !== undefined && until > Date.now()) return true;
    // Both checks always run so the time taken does not say which one failed.
    const userOk = equalStrings(user, want);
    const passwordOk = await verifyEnrollmentPassword(password, hash);
    if (!(userOk && passwordOk)) return false;
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(mac, Date.now() + VERIFIED_TTL_MS);
    return true;
  }

  private key(ip: string): string {
    return this.redis.key('est-auth-fail', ip);
  }

  private async assertNotLockedOut(ip: string): Promise<void> {
    let count: number;
    let ttl: number;
    try {
      const replies = await withTimeout(
        this.redis.client.multi().get(this.key(ip)).pttl(this.key(ip)).exec(),
        2_000,
        'EST auth lockout',
      );
      count = Number(replies?.[0]?.[1] ?? 0);
      ttl = Number(replies?.[1]?.[1] ?? -1);
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `EST Basic authentication is unavailable: its failure counter cannot reach Redis (${(e as Error).message}); retry later`,
      );
    }
    if (count >= this.maxFailures) throw this.lockedOut(ttl);
  }

  /** Counts a failed Basic attempt: 401, or 429 (audited once) when it reaches the limit. */
  private async failure(ip: string, label: EstLabel): Promise<DomainError> {
    const key = this.key(ip);
    let count = 0;
    let ttl = this.lockoutMs;
    try {
      // The window starts at the first failure (NX) and is not extended by later ones.
      const replies = await withTimeout(
        this.redis.client.multi().incr(key).pexpire(key, this.lockoutMs, 'NX').pttl(key).exec(),
        2_000,
        'EST auth lockout',
      );
      count = Number(replies?.[0]?.[1] ?? 0);
      ttl = Number(replies?.[2]?.[1] ?? this.lockoutMs);
    } catch (e) {
      this.logger.warn(`EST auth failure not counted: ${(e as Error).message}`);
    }
    if (count === this.maxFailures) {
      this.audit
        .insert({
          id: newId(IdPrefix.AuditEvent),
          category: 'domain',
          actor: `est:${label.name}:anonymous`,
          actorType: 'Anonymous',
          action: 'est_auth_locked_out',
          resourceType: 'enrollment',
          resourceId: label.name,
          details: {
            protocol: 'EST',
            label: label.config.label,
            source_ip: ip,
            failures: count,
            lockout_seconds: Math.ceil(this.lockoutMs / 1000),
          },
        })
        .catch((e: Error) => this.logger.warn(`EST lockout audit failed: ${e.message}`));
    }
    if (count >= this.maxFailures) return this.lockedOut(ttl);
    return new EstUnauthorized('wrong EST username or password');
  }

  private lockedOut(ttlMs: number): DomainError {
    const retryAfter = Math.max(1, Math.ceil((ttlMs > 0 ? ttlMs : this.lockoutMs) / 1000));
    return new DomainError(
      ErrorCode.RateLimited,
      `too many failed EST authentications from this address (${this.maxFailures} per ` +
        `${Math.ceil(this.lockoutMs / 1000)} s); retry in ${retryAfter} s`,
      { retry_after_seconds: retryAfter, limit: this.maxFailures },
    );
  }
}

export function sourceIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

function equalStrings(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // timingSafeEqual needs equal lengths; comparing y with itself keeps the work the same.
  return timingSafeEqual(x.length === y.length ? x : y, y) && x.length === y.length;
}

/** RFC 7617 credentials, or undefined when the header is absent or not Basic. */
function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

interface PeerCertificate {
  leaf: X509Certificate;
  /** Further certificates the client sent (intermediates), leaf excluded. */
  presented: X509Certificate[];
}

/** The TLS client certificate and the chain it came with, when the connection is TLS and one was sent. */
export function peerCertificate(req: Request): PeerCertificate | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const detailed = socket.getPeerCertificate(true);
  if (!detailed?.raw) return undefined;
  const leaf = new X509Certificate(detailed.raw);
  const presented: X509Certificate[] = [];
  const seen = new Set([leaf.fingerprint256]);
  for (let c = detailed.issuerCertificate; c?.raw && presented.length < MAX_CHAIN; c = c.issuerCertificate) {
    const x = new X509Certificate(c.raw);
    if (seen.has(x.fingerprint256)) break;
    seen.add(x.fingerprint256);
    presented.push(x);
  }
  return { leaf, presented };
}

function withinValidity(c: X509Certificate, now: number): boolean {
  return new Date(c.validFrom).getTime() <= now && now <= new Date(c.validTo).getTime();
}

/**
 * Why `leaf` does not chain to one of `anchors` (undefined when it does): each link is
 * checked by name (checkIssued) and by signature with the issuer's key, every certificate
 * on the path must be within its validity, and every issuer must be a CA. Intermediates
 * come from what the client sent.
 */
export function chainProblem(
  leaf: X509Certificate,
  presented: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now = Date.now(),
): string | undefined {
  if (!withinValidity(leaf, now)) return `is outside its validity (${leaf.validFrom} - ${leaf.validTo})`;
  const anchorPrints = new Set(anchors.map((a) => a.fingerprint256));
  if (anchorPrints.has(leaf.fingerprint256)) return undefined;
  let current = leaf;
  const used = new Set<string>([leaf.fingerprint256]);
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const issuedBy = (c: X509Certificate): boolean =>
      c.ca && withinValidity(c, now) && current.checkIssued(c) && current.verify(c.publicKey);
    const anchor = anchors.find(issuedBy);
    if (anchor) return undefined;
    const next = presented.find((c) => !used.has(c.fingerprint256) && issuedBy(c));
    if (!next) return `(${current.subject.replace(/\n/g, ', ')}) does not chain to the trust bundle of this EST label`;
    used.add(next.fingerprint256);
    current = next;
  }
  return 'has a chain longer than this server follows';
}
