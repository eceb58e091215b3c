import { randomBytes } from 'node:crypto';
import { base64url, flattenedVerify, importJWK, type FlattenedJWSInput, type JWK } from 'jose';
import { derToPem, parseCsr } from '@certctl/pki';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../../remote-ca/testing/fake-ca-api';

/**
 * A small ACME CA on 127.0.0.1 for what Pebble 2.4 lacks: RFC 9773 renewalInfo and the
 * order's `replaces`, and ZeroSSL's EAB credential endpoint. It checks what it is sent as
 * RFC 8555 says (JWS signatures with a jwk or a registered kid, nonces used once, the
 * `url` header, the EAB MAC) and answers orders at once (status ready, no challenges).
 * Test helper, not for production code.
 */

export interface FakeAcmeOptions {
  /** Whether the directory offers renewalInfo. */
  ari?: boolean;
  /** EAB keys by kid (base64url HMAC keys); set: the directory requires EAB. */
  eabKeys?: Record<string, string>;
}

interface Account {
  jwk: JWK;
  url: string;
}

interface Order {
  url: string;
  status: 'ready' | 'valid';
  identifiers: { type: string; value: string }[];
  certPem?: string;
}

const problem = (status: number, type: string, detail: string): ApiAnswer => ({
  status,
  body: { type: `urn:ietf:params:acme:error:${type}`, detail },
});

export class FakeAcmeCa {
  /** newOrder payloads, in order. */
  readonly newOrders: Record<string, unknown>[] = [];
  /** Answers renewalInfo/<certId>; default: a window tomorrow. */
  renewalInfo: (certId: string) => ApiAnswer = () => ({
    status: 200,
    body: {
      suggestedWindow: {
        start: new Date(Date.now() + 86_400_000).toISOString(),
        end: new Date(Date.now() + 2 * 86_400_000).toISOString(),
      },
    },
  });
  /** Refuse an order's `replaces` with alreadyReplaced (RFC 9773 section 5). */
  refuseReplaces = false;
  /** ZeroSSL's eab-credentials-email: the EAB handed out per email (absent: an error). */
  zeroSslCredentials: Record<string, { kid: string; hmac: string }> = {};

  private readonly nonces = new Set<string>();
  private readonly accounts = new Map<string, Account>();
  private readonly orders = new Map<string, Order>();
  private seq = 0;

  private constructor(
    readonly api: FakeCaApi,
    readonly ca: TestCa,
    private readonly opts: FakeAcmeOptions,
  ) {}

  static async start(opts: FakeAcmeOptions = {}): Promise<FakeAcmeCa> {
    const [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('Fake ACME')]);
    const fake = new FakeAcmeCa(api, ca, opts);
    api.handler = (r) => fake.handle(r);
    return fake;
  }

  get directoryUrl(): string {
    return `${this.api.url}/dir`;
  }

  /** The ZeroSSL-style EAB endpoint of this server. */
  get eabUrl(): string {
    return `${this.api.url}/acme/eab-credentials-email`;
  }

  requests(prefix: string): ApiRequest[] {
    return this.api.to(prefix);
  }

  stop(): Promise<void> {
    return this.api.stop();
  }

  private nonce(): Record<string, string> {
    const n = randomBytes(12).toString('base64url');
    this.nonces.add(n);
    return { 'replay-nonce': n };
  }

  private async handle(r: ApiRequest): Promise<ApiAnswer> {
    const base = this.api.url;
    if (r.method === 'GET' && r.path === '/dir') {
      return {
        status: 200,
        body: {
          newNonce: `${base}/nonce`,
          newAccount: `${base}/acct`,
          newOrder: `${base}/order`,
          revokeCert: `${base}/revoke`,
          ...(this.opts.ari ? { renewalInfo: `${base}/renewal-info` } : {}),
          meta: { externalAccountRequired: this.opts.eabKeys !== undefined },
        },
      };
    }
    if (r.path === '/nonce') return { status: 200, headers: this.nonce() };
    if (r.method === 'GET' && r.path.startsWith('/renewal-info/')) {
      return this.renewalInfo(decodeURIComponent(r.path.slice('/renewal-info/'.length)));
    }
    if (r.method === 'POST' && r.path === '/acme/eab-credentials-email') {
      if (r.headers['content-type'] !== 'application/x-www-form-urlencoded')
        return { status: 400, body: { success: false, error: { code: 2800, type: 'invalid_content_type' } } };
      const email = new URLSearchParams(r.text).get('email') ?? '';
      const c = this.zeroSslCredentials[email];
      if (!c) return { status: 200, body: { success: false, error: { code: 2801, type: 'invalid_email' } } };
      return { status: 200, body: { success: true, eab_kid: c.kid, eab_hmac_key: c.hmac } };
    }
    if (r.method !== 'POST') return problem(404, 'malformed', `no route ${r.method} ${r.path}`);
    const answer = await this.signed(r).catch((e: Error) => problem(400, 'malformed', e.message));
    return { ...answer, headers: { ...answer.headers, ...this.nonce() } };
  }

  /** A JWS-signed POST: checks nonce, url and signature, then routes it. */
  private async signed(r: ApiRequest): Promise<ApiAnswer> {
    const jws = r.json as FlattenedJWSInput;
    const header = JSON.parse(Buffer.from(base64url.decode(jws.protected as string)).toString()) as {
      nonce?: string;
      url?: string;
      jwk?: JWK;
      kid?: string;
    };
    if (!header.nonce || !this.nonces.delete(header.nonce)) return problem(400, 'badNonce', 'unknown nonce');
    if (header.url !== `${this.api.url}${r.path}`) return problem(400, 'unauthorized', 'url header mismatch');
    const account = header.kid ? this.accounts.get(header.kid) : undefined;
    const jwk = header.jwk ?? account?.jwk;
    if (!jwk) return problem(400, 'accountDoesNotExist', 'no such account');
    const { payload } = await flattenedVerify(jws, await importJWK(jwk, 'ES256'));
    const body = payload.length ? (JSON.parse(Buffer.from(payload).toString()) as Record<string, unknown>) : undefined;
    if (r.path === '/acct') return this.newAccount(jwk, body ?? {});
    if (!account) return problem(400, 'malformed', 'requests other than newAccount use kid');
    if (r.path === '/order') return this.newOrder(body ?? {});
    const order = this.orders.get(r.path.replace(/\/finalize$/, ''));
    if (order && r.path.endsWith('/finalize')) return this.finalize(order, body ?? {});
    if (order) return { status: 200, body: this.orderBody(order) };
    const cert = [...this.orders.values()].find((o) => `${o.url}/cert` === `${this.api.url}${r.path}`);
    if (cert?.certPem) {
      return {
        status: 200,
        contentType: 'application/pem-certificate-chain',
        body: cert.certPem + this.ca.issuing.certPem,
      };
    }
    return problem(404, 'malformed', `no resource ${r.path}`);
  }

  private async newAccount(jwk: JWK, body: Record<string, unknown>): Promise<ApiAnswer> {
    if (body.termsOfServiceAgreed !== true) return problem(400, 'malformed', 'terms of service not agreed');
    if (this.opts.eabKeys) {
      const eab = body.externalAccountBinding as FlattenedJWSInput | undefined;
      if (!eab) return problem(400, 'externalAccountRequired', 'EAB required');
      const h = JSON.parse(Buffer.from(base64url.decode(eab.protected as string)).toString()) as {
        kid?: string;
        url?: string;
      };
      const key = h.kid ? this.opts.eabKeys[h.kid] : undefined;
      if (!key || h.url !== `${this.api.url}/acct`) return problem(400, 'unauthorized', 'unknown EAB kid');
      const { payload } = await flattenedVerify(eab, base64url.decode(key)).catch(() => ({ payload: undefined }));
      if (!payload || JSON.stringify(JSON.parse(Buffer.from(payload).toString())) !== JSON.stringify(jwk))
        return problem(400, 'unauthorized', 'EAB MAC or key mismatch');
    }
    const url = `${this.api.url}/acct/${++this.seq}`;
    this.accounts.set(url, { jwk, url });
    return { status: 201, headers: { location: url }, body: { status: 'valid' } };
  }

  private newOrder(body: Record<string, unknown>): ApiAnswer {
    this.newOrders.push(body);
    if (body.replaces !== undefined && this.refuseReplaces)
      return problem(409, 'alreadyReplaced', `certificate ${JSON.stringify(body.replaces)} was already replaced`);
    const path = `/order/${++this.seq}`;
    const order: Order = {
      url: `${this.api.url}${path}`,
      status: 'ready',
      identifiers: body.identifiers as Order['identifiers'],
    };
    this.orders.set(path, order);
    return { status: 201, headers: { location: order.url }, body: this.orderBody(order) };
  }

  private async finalize(order: Order, body: Record<string, unknown>): Promise<ApiAnswer> {
    const csr = await parseCsr(derToPem(base64url.decode(String(body.csr)), 'CERTIFICATE REQUEST'));
    const names = order.identifiers.map((i) => i.value);
    order.certPem = (
      await this.ca.sign(derToPem(csr.der, 'CERTIFICATE REQUEST'), {
        commonName: names[0],
        sans: { dns: names },
        ttlSeconds: 90 * 86_400,
      })
    ).certPem;
    order.status = 'valid';
    return { status: 200, body: this.orderBody(order) };
  }

  private orderBody(o: Order): Record<string, unknown> {
    return {
      status: o.status,
      identifiers: o.identifiers,
      authorizations: [],
      finalize: `${o.url}/finalize`,
      ...(o.certPem ? { certificate: `${o.url}/cert` } : {}),
    };
  }
}
