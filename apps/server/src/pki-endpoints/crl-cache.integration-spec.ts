import { randomBytes } from 'node:crypto';
import {
  createLocalCaIssuer,
  createProfile,
  fetchBytes,
  ISSUING_ENV,
  issueCertificate,
  listenOnLoopback,
  type IssuedCertificate,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

describe('GET /api/v1/admin/crl/cache', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let crlBase: string;
  const tag = randomBytes(3).toString('hex');
  const issuerId = `iss-crlc-${tag}`;
  let leaf: IssuedCertificate;

  const cache = async (key = admin) => t.http.get('/api/v1/admin/crl/cache').set('Authorization', key);
  const entryOf = async () => {
    const res = await cache();
    expect(res.status).toBe(200);
    return (res.body.data as { url_id: string }[]).find((e) => e.url_id === issuerId);
  };

  beforeAll(async () => {
    // A database of its own: the list shows every cached CRL.
    db = await createPrivateDatabase(`crl_cache_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_PKI_PUBLIC_URL: 'http://pki.example.test' });
    crlBase = `http://127.0.0.1:${await listenOnLoopback(t)}/.well-known/pki/crl`;
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, `prof-crlc-${tag}`, 'crlc.example.com', 30 * 86_400);
    leaf = await issueCertificate(t, admin, {
      id: `mc-crlc-${tag}`,
      issuerId,
      profileId: `prof-crlc-${tag}`,
      commonName: 'a.crlc.example.com',
    });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('is empty before any CRL was made', async () => {
    const res = await cache();
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ data: [] });
  });

  it('lists a served CRL with its number, size, ETag and public URL; a revocation remakes it', async () => {
    const crl = await fetchBytes(`${crlBase}/${issuerId}`);
    expect(crl.status).toBe(200);
    expect(await entryOf()).toEqual({
      url_id: issuerId,
      issuer_id: issuerId,
      ca_id: leaf.caId,
      source: 'local_ca',
      crl_number: expect.stringMatching(/^\d+$/),
      this_update: expect.any(String),
      next_update: expect.any(String),
      size_bytes: crl.body.length,
      etag: crl.headers.get('etag'),
      stale: false,
      updated_at: expect.any(String),
      crl_url: `http://pki.example.test/.well-known/pki/crl/${issuerId}`,
    });
    const before = (await entryOf()) as unknown as { crl_number: string };

    const revoked = await t.http
      .post(`/api/v1/certificates/${leaf.certId}/revoke`)
      .set('Authorization', admin)
      .send({ reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    // The revocation marks it stale; it is remade (by the request below, or already by the
    // revocation itself) with the next number.
    const again = await fetchBytes(`${crlBase}/${issuerId}`);
    expect(again.status).toBe(200);
    const after = (await entryOf()) as unknown as {
      crl_number: string;
      stale: boolean;
      size_bytes: number;
      etag: string;
    };
    expect(after.stale).toBe(false);
    expect(BigInt(after.crl_number)).toBeGreaterThan(BigInt(before.crl_number));
    expect(after.size_bytes).toBe(again.body.length);
    expect(after.etag).toBe(again.headers.get('etag'));
  });

  it('shows a CRL marked stale until it is remade', async () => {
    await t.ds.query(`UPDATE crl_cache SET stale = true WHERE ca_id = $1`, [leaf.caId]);
    expect(await entryOf()).toMatchObject({ stale: true });
    expect((await fetchBytes(`${crlBase}/${issuerId}`)).status).toBe(200);
    expect(await entryOf()).toMatchObject({ stale: false });
  });

  it('requires crl.admin', async () => {
    const viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    const res = await cache(viewer);
    expect(res.status).toBe(403);
    expect(res.body.message).toEqual(expect.any(String));
    expect((await t.http.get('/api/v1/admin/crl/cache')).status).toBe(401);
  });
});
