import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ensureCryptoProvider, generateKeyPair } from '@certctl/pki';
import {
  acmeJson,
  acmeKey,
  eabBinding,
  AcmeTestClient,
  problemType,
  signJws,
  type AcmeHttpResponse,
  type AcmeSend,
} from '../../../../e2e/support/acme-jws';
import { csrDer, sender } from '../../../../e2e/support/acme-supertest';
import { createLocalCaIssuer, createProfile, SEALING_ENV } from '../../../../test/integration/issued-certificates';
import { prng, randomBytesFrom } from '../../../../test/fuzz/mutate';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

const BASE = 'https://acme.test';
const TOS = 'https://acme.test/tos';

function expectProblem(res: AcmeHttpResponse, status: number, type: string): void {
  expect({ status: res.status, type: problemType(res) }).toEqual({ status, type });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['replay-nonce']).toMatch(/^[A-Za-z0-9_-]{22}$/);
}

/**
 * ACME (RFC 8555) in trust_authenticated mode on the real app (Postgres, Redis), with JWS
 * built by jose: directory and nonces, the JWS rules (nonce, url, kid/jwk, content type),
 * accounts (contact, ToS, onlyReturnExisting, update, key change, deactivation), orders
 * through finalize to the certificate, badCSR, the approval gate, and both revocation paths.
 */
describe('ACME server (trust_authenticated)', () => {
  let t: TestApp;
  let send: AcmeSend;
  const tag = Date.now().toString(36);
  const issuerId = `iss-acme-${tag}`;
  const profile = `prof-acme-${tag}`;
  const gated = `prof-acme-gated-${tag}`;

  beforeAll(async () => {
    ensureCryptoProvider();
    t = await createTestApp({
      ...SEALING_ENV,
      CERTCTL_PUBLIC_URL: BASE,
      CERTCTL_ACME_SERVER_ENABLED: 'true',
      CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
      CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: profile,
      CERTCTL_ACME_SERVER_TOS_URL: TOS,
      CERTCTL_ACME_SERVER_WEBSITE: 'https://acme.test/',
      CERTCTL_ACME_SERVER_CAA_IDENTITIES: 'acme.test',
    });
    send = sender(t);
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, profile, 'acme.example', 86_400, {
      san_rules: { permitted_dns_patterns: ['*.acme.example', 'acme.example'], allow_ip: true },
    });
    await createProfile(t, admin, gated, 'acme.example', 86_400, { requires_approval: true });
  });

  afterAll(async () => {
    await t?.close();
  });

  async function client(alg: Parameters<typeof acmeKey>[0] = 'ES256', prefix = '/acme'): Promise<AcmeTestClient> {
    const c = new AcmeTestClient(send, BASE, await acmeKey(alg), prefix);
    expect((await c.loadDirectory()).status).toBe(200);
    return c;
  }

  async function account(alg: Parameters<typeof acmeKey>[0] = 'ES256', prefix = '/acme'): Promise<AcmeTestClient> {
    const c = await client(alg, prefix);
    const res = await c.register({ termsOfServiceAgreed: true, contact: ['mailto:ops@acme.example'] });
    expect(res.status).toBe(201);
    return c;
  }

  /** newOrder, then finalize with a fresh P-256 key; returns the final order and its URL. */
  async function issue(c: AcmeTestClient, identifiers: { type: string; value: string }[]) {
    const created = await c.post(c.directory.newOrder, { identifiers });
    expect(created.status).toBe(201);
    const order = acmeJson(created);
    const keys = await generateKeyPair('ECDSA-P256');
    const dns = identifiers.filter((i) => i.type === 'dns').map((i) => i.value);
    const ip = identifiers.filter((i) => i.type === 'ip').map((i) => i.value);
    const fin = await c.post(order.finalize as string, { csr: await csrDer(keys, { dns, ip }, dns[0]) });
    return { fin, orderUrl: created.headers.location as string, order, keys };
  }

  it('serves the directory with meta, and nonces by HEAD (200) and GET (204), never cached', async () => {
    const dir = await send('GET', '/acme/directory');
    expect(dir.status).toBe(200);
    expect(dir.headers['replay-nonce']).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(dir.headers.link).toBe(`<${BASE}/acme/directory>;rel="index"`);
    expect(acmeJson(dir)).toEqual({
      newNonce: `${BASE}/acme/new-nonce`,
      newAccount: `${BASE}/acme/new-account`,
      newOrder: `${BASE}/acme/new-order`,
      revokeCert: `${BASE}/acme/revoke-cert`,
      keyChange: `${BASE}/acme/key-change`,
      renewalInfo: `${BASE}/acme/renewal-info`,
      meta: {
        termsOfService: TOS,
        website: 'https://acme.test/',
        caaIdentities: ['acme.test'],
        externalAccountRequired: false,
      },
    });
    const head = await send('HEAD', '/acme/new-nonce');
    expect([head.status, head.headers['cache-control']]).toEqual([200, 'no-store']);
    const get = await send('GET', '/acme/new-nonce');
    expect([get.status, get.headers['cache-control']]).toEqual([204, 'no-store']);
    expect(get.headers['replay-nonce']).not.toBe(head.headers['replay-nonce']);

    const byProfile = acmeJson(await send('GET', `/acme/profile/${gated}/directory`));
    expect(byProfile.newOrder).toBe(`${BASE}/acme/profile/${gated}/new-order`);
    expectProblem(await send('GET', '/acme/profile/no-such-profile/directory'), 404, 'malformed');
  });

  it('creates an account per key (RS256, ES256, ES384, EdDSA) and finds it again', async () => {
    for (const alg of ['RS256', 'ES256', 'ES384', 'EdDSA'] as const) {
      const c = await account(alg);
      expect(c.kid).toMatch(new RegExp(`^${BASE}/acme/account/acct-`));
      const again = await c.register({ termsOfServiceAgreed: true });
      expect([alg, again.status, again.headers.location]).toEqual([alg, 200, c.kid]);
      const existing = await c.post(c.directory.newAccount, { onlyReturnExisting: true }, { jwk: true });
      expect(existing.status).toBe(200);
      expect(acmeJson(existing)).toMatchObject({ status: 'valid', contact: ['mailto:ops@acme.example'] });
    }
  });

  it('refuses accounts without the ToS, with bad contacts, or onlyReturnExisting for a new key', async () => {
    const c = await client();
    expectProblem(await c.register({ contact: ['mailto:a@acme.example'] }), 400, 'malformed');
    expectProblem(
      await c.register({ termsOfServiceAgreed: true, contact: ['mailto:not-an-address'] }),
      400,
      'invalidContact',
    );
    expectProblem(
      await c.register({ termsOfServiceAgreed: true, contact: ['tel:+15555550100'] }),
      400,
      'unsupportedContact',
    );
    expectProblem(await c.register({ onlyReturnExisting: true }), 400, 'accountDoesNotExist');
  });

  it('enforces the JWS rules: nonce once, url, kid/jwk per endpoint, algorithm, content type', async () => {
    const c = await account();
    const nonce = await c.nonce();
    expect((await c.post(c.kid as string, '', { nonce })).status).toBe(200);
    expectProblem(await c.post(c.kid as string, '', { nonce }), 400, 'badNonce');
    expectProblem(await c.post(c.kid as string, '', { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }), 400, 'badNonce');
    expectProblem(await c.post(c.kid as string, '', { nonce: null }), 400, 'badNonce');
    expectProblem(await c.post(c.kid as string, '', { url: `${BASE}/acme/new-order` }), 403, 'unauthorized');
    expectProblem(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'a.acme.example' }] }, { jwk: true }),
      400,
      'malformed',
    );
    expectProblem(await c.post(c.directory.newAccount, { termsOfServiceAgreed: true }), 400, 'malformed');
    expectProblem(
      await c.post(c.kid as string, '', { kid: `${BASE}/acme/account/acct-nosuchaccount` }),
      400,
      'accountDoesNotExist',
    );
    // Signed by another key than the account's.
    const other = await acmeKey('ES256');
    expectProblem(await c.post(c.kid as string, '', { key: other }), 400, 'malformed');

    // A MAC algorithm is never accepted for a request JWS, whatever the signature.
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const hs = {
      protected: b64({ alg: 'HS256', url: c.kid, kid: c.kid, nonce: await c.nonce() }),
      payload: '',
      signature: 'AAAA',
    };
    expectProblem(
      await send('POST', c.path(c.kid as string), JSON.stringify(hs), 'application/jose+json'),
      400,
      'badSignatureAlgorithm',
    );
    expectProblem(
      await send('POST', c.path(c.kid as string), JSON.stringify(hs), 'application/json'),
      415,
      'malformed',
    );
    expectProblem(
      await send('POST', c.path(c.kid as string), '{"protected":1}', 'application/jose+json'),
      400,
      'malformed',
    );
    expectProblem(await send('POST', c.path(c.kid as string), 'not json', 'application/jose+json'), 400, 'malformed');
  });

  it('updates contacts, changes the key (409 when the new key is in use), then deactivates', async () => {
    const c = await account('ES256');
    const updated = await c.post(c.kid as string, { contact: ['mailto:new@acme.example'] });
    expect(acmeJson(updated).contact).toEqual(['mailto:new@acme.example']);

    const taken = await account('ES384');
    const changeTo = async (newKey: typeof c.key) => {
      const inner = await signJws(
        newKey,
        { url: c.directory.keyChange, jwk: newKey.jwk },
        { account: c.kid, oldKey: c.key.jwk },
      );
      return c.post(c.directory.keyChange, inner);
    };
    const conflict = await changeTo(taken.key);
    expect([conflict.status, conflict.headers.location]).toEqual([409, taken.kid]);

    const oldKey = c.key;
    const newKey = await acmeKey('EdDSA');
    const changed = await changeTo(newKey);
    expect(changed.status).toBe(200);
    c.key = newKey;
    expect((await c.post(c.kid as string, '')).status).toBe(200);
    expectProblem(await c.post(c.kid as string, '', { key: oldKey }), 400, 'malformed');
    // The old key no longer finds an account; the new one finds this one.
    const probe = new AcmeTestClient(send, BASE, oldKey);
    await probe.loadDirectory();
    expectProblem(await probe.register({ onlyReturnExisting: true }), 400, 'accountDoesNotExist');

    // An inner JWS naming another account, or signed by a key other than its jwk, is refused.
    const wrongAccount = await signJws(
      await acmeKey(),
      { url: c.directory.keyChange, jwk: (await acmeKey()).jwk },
      {
        account: taken.kid,
        oldKey: c.key.jwk,
      },
    );
    expectProblem(await c.post(c.directory.keyChange, wrongAccount), 400, 'malformed');

    const deactivated = await c.post(c.kid as string, { status: 'deactivated' });
    expect(acmeJson(deactivated).status).toBe('deactivated');
    expectProblem(await c.post(c.kid as string, ''), 403, 'unauthorized');
    expectProblem(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'x.acme.example' }] }),
      403,
      'unauthorized',
    );
  });

  it('issues through newOrder -> authz (valid) -> finalize -> certificate for dns, wildcard and ip names', async () => {
    const c = await account();
    const identifiers = [
      { type: 'dns', value: 'www.acme.example' },
      { type: 'dns', value: '*.acme.example' },
      { type: 'ip', value: '192.0.2.7' },
    ];
    const created = await c.post(c.directory.newOrder, { identifiers });
    expect(created.status).toBe(201);
    const order = acmeJson(created);
    expect(order).toMatchObject({ status: 'ready', identifiers });
    const authzUrls = order.authorizations as string[];
    expect(authzUrls).toHaveLength(3);
    const authzs = await Promise.all(authzUrls.map(async (u) => acmeJson(await c.post(u, ''))));
    for (const z of authzs) expect(z.status).toBe('valid');
    const wildcard = authzs.find((z) => z.wildcard === true);
    expect(wildcard).toMatchObject({ identifier: { type: 'dns', value: 'acme.example' } });
    expect((wildcard?.challenges as { type: string }[]).map((ch) => ch.type)).toEqual(['dns-01']);
    const www = authzs.find((z) => (z.identifier as { value: string }).value === 'www.acme.example');
    const challenges = www?.challenges as { type: string; url: string; status: string }[];
    expect(challenges.map((ch) => ch.type)).toEqual(['http-01', 'dns-01', 'tls-alpn-01']);
    const ch = await c.post(challenges[0].url, {});
    expect(acmeJson(ch)).toMatchObject({ type: 'http-01', status: 'valid' });

    // badCSR: a name the order does not have, then one missing.
    const keys = await generateKeyPair('ECDSA-P256');
    const extra = await c.post(order.finalize as string, {
      csr: await csrDer(keys, { dns: ['www.acme.example', '*.acme.example', 'evil.acme.example'], ip: ['192.0.2.7'] }),
    });
    expectProblem(extra, 400, 'badCSR');
    expect(acmeJson(extra).detail).toContain('dns:evil.acme.example');
    expectProblem(
      await c.post(order.finalize as string, { csr: await csrDer(keys, { dns: ['www.acme.example'] }) }),
      400,
      'badCSR',
    );
    expectProblem(await c.post(order.finalize as string, { csr: 'AAAA' }), 400, 'badCSR');

    const fin = await c.post(order.finalize as string, {
      csr: await csrDer(keys, { dns: ['www.acme.example', '*.acme.example'], ip: ['192.0.2.7'] }, 'www.acme.example'),
    });
    expect(fin.status).toBe(200);
    const done = acmeJson(fin);
    expect(done.status).toBe('valid');
    expectProblem(await c.post(order.finalize as string, { csr: 'AAAA' }), 403, 'orderNotReady');

    const cert = await c.post(done.certificate as string, '');
    expect(cert.status).toBe(200);
    expect(cert.headers['content-type']).toMatch(/^application\/pem-certificate-chain/);
    const [leafPem = ''] = cert.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const leaf = new X509Certificate(leafPem);
    expect(leaf.subjectAltName?.split(', ').sort()).toEqual([
      'DNS:*.acme.example',
      'DNS:www.acme.example',
      'IP Address:192.0.2.7',
    ]);
    const cas = await t.ds.query<{ cert_pem: string }[]>(`SELECT cert_pem FROM issuer_cas WHERE issuer_id = $1`, [
      issuerId,
    ]);
    expect(cas.some((ca) => leaf.verify(new X509Certificate(ca.cert_pem).publicKey))).toBe(true);
    // POST-as-GET only, and only for the account that ordered it.
    expectProblem(await c.post(done.certificate as string, {}), 400, 'malformed');
    const stranger = await account();
    expectProblem(await stranger.post(done.certificate as string, ''), 403, 'unauthorized');
    const rows = await t.ds.query(
      `SELECT enrolled_via FROM managed_certificates WHERE id = (SELECT certificate_id FROM acme_orders WHERE id = $1)`,
      [(created.headers.location as string).split('/').pop()],
    );
    expect(rows).toEqual([{ enrolled_via: 'ACME' }]);
  });

  /** PEM blocks of a chain download, and the URL its Link rel="alternate" names. */
  function chainOf(res: AcmeHttpResponse): { certs: X509Certificate[]; alternate?: string } {
    const link = ([] as string[]).concat(res.headers.link ?? []).join(',');
    return {
      certs: (res.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
        (p) => new X509Certificate(p),
      ),
      alternate: /<([^>]+)>;rel="alternate"/.exec(link)?.[1],
    };
  }

  it('offers the chain with and without the root: leaf + root by default for a root-signed leaf', async () => {
    const c = await account();
    const { fin } = await issue(c, [{ type: 'dns', value: 'chain.acme.example' }]);
    const certUrl = acmeJson(fin).certificate as string;
    const preferred = chainOf(await c.post(certUrl, ''));
    expect(preferred.certs).toHaveLength(2);
    const [leaf, root] = preferred.certs;
    expect(root.checkIssued(root) && leaf.checkIssued(root) && leaf.verify(root.publicKey)).toBe(true);
    expect(preferred.alternate).toBe(`${certUrl}/1`);
    const alt = await c.post(`${certUrl}/1`, '');
    expect(alt.status).toBe(200);
    expect(alt.headers['content-type']).toMatch(/^application\/pem-certificate-chain/);
    const alternate = chainOf(alt);
    expect(alternate.certs.map((x) => x.fingerprint256)).toEqual([leaf.fingerprint256]);
    expect(alternate.alternate).toBe(certUrl);
    expectProblem(await c.post(`${certUrl}/2`, ''), 404, 'malformed');
    const stranger = await account();
    expectProblem(await stranger.post(`${certUrl}/1`, ''), 403, 'unauthorized');
  });

  it('refuses bad identifiers and names outside the profile', async () => {
    const c = await account();
    expectProblem(await c.post(c.directory.newOrder, { identifiers: [] }), 400, 'malformed');
    expectProblem(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'email', value: 'a@b.c' }] }),
      400,
      'unsupportedIdentifier',
    );
    expectProblem(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'bad_name..x' }] }),
      400,
      'rejectedIdentifier',
    );
    expectProblem(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'ip', value: '300.1.1.1' }] }),
      400,
      'malformed',
    );
    const outside = await c.post(c.directory.newOrder, {
      identifiers: [{ type: 'dns', value: 'www.elsewhere.example' }],
    });
    expectProblem(outside, 400, 'rejectedIdentifier');
    expect(acmeJson(outside).detail).toContain('www.elsewhere.example');
    // A key the profile does not allow (ECDSA only): badCSR naming the rule; the order stays ready.
    const order = acmeJson(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'rsa.acme.example' }] }),
    );
    const rsa = await generateKeyPair('RSA-2048');
    const refused = await c.post(order.finalize as string, { csr: await csrDer(rsa, { dns: ['rsa.acme.example'] }) });
    expectProblem(refused, 400, 'badCSR');
    expect(acmeJson(refused).detail).toContain('profile.allowed_key_algorithms');
    const ec = await generateKeyPair('ECDSA-P256');
    const accepted = await c.post(order.finalize as string, { csr: await csrDer(ec, { dns: ['rsa.acme.example'] }) });
    expect(acmeJson(accepted).status).toBe('valid');
    // The gated profile allows no IP SANs.
    const g = await account('ES256', `/acme/profile/${gated}`);
    expectProblem(
      await g.post(g.directory.newOrder, { identifiers: [{ type: 'ip', value: '192.0.2.1' }] }),
      400,
      'rejectedIdentifier',
    );
  });

  it('answers processing with Retry-After while the profile approval gate holds the order', async () => {
    const c = await account('ES256', `/acme/profile/${gated}`);
    const { fin, orderUrl } = await issue(c, [{ type: 'dns', value: 'gated.acme.example' }]);
    expect(fin.status).toBe(200);
    expect(acmeJson(fin).status).toBe('processing');
    expect(Number(fin.headers['retry-after'])).toBeGreaterThan(0);
    const again = await c.post(orderUrl, '');
    expect([acmeJson(again).status, again.headers['retry-after'] !== undefined]).toEqual(['processing', true]);
    const jobs = await t.ds.query(
      `SELECT j.status FROM jobs j JOIN enrollment_requests r ON r.job_id = j.id JOIN acme_orders o ON o.request_id = r.id WHERE o.id = $1`,
      [orderUrl.split('/').pop()],
    );
    expect(jobs).toEqual([{ status: 'AwaitingApproval' }]);
  });

  it('serves renewal information (RFC 9773) and takes `replaces` once, from the owning account', async () => {
    const owner = await account();
    const { fin } = await issue(owner, [{ type: 'dns', value: 'ari.acme.example' }]);
    const pem = (await owner.post(acmeJson(fin).certificate as string, '')).text.split('-----END CERTIFICATE-----')[0];
    const leaf = new x509.X509Certificate(`${pem}-----END CERTIFICATE-----`);
    const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId as string;
    const certId = `${Buffer.from(aki, 'hex').toString('base64url')}.${Buffer.from(leaf.serialNumber, 'hex').toString('base64url')}`;

    const info = await send('GET', `/acme/renewal-info/${certId}`);
    expect(info.status).toBe(200);
    expect(info.headers['retry-after']).toBe('21600');
    const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    expect(acmeJson(info)).toEqual({
      suggestedWindow: {
        start: new Date(leaf.notBefore.getTime() + (life * 2) / 3).toISOString(),
        end: new Date(leaf.notBefore.getTime() + (life * 5) / 6).toISOString(),
      },
    });
    // Unknown and malformed ids.
    expectProblem(await send('GET', `/acme/renewal-info/${certId.split('.')[0]}.AQID`), 404, 'malformed');
    expectProblem(await send('GET', `/acme/renewal-info/not-an-id`), 400, 'malformed');

    // replaces: a stranger may not, the owner may once.
    const stranger = await account();
    const ids = [{ type: 'dns', value: 'ari.acme.example' }];
    expectProblem(
      await stranger.post(stranger.directory.newOrder, { identifiers: ids, replaces: certId }),
      403,
      'unauthorized',
    );
    expectProblem(await owner.post(owner.directory.newOrder, { identifiers: ids, replaces: 7 }), 400, 'malformed');
    expect((await owner.post(owner.directory.newOrder, { identifiers: ids, replaces: certId })).status).toBe(201);
    expectProblem(
      await owner.post(owner.directory.newOrder, { identifiers: ids, replaces: certId }),
      409,
      'alreadyReplaced',
    );

    // Revoked: the window has opened already.
    const cert = leaf.rawData;
    expect(
      (await owner.post(owner.directory.revokeCert, { certificate: Buffer.from(cert).toString('base64url') })).status,
    ).toBe(200);
    const after = acmeJson(await send('GET', `/acme/renewal-info/${certId}`)) as { suggestedWindow: { start: string } };
    expect(Date.parse(after.suggestedWindow.start)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(after.suggestedWindow.start)).toBeLessThan(leaf.notBefore.getTime() + (life * 2) / 3);
  });

  it('answers junk in every payload field and mangled JWS bytes with a 4xx problem and a nonce', async () => {
    const c = await account();
    const { order } = await issue(c, [{ type: 'dns', value: 'fuzz.acme.example' }]).then(async (r) => ({
      order: acmeJson(await c.post(r.orderUrl, '')),
    }));
    const fresh = await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'fuzz2.acme.example' }] });
    const finalizeUrl = acmeJson(fresh).finalize as string;
    const junk: unknown[] = [
      null,
      0,
      -1,
      1.5,
      true,
      '',
      'x',
      '\u0000',
      'mailto:a\u0000@b.example',
      ['mailto:a\u0000@b.example'],
      'AAAA',
      [],
      {},
      [{}],
      [null],
      ['\u0000'],
      { type: 'dns' },
      [{ type: 'dns', value: '\u0000.example' }],
      [{ type: 'ip', value: '::ffff:1.2.3.4' }],
      'a'.repeat(3000),
      { kty: 'EC', crv: 'P-256' },
      { kty: 'RSA', n: 'AQAB', e: 'AQAB' },
    ];
    const fields: [string, string[]][] = [
      [c.directory.newAccount, ['contact', 'termsOfServiceAgreed', 'onlyReturnExisting', 'externalAccountBinding']],
      [c.kid as string, ['contact', 'status']],
      [c.directory.newOrder, ['identifiers', 'notBefore']],
      [finalizeUrl, ['csr']],
      [c.directory.revokeCert, ['certificate', 'reason']],
      [c.directory.keyChange, ['account', 'oldKey']],
      [order.authorizations instanceof Array ? String(order.authorizations[0]) : '', ['status']],
    ];
    let cases = 0;
    for (const [url, names] of fields) {
      for (const name of names) {
        for (const value of junk) {
          const res = await c.post(url, { [name]: value }, { jwk: url === c.directory.newAccount });
          cases++;
          expect({ url, name, value, status: res.status < 500, nonce: !!res.headers['replay-nonce'] }).toEqual({
            url,
            name,
            value,
            status: true,
            nonce: true,
          });
          if (res.status >= 400) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        }
      }
    }
    // Byte-level damage to a valid request (replayable from the seed).
    const rand = prng(0xac3e);
    const valid = JSON.stringify(await signJws(c.key, { url: c.kid, kid: c.kid, nonce: await c.nonce() }, ''));
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(valid);
      const kind = Math.floor(rand() * 3);
      let body: Buffer;
      if (kind === 0) body = b.subarray(0, Math.floor(rand() * b.length));
      else if (kind === 1) {
        const at = Math.floor(rand() * b.length);
        body = Buffer.concat([
          b.subarray(0, at),
          randomBytesFrom(rand, 1 + Math.floor(rand() * 8)),
          b.subarray(at + 1),
        ]);
      } else body = randomBytesFrom(rand, Math.floor(rand() * 200));
      const res = await send('POST', c.path(c.kid as string), body.toString('latin1'), 'application/jose+json');
      cases++;
      // A change the decoders ignore (a non-canonical last base64url character) may leave the
      // request valid: only a 5xx or a missing nonce is a failure here.
      expect({ i, status: res.status < 500, nonce: !!res.headers['replay-nonce'] }).toEqual({
        i,
        status: true,
        nonce: true,
      });
      if (res.status >= 400) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(cases).toBeGreaterThan(400);
  });

  it('revokes by the owning account and by the certificate key; refuses strangers and repeats', async () => {
    const revoked = async (certDerB64: string) =>
      (
        await t.ds.query(
          `SELECT mc.status FROM managed_certificates mc JOIN certificate_versions v ON v.certificate_id = mc.id
            WHERE v.fingerprint_sha256 = encode(sha256(decode($1, 'base64')), 'hex')`,
          [Buffer.from(certDerB64, 'base64url').toString('base64')],
        )
      )[0] as { status: string };
    const leafOf = async (c: AcmeTestClient, orderUrl: string) => {
      const o = acmeJson(await c.post(orderUrl, ''));
      const pem = (await c.post(o.certificate as string, '')).text.split('-----END CERTIFICATE-----')[0];
      return new X509Certificate(`${pem}-----END CERTIFICATE-----`).raw.toString('base64url');
    };

    const owner = await account();
    const a = await issue(owner, [{ type: 'dns', value: 'r1.acme.example' }]);
    const certA = await leafOf(owner, a.orderUrl);
    const stranger = await account();
    expectProblem(await stranger.post(stranger.directory.revokeCert, { certificate: certA }), 403, 'unauthorized');
    expectProblem(
      await owner.post(owner.directory.revokeCert, { certificate: certA, reason: 7 }),
      400,
      'badRevocationReason',
    );
    expect((await owner.post(owner.directory.revokeCert, { certificate: certA, reason: 4 })).status).toBe(200);
    expect(await revoked(certA)).toEqual({ status: 'Revoked' });
    expectProblem(await owner.post(owner.directory.revokeCert, { certificate: certA }), 400, 'alreadyRevoked');
    const rec = await t.ds.query(`SELECT reason FROM certificate_revocations WHERE revoked_by = $1`, [
      `acme:${(owner.kid as string).split('/').pop()}`,
    ]);
    expect(rec).toEqual([{ reason: 'superseded' }]);

    // By the certificate's own key, as a jwk-signed request (no account involved).
    const b = await issue(owner, [{ type: 'dns', value: 'r2.acme.example' }]);
    const certB = await leafOf(owner, b.orderUrl);
    const { exportJWK } = await import('jose');
    const certKey = { alg: 'ES256' as const, privateKey: b.keys.privateKey, jwk: await exportJWK(b.keys.publicKey) };
    const wrongKey = await acmeKey('ES256');
    expectProblem(
      await owner.post(owner.directory.revokeCert, { certificate: certB }, { key: wrongKey, jwk: true }),
      403,
      'unauthorized',
    );
    expect(
      (await owner.post(owner.directory.revokeCert, { certificate: certB, reason: 1 }, { key: certKey, jwk: true }))
        .status,
    ).toBe(200);
    expect(await revoked(certB)).toEqual({ status: 'Revoked' });
  });

  // Last in this block: the issuer gets an intermediate, which signs every later leaf.
  it('under an intermediate: leaf + intermediate by default, leaf + intermediate + root as the alternate', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const made = await t.http
      .post(`/api/v1/issuers/${issuerId}/intermediates`)
      .set('Authorization', admin)
      .send({ name: 'ACME issuing CA', common_name: `ACME Issuing CA ${tag}` });
    expect(made.status).toBe(201);
    const c = await account();
    const { fin } = await issue(c, [{ type: 'dns', value: 'sub.acme.example' }]);
    const certUrl = acmeJson(fin).certificate as string;
    const preferred = chainOf(await c.post(certUrl, ''));
    const [leaf, sub] = preferred.certs;
    expect(preferred.certs).toHaveLength(2);
    expect(sub.subject).toContain(`ACME Issuing CA ${tag}`);
    expect(leaf.checkIssued(sub) && !sub.checkIssued(sub)).toBe(true);
    expect(preferred.alternate).toBe(`${certUrl}/1`);
    const alternate = chainOf(await c.post(`${certUrl}/1`, ''));
    expect(alternate.certs.slice(0, 2).map((x) => x.fingerprint256)).toEqual([leaf.fingerprint256, sub.fingerprint256]);
    const root = alternate.certs[2];
    expect(alternate.certs).toHaveLength(3);
    expect(root.checkIssued(root) && sub.checkIssued(root) && sub.verify(root.publicKey)).toBe(true);
  });

  it('counts ACME accounts, key changes, orders, revocations and issuances on /metrics', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const scrape = async () => {
      const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', admin);
      expect(res.status).toBe(200);
      return (series: string): number => {
        const line = res.text.split('\n').find((l) => l.startsWith(`${series} `));
        return line ? Number(line.slice(series.length + 1)) : 0;
      };
    };
    const series = [
      'certctl_acme_accounts_total{event="created"}',
      'certctl_acme_accounts_total{event="key_changed"}',
      'certctl_acme_accounts_total{event="deactivated"}',
      'certctl_acme_orders_total{event="created"}',
      'certctl_acme_orders_total{event="valid"}',
      'certctl_acme_revocations_total{by="account"}',
      `certctl_enrollments_total{protocol="ACME",label="${profile}",outcome="issued"}`,
      `certctl_enrollments_total{protocol="ACME",label="${profile}",outcome="rejected"}`,
    ];
    const before = await scrape();
    const c = await account();
    const { fin, order } = await issue(c, [{ type: 'dns', value: 'metrics.acme.example' }]);
    const pem = (await c.post(acmeJson(fin).certificate as string, '')).text.split('-----END CERTIFICATE-----')[0];
    const der = new X509Certificate(`${pem}-----END CERTIFICATE-----`).raw;
    expect((await c.post(c.directory.revokeCert, { certificate: der.toString('base64url') })).status).toBe(200);
    // A CSR naming something else is refused before issuance: counted as rejected.
    const other = acmeJson(
      await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'm2.acme.example' }] }),
    );
    const keys = await generateKeyPair('ECDSA-P256');
    expectProblem(
      await c.post(other.finalize as string, { csr: await csrDer(keys, { dns: ['m3.acme.example'] }) }),
      400,
      'badCSR',
    );
    const newKey = await acmeKey('ES256');
    const inner = await signJws(
      newKey,
      { url: c.directory.keyChange, jwk: newKey.jwk },
      { account: c.kid, oldKey: c.key.jwk },
    );
    expect((await c.post(c.directory.keyChange, inner)).status).toBe(200);
    c.key = newKey;
    expect((await c.post(c.kid as string, { status: 'deactivated' })).status).toBe(200);
    expect(order.status).toBe('ready');
    const after = await scrape();
    expect(Object.fromEntries(series.map((x) => [x, after(x) - before(x)]))).toEqual(
      Object.fromEntries(series.map((x, i) => [x, [1, 1, 1, 2, 1, 1, 1, 1][i]])),
    );
  });
});

/**
 * External Account Binding required: keys come from the admin API (once, sealed), an
 * account needs a binding MACed with an unused key over its own key; missing, wrong,
 * reused and mismatched bindings are refused.
 */
describe('ACME server with External Account Binding required', () => {
  let t: TestApp;
  let send: AcmeSend;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp({
      ...SEALING_ENV,
      CERTCTL_PUBLIC_URL: BASE,
      CERTCTL_ACME_SERVER_ENABLED: 'true',
      CERTCTL_ACME_SERVER_EAB_REQUIRED: 'true',
    });
    send = sender(t);
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
  });

  afterAll(async () => {
    await t?.close();
  });

  async function eabKey(): Promise<{ kid: string; hmac_key: string }> {
    const res = await t.http.post('/api/v1/acme/eab-keys').set('Authorization', admin).send({ description: 'test' });
    expect(res.status).toBe(201);
    return res.body as { kid: string; hmac_key: string };
  }

  it('issues EAB keys to holders of est.admin only, and stores them sealed', async () => {
    const viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    expect((await t.http.post('/api/v1/acme/eab-keys').set('Authorization', viewer).send({})).status).toBe(403);
    const k = await eabKey();
    expect(k.kid).toMatch(/^eab-/);
    expect(Buffer.from(k.hmac_key, 'base64url')).toHaveLength(32);
    const rows = await t.ds.query<{ sealed_key: Buffer }[]>(`SELECT sealed_key FROM acme_eab_keys WHERE kid = $1`, [
      k.kid,
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.sealed_key.includes(Buffer.from(k.hmac_key))).toBe(false);
  });

  it('requires a valid, unused binding over the account key', async () => {
    const c = new AcmeTestClient(send, BASE, await acmeKey('ES256'));
    await c.loadDirectory();
    expect((c.directory.meta as unknown as Record<string, unknown>).externalAccountRequired).toBe(true);
    expectProblem(await c.register({}), 400, 'externalAccountRequired');

    const k = await eabKey();
    const wrongMac = await eabBinding(
      k.kid,
      Buffer.alloc(32, 7).toString('base64url'),
      c.key.jwk,
      c.directory.newAccount,
    );
    expectProblem(await c.register({ externalAccountBinding: wrongMac }), 403, 'unauthorized');
    const otherKey = await eabBinding(k.kid, k.hmac_key, (await acmeKey()).jwk, c.directory.newAccount);
    expectProblem(await c.register({ externalAccountBinding: otherKey }), 403, 'unauthorized');
    const unknownKid = await eabBinding('eab-unknown', k.hmac_key, c.key.jwk, c.directory.newAccount);
    expectProblem(await c.register({ externalAccountBinding: unknownKid }), 403, 'unauthorized');

    const good = await c.register({
      externalAccountBinding: await eabBinding(k.kid, k.hmac_key, c.key.jwk, c.directory.newAccount),
    });
    expect(good.status).toBe(201);
    const used = await t.ds.query<{ used_by: string }[]>(`SELECT used_by FROM acme_eab_keys WHERE kid = $1`, [k.kid]);
    expect(used).toEqual([{ used_by: (c.kid as string).split('/').pop() }]);

    // The key is spent: another account cannot bind with it.
    const d = new AcmeTestClient(send, BASE, await acmeKey('ES256'));
    await d.loadDirectory();
    const reuse = await eabBinding(k.kid, k.hmac_key, d.key.jwk, d.directory.newAccount);
    expectProblem(await d.register({ externalAccountBinding: reuse }), 403, 'unauthorized');
  });
});
