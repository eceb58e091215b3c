import 'reflect-metadata';
import {
  acmeJson,
  acmeKey,
  AcmeTestClient,
  problemType,
  signJws,
  type AcmeHttpResponse,
} from '../../../../e2e/support/acme-jws';
import { sender } from '../../../../e2e/support/acme-supertest';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

const BASE = 'https://acme.test';
const LIMITS = {
  CERTCTL_PUBLIC_URL: BASE,
  CERTCTL_ACME_SERVER_ENABLED: 'true',
  CERTCTL_ACME_SERVER_RATE_LIMIT_ORDERS_PER_HOUR: '3',
  CERTCTL_ACME_SERVER_RATE_LIMIT_CONCURRENT_ORDERS: '2',
  CERTCTL_ACME_SERVER_RATE_LIMIT_KEY_CHANGE_PER_HOUR: '1',
};

function expectRateLimited(res: AcmeHttpResponse, detail: RegExp): void {
  expect({ status: res.status, type: problemType(res) }).toEqual({
    status: 429,
    type: 'rateLimited',
  });
  expect(acmeJson(res).detail).toMatch(detail);
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(3600);
  expect(res.headers['replay-nonce']).toMatch(/^[A-Za-z0-9_-]{22}$/);
}

/**
 * Per-account ACME rate limits on two replicas sharing Postgres and Redis (one in
 * trust_authenticated mode, one in challenge mode): orders per hour counted across both,
 * pending orders, key changes; each refusal is `rateLimited` with a Retry-After.
 */
describe('ACME rate limits (two replicas)', () => {
  let trust: TestApp;
  let challenge: TestApp;

  beforeAll(async () => {
    trust = await createTestApp(LIMITS);
    challenge = await createTestApp({ ...LIMITS, CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'challenge' });
  });

  afterAll(async () => {
    await trust?.close();
    await challenge?.close();
  });

  /** The same account (key and kid) seen through one replica or the other. */
  async function on(app: TestApp, key?: AcmeTestClient['key']): Promise<AcmeTestClient> {
    const c = new AcmeTestClient(sender(app), BASE, key ?? (await acmeKey('ES256')));
    await c.loadDirectory();
    expect([200, 201]).toContain((await c.register({})).status);
    return c;
  }

  const order = (c: AcmeTestClient, value: string) =>
    c.post(c.directory.newOrder, { identifiers: [{ type: 'dns', value }] });

  it('counts orders per hour across replicas', async () => {
    const a = await on(trust);
    const b = await on(challenge, a.key);
    expect(b.kid).toBe(a.kid);
    expect((await order(a, 'o1.acme.example')).status).toBe(201);
    expect((await order(b, 'o2.acme.example')).status).toBe(201);
    expect((await order(a, 'o3.acme.example')).status).toBe(201);
    expectRateLimited(await order(b, 'o4.acme.example'), /at most 3 orders per hour/);
    expectRateLimited(await order(a, 'o5.acme.example'), /at most 3 orders per hour/);
    // Another account is not affected.
    expect((await order(await on(trust), 'o6.acme.example')).status).toBe(201);
  });

  it('refuses a new order while the account has too many pending ones', async () => {
    const c = await on(challenge);
    expect(acmeJson(await order(c, 'p1.acme.example')).status).toBe('pending');
    expect(acmeJson(await order(c, 'p2.acme.example')).status).toBe('pending');
    expectRateLimited(await order(c, 'p3.acme.example'), /at most 2 pending orders/);
  });

  it('limits key changes per hour', async () => {
    const c = await on(trust);
    const change = async () => {
      const next = await acmeKey('ES256');
      const inner = await signJws(
        next,
        { url: c.directory.keyChange, jwk: next.jwk },
        { account: c.kid, oldKey: c.key.jwk },
      );
      const res = await c.post(c.directory.keyChange, inner);
      if (res.status === 200) c.key = next;
      return res;
    };
    expect((await change()).status).toBe(200);
    expectRateLimited(await change(), /at most 1 key changes per hour/);
  });
});
