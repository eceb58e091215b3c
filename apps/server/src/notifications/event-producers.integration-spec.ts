import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

/**
 * The state changes that produce events (NotificationRouting migration triggers), made with
 * the same SQL transitions the job engine, approval service and agent health loop run:
 * each produces one Email row for the certificate owner in the changing transaction.
 */
describe('event producers', () => {
  const tag = randomBytes(4).toString('hex');
  const id = (name: string) => `${name}-ep-${tag}`;
  const owner = `owner-ep-${tag}@example.com`;
  let t: TestApp;

  beforeAll(async () => {
    // No channel configured: rows stay as the producers wrote them.
    t = await createTestApp({ CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: '1h' });
    await t.ds.query(`INSERT INTO owners (id, name, email) VALUES ($1, 'Owner', $2)`, [id('own'), owner]);
    // One certificate per job: a certificate has at most one open issuance or renewal.
    for (const job of ['job-ok', 'job-fail', 'job-deploy', 'job-retry', 'job-apr-a', 'job-apr-b', 'job-rollback']) {
      await t.ds.query(`INSERT INTO managed_certificates (id, name, common_name, owner_id) VALUES ($1, $1, $2, $3)`, [
        id(`mc-${job}`),
        `ep-${tag}.example.com`,
        id('own'),
      ]);
    }
    for (const [job, type, attempts] of [
      ['job-ok', 'Renewal', 1],
      ['job-fail', 'Renewal', 3],
      ['job-deploy', 'Deployment', 3],
      ['job-retry', 'Renewal', 1],
    ] as const) {
      await t.ds.query(
        `INSERT INTO jobs (id, type, certificate_id, status, attempts, max_attempts) VALUES ($1, $2, $3, 'Running', $4, 3)`,
        [id(job), type, id(`mc-${job}`), attempts],
      );
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  interface Row {
    type: string;
    recipient: string;
    severity: string;
    channel: string;
    status: string;
    message: string;
  }
  const eventsFor = (needle: string): Promise<Row[]> =>
    t.ds.query(
      `SELECT type, recipient, severity, channel, status, message FROM notification_events
        WHERE message LIKE '%' || $1 || '%' ORDER BY type`,
      [needle],
    );
  const finish = (job: string, status: string, error: string | null = null) =>
    t.ds.query(`UPDATE jobs SET status = $2, last_error = $3, updated_at = now() WHERE id = $1`, [job, status, error]);

  it('notifies a renewal success and final renewal and deployment failures, not a failure that will be retried', async () => {
    await finish(id('job-ok'), 'Completed');
    await finish(id('job-fail'), 'Failed', `CA down ${tag}`);
    await finish(id('job-deploy'), 'Failed', `nginx reload failed ${tag}`);
    await finish(id('job-retry'), 'Failed', `transient ${tag}`);
    expect(await eventsFor(id('job-ok'))).toEqual([
      {
        type: 'RenewalSuccess',
        recipient: owner,
        severity: 'info',
        channel: 'Email',
        status: 'pending',
        message: `Certificate ep-${tag}.example.com was renewed (job ${id('job-ok')})`,
      },
    ]);
    expect(await eventsFor(id('job-fail'))).toEqual([
      expect.objectContaining({
        type: 'RenewalFailure',
        recipient: owner,
        severity: 'critical',
        message: expect.stringContaining(`failed after 3 attempt(s)`),
      }),
    ]);
    expect((await eventsFor(id('job-fail')))[0].message).toContain(`CA down ${tag}`);
    expect(await eventsFor(id('job-deploy'))).toEqual([
      expect.objectContaining({ type: 'DeploymentFailure', severity: 'critical' }),
    ]);
    expect(await eventsFor(id('job-retry'))).toEqual([]);
    // The retry loop's Pending -> Running -> Completed does not repeat the success.
    await finish(id('job-ok'), 'Running');
    await finish(id('job-ok'), 'Completed');
    expect(await eventsFor(id('job-ok'))).toHaveLength(1);
  });

  it('notifies approvals requested, decided and expired', async () => {
    for (const name of ['apr-a', 'apr-b']) {
      await t.ds.query(
        `INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Issuance', $2, 'AwaitingApproval')`,
        [id(`job-${name}`), id(`mc-job-${name}`)],
      );
      await t.ds.query(
        `INSERT INTO approval_requests (id, kind, certificate_id, job_id, requested_by, requested_by_type)
         VALUES ($1, 'cert_issuance', $2, $3, 'ak-requester', 'ApiKey')`,
        [id(name), id(`mc-job-${name}`), id(`job-${name}`)],
      );
    }
    await t.ds.query(
      `UPDATE approval_requests SET state = 'approved', decided_by = 'ak-approver', decided_at = now() WHERE id = $1`,
      [id('apr-a')],
    );
    await t.ds.query(`UPDATE approval_requests SET state = 'expired', decided_at = now() WHERE id = $1`, [id('apr-b')]);
    const a = await eventsFor(id('apr-a'));
    expect(a.map((r) => [r.type, r.severity, r.recipient])).toEqual([
      ['ApprovalDecided', 'info', owner],
      ['ApprovalRequested', 'warning', owner],
    ]);
    expect(a[0].message).toBe(
      `Approval ${id('apr-a')} was approved by ak-approver: issuance for certificate ep-${tag}.example.com`,
    );
    expect((await eventsFor(id('apr-b'))).map((r) => r.type)).toEqual(['ApprovalExpired', 'ApprovalRequested']);
  });

  it('notifies each time a live agent goes offline, not a retired one', async () => {
    await t.ds.query(`INSERT INTO agents (id, name, status) VALUES ($1, 'edge-1', 'Online'), ($2, 'old', 'Online')`, [
      id('ag'),
      id('ag-retired'),
    ]);
    const setStatus = (agent: string, status: string) =>
      t.ds.query(`UPDATE agents SET status = $2 WHERE id = $1`, [agent, status]);
    await setStatus(id('ag'), 'Offline');
    await setStatus(id('ag'), 'Offline');
    await setStatus(id('ag'), 'Online');
    await setStatus(id('ag'), 'Offline');
    await t.ds.query(`UPDATE agents SET status = 'Offline', retired_at = now() WHERE id = $1`, [id('ag-retired')]);
    const rows = await eventsFor(id('ag'));
    expect(rows.map((r) => [r.type, r.severity, r.recipient])).toEqual([
      ['AgentOffline', 'warning', ''],
      ['AgentOffline', 'warning', ''],
    ]);
    expect(await eventsFor(id('ag-retired'))).toEqual([]);
  });

  it('writes the row in the changing transaction: a rollback leaves none', async () => {
    await t.ds.query(`INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Renewal', $2, 'Running')`, [
      id('job-rollback'),
      id('mc-job-rollback'),
    ]);
    const runner = t.ds.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(`UPDATE jobs SET status = 'Completed' WHERE id = $1`, [id('job-rollback')]);
      expect(
        await runner.query(`SELECT count(*)::int AS n FROM notification_events WHERE message LIKE '%' || $1 || '%'`, [
          id('job-rollback'),
        ]),
      ).toEqual([{ n: 1 }]);
      await runner.rollbackTransaction();
    } finally {
      await runner.release();
    }
    expect(await eventsFor(id('job-rollback'))).toEqual([]);
  });
});
