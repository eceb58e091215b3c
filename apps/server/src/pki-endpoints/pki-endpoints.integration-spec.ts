import { randomBytes } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { ocspErrorResponse } from '@certctl/pki';
import { EC_P256, OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  createLocalCaIssuer,
  createProfile,
  fetchBytes,
  type FetchedBytes,
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
import { CrlService } from './crl.service';

function responseStatus(der: Buffer): OCSPResponseStatus {
  return AsnConvert.parse(der, OCSPResponse).responseStatus;
}

/** The producedAt + signature of a successful response: equal only for one signature. */
function signatureOf(der: Buffer): string {
  const r = AsnConvert.parse(der, OCSPResponse);
  if (!r.responseBytes) throw new Error('no responseBytes');
  const basic = AsnConvert.parse(r.responseBytes.response.buffer, BasicOCSPResponse);
  return Buffer.from(basic.signature).toString('hex');
}

describe('CRL and OCSP endpoints (real server, openssl as the relying party)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let base: string;
  const tag = randomBytes(3).toString('hex');
  const issuerId = `iss-pki-${tag}`;
  const ossl = new OpensslDir();
  let leaf: IssuedCertificate;
  let shortLived: IssuedCertificate;
  let other: IssuedCertificate;

  beforeAll(async () => {
    db = await createPrivateDatabase(`pki_ep_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV });
    base = `http://127.0.0.1:${await listenOnLoopback(t)}/.well-known/pki`;
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, `prof-pki-${tag}`, 'pki.example.com', 30 * 86_400);
    await createProfile(t, admin, `prof-short-${tag}`, 'pki.example.com', 1800);
    leaf = await issueCertificate(t, admin, {
      id: `mc-pki-${tag}`,
      issuerId,
      profileId: `prof-pki-${tag}`,
      commonName: 'leaf.pki.example.com',
    });
    other = await issueCertificate(t, admin, {
      id: `mc-pki-other-${tag}`,
      issuerId,
      profileId: `prof-pki-${tag}`,
      commonName: 'other.pki.example.com',
    });
    shortLived = await issueCertificate(t, admin, {
      id: `mc-pki-short-${tag}`,
      issuerId,
      profileId: `prof-short-${tag}`,
      commonName: 'short.pki.example.com',
    });
    ossl.write('ca.pem', leaf.caPem);
    ossl.write('leaf.pem', leaf.leafPem);
    ossl.write('other.pem', other.leafPem);
    ossl.write('short.pem', shortLived.leafPem);
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
    ossl.remove();
  });

  const revoke = async (certId: string, reason: string) => {
    const res = await t.http.post(`/api/v1/certificates/${certId}/revoke`).set('Authorization', admin).send({ reason });
    expect(res.status).toBe(200);
    // The issuing CA was told (Local CA: its own CRL/OCSP are the record, so telling it succeeds).
    const rows: { issuer_notified: boolean }[] = await t.ds.query(
      `SELECT issuer_notified FROM certificate_revocations WHERE certificate_id = $1`,
      [certId],
    );
    expect(rows).toEqual([{ issuer_notified: true }]);
  };

  /** `openssl ocsp` against our responder over POST; returns stdout + stderr. */
  const ocspCli = (cert: string, extra: string[] = []) =>
    opensslAsync(ossl.dir, [
      'ocsp',
      '-issuer',
      'ca.pem',
      '-cert',
      cert,
      '-CAfile',
      'ca.pem',
      '-url',
      `${base}/ocsp/${issuerId}`,
      ...extra,
    ]);

  /** `openssl ocsp` checking a stored response (`-respin`) for `cert`: status and signature. */
  const checkResponse = (respFile: string, cert: string) =>
    ossl.run(['ocsp', '-respin', respFile, '-issuer', 'ca.pem', '-cert', cert, '-CAfile', 'ca.pem']);

  /** Makes a request with openssl (-reqout), fetches it with GET, checks the response with openssl (-respin). */
  const ocspViaGet = async (cert: string): Promise<{ out: string; res: FetchedBytes }> => {
    ossl.ok(['ocsp', '-issuer', 'ca.pem', '-cert', cert, '-no_nonce', '-reqout', 'get-req.der']);
    const b64 = ossl.read('get-req.der').toString('base64');
    const res = await fetchBytes(`${base}/ocsp/${issuerId}/${encodeURIComponent(b64)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    ossl.write('get-resp.der', res.body);
    const r = checkResponse('get-resp.der', cert);
    return { out: r.stdout + r.stderr, res };
  };

  const crlText = async (): Promise<{ text: string; res: FetchedBytes }> => {
    const res = await fetchBytes(`${base}/crl/${issuerId}`);
    expect(res.status).toBe(200);
    ossl.write('crl.der', res.body);
    const verified = ossl.run(['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout']);
    expect(verified.stdout + verified.stderr).toContain('verify OK');
    return { text: ossl.ok(['crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text']), res };
  };

  it('answers good over POST (with and without nonce), signed by a delegated responder openssl accepts', async () => {
    const r = await ocspCli('leaf.pem');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('leaf.pem: good');
    expect(r.stderr).toContain('Response verify OK');
    expect(r.stdout + r.stderr).not.toContain('WARNING: no nonce in response');
    const noNonce = await ocspCli('leaf.pem', ['-no_nonce', '-resp_text']);
    expect(noNonce.stdout).toContain('leaf.pem: good');
    expect(noNonce.stderr).toContain('Response verify OK');
    expect(noNonce.stdout).toContain('OCSP Signing');
    expect(noNonce.stdout).toContain('OCSP No Check');
    const responders: { ca_id: string }[] = await t.ds.query(`SELECT ca_id FROM ocsp_responders`);
    expect(responders).toEqual([{ ca_id: leaf.caId }]);
    const cached: { serial_number: string; cert_id_form: string }[] = await t.ds.query(
      `SELECT serial_number, cert_id_form FROM ocsp_responses WHERE ca_id = $1`,
      [leaf.caId],
    );
    expect(cached).toEqual([{ serial_number: leaf.serial, cert_id_form: 'sha1' }]);
  });

  it('answers the RFC 6960 GET form and the serial form, with Cache-Control from nextUpdate', async () => {
    const { out, res } = await ocspViaGet('leaf.pem');
    expect(out).toContain('leaf.pem: good');
    expect(out).toContain('Response verify OK');
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(1700);
    expect(maxAge).toBeLessThanOrEqual(3600);
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{40}"$/);

    const bySerial = await fetchBytes(`${base}/ocsp/${issuerId}/${leaf.serial.toUpperCase()}`);
    expect(bySerial.status).toBe(200);
    ossl.write('serial-resp.der', bySerial.body);
    const check = checkResponse('serial-resp.der', 'leaf.pem');
    expect(check.stdout).toContain('leaf.pem: good');
    expect(check.stderr).toContain('Response verify OK');
  });

  it('answers unknown for a serial this CA never signed, and unauthorized for another issuer', async () => {
    const unknownSerial = `7a${randomBytes(19).toString('hex')}`;
    const res = await fetchBytes(`${base}/ocsp/${issuerId}/${unknownSerial}`);
    ossl.write('unknown.der', res.body);
    const text = ossl.ok(['ocsp', '-respin', 'unknown.der', '-resp_text', '-noverify']);
    expect(text).toContain('Cert Status: unknown');
    expect(res.headers.get('cache-control')).toContain('max-age=');

    // A CA of openssl's own: the CertID names an issuer this responder does not serve.
    ossl.ok([
      'req',
      '-x509',
      ...EC_P256,
      '-nodes',
      '-keyout',
      'x.key',
      '-subj',
      '/CN=stranger',
      '-out',
      'x.pem',
      '-days',
      '2',
    ]);
    const stranger = await opensslAsync(ossl.dir, [
      'ocsp',
      '-issuer',
      'x.pem',
      '-serial',
      '0x1234',
      '-url',
      `${base}/ocsp/${issuerId}`,
    ]);
    expect(stranger.stdout + stranger.stderr).toMatch(/Responder Error: unauthorized \(6\)/);
  });

  it('answers malformedRequest (HTTP 200) for what is not a request, 404 for unknown ids, 415 for other body types', async () => {
    const garbage = await fetchBytes(`${base}/ocsp/${issuerId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]),
    });
    expect(garbage.status).toBe(200);
    expect(garbage.body.equals(ocspErrorResponse('malformedRequest'))).toBe(true);
    expect(garbage.headers.get('x-certctl-ocsp-problem')).toContain('OCSPRequest');
    expect(garbage.headers.get('cache-control')).toBe('no-store');
    const empty = await fetchBytes(`${base}/ocsp/${issuerId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
    });
    expect(responseStatus(empty.body)).toBe(OCSPResponseStatus.malformedRequest);
    const notBase64 = await fetchBytes(`${base}/ocsp/${issuerId}/not*base64!`);
    expect(notBase64.status).toBe(200);
    expect(responseStatus(notBase64.body)).toBe(OCSPResponseStatus.malformedRequest);
    expect(notBase64.headers.get('x-certctl-ocsp-problem')).toContain('neither a base64');

    const wrongType = await fetchBytes(`${base}/ocsp/${issuerId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    expect(JSON.parse(wrongType.body.toString()).message).toContain('application/ocsp-request');

    const nope = await fetchBytes(`${base}/ocsp/iss-nope-${tag}/01`);
    expect(nope.status).toBe(404);
    expect(JSON.parse(nope.body.toString()).message).toContain(`iss-nope-${tag}`);
    expect((await fetchBytes(`${base}/crl/iss-nope-${tag}`)).status).toBe(404);
    await t.ds.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, $1, 'ACME', '{}')`, [`iss-acme-${tag}`]);
    const acme = await fetchBytes(`${base}/crl/iss-acme-${tag}`);
    expect(acme.status).toBe(404);
    expect(JSON.parse(acme.body.toString()).message).toContain('ACME issuer');
  });

  it('serves the CRL with ETag (304 on If-None-Match) and Cache-Control up to nextUpdate', async () => {
    const { text, res } = await crlText();
    expect(res.headers.get('content-type')).toBe('application/pkix-crl');
    expect(text).toMatch(/X509v3 CRL Number:\s+1\n/);
    expect(text).toContain('No Revoked Certificates.');
    const etag = res.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"1-[0-9a-f]{16}"$/);
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(86_000);
    expect(maxAge).toBeLessThanOrEqual(86_400);
    const again = await fetchBytes(`${base}/crl/${issuerId}`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const changed = await fetchBytes(`${base}/crl/${issuerId}`, { headers: { 'if-none-match': '"0-nope"' } });
    expect(changed.status).toBe(200);
  });

  it('revocation changes OCSP (POST, GET) and the CRL as soon as the revoke call returns', async () => {
    const before = await fetchBytes(`${base}/crl/${issuerId}`);
    const etagBefore = before.headers.get('etag') ?? '';
    await revoke(leaf.certId, 'keyCompromise');
    // Same transaction: the pre-signed responses of the serial are gone, the CRL is stale.
    const cached: unknown[] = await t.ds.query(`SELECT 1 FROM ocsp_responses WHERE serial_number = $1`, [leaf.serial]);
    expect(cached).toHaveLength(0);

    const post = await ocspCli('leaf.pem', ['-no_nonce']);
    expect(post.stdout).toContain('leaf.pem: revoked');
    expect(post.stdout).toContain('Reason: keyCompromise');
    expect(post.stderr).toContain('Response verify OK');
    const nonce = await ocspCli('leaf.pem');
    expect(nonce.stdout).toContain('leaf.pem: revoked');
    const { out } = await ocspViaGet('leaf.pem');
    expect(out).toContain('leaf.pem: revoked');
    expect((await ocspCli('other.pem')).stdout).toContain('other.pem: good');

    const { text, res } = await crlText();
    expect(res.headers.get('etag')).not.toBe(etagBefore);
    const number = Number(/X509v3 CRL Number:\s+(\d+)/.exec(text)?.[1]);
    expect(number).toBeGreaterThan(1);
    const block = text.split('Serial Number: ').find((b) => b.startsWith(leaf.serial.toUpperCase()));
    expect(block).toBeDefined();
    expect(block).toMatch(/CRL Reason Code:\s+Key Compromise/);
    const stale = await fetchBytes(`${base}/crl/${issuerId}`, { headers: { 'if-none-match': etagBefore } });
    expect(stale.status).toBe(200);

    // openssl, given the CRL, refuses the revoked leaf and accepts the other one.
    ossl.write(
      'crl.pem',
      `-----BEGIN X509 CRL-----\n${res.body.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`,
    );
    const bad = ossl.run(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'leaf.pem']);
    expect(bad.stdout + bad.stderr).toContain('certificate revoked');
    expect(ossl.ok(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'other.pem'])).toContain('OK');
  });

  it('leaves short-lived certificates out of the CRL and answers good for them even when revoked', async () => {
    await revoke(shortLived.certId, 'superseded');
    expect((await ocspCli('short.pem', ['-no_nonce'])).stdout).toContain('short.pem: good');
    const { text } = await crlText();
    expect(text.replace(/:/g, '')).not.toContain(shortLived.serial.toUpperCase());
    expect(text.replace(/:/g, '')).toContain(leaf.serial.toUpperCase());
  });

  it('signs once for concurrent misses of one serial', async () => {
    await t.ds.query(`DELETE FROM ocsp_responses`);
    ossl.ok(['ocsp', '-issuer', 'ca.pem', '-cert', 'other.pem', '-no_nonce', '-reqout', 'other-req.der']);
    const body = ossl.read('other-req.der');
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetchBytes(`${base}/ocsp/${issuerId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/ocsp-request' },
          body,
        }),
      ),
    );
    const signatures = new Set(answers.map((a) => signatureOf(a.body)));
    // ECDSA signatures are randomized: one signature means one signing.
    expect(signatures.size).toBe(1);
    const rows: unknown[] = await t.ds.query(`SELECT 1 FROM ocsp_responses WHERE serial_number = $1`, [other.serial]);
    expect(rows).toHaveLength(1);
  });

  it('the CRL loop regenerates stale CRLs and those past half their validity, with increasing CRL numbers', async () => {
    const crls = t.app.get(CrlService);
    const number = async (): Promise<number> => {
      const rows: { crl_number: string }[] = await t.ds.query(`SELECT crl_number FROM crl_cache WHERE ca_id = $1`, [
        leaf.caId,
      ]);
      return Number(rows[0].crl_number);
    };
    await crls.runLoop(); // settles whatever is due
    const n0 = await number();
    expect(await crls.runLoop()).toBe(0);
    expect(await number()).toBe(n0);
    await t.ds.query(`UPDATE crl_cache SET stale = true WHERE ca_id = $1`, [leaf.caId]);
    expect(await crls.runLoop()).toBe(1);
    expect(await number()).toBe(n0 + 1);
    await t.ds.query(
      `UPDATE crl_cache SET this_update = now() - interval '13 hours', next_update = now() + interval '11 hours' WHERE ca_id = $1`,
      [leaf.caId],
    );
    expect(await crls.runLoop()).toBe(1);
    expect(await number()).toBe(n0 + 2);
    // Concurrent regenerations in one process and across "replicas" (forced) never reuse a number.
    await Promise.all([
      crls.regenerate(leaf.caId, true),
      crls.regenerate(leaf.caId, true),
      crls.regenerate(leaf.caId, true),
    ]);
    expect(await number()).toBeGreaterThanOrEqual(n0 + 3);
  });

  it('bulk revocation invalidates the caches too', async () => {
    expect((await ocspCli('other.pem', ['-no_nonce'])).stdout).toContain('other.pem: good');
    const res = await t.http
      .post('/api/v1/certificates/bulk-revoke')
      .set('Authorization', admin)
      .send({ certificate_ids: [other.certId], reason: 'cessationOfOperation' });
    expect(res.status).toBe(200);
    expect(res.body.succeeded).toBe(1);
    const post = await ocspCli('other.pem', ['-no_nonce']);
    expect(post.stdout).toContain('other.pem: revoked');
    expect(post.stdout).toContain('Reason: cessationOfOperation');
    const { text } = await crlText();
    expect(text.replace(/:/g, '')).toContain(other.serial.toUpperCase());
  });

  it('serves an intermediate CA under its own id (the id its certificates carry)', async () => {
    const created = await t.http
      .post(`/api/v1/issuers/${issuerId}/intermediates`)
      .set('Authorization', admin)
      .send({ name: 'issuing', common_name: `Issuing ${tag}` });
    expect(created.status).toBe(201);
    const viaIca = await issueCertificate(t, admin, {
      id: `mc-pki-ica-${tag}`,
      issuerId,
      profileId: `prof-pki-${tag}`,
      commonName: 'ica.pki.example.com',
    });
    expect(viaIca.caId).toBe(created.body.id);
    expect(viaIca.caId).toMatch(/^ica-/);
    ossl.write('ica.pem', viaIca.caPem);
    ossl.write('ica-leaf.pem', viaIca.leafPem);
    const aia = ossl.ok(['x509', '-in', 'ica-leaf.pem', '-noout', '-ocsp_uri']).trim();
    expect(aia).toMatch(new RegExp(`/\\.well-known/pki/ocsp/${viaIca.caId}$`));
    const args = (extra: string[]) => [
      'ocsp',
      '-issuer',
      'ica.pem',
      '-cert',
      'ica-leaf.pem',
      '-CAfile',
      'ca.pem',
      '-verify_other',
      'ica.pem',
      '-url',
      `${base}/ocsp/${viaIca.caId}`,
      ...extra,
    ];
    const good = await opensslAsync(ossl.dir, args([]));
    expect(good.stdout).toContain('ica-leaf.pem: good');
    expect(good.stderr).toContain('Response verify OK');
    // The root's URL does not answer for the intermediate's certificates.
    const wrong = await opensslAsync(ossl.dir, [...args([]).slice(0, -2), '-url', `${base}/ocsp/${issuerId}`]);
    expect(wrong.stdout + wrong.stderr).toMatch(/unauthorized/);
    await revoke(viaIca.certId, 'affiliationChanged');
    const revoked = await opensslAsync(ossl.dir, args(['-no_nonce']));
    expect(revoked.stdout).toContain('ica-leaf.pem: revoked');
    const crl = await fetchBytes(`${base}/crl/${viaIca.caId}`);
    expect(crl.status).toBe(200);
    ossl.write('ica-crl.der', crl.body);
    const text = ossl.ok(['crl', '-inform', 'DER', '-in', 'ica-crl.der', '-noout', '-text']);
    expect(text.replace(/:/g, '')).toContain(viaIca.serial.toUpperCase());
    expect(text).toMatch(/CRL Reason Code:\s+Affiliation Changed/);
    // The root's CRL lists what the root signed only.
    const rootCrl = await fetchBytes(`${base}/crl/${issuerId}`);
    ossl.write('root-crl.der', rootCrl.body);
    const rootText = ossl.ok(['crl', '-inform', 'DER', '-in', 'root-crl.der', '-noout', '-text']);
    expect(rootText.replace(/:/g, '')).not.toContain(viaIca.serial.toUpperCase());
  });

  describe('a second replica on the same database with an OCSP rate limit', () => {
    let t2: TestApp;
    let base2: string;
    beforeAll(async () => {
      t2 = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: '3' });
      base2 = `http://127.0.0.1:${await listenOnLoopback(t2)}/.well-known/pki`;
    });
    afterAll(async () => {
      await t2.close();
    });

    it('uses the responder and caches the first replica stored, and answers 429 over the limit', async () => {
      const first = await fetchBytes(`${base2}/ocsp/${issuerId}/${leaf.serial}`);
      ossl.write('r2.der', first.body);
      const check = checkResponse('r2.der', 'leaf.pem');
      expect(check.stdout).toContain('leaf.pem: revoked');
      expect(check.stderr).toContain('Response verify OK');
      // One delegated responder per CA, shared by the replicas.
      const responders: unknown[] = await t.ds.query(`SELECT 1 FROM ocsp_responders WHERE ca_id = $1`, [leaf.caId]);
      expect(responders).toHaveLength(1);
      await fetchBytes(`${base2}/ocsp/${issuerId}/${leaf.serial}`);
      await fetchBytes(`${base2}/ocsp/${issuerId}/${leaf.serial}`);
      const limited = await eventually(async () => {
        const r = await fetchBytes(`${base2}/ocsp/${issuerId}/${leaf.serial}`);
        return r.status === 429 ? r : undefined;
      });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(JSON.parse(limited.body.toString()).message).toContain('OCSP rate limit');
      // The CRL is not counted.
      expect((await fetchBytes(`${base2}/crl/${issuerId}`)).status).toBe(200);
    });
  });
});
