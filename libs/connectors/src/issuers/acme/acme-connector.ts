import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as x509 from '@peculiar/x509';
import { base64url } from 'jose';
import { IssuerType, invalid, notFound } from '@certctl/domain';
import { commonNameAsSan, effectiveSans, ensureCryptoProvider, pemToDers, type ParsedCsr } from '@certctl/pki';
import { acmeConfig, type AcmeIssuerConfig } from '../issuer-configs';
import type {
  CaRenewalInfo,
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import {
  AcmeClient,
  newAccountKeyPem,
  type AcmeAuthorization,
  type AcmeIdentifier,
  type AcmeOrder,
} from './acme-client';
import type { AcmeConnectorDeps } from './acme-deps';
import {
  HookDns01Solver,
  PersistentDnsSolver,
  ResponderHttp01Solver,
  WebrootHttp01Solver,
  type ChallengeSolver,
} from './acme-solvers';
import { AcmeProblemError, AcmeTransport, describeProblem, unavailable as unavailableError } from './acme-transport';

/** How long an authorization or an order may take to settle before the job gives up (and retries later). */
const SETTLE_TIMEOUT_MS = 5 * 60_000;

/** RFC 5280 CRLReason codes by the names the API uses. */
const REASON_CODES: Record<string, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const ZEROSSL_ACME_HOST = 'acme.zerossl.com';
const ZEROSSL_EAB_URL = 'https://api.zerossl.com/acme/eab-credentials-email';

/** Problems with which a CA refuses an order's `replaces` (RFC 9773 section 5, RFC 8555 malformed). */
const REPLACES_REFUSED = new Set([
  'urn:ietf:params:acme:error:alreadyReplaced',
  'urn:ietf:params:acme:error:conflict',
  'urn:ietf:params:acme:error:malformed',
]);

/**
 * ACME v2 (RFC 8555) issuer: Let's Encrypt, ZeroSSL, Google Trust Services, step-ca ACME,
 * Pebble. The account key is made on first use and kept sealed by the server; names are
 * proven with http-01 (built-in responder or webroot), dns-01 (operator hooks) or
 * dns-persist-01 (a standing record, falling back to dns-01 when the CA lacks it).
 */
export class AcmeConnector implements IssuerConnector {
  readonly type = IssuerType.ACME;
  private readonly cfg: AcmeIssuerConfig;

  constructor(
    private readonly ctx: IssuerConnectorContext,
    private readonly deps: AcmeConnectorDeps,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {
    this.cfg = acmeConfig.schema.parse(ctx.config);
  }

  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    const identifiers = orderIdentifiers(req);
    const csrDer = this.csrDer(req, identifiers);
    const client = await this.account();
    const { url, order } = await this.newOrder(client, identifiers, req.replacesCertPem);
    if (order.status === 'pending') await this.authorize(client, order);
    const ready = await client.poll<AcmeOrder>(url, 'order', (o) => o.status !== 'pending', SETTLE_TIMEOUT_MS);
    if (ready.status === 'ready') await client.finalize(ready, csrDer);
    const done = await client.poll<AcmeOrder>(
      url,
      'order',
      (o) => o.status === 'valid' || o.status === 'invalid',
      SETTLE_TIMEOUT_MS,
    );
    if (done.status === 'invalid' || !done.certificate) {
      throw invalid(`ACME order ${url} is ${done.status}${done.error ? `: ${describeProblem(done.error)}` : ''}`);
    }
    return toResult(await this.chain(client, done.certificate));
  }

  /**
   * newOrder, naming the certificate it replaces (RFC 9773 section 5) when the CA has ARI:
   * the CA may then exempt the renewal from rate limits and close the old window. A CA that
   * refuses the `replaces` (already replaced, or an id it does not know) gets the order
   * again without it: the renewal matters more than the hint.
   */
  private async newOrder(client: AcmeClient, identifiers: AcmeIdentifier[], replacesCertPem: string | undefined) {
    const base = this.cfg.profile ? { profile: this.cfg.profile } : {};
    const replaces =
      replacesCertPem && this.cfg.ari_enabled !== false && (await client.directory()).renewalInfo
        ? replacesId(replacesCertPem)
        : undefined;
    if (!replaces) return client.newOrder(identifiers, base);
    try {
      return await client.newOrder(identifiers, { ...base, replaces });
    } catch (e) {
      if (!(e instanceof AcmeProblemError) || !REPLACES_REFUSED.has(e.problem.type ?? '')) throw e;
      return client.newOrder(identifiers, base);
    }
  }

  /** A renewal is a new order for the same names (the CA decides the lifetime). */
  renew(req: IssuanceRequest): Promise<IssuanceResult> {
    return this.issue(req);
  }

  /** revokeCert with the account key that ordered it; a certificate the CA already revoked is fine. */
  async revoke(req: RevocationRequest): Promise<void> {
    const pem = await this.deps.certificates.certificatePem(this.ctx.issuerId, req.serialHex);
    if (!pem) throw notFound('certificate of issuer ' + this.ctx.issuerId + ' with serial', req.serialHex);
    const reason = REASON_CODES[req.reason];
    if (reason === undefined) throw invalid(`reason: ${JSON.stringify(req.reason)} is not an RFC 5280 reason`);
    const client = await this.account();
    try {
      await client.revoke(pemToDers(pem, ['CERTIFICATE'], 'certificate')[0], reason);
    } catch (e) {
      if (e instanceof AcmeProblemError && e.problem.type === 'urn:ietf:params:acme:error:alreadyRevoked') return;
      throw e;
    }
  }

  /** An ACME CA has no single CA certificate: the chain comes with each certificate. */
  async getCaCertPem(): Promise<string> {
    throw invalid('ACME issuers have no static CA certificate: the chain is delivered with each certificate');
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `ACME issuance completes within the job; there is no order ${orderId} to poll` };
  }

  /**
   * RFC 9773 renewal information for an issued certificate: the CA's suggested window, or
   * undefined when the directory has no renewalInfo (then the threshold rules apply).
   */
  async renewalInfo(certPem: string): Promise<CaRenewalInfo | undefined> {
    if (this.cfg.ari_enabled === false) return undefined;
    const client = this.newClient(await this.trust());
    return client.renewalInfo(ariCertId(certPem));
  }

  private async trust(): Promise<string | undefined> {
    if (!this.cfg.trust_ca_path) return undefined;
    try {
      return await readFile(this.cfg.trust_ca_path, 'utf8');
    } catch (e) {
      throw invalid(`config.trust_ca_path: cannot read ${this.cfg.trust_ca_path}: ${(e as Error).message}`);
    }
  }

  private newClient(ca: string | undefined): AcmeClient {
    return new AcmeClient(this.cfg.directory_url, new AcmeTransport(ca), this.sleep);
  }

  /** A client signing as this issuer's account, registered (ToS agreed, EAB bound) on first use. */
  private async account(): Promise<AcmeClient> {
    const client = this.newClient(await this.trust());
    const dir = await client.directory();
    const stored = await this.deps.accounts.load(this.ctx.issuerId, this.cfg.directory_url, newAccountKeyPem);
    await client.useAccountKey(stored);
    if (stored.accountUrl) return client;
    const eab =
      this.cfg.eab_kid && this.cfg.eab_hmac_key
        ? { kid: this.cfg.eab_kid, hmacKeyB64url: this.cfg.eab_hmac_key }
        : await this.zeroSslEab();
    if (dir.meta?.externalAccountRequired && !eab) {
      throw invalid(
        `ACME directory ${this.cfg.directory_url} requires External Account Binding: set eab_kid and eab_hmac_key from the CA`,
      );
    }
    const url = await client.register({ email: this.cfg.email, eab });
    await this.deps.accounts.saveAccountUrl(this.ctx.issuerId, this.cfg.directory_url, url);
    return client;
  }

  /**
   * ZeroSSL hands out EAB credentials for an email address (its documented
   * `POST https://api.zerossl.com/acme/eab-credentials-email`, form field `email`), so an
   * issuer pointed at ZeroSSL needs no manual EAB. They are only needed once: the account
   * URL is stored after registration, and the credentials are not kept.
   */
  private async zeroSslEab(): Promise<{ kid: string; hmacKeyB64url: string } | undefined> {
    const url = zeroSslEabUrl(this.cfg);
    if (!url) return undefined;
    const r = await new AcmeTransport(await this.trust()).request('POST', url, {
      body: new URLSearchParams({ email: this.cfg.email }).toString(),
      contentType: 'application/x-www-form-urlencoded',
      accept: 'application/json',
    });
    let body: { success?: unknown; eab_kid?: unknown; eab_hmac_key?: unknown; error?: { type?: unknown } } = {};
    try {
      body = JSON.parse(r.body.toString('utf8')) as typeof body;
    } catch {
      // Reported below with the status.
    }
    if (r.status >= 500 || r.status === 429) throw unavailableError(`ZeroSSL EAB ${url}: HTTP ${r.status}`);
    if (r.status !== 200 || typeof body.eab_kid !== 'string' || typeof body.eab_hmac_key !== 'string') {
      const why = typeof body.error?.type === 'string' ? body.error.type : `HTTP ${r.status}`;
      throw invalid(
        `ZeroSSL did not issue EAB credentials for ${this.cfg.email} (${why}): set eab_kid and eab_hmac_key`,
      );
    }
    return { kid: body.eab_kid, hmacKeyB64url: body.eab_hmac_key };
  }

  /**
   * Proves every pending authorization of the order, all at once, and cleans up only when all
   * have settled: a wildcard and its base name share one `_acme-challenge` record, and an
   * operator's cleanup hook may remove every value of it while the other is still validating.
   */
  private async authorize(client: AcmeClient, order: AcmeOrder): Promise<void> {
    const cleanups: (() => Promise<void>)[] = [];
    try {
      const results = await Promise.allSettled(order.authorizations.map((u) => this.proveOne(client, u, cleanups)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      await Promise.all(cleanups.map((cleanup) => cleanup().catch(() => undefined)));
    }
  }

  private async proveOne(client: AcmeClient, authzUrl: string, cleanups: (() => Promise<void>)[]): Promise<void> {
    const authz = await client.authorization(authzUrl);
    if (authz.status === 'valid') return;
    const name = authz.identifier.value;
    if (authz.status !== 'pending') throw invalid(`ACME authorization for ${name} is ${authz.status}`);
    const { solver, challenge } = this.pickChallenge(authz);
    const presented = await solver.present(authz, challenge, client);
    cleanups.push(() => presented.cleanup());
    await client.respond(challenge.url);
    const settled = await client.poll<AcmeAuthorization>(
      authzUrl,
      'authorization',
      (a) => a.status !== 'pending',
      SETTLE_TIMEOUT_MS,
    );
    if (settled.status !== 'valid') {
      const err = settled.challenges.find((c) => c.url === challenge.url)?.error;
      throw invalid(
        `ACME ${challenge.type} validation of ${name} failed${err ? `: ${describeProblem(err)}` : ` (${settled.status})`}`,
      );
    }
  }

  private pickChallenge(authz: AcmeAuthorization) {
    const offered = (type: string) => authz.challenges.find((c) => c.type === type);
    const wanted = this.cfg.challenge_type ?? 'http-01';
    const order: ChallengeSolver[] = [];
    if (wanted === 'http-01') {
      order.push(
        this.cfg.http01_webroot
          ? new WebrootHttp01Solver(this.cfg.http01_webroot)
          : new ResponderHttp01Solver(this.deps.http01),
      );
    }
    if (wanted === 'dns-persist-01') order.push(new PersistentDnsSolver());
    if (wanted !== 'http-01' && this.cfg.dns_present_script && this.cfg.dns_cleanup_script) {
      order.push(
        new HookDns01Solver(
          this.cfg.dns_present_script,
          this.cfg.dns_cleanup_script,
          this.cfg.dns_propagation_seconds ?? 0,
          this.sleep,
        ),
      );
    }
    for (const solver of order) {
      const challenge = offered(solver.type);
      if (challenge) return { solver, challenge };
    }
    throw invalid(
      `ACME: the CA offers ${authz.challenges.map((c) => c.type).join(', ') || 'no challenge'} for ${
        authz.identifier.value
      }, none of which this issuer is set up for (challenge_type ${wanted})`,
    );
  }

  /** The default chain, or the alternate whose top certificate is issued by (or is) `preferred_chain`. */
  private async chain(client: AcmeClient, certUrl: string): Promise<string> {
    const main = await client.certificateChain(certUrl);
    const preferred = this.cfg.preferred_chain;
    if (!preferred || chainMatches(main.pem, preferred)) return main.pem;
    for (const alt of main.alternates) {
      const pem = (await client.certificateChain(alt)).pem;
      if (chainMatches(pem, preferred)) return pem;
    }
    return main.pem;
  }

  /** The CSR (the agent's, a device's, or the one the server signed with its own key): it must name exactly the order's names. */
  private csrDer(req: IssuanceRequest, identifiers: AcmeIdentifier[]): Uint8Array {
    if (!req.csr) throw invalid('ACME issuance needs a CSR (an ACME CA signs nothing else)');
    assertCsrNames(req.csr, identifiers);
    return req.csr.der;
  }
}

/** The order's identifiers: the common name and the DNS/IP SANs (RFC 8738 for IPs), deduplicated. */
export function orderIdentifiers(req: Pick<IssuanceRequest, 'commonName' | 'sans'>): AcmeIdentifier[] {
  if ((req.sans.email?.length ?? 0) > 0 || (req.sans.uri?.length ?? 0) > 0) {
    throw invalid('ACME certificates name DNS names and IP addresses only (no email or URI SANs)');
  }
  const out = new Map<string, AcmeIdentifier>();
  const add = (type: 'dns' | 'ip', value: string) => out.set(`${type}:${value}`, { type, value });
  // A host-name-like CN is a name of the certificate (CA/B BR 7.1.4.3); "dev1" is not.
  const cn = commonNameAsSan(req.commonName.trim());
  if (cn?.dns) add('dns', cn.dns);
  if (cn?.ip) add('ip', cn.ip);
  for (const d of req.sans.dns ?? []) add('dns', d.toLowerCase());
  for (const ip of req.sans.ip ?? []) add('ip', ip);
  if (out.size === 0) throw invalid('ACME: the certificate names nothing to order');
  return [...out.values()];
}

/**
 * The CSR must name what the order names. Its names are its SANs plus a host-name CN (as
 * Boulder/Let's Encrypt reads a CSR); stricter CAs (Pebble) also want the CN among the SANs,
 * which the server's own CSRs do.
 */
function assertCsrNames(csr: ParsedCsr, identifiers: AcmeIdentifier[]): void {
  const want = new Set(identifiers.map((i) => i.value));
  const names = effectiveSans(csr.commonName, csr.sans);
  const have = new Set([...names.dns, ...names.ip]);
  const missing = [...want].filter((n) => !have.has(n));
  const extra = [...have].filter((n) => !want.has(n));
  if (missing.length || extra.length) {
    throw invalid(
      `csr: an ACME CA signs a CSR only when it names exactly the certificate's names${
        missing.length ? `; missing ${missing.join(', ')}` : ''
      }${extra.length ? `; not in the certificate ${extra.join(', ')}` : ''}`,
    );
  }
}

function certificates(pem: string): x509.X509Certificate[] {
  ensureCryptoProvider();
  return pemToDers(pem, ['CERTIFICATE'], 'certificate chain').map((der) => new x509.X509Certificate(der));
}

function commonNameOf(dn: string): string | undefined {
  return new x509.Name(dn).getField('CN')[0];
}

/** Certbot's rule: the chain's topmost certificate is issued by (or is) the preferred CA's name. */
function chainMatches(pem: string, preferred: string): boolean {
  const top = certificates(pem).at(-1);
  return !!top && (commonNameOf(top.issuer) === preferred || commonNameOf(top.subject) === preferred);
}

function toResult(chainPem: string): IssuanceResult {
  const certs = certificates(chainPem);
  const leaf = certs[0];
  if (!leaf) throw invalid('ACME: the CA returned no certificate');
  // The port carries the CAs above the leaf without a self-signed root.
  const above = certs.slice(1).filter((c) => c.subject !== c.issuer);
  return {
    certPem: leaf.toString('pem') + '\n',
    chainPem: above.map((c) => c.toString('pem') + '\n').join(''),
    serialHex: leaf.serialNumber.toLowerCase(),
    fingerprintSha256: createHash('sha256').update(Buffer.from(leaf.rawData)).digest('hex'),
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}

/** Where ZeroSSL EAB credentials are fetched for this issuer, if anywhere (explicit URL, or ZeroSSL's directory). */
export function zeroSslEabUrl(cfg: Pick<AcmeIssuerConfig, 'directory_url' | 'zerossl_eab_url'>): string | undefined {
  if (cfg.zerossl_eab_url) return cfg.zerossl_eab_url;
  return new URL(cfg.directory_url).hostname.toLowerCase() === ZEROSSL_ACME_HOST ? ZEROSSL_EAB_URL : undefined;
}

/** The ARI id of the certificate a renewal replaces; one that has none (no AKI) is simply not named. */
function replacesId(certPem: string): string | undefined {
  try {
    return ariCertId(certPem);
  } catch {
    return undefined;
  }
}

/** RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(serial number octets). */
export function ariCertId(certPem: string): string {
  const leaf = certificates(certPem)[0];
  if (!leaf) throw invalid('certificate: no certificate in PEM');
  const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw invalid('certificate: no Authority Key Identifier, so no ARI certificate id');
  // The INTEGER's content octets: a serial with the high bit set carries a leading zero byte.
  let serial = leaf.serialNumber.length % 2 ? `0${leaf.serialNumber}` : leaf.serialNumber;
  if (/^[89a-f]/i.test(serial)) serial = `00${serial}`;
  return `${base64url.encode(Buffer.from(aki.keyId, 'hex'))}.${base64url.encode(Buffer.from(serial, 'hex'))}`;
}
