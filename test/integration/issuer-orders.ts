import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobRunner } from '../../apps/server/src/jobs/job-engine';
import { createCertificate, createProfile, ISSUING_ENV, newJob } from './issued-certificates';
import { createPrivateDatabase, createTestApp, type PrivateDatabase, type TestApp } from './test-app';

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

/**
 * What a remote-CA integration spec stands on: a private database (sealed issuer secrets stay
 * out of the shared one), the server app on it with a fast issuer-order poll loop, an admin
 * key, a 30-day profile for `<name>.example.com`, an agent with a target, and a directory for
 * trust files. Its ids are `<kind>-<name>-<tag>` (`tag` random per file).
 */
export class IssuerOrdersTestBed {
  readonly tag = randomBytes(3).toString('hex');
  readonly profileId: string;
  readonly agentId: string;
  readonly targetId: string;
  t!: TestApp;
  admin!: string;
  private db?: PrivateDatabase;
  private dir?: string;
  private certSeq = 0;

  constructor(private readonly name: string) {
    this.profileId = `prof-${name}-${this.tag}`;
    this.agentId = `ag-${name}-${this.tag}`;
    this.targetId = `t-${name}-${this.tag}`;
  }

  /** Creates the database, the app (`env` added to the fast poll settings), the profile and the agent. */
  async start(env: Record<string, string> = {}): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), `${this.name}-int-`));
    this.db = await createPrivateDatabase(`${this.name.replace(/-/g, '_')}_${this.tag}`);
    this.t = await createTestApp({ ...this.db.env, ...ISSUING_ENV, ...FAST_ORDER_POLL_ENV, ...env });
    this.admin = `Bearer ${(await this.t.mintKey(['admin'])).key}`;
    await createProfile(this.t, this.admin, this.profileId, `${this.name}.example.com`, 30 * 86_400);
    await insertAgentWithTarget(this.t, this.agentId, this.targetId);
  }

  /** Writes `pem` (a CA API's TLS CA) as `<file>` in the bed's directory; returns its path. */
  trustFile(file: string, pem: string): string {
    if (!this.dir) throw new Error('the bed is not started');
    const path = join(this.dir, file);
    writeFileSync(path, pem);
    return path;
  }

  /** An issuer of any type through the API. */
  createIssuer(o: { id: string; type: string; config: Record<string, unknown> }): Promise<void> {
    return createIssuer(this.t, this.admin, o);
  }

  /**
   * The next certificate (`mc-<name>-<tag>-<n>` for `<host><n>.<name>.example.com`) from
   * `issuerId`, mapped to the bed's target, and its Issuance job run once.
   */
  async order(
    issuerId: string,
    host = 'app',
  ): Promise<{ certId: string; commonName: string; jobId: string; outcome: string }> {
    const n = ++this.certSeq;
    const certId = `mc-${this.name}-${this.tag}-${n}`;
    const commonName = `${host}${n}.${this.name}.example.com`;
    const { jobId, outcome } = await orderCertificate(this.t, this.admin, {
      id: certId,
      commonName,
      issuerId,
      profileId: this.profileId,
      agentId: this.agentId,
      targetId: this.targetId,
    });
    return { certId, commonName, jobId, outcome };
  }

  async close(): Promise<void> {
    await this.t?.close();
    await this.db?.drop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
