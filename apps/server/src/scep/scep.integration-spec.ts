import 'reflect-metadata';
import { chmodSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pemToDers } from '@certctl/pki';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  issuerAndSerial,
  issuerAndSubject,
  makeDevice,
  pkiMessage,
  readCertRep,
  type ReadCertRep,
  type ScepDevice,
} from '../../../../e2e/support/scep-messages';
import { createLocalCaIssuer, createProfile, ISSUING_ENV } from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { CaStore } from '../ca/ca-store';
import { AppConfig, ConfigError, loadConfig } from '../config/config.schema';
import { RedisService } from '../redis/redis.service';
import { SecretBox } from '../secrets/secret-box';
import { ScepRaService } from './scep-ra.service';
import { DataSource } from 'typeorm';

const CHALLENGE = 'scep-static-challenge-1';
const AES_256 = '2.16.840.1.101.3.4.1.42';
const DES_EDE3 = '1.2.840.113549.3.7';
const SUCCESS = '0';
const FAILURE = '2';
const PENDING = '3';

describe('SCEP server (RFC 8894) in-process', () => {
  const tag = randomBytes(3).toString('hex');
  const ids = {
    issuer: `iss-scep-${tag}`,
    rsaIssuer: `iss-scep-rsa-${tag}`,
    profile: `prof-scep-${tag}`,
    gated: `prof-scep-gated-${tag}`,
  };
  const ossl = new OpensslDir();
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let approver: string;
  let env: Record<string, string>;
  let raDer: Buffer;

  const rsaProfile = (id: string, extra: Record<string, unknown> = {}) =>
    createProfile(t, admin, id, null, 30 * 86_400, {
      allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 2048 }],
      ...extra,
    });

  async function post(path: string, der: Buffer): Promise<{ status: number; body: Buffer; type: string }> {
    const res = await t.http
      .post(path)
      .set('Content-Type', 'application/octet-stream')
      .send(der)
      .buffer(true)
      .parse(binary);
    return { status: res.status, body: res.body as Buffer, type: String(res.headers['content-type']) };
  }

  async function raOf(path: string): Promise<Buffer> {
    const res = await t.http.get(`${path}?operation=GetCACert`).buffer(true).parse(binary);
    expect(res.status).toBe(200);
    const body = res.body as Buffer;
    if (String(res.headers['content-type']).startsWith('application/x-x509-ca-cert')) return body;
    ossl.write('ca-ra.p7b', body);
    return Buffer.from(
      pemToDers(ossl.ok(['pkcs7', '-inform', 'DER', '-in', 'ca-ra.p7b', '-print_certs']), ['CERTIFICATE'], 'p7')[0],
    );
  }

  /** Sends a PKIMessage to `path` and reads the CertRep (HTTP 200 expected). */
  async function operation(
    path: string,
    ra: Buffer,
    msg: { der: Buffer; senderNonce: Buffer },
    recipient: { certDer: Uint8Array; keyFile: string },
  ): Promise<ReadCertRep> {
    const res = await post(`${path}?operation=PKIOperation`, msg.der);
    expect({ status: res.status, type: res.type }).toEqual({ status: 200, type: 'application/x-pki-message' });
    const rep = readCertRep(ossl, res.body, ra, recipient);
    expect(rep.messageType).toBe('3');
    expect(rep.recipientNonce.equals(msg.senderNonce)).toBe(true);
    return rep;
  }

  const selfOf = (d: ScepDevice) => ({ certDer: d.selfDer, keyFile: ossl.path(`${d.name}.key`) });
  const pkcsReq = (d: ScepDevice, txid: string, ra = raDer, cipher?: 'AES-128-CBC' | 'DES-EDE3-CBC') =>
    pkiMessage({ raCertDer: ra, messageType: 19, transactionId: txid, content: d.csrDer, signer: { certDer: d.selfDer, key: d.key }, cipher }); // prettier-ignore

  const auditRows = (action: string, txid: string) =>
    t.ds.query<{ actor: string; actor_type: string; details: Record<string, unknown> }[]>(
      `SELECT actor, actor_type, details FROM audit_events WHERE action = $1 AND details->>'transaction_id' = $2`,
      [action, txid],
    );

  beforeAll(async () => {
    db = await createPrivateDatabase(`scep_${tag}`);
    // The Intune label needs a trust anchor that loads; the tokens sent here never verify against it.
    ossl.ok(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'intune.key',
      '-out', 'intune-anchor.pem', '-subj', '/CN=intune test anchor', '-days', '2']); // prettier-ignore
    env = {
      ...db.env,
      ...ISSUING_ENV,
      CERTCTL_SCEP_ENABLED: 'true',
      CERTCTL_SCEP_CHALLENGE_PASSWORD: CHALLENGE,
      CERTCTL_SCEP_ISSUER_ID: ids.issuer,
      CERTCTL_SCEP_PROFILE_ID: ids.profile,
      CERTCTL_SCEP_PROFILES: 'rsa,gated,intune,later',
      CERTCTL_SCEP_PROFILE_LATER_ISSUER_ID: ids.issuer,
      CERTCTL_SCEP_PROFILE_LATER_PROFILE_ID: `prof-scep-later-${tag}`,
      CERTCTL_SCEP_PROFILE_LATER_CHALLENGE_PASSWORD: CHALLENGE,
      CERTCTL_SCEP_PROFILE_RSA_ISSUER_ID: ids.rsaIssuer,
      CERTCTL_SCEP_PROFILE_RSA_PROFILE_ID: ids.profile,
      CERTCTL_SCEP_PROFILE_RSA_CHALLENGE_PASSWORD: CHALLENGE,
      CERTCTL_SCEP_PROFILE_GATED_ISSUER_ID: ids.issuer,
      CERTCTL_SCEP_PROFILE_GATED_PROFILE_ID: ids.gated,
      CERTCTL_SCEP_PROFILE_GATED_CHALLENGE_PASSWORD: CHALLENGE,
      CERTCTL_SCEP_PROFILE_INTUNE_ISSUER_ID: ids.issuer,
      CERTCTL_SCEP_PROFILE_INTUNE_PROFILE_ID: ids.profile,
      CERTCTL_SCEP_PROFILE_INTUNE_CHALLENGE_PASSWORD: CHALLENGE,
      CERTCTL_SCEP_PROFILE_INTUNE_INTUNE_ENABLED: 'true',
      CERTCTL_SCEP_PROFILE_INTUNE_INTUNE_TRUST_ANCHOR_PATH: ossl.path('intune-anchor.pem'),
      CERTCTL_SCEP_PROFILE_INTUNE_INTUNE_AUDIENCE: 'certctl-test',
    };
    t = await createTestApp(env);
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    approver = `Bearer ${(await t.mintKey(['admin'], 'approver')).key}`;
    await createLocalCaIssuer(t, admin, ids.issuer);
    const rsa = await t.http
      .post('/api/v1/issuers')
      .set('Authorization', admin)
      .send({ id: ids.rsaIssuer, name: ids.rsaIssuer, type: 'LocalCA', config: { key_algorithm: 'RSA-2048' } });
    expect(rsa.status).toBe(201);
    await rsaProfile(ids.profile);
    await rsaProfile(ids.gated, { requires_approval: true });
    raDer = await raOf('/scep');
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    ossl.remove();
  });

  it('routes GetCACaps on /scep and /scep/{label}, GET and POST, with or without a trailing slash', async () => {
    for (const path of ['/scep', '/scep/', '/scep/rsa', '/scep/rsa/']) {
      for (const method of ['get', 'post'] as const) {
        const res = await t.http[method](`${path}?operation=GetCACaps`);
        expect({ path, method, status: res.status, type: res.headers['content-type'] }).toEqual({
          path,
          method,
          status: 200,
          type: expect.stringMatching(/^text\/plain/),
        });
        expect(res.text.trim().split('\n')).toEqual([
          'POSTPKIOperation',
          'SHA-256',
          'SHA-512',
          'AES',
          'SCEPStandard',
          'Renewal',
        ]);
      }
    }
    const unknown = await t.http.get('/scep/nope?operation=GetCACaps');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('no SCEP label "nope"');
    const op = await t.http.get('/scep?operation=GetNextCACert');
    expect(op.status).toBe(400);
    expect(op.text).toContain('unsupported SCEP operation "GetNextCACert"');
    expect((await t.http.get('/scep')).status).toBe(400);
    const doc = await t.http.get('/api/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys((doc.body as { paths: object }).paths).filter((p) => p.startsWith('/scep'))).toEqual([]);
  });

  it('serves an RSA RA issued by the ECDSA Local CA alone as DER, and RA + RSA CA as a PKCS#7; replicas share the RA', async () => {
    const ra = new x509.X509Certificate(raDer);
    expect(ra.publicKey.algorithm.name).toBe('RSASSA-PKCS1-v1_5');
    const ku = ra.getExtension(x509.KeyUsagesExtension);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    const caPem: { cert_pem: string }[] = await t.ds.query(
      `SELECT cert_pem FROM issuer_cas WHERE issuer_id = $1 AND parent_id IS NULL`,
      [ids.issuer],
    );
    ossl.write('ca-default.pem', caPem[0].cert_pem);
    ossl.write('ra-default.der', raDer);
    ossl.ok(['x509', '-inform', 'DER', '-in', 'ra-default.der', '-out', 'ra-default.pem']);
    expect(ossl.ok(['verify', '-CAfile', 'ca-default.pem', 'ra-default.pem'])).toContain(': OK');

    const rsa = await t.http.get('/scep/rsa?operation=GetCACert').buffer(true).parse(binary);
    expect(rsa.status).toBe(200);
    expect(rsa.headers['content-type']).toMatch(/^application\/x-x509-ca-ra-cert/);
    ossl.write('rsa.p7b', rsa.body as Buffer);
    const subjects = [
      ...ossl.ok(['pkcs7', '-inform', 'DER', '-in', 'rsa.p7b', '-print_certs']).matchAll(/^subject=(.*)$/gm),
    ];
    expect(subjects.map((m) => m[1])).toEqual([`CN = certctl SCEP RA rsa`, `CN = certctl Local CA ${ids.rsaIssuer}`]);

    const replica = await createTestApp(env);
    try {
      const again = await replica.http.get('/scep?operation=GetCACert').buffer(true).parse(binary);
      expect((again.body as Buffer).equals(raDer)).toBe(true);
    } finally {
      await replica.close();
    }
    const rows: { n: string }[] = await t.ds.query(`SELECT count(*) AS n FROM scep_ra_keys`);
    expect(Number(rows[0].n)).toBe(2);
  });

  let enrolled: { device: ScepDevice; leafDer: Buffer; txid: string; certId: string };

  it('PKCSReq with the challenge: SUCCESS with the issued certificate (3DES reply to a 3DES request), audited as SCEP', async () => {
    const device = makeDevice(ossl, 'dev1', 'dev1.example.com', CHALLENGE);
    const txid = `tx-ok-${tag}`;
    const msg = pkcsReq(device, txid, raDer, 'DES-EDE3-CBC');
    const rep = await operation('/scep', raDer, msg, selfOf(device));
    expect(rep).toMatchObject({ pkiStatus: SUCCESS, transactionId: txid, cipherOid: DES_EDE3 });
    expect(rep.certsPem).toHaveLength(1); // under a root CA the chain stored with the certificate is empty
    ossl.write('dev1.pem', rep.certsPem[0]);
    expect(ossl.ok(['x509', '-in', 'dev1.pem', '-noout', '-subject'])).toContain('CN = dev1.example.com');
    expect(ossl.ok(['verify', '-CAfile', 'ca-default.pem', 'dev1.pem'])).toContain(': OK');
    const requested = await auditRows('enrollment_requested', txid);
    expect(requested).toEqual([
      expect.objectContaining({
        actor: 'scep:default',
        actor_type: 'Device',
        details: expect.objectContaining({ protocol: 'SCEP', label: '', kind: 'enroll' }),
      }),
    ]);
    const certId: string = (
      await t.ds.query<{ certificate_id: string }[]>(
        `SELECT certificate_id FROM enrollment_requests WHERE transaction_id = $1`,
        [txid],
      )
    )[0].certificate_id;
    enrolled = { device, leafDer: Buffer.from(pemToDers(rep.certsPem[0], ['CERTIFICATE'], 'leaf')[0]), txid, certId };

    // The same message again is a replay.
    const replay = await operation('/scep', raDer, msg, selfOf(device));
    expect(replay).toMatchObject({ pkiStatus: FAILURE, failInfo: 'badRequest' });
    expect(await auditRows('enrollment_rejected', txid)).toEqual([
      expect.objectContaining({
        details: expect.objectContaining({ protocol: 'SCEP', reason: expect.stringContaining('replayed') }),
      }),
    ]);
  });

  it('GET PKIOperation with URL-safe base64, AES-256 reply to an AES request', async () => {
    const device = makeDevice(ossl, 'dev2', 'dev2.example.com', CHALLENGE);
    const msg = pkcsReq(device, `tx-get-${tag}`);
    const b64 = msg.der.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const res = await t.http.get(`/scep?operation=PKIOperation&message=${b64}`).buffer(true).parse(binary);
    expect(res.status).toBe(200);
    const rep = readCertRep(ossl, res.body as Buffer, raDer, selfOf(device));
    expect(rep).toMatchObject({ pkiStatus: SUCCESS, cipherOid: AES_256 });
  });

  it('wrong or missing challenge: FAILURE badRequest, each rejection audited with its reason', async () => {
    const wrong = makeDevice(ossl, 'bad1', 'bad1.example.com', 'not-the-challenge');
    const r1 = await operation('/scep', raDer, pkcsReq(wrong, `tx-wrong-${tag}`), selfOf(wrong));
    expect(r1).toMatchObject({ pkiStatus: FAILURE, failInfo: 'badRequest', certsPem: [] });
    const none = makeDevice(ossl, 'bad2', 'bad2.example.com');
    const r2 = await operation('/scep', raDer, pkcsReq(none, `tx-none-${tag}`), selfOf(none));
    expect(r2).toMatchObject({ pkiStatus: FAILURE, failInfo: 'badRequest' });
    expect((await auditRows('enrollment_rejected', `tx-wrong-${tag}`))[0].details).toMatchObject({
      protocol: 'SCEP',
      reason: 'wrong challengePassword',
      message_type: 'PKCSReq',
    });
    expect((await auditRows('enrollment_rejected', `tx-none-${tag}`))[0].details.reason).toBe(
      'the CSR carries no challengePassword',
    );
    const issued: { n: string }[] = await t.ds.query(
      `SELECT count(*) AS n FROM enrollment_requests WHERE transaction_id IN ($1, $2)`,
      [`tx-wrong-${tag}`, `tx-none-${tag}`],
    );
    expect(Number(issued[0].n)).toBe(0);
  });

  it('a label with Intune and a static challenge sends JWS-shaped challenges to Intune and others to the static compare', async () => {
    const raIntune = await raOf('/scep/intune');
    const jws = makeDevice(ossl, 'jws', 'jws.example.com', 'eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln');
    const r1 = await operation('/scep/intune', raIntune, pkcsReq(jws, `tx-jws-${tag}`, raIntune), selfOf(jws));
    expect(r1).toMatchObject({ pkiStatus: FAILURE, failInfo: 'badRequest' });
    expect((await auditRows('enrollment_rejected', `tx-jws-${tag}`))[0].details.reason).toMatch(
      /^Intune challenge rejected: /,
    );
    const plain = makeDevice(ossl, 'plain', 'plain.example.com', CHALLENGE);
    const r2 = await operation('/scep/intune', raIntune, pkcsReq(plain, `tx-plain-${tag}`, raIntune), selfOf(plain));
    expect(r2.pkiStatus).toBe(SUCCESS);
  });

  it('RenewalReq signed by the issued certificate gets a new certificate; a foreign self-signed signer gets FAILURE', async () => {
    const { device, leafDer, txid, certId } = enrolled;
    const msg = pkiMessage({ raCertDer: raDer, messageType: 17, transactionId: txid, content: device.csrDer, signer: { certDer: leafDer, key: device.key } }); // prettier-ignore
    const rep = await operation('/scep', raDer, msg, { certDer: leafDer, keyFile: ossl.path('dev1.key') });
    expect(rep.pkiStatus).toBe(SUCCESS);
    const renewed = Buffer.from(pemToDers(rep.certsPem[0], ['CERTIFICATE'], 'renewed')[0]);
    expect(renewed.equals(leafDer)).toBe(false);
    const versions: { n: string }[] = await t.ds.query(
      `SELECT count(*) AS n FROM certificate_versions WHERE certificate_id = $1`,
      [certId],
    );
    expect(Number(versions[0].n)).toBe(2);

    const foreign = makeDevice(ossl, 'foreign', 'dev1.example.com');
    const bad = pkiMessage({ raCertDer: raDer, messageType: 17, transactionId: `tx-foreign-${tag}`, content: foreign.csrDer, signer: { certDer: foreign.selfDer, key: foreign.key } }); // prettier-ignore
    const refused = await operation('/scep', raDer, bad, selfOf(foreign));
    expect(refused).toMatchObject({ pkiStatus: FAILURE, failInfo: 'badRequest' });
    expect((await auditRows('enrollment_rejected', `tx-foreign-${tag}`))[0].details.reason).toContain(
      'not signed by a certificate certctl issued',
    );
  });

  it('GetCertInitial, GetCert and GetCRL', async () => {
    const { device, leafDer, txid } = enrolled;
    const signer = { certDer: device.selfDer, key: device.key };
    const poll = pkiMessage({ raCertDer: raDer, messageType: 20, transactionId: txid, content: issuerAndSubject('CA', 'dev1.example.com'), signer }); // prettier-ignore
    const polled = await operation('/scep', raDer, poll, selfOf(device));
    expect(polled.pkiStatus).toBe(SUCCESS);
    expect(polled.certsPem[0]).toBe(ossl.read('dev1.pem').toString());
    const unknown = pkiMessage({ raCertDer: raDer, messageType: 20, transactionId: `tx-unknown-${tag}`, content: issuerAndSubject('CA', 'x'), signer }); // prettier-ignore
    expect(await operation('/scep', raDer, unknown, selfOf(device))).toMatchObject({
      pkiStatus: FAILURE,
      failInfo: 'badCertId',
    });

    const leaf = new x509.X509Certificate(leafDer);
    const issuerDer = Buffer.from(pemToDers(ossl.read('ca-default.pem').toString(), ['CERTIFICATE'], 'ca')[0]);
    const caSubject = new x509.X509Certificate(issuerDer).subjectName.toArrayBuffer();
    const get = pkiMessage({ raCertDer: raDer, messageType: 21, transactionId: `tx-get-${tag}-2`, content: issuerAndSerial(new Uint8Array(caSubject), leaf.serialNumber), signer }); // prettier-ignore
    const got = await operation('/scep', raDer, get, selfOf(device));
    expect(got.pkiStatus).toBe(SUCCESS);
    expect(got.certsPem[0]).toBe(ossl.read('dev1.pem').toString());
    const missing = pkiMessage({ raCertDer: raDer, messageType: 21, transactionId: `tx-miss-${tag}`, content: issuerAndSerial(new Uint8Array(caSubject), '7f0102'), signer }); // prettier-ignore
    expect(await operation('/scep', raDer, missing, selfOf(device))).toMatchObject({
      pkiStatus: FAILURE,
      failInfo: 'badCertId',
    });

    const crlReq = pkiMessage({ raCertDer: raDer, messageType: 22, transactionId: `tx-crl-${tag}`, content: issuerAndSerial(new Uint8Array(caSubject), leaf.serialNumber), signer }); // prettier-ignore
    const crl = await operation('/scep', raDer, crlReq, selfOf(device));
    expect(crl.pkiStatus).toBe(SUCCESS);
    expect(crl.printed).toContain('-----BEGIN X509 CRL-----');
    ossl.write(
      'got.crl',
      /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n/.exec(crl.printed ?? '')?.[0] ?? '',
    );
    expect(ossl.run(['crl', '-in', 'got.crl', '-CAfile', 'ca-default.pem', '-noout']).stderr).toContain('verify OK');
  });

  it('deferred issuance: PENDING, resends and GetCertInitial stay PENDING until another actor approves, then SUCCESS; rejection gives FAILURE', async () => {
    const raGated = await raOf('/scep/gated');
    const device = makeDevice(ossl, 'gated1', 'gated1.example.com', CHALLENGE);
    const txid = `tx-gated-${tag}`;
    const msg = pkcsReq(device, txid, raGated);
    expect((await operation('/scep/gated', raGated, msg, selfOf(device))).pkiStatus).toBe(PENDING);
    // scepclient resends the identical message: allowed (it only reads the state), still pending.
    expect((await operation('/scep/gated', raGated, msg, selfOf(device))).pkiStatus).toBe(PENDING);
    const poll = pkiMessage({ raCertDer: raGated, messageType: 20, transactionId: txid, content: issuerAndSubject('CA', 'gated1.example.com'), signer: { certDer: device.selfDer, key: device.key } }); // prettier-ignore
    expect((await operation('/scep/gated', raGated, poll, selfOf(device))).pkiStatus).toBe(PENDING);

    const approval = await eventually(async () => {
      const rows: { id: string }[] = await t.ds.query(
        `SELECT a.id FROM approval_requests a JOIN enrollment_requests r ON r.job_id = a.job_id WHERE r.transaction_id = $1`,
        [txid],
      );
      return rows[0];
    });
    const ok = await t.http
      .post(`/api/v1/approvals/${approval.id}/approve`)
      .set('Authorization', approver)
      .send({ note: 'ok' });
    expect(ok.status).toBe(200);
    const done = await eventually(async () => {
      const rep = await operation('/scep/gated', raGated, msg, selfOf(device));
      if (rep.pkiStatus === PENDING) {
        // A resend answered PENDING stays allowed; wait for the worker to issue.
        await new Promise((r) => setTimeout(r, 200));
        return undefined;
      }
      return rep;
    }, 30_000);
    expect(done.pkiStatus).toBe(SUCCESS);
    ossl.write('gated1.pem', done.certsPem[0]);
    expect(ossl.ok(['x509', '-in', 'gated1.pem', '-noout', '-subject'])).toContain('gated1.example.com');
    // Decided: the same bytes are now a replay.
    expect(await operation('/scep/gated', raGated, msg, selfOf(device))).toMatchObject({
      pkiStatus: FAILURE,
      failInfo: 'badRequest',
    });

    const other = makeDevice(ossl, 'gated2', 'gated2.example.com', CHALLENGE);
    const msg2 = pkcsReq(other, `tx-gated2-${tag}`, raGated);
    expect((await operation('/scep/gated', raGated, msg2, selfOf(other))).pkiStatus).toBe(PENDING);
    const ap2 = await eventually(async () => {
      const rows: { id: string }[] = await t.ds.query(
        `SELECT a.id FROM approval_requests a JOIN enrollment_requests r ON r.job_id = a.job_id WHERE r.transaction_id = $1`,
        [`tx-gated2-${tag}`],
      );
      return rows[0];
    });
    const no = await t.http
      .post(`/api/v1/approvals/${ap2.id}/reject`)
      .set('Authorization', approver)
      .send({ note: 'no' });
    expect(no.status).toBe(200);
    expect(await operation('/scep/gated', raGated, msg2, selfOf(other))).toMatchObject({
      pkiStatus: FAILURE,
      failInfo: 'badRequest',
    });
  });

  it('broken messages: garbage is HTTP 400 text; a valid message for another RA is FAILURE badMessageCheck', async () => {
    const garbage = await post('/scep?operation=PKIOperation', Buffer.from('definitely not DER'));
    expect(garbage.status).toBe(400);
    expect(garbage.body.toString()).toContain('invalid SCEP PKIMessage');
    const empty = await post('/scep?operation=PKIOperation', Buffer.alloc(0));
    expect(empty.status).toBe(400);
    const rsaRa = await raOf('/scep/rsa');
    const device = makeDevice(ossl, 'dev3', 'dev3.example.com', CHALLENGE);
    const misdirected = pkcsReq(device, `tx-misdirected-${tag}`, rsaRa);
    expect(await operation('/scep', raDer, misdirected, selfOf(device))).toMatchObject({
      pkiStatus: FAILURE,
      failInfo: 'badMessageCheck',
    });
  });

  it('refuses to boot: SCEP without a challenge (ConfigError naming CERTCTL_SCEP_CHALLENGE_PASSWORD), an RA key file others can read', async () => {
    expect(() => loadConfig({ ...env, CERTCTL_SCEP_CHALLENGE_PASSWORD: '' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, CERTCTL_SCEP_CHALLENGE_PASSWORD: '' })).toThrow(
      /CERTCTL_SCEP_CHALLENGE_PASSWORD/,
    );

    ossl.ok(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ra-file.key', '-out', 'ra-file.pem', '-subj', '/CN=file RA', '-days', '2']); // prettier-ignore
    const withFiles = (mode: number) => {
      chmodSync(ossl.path('ra-file.key'), mode);
      const config = loadConfig({
        ...env,
        CERTCTL_SCEP_RA_CERT_PATH: ossl.path('ra-file.pem'),
        CERTCTL_SCEP_RA_KEY_PATH: ossl.path('ra-file.key'),
      });
      return new ScepRaService(config, t.app.get(DataSource), t.app.get(SecretBox), t.app.get(CaStore));
    };
    const loose = withFiles(0o644);
    await expect(loose.onModuleInit()).rejects.toThrow(ConfigError);
    await expect(loose.onModuleInit()).rejects.toThrow(/CERTCTL_SCEP_RA_KEY_PATH .* has mode 644/);
    const strict = withFiles(0o600);
    await strict.onModuleInit();
    const label = t.app.get(AppConfig).enrollment.scep.labels[0];
    const served = await strict.caCertResponse(label);
    expect(served.contentType).toBe('application/x-x509-ca-cert');
    expect(new x509.X509Certificate(served.body).subject).toBe('CN=file RA');
  });

  it('a message that fails on our side (503) is not remembered: its identical retry is processed', async () => {
    const raLater = await raOf('/scep/later');
    const device = makeDevice(ossl, 'later', 'later.example.com', CHALLENGE);
    const msg = pkcsReq(device, `tx-later-${tag}`, raLater);
    const first = await post('/scep/later?operation=PKIOperation', msg.der);
    expect(first.status).toBe(503);
    expect(first.body.toString()).toContain(`profile prof-scep-later-${tag} does not exist`);
    await rsaProfile(`prof-scep-later-${tag}`);
    expect((await operation('/scep/later', raLater, msg, selfOf(device))).pkiStatus).toBe(SUCCESS);
  });

  it('without Redis the replay check fails closed: HTTP 503 with a message', async () => {
    const redis = t.app.get(RedisService);
    const device = makeDevice(ossl, 'dev4', 'dev4.example.com', CHALLENGE);
    redis.client.disconnect();
    try {
      const res = await post('/scep?operation=PKIOperation', pkcsReq(device, `tx-noredis-${tag}`).der);
      expect(res.status).toBe(503);
      expect(res.body.toString()).toContain('replay protection cannot reach Redis');
    } finally {
      await redis.client.connect();
    }
  });

  it('GET /api/v1/admin/scep/profiles lists every label with its RA certificate, no secrets (scep.admin)', async () => {
    const res = await t.http.get('/api/v1/admin/scep/profiles').set('Authorization', admin);
    expect(res.status).toBe(200);
    expect(res.body.enabled).toBe(true);
    const byLabel = new Map(
      (res.body.data as { label: string; ra_certificate: { fingerprint_sha256: string } }[]).map((p) => [p.label, p]),
    );
    expect([...byLabel.keys()].sort()).toEqual(['', 'gated', 'intune', 'later', 'rsa']);
    const fingerprint = (der: Buffer) => createHash('sha256').update(der).digest('hex');
    expect(byLabel.get('')).toEqual({
      label: '',
      path: '/scep',
      issuer_id: ids.issuer,
      profile_id: ids.profile,
      challenge: 'static',
      intune_audience: null,
      ra_certificate: {
        subject: 'CN=certctl SCEP RA default',
        serial_number: expect.stringMatching(/^[0-9A-F]+$/),
        not_before: expect.any(String),
        not_after: expect.any(String),
        fingerprint_sha256: fingerprint(raDer),
        source: 'generated',
      },
      ra_error: null,
    });
    expect(byLabel.get('rsa')).toMatchObject({ path: '/scep/rsa', issuer_id: ids.rsaIssuer });
    expect(byLabel.get('rsa')?.ra_certificate.fingerprint_sha256).toBe(fingerprint(await raOf('/scep/rsa')));
    expect(byLabel.get('intune')).toMatchObject({
      path: '/scep/intune',
      challenge: 'static+intune',
      intune_audience: 'certctl-test',
    });
    // Configuration, not credentials: the challenge password appears nowhere.
    expect(res.text).not.toContain(CHALLENGE);

    const viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    expect((await t.http.get('/api/v1/admin/scep/profiles').set('Authorization', viewer)).status).toBe(403);
  });

  it('SCEP disabled: /scep is 404 with a message, and the admin list says so', async () => {
    const off = await createTestApp({ ...db.env, ...ISSUING_ENV });
    try {
      const res = await off.http.get('/scep?operation=GetCACaps');
      expect(res.status).toBe(404);
      expect(res.text).toContain('SCEP is not enabled');
      const list = await off.http.get('/api/v1/admin/scep/profiles').set('Authorization', admin);
      expect(list.status).toBe(200);
      expect(list.body).toEqual({ enabled: false, data: [] });
    } finally {
      await off.close();
    }
  });
});

/** supertest body parser keeping the bytes. */
function binary(res: import('supertest').Response, cb: (err: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => cb(null, Buffer.concat(chunks)));
}
