import { getQueueToken } from '@nestjs/bullmq';
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import { QueueName } from '@certctl/domain';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { JobRunner } from '../jobs/job-engine';

/**
 * renew, deploy, bulk-renew and bulk-reassign on a database and Redis prefix of this file's
 * own, with the job worker paused: the jobs stay as the requests left them, and queued
 * messages are inspected instead of being run by the issuance handler.
 */
describe('certificate actions: renew, deploy, bulk-renew, bulk-reassign', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let operator: string;
  let viewer: string;
  let queue: Queue;
  const tag = randomBytes(3).toString('hex');
  const n = (s: string) => `${s}-${tag}`;
  const issuer = n('iss-act');
  const agent = n('ag-act');
  const owner = n('o-act');

  const cert = async (id: string, extra: { status?: string; issuer?: string | null; owner?: string } = {}) => {
    await t.ds.query(
      `INSERT INTO managed_certificates (id, name, common_name, status, issuer_id, agent_id, owner_id)
       VALUES ($1, $1, 'act.example.com', $2, $3, $4, $5)`,
      [id, extra.status ?? 'Active', extra.issuer === undefined ? issuer : extra.issuer, agent, extra.owner ?? null],
    );
  };
  const version = (certId: string) =>
    t.ds.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after)
       VALUES ($1, $2, $3, 'ab', 'PEM', now(), now() + interval '30 days')`,
      [`cv-${certId}`, certId, randomBytes(20).toString('hex')],
    );
  const status = async (id: string) =>
    (await t.ds.query<{ status: string }[]>(`SELECT status FROM managed_certificates WHERE id = $1`, [id]))[0].status;
  const audits = async (action: string, id: string) =>
    t.ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE action = $1 AND resource_id = $2`,
      [action, id],
    );
  const post = (path: string, body: object = {}, auth = operator) =>
    t.http.post(`/api/v1/certificates${path}`).set('Authorization', auth).send(body);

  beforeAll(async () => {
    db = await createPrivateDatabase('certactions');
    t = await createTestApp(db.env);
    await t.app.get(JobRunner).worker.pause(true);
    queue = t.app.get<Queue>(getQueueToken(QueueName.Jobs));
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    await t.ds.query(`INSERT INTO issuers (id, name, type) VALUES ($1, $1, 'LocalCA')`, [issuer]);
    await t.ds.query(`INSERT INTO agents (id, name) VALUES ($1, $1)`, [agent]);
    await t.ds.query(`INSERT INTO owners (id, name, email) VALUES ($1, 'Act', $2)`, [owner, `${owner}@example.com`]);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  describe('POST /certificates/{id}/renew', () => {
    it('starts an Issuance job for a never-issued certificate and leaves it Pending; asking again returns that job', async () => {
      const id = n('mc-new');
      await cert(id, { status: 'Pending' });
      const first = await post(`/${id}/renew`);
      expect(first.status).toBe(202);
      expect(first.body).toMatchObject({
        id: expect.stringMatching(/^job-/),
        type: 'Issuance',
        certificate_id: id,
        agent_id: agent,
        status: 'Pending',
        created: true,
      });
      const again = await post(`/${id}/renew`);
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ id: first.body.id, created: false });
      expect(await status(id)).toBe('Pending');
      expect(await audits('certificate_renewal_requested', id)).toEqual([
        { details: expect.objectContaining({ job_id: first.body.id, job_type: 'Issuance' }) },
      ]);
      const jobs = await t.ds.query<unknown[]>(`SELECT 1 FROM jobs WHERE certificate_id = $1`, [id]);
      expect(jobs).toHaveLength(1);
    });

    it('starts a Renewal job for an issued certificate, marks it RenewalInProgress and enqueues the job after commit', async () => {
      const id = n('mc-issued');
      await cert(id);
      await version(id);
      const res = await post(`/${id}/renew`);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ type: 'Renewal', status: 'Pending', created: true });
      expect(await status(id)).toBe('RenewalInProgress');
      const message = await queue.getJob(`${res.body.id}-a0`);
      expect(message?.data).toEqual({ job_id: res.body.id });
    });

    it('refuses unknown, archived, revoked and issuer-less certificates, and callers without cert.issue', async () => {
      const archived = n('mc-archived');
      const revoked = n('mc-revoked');
      const noIssuer = n('mc-noissuer');
      await cert(archived, { status: 'Archived' });
      await t.ds.query(`UPDATE managed_certificates SET archived_at = now() WHERE id = $1`, [archived]);
      await cert(revoked, { status: 'Revoked' });
      await cert(noIssuer, { issuer: null });
      expect((await post(`/${n('mc-nope')}/renew`)).status).toBe(404);
      const a = await post(`/${archived}/renew`);
      expect([a.status, a.body.message]).toEqual([409, expect.stringContaining('is archived')]);
      const r = await post(`/${revoked}/renew`);
      expect([r.status, r.body.message]).toEqual([409, expect.stringContaining('is revoked')]);
      const i = await post(`/${noIssuer}/renew`);
      expect([i.status, i.body.message]).toEqual([400, expect.stringMatching(/^issuer_id: .*has no issuer/)]);
      expect((await post(`/${noIssuer}/renew`, {}, viewer)).status).toBe(403);
      const jobs = await t.ds.query<unknown[]>(`SELECT 1 FROM jobs WHERE certificate_id = ANY($1)`, [
        [archived, revoked, noIssuer],
      ]);
      expect(jobs).toHaveLength(0);
    });
  });

  describe('POST /certificates/{id}/deploy', () => {
    const id = n('mc-deploy');
    const live = n('t-live');
    const off = n('t-off');
    const other = n('t-other');

    beforeAll(async () => {
      await cert(id);
      await version(id);
      await t.ds.query(`INSERT INTO deployment_targets (id, name, type, agent_id) VALUES ($1, $1, 'NGINX', $2)`, [
        live,
        agent,
      ]);
      await t.ds.query(`INSERT INTO deployment_targets (id, name, type, enabled) VALUES ($1, $1, 'NGINX', false)`, [
        off,
      ]);
      await t.ds.query(`INSERT INTO deployment_targets (id, name, type) VALUES ($1, $1, 'NGINX')`, [other]);
      await t.ds.query(
        `INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ($1, $2), ($1, $3)`,
        [id, live, off],
      );
    });

    it('creates one Deployment job per active mapped target, routed to its agent, never enqueued; again is a no-op', async () => {
      const res = await post(`/${id}/deploy`);
      expect(res.status).toBe(202);
      expect(res.body.jobs).toEqual([
        expect.objectContaining({
          type: 'Deployment',
          certificate_id: id,
          target_id: live,
          agent_id: agent,
          status: 'Pending',
          created: true,
        }),
      ]);
      const jobId: string = res.body.jobs[0].id;
      expect(await queue.getJob(`${jobId}-a0`)).toBeUndefined();
      const again = await post(`/${id}/deploy`, { target_ids: [live] });
      expect(again.status).toBe(202);
      expect(again.body.jobs).toEqual([expect.objectContaining({ id: jobId, created: false })]);
      expect(await status(id)).toBe('Active');
      const audit = await audits('certificate_deployment_requested', id);
      expect(audit.map((a) => a.details)).toEqual([
        expect.objectContaining({ target_ids: [live], job_ids: [jobId], created: 1 }),
        expect.objectContaining({ target_ids: [live], job_ids: [jobId], created: 0 }),
      ]);
    });

    it('refuses unmapped or disabled targets, unmapped certificates and never-issued ones', async () => {
      const unmapped = await post(`/${id}/deploy`, { target_ids: [other] });
      expect(unmapped.status).toBe(400);
      expect(unmapped.body.message).toMatch(/^body\.target_ids: target .* is not mapped/);
      const disabled = await post(`/${id}/deploy`, { target_ids: [off] });
      expect([disabled.status, disabled.body.message]).toEqual([400, expect.stringContaining('disabled or retired')]);
      expect((await post(`/${id}/deploy`, { target_ids: 'x' })).status).toBe(400);

      const lonely = n('mc-lonely');
      await cert(lonely);
      await version(lonely);
      const none = await post(`/${lonely}/deploy`);
      expect([none.status, none.body.message]).toEqual([
        400,
        expect.stringMatching(/^target_ids: .*not mapped to any/),
      ]);

      const fresh = n('mc-fresh');
      await cert(fresh, { status: 'Pending' });
      await t.ds.query(`INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ($1, $2)`, [
        fresh,
        live,
      ]);
      const never = await post(`/${fresh}/deploy`);
      expect([never.status, never.body.message]).toEqual([409, expect.stringContaining('no issued version')]);
      expect((await post(`/${n('mc-nope')}/deploy`)).status).toBe(404);
      expect((await post(`/${id}/deploy`, {}, viewer)).status).toBe(403);
      const jobs = await t.ds.query<unknown[]>(`SELECT 1 FROM jobs WHERE certificate_id = ANY($1)`, [[lonely, fresh]]);
      expect(jobs).toHaveLength(0);
    });
  });

  describe('POST /certificates/bulk-renew', () => {
    it('renews each match, reporting certificates that fail and skipping those with an open job', async () => {
      const ok = n('mc-bulk-ok');
      const bad = n('mc-bulk-bad');
      const busy = n('mc-bulk-busy');
      const gone = n('mc-bulk-gone');
      await cert(ok, { owner });
      await version(ok);
      await cert(bad, { owner, issuer: null });
      await cert(busy, { owner });
      await cert(gone, { owner, status: 'Revoked' });
      const open = await post(`/${busy}/renew`);
      expect(open.status).toBe(202);

      const res = await post('/bulk-renew', { owner_id: owner });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ matched: 3, created: 1, skipped: 1 });
      expect(res.body.failed).toEqual([{ certificate_id: bad, error: expect.stringMatching(/^issuer_id: /) }]);
      expect(res.body.job_ids).toHaveLength(2);
      expect(res.body.job_ids).toContain(open.body.id);
      expect(await status(ok)).toBe('RenewalInProgress');
      const summary = await t.ds.query<{ details: Record<string, unknown> }[]>(
        `SELECT details FROM audit_events WHERE action = 'bulk_renewal_requested' AND details->'criteria'->>'owner_id' = $1`,
        [owner],
      );
      expect(summary.map((s) => s.details)).toEqual([
        { criteria: { owner_id: owner }, matched: 3, created: 1, skipped: 1, failed: 1 },
      ]);

      const byIds = await post('/bulk-renew', { certificate_ids: [ok, gone] });
      expect(byIds.body).toMatchObject({ matched: 1, created: 0, skipped: 1, failed: [] });
    });

    it('needs at least one criterion, caps explicit ids at 1000 and needs cert.issue', async () => {
      const empty = await post('/bulk-renew', {});
      expect([empty.status, empty.body.message]).toEqual([400, expect.stringContaining('at least one of')]);
      const many = await post('/bulk-renew', { certificate_ids: Array.from({ length: 1001 }, (_, i) => `mc-${i}`) });
      expect([many.status, many.body.message]).toEqual([400, expect.stringMatching(/^body\.certificate_ids: /)]);
      expect((await post('/bulk-renew', { owner_id: 'Not An Id' })).status).toBe(400);
      expect((await post('/bulk-renew', { owner_id: owner }, viewer)).status).toBe(403);
    });
  });

  describe('POST /certificates/bulk-reassign', () => {
    it('sets the owner of live certificates and reports archived and unknown ones', async () => {
      const team = n('team-act');
      const newOwner = n('o-new');
      await t.ds.query(`INSERT INTO teams (id, name) VALUES ($1, $1)`, [team]);
      await t.ds.query(`INSERT INTO owners (id, name, email) VALUES ($1, 'New', $2)`, [
        newOwner,
        `${newOwner}@example.com`,
      ]);
      const a = n('mc-re-a');
      const b = n('mc-re-b');
      const archived = n('mc-re-arch');
      await cert(a, { owner });
      await cert(b);
      await cert(archived, { status: 'Archived' });
      await t.ds.query(`UPDATE managed_certificates SET archived_at = now() WHERE id = $1`, [archived]);
      const missing = n('mc-re-missing');

      const res = await post('/bulk-reassign', {
        certificate_ids: [a, b, archived, missing],
        owner_id: newOwner,
        team_id: team,
      });
      expect(res.status).toBe(200);
      expect(res.body.updated).toBe(2);
      expect(res.body.failed).toEqual([
        { certificate_id: archived, error: expect.stringContaining('archived') },
        { certificate_id: missing, error: expect.stringContaining('not found') },
      ]);
      const rows = await t.ds.query<{ id: string; owner_id: string; team_id: string }[]>(
        `SELECT id, owner_id, team_id FROM managed_certificates WHERE id = ANY($1) ORDER BY id`,
        [[a, b, archived]],
      );
      expect(rows).toEqual(
        expect.arrayContaining([
          { id: a, owner_id: newOwner, team_id: team },
          { id: b, owner_id: newOwner, team_id: team },
          { id: archived, owner_id: null, team_id: null },
        ]),
      );
      expect(await audits('certificate_updated', a)).toEqual([
        { details: expect.objectContaining({ changed: expect.arrayContaining(['owner_id', 'team_id']) }) },
      ]);
    });

    it('checks references once (400 naming the field) and needs owner_id or team_id and cert.edit', async () => {
      const id = n('mc-re-ref');
      await cert(id, { owner });
      const badOwner = await post('/bulk-reassign', { certificate_ids: [id], owner_id: n('o-ghost') });
      expect([badOwner.status, badOwner.body.message]).toEqual([400, expect.stringMatching(/^body\.owner_id: owner /)]);
      const badTeam = await post('/bulk-reassign', { certificate_ids: [id], team_id: n('team-ghost') });
      expect([badTeam.status, badTeam.body.message]).toEqual([400, expect.stringMatching(/^body\.team_id: team /)]);
      const neither = await post('/bulk-reassign', { certificate_ids: [id] });
      expect([neither.status, neither.body.message]).toEqual([400, expect.stringContaining('owner_id or team_id')]);
      expect((await post('/bulk-reassign', { certificate_ids: [], owner_id: owner })).status).toBe(400);
      expect((await post('/bulk-reassign', { certificate_ids: [id], owner_id: owner }, viewer)).status).toBe(403);
      const cleared = await post('/bulk-reassign', { certificate_ids: [id], owner_id: null });
      expect(cleared.body).toEqual({ updated: 1, failed: [] });
      const row = await t.ds.query<{ owner_id: string | null }[]>(
        `SELECT owner_id FROM managed_certificates WHERE id = $1`,
        [id],
      );
      expect(row[0].owner_id).toBeNull();
    });
  });
});
