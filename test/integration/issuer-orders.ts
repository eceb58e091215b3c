import { JobRunner } from '../../apps/server/src/jobs/job-engine';
import { createCertificate, newJob } from './issued-certificates';
import type { TestApp } from './test-app';

/**
 * What the integration tests of remote and asynchronous CAs share: the issuer created
 * through the API, an agent with a deployment target to map certificates to, and an
 * Issuance job run once (it completes, or waits AwaitingIssuer on the CA's order).
 */

/** Env of an app whose issuer-order poll loop and job processor run every few hundred ms. */
export const FAST_ORDER_POLL_ENV = {
  CERTCTL_ISSUER_POLL_INTERVAL: '200ms',
  CERTCTL_ISSUER_POLL_MAX_INTERVAL: '400ms',
  CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL: '200ms',
};

/** An issuer of any type through the API (its secrets sealed as in production). */
export async function createIssuer(
  t: TestApp,
  admin: string,
  o: { id: string; type: string; config: Record<string, unknown> },
): Promise<void> {
  const res = await t.http
    .post('/api/v1/issuers')
    .set('Authorization', admin)
    .send({ id: o.id, name: o.id, type: o.type, config: o.config });
  if (res.status !== 201) throw new Error(`issuer ${o.id}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** An agent row with one NGINX deployment target (the agent itself never connects). */
export async function insertAgentWithTarget(t: TestApp, agentId: string, targetId: string): Promise<void> {
  await t.ds.query(`INSERT INTO agents (id, name) VALUES ($1, $1)`, [agentId]);
  await t.ds.query(`INSERT INTO deployment_targets (id, name, type, agent_id) VALUES ($1, $1, 'NGINX', $2)`, [
    targetId,
    agentId,
  ]);
}

/**
 * A managed certificate mapped to the agent's target, and its Issuance job run once by the
 * server's job runner; returns the job id and what the run ended in (`AwaitingIssuer`, ...).
 */
export async function orderCertificate(
  t: TestApp,
  admin: string,
  o: { id: string; commonName: string; issuerId: string; profileId: string; agentId: string; targetId: string },
): Promise<{ jobId: string; outcome: string }> {
  await createCertificate(t, admin, {
    id: o.id,
    commonName: o.commonName,
    issuerId: o.issuerId,
    profileId: o.profileId,
    agentId: o.agentId,
    targetIds: [o.targetId],
  });
  const jobId = await newJob(t, o.id, 'Issuance');
  const outcome = await t.app.get(JobRunner).run(jobId);
  return { jobId, outcome };
}

/** The CA order a job waits on (undefined once it is settled). */
export async function issuerOrderId(t: TestApp, jobId: string): Promise<string | undefined> {
  const [order] = await t.ds.query(`SELECT order_id FROM issuer_orders WHERE job_id = $1`, [jobId]);
  return order?.order_id;
}
