import { randomBytes } from 'node:crypto';
import { EC_P256, OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  awaitJobStatus,
  createCertificate,
  createLocalCaIssuer,
  createProfile,
  registerAgent,
  runNewJob,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

const SSH_PASSWORD = 'ssh-password-that-must-never-leave-the-server';

interface WorkItem {
  id: string;
  type: string;
  status: string;
  certificate_id: string;
  common_name: string | null;
  sans: string[] | null;
  key_algorithm: string | null;
  target_id: string | null;
  target_type: string | null;
  target_config: Record<string, unknown> | null;
  secret_fields: string[] | null;
  version_id: string | null;
}

/**
 * The agent-mode lifecycle over HTTP with the agent's own key: issuance job -> work shows
 * the CSR job -> CSR (openssl) -> certificate -> work shows the deployments -> claim ->
 * report -> the certificate's deployments list shows the outcome.
 */
describe('agent work API (agent keygen mode)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  const tag = randomBytes(3).toString('hex');
  const ossl = new OpensslDir();
  const ids = {
    issuer: `iss-aw-${tag}`,
    profile: `prof-aw-${tag}`,
    agentA: `ag-aw-a-${tag}`,
    agentB: `ag-aw-b-${tag}`,
    nginx: `t-aw-nginx-${tag}`,
    ssh: `t-aw-ssh-${tag}`,
    cert: `mc-aw-${tag}`,
  };
  let keyA: string;
  let keyB: string;

  const as = (key: string) => ({
    get: (path: string) => t.http.get(path).set('Authorization', key),
    post: (path: string, body: object = {}) => t.http.post(path).set('Authorization', key).send(body),
  });

  const csr = (name: string): string => ossl.csr(name, EC_P256, '/CN=x');

  const jobRow = async (id: string) =>
    (
      await t.ds.query<{ status: string; attempts: number; version_id: string | null; last_error: string | null }[]>(
        `SELECT status, attempts, version_id, last_error FROM jobs WHERE id = $1`,
        [id],
      )
    )[0];

  /** A new Issuance/Renewal job run by the server's job runner, left AwaitingCSR. */
  const awaitingCsrJob = async (type: 'Issuance' | 'Renewal'): Promise<string> => {
    const id = await runNewJob(t, ids.cert, type);
    await awaitJobStatus(t, id, 'AwaitingCSR');
    return id;
  };

  const work = async (key: string, agentId: string): Promise<{ data: WorkItem[]; total: number }> => {
    const res = await as(key).get(`/api/v1/agents/${agentId}/work`);
    expect(res.status).toBe(200);
    return res.body as { data: WorkItem[]; total: number };
  };

  beforeAll(async () => {
    db = await createPrivateDatabase(`agent_work_${tag}`);
    t = await createTestApp({ ...db.env, ...SEALING_ENV });
    expect(t.config.issuance.keygenMode).toBe('agent');
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, ids.issuer);
    await createProfile(t, admin, ids.profile, 'aw.example.com', 30 * 86_400);
    keyA = await registerAgent(t, admin, ids.agentA, `aw-a-${tag}`);
    keyB = await registerAgent(t, admin, ids.agentB, `aw-b-${tag}`);
    const a = as(admin);
    const nginx = await a.post('/api/v1/targets', {
      id: ids.nginx,
      name: `nginx-${tag}`,
      type: 'NGINX',
      agent_id: ids.agentA,
      config: { cert_path: '/etc/nginx/ssl/aw.crt', key_path: '/etc/nginx/ssl/aw.key', fullchain: true },
    });
    expect(nginx.status).toBe(201);
    const ssh = await a.post('/api/v1/targets', {
      id: ids.ssh,
      name: `ssh-${tag}`,
      type: 'SSH',
      agent_id: ids.agentA,
      config: {
        host: 'web.aw.example.com',
        username: 'deploy',
        password: SSH_PASSWORD,
        cert_path: '/srv/tls/aw.crt',
        key_path: '/srv/tls/aw.key',
      },
    });
    expect(ssh.status).toBe(201);
    await createCertificate(t, admin, {
      id: ids.cert,
      commonName: 'aw.example.com',
      sans: ['api.aw.example.com'],
      issuerId: ids.issuer,
      profileId: ids.profile,
      agentId: ids.agentA,
      targetIds: [ids.nginx, ids.ssh],
    });
  });

  afterAll(async () => {
    await t.close();
    await db.drop();
    ossl.remove();
  });

  let issuanceJob: string;
  let issued: {
    job_id: string;
    version_id: string;
    certificate_pem: string;
    chain_pem: string;
    serial_number: string;
    deployment_job_ids: string[];
  };
  let nginxJob: string;
  let sshJob: string;

  it('shows the AwaitingCSR job to its agent, with the names and the key hint; nothing to others', async () => {
    issuanceJob = await awaitingCsrJob('Issuance');
    const w = await work(keyA, ids.agentA);
    expect(w.total).toBe(1);
    expect(w.data).toEqual([
      expect.objectContaining({
        id: issuanceJob,
        type: 'Issuance',
        status: 'AwaitingCSR',
        certificate_id: ids.cert,
        common_name: 'aw.example.com',
        sans: ['api.aw.example.com'],
        key_algorithm: 'ECDSA-P256',
        target_id: null,
        target_config: null,
        version_id: null,
      }),
    ]);
    // Reading changed nothing.
    expect((await jobRow(issuanceJob)).status).toBe('AwaitingCSR');
    expect((await work(keyB, ids.agentB)).data).toEqual([]);
    // An admin key may look too (as with the heartbeat).
    expect((await work(admin, ids.agentA)).data.map((i) => i.id)).toEqual([issuanceJob]);
  });

  it('refuses an agent key acting as another agent (403), unknown agents (404) and a bad limit (400)', async () => {
    const other = await as(keyB).get(`/api/v1/agents/${ids.agentA}/work`);
    expect(other.status).toBe(403);
    expect(other.body.message).toContain(ids.agentB);
    const csrOther = await as(keyB).post(`/api/v1/agents/${ids.agentA}/csr`, {
      certificate_id: ids.cert,
      csr_pem: csr('x'),
    });
    expect(csrOther.status).toBe(403);
    expect((await as(admin).get(`/api/v1/agents/ag-nope-${tag}/work`)).status).toBe(404);
    const bad = await as(keyA).get(`/api/v1/agents/${ids.agentA}/work?limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('query.limit');
    expect((await as(keyA).get(`/api/v1/agents/${ids.agentA}/work?limit=1`)).body.data).toHaveLength(1);
  });

  it('refuses text that is not a CSR (400) without touching the job', async () => {
    const res = await as(keyA).post(`/api/v1/agents/${ids.agentA}/csr`, {
      certificate_id: ids.cert,
      csr_pem: '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n',
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^body\.csr_pem/);
    const missing = await as(keyA).post(`/api/v1/agents/${ids.agentA}/csr`, { certificate_id: ids.cert });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain('body.csr_pem');
    expect((await jobRow(issuanceJob)).status).toBe('AwaitingCSR');
  });

  it('answers 409 when no job waits for this agent’s CSR', async () => {
    const res = await as(keyB).post(`/api/v1/agents/${ids.agentB}/csr`, {
      certificate_id: ids.cert,
      csr_pem: csr('b'),
    });
    expect(res.status).toBe(409);
    expect(res.body.message).toContain(ids.agentB);
    expect((await jobRow(issuanceJob)).status).toBe('AwaitingCSR');
  });

  it('issues from the agent CSR: 201, the certificate carries the CSR key and chains to the CA', async () => {
    const res = await as(keyA).post(`/api/v1/agents/${ids.agentA}/csr`, {
      certificate_id: ids.cert,
      csr_pem: csr('a1'),
      job_id: issuanceJob,
    });
    expect(res.status).toBe(201);
    issued = res.body;
    expect(issued.job_id).toBe(issuanceJob);
    expect(issued.serial_number).toMatch(/^[0-9a-f]+$/);
    expect(issued.deployment_job_ids).toHaveLength(2);
    ossl.write('a1.crt', issued.certificate_pem);
    expect(ossl.ok(['x509', '-in', 'a1.crt', '-noout', '-pubkey'])).toBe(ossl.ok(['pkey', '-in', 'a1.key', '-pubout']));
    expect(ossl.ok(['x509', '-in', 'a1.crt', '-noout', '-ext', 'subjectAltName'])).toContain('DNS:api.aw.example.com');
    const [root] = await t.ds.query<{ cert_pem: string }[]>(
      `SELECT cert_pem FROM issuer_cas WHERE issuer_id = $1 AND parent_id IS NULL`,
      [ids.issuer],
    );
    ossl.write('root.pem', root.cert_pem);
    ossl.write('chain.pem', issued.chain_pem || root.cert_pem);
    expect(ossl.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'a1.crt'])).toContain('a1.crt: OK');
    expect((await jobRow(issuanceJob)).status).toBe('Completed');

    const again = await as(keyA).post(`/api/v1/agents/${ids.agentA}/csr`, {
      certificate_id: ids.cert,
      csr_pem: csr('a2'),
    });
    expect(again.status).toBe(409);
  });

  it('then shows the Deployment jobs with non-secret target config, never a secret value', async () => {
    const res = await as(keyA).get(`/api/v1/agents/${ids.agentA}/work`);
    expect(res.status).toBe(200);
    const w = res.body as { data: WorkItem[]; total: number };
    expect(w.total).toBe(2);
    const byTarget = new Map(w.data.map((i) => [i.target_id, i]));
    const n = byTarget.get(ids.nginx);
    const s = byTarget.get(ids.ssh);
    expect(n).toMatchObject({
      type: 'Deployment',
      status: 'Pending',
      certificate_id: ids.cert,
      target_type: 'NGINX',
      target_config: { cert_path: '/etc/nginx/ssl/aw.crt', key_path: '/etc/nginx/ssl/aw.key', fullchain: true },
      secret_fields: [],
      version_id: issued.version_id,
      common_name: null,
    });
    expect(s).toMatchObject({ target_type: 'SSH', secret_fields: ['password'], version_id: issued.version_id });
    expect(s?.target_config).toMatchObject({ host: 'web.aw.example.com', username: 'deploy' });
    expect(s?.target_config).not.toHaveProperty('password');
    expect(res.text).not.toContain(SSH_PASSWORD);
    nginxJob = n!.id;
    sshJob = s!.id;
    expect(issued.deployment_job_ids.sort()).toEqual([nginxJob, sshJob].sort());
  });

  it('hides another agent’s job (404) and refuses to end a job nobody claimed (409)', async () => {
    const foreign = await as(keyB).post(`/api/v1/agents/${ids.agentB}/jobs/${nginxJob}/status`, { status: 'Running' });
    expect(foreign.status).toBe(404);
    const asOther = await as(keyB).post(`/api/v1/agents/${ids.agentA}/jobs/${nginxJob}/status`, { status: 'Running' });
    expect(asOther.status).toBe(403);
    const early = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${nginxJob}/status`, { status: 'Completed' });
    expect(early.status).toBe(409);
    expect(early.body.message).toContain('Pending');
    const csrJob = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${issuanceJob}/status`, {
      status: 'Failed',
      error: 'x',
    });
    expect(csrJob.status).toBe(409);
    const badStatus = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${nginxJob}/status`, {
      status: 'Cancelled',
    });
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.message).toContain('body.status');
    expect((await jobRow(nginxJob)).status).toBe('Pending');
  });

  it('lets exactly one of two concurrent claims win; the claim pins the version', async () => {
    const claim = () =>
      as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${nginxJob}/status`, {
        status: 'Running',
        details: { hostname: 'web01' },
      });
    const results = await Promise.all([claim(), claim()]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const won = results.find((r) => r.status === 200)!;
    expect(won.body).toMatchObject({ id: nginxJob, status: 'Running', version_id: issued.version_id, attempts: 1 });
    const third = await claim();
    expect(third.status).toBe(409);
    expect(third.body.message).toContain('already claimed');
    // A claimed job is no longer offered.
    expect((await work(keyA, ids.agentA)).data.map((i) => i.id)).toEqual([sshJob]);
  });

  it('serves the claimed certificate and chain to its agent, never a private key; 404 to others', async () => {
    const res = await as(keyA).get(`/api/v1/agents/${ids.agentA}/certificates/${ids.cert}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      certificate_id: ids.cert,
      version_id: issued.version_id,
      serial_number: issued.serial_number,
      chain_pem: issued.chain_pem,
    });
    expect(res.body.certificate_pem.trim()).toBe(issued.certificate_pem.trim());
    expect(res.text).not.toContain('PRIVATE KEY');
    const pinned = await as(keyA).get(
      `/api/v1/agents/${ids.agentA}/certificates/${ids.cert}?version_id=${issued.version_id}`,
    );
    expect(pinned.status).toBe(200);
    expect(
      (await as(keyA).get(`/api/v1/agents/${ids.agentA}/certificates/${ids.cert}?version_id=cv-nope`)).status,
    ).toBe(404);
    expect((await as(keyB).get(`/api/v1/agents/${ids.agentB}/certificates/${ids.cert}`)).status).toBe(404);
    expect((await as(keyB).get(`/api/v1/agents/${ids.agentA}/certificates/${ids.cert}`)).status).toBe(403);
  });

  it('completes the deployment; the certificate’s deployments list shows it, and it is audited', async () => {
    const done = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${nginxJob}/status`, {
      status: 'Completed',
      details: { files: ['/etc/nginx/ssl/aw.crt'] },
    });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'Completed', version_id: issued.version_id, follow_up_job_id: null });
    expect(done.body.completed_at).toEqual(expect.any(String));
    const again = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${nginxJob}/status`, { status: 'Completed' });
    expect(again.status).toBe(409);

    const deployments = await as(admin).get(`/api/v1/certificates/${ids.cert}/deployments`);
    expect(deployments.status).toBe(200);
    const rows = deployments.body.data as { target_id: string; job_id: string; status: string }[];
    expect(rows.find((d) => d.target_id === ids.nginx)).toMatchObject({ job_id: nginxJob, status: 'Completed' });

    const audit = await t.ds.query<{ action: string; actor: string; details: Record<string, unknown> }[]>(
      `SELECT action, actor, details FROM audit_events
        WHERE resource_type = 'certificate' AND resource_id = $1 AND action LIKE 'deployment_%'
          AND details->>'job_id' = $2 ORDER BY created_at`,
      [ids.cert, nginxJob],
    );
    expect(audit.map((a) => a.action)).toEqual(['deployment_started', 'deployment_completed']);
    expect(audit[1].actor).toBe(ids.agentA);
    expect(audit[1].details).toMatchObject({
      target_id: ids.nginx,
      version_id: issued.version_id,
      serial_number: issued.serial_number,
      agent_details: { files: ['/etc/nginx/ssl/aw.crt'] },
    });
  });

  it('requires an error to fail a deployment (400), then records it for the retry loop', async () => {
    expect(
      (await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${sshJob}/status`, { status: 'Running' })).status,
    ).toBe(200);
    const noError = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${sshJob}/status`, { status: 'Failed' });
    expect(noError.status).toBe(400);
    expect(noError.body.message).toContain('body.error');
    expect((await jobRow(sshJob)).status).toBe('Running');
    const failed = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${sshJob}/status`, {
      status: 'Failed',
      error: 'sftp: permission denied',
    });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ status: 'Failed', last_error: 'sftp: permission denied', attempts: 1 });
    expect((await jobRow(sshJob)).attempts).toBeLessThan(3); // left for the retry loop
    const deployments = await as(admin).get(`/api/v1/certificates/${ids.cert}/deployments`);
    const rows = deployments.body.data as { target_id: string; status: string; last_error: string | null }[];
    expect(rows.find((d) => d.target_id === ids.ssh)).toMatchObject({
      status: 'Failed',
      last_error: 'sftp: permission denied',
    });
    const [audit] = await t.ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE action = 'deployment_failed' AND details->>'job_id' = $1`,
      [sshJob],
    );
    expect(audit.details).toMatchObject({ error: 'sftp: permission denied', target_id: ids.ssh });
  });

  it('deploys a newer version next when one was issued while a deployment ran', async () => {
    // Renewal #1 -> v2 and a new Pending deployment for nginx; the agent claims it (pins v2).
    await awaitingCsrJob('Renewal');
    const v2 = await as(keyA).post(`/api/v1/agents/${ids.agentA}/csr`, {
      certificate_id: ids.cert,
      csr_pem: csr('r1'),
    });
    expect(v2.status).toBe(201);
    const pending = (await work(keyA, ids.agentA)).data.find((i) => i.target_id === ids.nginx);
    expect(pending).toMatchObject({ status: 'Pending', version_id: v2.body.version_id });
    const claimed = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${pending!.id}/status`, {
      status: 'Running',
    });
    expect(claimed.body.version_id).toBe(v2.body.version_id);
    // Renewal #2 lands while that deployment runs: the open job is reused, no new one.
    await awaitingCsrJob('Renewal');
    const v3 = await as(keyA).post(`/api/v1/agents/${ids.agentA}/csr`, {
      certificate_id: ids.cert,
      csr_pem: csr('r2'),
    });
    expect(v3.status).toBe(201);
    expect(v3.body.deployment_job_ids).toContain(pending!.id);
    const done = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${pending!.id}/status`, {
      status: 'Completed',
    });
    expect(done.status).toBe(200);
    expect(done.body.version_id).toBe(v2.body.version_id);
    expect(done.body.follow_up_job_id).toEqual(expect.any(String));
    const next = (await work(keyA, ids.agentA)).data.find((i) => i.id === done.body.follow_up_job_id);
    expect(next).toMatchObject({ target_id: ids.nginx, status: 'Pending', version_id: v3.body.version_id });
  });

  it('answers 410 for a retired agent, to its own key and to an admin', async () => {
    const retired = await t.http.delete(`/api/v1/agents/${ids.agentB}`).set('Authorization', admin);
    expect(retired.status).toBe(200);
    expect((await as(keyB).get(`/api/v1/agents/${ids.agentB}/work`)).status).toBe(410);
    expect((await as(admin).get(`/api/v1/agents/${ids.agentB}/work`)).status).toBe(410);
    expect((await as(admin).get(`/api/v1/agents/${ids.agentB}/certificates/${ids.cert}`)).status).toBe(410);
  });
});
