import { isIP } from 'node:net';
import { randomBytes, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import { flattenedVerify, type JWK } from 'jose';
import { DataSource, type EntityManager } from 'typeorm';
import {
  DomainError,
  ErrorCode,
  JobName,
  newId,
  QueueName,
  RevocationReason,
  sanRulesWithDefaults,
  sanViolations,
  type SanRules,
} from '@certctl/domain';
import { derToPem, parseCsr, type ParsedCsr } from '@certctl/pki';
import { AuditRepository } from '../audit/audit.repository';
import { RevocationService } from '../certificates/revocation.service';
import { AppConfig } from '../config/config.schema';
import { rowsOf } from '../database/sql';
import {
  EnrollmentService,
  type EnrollmentActor,
  type EnrollmentOutcome,
  type EnrollmentTarget,
} from '../enrollment/enrollment.service';
import { isAcmeAuthMode, type AcmeAuthMode } from './acme-config';
import { AcmeEabKeys } from './acme-eab';
import { AcmeMetrics } from './acme-metrics';
import {
  assertPublicJwk,
  assertUrl,
  canonicalJwk,
  ID_FORM,
  jsonPayload,
  parseFlattenedJws,
  parseRequestJws,
  publicKeyOf,
  thumbprintOf,
  verifyWith,
  type ParsedJws,
} from './acme-jws';
import { AcmeNonces } from './acme-nonces';
import { AcmeRateLimits } from './acme-rate-limits';
import { AcmeProblem, badCsr, badNonce, malformed, notFoundProblem, unauthorized } from './acme-problem';
import { validateTlsAlpn01 } from './acme-tls-alpn';
import { ValidationSlots } from './acme-validation-slots';
import { validateDns01, validateHttp01, type ValidationError, type ValidationResult } from './acme-validation';

/** Which directory a request came through: `/acme` (default profile) or `/acme/profile/{id}`. */
export interface AcmeContext {
  /** Scheme and authority, e.g. https://ca.example.com:8443. */
  base: string;
  /** `/acme` or `/acme/profile/{id}`. */
  prefix: string;
  profileId?: string;
  /** The profile's `acme_auth_mode`, else CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE. */
  authMode: AcmeAuthMode;
  /** The profile's `acme_eab_required`, else CERTCTL_ACME_SERVER_EAB_REQUIRED. */
  eabRequired: boolean;
}

export interface AcmeReply {
  status: number;
  body?: Record<string, unknown>;
  /** A PEM chain (certificate download) instead of JSON. */
  pem?: string;
  location?: string;
  retryAfter?: number;
  /** Link headers besides the directory index (a challenge's `up`, RFC 8555 7.5.1). */
  links?: string[];
}

interface AccountRow {
  id: string;
  jwk: JWK;
  jwk_thumbprint: string;
  status: 'valid' | 'deactivated' | 'revoked';
  contact: string[];
  tos_agreed: boolean;
  /** The EAB key the account was bound with; null: registered without one. */
  eab_kid: string | null;
}

interface OrderRow {
  id: string;
  account_id: string;
  profile_id: string | null;
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: Identifier[];
  expires_at: Date;
  error: Record<string, unknown> | null;
  request_id: string | null;
  certificate_id: string | null;
  /** RFC 9773: the ARI certificate id this order replaces. */
  replaces: string | null;
}

interface ChallengeEntry {
  id: string;
  type: 'http-01' | 'dns-01' | 'tls-alpn-01';
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  validated?: string;
  error?: ValidationError;
  /** When the challenge entered `processing` (ISO time): the GC re-queues one stuck there. */
  processing_since?: string;
}

interface AuthzRow {
  id: string;
  order_id: string;
  account_id: string;
  identifier: Identifier;
  wildcard: boolean;
  status: string;
  expires_at: Date;
  challenges: ChallengeEntry[];
}

interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

/** An authenticated request: the verified payload and the account (kid) or key (jwk). */
export interface AcmeRequest {
  payload: Buffer;
  jws: ParsedJws;
  account?: AccountRow;
  jwk?: JWK;
}

const MAX_IDENTIFIERS = 100;
/** Pause between two validation attempts of one challenge. */
const VALIDATION_BACKOFF_MS = 1_000;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const MAILTO = /^mailto:([^@\s,?%\p{Cc}]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)$/iu;
const REASON_BY_CODE = new Map<number, keyof typeof RevocationReason>(
  Object.entries(RevocationReason).map(([k, v]) => [v, k as keyof typeof RevocationReason]),
);

function eabMissingOnAccount(): AcmeProblem {
  return new AcmeProblem(
    403,
    'externalAccountRequired',
    'this directory requires an external account binding and the account of this key was registered without one; register a new account key with EAB',
  );
}

/**
 * The ACME server (RFC 8555) in trust_authenticated mode: an account is its key, its
 * orders' authorizations are valid as soon as it asks, and finalize issues through
 * EnrollmentService (JobFactory, the profile's rules, the approval gate, the audit trail)
 * exactly as EST and SCEP do. Revocation goes through RevocationService, so OCSP and the
 * CRL report it like any other.
 */
@Injectable()
export class AcmeService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AppConfig,
    private readonly nonces: AcmeNonces,
    private readonly enrollment: EnrollmentService,
    private readonly revocation: RevocationService,
    private readonly audit: AuditRepository,
    private readonly eab: AcmeEabKeys,
    @InjectQueue(QueueName.AcmeValidation) private readonly validations: Queue,
    private readonly limits: AcmeRateLimits,
    private readonly metrics: AcmeMetrics,
  ) {
    this.slots = new ValidationSlots(config.acme.validation.concurrency);
  }

  private readonly logger = new Logger('ACME');
  /** Per-type caps on validations running at once in this replica. */
  readonly slots: ValidationSlots;

  url(ctx: AcmeContext, path: string): string {
    return `${ctx.base}${ctx.prefix}${path}`;
  }

  /**
   * Resolves `/acme/profile/{id}` (the profile must exist) or `/acme` (the default profile,
   * when one is configured), with the profile's ACME auth mode and EAB rule: a profile
   * column when set, else the server-wide default.
   */
  async profileContext(base: string, profileId: string | undefined): Promise<AcmeContext> {
    const c = this.config.acme;
    const id = profileId ?? c.profileId;
    const found =
      id === undefined
        ? undefined
        : rowsOf<{ acme_auth_mode: string | null; acme_eab_required: boolean | null }>(
            await this.ds.query(`SELECT acme_auth_mode, acme_eab_required FROM certificate_profiles WHERE id = $1`, [
              id,
            ]),
          )[0];
    if (profileId !== undefined && !found) throw notFoundProblem(`certificate profile ${JSON.stringify(profileId)}`);
    const mode = found?.acme_auth_mode;
    return {
      base,
      prefix: profileId === undefined ? '/acme' : `/acme/profile/${encodeURIComponent(profileId)}`,
      profileId: id,
      authMode: isAcmeAuthMode(mode) ? mode : c.authMode,
      eabRequired: found?.acme_eab_required ?? c.eabRequired,
    };
  }

  directory(ctx: AcmeContext): Record<string, unknown> {
    const c = this.config.acme;
    const meta: Record<string, unknown> = { externalAccountRequired: ctx.eabRequired };
    if (c.termsOfServiceUrl) meta.termsOfService = c.termsOfServiceUrl;
    if (c.website) meta.website = c.website;
    if (c.caaIdentities.length) meta.caaIdentities = c.caaIdentities;
    return {
      newNonce: this.url(ctx, '/new-nonce'),
      newAccount: this.url(ctx, '/new-account'),
      newOrder: this.url(ctx, '/new-order'),
      revokeCert: this.url(ctx, '/revoke-cert'),
      keyChange: this.url(ctx, '/key-change'),
      ...(c.ari.enabled && { renewalInfo: this.url(ctx, '/renewal-info') }),
      meta,
    };
  }

  /**
   * Checks a request JWS: structure, nonce (redeemed once), url, then the key rule of the
   * endpoint (`jwk` for newAccount, `kid` elsewhere, either for revokeCert) and the signature.
   */
  async authenticate(
    ctx: AcmeContext,
    body: Buffer,
    requestUrl: string,
    keyRule: 'jwk' | 'kid' | 'either',
  ): Promise<AcmeRequest> {
    const jws = parseRequestJws(body);
    const h = jws.header;
    if (h.nonce === undefined) throw badNonce('the JWS protected header has no "nonce"');
    if (!(await this.nonces.redeem(h.nonce))) throw badNonce('the nonce is unknown, expired or already used');
    assertUrl(h, requestUrl);
    if (h.jwk && keyRule === 'kid') {
      throw malformed('this request must be signed by an account key named by "kid", not an embedded "jwk"');
    }
    if (h.kid !== undefined && keyRule === 'jwk') {
      throw malformed('this request must carry the new key as "jwk", not an account "kid"');
    }
    if (h.jwk) {
      const payload = await verifyWith(jws, publicKeyOf(h.jwk));
      return { payload, jws, jwk: h.jwk };
    }
    const account = await this.accountByKid(ctx, h.kid as string);
    const payload = await verifyWith(jws, publicKeyOf(account.jwk));
    return { payload, jws, account, jwk: account.jwk };
  }

  private async accountByKid(ctx: AcmeContext, kid: string): Promise<AccountRow> {
    const prefix = this.url(ctx, '/account/');
    if (!kid.startsWith(prefix))
      throw malformed(`"kid" ${JSON.stringify(kid)} is not an account URL of this directory`);
    const id = kid.slice(prefix.length);
    if (!ID_FORM.test(id)) throw malformed(`"kid" ${JSON.stringify(kid)} is not an account URL of this directory`);
    const account = await this.accountById(id);
    if (!account) throw new AcmeProblem(400, 'accountDoesNotExist', `no account ${JSON.stringify(kid)}`);
    if (account.status !== 'valid') throw unauthorized(`account ${account.id} is ${account.status}`);
    // Accounts are shared by every profile's directory: one made without EAB elsewhere
    // must not get into a profile that requires it.
    if (ctx.eabRequired && account.eab_kid === null) throw eabMissingOnAccount();
    return account;
  }

  private async accountById(id: string, m: EntityManager = this.ds.manager): Promise<AccountRow | undefined> {
    return rowsOf<AccountRow>(
      await m.query(
        `SELECT id, jwk, jwk_thumbprint, status, contact, tos_agreed, eab_kid FROM acme_accounts WHERE id = $1`,
        [id],
      ),
    )[0];
  }

  private accountObject(a: AccountRow): Record<string, unknown> {
    return { status: a.status, contact: a.contact, termsOfServiceAgreed: a.tos_agreed, key: a.jwk };
  }

  private actor(accountId: string): EnrollmentActor {
    return { actorId: `acme:${accountId}`, actorType: 'Device' };
  }

  // ---- accounts ----

  async newAccount(ctx: AcmeContext, r: AcmeRequest, requestUrl: string): Promise<AcmeReply> {
    const p = jsonPayload(r.payload, 'newAccount');
    const jwk = canonicalJwk(r.jwk as JWK);
    const thumbprint = await thumbprintOf(jwk);
    const existing = rowsOf<AccountRow>(
      await this.ds.query(
        `SELECT id, jwk, jwk_thumbprint, status, contact, tos_agreed, eab_kid FROM acme_accounts WHERE jwk_thumbprint = $1`,
        [thumbprint],
      ),
    )[0];
    if (existing) {
      const location = this.url(ctx, `/account/${existing.id}`);
      if (existing.status !== 'valid') throw unauthorized(`the account of this key is ${existing.status}`);
      if (ctx.eabRequired && existing.eab_kid === null) throw eabMissingOnAccount();
      return { status: 200, body: this.accountObject(existing), location };
    }
    if (p.onlyReturnExisting === true) {
      throw new AcmeProblem(400, 'accountDoesNotExist', 'no account exists for this key (onlyReturnExisting)');
    }
    const contact = validContacts(p.contact);
    const c = this.config.acme;
    if (p.termsOfServiceAgreed !== undefined && typeof p.termsOfServiceAgreed !== 'boolean') {
      throw malformed('"termsOfServiceAgreed" must be a boolean');
    }
    if (c.termsOfServiceUrl && p.termsOfServiceAgreed !== true) {
      throw malformed(
        `the terms of service (${c.termsOfServiceUrl}) must be agreed: send "termsOfServiceAgreed": true`,
      );
    }
    if (ctx.eabRequired && p.externalAccountBinding === undefined) {
      throw new AcmeProblem(
        400,
        'externalAccountRequired',
        'this server requires an external account binding (an EAB key id and HMAC key from your administrator)',
      );
    }
    const id = newId('acct');
    return this.ds.transaction(async (m) => {
      let eabKid: string | null = null;
      if (p.externalAccountBinding !== undefined) {
        eabKid = await this.verifyEab(m, p.externalAccountBinding, jwk, requestUrl, id);
      }
      const inserted = rowsOf<{ id: string }>(
        await m.query(
          `INSERT INTO acme_accounts (id, jwk, jwk_thumbprint, contact, tos_agreed, eab_kid)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (jwk_thumbprint) DO NOTHING RETURNING id`,
          [id, JSON.stringify(jwk), thumbprint, contact, p.termsOfServiceAgreed === true, eabKid],
        ),
      )[0];
      // Two newAccount requests racing with one key: the loser is told to retry (it then finds the account).
      if (!inserted) throw new AcmeProblem(409, 'malformed', 'an account for this key was created concurrently; retry');
      await this.audit.recordDomain(m, this.actor(id), 'acme_account_created', 'acme_account', id, {
        contact,
        eab_kid: eabKid,
        jwk_thumbprint: thumbprint,
      });
      const row = (await this.accountById(id, m)) as AccountRow;
      this.metrics.accounts.inc({ event: 'created' });
      return { status: 201, body: this.accountObject(row), location: this.url(ctx, `/account/${id}`) };
    });
  }

  /** RFC 8555 7.3.4: the binding is a MAC JWS over the account key, spending the EAB key. */
  private async verifyEab(
    m: EntityManager,
    binding: unknown,
    accountJwk: JWK,
    requestUrl: string,
    accountId: string,
  ): Promise<string> {
    const refuse = (why: string) => unauthorized(`external account binding refused: ${why}`);
    let jws;
    try {
      jws = parseFlattenedJws(Buffer.from(JSON.stringify(binding)));
    } catch (e) {
      throw refuse((e as Error).message);
    }
    let h: Record<string, unknown>;
    try {
      h = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      throw refuse('the protected header is not base64url JSON');
    }
    if (!['HS256', 'HS384', 'HS512'].includes(h.alg as string)) throw refuse('"alg" must be HS256, HS384 or HS512');
    if ('nonce' in h) throw refuse('the binding may not carry a nonce');
    if (h.url !== requestUrl) throw refuse('its "url" is not the newAccount URL');
    if (typeof h.kid !== 'string' || !ID_FORM.test(h.kid)) throw refuse('"kid" must be an EAB key id');
    const key = await this.eab.hmacKey(m, h.kid);
    if (!key) throw refuse(`unknown or already used key id ${JSON.stringify(h.kid)}`);
    let bound: unknown;
    try {
      const v = await flattenedVerify(jws, key, { algorithms: [h.alg as string] });
      bound = JSON.parse(Buffer.from(v.payload).toString('utf8'));
    } catch {
      throw refuse('the MAC does not verify with that key');
    }
    assertPublicJwk(bound);
    if ((await thumbprintOf(bound)) !== (await thumbprintOf(accountJwk))) {
      throw refuse('it binds a different key than the one signing the request');
    }
    if (!(await this.eab.spend(m, h.kid, accountId))) throw refuse(`key id ${JSON.stringify(h.kid)} was already used`);
    return h.kid;
  }

  async account(ctx: AcmeContext, r: AcmeRequest, id: string): Promise<AcmeReply> {
    const a = r.account as AccountRow;
    if (a.id !== id) throw unauthorized('an account can only be read or changed with its own key');
    if (r.payload.length === 0) return { status: 200, body: this.accountObject(a) };
    const p = jsonPayload(r.payload, 'account update');
    if (p.status !== undefined && p.status !== 'deactivated') {
      throw malformed('an account update may only set "status" to "deactivated"');
    }
    const contact = p.contact === undefined ? undefined : validContacts(p.contact);
    await this.ds.transaction(async (m) => {
      if (contact) {
        await m.query(`UPDATE acme_accounts SET contact = $2, updated_at = now() WHERE id = $1`, [a.id, contact]);
        await this.audit.recordDomain(m, this.actor(a.id), 'acme_account_updated', 'acme_account', a.id, { contact });
      }
      if (p.status === 'deactivated') {
        await m.query(`UPDATE acme_accounts SET status = 'deactivated', updated_at = now() WHERE id = $1`, [a.id]);
        await m.query(
          `UPDATE acme_authorizations z SET status = 'deactivated' FROM acme_orders o
            WHERE z.order_id = o.id AND o.account_id = $1 AND z.status IN ('pending', 'valid')`,
          [a.id],
        );
        await this.audit.recordDomain(m, this.actor(a.id), 'acme_account_deactivated', 'acme_account', a.id, {});
      }
    });
    if (p.status === 'deactivated') this.metrics.accounts.inc({ event: 'deactivated' });
    return { status: 200, body: this.accountObject((await this.accountById(a.id)) as AccountRow) };
  }

  /** RFC 8555 7.3.5: the inner JWS, signed by the new key, names the account and its old key. */
  async keyChange(ctx: AcmeContext, r: AcmeRequest, requestUrl: string): Promise<AcmeReply> {
    const a = r.account as AccountRow;
    await this.limits.take('key-changes', a.id);
    const inner = parseRequestJws(r.payload);
    if (!inner.header.jwk) throw malformed('the inner key-change JWS must carry the new key as "jwk"');
    if (inner.header.nonce !== undefined) throw malformed('the inner key-change JWS may not carry a nonce');
    if (inner.header.url !== requestUrl) throw malformed('the inner key-change JWS "url" must equal the outer one');
    const payload = jsonPayload(await verifyWith(inner, publicKeyOf(inner.header.jwk)), 'key-change');
    if (payload.account !== this.url(ctx, `/account/${a.id}`)) {
      throw malformed('the key-change payload "account" is not the URL of the account signing the request');
    }
    assertPublicJwk(payload.oldKey);
    if ((await thumbprintOf(payload.oldKey)) !== a.jwk_thumbprint) {
      throw malformed('the key-change payload "oldKey" is not the current key of the account');
    }
    const newJwk = canonicalJwk(inner.header.jwk);
    const newThumb = await thumbprintOf(newJwk);
    const holder = rowsOf<{ id: string }>(
      await this.ds.query(`SELECT id FROM acme_accounts WHERE jwk_thumbprint = $1`, [newThumb]),
    )[0];
    if (holder) {
      throw new AcmeProblem(
        409,
        'malformed',
        'the new key is already the key of an account',
        {},
        {
          Location: this.url(ctx, `/account/${holder.id}`),
        },
      );
    }
    await this.ds.transaction(async (m) => {
      await m.query(`UPDATE acme_accounts SET jwk = $2, jwk_thumbprint = $3, updated_at = now() WHERE id = $1`, [
        a.id,
        JSON.stringify(newJwk),
        newThumb,
      ]);
      await this.audit.recordDomain(m, this.actor(a.id), 'acme_key_changed', 'acme_account', a.id, {
        old_thumbprint: a.jwk_thumbprint,
        new_thumbprint: newThumb,
      });
    });
    this.metrics.accounts.inc({ event: 'key_changed' });
    return { status: 200, body: this.accountObject((await this.accountById(a.id)) as AccountRow) };
  }

  // ---- orders ----

  async newOrder(ctx: AcmeContext, r: AcmeRequest): Promise<AcmeReply> {
    const a = r.account as AccountRow;
    const p = jsonPayload(r.payload, 'newOrder');
    if (p.notBefore !== undefined || p.notAfter !== undefined) {
      throw malformed('notBefore/notAfter are not supported: the validity comes from the certificate profile');
    }
    const identifiers = this.validIdentifiers(p.identifiers);
    await this.assertProfilePermits(ctx, identifiers);
    const replaces = p.replaces === undefined ? null : await this.replaceable(a, p.replaces);
    const pending = rowsOf<{ n: number }>(
      await this.ds.query(
        `SELECT count(*)::int AS n FROM acme_orders WHERE account_id = $1 AND status = 'pending' AND expires_at > now()`,
        [a.id],
      ),
    )[0];
    this.limits.assertPending(pending?.n ?? 0);
    await this.limits.take('orders', a.id);
    const orderId = newId('ord');
    const expires = new Date(Date.now() + this.config.acme.orderLifetimeMs);
    const authzExpires = new Date(Date.now() + this.config.acme.authzLifetimeMs);
    const now = new Date().toISOString();
    // The mode is fixed when the order is made: a later profile edit does not change how
    // its authorizations are satisfied.
    const trusted = ctx.authMode === 'trust_authenticated';
    await this.ds.transaction(async (m) => {
      const inserted = rowsOf<{ id: string }>(
        await m.query(
          `INSERT INTO acme_orders (id, account_id, profile_id, status, identifiers, expires_at, replaces)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (replaces) WHERE replaces IS NOT NULL AND status <> 'invalid' DO NOTHING RETURNING id`,
          [
            orderId,
            a.id,
            ctx.profileId ?? null,
            trusted ? 'ready' : 'pending',
            JSON.stringify(identifiers),
            expires,
            replaces,
          ],
        ),
      )[0];
      // A racing order claimed the same certificate between the check and this insert.
      if (!inserted) throw alreadyReplaced(replaces ?? '');
      for (const ident of identifiers) {
        const wildcard = ident.value.startsWith('*.');
        // trust_authenticated: the account's key is the proof; each authorization is valid
        // at once, with a challenge shown valid so clients see how it was satisfied.
        // challenge: every authorization waits for one of the challenges we can check (a
        // wildcard only by DNS, an IP address by HTTP or TLS-ALPN (RFC 8738): it has no DNS
        // name to hold TXT).
        const types: ChallengeEntry['type'][] = wildcard
          ? ['dns-01']
          : ident.type === 'ip'
            ? ['http-01', 'tls-alpn-01']
            : ['http-01', 'dns-01', 'tls-alpn-01'];
        const challenges: ChallengeEntry[] = types.map((type, i) => ({
          id: newId('chall'),
          type,
          token: randomBytes(32).toString('base64url'),
          status: trusted && i === 0 ? 'valid' : 'pending',
          ...(trusted && i === 0 ? { validated: now } : {}),
        }));
        await m.query(
          `INSERT INTO acme_authorizations (id, order_id, identifier, wildcard, status, expires_at, challenges)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            newId('authz'),
            orderId,
            JSON.stringify({ type: ident.type, value: wildcard ? ident.value.slice(2) : ident.value }),
            wildcard,
            trusted ? 'valid' : 'pending',
            authzExpires,
            JSON.stringify(challenges),
          ],
        );
      }
      await this.audit.recordDomain(m, this.actor(a.id), 'acme_order_created', 'acme_order', orderId, {
        identifiers,
        profile_id: ctx.profileId ?? null,
      });
    });
    this.metrics.orders.inc({ event: 'created' });
    return { status: 201, body: await this.orderObject(ctx, orderId), location: this.url(ctx, `/order/${orderId}`) };
  }

  // ---- renewal information (RFC 9773) ----

  /** A certificate of ours named by its ARI id: base64url(AKI keyIdentifier).base64url(serial). */
  private async byCertId(certId: string): Promise<{ der: Buffer; versionId: string } | undefined> {
    const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(certId);
    if (!m) throw malformed(`${JSON.stringify(certId)} is not a certificate id (base64url(AKI).base64url(serial))`);
    const aki = Buffer.from(m[1], 'base64url').toString('hex');
    const serial = Buffer.from(m[2], 'base64url').toString('hex').replace(/^0+/, '');
    if (!aki || !serial) throw malformed(`${JSON.stringify(certId)} has an empty key identifier or serial`);
    const rows = rowsOf<{ id: string; pem_chain: string }>(
      await this.ds.query(
        `SELECT id, pem_chain FROM certificate_versions WHERE lower(ltrim(serial_number, '0')) = $1`,
        [serial],
      ),
    );
    for (const row of rows) {
      const leaf = new x509.X509Certificate(row.pem_chain);
      const keyId = leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
      if (keyId && keyId.toLowerCase() === aki) return { der: Buffer.from(leaf.rawData), versionId: row.id };
    }
    return undefined;
  }

  /**
   * GET renewalInfo: the window starts where the certificate's renewal policy says
   * (renewal_days_before the end), else at two thirds of its lifetime; a revoked
   * certificate is due now.
   */
  async renewalInfo(certId: string): Promise<AcmeReply> {
    if (!this.config.acme.ari.enabled) throw notFoundProblem('renewal information (ARI is off on this server)');
    const found = await this.byCertId(certId);
    const presented = found && (await this.enrollment.presented(found.der));
    if (!found || !presented || presented.enrolledVia !== 'ACME') {
      throw notFoundProblem(`certificate ${JSON.stringify(certId)} (not issued over ACME here)`);
    }
    const cert = new X509Certificate(found.der);
    const notBefore = new Date(cert.validFrom).getTime();
    const notAfter = new Date(cert.validTo).getTime();
    const now = Date.now();
    let start: number;
    let end: number;
    if (presented.revoked) {
      start = now;
      end = now + 3_600_000;
    } else {
      const policy = rowsOf<{ days: number }>(
        await this.ds.query(
          `SELECT p.renewal_days_before AS days FROM managed_certificates mc
             JOIN renewal_policies p ON p.id = mc.renewal_policy_id WHERE mc.id = $1`,
          [presented.certificateId],
        ),
      )[0];
      const before = (policy?.days ?? 0) * 86_400_000;
      if (before > 0 && notAfter - before > notBefore) {
        start = notAfter - before;
        end = notAfter - before / 2;
      } else {
        const life = notAfter - notBefore;
        start = notBefore + (life * 2) / 3;
        end = notBefore + (life * 5) / 6;
      }
    }
    return {
      status: 200,
      body: { suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() } },
      retryAfter: Math.round(this.config.acme.ari.pollIntervalMs / 1000),
    };
  }

  /** newOrder `replaces`: a certificate this account ordered that no live order replaces yet. */
  private async replaceable(a: AccountRow, raw: unknown): Promise<string> {
    if (typeof raw !== 'string') throw malformed('"replaces" must be a certificate id string');
    const found = await this.byCertId(raw);
    const presented = found && (await this.enrollment.presented(found.der));
    if (!presented) throw malformed(`"replaces": no certificate ${JSON.stringify(raw)} was issued here`);
    const owned = rowsOf<{ id: string }>(
      await this.ds.query(`SELECT id FROM acme_orders WHERE certificate_id = $1 AND account_id = $2 LIMIT 1`, [
        presented.certificateId,
        a.id,
      ]),
    )[0];
    if (!owned) throw unauthorized(`"replaces": certificate ${raw} was not ordered by this account`);
    const taken = rowsOf<{ id: string }>(
      await this.ds.query(`SELECT id FROM acme_orders WHERE replaces = $1 AND status <> 'invalid' LIMIT 1`, [raw]),
    )[0];
    if (taken) throw alreadyReplaced(raw);
    return raw;
  }

  private validIdentifiers(raw: unknown): Identifier[] {
    if (!Array.isArray(raw) || raw.length === 0) throw malformed('"identifiers" must be a non-empty array');
    if (raw.length > MAX_IDENTIFIERS) {
      throw new AcmeProblem(400, 'rejectedIdentifier', `an order may name at most ${MAX_IDENTIFIERS} identifiers`);
    }
    const out: Identifier[] = [];
    for (const i of raw as unknown[]) {
      const o = (typeof i === 'object' && i !== null ? i : {}) as Record<string, unknown>;
      if (typeof o.value !== 'string') throw malformed('each identifier needs a string "value"');
      let value: string;
      if (o.type === 'dns') value = this.dnsIdentifier(o.value);
      else if (o.type === 'ip') {
        if (!isIP(o.value)) throw malformed(`identifier ${JSON.stringify(o.value)} is not an IP address`);
        value = canonicalIp(o.value);
      } else {
        throw new AcmeProblem(
          400,
          'unsupportedIdentifier',
          `identifier type ${JSON.stringify(o.type)} is not supported (dns, ip)`,
        );
      }
      if (!out.some((x) => x.type === o.type && x.value === value)) out.push({ type: o.type, value });
    }
    return out;
  }

  /** Names the profile's SAN rules refuse are refused at newOrder, not only at finalize. */
  private async assertProfilePermits(ctx: AcmeContext, identifiers: Identifier[]): Promise<void> {
    if (!ctx.profileId) return;
    const row = rowsOf<{ san_rules: Partial<SanRules> | null }>(
      await this.ds.query(`SELECT san_rules FROM certificate_profiles WHERE id = $1`, [ctx.profileId]),
    )[0];
    if (!row) return; // EnrollmentService reports a missing profile as a configuration problem
    const violations = sanViolations(
      {
        dns: identifiers.filter((i) => i.type === 'dns').map((i) => i.value),
        ip: identifiers.filter((i) => i.type === 'ip').map((i) => i.value),
      },
      sanRulesWithDefaults(row.san_rules ?? {}),
    );
    if (violations.length) {
      throw new AcmeProblem(
        400,
        'rejectedIdentifier',
        `profile ${ctx.profileId} does not issue these identifiers: ${violations.map((v) => `profile.${v.rule}: ${v.message}`).join('; ')}`,
      );
    }
  }

  private dnsIdentifier(raw: string): string {
    const v = raw.toLowerCase();
    const wildcard = v.startsWith('*.');
    if (wildcard && !this.config.acme.allowWildcards) {
      throw new AcmeProblem(
        400,
        'rejectedIdentifier',
        `wildcard identifier ${JSON.stringify(raw)} is not allowed here`,
      );
    }
    const name = wildcard ? v.slice(2) : v;
    const labels = name.split('.');
    if (name.length > 253 || labels.length < 2 || !labels.every((l) => DNS_LABEL.test(l)) || isIP(name)) {
      throw new AcmeProblem(400, 'rejectedIdentifier', `${JSON.stringify(raw)} is not a valid DNS name`);
    }
    return v;
  }

  private async orderRow(id: string): Promise<OrderRow | undefined> {
    return rowsOf<OrderRow>(
      await this.ds.query(
        `SELECT id, account_id, profile_id, status, identifiers, expires_at, error, request_id, certificate_id, replaces
           FROM acme_orders WHERE id = $1`,
        [id],
      ),
    )[0];
  }

  private async ownedOrder(r: AcmeRequest, id: string): Promise<OrderRow> {
    const o = await this.orderRow(id);
    if (!o) throw notFoundProblem(`order ${id}`);
    if (o.account_id !== (r.account as AccountRow).id) throw unauthorized(`order ${id} belongs to another account`);
    return this.refresh(o);
  }

  /** A processing order follows its enrollment request (approval, a replica's worker). */
  private async refresh(o: OrderRow): Promise<OrderRow> {
    if (o.status === 'processing' && o.request_id) {
      const outcome = await this.enrollment.outcome(o.request_id);
      if (outcome.status !== 'pending') await this.recordOutcome(o.id, outcome);
      return (await this.orderRow(o.id)) as OrderRow;
    }
    if ((o.status === 'pending' || o.status === 'ready') && new Date(o.expires_at).getTime() <= Date.now()) {
      await this.ds.query(
        `UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE id = $1 AND status IN ('pending', 'ready')`,
        [o.id, JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'the order expired' })],
      );
      return (await this.orderRow(o.id)) as OrderRow;
    }
    return o;
  }

  private async recordOutcome(orderId: string, outcome: EnrollmentOutcome): Promise<void> {
    // Only the request that moves the order out of `processing` counts it.
    if (outcome.status === 'issued') {
      const [, n] = await this.ds.query<[unknown, number]>(
        `UPDATE acme_orders SET status = 'valid', updated_at = now() WHERE id = $1 AND status = 'processing'`,
        [orderId],
      );
      if (n) this.metrics.orders.inc({ event: 'valid' });
    } else if (outcome.status === 'failed') {
      const [, n] = await this.ds.query<[unknown, number]>(
        `UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE id = $1 AND status = 'processing'`,
        [orderId, JSON.stringify({ type: 'urn:ietf:params:acme:error:serverInternal', detail: outcome.reason })],
      );
      if (n) this.metrics.orders.inc({ event: 'invalid' });
    }
  }

  private async orderObject(ctx: AcmeContext, id: string, row?: OrderRow): Promise<Record<string, unknown>> {
    const o = row ?? (await this.orderRow(id));
    if (!o) throw notFoundProblem(`order ${id}`);
    const authz = rowsOf<{ id: string }>(
      await this.ds.query(`SELECT id FROM acme_authorizations WHERE order_id = $1 ORDER BY id`, [id]),
    );
    return {
      status: o.status,
      expires: new Date(o.expires_at).toISOString(),
      identifiers: o.identifiers,
      authorizations: authz.map((z) => this.url(ctx, `/authz/${z.id}`)),
      finalize: this.url(ctx, `/order/${id}/finalize`),
      ...(o.status === 'valid' ? { certificate: this.url(ctx, `/cert/${id}`) } : {}),
      ...(o.replaces ? { replaces: o.replaces } : {}),
      ...(o.error ? { error: o.error } : {}),
    };
  }

  async order(ctx: AcmeContext, r: AcmeRequest, id: string): Promise<AcmeReply> {
    postAsGet(r);
    const o = await this.ownedOrder(r, id);
    return {
      status: 200,
      body: await this.orderObject(ctx, id, o),
      retryAfter: o.status === 'processing' ? 10 : undefined,
    };
  }

  private async authzRow(where: string, param: string): Promise<AuthzRow | undefined> {
    return rowsOf<AuthzRow>(
      await this.ds.query(
        `SELECT z.id, z.order_id, o.account_id, z.identifier, z.wildcard, z.status, z.expires_at, z.challenges
           FROM acme_authorizations z JOIN acme_orders o ON o.id = z.order_id WHERE ${where}`,
        [param],
      ),
    )[0];
  }

  private challengeObject(ctx: AcmeContext, c: ChallengeEntry): Record<string, unknown> {
    return {
      type: c.type,
      url: this.url(ctx, `/challenge/${c.id}`),
      token: c.token,
      status: c.status,
      ...(c.validated ? { validated: c.validated } : {}),
      ...(c.error ? { error: c.error } : {}),
    };
  }

  async authz(ctx: AcmeContext, r: AcmeRequest, id: string): Promise<AcmeReply> {
    const z = await this.authzRow(`z.id = $1`, id);
    if (!z) throw notFoundProblem(`authorization ${id}`);
    if (z.account_id !== (r.account as AccountRow).id)
      throw unauthorized(`authorization ${id} belongs to another account`);
    if (r.payload.length > 0) {
      const p = jsonPayload(r.payload, 'authorization update');
      if (p.status !== 'deactivated') throw malformed('an authorization update may only set "status" to "deactivated"');
      await this.ds.query(`UPDATE acme_authorizations SET status = 'deactivated' WHERE id = $1`, [id]);
      z.status = 'deactivated';
    }
    return {
      status: 200,
      body: {
        identifier: z.identifier,
        status: z.status,
        expires: new Date(z.expires_at).toISOString(),
        challenges: z.challenges.map((c) => this.challengeObject(ctx, c)),
        ...(z.wildcard ? { wildcard: true } : {}),
      },
    };
  }

  private challengeRow(id: string): Promise<AuthzRow | undefined> {
    return this.authzRow(`z.challenges @> jsonb_build_array(jsonb_build_object('id', $1::text))`, id);
  }

  /**
   * A challenge response (payload `{}`) or POST-as-GET. In challenge mode the response
   * moves a pending challenge of a pending authorization to `processing` (compare-and-set
   * on the row, so two racing responses enqueue once) and queues its validation.
   */
  async challenge(ctx: AcmeContext, r: AcmeRequest, id: string): Promise<AcmeReply> {
    const respond = r.payload.length > 0;
    if (respond) jsonPayload(r.payload, 'challenge response');
    const z = await this.challengeRow(id);
    const c = z?.challenges.find((x) => x.id === id);
    if (!z || !c) throw notFoundProblem(`challenge ${id}`);
    if (z.account_id !== (r.account as AccountRow).id) throw unauthorized(`challenge ${id} belongs to another account`);
    // Clients (certbot, lego) find the authorization to poll through this link.
    const links = [`<${this.url(ctx, `/authz/${z.id}`)}>;rel="up"`];
    // A trust_authenticated order's authorizations are valid from the start, so only a
    // challenge-mode authorization is still pending here.
    if (!respond || c.status !== 'pending' || z.status !== 'pending') {
      return { status: 200, body: this.challengeObject(ctx, c), links };
    }
    if (new Date(z.expires_at).getTime() <= Date.now()) {
      throw malformed(`authorization ${z.id} has expired`);
    }
    await this.limits.take('challenge-responds', z.account_id);
    const next = z.challenges.map((x) =>
      x.id === id ? { ...x, status: 'processing' as const, processing_since: new Date().toISOString() } : x,
    );
    const claimed = rowsOf<{ id: string }>(
      await this.ds.query(
        `UPDATE acme_authorizations SET challenges = $2 WHERE id = $1 AND status = 'pending' AND challenges = $3::jsonb RETURNING id`,
        [z.id, JSON.stringify(next), JSON.stringify(z.challenges)],
      ),
    )[0];
    if (claimed) {
      try {
        await this.enqueueValidation(id);
      } catch (e) {
        // Nothing would ever validate it: give the challenge back so the client may retry.
        await this.ds.query(`UPDATE acme_authorizations SET challenges = $2 WHERE id = $1`, [
          z.id,
          JSON.stringify(z.challenges),
        ]);
        this.logger.warn(`cannot queue ACME validation ${id}: ${(e as Error).message}`);
        throw new AcmeProblem(
          503,
          'serverInternal',
          'the validation queue is unavailable; retry later',
          {},
          {
            'Retry-After': '30',
          },
        );
      }
    }
    const now = (await this.challengeRow(id))?.challenges.find((x) => x.id === id) ?? c;
    return { status: 200, body: this.challengeObject(ctx, now), links };
  }

  private async enqueueValidation(challengeId: string): Promise<void> {
    await this.validations.add(
      JobName.ValidateAcmeChallenge,
      { challenge_id: challengeId },
      {
        jobId: challengeId,
        attempts: this.config.acme.validation.attempts,
        backoff: { type: 'fixed', delay: VALIDATION_BACKOFF_MS },
      },
    );
  }

  /**
   * How long a challenge may stay `processing` before the GC believes its validation job
   * was lost (Redis flushed or failed over, a worker killed mid-job): twice what all of its
   * attempts can take, and never less than five minutes.
   */
  stuckProcessingMs(): number {
    const v = this.config.acme.validation;
    return Math.max(5 * 60_000, 2 * v.attempts * (v.timeoutMs + VALIDATION_BACKOFF_MS));
  }

  /**
   * Re-queues the validation of challenges `processing` for longer than `olderThanMs` whose
   * job is no longer waiting or running in BullMQ. Validation is idempotent (it acts only
   * on a processing challenge of a pending authorization), so a job that was merely slow
   * and then runs twice changes nothing.
   */
  async requeueStuckChallenges(olderThanMs = this.stuckProcessingMs()): Promise<string[]> {
    const rows = rowsOf<{ id: string; challenges: ChallengeEntry[] }>(
      await this.ds.query(
        `SELECT id, challenges FROM acme_authorizations
          WHERE status = 'pending' AND expires_at > now()
            AND challenges @> '[{"status": "processing"}]'::jsonb`,
      ),
    );
    const cutoff = Date.now() - olderThanMs;
    const requeued: string[] = [];
    for (const z of rows) {
      for (const c of z.challenges) {
        if (c.status !== 'processing') continue;
        const since = c.processing_since ? Date.parse(c.processing_since) : 0;
        if (since > cutoff) continue;
        const job = await this.validations.getJob(c.id);
        const state = job ? await job.getState() : 'unknown';
        if (['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'].includes(state)) continue;
        // A finished job under the same id would make add() a no-op.
        if (job) await job.remove();
        const next = z.challenges.map((x) =>
          x.id === c.id ? { ...x, processing_since: new Date().toISOString() } : x,
        );
        const claimed = rowsOf<{ id: string }>(
          await this.ds.query(
            `UPDATE acme_authorizations SET challenges = $2 WHERE id = $1 AND status = 'pending' AND challenges = $3::jsonb RETURNING id`,
            [z.id, JSON.stringify(next), JSON.stringify(z.challenges)],
          ),
        )[0];
        if (!claimed) continue; // it moved on meanwhile
        await this.enqueueValidation(c.id);
        this.logger.warn(`ACME challenge ${c.id} was stuck in processing (its validation job was lost): re-queued`);
        requeued.push(c.id);
        break; // the row changed: its other challenges wait for the next pass
      }
    }
    return requeued;
  }

  /**
   * One validation attempt of a `processing` challenge (the worker's job). Success makes the
   * authorization valid, and the order ready once all of its authorizations are; the last
   * failed attempt makes the challenge, its authorization and its order invalid.
   */
  async validateChallenge(id: string, lastAttempt: boolean): Promise<'valid' | 'invalid' | 'retry' | 'skipped'> {
    const z = await this.challengeRow(id);
    const c = z?.challenges.find((x) => x.id === id);
    if (!z || !c || c.status !== 'processing' || z.status !== 'pending') return 'skipped';
    const account = await this.accountById(z.account_id);
    if (!account) return 'skipped';
    const keyAuthorization = `${c.token}.${account.jwk_thumbprint}`;
    let result: ValidationResult;
    if (new Date(z.expires_at).getTime() <= Date.now()) {
      result = {
        ok: false,
        error: { type: 'urn:ietf:params:acme:error:malformed', detail: 'the authorization expired' },
      };
      lastAttempt = true;
    } else {
      const v = this.config.acme.validation;
      result = await this.slots.run(c.type, () =>
        c.type === 'http-01'
          ? validateHttp01(v, z.identifier, c.token, keyAuthorization)
          : c.type === 'dns-01'
            ? validateDns01(v, z.identifier.value, keyAuthorization)
            : validateTlsAlpn01(v, z.identifier, keyAuthorization),
      );
    }
    if (!result.ok && !lastAttempt) return 'retry';
    const status = result.ok ? 'valid' : 'invalid';
    const next = z.challenges.map((x) =>
      x.id !== id
        ? x
        : result.ok
          ? { ...x, status, validated: new Date().toISOString() }
          : { ...x, status, error: result.error },
    );
    let settled = false;
    let orderFailed = false;
    await this.ds.transaction(async (m) => {
      const updated = rowsOf<{ id: string }>(
        await m.query(
          `UPDATE acme_authorizations SET status = $2, challenges = $3 WHERE id = $1 AND status = 'pending' RETURNING id`,
          [z.id, status, JSON.stringify(next)],
        ),
      )[0];
      if (!updated) return;
      settled = true;
      if (result.ok) {
        await m.query(
          `UPDATE acme_orders SET status = 'ready', updated_at = now()
            WHERE id = $1 AND status = 'pending'
              AND NOT EXISTS (SELECT 1 FROM acme_authorizations WHERE order_id = $1 AND status <> 'valid')`,
          [z.order_id],
        );
      } else {
        const [, n] = await m.query<[unknown, number]>(
          `UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`,
          [
            z.order_id,
            JSON.stringify({
              type: 'urn:ietf:params:acme:error:unauthorized',
              detail: `authorization of ${z.identifier.value} failed (${c.type}): ${result.error.detail}`,
              subproblems: [{ ...result.error, identifier: z.identifier }],
            }),
          ],
        );
        orderFailed = n > 0;
      }
      await this.audit.recordDomain(
        m,
        this.actor(z.account_id),
        result.ok ? 'acme_challenge_valid' : 'acme_challenge_invalid',
        'acme_authorization',
        z.id,
        { challenge_id: id, type: c.type, identifier: z.identifier, ...(result.ok ? {} : { error: result.error }) },
      );
    });
    if (settled) this.metrics.challenges.inc({ type: c.type, result: status });
    if (orderFailed) this.metrics.orders.inc({ event: 'invalid' });
    return status;
  }

  async finalize(ctx: AcmeContext, r: AcmeRequest, id: string): Promise<AcmeReply> {
    const a = r.account as AccountRow;
    const o = await this.ownedOrder(r, id);
    const p = jsonPayload(r.payload, 'finalize');
    if (o.status !== 'ready') {
      throw new AcmeProblem(403, 'orderNotReady', `order ${id} is ${o.status}, not ready to finalize`);
    }
    if (typeof p.csr !== 'string' || !/^[A-Za-z0-9_-]+$/.test(p.csr)) throw badCsr('"csr" must be base64url DER');
    let csr: ParsedCsr;
    try {
      csr = await parseCsr(Buffer.from(p.csr, 'base64url'));
    } catch (e) {
      throw badCsr(`the CSR does not parse or its signature does not verify: ${(e as Error).message}`);
    }
    try {
      assertCsrMatches(csr, o.identifiers);
    } catch (e) {
      this.enrollment.countRejected(this.target(o));
      throw e;
    }
    // Claim the order first: a second finalize racing with this one gets orderNotReady.
    const claimed = rowsOf<{ id: string }>(
      await this.ds.query(
        `UPDATE acme_orders SET status = 'processing', updated_at = now() WHERE id = $1 AND status = 'ready' RETURNING id`,
        [id],
      ),
    )[0];
    if (!claimed) throw new AcmeProblem(403, 'orderNotReady', `order ${id} is being finalized already`);
    let outcome: EnrollmentOutcome;
    try {
      outcome = await this.enrollment.enroll({
        target: this.target(o),
        csr,
        actor: this.actor(a.id),
      });
    } catch (e) {
      // Refused by policy (or the issuer is unusable): the order is ready again for a better CSR.
      await this.ds.query(`UPDATE acme_orders SET status = 'ready', updated_at = now() WHERE id = $1`, [id]);
      if (e instanceof DomainError && e.code === ErrorCode.Validation) {
        this.enrollment.countRejected(this.target(o));
        throw badCsr(e.message);
      }
      throw e;
    }
    await this.ds.query(
      `UPDATE acme_orders SET request_id = $2, certificate_id = $3, updated_at = now() WHERE id = $1`,
      [id, outcome.requestId, outcome.certificateId],
    );
    await this.recordOutcome(id, outcome);
    const row = (await this.orderRow(id)) as OrderRow;
    return {
      status: 200,
      body: await this.orderObject(ctx, id, row),
      location: this.url(ctx, `/order/${id}`),
      retryAfter: row.status === 'processing' && outcome.status === 'pending' ? outcome.retryAfterSeconds : undefined,
    };
  }

  /** What EnrollmentService issues an order's certificate for (and labels its metric with). */
  private target(o: OrderRow): EnrollmentTarget {
    return {
      protocol: 'ACME',
      label: o.profile_id ?? 'default',
      issuerId: this.config.acme.issuerId,
      profileId: o.profile_id ?? undefined,
    };
  }

  /**
   * Certificate download (RFC 8555 7.4.2). Two chains can be meaningful: without the
   * self-signed root (what a TLS server should send, RFC 8446 4.4.2) and with it (for
   * relying parties that do not hold our root yet, or stores that want the whole path).
   * The default is the chain without the root, or with it when the leaf is signed by the
   * root directly (clients such as certbot expect an issuer after the leaf); the other one,
   * when it differs, is `/cert/{id}/1`, and each names the other with
   * `Link: <...>;rel="alternate"`.
   */
  async certificate(ctx: AcmeContext, r: AcmeRequest, id: string, alternate = false): Promise<AcmeReply> {
    postAsGet(r);
    const o = await this.ownedOrder(r, id);
    if (o.status !== 'valid' || !o.request_id) throw notFoundProblem(`a certificate for order ${id}`);
    const outcome = await this.enrollment.outcome(o.request_id);
    if (outcome.status !== 'issued') throw notFoundProblem(`a certificate for order ${id}`);
    const chains = await this.chainsOf(outcome.issued.certDer, outcome.issued.chainDer);
    const chain = alternate ? chains.alternate : chains.preferred;
    if (!chain) throw notFoundProblem(`an alternate chain for order ${id}`);
    const pem = [outcome.issued.certDer, ...chain].map((d) => derToPem(d, 'CERTIFICATE')).join('');
    const other = alternate ? this.url(ctx, `/cert/${id}`) : chains.alternate && this.url(ctx, `/cert/${id}/1`);
    return { status: 200, pem, links: other ? [`<${other}>;rel="alternate"`] : [] };
  }

  /** The chains above a leaf (DERs after the leaf): preferred, and the alternate when it differs. */
  private async chainsOf(certDer: Buffer, chainDer: Buffer[]): Promise<{ preferred: Buffer[]; alternate?: Buffer[] }> {
    const top = new X509Certificate(chainDer.at(-1) ?? certDer);
    let withRoot: Buffer[] | undefined;
    let withoutRoot: Buffer[];
    if (chainDer.length && top.checkIssued(top)) {
      withRoot = chainDer;
      withoutRoot = chainDer.slice(0, -1);
    } else {
      withoutRoot = chainDer;
      const root = await this.rootAbove(certDer, top);
      withRoot = root ? [...chainDer, root] : undefined;
    }
    if (withoutRoot.length === 0) return { preferred: withRoot ?? [], alternate: withRoot ? [] : undefined };
    return { preferred: withoutRoot, alternate: withRoot };
  }

  /** The self-signed CA of the leaf's issuer that signed `top` (the end of the stored chain). */
  private async rootAbove(certDer: Buffer, top: X509Certificate): Promise<Buffer | undefined> {
    const presented = await this.enrollment.presented(certDer);
    if (!presented) return undefined;
    const rows = rowsOf<{ cert_pem: string }>(
      await this.ds.query(
        `SELECT ca.cert_pem FROM certificate_versions v JOIN issuer_cas ca ON ca.issuer_id = v.issuer_id WHERE v.id = $1`,
        [presented.versionId],
      ),
    );
    for (const row of rows) {
      for (const pem of row.cert_pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
        const ca = new X509Certificate(pem);
        if (ca.checkIssued(ca) && top.checkIssued(ca) && top.verify(ca.publicKey)) return Buffer.from(ca.raw);
      }
    }
    return undefined;
  }

  /** RFC 8555 7.6: by the account that ordered it, or signed by the certificate's own key. */
  async revoke(r: AcmeRequest): Promise<AcmeReply> {
    const p = jsonPayload(r.payload, 'revokeCert');
    if (typeof p.certificate !== 'string' || !/^[A-Za-z0-9_-]+$/.test(p.certificate)) {
      throw malformed('"certificate" must be the base64url DER of the certificate');
    }
    const der = Buffer.from(p.certificate, 'base64url');
    let reason: keyof typeof RevocationReason = 'unspecified';
    if (p.reason !== undefined) {
      const named = typeof p.reason === 'number' ? REASON_BY_CODE.get(p.reason) : undefined;
      if (!named) {
        throw new AcmeProblem(
          400,
          'badRevocationReason',
          `reason ${JSON.stringify(p.reason)} is not a reason code we accept (0-6, 9)`,
        );
      }
      reason = named;
    }
    const presented = await this.enrollment.presented(der);
    if (!presented) throw notFoundProblem('that certificate (it was not issued by this server)');
    if (r.account) {
      const owned = rowsOf<{ id: string }>(
        await this.ds.query(`SELECT id FROM acme_orders WHERE certificate_id = $1 AND account_id = $2 LIMIT 1`, [
          presented.certificateId,
          r.account.id,
        ]),
      )[0];
      if (!owned) throw unauthorized('this account did not order that certificate');
    } else {
      let certKey: Buffer;
      try {
        certKey = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
      } catch {
        throw malformed('"certificate" is not a DER X.509 certificate');
      }
      const jwsKey = publicKeyOf(r.jwk as JWK).export({ type: 'spki', format: 'der' });
      if (!certKey.equals(jwsKey))
        throw unauthorized("the request is signed neither by an account nor by the certificate's key");
    }
    if (presented.revoked)
      throw new AcmeProblem(400, 'alreadyRevoked', `certificate ${presented.certificateId} is already revoked`);
    await this.revocation.revoke(
      {
        actorId: r.account ? `acme:${r.account.id}` : 'acme:certificate-key',
        actorType: 'Device',
        roles: [],
        permissions: new Set(),
      },
      presented.certificateId,
      { reason },
    );
    this.metrics.revocations.inc({ by: r.account ? 'account' : 'certificate_key' });
    return { status: 200 };
  }
}

const alreadyReplaced = (certId: string): AcmeProblem =>
  new AcmeProblem(409, 'alreadyReplaced', `certificate ${certId} is already replaced by another order`);

function postAsGet(r: AcmeRequest): void {
  if (r.payload.length !== 0) throw malformed('this resource is read with POST-as-GET: the payload must be empty ("")');
}

function canonicalIp(v: string): string {
  if (isIP(v) === 4) return v;
  // The WHATWG URL parser prints IPv6 in its RFC 5952 canonical form.
  return new URL(`http://[${v}]/`).hostname.slice(1, -1);
}

function validContacts(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw malformed('"contact" must be an array of URLs');
  if (raw.length > 10) throw new AcmeProblem(400, 'invalidContact', 'at most 10 contact URLs');
  return raw.map((c: unknown) => {
    if (typeof c !== 'string') throw new AcmeProblem(400, 'invalidContact', 'each contact must be a string URL');
    if (!c.toLowerCase().startsWith('mailto:')) {
      throw new AcmeProblem(400, 'unsupportedContact', `contact ${JSON.stringify(c)}: only mailto: URLs are supported`);
    }
    if (!MAILTO.test(c))
      throw new AcmeProblem(400, 'invalidContact', `contact ${JSON.stringify(c)} is not a valid mailto: address`);
    return c;
  });
}

/** The CSR must ask for exactly the order's names: its SANs (and CN, if any, one of them). */
function assertCsrMatches(csr: ParsedCsr, identifiers: Identifier[]): void {
  if (csr.sans.email.length || csr.sans.uri.length || csr.unsupportedSans.length) {
    throw badCsr('the CSR may only carry DNS and IP subjectAltNames');
  }
  const want = new Set(identifiers.map((i) => `${i.type}:${i.value}`));
  const got = new Set([
    ...csr.sans.dns.map((d) => `dns:${d.toLowerCase()}`),
    ...csr.sans.ip.map((i) => `ip:${canonicalIp(i)}`),
  ]);
  if (csr.commonName) {
    const cn = csr.commonName.toLowerCase();
    got.add(isIP(cn) ? `ip:${canonicalIp(cn)}` : `dns:${cn}`);
  }
  const missing = [...want].filter((x) => !got.has(x));
  const extra = [...got].filter((x) => !want.has(x));
  if (missing.length || extra.length) {
    throw badCsr(
      `the CSR names must equal the order's identifiers` +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') +
        (extra.length ? `; not in the order: ${extra.join(', ')}` : ''),
    );
  }
}
