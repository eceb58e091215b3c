import { randomBytes } from 'node:crypto';
import { ApprovalWorkflow } from '@certctl/approval';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createLocalCaIssuer,
  createProfile,
  ISSUING_ENV,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { JobDispatcher, JobRunner } from '../jobs/job-engine';
import { RenewalCheckService } from '../renewal/renewal-check.service';

interface Job {
  id: string;
  status: string;
  last_error: string | null;
}

/**
 * The issuance approval gate on real Postgres/Redis: every entry point that creates an
 * issuance job for a gated profile parks it at AwaitingApproval with a request; only a
 * different actor releases it; rejection and expiry cancel it and nothing is ever signed.
 */
describe('issuance approval workflow', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');
  const ids = {
    issuer: `iss-ap-${tag}`,
    gated: `prof-ap-${tag}`,
    quorum: `prof-ap-mn-${tag}`,
    open: `prof-ap-open-${tag}`,
  };
  let admin: string;
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };
  let carol: { id: string; key: string };
  let dave: { id: string; key: string };
  let n = 0;

  const as = (key: string) => ({
    get: (path: string) => t.http.get(path).set('Authorization', `Bearer ${key}`),
    post: (path: string, body: object = {}) => t.http.post(path).set('Authorization', `Bearer ${key}`).send(body),
  });
  const profile = (id: string, extra: Record<string, unknown>) => createProfile(t, admin, id, null, 86_400, extra);
  const cert = async (profileId: string): Promise<string> => {
    const id = `mc-ap-${tag}-${++n}`;
    await createCertificate(t, admin, { id, issuerId: ids.issuer, profileId, commonName: `c${n}.ap.example.com` });
    return id;
  };
  const renewAs = async (key: string, certId: string): Promise<Job> => {
    const res = await as(key).post(`/api/v1/certificates/${certId}/renew`);
    expect(res.status).toBe(202);
    return res.body as Job;
  };
  const approvalOf = async (jobId: string): Promise<{ id: string; state: string; requested_by: string }> => {
    const rows: { id: string; state: string; requested_by: string }[] = await t.ds.query(
      `SELECT id, state, requested_by FROM approval_requests WHERE job_id = $1`,
      [jobId],
    );
    expect(rows).toHaveLength(1);
    return rows[0];
  };
  const job = async (id: string): Promise<Job> =>
    (await t.ds.query<Job[]>(`SELECT id, status, last_error FROM jobs WHERE id = $1`, [id]))[0];
  const issuedAuditRows = async (certId: string): Promise<number> =>
    Number(
      (
        await t.ds.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM audit_events WHERE resource_id = $1 AND action IN ('certificate_issued', 'certificate_renewed')`,
          [certId],
        )
      )[0].n,
    );

  beforeAll(async () => {
    db = await createPrivateDatabase(`approvals_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    [alice, bob, carol, dave] = await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map((name) => t.mintKey(['operator'], `${name}-${tag}`)),
    );
    await createLocalCaIssuer(t, admin, ids.issuer);
    await profile(ids.gated, { requires_approval: true });
    await profile(ids.quorum, { requires_approval: true });
    await t.ds.query(
      `UPDATE certificate_profiles SET required_approvals = 2, approver_roles = '{role-operator}' WHERE id = $1`,
      [ids.quorum],
    );
    await profile(ids.open, {});
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  it('parks a manual renewal at AwaitingApproval with a pending request by the requester; the worker never claims it', async () => {
    const c = await cert(ids.gated);
    const j = await renewAs(alice.key, c);
    expect(j.status).toBe('AwaitingApproval');
    const ar = await approvalOf(j.id);
    expect(ar).toMatchObject({ state: 'pending', requested_by: alice.id });
    expect(await t.app.get(JobRunner).run(j.id)).toBe('not-claimed');
    const list = await as(bob.key).get(`/api/v1/approvals?state=pending&certificate_id=${c}`);
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: ar.id, kind: 'cert_issuance', job_id: j.id })]);
    const one = await as(bob.key).get(`/api/v1/approvals/${ar.id}`);
    expect(one.body).toMatchObject({ state: 'pending', remaining_approvals: 1, decisions: [] });
  });

  it('refuses the requester (403, two-person integrity); another actor releases the job to Pending and it issues; no second decision', async () => {
    const c = await cert(ids.gated);
    const j = await renewAs(alice.key, c);
    const ar = await approvalOf(j.id);
    const self = await as(alice.key).post(`/api/v1/approvals/${ar.id}/approve`, { note: 'mine' });
    expect(self.status).toBe(403);
    expect(self.body.message).toContain('two-person integrity');
    expect((await job(j.id)).status).toBe('AwaitingApproval');

    const ok = await as(bob.key).post(`/api/v1/approvals/${ar.id}/approve`, { note: 'ticket SEC-1' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ state: 'approved', decided_by: bob.id, note: 'ticket SEC-1' });
    await awaitJobStatus(t, j.id, 'Completed');
    expect(await certificateVersions(t, c)).toHaveLength(1);

    const again = await as(carol.key).post(`/api/v1/approvals/${ar.id}/reject`);
    expect(again.status).toBe(409);
    const audit: { actor: string; details: { requested_by: string } }[] = await t.ds.query(
      `SELECT actor, details FROM audit_events WHERE action = 'approval_approved' AND resource_id = $1`,
      [ar.id],
    );
    expect(audit).toEqual([
      expect.objectContaining({ actor: bob.id, details: expect.objectContaining({ requested_by: alice.id }) }),
    ]);
  });

  it('reject cancels the job with the note; replayed queue messages never sign anything', async () => {
    const c = await cert(ids.gated);
    const j = await renewAs(alice.key, c);
    const res = await as(bob.key).post(`/api/v1/jobs/${j.id}/reject`, { note: 'not in change window' });
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('rejected');
    expect(await job(j.id)).toMatchObject({
      status: 'Cancelled',
      last_error: 'approval rejected: not in change window',
    });
    const runner = t.app.get(JobRunner);
    await t.app.get(JobDispatcher).enqueue([{ id: j.id }, { id: j.id, reason: 'approved' }]);
    expect(await Promise.all([runner.run(j.id), runner.run(j.id), runner.run(j.id)])).toEqual([
      'not-claimed',
      'not-claimed',
      'not-claimed',
    ]);
    await new Promise((r) => setTimeout(r, 500)); // the queued messages are consumed meanwhile
    expect(await certificateVersions(t, c)).toHaveLength(0);
    expect(await issuedAuditRows(c)).toBe(0);
    expect((await job(j.id)).status).toBe('Cancelled');
    const audit: { details: { note: string } }[] = await t.ds.query(
      `SELECT details FROM audit_events WHERE action = 'approval_rejected' AND resource_id = (SELECT id FROM approval_requests WHERE job_id = $1)`,
      [j.id],
    );
    expect(audit[0].details.note).toBe('not in change window');
  });

  it('expires requests past the timeout: request expired, job Cancelled "approval expired", one reaper audit row', async () => {
    const c = await cert(ids.gated);
    const j = await renewAs(alice.key, c);
    const ar = await approvalOf(j.id);
    await t.ds.query(`UPDATE approval_requests SET created_at = now() - interval '8 days' WHERE id = $1`, [ar.id]);
    const workflow = t.app.get(ApprovalWorkflow);
    expect(await workflow.expireStale()).toBeGreaterThanOrEqual(1);
    expect(await workflow.expireStale()).toBe(0);
    expect((await approvalOf(j.id)).state).toBe('expired');
    expect(await job(j.id)).toMatchObject({ status: 'Cancelled', last_error: 'approval expired' });
    const audit: { actor: string; actor_type: string }[] = await t.ds.query(
      `SELECT actor, actor_type FROM audit_events WHERE action = 'approval_expired' AND resource_id = $1`,
      [ar.id],
    );
    expect(audit).toEqual([{ actor: 'system-reaper', actor_type: 'System' }]);
  });

  it('gates bulk renew and the renewal-check loop too; ungated profiles go straight to Pending', async () => {
    const gatedCert = await cert(ids.gated);
    const openCert = await cert(ids.open);
    const bulk = await as(alice.key).post('/api/v1/certificates/bulk-renew', {
      certificate_ids: [gatedCert, openCert],
    });
    expect(bulk.status).toBe(202);
    const jobs: { certificate_id: string; status: string; id: string }[] = await t.ds.query(
      `SELECT id, certificate_id, status FROM jobs WHERE certificate_id = ANY($1)`,
      [[gatedCert, openCert]],
    );
    expect(jobs.find((x) => x.certificate_id === gatedCert)?.status).toBe('AwaitingApproval');
    expect(await approvalOf(jobs.find((x) => x.certificate_id === gatedCert)!.id)).toMatchObject({
      requested_by: alice.id,
    });
    expect(await t.ds.query(`SELECT 1 FROM approval_requests WHERE certificate_id = $1`, [openCert])).toHaveLength(0);

    // An issued certificate of a gated profile entering its renewal window.
    const loopCert = await cert(ids.gated);
    await t.ds.query(
      `UPDATE managed_certificates SET status = 'Active', expires_at = now() + interval '2 days' WHERE id = $1`,
      [loopCert],
    );
    await t.app.get(RenewalCheckService).run();
    const loopJob = await eventually(async () => {
      const rows: { id: string; status: string }[] = await t.ds.query(
        `SELECT id, status FROM jobs WHERE certificate_id = $1 AND type = 'Renewal'`,
        [loopCert],
      );
      return rows[0];
    });
    expect(loopJob.status).toBe('AwaitingApproval');
    expect((await approvalOf(loopJob.id)).requested_by).toBe('system');
  });

  it('never leaves a gated job without its request: a failing request insert rolls the job back', async () => {
    const c = await cert(ids.gated);
    await t.ds.query(`
      CREATE FUNCTION refuse_approval_${tag}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.certificate_id = '${c}' THEN RAISE EXCEPTION 'approval store unavailable'; END IF;
        RETURN NEW;
      END $$`);
    await t.ds.query(
      `CREATE TRIGGER refuse_approval_${tag} BEFORE INSERT ON approval_requests FOR EACH ROW EXECUTE FUNCTION refuse_approval_${tag}()`,
    );
    try {
      const res = await as(alice.key).post(`/api/v1/certificates/${c}/renew`);
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(await t.ds.query(`SELECT id FROM jobs WHERE certificate_id = $1`, [c])).toEqual([]);
      const row: { status: string }[] = await t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [c]);
      expect(row[0].status).toBe('Pending');
    } finally {
      await t.ds.query(`DROP TRIGGER refuse_approval_${tag} ON approval_requests`);
      await t.ds.query(`DROP FUNCTION refuse_approval_${tag}()`);
    }
  });

  it('M-of-N: 2 distinct approvers from the pool, the requester refused, the same approver counted once even when concurrent', async () => {
    const c = await cert(ids.quorum);
    const j = await renewAs(alice.key, c);
    const ar = await approvalOf(j.id);
    expect((await as(alice.key).post(`/api/v1/approvals/${ar.id}/approve`)).status).toBe(403);

    const [x, y] = await Promise.all([
      as(bob.key).post(`/api/v1/approvals/${ar.id}/approve`, { note: 'click 1' }),
      as(bob.key).post(`/api/v1/approvals/${ar.id}/approve`, { note: 'click 2' }),
    ]);
    expect([x.status, y.status].sort()).toEqual([200, 409]);
    const mid = await as(bob.key).get(`/api/v1/approvals/${ar.id}`);
    expect(mid.body).toMatchObject({ state: 'pending', remaining_approvals: 1 });
    expect(mid.body.decisions).toHaveLength(1);
    expect((await job(j.id)).status).toBe('AwaitingApproval');

    const done = await as(carol.key).post(`/api/v1/approvals/${ar.id}/approve`);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ state: 'approved', decided_by: carol.id, remaining_approvals: 0 });
    await awaitJobStatus(t, j.id, 'Completed');
    expect((await as(dave.key).post(`/api/v1/approvals/${ar.id}/approve`)).status).toBe(409);
  });

  it('an approver outside the profile approver roles is refused', async () => {
    const c = await cert(ids.quorum);
    const j = await renewAs(alice.key, c);
    const ar = await approvalOf(j.id);
    const outsider = (await t.mintKey(['admin'], `outsider-${tag}`)).key;
    const res = await as(outsider).post(`/api/v1/approvals/${ar.id}/approve`);
    expect(res.status).toBe(403);
    expect(res.body.message).toContain('role-operator');
  });

  it('publishes decision counts and pending ages on the Prometheus endpoint', async () => {
    const res = await t.http.get('/api/v1/metrics/prometheus').set('Authorization', admin);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(
      new RegExp(`certctl_approval_decisions_total\\{outcome="approved",profile_id="${ids.gated}"\\} 1`),
    );
    expect(res.text).toMatch(
      new RegExp(`certctl_approval_decisions_total\\{outcome="rejected",profile_id="${ids.gated}"\\} 1`),
    );
    expect(res.text).toMatch(
      new RegExp(`certctl_approval_decisions_total\\{outcome="expired",profile_id="${ids.gated}"\\} 1`),
    );
    expect(res.text).toContain('certctl_approval_pending_age_seconds_bucket{le="60"}');
  });
});

describe('approval bypass (CERTCTL_APPROVAL_BYPASS=true)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');

  beforeAll(async () => {
    db = await createPrivateDatabase(`approvals_bypass_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_APPROVAL_BYPASS: 'true' });
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  it('auto-approves as system-bypass with an approval_bypassed audit row, and the job issues', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, `iss-bp-${tag}`);
    await createProfile(t, admin, `prof-bp-${tag}`, null, 86_400, { requires_approval: true });
    const c = `mc-bp-${tag}`;
    await createCertificate(t, admin, {
      id: c,
      issuerId: `iss-bp-${tag}`,
      profileId: `prof-bp-${tag}`,
      commonName: 'bp.example.com',
    });
    const res = await t.http.post(`/api/v1/certificates/${c}/renew`).set('Authorization', admin);
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('Pending');
    const ar: { state: string; decided_by: string }[] = await t.ds.query(
      `SELECT state, decided_by FROM approval_requests WHERE certificate_id = $1`,
      [c],
    );
    expect(ar).toEqual([{ state: 'approved', decided_by: 'system-bypass' }]);
    await awaitJobStatus(t, res.body.id, 'Completed');
    const audit: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE actor = 'system-bypass' AND action = 'approval_bypassed'`,
    );
    expect(audit).toHaveLength(1);
  });
});
