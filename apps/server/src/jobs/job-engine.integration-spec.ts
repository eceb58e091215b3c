import { randomBytes } from 'node:crypto';
import { invalid, type JobType } from '@certctl/domain';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';
import { JobDispatcher, JobHandlerRegistry, JobRunner } from './job-engine';

describe('job engine: claim, dispatch, retry, timeouts', () => {
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');
  const id = (n: string) => `job-eng-${n}-${tag}`;
  const calls = new Map<string, number>();
  let flaky = true;

  const insert = (n: string, type: JobType, status: string, extra = '') =>
    t.ds.query(
      `INSERT INTO jobs (id, type, status${extra ? ', max_attempts' : ''}) VALUES ($1, $2, $3${extra ? ', 2' : ''})`,
      [id(n), type, status],
    );
  interface JobRow {
    status: string;
    attempts: number;
    max_attempts: number;
    last_error: string | null;
  }
  const row = async (n: string): Promise<JobRow> => {
    const rows = await t.ds.query<JobRow[]>(
      `SELECT status, attempts, max_attempts, last_error FROM jobs WHERE id = $1`,
      [id(n)],
    );
    return rows[0];
  };

  beforeAll(async () => {
    t = await createTestApp({
      CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL: '200ms',
      CERTCTL_SCHEDULER_RETRY_INTERVAL: '200ms',
      CERTCTL_JOB_TIMEOUT_INTERVAL: '200ms',
    });
    // The engine with handlers of this test's own (the real ones issue certificates).
    const reg = t.app.get(JobHandlerRegistry);
    const count = (j: { id: string }) => calls.set(j.id, (calls.get(j.id) ?? 0) + 1);
    reg.replace('Issuance', async (j) => {
      count(j);
      await new Promise((r) => setTimeout(r, 50));
      return 'Completed';
    });
    reg.replace('Renewal', async (j) => {
      count(j);
      return 'AwaitingCSR';
    });
    reg.replace('Revocation', async (j) => {
      count(j);
      if (j.id.includes('flaky')) {
        if (flaky) throw new Error('issuer unreachable');
        return 'Completed';
      }
      throw invalid('serial is not ours');
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('runs a job once however often its message is delivered', async () => {
    await insert('dup', 'Issuance', 'Pending');
    const runner = t.app.get(JobRunner);
    const dispatcher = t.app.get(JobDispatcher);
    await Promise.all([
      dispatcher.enqueue([{ id: id('dup') }, { id: id('dup') }]),
      ...Array.from({ length: 5 }, () => runner.run(id('dup'))),
    ]);
    await eventually(async () => ((await row('dup')).status === 'Completed' ? true : undefined));
    await new Promise((r) => setTimeout(r, 500)); // give any duplicate a chance to run
    expect(calls.get(id('dup'))).toBe(1);
    expect(await row('dup')).toMatchObject({ status: 'Completed', attempts: 1 });
  });

  it('never claims jobs awaiting approval or cancelled, nor agent deployments, even when asked directly', async () => {
    await insert('appr', 'Issuance', 'AwaitingApproval');
    await insert('canc', 'Issuance', 'Cancelled');
    await insert('deploy', 'Deployment', 'Pending');
    const runner = t.app.get(JobRunner);
    expect(await runner.run(id('appr'))).toBe('not-claimed');
    expect(await runner.run(id('canc'))).toBe('not-claimed');
    expect(await runner.run(id('deploy'))).toBe('not-claimed');
    await new Promise((r) => setTimeout(r, 600)); // several job-processor ticks
    expect(calls.get(id('appr'))).toBeUndefined();
    expect(calls.get(id('canc'))).toBeUndefined();
    expect((await row('appr')).status).toBe('AwaitingApproval');
    expect((await row('deploy')).status).toBe('Pending');
  });

  it('picks up Pending jobs nobody enqueued (job-processor loop)', async () => {
    await insert('orphan', 'Issuance', 'Pending');
    await eventually(async () => ((await row('orphan')).status === 'Completed' ? true : undefined));
    expect(calls.get(id('orphan'))).toBe(1);
  });

  it('parks a job in AwaitingCSR when the handler needs the agent', async () => {
    await insert('csr', 'Renewal', 'Pending');
    await eventually(async () => ((await row('csr')).status === 'AwaitingCSR' ? true : undefined));
  });

  it('retries a transient failure after backoff, and fails a permanent one for good', async () => {
    await insert('flaky', 'Revocation', 'Pending');
    await insert('perm', 'Revocation', 'Pending', 'max2');
    await eventually(async () => ((await row('flaky')).status === 'Failed' ? true : undefined));
    expect((await row('flaky')).last_error).toContain('issuer unreachable');
    await eventually(async () => ((await row('perm')).status === 'Failed' ? true : undefined));
    flaky = false;
    // the backoff (2^attempts minutes) has not passed: nothing happens yet
    await new Promise((r) => setTimeout(r, 600));
    expect((await row('flaky')).status).toBe('Failed');
    // pretend it has
    await t.ds.query(`UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = ANY($1)`, [
      [id('flaky'), id('perm')],
    ]);
    await eventually(async () => ((await row('flaky')).status === 'Completed' ? true : undefined));
    expect(calls.get(id('flaky'))).toBe(2);
    await new Promise((r) => setTimeout(r, 600));
    expect(await row('perm')).toMatchObject({ status: 'Failed', attempts: 2, last_error: 'serial is not ours' });
    expect(calls.get(id('perm'))).toBe(1);
  });

  it('times out stalled waits; an expired approval is never retried', async () => {
    await insert('stale-csr', 'Renewal', 'AwaitingCSR');
    await insert('stale-appr', 'Issuance', 'AwaitingApproval');
    await t.ds.query(`UPDATE jobs SET updated_at = now() - interval '8 days' WHERE id = ANY($1)`, [
      [id('stale-csr'), id('stale-appr')],
    ]);
    await eventually(async () => ((await row('stale-appr')).status === 'Failed' ? true : undefined));
    const appr = await row('stale-appr');
    expect(appr.last_error).toBe('timed out waiting for approval');
    expect(appr.attempts).toBe(appr.max_attempts);
    const csr = await row('stale-csr');
    expect(csr.last_error).toContain("agent's CSR");
    expect(['Failed', 'Pending', 'Running', 'AwaitingCSR']).toContain(csr.status);
    await new Promise((r) => setTimeout(r, 600));
    expect(calls.get(id('stale-appr'))).toBeUndefined();
  });
  describe('Running too long', () => {
    const cert = () => `mc-jeng-${tag}`;
    const running = async (n: string, type: JobType, startedAgo: string, maxAttempts = 3) => {
      await t.ds.query(
        `INSERT INTO jobs (id, type, status, certificate_id, agent_id, attempts, max_attempts, started_at)
         VALUES ($1, $2, 'Running', $3, $4, 1, $5, now() - $6::interval)`,
        [id(n), type, cert(), type === 'Deployment' ? `ag-gone-${tag}` : null, maxAttempts, startedAgo],
      );
    };
    const version = (n: string, jobId: string) =>
      t.ds.query(
        `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain,
                                           not_before, not_after, job_id)
         VALUES ($1, $2, $3, 'ab', 'PEM', now(), now() + interval '30 days', $4)`,
        [`cv-jeng-${n}-${tag}`, cert(), randomBytes(8).toString('hex'), jobId],
      );
    const audits = (jobId: string) =>
      t.ds.query<{ action: string; actor: string; details: Record<string, unknown> }[]>(
        `SELECT action, actor, details FROM audit_events WHERE resource_type = 'job' AND resource_id = $1`,
        [jobId],
      );

    beforeAll(async () => {
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, status) VALUES ($1, $1, 'jeng.example.com', 'Active')`,
        [cert()],
      );
      await t.ds.query(`INSERT INTO agents (id, name) VALUES ($1, $1)`, [`ag-gone-${tag}`]);
    });

    it('fails a deployment whose agent went away, and the retry loop requeues it', async () => {
      await running('dead-agent', 'Deployment', '2 hours');
      await running('fresh', 'Deployment', '5 minutes');
      await eventually(async () => ((await row('dead-agent')).status === 'Failed' ? true : undefined));
      const failed = await row('dead-agent');
      expect(failed.last_error).toBe(
        `timed out: Running for more than 1h with no status from agent ag-gone-${tag} (presumed gone)`,
      );
      expect(failed.attempts).toBe(1);
      expect(await audits(id('dead-agent'))).toEqual([
        {
          action: 'job_timed_out',
          actor: 'system',
          details: expect.objectContaining({ from_status: 'Running', to_status: 'Failed', retried: true }),
        },
      ]);
      // A run well inside the timeout is left alone.
      await new Promise((r) => setTimeout(r, 600));
      expect((await row('fresh')).status).toBe('Running');
      // Backoff over: the retry loop makes it Pending again for an agent to claim.
      await t.ds.query(`UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = $1`, [id('dead-agent')]);
      await eventually(async () => ((await row('dead-agent')).status === 'Pending' ? true : undefined));
    });

    it('fails a stalled issuance for good when no attempts are left', async () => {
      await running('dead-server', 'Renewal', '3 hours', 1);
      await eventually(async () => ((await row('dead-server')).status === 'Failed' ? true : undefined));
      expect((await row('dead-server')).last_error).toContain('without finishing');
      await t.ds.query(`UPDATE jobs SET updated_at = now() - interval '2 hours' WHERE id = $1`, [id('dead-server')]);
      await new Promise((r) => setTimeout(r, 600));
      expect((await row('dead-server')).status).toBe('Failed');
      expect((await audits(id('dead-server')))[0].details).toMatchObject({ retried: false });
    });

    it('completes a stalled issuance whose certificate was recorded instead of issuing it again', async () => {
      await running('recorded', 'Issuance', '2 hours');
      await version('recorded', id('recorded'));
      await eventually(async () => ((await row('recorded')).status === 'Completed' ? true : undefined));
      expect((await row('recorded')).last_error).toBeNull();
      expect((await audits(id('recorded'))).map((a) => a.action)).toEqual(['job_completed_after_timeout']);
      expect(calls.get(id('recorded'))).toBeUndefined();
    });

    it('completes a retried job that had recorded its certificate without running the handler', async () => {
      await insert('rerun', 'Issuance', 'Pending');
      await t.ds.query(`UPDATE jobs SET certificate_id = $2 WHERE id = $1`, [id('rerun'), cert()]);
      await version('rerun', id('rerun'));
      expect(await t.app.get(JobRunner).run(id('rerun'))).toBe('Completed');
      expect(calls.get(id('rerun'))).toBeUndefined();
      expect(await row('rerun')).toMatchObject({ status: 'Completed', attempts: 1 });
    });
  });
});
