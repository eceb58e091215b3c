import { JobRunner } from '../../apps/server/src/jobs/job-engine';
import { JobFactory } from '../../apps/server/src/jobs/job-factory';
import { eventually, type TestApp } from './test-app';

/** Env for an app that issues for real: a sealing key and server-side key generation. */
export const ISSUING_ENV = {
  CERTCTL_CONFIG_ENCRYPTION_KEY: 'pki-test-encryption-key-0123456789abcdef',
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

/** A Local CA issuer through the API (its root is generated at the first issuance). */
export async function createLocalCaIssuer(t: TestApp, admin: string, id: string): Promise<void> {
  const res = await t.http
    .post('/api/v1/issuers')
    .set('Authorization', admin)
    .send({ id, name: id, type: 'LocalCA', config: { ca_common_name: `CA ${id}` } });
  if (res.status !== 201) throw new Error(`issuer ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A profile allowing ECDSA P-256 for `*.<domain>` and `<domain>`, with the given max TTL. */
export async function createProfile(
  t: TestApp,
  admin: string,
  id: string,
  domain: string,
  maxTtlSeconds: number,
): Promise<void> {
  const res = await t.http
    .post('/api/v1/profiles')
    .set('Authorization', admin)
    .send({
      id,
      name: id,
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: maxTtlSeconds,
      san_rules: { permitted_dns_patterns: [`*.${domain}`, domain] },
    });
  if (res.status !== 201) throw new Error(`profile ${id}: ${res.status} ${JSON.stringify(res.body)}`);
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
  const res = await t.http.post('/api/v1/certificates').set('Authorization', admin).send({
    id: o.id,
    name: o.id,
    common_name: o.commonName,
    issuer_id: o.issuerId,
    profile_id: o.profileId,
  });
  if (res.status !== 201) throw new Error(`certificate ${o.id}: ${res.status} ${JSON.stringify(res.body)}`);
  const job = await t.ds.transaction((m) => t.app.get(JobFactory).create(m, { type: 'Issuance', certificateId: o.id }));
  await t.app.get(JobRunner).run(job.id);
  const v = await eventually(async () => {
    const rows: { id: string; serial_number: string; pem_chain: string; ca_id: string }[] = await t.ds.query(
      `SELECT id, serial_number, pem_chain, ca_id FROM certificate_versions WHERE certificate_id = $1`,
      [o.id],
    );
    return rows[0];
  });
  const ca: { cert_pem: string }[] = await t.ds.query(`SELECT cert_pem FROM issuer_cas WHERE id = $1`, [v.ca_id]);
  const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(v.pem_chain)?.[0];
  if (!leafPem || !ca[0]) throw new Error(`certificate ${o.id}: no leaf or CA`);
  return {
    certId: o.id,
    versionId: v.id,
    serial: v.serial_number,
    leafPem: leafPem.endsWith('\n') ? leafPem : `${leafPem}\n`,
    caPem: ca[0].cert_pem,
    caId: v.ca_id,
  };
}
