import { X509Certificate } from 'node:crypto';
import { buildCsr, generateKeyPair, parseCsr, type CryptoKeyPair } from '@certctl/pki';
import { createLocalCaIssuer, createProfile, SEALING_ENV } from '../../../../test/integration/issued-certificates';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';
import { EnrollmentService, type EnrollmentTarget } from './enrollment.service';

/**
 * The enrollment core EST and SCEP share, against real Postgres/Redis: a CSR becomes a
 * managed certificate issued through the job engine, the approval gate defers it, and a
 * request seen before is answered from its first record instead of a second certificate.
 * Agent keygen mode (the default): the device's CSR is what issues, never a server key.
 */
describe('EnrollmentService', () => {
  let t: TestApp;
  let svc: EnrollmentService;
  let admin: string;
  let approver: string;
  const tag = Date.now().toString(36);
  const issuerId = `iss-enr-${tag}`;
  const open: EnrollmentTarget = { protocol: 'EST', label: 'open', issuerId, profileId: `prof-enr-open-${tag}` };
  const gated: EnrollmentTarget = { protocol: 'SCEP', label: 'gated', issuerId, profileId: `prof-enr-gated-${tag}` };
  const device = { actorId: 'est:open:dev', actorType: 'Device' as const };

  async function csrFor(keys: CryptoKeyPair, cn: string, dns: string[] = []) {
    return parseCsr(await buildCsr({ keys, commonName: cn, sans: { dns } }));
  }

  beforeAll(async () => {
    t = await createTestApp(SEALING_ENV);
    svc = t.app.get(EnrollmentService);
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    approver = `Bearer ${(await t.mintKey(['admin'], 'approver')).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, open.profileId!, 'enr.example', 86_400);
    await createProfile(t, admin, gated.profileId!, 'enr.example', 86_400, { requires_approval: true });
  });
  afterAll(() => t.close());

  it('issues a CSR at once, as an inventory certificate marked with its protocol, with the device key', async () => {
    const keys = await generateKeyPair('ECDSA-P256');
    const csr = await csrFor(keys, 'dev1.enr.example', ['dev1.enr.example']);
    const out = await svc.enroll({ target: open, csr, actor: device, sourceIp: '127.0.0.9' });
    expect(out.status).toBe('issued');
    if (out.status !== 'issued') return;
    const leaf = new X509Certificate(out.issued.certDer);
    expect(leaf.subject).toContain('CN=dev1.enr.example');
    expect(Buffer.from(leaf.publicKey.export({ type: 'spki', format: 'der' }))).toEqual(Buffer.from(csr.spkiDer));
    const [ca] = await t.ds.query(
      `SELECT c.cert_pem FROM issuer_cas c JOIN certificate_versions v ON v.ca_id = c.id WHERE v.certificate_id = $1`,
      [out.certificateId],
    );
    expect(leaf.verify(new X509Certificate(ca.cert_pem).publicKey)).toBe(true);

    const [cert] = await t.ds.query(
      `SELECT status, enrolled_via, issuer_id, profile_id, tags FROM managed_certificates WHERE id = $1`,
      [out.certificateId],
    );
    expect(cert).toMatchObject({
      status: 'Active',
      enrolled_via: 'EST',
      issuer_id: issuerId,
      profile_id: open.profileId,
    });
    const [version] = await t.ds.query(
      `SELECT sealed_private_key, csr_pem FROM certificate_versions WHERE certificate_id = $1`,
      [out.certificateId],
    );
    expect(version.sealed_private_key).toBeNull();
    expect(version.csr_pem).toContain('BEGIN CERTIFICATE REQUEST');
    const audit = await t.ds.query(
      `SELECT action, actor, actor_type, details FROM audit_events WHERE resource_id = $1 ORDER BY created_at, id`,
      [out.certificateId],
    );
    const requested = audit.find((a: { action: string }) => a.action === 'enrollment_requested');
    expect(requested).toMatchObject({ actor: 'est:open:dev', actor_type: 'Device' });
    expect(requested.details).toMatchObject({ protocol: 'EST', label: 'open', source_ip: '127.0.0.9' });
    const issued = audit.find((a: { action: string }) => a.action === 'certificate_issued');
    expect(issued.details).toMatchObject({ protocol: 'EST', keygen: 'device' });

    // The device renews it itself: the API's renew action refuses it (no server key to use).
    const renew = await t.http.post(`/api/v1/certificates/${out.certificateId}/renew`).set('Authorization', admin);
    expect(renew.status).toBe(409);
    expect(renew.body.message).toMatch(/enrolled over EST.*simplereenroll/);
  });

  it('refuses a CSR the profile forbids before storing anything', async () => {
    const before = await t.ds.query(`SELECT count(*)::int AS n FROM enrollment_requests`);
    const csr = await csrFor(await generateKeyPair('ECDSA-P256'), 'evil.other.example', ['evil.other.example']);
    await expect(svc.enroll({ target: open, csr, actor: device })).rejects.toThrow(/evil\.other\.example/);
    const rsa = await csrFor(await generateKeyPair('RSA-2048'), 'rsa.enr.example');
    await expect(svc.enroll({ target: open, csr: rsa, actor: device })).rejects.toThrow(/RSA/);
    expect(await t.ds.query(`SELECT count(*)::int AS n FROM enrollment_requests`)).toEqual(before);
  });

  it('re-enrolls the same certificate with a new key, and refuses a name change unless allowed', async () => {
    const first = await svc.enroll({
      target: open,
      csr: await csrFor(await generateKeyPair('ECDSA-P256'), 'dev2.enr.example', ['dev2.enr.example']),
      actor: device,
    });
    expect(first.status).toBe('issued');
    const renewed = await svc.enroll({
      target: open,
      csr: await csrFor(await generateKeyPair('ECDSA-P256'), 'dev2.enr.example', ['dev2.enr.example']),
      actor: device,
      renew: { certificateId: first.certificateId, allowNameChange: false },
    });
    expect(renewed).toMatchObject({ status: 'issued', certificateId: first.certificateId });
    const versions = await t.ds.query(`SELECT id FROM certificate_versions WHERE certificate_id = $1`, [
      first.certificateId,
    ]);
    expect(versions).toHaveLength(2);
    if (renewed.status !== 'issued') return;
    const presented = await svc.presented(renewed.issued.certDer);
    expect(presented).toMatchObject({ certificateId: first.certificateId, latest: true, revoked: false });

    const renamed = await csrFor(await generateKeyPair('ECDSA-P256'), 'dev3.enr.example', ['dev3.enr.example']);
    await expect(
      svc.enroll({
        target: open,
        csr: renamed,
        actor: device,
        renew: { certificateId: first.certificateId, allowNameChange: false },
      }),
    ).rejects.toThrow(/must keep the subject and SANs/);
    const allowed = await svc.enroll({
      target: open,
      csr: renamed,
      actor: device,
      renew: { certificateId: first.certificateId, allowNameChange: true },
    });
    expect(allowed.status).toBe('issued');
    const [cert] = await t.ds.query(`SELECT common_name, sans FROM managed_certificates WHERE id = $1`, [
      first.certificateId,
    ]);
    expect(cert).toEqual({ common_name: 'dev3.enr.example', sans: ['dev3.enr.example'] });
  });

  it('defers a gated request until a second actor approves; a resend finds the same request', async () => {
    const keys = await generateKeyPair('ECDSA-P256');
    const csr = await csrFor(keys, 'gated.enr.example');
    const scepDevice = { actorId: 'scep:gated', actorType: 'Device' as const };
    const first = await svc.enroll({ target: gated, csr, actor: scepDevice, transactionId: `txn-${tag}` });
    expect(first.status).toBe('pending');
    // A resent PKCSReq of the same transaction: the same request, still pending.
    const again = await svc.enroll({ target: gated, csr, actor: scepDevice, transactionId: `txn-${tag}` });
    expect(again).toMatchObject({ status: 'pending', requestId: first.requestId });
    // The same transaction with another key is refused.
    const other = await csrFor(await generateKeyPair('ECDSA-P256'), 'gated.enr.example');
    await expect(
      svc.enroll({ target: gated, csr: other, actor: scepDevice, transactionId: `txn-${tag}` }),
    ).rejects.toThrow(/different public key/);
    expect(await t.ds.query(`SELECT 1 FROM managed_certificates WHERE common_name = 'gated.enr.example'`)).toHaveLength(
      1,
    );

    const [ar] = await t.ds.query(
      `SELECT ar.id FROM approval_requests ar JOIN enrollment_requests r ON r.job_id = ar.job_id WHERE r.id = $1`,
      [first.requestId],
    );
    const ok = await t.http.post(`/api/v1/approvals/${ar.id}/approve`).set('Authorization', approver).send({});
    expect(ok.status).toBe(200);
    const done = await eventually(async () => {
      const o = await svc.byTransaction(gated, `txn-${tag}`);
      return o?.status === 'issued' ? o : undefined;
    });
    expect(new X509Certificate(done.issued.certDer).subject).toBe('CN=gated.enr.example');
  });

  it('answers failed after a rejection', async () => {
    const csr = await csrFor(await generateKeyPair('ECDSA-P256'), 'rejected.enr.example');
    const first = await svc.enroll({ target: gated, csr, actor: device, transactionId: `txn-r-${tag}` });
    expect(first.status).toBe('pending');
    const [ar] = await t.ds.query(
      `SELECT ar.id FROM approval_requests ar JOIN enrollment_requests r ON r.job_id = ar.job_id WHERE r.id = $1`,
      [first.requestId],
    );
    const no = await t.http
      .post(`/api/v1/approvals/${ar.id}/reject`)
      .set('Authorization', approver)
      .send({ note: 'unknown device' });
    expect(no.status).toBe(200);
    const out = await svc.byTransaction(gated, `txn-r-${tag}`);
    expect(out).toMatchObject({ status: 'failed', requestId: first.requestId });
    // A resend of a settled transaction answers the same failure, not a new request.
    expect(await svc.enroll({ target: gated, csr, actor: device, transactionId: `txn-r-${tag}` })).toMatchObject({
      status: 'failed',
      requestId: first.requestId,
    });
  });

  it('says which label is misconfigured instead of failing obscurely', async () => {
    const csr = await csrFor(await generateKeyPair('ECDSA-P256'), 'x.enr.example');
    await expect(
      svc.enroll({ target: { ...open, label: 'broken', profileId: 'prof-missing' }, csr, actor: device }),
    ).rejects.toThrow(/EST label "broken" cannot issue: profile prof-missing does not exist/);
  });
});
