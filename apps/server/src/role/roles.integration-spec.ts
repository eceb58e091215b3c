import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { randomBytes, X509Certificate } from 'node:crypto';
import { QueueName } from '@certctl/domain';
import { buildCsr, generateKeyPair, parseCsr } from '@certctl/pki';
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
import { EnrollmentService } from '../enrollment/enrollment.service';
import { JobRunner } from '../jobs/job-engine';

const queue = (t: TestApp, name: QueueName) => t.app.get<Queue>(getQueueToken(name));

/** BullMQ workers connected to any of the queues (they name their Redis connections). */
async function workerCount(t: TestApp): Promise<number> {
  let n = 0;
  for (const name of Object.values(QueueName)) n += (await queue(t, name).getWorkers()).length;
  return n;
}

/**
 * An api replica and a worker replica on one database and Redis prefix: the api one serves
 * and enqueues, the worker one consumes and runs the loops, and neither does the other's part.
 */
describe('CERTCTL_ROLE=api and CERTCTL_ROLE=worker replicas', () => {
  const tag = randomBytes(3).toString('hex');
  let db: PrivateDatabase;
  let api: TestApp;
  let worker: TestApp | undefined;
  let admin: string;
  const f = { issuer: `iss-role-${tag}`, profile: `prof-role-${tag}`, cert: `mc-role-${tag}` };
  let jobId: string;

  beforeAll(async () => {
    db = await createPrivateDatabase(`roles_${tag}`);
    api = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_ROLE: 'api' });
    admin = `Bearer ${(await api.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(api, admin, f.issuer);
    await createProfile(api, admin, f.profile, 'role.example', 30 * 86_400);
    await createCertificate(api, admin, {
      id: f.cert,
      commonName: 'www.role.example',
      issuerId: f.issuer,
      profileId: f.profile,
    });
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await db?.drop();
  });

  it('api: runs no queue worker and schedules no loop', async () => {
    expect(await workerCount(api)).toBe(0);
    expect(await queue(api, QueueName.Scheduler).getJobSchedulers()).toEqual([]);
    expect(() => api.app.get(JobRunner).worker).toThrow(/not yet been initialized/);
  });

  it('api: enqueues a renewal request and leaves it to the workers', async () => {
    const res = await api.http.post(`/api/v1/certificates/${f.cert}/renew`).set('Authorization', admin);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ type: 'Issuance', status: 'Pending' });
    jobId = res.body.id;
    // The message waits in Redis with nobody to take it; the row stays Pending.
    const waiting = await queue(api, QueueName.Jobs).getWaiting();
    expect(waiting.map((j) => j.data)).toContainEqual({ job_id: jobId });
    expect((await api.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]))[0].status).toBe('Pending');
  });

  it('api: still issues in-request enrollments (the job runs in the request, not on a queue)', async () => {
    const csr = await parseCsr(
      await buildCsr({
        keys: await generateKeyPair('ECDSA-P256'),
        commonName: 'dev1.role.example',
        sans: { dns: ['dev1.role.example'] },
      }),
    );
    const out = await api.app.get(EnrollmentService).enroll({
      target: { protocol: 'EST', label: 'role', issuerId: f.issuer, profileId: f.profile },
      csr,
      actor: { actorId: 'est:role:dev1', actorType: 'Device' },
    });
    expect(out.status).toBe('issued');
    if (out.status === 'issued') expect(new X509Certificate(out.issued.certDer).subject).toContain('dev1.role.example');
  });

  it('worker: takes the job the api replica queued and completes it, and schedules the loops', async () => {
    worker = await createTestApp({ ...db.env, ...ISSUING_ENV, CERTCTL_ROLE: 'worker' });
    const job = await awaitJobStatus(api, jobId, 'Completed');
    expect(job.last_error).toBeNull();
    const versions = await certificateVersions(api, f.cert);
    expect(versions).toHaveLength(1);
    expect(versions[0].job_id).toBe(jobId);
    const cert = await api.http.get(`/api/v1/certificates/${f.cert}`).set('Authorization', admin);
    expect(cert.body.status).toBe('Active');

    expect(await workerCount(worker)).toBeGreaterThanOrEqual(Object.values(QueueName).length);
    const schedulers = await eventually(async () => {
      const s = await queue(worker!, QueueName.Scheduler).getJobSchedulers();
      return s.length > 0 ? s : undefined;
    });
    expect(schedulers.map((s) => s.key)).toEqual(expect.arrayContaining(['job-processor', 'renewal-check']));
  });

  it('worker: answers the probes and the metrics scrape, and 404 for the API, Swagger and protocols', async () => {
    const w = worker!;
    expect((await w.http.get('/health')).status).toBe(200);
    expect((await w.http.get('/ready')).body).toMatchObject({ status: 'ready' });
    const metrics = await w.http.get('/api/v1/metrics/prometheus').set('Authorization', admin);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('certctl_certificates_expiring');
    expect((await w.http.get('/api/v1/metrics/prometheus')).status).toBe(401);

    for (const [method, path] of [
      ['get', `/api/v1/certificates/${f.cert}`],
      ['post', `/api/v1/certificates/${f.cert}/renew`],
      ['get', '/api/v1/version'],
      ['get', '/api/docs'],
      ['get', '/.well-known/est/cacerts'],
      ['get', '/scep?operation=GetCACaps'],
      ['get', '/acme/directory'],
      ['get', `/.well-known/pki/crl/${f.issuer}`],
      ['post', '/health'],
    ] as const) {
      const res = await w.http[method](path).set('Authorization', admin);
      expect({ path, method, status: res.status }).toEqual({ path, method, status: 404 });
      expect(res.body.message).toContain('CERTCTL_ROLE=worker');
    }
    // The api replica serves the same routes.
    expect((await api.http.get(`/api/v1/certificates/${f.cert}`).set('Authorization', admin)).status).toBe(200);
  });
});
