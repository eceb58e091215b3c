import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScriptCa } from '../../../../libs/connectors/src/issuers/openssl/testing/script-ca';
import { fetchBytes, ISSUING_ENV, listenOnLoopback } from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { CrlService } from './crl.service';
import { parseCrl } from './script-crl.service';

/**
 * The OpenSSL-script issuer's CRL on two replicas of one database: the crl_script (real
 * `openssl ca -gencrl`, wrapped to count its runs and to fail on demand) runs once for
 * concurrent requests on both, the cached CRL is served until it is due, the CRL loop remakes
 * due ones only, and a failing script keeps the previous CRL served while it is valid.
 */
describe('OpenSSL-script issuer CRL (two replicas, real openssl ca)', () => {
  const tag = randomBytes(3).toString('hex');
  const issuerId = `iss-scrl-${tag}`;
  let db: PrivateDatabase;
  let t1: TestApp;
  let t2: TestApp;
  let bases: string[];
  let ca: ScriptCa;
  let runs: string;
  let failFlag: string;

  const runCount = () => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean).length : 0);
  const get = (i: number) => fetchBytes(`${bases[i]}/.well-known/pki/crl/${issuerId}`);
  const makeDue = (column: 'generated_at' | 'next_update') =>
    t1.ds.query(`UPDATE script_crl_cache SET ${column} = now() - interval '2 days' WHERE issuer_id = $1`, [issuerId]);

  beforeAll(async () => {
    db = await createPrivateDatabase(`script_crl_${tag}`);
    t1 = await createTestApp({ ...db.env, ...ISSUING_ENV });
    t2 = await createTestApp({ ...db.env, ...ISSUING_ENV });
    bases = [`http://127.0.0.1:${await listenOnLoopback(t1)}`, `http://127.0.0.1:${await listenOnLoopback(t2)}`];
    ca = new ScriptCa();
    runs = join(ca.dir, 'runs.log');
    failFlag = join(ca.dir, 'fail');
    // Slow enough (0.3 s) that the concurrent requests below overlap the run.
    const crlScript = ca.script(
      'crl-counted.sh',
      `if [ -e '${failFlag}' ]; then echo 'CA key offline' >&2; exit 2; fi
echo run >> '${runs}'; sleep 0.3
openssl ca -batch -config "$CA_DIR/openssl.cnf" -gencrl -out "$1"`,
    );
    const admin = `Bearer ${(await t1.mintKey(['admin'])).key}`;
    const res = await t1.http
      .post('/api/v1/issuers')
      .set('Authorization', admin)
      .send({
        id: issuerId,
        name: issuerId,
        type: 'OpenSSL',
        config: { sign_script: ca.signScript, crl_script: crlScript },
      });
    expect(res.status).toBe(201);
  });

  afterAll(async () => {
    await t2.close();
    await t1.close();
    await db.drop();
    ca.remove();
  });

  it('runs the script once for concurrent requests on both replicas and serves the same CRL', async () => {
    const all = await Promise.all([get(0), get(1), get(0), get(1), get(0), get(1)]);
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(all.map((r) => r.headers.get('etag'))).size).toBe(1);
    expect(all[0].headers.get('content-type')).toBe('application/pkix-crl');
    expect(parseCrl(all[0].body).crlNumber).toBe(1n);
    expect(runCount()).toBe(1);
    // Cached: no run for a later request either.
    expect((await get(1)).status).toBe(200);
    expect(runCount()).toBe(1);
    // The admin view of the CRL cache shows the script's CRL.
    const admin = `Bearer ${(await t1.mintKey(['admin'])).key}`;
    const view = await t2.http.get('/api/v1/admin/crl/cache').set('Authorization', admin);
    expect(view.status).toBe(200);
    expect(view.body.data).toContainEqual(
      expect.objectContaining({
        url_id: issuerId,
        issuer_id: issuerId,
        ca_id: null,
        source: 'script',
        crl_number: '1',
        size_bytes: all[0].body.length,
        etag: all[0].headers.get('etag'),
        stale: false,
      }),
    );
  });

  it('the CRL loop remakes a due CRL and leaves a fresh one alone', async () => {
    await makeDue('generated_at');
    expect(await t2.app.get(CrlService).runLoop()).toBeGreaterThanOrEqual(1);
    expect(runCount()).toBe(2);
    expect(parseCrl((await get(0)).body).crlNumber).toBe(2n);
    await t1.app.get(CrlService).runLoop();
    expect(runCount()).toBe(2);
  });

  it('a failing script: the previous CRL while it is valid, then 503 naming the failure', async () => {
    writeFileSync(failFlag, '');
    try {
      await makeDue('generated_at');
      const previous = await get(0);
      expect(previous.status).toBe(200);
      expect(parseCrl(previous.body).crlNumber).toBe(2n);
      await makeDue('next_update');
      const none = await get(1);
      expect(none.status).toBe(503);
      const body = JSON.parse(none.body.toString('utf8')) as { message?: string };
      expect(JSON.stringify(body)).toContain(`the CRL of issuer ${issuerId} cannot be made now`);
    } finally {
      rmSync(failFlag, { force: true });
    }
    expect((await get(1)).status).toBe(200);
  });
});
