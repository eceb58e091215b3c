import 'reflect-metadata';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as asn1js from 'asn1js';
import * as x509 from '@peculiar/x509';
import {
  buildCsr,
  createSelfSignedTlsBundle,
  ensureCryptoProvider,
  exportPrivateKeyPem,
  generateKeyPair,
  type CryptoKeyPair,
} from '@certctl/pki';
import { makeCa, makeServerCert, openssl, type CertFiles } from '../../../../e2e/support/openssl';
import {
  asn1,
  b64d,
  certsOfPkcs7,
  channelBinding,
  connectEst,
  estCall,
  multipartParts,
  type EstCall,
  type EstResponse,
} from '../../../../e2e/support/est-client';
import {
  createLocalCaIssuer,
  createProfile,
  opensslAsync,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';
import { hashEnrollmentPasswordSync } from '../enrollment/enrollment-password';

/**
 * EST over the real TLS listener, in-process (real Postgres and Redis): every route with
 * Basic, client-certificate and re-enrollment authentication, the brute-force lockout,
 * RFC 9266 channel binding on the connection that carries the CSR, the approval gate
 * (202 then 200 once a second actor approves), and serverkeygen with plain and encrypted keys.
 */
describe('EST server (RFC 7030) over TLS', () => {
  let t: TestApp;
  let port: number;
  let tlsCa: string;
  let dir: string;
  let device: CertFiles;
  let foreign: CertFiles;
  let rsaClient: CertFiles;
  let caPem: string;
  const tag = Date.now().toString(36);
  const issuerId = `iss-est-${tag}`;
  const openProfile = `prof-est-open-${tag}`;
  const gatedProfile = `prof-est-gated-${tag}`;
  const USER = 'device-enroller';
  const PASSWORD = 'est-enrollment-pw-1';
  const basic = { user: USER, password: PASSWORD };

  beforeAll(async () => {
    ensureCryptoProvider();
    dir = mkdtempSync(join(tmpdir(), 'certctl-est-'));
    const deviceCa = await makeCa(dir, 'EST device manufacturer CA');
    device = await makeServerCert(dir, deviceCa, 'device');
    const foreignDir = mkdtempSync(join(dir, 'foreign-'));
    foreign = await makeServerCert(foreignDir, await makeCa(foreignDir, 'Foreign CA'), 'foreign');
    rsaClient = { cert: join(dir, 'rsa.pem'), key: join(dir, 'rsa.key') };
    await openssl([
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', rsaClient.key, '-out', rsaClient.cert,
      '-days', '1', '-subj', '/CN=rsa-client',
    ]); // prettier-ignore

    const bundle = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    tlsCa = bundle.caCertPem;
    const label = (l: string, profile: string, extra: Record<string, string> = {}) => {
      const p = `CERTCTL_EST_PROFILE_${l.toUpperCase()}_`;
      return Object.fromEntries(
        Object.entries({ ISSUER_ID: issuerId, PROFILE_ID: profile, USERNAME: USER, ...extra }).map(([k, v]) => [
          p + k,
          v,
        ]),
      );
    };
    const hash = hashEnrollmentPasswordSync(PASSWORD);
    t = await createTestApp(
      {
        ...SEALING_ENV,
        CERTCTL_EST_ENABLED: 'true',
        CERTCTL_EST_ISSUER_ID: issuerId,
        CERTCTL_EST_PROFILE_ID: openProfile,
        CERTCTL_EST_USERNAME: USER,
        // The plain form: hashed at boot and dropped.
        CERTCTL_EST_PASSWORD: PASSWORD,
        CERTCTL_EST_AUTH_MAX_FAILURES: '3',
        CERTCTL_EST_AUTH_LOCKOUT: '60s',
        CERTCTL_EST_PROFILES: 'mtls,cb,gated,rename,either',
        ...label('mtls', openProfile, { AUTH: 'mtls', TRUST_BUNDLE_PATH: deviceCa.cert }),
        ...label('cb', openProfile, { PASSWORD_HASH: hash, CHANNEL_BINDING: 'true' }),
        ...label('gated', gatedProfile, { PASSWORD_HASH: hash }),
        ...label('rename', openProfile, { PASSWORD_HASH: hash, ALLOW_NAME_CHANGE: 'true' }),
        ...label('either', openProfile, { AUTH: 'either', PASSWORD_HASH: hash, TRUST_BUNDLE_PATH: deviceCa.cert }),
      },
      { tls: { key: bundle.keyPem, cert: bundle.certPem, ca: bundle.caCertPem } },
    );
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, openProfile, 'est.example', 86_400);
    await createProfile(t, admin, gatedProfile, 'est.example', 86_400, { requires_approval: true });
    const cacerts = await get('/.well-known/est/cacerts');
    expect(cacerts.status).toBe(200);
    caPem = certsOfPkcs7(b64d(cacerts.body))[0].toString();
  });

  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (o: Omit<EstCall, 'port' | 'ca'>): Promise<EstResponse> => estCall({ port, ca: tlsCa, ...o });
  const get = (path: string) => call({ method: 'GET', path });
  const files = (c: CertFiles) => ({ cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') });

  interface Csr {
    der: Buffer;
    keys: CryptoKeyPair;
  }

  async function makeCsr(
    cn: string,
    o: { dns?: string[]; keys?: CryptoKeyPair; attributes?: x509.Attribute[] } = {},
  ): Promise<Csr> {
    const keys = o.keys ?? (await generateKeyPair('ECDSA-P256'));
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${cn}`,
      keys: keys as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
      extensions: o.dns?.length
        ? [new x509.SubjectAlternativeNameExtension(o.dns.map((value) => ({ type: 'dns' as const, value })))]
        : [],
      attributes: o.attributes ?? [],
    });
    return { der: Buffer.from(req.rawData), keys };
  }

  const pkcs10 = { 'Content-Type': 'application/pkcs10', 'Content-Transfer-Encoding': 'base64' };
  const post = (path: string, csr: Csr | Buffer | string, extra: Partial<EstCall> = {}) =>
    call({
      method: 'POST',
      path,
      body: Buffer.isBuffer(csr) || typeof csr === 'string' ? csr : csr.der.toString('base64'),
      headers: pkcs10,
      basic,
      ...extra,
    });

  function leafOf(res: EstResponse): X509Certificate {
    expect({ status: res.status, text: res.status === 200 ? '' : res.text }).toEqual({ status: 200, text: '' });
    expect(res.headers['content-type']).toBe('application/pkcs7-mime; smime-type=certs-only');
    expect(res.headers['content-transfer-encoding']).toBe('base64');
    return certsOfPkcs7(b64d(res.body))[0];
  }

  const message = (res: EstResponse): string => String((JSON.parse(res.text) as { message: string }).message);

  it('GET cacerts: the label CA as a base64 certs-only PKCS#7; unknown labels are 404', async () => {
    // The plain CERTCTL_EST_PASSWORD was hashed at boot and is gone from the configuration.
    const defaultLabel = t.config.enrollment.est.labels[0];
    expect('password' in defaultLabel).toBe(false);
    expect(defaultLabel.passwordHash).toMatch(/^scrypt\$/);
    for (const path of ['/.well-known/est/cacerts', '/.well-known/est/mtls/cacerts']) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/pkcs7-mime');
      expect(res.headers['content-transfer-encoding']).toBe('base64');
      expect(res.text).toMatch(/^[A-Za-z0-9+/=\r\n]+$/);
      const [ca] = certsOfPkcs7(b64d(res.body));
      expect(ca.ca).toBe(true);
      expect(ca.subject).toContain(issuerId);
    }
    const unknown = await get('/.well-known/est/nope/cacerts');
    expect(unknown.status).toBe(404);
    expect(message(unknown)).toMatch(/EST label/);
  });

  it('GET csrattrs: key, EKU and (with channel binding) challengePassword from the label profile', async () => {
    const plain = await get('/.well-known/est/csrattrs');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/csrattrs');
    const oids = (res: EstResponse) =>
      (asn1(b64d(res.body)) as asn1js.Sequence).valueBlock.value.map((v) =>
        v instanceof asn1js.ObjectIdentifier
          ? v.valueBlock.toString()
          : ((v as asn1js.Sequence).valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString(),
      );
    expect(oids(plain)).toEqual(['1.2.840.10045.2.1', '1.2.840.113549.1.9.14', '1.2.840.10045.4.3.2']);
    const cb = await get('/.well-known/est/cb/csrattrs');
    expect(oids(cb)[0]).toBe('1.2.840.113549.1.9.7');
  });

  it('POST simpleenroll with Basic: the device key certified, audited with protocol EST', async () => {
    const csr = await makeCsr('dev1.est.example', { dns: ['dev1.est.example'] });
    const leaf = leafOf(await post('/.well-known/est/simpleenroll', csr));
    expect(leaf.subject).toBe('CN=dev1.est.example');
    expect(leaf.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    const spki = createPublicKey(exportPrivateKeyPem(csr.keys.privateKey)).export({ type: 'spki', format: 'der' });
    expect(leaf.publicKey.export({ type: 'spki', format: 'der' })).toEqual(spki);

    const rows: { action: string; actor: string; actor_type: string }[] = await t.ds.query(
      `SELECT action, actor, actor_type FROM audit_events
        WHERE details->>'protocol' = 'EST' AND details->>'common_name' = 'dev1.est.example'`,
    );
    expect(rows).toEqual([{ action: 'enrollment_requested', actor: `est:default:${USER}`, actor_type: 'Device' }]);
  });

  it('simpleenroll accepts PEM, one-line and CRLF base64 bodies; refuses bad ones with a 4xx naming the problem', async () => {
    const csr = await makeCsr('dev2.est.example');
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${csr.der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(leafOf(await post('/.well-known/est/simpleenroll', pem)).subject).toBe('CN=dev2.est.example');
    const crlf = (await makeCsr('dev3.est.example')).der.toString('base64').replace(/(.{76})/g, '$1\r\n');
    expect(leafOf(await post('/.well-known/est/simpleenroll', crlf)).subject).toBe('CN=dev3.est.example');

    const wrongType = await post('/.well-known/est/simpleenroll', csr, { headers: { 'Content-Type': 'text/plain' } });
    expect(wrongType.status).toBe(415);
    expect(message(wrongType)).toMatch(/application\/pkcs10/);
    const garbage = await post('/.well-known/est/simpleenroll', 'not a csr!');
    expect(garbage.status).toBe(400);
    expect(message(garbage)).toMatch(/^body:/);
    const policy = await post('/.well-known/est/simpleenroll', await makeCsr('evil.other.example'));
    expect(policy.status).toBe(400);
    expect(message(policy)).toMatch(/evil\.other\.example/);
    const rsaCsr = await buildCsr({ keys: await generateKeyPair('RSA-2048'), commonName: 'dev4.est.example' });
    const rsa = await post('/.well-known/est/simpleenroll', rsaCsr);
    expect(rsa.status).toBe(400);
    expect(message(rsa)).toMatch(/RSA/);
  });

  it('wrong or missing Basic credentials: 401 with the Basic challenge', async () => {
    const csr = await makeCsr('dev5.est.example');
    const wrong = await post('/.well-known/est/simpleenroll', csr, {
      basic: { user: USER, password: 'wrong-password' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic realm="certctl EST"/);
    const none = await post('/.well-known/est/simpleenroll', csr, { basic: undefined });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="certctl EST"/);
  });

  it('locks a source address out after the failure limit (429 + Retry-After), audited once', async () => {
    const from = { localAddress: '127.0.0.2' };
    const csr = await makeCsr('dev6.est.example');
    const wrong = { ...from, basic: { user: USER, password: 'guess' } };
    expect((await post('/.well-known/est/simpleenroll', csr, wrong)).status).toBe(401);
    expect((await post('/.well-known/est/simpleenroll', csr, wrong)).status).toBe(401);
    const third = await post('/.well-known/est/simpleenroll', csr, wrong);
    expect(third.status).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    // Locked out even with the right password; other addresses are not.
    const right = await post('/.well-known/est/simpleenroll', csr, from);
    expect(right.status).toBe(429);
    expect(Number(right.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect((await post('/.well-known/est/simpleenroll', csr, wrong)).status).toBe(429);
    expect(leafOf(await post('/.well-known/est/simpleenroll', csr)).subject).toBe('CN=dev6.est.example');
    const audits = await t.ds.query(
      `SELECT details FROM audit_events WHERE action = 'est_auth_locked_out' AND details->>'source_ip' = '127.0.0.2'`,
    );
    expect(audits).toHaveLength(1);
    expect(audits[0].details).toMatchObject({ protocol: 'EST', failures: 3 });
  });

  it('mtls label: a client certificate chaining to the trust bundle enrolls; a foreign CA or none is refused', async () => {
    const csr = await makeCsr('dev7.est.example');
    const ok = await post('/.well-known/est/mtls/simpleenroll', csr, { basic: undefined, ...files(device) });
    expect(leafOf(ok).subject).toBe('CN=dev7.est.example');
    const actor = await t.ds.query(
      `SELECT actor FROM audit_events WHERE action = 'enrollment_requested' AND details->>'common_name' = 'dev7.est.example'`,
    );
    expect(actor[0].actor).toBe('est:mtls:CN=127.0.0.1');

    const alien = await post('/.well-known/est/mtls/simpleenroll', csr, { basic: undefined, ...files(foreign) });
    expect(alien.status).toBe(401);
    expect(message(alien)).toMatch(/does not chain to the trust bundle/);
    const none = await post('/.well-known/est/mtls/simpleenroll', csr, { basic: undefined });
    expect(none.status).toBe(401);
    // "either": the certificate alone, or Basic alone.
    expect(
      leafOf(await post('/.well-known/est/either/simpleenroll', csr, { basic: undefined, ...files(device) })).subject,
    ).toBe('CN=dev7.est.example');
    expect(leafOf(await post('/.well-known/est/either/simpleenroll', await makeCsr('dev8.est.example'))).subject).toBe(
      'CN=dev8.est.example',
    );
    expect(
      (await post('/.well-known/est/either/simpleenroll', csr, { basic: undefined, ...files(foreign) })).status,
    ).toBe(401);
  });

  it('simplereenroll: needs the TLS certificate we issued; keeps names unless the label allows changes', async () => {
    const first = await makeCsr('re1.est.example', { dns: ['re1.est.example'] });
    const issued = leafOf(await post('/.well-known/est/simpleenroll', first));
    const client = { cert: issued.toString(), key: exportPrivateKeyPem(first.keys.privateKey) };

    const renewed = leafOf(
      await post(
        '/.well-known/est/simplereenroll',
        await makeCsr('re1.est.example', { dns: ['re1.est.example'] }),
        client,
      ),
    );
    expect(renewed.serialNumber).not.toBe(issued.serialNumber);
    const certs = await t.ds.query(
      `SELECT DISTINCT certificate_id FROM certificate_versions WHERE serial_number IN ($1, $2)`,
      [issued.serialNumber.toLowerCase(), renewed.serialNumber.toLowerCase()],
    );
    expect(certs).toHaveLength(1);

    const noCert = await post('/.well-known/est/simplereenroll', first);
    expect(noCert.status).toBe(401);
    const notOurs = await post('/.well-known/est/simplereenroll', first, files(device));
    expect(notOurs.status).toBe(403);
    expect(message(notOurs)).toMatch(/not issued by this server/);
    const renamed = await makeCsr('other.est.example', { dns: ['other.est.example'] });
    const refused = await post('/.well-known/est/simplereenroll', renamed, client);
    expect(refused.status).toBe(400);
    expect(message(refused)).toMatch(/must keep the subject and SANs/);
    expect(leafOf(await post('/.well-known/est/rename/simplereenroll', renamed, client)).subject).toBe(
      'CN=other.est.example',
    );
    const rejections = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE action = 'enrollment_rejected' AND details->>'protocol' = 'EST'
          AND details->>'reason' LIKE '%not issued by this server%'`,
    );
    expect(rejections.length).toBeGreaterThanOrEqual(1);
  });

  it('RFC 9266 channel binding: the exporter value of the carrying connection passes; missing 400, other 409', async () => {
    const send = async (challenge: (cb: string) => string | undefined) => {
      const socket = await connectEst({ port, ca: tlsCa });
      try {
        const value = challenge(channelBinding(socket));
        const attributes = value === undefined ? [] : [new x509.ChallengePasswordAttribute(value)];
        const csr = await makeCsr('cb.est.example', { attributes });
        return await post('/.well-known/est/cb/simpleenroll', csr, { socket });
      } finally {
        socket.destroy();
      }
    };
    expect(leafOf(await send((cb) => cb)).subject).toBe('CN=cb.est.example');
    const missing = await send(() => undefined);
    expect(missing.status).toBe(400);
    expect(message(missing)).toMatch(/no challengePassword/);
    const other = await connectEst({ port, ca: tlsCa });
    const elsewhere = channelBinding(other);
    other.destroy();
    const mismatch = await send(() => elsewhere);
    expect(mismatch.status).toBe(409);
    expect(message(mismatch)).toMatch(/does not match the tls-exporter/);
  });

  it('approval-gated label: 202 with Retry-After, 200 with the certificate after a second key approves', async () => {
    const csr = await makeCsr('gated.est.example');
    const first = await post('/.well-known/est/gated/simpleenroll', csr);
    expect(first.status).toBe(202);
    expect(Number(first.headers['retry-after'])).toBeGreaterThan(0);
    expect((await post('/.well-known/est/gated/simpleenroll', csr)).status).toBe(202);
    const [ar] = await t.ds.query(
      `SELECT ar.id FROM approval_requests ar JOIN enrollment_requests r ON r.job_id = ar.job_id
        WHERE r.label = 'gated' AND r.protocol = 'EST' AND ar.state = 'pending'`,
    );
    const approver = `Bearer ${(await t.mintKey(['admin'], 'est-approver')).key}`;
    expect(
      (await t.http.post(`/api/v1/approvals/${ar.id}/approve`).set('Authorization', approver).send({})).status,
    ).toBe(200);
    const done = await eventually(async () => {
      const r = await post('/.well-known/est/gated/simpleenroll', csr);
      return r.status === 200 ? r : undefined;
    }, 30_000);
    expect(leafOf(done).subject).toBe('CN=gated.est.example');
    // One request, one certificate: the resend found the decided request.
    const n = await t.ds.query(`SELECT 1 FROM managed_certificates WHERE common_name = 'gated.est.example'`);
    expect(n).toHaveLength(1);

    const keygen = await post('/.well-known/est/gated/serverkeygen', await makeCsr('gated2.est.example'));
    expect(keygen.status).toBe(409);
    expect(message(keygen)).toMatch(/requires approval/);
  });

  it('serverkeygen: multipart with the PKCS#8 key and its certificate; never stored', async () => {
    const res = await post(
      '/.well-known/est/serverkeygen',
      await makeCsr('kg.est.example', { dns: ['kg.est.example'] }),
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^multipart\/mixed; boundary=/);
    const [keyPart, certPart] = multipartParts(String(res.headers['content-type']), res.body);
    expect(keyPart.headers['content-type']).toBe('application/pkcs8');
    expect(certPart.headers['content-type']).toBe('application/pkcs7-mime; smime-type=certs-only');
    const key = createPrivateKey({ key: keyPart.body, format: 'der', type: 'pkcs8' });
    const [leaf] = certsOfPkcs7(certPart.body);
    expect(leaf.checkPrivateKey(key)).toBe(true);
    expect(leaf.subject).toBe('CN=kg.est.example');
    expect(leaf.subjectAltName).toBe('DNS:kg.est.example');
    const [v] = await t.ds.query(`SELECT v.sealed_private_key FROM certificate_versions v WHERE v.serial_number = $1`, [
      leaf.serialNumber.toLowerCase(),
    ]);
    expect(v).toEqual({ sealed_private_key: null });
  });

  it('serverkeygen with AsymmetricDecryptKeyIdentifier: the key enveloped to the RSA client certificate', async () => {
    const keyId = new asn1js.OctetString({ valueHex: new Uint8Array([1, 2, 3, 4]) }).toBER();
    const ask = new x509.Attribute('1.2.840.113549.1.9.16.2.54', [keyId]);
    const csr = await makeCsr('kg2.est.example', { attributes: [ask] });
    const res = await post('/.well-known/est/serverkeygen', csr, files(rsaClient));
    expect({ status: res.status, text: res.status === 200 ? '' : res.text }).toEqual({ status: 200, text: '' });
    const [keyPart, certPart] = multipartParts(String(res.headers['content-type']), res.body);
    expect(keyPart.headers['content-type']).toBe('application/pkcs7-mime; smime-type=server-generated-key');
    writeFileSync(join(dir, 'enveloped.der'), keyPart.body);
    const dec = await opensslAsync(dir, [
      'cms', '-decrypt', '-inform', 'DER', '-in', 'enveloped.der', '-recip', rsaClient.cert, '-inkey', rsaClient.key,
      '-binary', '-out', 'kg2.p8',
    ]); // prettier-ignore
    expect(dec).toMatchObject({ status: 0, stderr: '' });
    const key = createPrivateKey({ key: readFileSync(join(dir, 'kg2.p8')), format: 'der', type: 'pkcs8' });
    expect(certsOfPkcs7(certPart.body)[0].checkPrivateKey(key)).toBe(true);

    const ecClient = await post('/.well-known/est/serverkeygen', csr, files(device));
    expect(ecClient.status).toBe(400);
    expect(message(ecClient)).toMatch(/RSA TLS client certificate/);
    const noClient = await post('/.well-known/est/serverkeygen', csr);
    expect(noClient.status).toBe(400);
    const symmetric = new x509.Attribute('1.2.840.113549.1.9.16.2.37', [keyId]);
    const sym = await post(
      '/.well-known/est/serverkeygen',
      await makeCsr('kg3.est.example', { attributes: [symmetric] }),
    );
    expect(sym.status).toBe(400);
    expect(message(sym)).toMatch(/DecryptKeyIdentifier/);
  });
});
