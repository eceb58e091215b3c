import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('/api/v1/jobs', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  const tag = randomBytes(3).toString('hex');
  const job = (n: string) => `job-${n}-${tag}`;
  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    for (const [n, type, status] of [
      ['p', 'Issuance', 'Pending'],
      ['a', 'Renewal', 'AwaitingApproval'],
      ['r', 'Renewal', 'Running'],
      ['c', 'Deployment', 'Completed'],
      ['f', 'Issuance', 'Failed'],
    ] as const) {
      // scheduled in the future: no engine loop of any test app may claim these rows
      await t.ds.query(
        `INSERT INTO jobs (id, type, status, last_error, scheduled_at) VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
        [job(n), type, status, `tag ${tag}`],
      );
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('lists with filters (enums case-insensitive) and gets one', async () => {
    const res = await t.http.get('/api/v1/jobs?type=renewal&per_page=500').set('Authorization', viewer);
    expect(res.status).toBe(200);
    const mine = res.body.data.filter((j: { id: string }) => j.id.endsWith(tag));
    expect(mine.map((j: { id: string }) => j.id).sort()).toEqual([job('a'), job('r')]);
    const one = await t.http.get(`/api/v1/jobs/${job('p')}`).set('Authorization', viewer);
    expect(one.body).toMatchObject({ id: job('p'), type: 'Issuance', status: 'Pending', attempts: 0 });
    expect((await t.http.get('/api/v1/jobs?status=Sleeping').set('Authorization', viewer)).status).toBe(400);
    expect((await t.http.get('/api/v1/jobs/job-nope').set('Authorization', viewer)).status).toBe(404);
  });

  it('cancels pending, awaiting and failed jobs, audited; refuses running and finished ones', async () => {
    for (const n of ['p', 'a', 'f']) {
      const res = await t.http
        .post(`/api/v1/jobs/${job(n)}/cancel`)
        .set('Authorization', operator)
        .send({ reason: 'no longer needed' });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('Cancelled');
      expect(res.body.completed_at).not.toBeNull();
    }
    const running = await t.http.post(`/api/v1/jobs/${job('r')}/cancel`).set('Authorization', operator);
    expect(running.status).toBe(409);
    expect(running.body.message).toContain('running');
    expect((await t.http.post(`/api/v1/jobs/${job('c')}/cancel`).set('Authorization', operator)).status).toBe(409);
    const again = await t.http.post(`/api/v1/jobs/${job('p')}/cancel`).set('Authorization', operator);
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('from Cancelled to Cancelled');
    const audit: { details: { from: string } }[] = await t.ds.query(
      `SELECT details FROM audit_events WHERE action = 'job_cancelled' AND resource_id = ANY($1) ORDER BY created_at`,
      [[job('p'), job('a'), job('f')]],
    );
    expect(audit.map((a) => a.details.from).sort()).toEqual(['AwaitingApproval', 'Failed', 'Pending']);
  });

  it('denies cancel without job.cancel', async () => {
    expect((await t.http.post(`/api/v1/jobs/${job('r')}/cancel`).set('Authorization', viewer)).status).toBe(403);
  });
});
