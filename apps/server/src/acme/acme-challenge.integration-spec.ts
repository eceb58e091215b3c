import 'reflect-metadata';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint } from 'jose';
import { ensureCryptoProvider, generateKeyPair } from '@certctl/pki';
import { acmeJson, acmeKey, AcmeTestClient, type AcmeSend } from '../../../../e2e/support/acme-jws';
import { csrDer, sender } from '../../../../e2e/support/acme-supertest';
import { createLocalCaIssuer, createProfile, SEALING_ENV } from '../../../../test/integration/issued-certificates';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';
import { LoopName } from '@certctl/domain';
import { LoopRegistry } from '../scheduler/loop-registry';
import { dns01Digest } from './acme-validation';

const BASE = 'https://acme.test';

/**
 * A DNS server for one test: answers TXT queries from `txt` (name -> values), NXDOMAIN
 * otherwise. Just enough of RFC 1035 for node's resolver (one question, no compression in).
 */
async function tinyDns(txt: Map<string, string[]>): Promise<{ socket: Socket; port: number }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    let off = 12;
    const labels: string[] = [];
    while (msg[off] !== 0) {
      const len = msg[off];
      labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += len + 1;
    }
    const question = msg.subarray(12, off + 5);
    const values = txt.get(labels.join('.').toLowerCase()) ?? [];
    const answers = values.map((v) => {
      const data = Buffer.concat([Buffer.from([v.length]), Buffer.from(v, 'ascii')]);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(16, 2); // TXT
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL
      rr.writeUInt16BE(data.length, 10);
      return Buffer.concat([rr, data]);
    });
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (values.length ? 0 : 3), 2); // response, RD+RA, NXDOMAIN when empty
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { socket, port: socket.address().port };
}

/**
 * ACME in `challenge` mode on the real app (Postgres, Redis, the BullMQ validation queue):
 * authorizations start pending; a challenge response queues a validation that fetches the
 * http-01 token from a loopback web server (names mapped by CERTCTL_ACME_SERVER_RESOLVE, port by
 * CERTCTL_ACME_SERVER_HTTP01_PORT) or asks a loopback DNS server for the dns-01 TXT record. Valid
 * authorizations make the order ready and finalize issues; a wrong answer, after the
 * retries, makes the challenge, the authorization and the order invalid with the reason.
 */
describe('ACME server (challenge mode)', () => {
  let t: TestApp;
  let send: AcmeSend;
  let web: Server;
  let dns: Socket;
  /** What the loopback web server answers: path -> body (missing: 404). */
  const served = new Map<string, string>();
  /** How many times each path was fetched. */
  const fetched = new Map<string, number>();
  const txt = new Map<string, string[]>();
  const tag = Date.now().toString(36);
  const issuerId = `iss-acmech-${tag}`;
  const profile = `prof-acmech-${tag}`;

  beforeAll(async () => {
    ensureCryptoProvider();
    web = createServer((req, res) => {
      const path = req.url ?? '';
      fetched.set(path, (fetched.get(path) ?? 0) + 1);
      const body = served.get(path);
      res.statusCode = body === undefined ? 404 : 200;
      res.end(body ?? 'not here');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const d = await tinyDns(txt);
    dns = d.socket;
    t = await createTestApp({
      ...SEALING_ENV,
      CERTCTL_PUBLIC_URL: BASE,
      CERTCTL_ACME_SERVER_ENABLED: 'true',
      CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
      CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: profile,
      CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'challenge',
      CERTCTL_ACME_SERVER_HTTP01_PORT: String((web.address() as AddressInfo).port),
      CERTCTL_ACME_SERVER_RESOLVE: 'www.acme.example=127.0.0.1,bad.acme.example=127.0.0.1,late.acme.example=127.0.0.1',
      CERTCTL_ACME_SERVER_DNS01_RESOLVER: `127.0.0.1:${d.port}`,
      CERTCTL_ACME_SERVER_VALIDATION_TIMEOUT_MS: '2000',
      CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS: '2',
    });
    send = sender(t);
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, profile, 'acme.example', 86_400, {
      san_rules: { permitted_dns_patterns: ['*.acme.example', 'acme.example'], allow_ip: true },
    });
  });

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => web?.close(r));
    dns?.close();
  });

  async function account(): Promise<AcmeTestClient> {
    const c = new AcmeTestClient(send, BASE, await acmeKey('ES256'));
    expect((await c.loadDirectory()).status).toBe(200);
    expect((await c.register({ contact: ['mailto:ops@acme.example'] })).status).toBe(201);
    return c;
  }

  async function keyAuthorization(c: AcmeTestClient, token: string): Promise<string> {
    return `${token}.${await calculateJwkThumbprint(c.key.jwk, 'sha256')}`;
  }

  /** newOrder for one name; returns the order, its URL and its single authorization. */
  async function order(c: AcmeTestClient, value: string) {
    const created = await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value }] });
    expect(created.status).toBe(201);
    const o = acmeJson(created);
    const authzUrl = (o.authorizations as string[])[0];
    const authz = acmeJson(await c.post(authzUrl, ''));
    return { o, orderUrl: created.headers.location as string, authzUrl, authz };
  }

  function challengeOf(authz: Record<string, unknown>, type: string): Record<string, string> {
    const ch = (authz.challenges as Record<string, string>[]).find((x) => x.type === type);
    expect(ch).toBeDefined();
    return ch as Record<string, string>;
  }

  /** Polls the authorization (POST-as-GET) until it has left `pending`. */
  async function settled(c: AcmeTestClient, authzUrl: string): Promise<Record<string, unknown>> {
    return eventually(async () => {
      const a = acmeJson(await c.post(authzUrl, ''));
      return a.status === 'pending' ? undefined : a;
    }, 20_000);
  }

  it('http-01: pending until the token is served, then valid; the order becomes ready and issues', async () => {
    const c = await account();
    const { o, orderUrl, authzUrl, authz } = await order(c, 'www.acme.example');
    expect(o.status).toBe('pending');
    expect(authz.status).toBe('pending');
    expect((authz.challenges as { type: string; status: string }[]).map((x) => [x.type, x.status])).toEqual([
      ['http-01', 'pending'],
      ['dns-01', 'pending'],
      ['tls-alpn-01', 'pending'],
    ]);
    // Not ready: finalize is refused while the authorization is pending.
    const early = await c.post(o.finalize as string, { csr: 'AA' });
    expect(early.status).toBe(403);
    expect(acmeJson(early).type).toBe('urn:ietf:params:acme:error:orderNotReady');

    const ch = challengeOf(authz, 'http-01');
    served.set(`/.well-known/acme-challenge/${ch.token}`, `${await keyAuthorization(c, ch.token)}\n`);
    const answered = await c.post(ch.url, {});
    expect(answered.status).toBe(200);
    expect(['processing', 'valid']).toContain(acmeJson(answered).status);

    const done = await settled(c, authzUrl);
    expect(done.status).toBe('valid');
    expect(challengeOf(done, 'http-01')).toMatchObject({ status: 'valid', validated: expect.any(String) });
    expect(acmeJson(await c.post(orderUrl, '')).status).toBe('ready');

    const keys = await generateKeyPair('ECDSA-P256');
    const fin = await c.post(o.finalize as string, { csr: await csrDer(keys, { dns: ['www.acme.example'] }) });
    expect(fin.status).toBe(200);
    expect(acmeJson(fin)).toMatchObject({ status: 'valid' });
  });

  it('http-01: a token served only after the first attempt validates on the retry', async () => {
    const c = await account();
    const { authzUrl, authz } = await order(c, 'late.acme.example');
    const ch = challengeOf(authz, 'http-01');
    const path = `/.well-known/acme-challenge/${ch.token}`;
    expect((await c.post(ch.url, {})).status).toBe(200);
    await eventually(() => Promise.resolve(fetched.get(path) ? true : undefined));
    served.set(path, await keyAuthorization(c, ch.token));
    const done = await settled(c, authzUrl);
    expect(done.status).toBe('valid');
    expect(fetched.get(path)).toBe(2);
  });

  it('http-01: a wrong answer makes the challenge, authorization and order invalid with the reason', async () => {
    const c = await account();
    const { orderUrl, authzUrl, authz } = await order(c, 'bad.acme.example');
    const ch = challengeOf(authz, 'http-01');
    const path = `/.well-known/acme-challenge/${ch.token}`;
    served.set(path, `${ch.token}.not-the-thumbprint`);
    expect((await c.post(ch.url, {})).status).toBe(200);
    const done = await settled(c, authzUrl);
    expect(done.status).toBe('invalid');
    const failed = challengeOf(done, 'http-01') as unknown as {
      status: string;
      error: { type: string; detail: string };
    };
    expect(failed.status).toBe('invalid');
    expect(failed.error.type).toBe('urn:ietf:params:acme:error:incorrectResponse');
    expect(failed.error.detail).toContain('not the key authorization');
    expect(fetched.get(path)).toBe(2); // both attempts were made
    const o = acmeJson(await c.post(orderUrl, ''));
    expect(o.status).toBe('invalid');
    expect((o.error as { detail: string }).detail).toContain('bad.acme.example');
    // A second response to the settled challenge changes nothing.
    expect(acmeJson(await c.post(ch.url, {})).status).toBe('invalid');
  });

  it('dns-01: the TXT digest at _acme-challenge validates; a missing record fails with a dns error', async () => {
    const c = await account();
    const good = await order(c, 'dns.acme.example');
    const ch = challengeOf(good.authz, 'dns-01');
    txt.set('_acme-challenge.dns.acme.example', ['unrelated', dns01Digest(await keyAuthorization(c, ch.token))]);
    expect((await c.post(ch.url, {})).status).toBe(200);
    expect((await settled(c, good.authzUrl)).status).toBe('valid');
    expect(acmeJson(await c.post(good.orderUrl, '')).status).toBe('ready');

    const bad = await order(c, 'nodns.acme.example');
    const ch2 = challengeOf(bad.authz, 'dns-01');
    expect((await c.post(ch2.url, {})).status).toBe(200);
    const done = await settled(c, bad.authzUrl);
    expect(done.status).toBe('invalid');
    expect(challengeOf(done, 'dns-01')).toMatchObject({
      status: 'invalid',
      error: {
        type: 'urn:ietf:params:acme:error:dns',
        detail: expect.stringContaining('_acme-challenge.nodns.acme.example'),
      },
    });
  });

  it('the acme-gc loop re-queues a challenge left processing when its validation job was lost', async () => {
    const c = await account();
    const { authzUrl, authz } = await order(c, 'www.acme.example');
    const ch = challengeOf(authz, 'http-01');
    const path = `/.well-known/acme-challenge/${ch.token}`;
    served.set(path, await keyAuthorization(c, ch.token));
    // As if the challenge had been answered and its BullMQ job then vanished with Redis:
    // processing in Postgres, nothing queued.
    const authzId = authzUrl.split('/').pop() as string;
    await t.ds.query(
      `UPDATE acme_authorizations SET challenges = (
         SELECT jsonb_agg(CASE WHEN ch->>'type' = 'http-01'
           THEN ch || jsonb_build_object('status', 'processing', 'processing_since', (now() - interval '1 hour')::text)
           ELSE ch END) FROM jsonb_array_elements(challenges) ch)
        WHERE id = $1`,
      [authzId],
    );
    expect(challengeOf(acmeJson(await c.post(authzUrl, '')), 'http-01').status).toBe('processing');
    const loop = t.app.get(LoopRegistry).get(LoopName.AcmeGc);
    await loop?.run();
    const done = await settled(c, authzUrl);
    expect(done.status).toBe('valid');
    expect(fetched.get(path)).toBe(1);
    // A challenge processing for a short while (its job may still be running) is left alone.
    const recent = await order(c, 'bad.acme.example');
    const rc = challengeOf(recent.authz, 'http-01');
    await t.ds.query(
      `UPDATE acme_authorizations SET challenges = (
         SELECT jsonb_agg(CASE WHEN ch->>'type' = 'http-01'
           THEN ch || jsonb_build_object('status', 'processing', 'processing_since', now()::text)
           ELSE ch END) FROM jsonb_array_elements(challenges) ch)
        WHERE id = $1`,
      [recent.authzUrl.split('/').pop()],
    );
    await loop?.run();
    expect(fetched.get(`/.well-known/acme-challenge/${rc.token}`)).toBeUndefined();
    expect(challengeOf(acmeJson(await c.post(recent.authzUrl, '')), 'http-01').status).toBe('processing');
  });

  it('counts challenges, orders and ACME issuances on /metrics', async () => {
    const key = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', key);
    expect(res.status).toBe(200);
    const value = (line: string): number => {
      const m = new RegExp(`^${line.replace(/[{}"]/g, (x) => `\\${x}`)} (\\d+)$`, 'm').exec(res.text);
      return m ? Number(m[1]) : 0;
    };
    // Earlier tests in this file: a valid http-01 and dns-01, an invalid http-01 and dns-01,
    // and one issuance through finalize.
    expect(value('certctl_acme_challenges_total{type="http-01",result="valid"}')).toBeGreaterThanOrEqual(1);
    expect(value('certctl_acme_challenges_total{type="http-01",result="invalid"}')).toBeGreaterThanOrEqual(1);
    expect(value('certctl_acme_challenges_total{type="dns-01",result="invalid"}')).toBeGreaterThanOrEqual(1);
    expect(value('certctl_acme_orders_total{event="created"}')).toBeGreaterThanOrEqual(5);
    expect(value('certctl_acme_orders_total{event="invalid"}')).toBeGreaterThanOrEqual(2);
    expect(value('certctl_acme_orders_total{event="valid"}')).toBeGreaterThanOrEqual(1);
    expect(value('certctl_acme_accounts_total{event="created"}')).toBeGreaterThanOrEqual(4);
    expect(value(`certctl_enrollments_total{protocol="ACME",label="${profile}",outcome="issued"}`)).toBe(1);
  });

  it('the acme-gc loop expires stale orders and authorizations and deletes old failed orders', async () => {
    const c = await account();
    const stale = await order(c, 'stale.acme.example');
    const fresh = await order(c, 'fresh.acme.example');
    const old = await order(c, 'old.acme.example');
    const idOf = (url: string) => url.split('/').pop() as string;
    await t.ds.query(`UPDATE acme_orders SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
      idOf(stale.orderUrl),
    ]);
    await t.ds.query(`UPDATE acme_authorizations SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
      idOf(stale.authzUrl),
    ]);
    await t.ds.query(
      `UPDATE acme_orders SET status = 'invalid', updated_at = now() - interval '31 days' WHERE id = $1`,
      [idOf(old.orderUrl)],
    );
    const loop = t.app.get(LoopRegistry).get(LoopName.AcmeGc);
    expect(loop).toBeDefined();
    await loop?.run();
    const status = async (table: string, url: string) =>
      (await t.ds.query<{ status: string }[]>(`SELECT status FROM ${table} WHERE id = $1`, [idOf(url)]))[0]?.status;
    expect(await status('acme_orders', stale.orderUrl)).toBe('invalid');
    expect(await status('acme_authorizations', stale.authzUrl)).toBe('expired');
    expect(await status('acme_orders', fresh.orderUrl)).toBe('pending');
    expect(await status('acme_authorizations', fresh.authzUrl)).toBe('pending');
    expect(await status('acme_orders', old.orderUrl)).toBeUndefined();
    expect(await status('acme_authorizations', old.authzUrl)).toBeUndefined();
    expect(acmeJson(await c.post(stale.orderUrl, ''))).toMatchObject({
      status: 'invalid',
      error: { detail: 'the order expired' },
    });
  });
});
