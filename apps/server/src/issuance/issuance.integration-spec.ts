import { randomBytes } from 'node:crypto';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { SYSTEM_ACTOR } from '../audit/audit.repository';
import { JobRunner } from '../jobs/job-engine';
import { JobFactory } from '../jobs/job-factory';
import { IssuanceService } from './issuance.service';

const KEY = 'issuance-test-encryption-key-0123456789abcdef';

interface VersionRow {
  id: string;
  serial_number: string;
  pem_chain: string;
  csr_pem: string | null;
  sealed_private_key: Buffer | null;
  ca_id: string | null;
  issuer_id: string | null;
  job_id: string;
  key_algorithm: string;
  key_size: number;
  not_after: Date;
}

/** Issuer + profile + agent + target + certificate, through the API where the API has it. */
async function fixture(t: TestApp, admin: string, tag: string) {
  const issuer = await t.http
    .post('/api/v1/issuers')
    .set('Authorization', admin)
    .send({
      id: `iss-life-${tag}`,
      name: `Life ${tag}`,
      type: 'LocalCA',
      config: { ca_common_name: `Life CA ${tag}` },
    });
  expect(issuer.status).toBe(201);
  const profile = await t.http
    .post('/api/v1/profiles')
    .set('Authorization', admin)
    .send({
      id: `prof-life-${tag}`,
      name: `Life ${tag}`,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 30 * 86_400,
      san_rules: { permitted_dns_patterns: ['*.life.example.com', 'life.example.com'] },
    });
  expect(profile.status).toBe(201);
  await t.ds.query(`INSERT INTO agents (id, name) VALUES ($1, $1)`, [`ag-life-${tag}`]);
  await t.ds.query(`INSERT INTO deployment_targets (id, name, type, agent_id) VALUES ($1, $1, 'NGINX', $2)`, [
    `t-life-${tag}`,
    `ag-life-${tag}`,
  ]);
  const cert = await t.http
    .post('/api/v1/certificates')
    .set('Authorization', admin)
    .send({
      id: `mc-life-${tag}`,
      name: `life ${tag}`,
      common_name: 'life.example.com',
      sans: ['api.life.example.com'],
      issuer_id: `iss-life-${tag}`,
      profile_id: `prof-life-${tag}`,
      agent_id: `ag-life-${tag}`,
      target_ids: [`t-life-${tag}`],
    });
  expect(cert.status).toBe(201);
  return {
    certId: `mc-life-${tag}`,
    issuerId: `iss-life-${tag}`,
    agentId: `ag-life-${tag}`,
    targetId: `t-life-${tag}`,
  };
}

async function newJob(t: TestApp, certificateId: string, type: 'Issuance' | 'Renewal'): Promise<string> {
  const created = await t.ds.transaction((m) => t.app.get(JobFactory).create(m, { type, certificateId }));
  return created.id;
}

const versions = (t: TestApp, certId: string): Promise<VersionRow[]> =>
  t.ds.query(`SELECT * FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at`, [certId]);

describe('issuance lifecycle, server keygen mode (Local CA)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let f: Awaited<ReturnType<typeof fixture>>;
  const tag = randomBytes(3).toString('hex');
  const ossl = new OpensslDir();

  beforeAll(async () => {
    db = await createPrivateDatabase(`issue_srv_${tag}`);
    t = await createTestApp({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY, CERTCTL_KEYGEN_MODE: 'server' });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    f = await fixture(t, admin, tag);
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
    ossl.remove();
  });

  it('issues once per job, even when the job message is delivered several times', async () => {
    const jobId = await newJob(t, f.certId, 'Issuance');
    const runner = t.app.get(JobRunner);
    const outcomes = await Promise.all([runner.run(jobId), runner.run(jobId), runner.run(jobId)]);
    expect(outcomes.filter((o) => o === 'Completed').length).toBeLessThanOrEqual(1);
    const job = await eventually(async () => {
      const rows: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
      return rows[0]?.status === 'Completed' ? rows[0] : undefined;
    });
    expect(job.status).toBe('Completed');
    expect(await runner.run(jobId)).toBe('not-claimed');
    const v = await versions(t, f.certId);
    expect(v).toHaveLength(1);
    expect(v[0].job_id).toBe(jobId);
    expect(v[0].sealed_private_key).not.toBeNull();
    expect(v[0].csr_pem).toBeNull();
    expect(v[0]).toMatchObject({ key_algorithm: 'ECDSA', key_size: 256, issuer_id: f.issuerId });
  });

  it('issues a certificate openssl verifies against the generated root, with the profile applied', async () => {
    const [v] = await versions(t, f.certId);
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

    const cert = await t.http.get(`/api/v1/certificates/${f.certId}`).set('Authorization', admin);
    expect(cert.body.status).toBe('Active');
    expect(new Date(cert.body.expires_at).getTime()).toBe(v.not_after.getTime());
  });

  it('creates one Pending deployment job per mapped target, routed to the target agent, never claimed by the server', async () => {
    const jobs: { id: string; status: string; agent_id: string; target_id: string }[] = await t.ds.query(
      `SELECT id, status, agent_id, target_id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`,
      [f.certId],
    );
    expect(jobs).toEqual([expect.objectContaining({ status: 'Pending', agent_id: f.agentId, target_id: f.targetId })]);
    expect(await t.app.get(JobRunner).run(jobs[0].id)).toBe('not-claimed');
  });

  it('audits the issuance with serial, CA and job', async () => {
    const [v] = await versions(t, f.certId);
    const rows: { actor: string; details: Record<string, unknown> }[] = await t.ds.query(
      `SELECT actor, details FROM audit_events WHERE action = 'certificate_issued' AND resource_id = $1`,
      [f.certId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].details).toMatchObject({ serial_number: v.serial_number, ca_id: v.ca_id, keygen: 'server' });
  });

  it('renews with a new key and serial; the old version stays', async () => {
    const jobId = await newJob(t, f.certId, 'Renewal');
    await t.app.get(JobRunner).run(jobId);
    const v = await eventually(async () => {
      const rows = await versions(t, f.certId);
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
    await t.ds.query(`UPDATE managed_certificates SET sans = '{evil.example.org}' WHERE id = $1`, [f.certId]);
    const jobId = await newJob(t, f.certId, 'Renewal');
    await t.app.get(JobRunner).run(jobId);
    const job = await eventually(async () => {
      const rows: { status: string; last_error: string; attempts: number; max_attempts: number }[] = await t.ds.query(
        `SELECT status, last_error, attempts, max_attempts FROM jobs WHERE id = $1`,
        [jobId],
      );
      return rows[0]?.status === 'Failed' ? rows[0] : undefined;
    });
    expect(job.last_error).toContain('profile.san_rules');
    expect(job.last_error).toContain('evil.example.org');
    expect(job.attempts).toBe(job.max_attempts);
    expect((await versions(t, f.certId)).length).toBe(2);
    const rows: { status: string }[] = await t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [
      f.certId,
    ]);
    expect(rows[0].status).toBe('Failed');
    await t.ds.query(`UPDATE managed_certificates SET sans = '{api.life.example.com}' WHERE id = $1`, [f.certId]);
  });
});

describe('issuance lifecycle, agent keygen mode', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let f: Awaited<ReturnType<typeof fixture>>;
  const tag = randomBytes(3).toString('hex');
  const ossl = new OpensslDir();

  beforeAll(async () => {
    db = await createPrivateDatabase(`issue_agent_${tag}`);
    t = await createTestApp({ ...db.env, CERTCTL_CONFIG_ENCRYPTION_KEY: KEY });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    f = await fixture(t, admin, tag);
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
    ossl.remove();
  });

  const csr = (name: string, keyArgs: string[]) => {
    ossl.ok([
      'req',
      '-new',
      '-nodes',
      ...keyArgs,
      '-keyout',
      `${name}.key`,
      '-subj',
      '/CN=ignored.example',
      '-out',
      `${name}.csr`,
    ]);
    return ossl.read(`${name}.csr`).toString('utf8');
  };

  it('waits for the agent CSR; the issued certificate carries the CSR key and the certificate names', async () => {
    const jobId = await newJob(t, f.certId, 'Issuance');
    await t.app.get(JobRunner).run(jobId);
    const job = await eventually(async () => {
      const rows: { status: string; agent_id: string }[] = await t.ds.query(
        `SELECT status, agent_id FROM jobs WHERE id = $1`,
        [jobId],
      );
      return rows[0]?.status === 'AwaitingCSR' ? rows[0] : undefined;
    });
    expect(job.agent_id).toBe(f.agentId);
    // A second delivery of the message finds nothing to claim.
    expect(await t.app.get(JobRunner).run(jobId)).toBe('not-claimed');

    const svc = t.app.get(IssuanceService);
    await expect(
      svc.submitCsr(SYSTEM_ACTOR as never, { agentId: 'ag-other', certificateId: f.certId, csrPem: csr('a', EC) }),
    ).rejects.toThrow(/no job .* waiting for a CSR from agent ag-other/);

    const issued = await svc.submitCsr(SYSTEM_ACTOR as never, {
      agentId: f.agentId,
      certificateId: f.certId,
      csrPem: csr('b', EC),
    });
    ossl.write('b.crt', issued.certificate_pem);
    const certKey = ossl.ok(['x509', '-in', 'b.crt', '-noout', '-pubkey']);
    const csrKey = ossl.ok(['pkey', '-in', 'b.key', '-pubout']);
    expect(certKey).toBe(csrKey);
    expect(ossl.ok(['x509', '-in', 'b.crt', '-noout', '-subject'])).toContain('life.example.com');
    const v = await versions(t, f.certId);
    expect(v).toHaveLength(1);
    expect(v[0].sealed_private_key).toBeNull();
    expect(v[0].csr_pem).toContain('BEGIN CERTIFICATE REQUEST');
    const rows: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    expect(rows[0].status).toBe('Completed');
  });

  it('refuses a CSR whose key the profile does not allow, names the rule, and records nothing', async () => {
    const jobId = await newJob(t, f.certId, 'Renewal');
    await t.app.get(JobRunner).run(jobId);
    await eventually(async () => {
      const rows: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
      return rows[0]?.status === 'AwaitingCSR' ? true : undefined;
    });
    await expect(
      t.app.get(IssuanceService).submitCsr(SYSTEM_ACTOR as never, {
        agentId: f.agentId,
        certificateId: f.certId,
        csrPem: csr('rsa', ['-newkey', 'rsa:2048']),
      }),
    ).rejects.toThrow(/profile\.allowed_key_algorithms/);
    expect(await versions(t, f.certId)).toHaveLength(1);
    const rows: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    expect(rows[0].status).toBe('Failed');
  });
});

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
