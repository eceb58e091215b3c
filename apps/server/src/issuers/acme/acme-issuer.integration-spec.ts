import { randomBytes } from 'node:crypto';
import { Pebble, freePort } from '../../../../../libs/connectors/src/issuers/acme/testing/pebble';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createProfile,
  ISSUING_ENV,
  runNewJob,
} from '../../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../../test/integration/test-app';
import { createAcmeIssuer, verifyAgainstPebbleRoot } from '../../../../../test/integration/acme-issuer-fixture';

const EAB_KID = 'kid-certctl';
const EAB_HMAC = randomBytes(32).toString('base64url');

/**
 * The ACME issuer end to end through the server: issuer created through the API, the
 * Issuance/Renewal job run by the server's job runner, revocation through the API,
 * against two real Pebbles: one that marks every authorization valid, one that validates
 * http-01 for real (pebble-challtestsrv resolves every name to 127.0.0.1, where the
 * server's built-in responder answers) and requires External Account Binding.
 */
describe('ACME issuer against Pebble', () => {
  const tag = randomBytes(3).toString('hex');
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let always: Pebble;
  let validating: Pebble;

  beforeAll(async () => {
    const responderPort = await freePort();
    always = new Pebble({ alwaysValid: true });
    validating = new Pebble({
      alwaysValid: false,
      httpPort: responderPort,
      challtestsrv: true,
      eabKeys: { [EAB_KID]: EAB_HMAC },
    });
    await Promise.all([always.start(), validating.start()]);
    db = await createPrivateDatabase(`acme_client_${tag}`);
    t = await createTestApp({
      ...db.env,
      ...ISSUING_ENV,
      CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: `127.0.0.1:${responderPort}`,
    });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createProfile(t, admin, `prof-acme-${tag}`, `${tag}.acme.test`, 90 * 86_400);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await always?.stop();
    await validating?.stop();
  });

  const createIssuer = (id: string, pebble: Pebble, extra: Record<string, unknown> = {}) =>
    createAcmeIssuer(t, admin, id, pebble, extra);

  async function issue(certId: string, issuerId: string, names: string[], type: 'Issuance' | 'Renewal' = 'Issuance') {
    if (type === 'Issuance') {
      await createCertificate(t, admin, {
        id: certId,
        issuerId,
        profileId: `prof-acme-${tag}`,
        commonName: names[0],
        sans: names.slice(1),
      });
    }
    const jobId = await runNewJob(t, certId, type);
    return awaitJobStatus(t, jobId, ['Completed', 'Failed']);
  }

  it('the test action fetches the directory: reachable, no ARI at Pebble', async () => {
    await createIssuer(`iss-acme-${tag}`, always);
    const res = await t.http.post(`/api/v1/issuers/iss-acme-${tag}/test`).set('Authorization', admin);
    expect(res.status).toBeLessThan(300);
    expect(res.body.ok).toBe(true);
    expect(res.body.message).toContain('reachable');
    expect(res.body.message).toContain('no ARI');
  });

  it('issues a certificate with several names; the chain verifies against the Pebble root', async () => {
    const names = [`www.${tag}.acme.test`, `api.${tag}.acme.test`, `${tag}.acme.test`];
    const job = await issue(`mc-acme-${tag}`, `iss-acme-${tag}`, names);
    expect(job.last_error).toBeNull();
    expect(job.status).toBe('Completed');
    const [v] = await certificateVersions(t, `mc-acme-${tag}`);
    expect(v.issuer_id).toBe(`iss-acme-${tag}`);
    expect(await verifyAgainstPebbleRoot(always, v.pem_chain)).toContain('leaf.pem: OK');
    const text = always.dir.ok(['x509', '-in', 'leaf.pem', '-noout', '-ext', 'subjectAltName']);
    for (const n of names) expect(text).toContain(`DNS:${n}`);
    expect((await always.certStatus(v.serial_number)).Status).toBe('Valid');
  });

  it('stores one account per issuer, its key sealed (no PEM in the row) and its URL', async () => {
    const rows: { sealed_key: Buffer; account_url: string | null }[] = await t.ds.query(
      `SELECT sealed_key, account_url FROM acme_client_accounts WHERE issuer_id = $1`,
      [`iss-acme-${tag}`],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].account_url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    expect(rows[0].sealed_key.toString('latin1')).not.toContain('PRIVATE KEY');
  });

  it('renews: a new version with a new serial, the same account', async () => {
    const job = await issue(`mc-acme-${tag}`, `iss-acme-${tag}`, [], 'Renewal');
    expect(job.last_error).toBeNull();
    const versions = await certificateVersions(t, `mc-acme-${tag}`);
    expect(versions).toHaveLength(2);
    expect(versions[1].serial_number).not.toBe(versions[0].serial_number);
    const accounts: unknown[] = await t.ds.query(`SELECT 1 FROM acme_client_accounts WHERE issuer_id = $1`, [
      `iss-acme-${tag}`,
    ]);
    expect(accounts).toHaveLength(1);
  });

  it('revokes at the CA: Pebble reports the serial revoked with the reason', async () => {
    const versions = await certificateVersions(t, `mc-acme-${tag}`);
    const serial = versions[versions.length - 1].serial_number;
    const res = await t.http
      .post(`/api/v1/certificates/mc-acme-${tag}/revoke`)
      .set('Authorization', admin)
      .send({ reason: 'keyCompromise' });
    expect(res.status).toBeLessThan(300);
    const status = await eventually(async () => {
      const s = await always.certStatus(serial);
      return s.Status === 'Revoked' ? s : undefined;
    });
    expect(status.Status).toBe('Revoked');
    expect(status.Reason).toBe(1); // keyCompromise
    const notified: { issuer_notified: boolean }[] = await t.ds.query(
      `SELECT issuer_notified FROM certificate_revocations WHERE serial_number = $1`,
      [serial],
    );
    expect(notified[0]?.issuer_notified).toBe(true);
  });

  it('validates http-01 for real through the built-in responder, with EAB required and supplied', async () => {
    const issuerId = `iss-acme-eab-${tag}`;
    await createIssuer(issuerId, validating, { eab_kid: EAB_KID, eab_hmac_key: EAB_HMAC });
    const names = [`shop.${tag}.acme.test`, `cdn.${tag}.acme.test`];
    const job = await issue(`mc-acme-eab-${tag}`, issuerId, names);
    expect(job.last_error).toBeNull();
    expect(job.status).toBe('Completed');
    const [v] = await certificateVersions(t, `mc-acme-eab-${tag}`);
    expect(await verifyAgainstPebbleRoot(validating, v.pem_chain)).toContain('leaf.pem: OK');
    // The authorizations were really validated (not always-valid): Pebble's VA fetched the responder.
    expect(validating.logs()).toContain(`Attempting to validate w/ HTTP: http://shop.${tag}.acme.test`);
    expect(validating.logs()).toMatch(/set VALID by completed challenge/);
  });

  it('names what is missing when the CA requires EAB and the issuer has none', async () => {
    const issuerId = `iss-acme-noeab-${tag}`;
    await createIssuer(issuerId, validating);
    const test = await t.http.post(`/api/v1/issuers/${issuerId}/test`).set('Authorization', admin);
    expect(test.body.ok).toBe(false);
    expect(test.body.message).toContain('requires External Account Binding');
    const job = await issue(`mc-acme-noeab-${tag}`, issuerId, [`x.${tag}.acme.test`]);
    expect(job.status).toBe('Failed');
    expect(job.last_error).toContain('eab_kid');
  });

  it("fails the job with the CA's reason when http-01 validation fails", async () => {
    // A webroot nobody serves: Pebble's VA reaches the built-in responder, which has no token.
    const issuerId = `iss-acme-badweb-${tag}`;
    await createIssuer(issuerId, validating, {
      eab_kid: EAB_KID,
      eab_hmac_key: EAB_HMAC,
      http01_webroot: validating.dir.path('unserved-webroot'),
    });
    const job = await issue(`mc-acme-bad-${tag}`, issuerId, [`bad.${tag}.acme.test`]);
    expect(job.status).toBe('Failed');
    expect(job.last_error).toMatch(/http-01 validation of bad\.[0-9a-f]+\.acme\.test failed/);
  });
});
