import { randomBytes } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  createLocalCaIssuer,
  createProfile,
  fetchBytes,
  ISSUING_ENV,
  issueCertificate,
  listenOnLoopback,
  opensslAsync,
  type IssuedCertificate,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { OcspHotCache } from './ocsp-hot-cache';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The certificate status of a one-CertID successful OCSPResponse. */
function certStatus(der: Buffer): 'good' | 'revoked' | 'unknown' {
  const r = AsnConvert.parse(der, OCSPResponse);
  if (!r.responseBytes) throw new Error(`no responseBytes (status ${r.responseStatus})`);
  const basic = AsnConvert.parse(r.responseBytes.response.buffer, BasicOCSPResponse);
  const s = basic.tbsResponseData.responses[0].certStatus;
  if (s.revoked) return 'revoked';
  return s.good !== undefined ? 'good' : 'unknown';
}

/** Count of the HTTP duration histogram for one label set, from the Prometheus text. */
function histogramCount(text: string, method: string, route: string, status: string): number {
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('certctl_http_request_duration_seconds_count{') &&
        l.includes(`method="${method}"`) &&
        l.includes(`route="${route}"`) &&
        l.includes(`status="${status}"`),
    );
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('OCSP in-process cache: raw-request keys, fast path, two replicas invalidated by LISTEN/NOTIFY', () => {
  let db: PrivateDatabase;
  let a: TestApp;
  let b: TestApp;
  let baseA: string;
  let baseB: string;
  let hotA: OcspHotCache;
  let hotB: OcspHotCache;
  let admin: string;
  const tag = randomBytes(3).toString('hex');
  const issuerId = `iss-hot-${tag}`;
  const ossl = new OpensslDir();
  const certs: Record<'one' | 'two' | 'three', IssuedCertificate> = {} as never;
  /** The nonce-less DER request of each certificate (as openssl makes it). */
  const requests: Record<string, Buffer> = {};

  beforeAll(async () => {
    db = await createPrivateDatabase(`ocsp_hot_${tag}`);
    a = await createTestApp({ ...db.env, ...ISSUING_ENV });
    b = await createTestApp({ ...db.env, ...ISSUING_ENV });
    baseA = `http://127.0.0.1:${await listenOnLoopback(a)}/.well-known/pki/ocsp/${issuerId}`;
    baseB = `http://127.0.0.1:${await listenOnLoopback(b)}/.well-known/pki/ocsp/${issuerId}`;
    hotA = a.app.get(OcspHotCache);
    hotB = b.app.get(OcspHotCache);
    admin = `Bearer ${(await a.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(a, admin, issuerId);
    await createProfile(a, admin, `prof-hot-${tag}`, 'hot.example.com', 30 * 86_400);
    for (const name of ['one', 'two', 'three'] as const) {
      certs[name] = await issueCertificate(a, admin, {
        id: `mc-hot-${name}-${tag}`,
        issuerId,
        profileId: `prof-hot-${tag}`,
        commonName: `${name}.hot.example.com`,
      });
      ossl.write(`${name}.pem`, certs[name].leafPem);
      ossl.write('ca.pem', certs[name].caPem);
      ossl.ok(['ocsp', '-issuer', 'ca.pem', '-cert', `${name}.pem`, '-no_nonce', '-reqout', `${name}.req`]);
      requests[name] = ossl.read(`${name}.req`);
    }
    await eventually(async () => (hotA.usable && hotB.usable ? true : undefined));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    ossl.remove();
  });

  const post = (base: string, name: string) =>
    fetchBytes(base, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: requests[name],
    });
  const getUrl = (base: string, name: string) => `${base}/${encodeURIComponent(requests[name].toString('base64'))}`;
  const revoke = async (name: 'one' | 'two' | 'three', reason: string) => {
    const res = await a.http
      .post(`/api/v1/certificates/${certs[name].certId}/revoke`)
      .set('Authorization', admin)
      .send({ reason });
    expect(res.status).toBe(200);
  };
  /** openssl checks a response: signature by the delegated responder, and the status line. */
  const verified = (name: string, der: Buffer): string => {
    ossl.write('resp.der', der);
    const r = ossl.run([
      'ocsp',
      '-respin',
      'resp.der',
      '-issuer',
      'ca.pem',
      '-cert',
      `${name}.pem`,
      '-CAfile',
      'ca.pem',
    ]);
    expect(r.stderr).toContain('Response verify OK');
    return r.stdout;
  };

  it('answers repeated nonce-less requests from the cache with the same bytes and headers, and counts them in the metrics', async () => {
    const metrics = async () =>
      (await b.http.get('/api/v1/metrics/prometheus').set('Authorization', admin).expect(200)).text;
    const route = '/.well-known/pki/ocsp/:id/*request';
    const first = await fetchBytes(getUrl(baseB, 'one'));
    expect(first.status).toBe(200);
    expect(verified('one', first.body)).toContain('one.pem: good');
    const size = hotB.size;
    expect(size).toBeGreaterThanOrEqual(1);
    const countBefore = histogramCount(await metrics(), 'GET', route, '200');
    const hitsBefore = hotB.stats.hits;
    const fastBefore = hotB.stats.fastPathHits;

    const again = await fetchBytes(getUrl(baseB, 'one'), { headers: { 'x-request-id': `hot-test-${tag}` } });
    expect(hotB.stats.hits).toBe(hitsBefore + 1);
    expect(again.body.equals(first.body)).toBe(true);
    expect(again.headers.get('x-request-id')).toBe(`hot-test-${tag}`);
    expect(again.headers.get('content-type')).toBe('application/ocsp-response');
    for (const h of ['etag', 'last-modified', 'expires']) expect(again.headers.get(h)).toBe(first.headers.get(h));
    expect(again.headers.get('cache-control')).toMatch(/^public, max-age=\d+, no-transform, must-revalidate$/);
    const notModified = await fetchBytes(getUrl(baseB, 'one'), {
      headers: { 'if-none-match': first.headers.get('etag') ?? '' },
    });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    expect(histogramCount(await metrics(), 'GET', route, '200')).toBe(countBefore + 1);

    // POST: the body bytes are the key; the response is the same pre-signed one, no-store.
    const postRoute = '/.well-known/pki/ocsp/:id';
    const p1 = await post(baseB, 'one');
    // The first went through the controller, the second not: one route label for both.
    const postCount = histogramCount(await metrics(), 'POST', postRoute, '200');
    expect(postCount).toBe(1);
    const p2 = await post(baseB, 'one');
    expect(histogramCount(await metrics(), 'POST', postRoute, '200')).toBe(postCount + 1);
    expect(p2.body.equals(p1.body)).toBe(true);
    expect(p2.headers.get('cache-control')).toBe('no-store');
    expect(hotB.stats.hits).toBe(hitsBefore + 3);
    // All three hits were answered in front of the pipeline (not by the controller).
    expect(hotB.stats.fastPathHits).toBe(fastBefore + 3);
    expect(verified('one', p2.body)).toContain('one.pem: good');

    // A nonce gets a fresh response echoing it (openssl checks the nonce), and is not kept.
    const sizeNow = hotB.size;
    const nonce = await opensslAsync(ossl.dir, [
      'ocsp',
      '-issuer',
      'ca.pem',
      '-cert',
      'one.pem',
      '-CAfile',
      'ca.pem',
      '-url',
      baseB,
    ]);
    expect(nonce.stdout).toContain('one.pem: good');
    expect(nonce.stderr).toContain('Response verify OK');
    expect(nonce.stdout + nonce.stderr).not.toContain('WARNING: no nonce in response');
    expect(hotB.size).toBe(sizeNow);

    // Unknown serials are not kept (a later issuance of that serial needs no invalidation).
    const unknownSerial = `7b${randomBytes(19).toString('hex')}`;
    for (let i = 0; i < 2; i++) {
      const u = await fetchBytes(`${baseB}/${unknownSerial}`);
      expect(certStatus(u.body)).toBe('unknown');
    }
    expect(hotB.size).toBe(sizeNow);
  });

  it('a revocation on replica A shows on A when the call returns and on B within a second, after B served good from its cache', async () => {
    for (const base of [baseA, baseB]) {
      expect(certStatus((await fetchBytes(getUrl(base, 'two'))).body)).toBe('good');
      expect(certStatus((await post(base, 'two')).body)).toBe('good');
    }
    const hitsB = hotB.stats.hits;
    const hitsA = hotA.stats.hits;
    expect(certStatus((await fetchBytes(getUrl(baseB, 'two'))).body)).toBe('good');
    expect(certStatus((await fetchBytes(getUrl(baseA, 'two'))).body)).toBe('good');
    expect(hotB.stats.hits).toBe(hitsB + 1);
    expect(hotA.stats.hits).toBe(hitsA + 1);

    await revoke('two', 'keyCompromise');
    const revokedAt = Date.now();
    // A: at once, for both cached request forms.
    const onA = await fetchBytes(getUrl(baseA, 'two'));
    expect(verified('two', onA.body)).toContain('two.pem: revoked');
    expect(certStatus((await post(baseA, 'two')).body)).toBe('revoked');
    // B: as soon as the notification arrives.
    let onB = await fetchBytes(getUrl(baseB, 'two'));
    while (certStatus(onB.body) !== 'revoked' && Date.now() - revokedAt < 1_000) {
      await sleep(10);
      onB = await fetchBytes(getUrl(baseB, 'two'));
    }
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(verified('two', onB.body)).toContain('two.pem: revoked');
    expect(certStatus((await post(baseB, 'two')).body)).toBe('revoked');
    expect(hotB.stats.invalidations).toBeGreaterThan(0);
  });

  it('losing the LISTEN connection flushes the cache, keeps it off until reconnected, and misses no revocation', async () => {
    // B holds "three" as good.
    await fetchBytes(getUrl(baseB, 'three'));
    const hits = hotB.stats.hits;
    expect(certStatus((await fetchBytes(getUrl(baseB, 'three'))).body)).toBe('good');
    expect(hotB.stats.hits).toBe(hits + 1);
    expect(hotB.size).toBeGreaterThan(0);
    const pid = hotB.listenerPid;
    expect(pid).toBeDefined();
    const flushes = hotB.stats.flushes;

    await a.ds.query(`SELECT pg_terminate_backend($1)`, [pid]);
    const deadline = Date.now() + 2_000;
    while (hotB.usable && Date.now() < deadline) await sleep(1);
    // Down: flushed, not read, not filled; answers still come (from the database).
    expect(hotB.usable).toBe(false);
    expect(hotB.size).toBe(0);
    expect(hotB.stats.flushes).toBeGreaterThan(flushes);
    // Revoked while B may not listen: the notification may be lost to B.
    await revoke('three', 'superseded');
    const meanwhile = await fetchBytes(getUrl(baseB, 'three'));
    expect(certStatus(meanwhile.body)).toBe('revoked');

    await eventually(async () => (hotB.usable && hotB.listenerPid !== pid ? true : undefined));
    expect(hotB.size).toBe(0);
    const after = await fetchBytes(getUrl(baseB, 'three'));
    expect(verified('three', after.body)).toContain('three.pem: revoked');
    const refilled = hotB.stats.hits;
    await fetchBytes(getUrl(baseB, 'three'));
    expect(hotB.stats.hits).toBe(refilled + 1);
  });

  it('keeps at most CERTCTL_OCSP_CACHE_MAX_ENTRIES entries, evicting the least recently used', async () => {
    const c = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_OCSP_CACHE_MAX_ENTRIES: '2' });
    try {
      const baseC = `http://127.0.0.1:${await listenOnLoopback(c)}/.well-known/pki/ocsp/${issuerId}`;
      const hotC = c.app.get(OcspHotCache);
      await eventually(async () => (hotC.usable ? true : undefined));
      const k1 = getUrl(baseC, 'one');
      const k2 = `${baseC}/${certs.one.serial}`;
      const k3 = getUrl(baseC, 'two');
      await fetchBytes(k1);
      await fetchBytes(k2);
      expect(hotC.size).toBe(2);
      let hits = hotC.stats.hits;
      await fetchBytes(k1); // k1 is now the most recently used
      expect(hotC.stats.hits).toBe(++hits);
      await fetchBytes(k3); // evicts k2
      expect(hotC.size).toBe(2);
      expect(hotC.stats.evictions).toBe(1);
      await fetchBytes(k1);
      expect(hotC.stats.hits).toBe(++hits);
      const again = await fetchBytes(k2);
      expect(hotC.stats.hits).toBe(hits);
      expect(verified('one', again.body)).toContain('one.pem: good');
      expect(hotC.size).toBe(2);
    } finally {
      await c.close();
    }
  });
});
