import { randomBytes } from 'node:crypto';
import { EC_P256, OpensslDir, RSA_2048 } from '../../../../libs/pki/src/keys/testing';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createLocalCaIssuer,
  createProfile,
  ISSUING_ENV,
  newJob,
  runNewJob,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { SYSTEM_ACTOR } from '../audit/audit.repository';
import { JobRunner } from '../jobs/job-engine';
import { IssuanceService } from './issuance.service';

/** Issuer + profile + agent + target + certificate, through the API where the API has it. */
async function fixture(t: TestApp, admin: string, tag: string) {
  const f = {
    certId: `mc-life-${tag}`,
    issuerId: `iss-life-${tag}`,
    profileId: `prof-life-${tag}`,
    agentId: `ag-life-${tag}`,
    targetId: `t-life-${tag}`,
  };
  await createLocalCaIssuer(t, admin, f.issuerId);
  await createProfile(t, admin, f.profileId, 'life.example.com', 30 * 86_400);
  await t.ds.query(`INSERT INTO agents (id, name) VALUES ($1, $1)`, [f.agentId]);
  await t.ds.query(`INSERT INTO deployment_targets (id, name, type, agent_id) VALUES ($1, $1, 'NGINX', $2)`, [
    f.targetId,
    f.agentId,
  ]);
  await createCertificate(t, admin, {
    id: f.certId,
    commonName: 'life.example.com',
    sans: ['api.life.example.com'],
    issuerId: f.issuerId,
    profileId: f.profileId,
    agentId: f.agentId,
    targetIds: [f.targetId],
  });
  return f;
}

interface Suite {
  t: TestApp;
  admin: string;
  f: Awaited<ReturnType<typeof fixture>>;
  ossl: OpensslDir;
}

/**
 * A private database and an app with `env` for the enclosing describe block, an admin key,
 * the fixture and an openssl directory (filled in by its beforeAll, removed by its afterAll).
 */
function lifecycleSuite(dbPrefix: string, env: Record<string, string>): Suite {
  const tag = randomBytes(3).toString('hex');
  const s = { ossl: new OpensslDir() } as Suite;
  let db: PrivateDatabase;
  beforeAll(async () => {
    db = await createPrivateDatabase(`${dbPrefix}_${tag}`);
    s.t = await createTestApp({ ...db.env, ...env });
    s.admin = `Bearer ${(await s.t.mintKey(['admin'])).key}`;
    s.f = await fixture(s.t, s.admin, tag);
  });
  afterAll(async () => {
    await s.t?.close();
    await db?.drop();
    s.ossl.remove();
  });
  return s;
}

describe('issuance lifecycle, server keygen mode (Local CA)', () => {
  const s = lifecycleSuite('issue_srv', ISSUING_ENV);

  it('issues once per job, even when the job message is delivered several times', async () => {
    const { t, f } = s;
    const jobId = await newJob(t, f.certId, 'Issuance');
    const runner = t.app.get(JobRunner);
    const outcomes = await Promise.all([runner.run(jobId), runner.run(jobId), runner.run(jobId)]);
    expect(outcomes.filter((o) => o === 'Completed').length).toBeLessThanOrEqual(1);
    const job = await awaitJobStatus(t, jobId, 'Completed');
    expect(job.status).toBe('Completed');
    expect(await runner.run(jobId)).toBe('not-claimed');
    const v = await certificateVersions(t, f.certId);
    expect(v).toHaveLength(1);
    expect(v[0].job_id).toBe(jobId);
    expect(v[0].sealed_private_key).not.toBeNull();
    expect(v[0].csr_pem).toBeNull();
    expect(v[0]).toMatchObject({ key_algorithm: 'ECDSA', key_size: 256, issuer_id: f.issuerId });
  });

  it('issues a certificate openssl verifies against the generated root, with the profile applied', async () => {
    const { t, f, ossl } = s;
    const [v] = await certificateVersions(t, f.certId);
    const cas: { cert_pem: string; parent_id: string | null; id: string }[] = await t.ds.query(
      `SELECT id, cert_pem, parent_id FROM issuer_cas WHERE issuer_id = $1`,
      [f.issuerId],
    );
    expect(cas).toHaveLength(1);
    expect(v.ca_id).toBe(cas[0].id);
    ossl.write('root.pem', cas[0].cert_pem);
    ossl.write('leaf.pem', v.pem_chain);
    expect(ossl.ok(['verify', '-CAfile', 'root.pem', 'leaf.pem'])).toContain('leaf.pem: OK');
    const text = ossl.ok(['x509', '-in', 'leaf.pem', '-noout', '-text']);
    expect(text).toContain('DNS:life.example.com');
    expect(text).toContain('DNS:api.life.example.com');
    expect(text).toContain('TLS Web Server Authentication');
    expect(text).toMatch(new RegExp(`URI:https://localhost:\\d+/.well-known/pki/crl/${f.issuerId}`));
    const lifetime = v.not_after.getTime() - Date.now();
    expect(lifetime).toBeLessThanOrEqual(30 * 86_400_000 + 120_000);
    expect(lifetime).toBeGreaterThan(29 * 86_400_000);

    const cert = await t.http.get(`/api/v1/certificates/${f.certId}`).set('Authorization', s.admin);
    expect(cert.body.status).toBe('Active');
    expect(new Date(cert.body.expires_at).getTime()).toBe(v.not_after.getTime());
  });

  it('creates one Pending deployment job per mapped target, routed to the target agent, never claimed by the server', async () => {
    const { t, f } = s;
    const jobs: { id: string; status: string; agent_id: string; target_id: string }[] = await t.ds.query(
      `SELECT id, status, agent_id, target_id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`,
      [f.certId],
    );
    expect(jobs).toEqual([expect.objectContaining({ status: 'Pending', agent_id: f.agentId, target_id: f.targetId })]);
    expect(await t.app.get(JobRunner).run(jobs[0].id)).toBe('not-claimed');
  });

  it('audits the issuance with serial, CA and job', async () => {
    const { t, f } = s;
    const [v] = await certificateVersions(t, f.certId);
    const rows: { actor: string; details: Record<string, unknown> }[] = await t.ds.query(
      `SELECT actor, details FROM audit_events WHERE action = 'certificate_issued' AND resource_id = $1`,
      [f.certId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].details).toMatchObject({ serial_number: v.serial_number, ca_id: v.ca_id, keygen: 'server' });
  });

  it('renews with a new key and serial; the old version stays', async () => {
    const { t, f } = s;
    const jobId = await runNewJob(t, f.certId, 'Renewal');
    const v = await eventually(async () => {
      const rows = await certificateVersions(t, f.certId);
      return rows.length === 2 ? rows : undefined;
    });
    expect(v[1].serial_number).not.toBe(v[0].serial_number);
    expect(v[1].job_id).toBe(jobId);
    const audit: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE action = 'certificate_renewed' AND resource_id = $1`,
      [f.certId],
    );
    expect(audit).toHaveLength(1);
  });

  it('fails the job for good, and the certificate, when the profile refuses the names', async () => {
    const { t, f } = s;
    await t.ds.query(`UPDATE managed_certificates SET sans = '{evil.example.org}' WHERE id = $1`, [f.certId]);
    const job = await awaitJobStatus(t, await runNewJob(t, f.certId, 'Renewal'), 'Failed');
    expect(job.last_error).toContain('profile.san_rules');
    expect(job.last_error).toContain('evil.example.org');
    expect(job.attempts).toBe(job.max_attempts);
    expect((await certificateVersions(t, f.certId)).length).toBe(2);
    const rows: { status: string }[] = await t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [
      f.certId,
    ]);
    expect(rows[0].status).toBe('Failed');
    await t.ds.query(`UPDATE managed_certificates SET sans = '{api.life.example.com}' WHERE id = $1`, [f.certId]);
  });
});

describe('issuance lifecycle, agent keygen mode', () => {
  const s = lifecycleSuite('issue_agent', SEALING_ENV);
  const csr = (name: string, keyArgs: string[]) => s.ossl.csr(name, keyArgs, '/CN=ignored.example');

  it('waits for the agent CSR; the issued certificate carries the CSR key and the certificate names', async () => {
    const { t, f, ossl } = s;
    const jobId = await runNewJob(t, f.certId, 'Issuance');
    const job = await awaitJobStatus(t, jobId, 'AwaitingCSR');
    expect(job.agent_id).toBe(f.agentId);
    // A second delivery of the message finds nothing to claim.
    expect(await t.app.get(JobRunner).run(jobId)).toBe('not-claimed');

    const svc = t.app.get(IssuanceService);
    await expect(
      svc.submitCsr(SYSTEM_ACTOR as never, { agentId: 'ag-other', certificateId: f.certId, csrPem: csr('a', EC_P256) }),
    ).rejects.toThrow(/no job .* waiting for a CSR from agent ag-other/);

    const issued = await svc.submitCsr(SYSTEM_ACTOR as never, {
      agentId: f.agentId,
      certificateId: f.certId,
      csrPem: csr('b', EC_P256),
    });
    if ('order_id' in issued) throw new Error('the Local CA answered a pending order');
    ossl.write('b.crt', issued.certificate_pem);
    const certKey = ossl.ok(['x509', '-in', 'b.crt', '-noout', '-pubkey']);
    const csrKey = ossl.ok(['pkey', '-in', 'b.key', '-pubout']);
    expect(certKey).toBe(csrKey);
    expect(ossl.ok(['x509', '-in', 'b.crt', '-noout', '-subject'])).toContain('life.example.com');
    const v = await certificateVersions(t, f.certId);
    expect(v).toHaveLength(1);
    expect(v[0].sealed_private_key).toBeNull();
    expect(v[0].csr_pem).toContain('BEGIN CERTIFICATE REQUEST');
    const rows: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    expect(rows[0].status).toBe('Completed');
  });

  it('refuses a CSR whose key the profile does not allow, names the rule, and records nothing', async () => {
    const { t, f } = s;
    const jobId = await runNewJob(t, f.certId, 'Renewal');
    await awaitJobStatus(t, jobId, 'AwaitingCSR');
    await expect(
      t.app.get(IssuanceService).submitCsr(SYSTEM_ACTOR as never, {
        agentId: f.agentId,
        certificateId: f.certId,
        csrPem: csr('rsa', RSA_2048),
      }),
    ).rejects.toThrow(/profile\.allowed_key_algorithms/);
    expect(await certificateVersions(t, f.certId)).toHaveLength(1);
    const rows: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    expect(rows[0].status).toBe('Failed');
  });
});
