import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { JobStatus } from '@certctl/domain';
import { JobRunner } from '../../apps/server/src/jobs/job-engine';
import { JobFactory } from '../../apps/server/src/jobs/job-factory';
import { eventually, SHARED_DATABASE_KEY, type TestApp } from './test-app';

/** Env for an app that can seal issuer keys; key generation stays the default (the agent's). */
export const SEALING_ENV = SHARED_DATABASE_KEY;

/** Env for an app that issues for real: a sealing key and server-side key generation. */
export const ISSUING_ENV = {
  ...SEALING_ENV,
  CERTCTL_KEYGEN_MODE: 'server',
};

export interface IssuedCertificate {
  certId: string;
  versionId: string;
  /** Lower-case hex, as stored. */
  serial: string;
  /** The leaf alone (PEM). */
  leafPem: string;
  /** The CA that signed it (PEM) and its id. */
  caPem: string;
  caId: string;
}

/** A row of certificate_versions (the columns the tests read). */
export interface VersionRow {
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
  created_at: Date;
}

/** The job columns the tests wait on and read. */
export interface JobRow {
  status: JobStatus;
  last_error: string | null;
  attempts: number;
  max_attempts: number;
  agent_id: string | null;
}

/** The loopback port the app listens on (for real HTTP clients). */
export async function listenOnLoopback(t: TestApp): Promise<number> {
  // createTestApp already listens on a loopback port.
  return (t.app.getHttpServer().address() as AddressInfo).port;
}

/** A Local CA issuer through the API (its root is generated at the first issuance). */
export async function createLocalCaIssuer(t: TestApp, admin: string, id: string): Promise<void> {
  const res = await t.http
    .post('/api/v1/issuers')
    .set('Authorization', admin)
    .send({ id, name: id, type: 'LocalCA', config: { ca_common_name: `CA ${id}` } });
  if (res.status !== 201) throw new Error(`issuer ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * A profile allowing ECDSA P-256 with the given max TTL, for `*.<domain>` and `<domain>`
 * (or, with `domain` null, without SAN rules: any name passes the profile).
 */
export async function createProfile(
  t: TestApp,
  admin: string,
  id: string,
  domain: string | null,
  maxTtlSeconds: number,
  /** More profile fields (requires_approval, description, ...). */
  extra: Record<string, unknown> = {},
): Promise<void> {
  const res = await t.http
    .post('/api/v1/profiles')
    .set('Authorization', admin)
    .send({
      id,
      name: id,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: maxTtlSeconds,
      ...(domain === null ? {} : { san_rules: { permitted_dns_patterns: [`*.${domain}`, domain] } }),
      ...extra,
    });
  if (res.status !== 201) throw new Error(`profile ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** An agent registered through the API; returns its API key as an Authorization header value. */
export async function registerAgent(t: TestApp, admin: string, id: string, name = id): Promise<string> {
  const res = await t.http.post('/api/v1/agents').set('Authorization', admin).send({ id, name });
  if (res.status !== 201) throw new Error(`agent ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return `Bearer ${res.body.api_key}`;
}

/** A managed certificate through the API (not issued yet). */
export async function createCertificate(
  t: TestApp,
  admin: string,
  o: {
    id: string;
    issuerId: string;
    profileId: string;
    commonName: string;
    sans?: string[];
    agentId?: string;
    targetIds?: string[];
  },
): Promise<void> {
  const res = await t.http.post('/api/v1/certificates').set('Authorization', admin).send({
    id: o.id,
    name: o.id,
    common_name: o.commonName,
    sans: o.sans,
    issuer_id: o.issuerId,
    profile_id: o.profileId,
    agent_id: o.agentId,
    target_ids: o.targetIds,
  });
  if (res.status !== 201) throw new Error(`certificate ${o.id}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A new Issuance/Renewal job of the certificate, not run yet; returns its id. */
export async function newJob(t: TestApp, certificateId: string, type: 'Issuance' | 'Renewal'): Promise<string> {
  const job = await t.ds.transaction((m) => t.app.get(JobFactory).create(m, { type, certificateId }));
  return job.id;
}

/** A new Issuance/Renewal job run once by the server's job runner; returns its id. */
export async function runNewJob(t: TestApp, certificateId: string, type: 'Issuance' | 'Renewal'): Promise<string> {
  const id = await newJob(t, certificateId, type);
  await t.app.get(JobRunner).run(id);
  return id;
}

/** Waits until the job has the status (or one of them); returns its row. */
export function awaitJobStatus(t: TestApp, jobId: string, status: JobStatus | readonly JobStatus[]): Promise<JobRow> {
  const wanted: readonly JobStatus[] = typeof status === 'string' ? [status] : status;
  return eventually(async () => {
    const rows: JobRow[] = await t.ds.query(
      `SELECT status, last_error, attempts, max_attempts, agent_id FROM jobs WHERE id = $1`,
      [jobId],
    );
    return rows[0] && wanted.includes(rows[0].status) ? rows[0] : undefined;
  });
}

/** The certificate's versions, oldest first. */
export function certificateVersions(t: TestApp, certificateId: string): Promise<VersionRow[]> {
  return t.ds.query(`SELECT * FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at, id`, [
    certificateId,
  ]);
}

/** The first certificate of a PEM chain (the leaf), newline-terminated. */
export function firstCertificatePem(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem);
  if (!m) throw new Error('no certificate in PEM');
  return m[0].endsWith('\n') ? m[0] : `${m[0]}\n`;
}

/**
 * A managed certificate created through the API and issued by running its Issuance job
 * (the app must run with ISSUING_ENV).
 */
export async function issueCertificate(
  t: TestApp,
  admin: string,
  o: { id: string; issuerId: string; profileId: string; commonName: string },
): Promise<IssuedCertificate> {
  await createCertificate(t, admin, o);
  await runNewJob(t, o.id, 'Issuance');
  const v = await eventually(async () => (await certificateVersions(t, o.id))[0]);
  const ca: { cert_pem: string }[] = await t.ds.query(`SELECT cert_pem FROM issuer_cas WHERE id = $1`, [v.ca_id]);
  if (!v.ca_id || !ca[0]) throw new Error(`certificate ${o.id}: no CA`);
  return {
    certId: o.id,
    versionId: v.id,
    serial: v.serial_number,
    leafPem: firstCertificatePem(v.pem_chain),
    caPem: ca[0].cert_pem,
    caId: v.ca_id,
  };
}

export interface FetchedBytes {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** An HTTP request to an app listening on loopback, with the body as bytes (CRLs, OCSP). */
export async function fetchBytes(url: string, init: RequestInit = {}): Promise<FetchedBytes> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/**
 * openssl talking to the in-process server: it must not block the event loop the server
 * answers on (OpensslDir.run is synchronous).
 */
export function opensslAsync(dir: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openssl', args, { cwd: dir, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code ?? -1) : 0;
      resolve({ status: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}
