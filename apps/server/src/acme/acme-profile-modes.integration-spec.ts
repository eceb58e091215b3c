import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint } from 'jose';
import { ensureCryptoProvider } from '@certctl/pki';
import {
  acmeJson,
  acmeKey,
  eabBinding,
  AcmeTestClient,
  problemType,
  type AcmeSend,
} from '../../../../e2e/support/acme-jws';
import { sender } from '../../../../e2e/support/acme-supertest';
import { createLocalCaIssuer, createProfile, SEALING_ENV } from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

const BASE = 'https://acme.test';

/**
 * Per-profile ACME auth modes on one server (CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE is the
 * default; a profile's `acme_auth_mode` / `acme_eab_required` override it): an order at a
 * trust_authenticated profile is ready at once, one at a challenge profile waits for a
 * real http-01 validation; an EAB profile refuses accounts made without a binding.
 */
describe('ACME per-profile auth modes', () => {
  let t: TestApp;
  let send: AcmeSend;
  let admin: string;
  let web: Server;
  // Its own database: the EAB key it seals would stop apps without a sealing key from booting on the shared one.
  let db: PrivateDatabase;
  const served = new Map<string, string>();
  const tag = Date.now().toString(36);
  const issuerId = `iss-acmepm-${tag}`;
  const trusted = `prof-acmepm-trust-${tag}`;
  const challenged = `prof-acmepm-chall-${tag}`;
  const followsDefault = `prof-acmepm-dflt-${tag}`;
  const eab = `prof-acmepm-eab-${tag}`;

  beforeAll(async () => {
    ensureCryptoProvider();
    web = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      res.statusCode = body === undefined ? 404 : 200;
      res.end(body ?? 'not here');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    db = await createPrivateDatabase(`acmepm_${tag}`);
    t = await createTestApp({
      ...db.env,
      ...SEALING_ENV,
      CERTCTL_PUBLIC_URL: BASE,
      CERTCTL_ACME_SERVER_ENABLED: 'true',
      CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
      // The default is challenge: the trust_authenticated profile must override it.
      CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'challenge',
      CERTCTL_ACME_SERVER_HTTP01_PORT: String((web.address() as AddressInfo).port),
      CERTCTL_ACME_SERVER_RESOLVE: 'www.pm.example=127.0.0.1',
      CERTCTL_ACME_SERVER_VALIDATION_TIMEOUT_MS: '2000',
      CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS: '2',
    });
    send = sender(t);
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, trusted, 'pm.example', 86_400, { acme_auth_mode: 'trust_authenticated' });
    await createProfile(t, admin, challenged, 'pm.example', 86_400, { acme_auth_mode: 'challenge' });
    await createProfile(t, admin, followsDefault, 'pm.example', 86_400);
    await createProfile(t, admin, eab, 'pm.example', 86_400, {
      acme_auth_mode: 'trust_authenticated',
      acme_eab_required: true,
    });
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await new Promise((r) => web?.close(r));
  });

  async function account(profile: string, key?: Awaited<ReturnType<typeof acmeKey>>): Promise<AcmeTestClient> {
    const c = new AcmeTestClient(send, BASE, key ?? (await acmeKey('ES256')), `/acme/profile/${profile}`);
    expect((await c.loadDirectory()).status).toBe(200);
    return c;
  }

  async function newOrder(c: AcmeTestClient, value: string) {
    const created = await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value }] });
    expect(created.status).toBe(201);
    return { o: acmeJson(created), orderUrl: created.headers.location as string };
  }

  it('shows acme_auth_mode and acme_eab_required on the profile (null: the server default)', async () => {
    const got = await t.http.get(`/api/v1/profiles/${eab}`).set('Authorization', admin);
    expect(got.body).toMatchObject({ acme_auth_mode: 'trust_authenticated', acme_eab_required: true });
    const dflt = await t.http.get(`/api/v1/profiles/${followsDefault}`).set('Authorization', admin);
    expect(dflt.body).toMatchObject({ acme_auth_mode: null, acme_eab_required: null });
  });

  it('refuses a bad acme_auth_mode with a 400 naming it', async () => {
    const res = await t.http
      .put(`/api/v1/profiles/${followsDefault}`)
      .set('Authorization', admin)
      .send({ acme_auth_mode: 'dns' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('body.acme_auth_mode: must be trust_authenticated, challenge or null');
    const eabBad = await t.http
      .put(`/api/v1/profiles/${followsDefault}`)
      .set('Authorization', admin)
      .send({ acme_eab_required: 'yes' });
    expect(eabBad.status).toBe(400);
    expect(JSON.stringify(eabBad.body)).toContain('acme_eab_required');
  });

  it('trust_authenticated profile: the order is ready at once', async () => {
    const c = await account(trusted);
    expect((await c.register({ termsOfServiceAgreed: true })).status).toBe(201);
    const { o } = await newOrder(c, 'www.pm.example');
    expect(o.status).toBe('ready');
    const authz = acmeJson(await c.post((o.authorizations as string[])[0], ''));
    expect(authz.status).toBe('valid');
  });

  it('challenge profile: the order waits for http-01 validation, then is ready', async () => {
    const c = await account(challenged);
    expect((await c.register({ termsOfServiceAgreed: true })).status).toBe(201);
    const { o, orderUrl } = await newOrder(c, 'www.pm.example');
    expect(o.status).toBe('pending');
    const authzUrl = (o.authorizations as string[])[0];
    const authz = acmeJson(await c.post(authzUrl, ''));
    expect(authz.status).toBe('pending');
    const ch = (authz.challenges as Record<string, string>[]).find((x) => x.type === 'http-01');
    expect(ch).toBeDefined();
    const token = (ch as Record<string, string>).token;
    served.set(`/.well-known/acme-challenge/${token}`, `${token}.${await calculateJwkThumbprint(c.key.jwk, 'sha256')}`);
    expect((await c.post((ch as Record<string, string>).url, {})).status).toBe(200);
    const done = await eventually(async () => {
      const a = acmeJson(await c.post(authzUrl, ''));
      return a.status === 'pending' ? undefined : a;
    }, 20_000);
    expect(done.status).toBe('valid');
    expect(acmeJson(await c.post(orderUrl, '')).status).toBe('ready');
  });

  it('a profile without acme_auth_mode follows the server default (challenge here)', async () => {
    const c = await account(followsDefault);
    expect((await c.register({ termsOfServiceAgreed: true })).status).toBe(201);
    expect((await newOrder(c, 'www.pm.example')).o.status).toBe('pending');
  });

  it('a profile switched to trust_authenticated issues ready orders from then on', async () => {
    const other = `prof-acmepm-switch-${tag}`;
    await createProfile(t, admin, other, 'pm.example', 86_400);
    const c = await account(other);
    expect((await c.register({ termsOfServiceAgreed: true })).status).toBe(201);
    expect((await newOrder(c, 'www.pm.example')).o.status).toBe('pending');
    const put = await t.http
      .put(`/api/v1/profiles/${other}`)
      .set('Authorization', admin)
      .send({ acme_auth_mode: 'trust_authenticated' });
    expect([put.status, put.body.acme_auth_mode]).toEqual([200, 'trust_authenticated']);
    expect((await newOrder(c, 'www.pm.example')).o.status).toBe('ready');
    // null goes back to the server default.
    const cleared = await t.http
      .put(`/api/v1/profiles/${other}`)
      .set('Authorization', admin)
      .send({ acme_auth_mode: null });
    expect([cleared.status, cleared.body.acme_auth_mode]).toEqual([200, null]);
    expect((await newOrder(c, 'www.pm.example')).o.status).toBe('pending');
  });

  it('EAB profile: advertises it, refuses accounts without a binding, including ones made elsewhere', async () => {
    const c = await account(eab);
    expect((c.directory as unknown as { meta: Record<string, unknown> }).meta.externalAccountRequired).toBe(true);
    const other = await account(trusted);
    expect((other.directory as unknown as { meta: Record<string, unknown> }).meta.externalAccountRequired).toBe(false);

    const noEab = await c.register({ termsOfServiceAgreed: true });
    expect([noEab.status, problemType(noEab)]).toEqual([400, 'externalAccountRequired']);

    // An account registered without EAB at another profile cannot come in through this one.
    expect((await other.register({ termsOfServiceAgreed: true })).status).toBe(201);
    const sameKey = await account(eab, other.key);
    const found = await sameKey.register({ termsOfServiceAgreed: true });
    expect([found.status, problemType(found)]).toEqual([403, 'externalAccountRequired']);
    sameKey.kid = (other.kid as string).replace(`/acme/profile/${trusted}/`, `/acme/profile/${eab}/`);
    const byKid = await sameKey.post(sameKey.directory.newOrder, {
      identifiers: [{ type: 'dns', value: 'www.pm.example' }],
    });
    expect([byKid.status, problemType(byKid)]).toEqual([403, 'externalAccountRequired']);

    const k = await t.http.post('/api/v1/acme/eab-keys').set('Authorization', admin).send({ description: 'pm' });
    expect(k.status).toBe(201);
    const { kid, hmac_key } = k.body as { kid: string; hmac_key: string };
    const bound = await c.register({
      termsOfServiceAgreed: true,
      externalAccountBinding: await eabBinding(kid, hmac_key, c.key.jwk, c.directory.newAccount),
    });
    expect(bound.status).toBe(201);
    expect((await newOrder(c, 'www.pm.example')).o.status).toBe('ready');
  });
});
