import 'reflect-metadata';
import { acmeJson, acmeKey, AcmeTestClient, signJws, type AcmeSend } from '../../../../e2e/support/acme-jws';
import { sender } from '../../../../e2e/support/acme-supertest';
import { prng, randomBytesFrom } from '../../../../test/fuzz/mutate';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

const BASE = 'https://acme.test';
const CASES = 10_000;

/** Values that break a JSON member's expected type or form. */
const JUNK: unknown[] = [
  null,
  0,
  -1,
  1e308,
  true,
  '',
  '\u0000',
  'x'.repeat(5000),
  '%%%',
  'AAAA',
  [],
  {},
  [null],
  { kty: 'EC' },
  { kty: 'RSA', n: 'AQAB', e: 'AQAB' },
  'none',
  'HS256',
  'https://acme.test/acme/account/x',
  'https://evil.example/acme/new-order',
];

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/**
 * 10,000 malformed ACME requests against the real app in challenge mode, replayable from the
 * seed: signed requests with bytes cut, replaced or appended; flattened JWS objects whose
 * members, protected-header fields or payload fields are junk; and non-JSON bodies. Every one
 * must be answered below 500, with a Replay-Nonce, and as application/problem+json when
 * refused.
 */
describe('ACME server fuzz (10,000 malformed JWS/JSON bodies)', () => {
  let t: TestApp;
  let send: AcmeSend;

  beforeAll(async () => {
    t = await createTestApp({
      CERTCTL_PUBLIC_URL: BASE,
      CERTCTL_ACME_SERVER_ENABLED: 'true',
      CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'challenge',
      CERTCTL_ACME_SERVER_RESOLVE: 'fuzz.acme.example=127.0.0.1',
      CERTCTL_ACME_SERVER_HTTP01_PORT: '9',
    });
    send = sender(t);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers every one with a 4xx problem (or success) and a nonce, never a 5xx', async () => {
    const c = new AcmeTestClient(send, BASE, await acmeKey('ES256'));
    await c.loadDirectory();
    expect((await c.register({})).status).toBe(201);
    const created = await c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value: 'fuzz.acme.example' }] });
    expect(created.status).toBe(201);
    const order = acmeJson(created);
    const authzUrl = (order.authorizations as string[])[0];
    const challengeUrl = (acmeJson(await c.post(authzUrl, '')).challenges as { url: string }[])[0]?.url;
    const urls = [
      c.directory.newAccount,
      c.directory.newOrder,
      c.directory.revokeCert,
      c.directory.keyChange,
      c.kid as string,
      created.headers.location as string,
      order.finalize as string,
      authzUrl,
      challengeUrl,
    ];
    const rand = prng(0xacfe2);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const nonce = await c.nonce();
    const template = await signJws(c.key, { url: c.kid, kid: c.kid, nonce }, { contact: ['mailto:a@acme.example'] });

    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES; i++) {
      const url = pick(urls);
      const kind = i % 4;
      let body: string;
      if (kind === 0) {
        // Byte damage to a signed request: cut, overwrite or append.
        const b = Buffer.from(JSON.stringify(template));
        const at = Math.floor(rand() * b.length);
        const op = Math.floor(rand() * 3);
        const damaged =
          op === 0
            ? b.subarray(0, at)
            : op === 1
              ? Buffer.concat([
                  b.subarray(0, at),
                  randomBytesFrom(rand, 1 + Math.floor(rand() * 8)),
                  b.subarray(at + 1),
                ])
              : Buffer.concat([b, randomBytesFrom(rand, 1 + Math.floor(rand() * 16))]);
        body = damaged.toString('latin1');
      } else if (kind === 1) {
        // A member of the flattened JWS replaced by junk.
        const jws: Record<string, unknown> = { ...template };
        jws[pick(['protected', 'payload', 'signature', 'header', 'signatures'])] = pick(JUNK);
        body = JSON.stringify(jws);
      } else if (kind === 2) {
        // A protected-header field replaced by junk (the signature no longer matches).
        const header: Record<string, unknown> = { alg: 'ES256', url, kid: c.kid, nonce };
        header[pick(['alg', 'url', 'kid', 'nonce', 'jwk', 'crit', 'b64'])] = pick(JUNK);
        body = JSON.stringify({ protected: b64(header), payload: template.payload, signature: template.signature });
      } else {
        // A payload field replaced by junk, or a payload that is not JSON at all.
        const payload =
          rand() < 0.2
            ? randomBytesFrom(rand, Math.floor(rand() * 64)).toString('latin1')
            : {
                [pick(['identifiers', 'csr', 'contact', 'status', 'certificate', 'reason', 'replaces', 'account'])]:
                  pick(JUNK),
              };
        body = JSON.stringify({ protected: template.protected, payload: b64(payload), signature: template.signature });
      }
      const res = await send('POST', c.path(url), body, 'application/jose+json');
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const ok = res.status < 500 && !!res.headers['replay-nonce'];
      const problem = res.status < 400 || /^application\/problem\+json/.test(res.headers['content-type'] ?? '');
      if (!ok || !problem) {
        expect({ i, url, body: body.slice(0, 300), status: res.status, text: res.text.slice(0, 300) }).toEqual({
          i,
          url,
          body: body.slice(0, 300),
          status: '<500 with a nonce and problem+json',
          text: '',
        });
      }
    }
    const refused = [...statuses].filter(([s]) => s >= 400 && s < 500).reduce((n, [, k]) => n + k, 0);
    // Only a damage the decoders ignore (a non-canonical base64url tail) may leave a request valid.
    expect(refused).toBeGreaterThan(CASES * 0.99);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
  }, 600_000);
});
