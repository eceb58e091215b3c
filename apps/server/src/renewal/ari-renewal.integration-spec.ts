import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopName, QueueName } from '@certctl/domain';
import { ariCertId } from '@certctl/connectors';
import { buildCsr, generateKeyPair } from '@certctl/pki';
import { FakeAcmeCa } from '../../../../libs/connectors/src/issuers/acme/testing/fake-acme-ca';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createProfile,
  firstCertificatePem,
  ISSUING_ENV,
  runNewJob,
} from '../../../../test/integration/issued-certificates';
import { JobRunner } from '../jobs/job-engine';
import { RenewalCheckService } from './renewal-check.service';
import { DAY_MS } from './renewal-rules';

/**
 * ARI-driven renewal (RFC 9773) through the renewal check on a private database: ACME
 * certificates get their renewal time from the CA's suggested window (picked once, kept
 * while the window stays), the CA is asked again only after its Retry-After, and a CA
 * without ARI or failing leaves the threshold rules (or the window already known) in force.
 * The CA is a local ACME server with renewalInfo (Pebble 2.4 has none).
 */

const HOUR = 3_600_000;

interface InfoRow {
  window_start: Date | null;
  window_end: Date | null;
  renew_at: Date | null;
  next_poll_at: Date;
  last_error: string | null;
}

describe('renewal check with ACME Renewal Information', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let check: RenewalCheckService;
  let acme: FakeAcmeCa;
  let dir: string;
  const tag = randomBytes(3).toString('hex');
  const issuer = `iss-ari-${tag}`;
  const id = (n: string) => `mc-ari-${n}-${tag}`;
  /** renewalInfo answers by ARI certificate id. */
  const windows = new Map<string, { start: Date; end: Date; retryAfter?: number } | 'none' | 'down'>();
  const leaves = new Map<string, string>();
  const q = (sql: string, params: unknown[] = []) => t.ds.query(sql, params);

  async function cert(name: string, expiresInMs: number): Promise<string> {
    const keys = await generateKeyPair('ECDSA-P256');
    const host = `${name}.ari.test`;
    const csrPem = await buildCsr({ keys, commonName: host, sans: { dns: [host] } });
    const { certPem, serialHex } = await acme.ca.sign(csrPem, { commonName: host, sans: { dns: [host] } });
    await q(
      `INSERT INTO managed_certificates (id, name, common_name, status, expires_at, issuer_id)
       VALUES ($1, $1, $2, 'Active', now() + make_interval(secs => $3::float8 / 1000), $4)`,
      [id(name), host, expiresInMs, issuer],
    );
    await q(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain,
                                         not_before, not_after, issuer_id)
       VALUES ($1, $2, $3, $4, $5, now() - interval '80 days', now() + make_interval(secs => $6::float8 / 1000), $7)`,
      [
        `cv-${name}-${tag}`,
        id(name),
        serialHex,
        randomBytes(32).toString('hex'),
        certPem + acme.ca.issuing.certPem,
        expiresInMs,
        issuer,
      ],
    );
    leaves.set(name, certPem);
    return ariCertId(certPem);
  }

  const info = async (name: string): Promise<InfoRow | undefined> =>
    (
      (await q(
        `SELECT window_start, window_end, renew_at, next_poll_at, last_error FROM certificate_renewal_info WHERE certificate_id = $1`,
        [id(name)],
      )) as InfoRow[]
    )[0];
  const jobs = async (name: string) =>
    (await q(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Renewal'`, [id(name)])) as { id: string }[];
  const trigger = async (name: string) =>
    (
      (await q(
        `SELECT details->>'trigger' AS trigger FROM audit_events WHERE resource_id = $1 AND action = 'certificate_renewal_scheduled'`,
        [id(name)],
      )) as { trigger: string }[]
    ).map((r) => r.trigger);
  const asked = (certId: string) => acme.requests(`/renewal-info/${certId}`).length;

  beforeAll(async () => {
    acme = await FakeAcmeCa.start({ ari: true });
    acme.renewalInfo = (certId) => {
      const w = windows.get(certId);
      if (w === undefined || w === 'none')
        return { status: 404, body: { type: 'urn:ietf:params:acme:error:malformed' } };
      if (w === 'down') return { status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal' } };
      return {
        status: 200,
        headers: w.retryAfter ? { 'retry-after': String(w.retryAfter) } : undefined,
        body: { suggestedWindow: { start: w.start.toISOString(), end: w.end.toISOString() } },
      };
    };
    dir = mkdtempSync(join(tmpdir(), 'ari-renewal-'));
    const trust = join(dir, 'acme-tls-ca.pem');
    writeFileSync(trust, acme.api.tlsCaPem);
    db = await createPrivateDatabase(`ari_${tag}`);
    t = await createTestApp({
      ...db.env,
      ...ISSUING_ENV,
      CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: '1h',
      CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL: '1h',
      CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL: '1h',
    });
    const queue = t.app.get<Queue>(getQueueToken(QueueName.Scheduler));
    await eventually(
      async () =>
        (await queue.getJobs(['completed', 'failed'])).some((j) => j.name === LoopName.RenewalCheck) ? true : undefined,
      20_000,
    );
    // Created renewal jobs stay Pending where the test can see them.
    await t.app.get(JobRunner).worker.close();
    check = t.app.get(RenewalCheckService);
    await q(`INSERT INTO issuers (id, name, type, enabled, config) VALUES ($1, $1, 'ACME', true, $2::jsonb)`, [
      issuer,
      JSON.stringify({ directory_url: acme.directoryUrl, email: 'ops@ari.test', trust_ca_path: trust }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    await acme?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renews at a random time in the CA window, asks again only after Retry-After, and keeps the pick', async () => {
    const now = new Date((await q(`SELECT now() AS now`))[0].now as Date);
    // Inside the 30-day threshold window, but the CA suggests renewing 10 to 12 days from now.
    const later = await cert('later', 20 * DAY_MS);
    const start = new Date(now.getTime() + 10 * DAY_MS);
    const end = new Date(now.getTime() + 12 * DAY_MS);
    windows.set(later, { start, end, retryAfter: 7200 });
    // Beyond the horizon, but the CA asks for renewal now (a window that is already over).
    const early = await cert('early', 60 * DAY_MS);
    windows.set(early, { start: new Date(now.getTime() - 2 * DAY_MS), end: new Date(now.getTime() - DAY_MS) });
    // The CA has no renewal information for it: the threshold rules apply.
    windows.set(await cert('plain', 20 * DAY_MS), 'none');

    await check.run({ at: now });
    const picked = (await info('later'))!;
    expect(picked.window_start).toEqual(start);
    expect(picked.window_end).toEqual(end);
    expect(picked.renew_at!.getTime()).toBeGreaterThanOrEqual(start.getTime());
    expect(picked.renew_at!.getTime()).toBeLessThan(end.getTime());
    expect(picked.next_poll_at).toEqual(new Date(now.getTime() + 7200_000));
    expect(await jobs('later')).toEqual([]);
    expect(await trigger('early')).toEqual(['ari']);
    expect(await trigger('plain')).toEqual(['threshold']);
    const plain = (await info('plain'))!;
    expect(plain.renew_at).toBeNull();
    expect(plain.next_poll_at).toEqual(new Date(now.getTime() + DAY_MS));

    // An hour later: before the Retry-After, so the CA is not asked again.
    const before = asked(later);
    await check.run({ at: new Date(now.getTime() + HOUR) });
    expect(asked(later)).toBe(before);

    // Three hours later the CA is asked again; the same window keeps the same pick.
    await check.run({ at: new Date(now.getTime() + 3 * HOUR) });
    expect(asked(later)).toBe(before + 1);
    expect((await info('later'))!.renew_at).toEqual(picked.renew_at);
    expect(await jobs('later')).toEqual([]);

    // The CA fails: the window known stays, the error is kept, the CA is asked again in an hour.
    windows.set(later, 'down');
    const failedAt = new Date(now.getTime() + 6 * HOUR);
    await check.run({ at: failedAt });
    const failed = (await info('later'))!;
    expect(failed.renew_at).toEqual(picked.renew_at);
    expect(failed.last_error).toContain('HTTP 503');
    expect(failed.next_poll_at).toEqual(new Date(failedAt.getTime() + HOUR));

    // Once the picked time has come, the renewal job is created, triggered by ARI.
    windows.set(later, { start, end, retryAfter: 7200 });
    await check.run({ at: new Date(picked.renew_at!.getTime() + 1000) });
    expect(await jobs('later')).toHaveLength(1);
    expect(await trigger('later')).toEqual(['ari']);
  });

  it('a renewal job orders with replaces = the ARI id of the certificate it replaces', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createProfile(t, admin, `prof-ari-${tag}`, 'ari.test', 90 * 86_400);
    const certId = id('jobs');
    await createCertificate(t, admin, {
      id: certId,
      issuerId: issuer,
      profileId: `prof-ari-${tag}`,
      commonName: 'jobs.ari.test',
    });
    const issued = await awaitJobStatus(t, await runNewJob(t, certId, 'Issuance'), ['Completed', 'Failed']);
    expect(issued).toMatchObject({ status: 'Completed', last_error: null });
    expect(acme.newOrders.at(-1)).not.toHaveProperty('replaces');
    const [first] = await certificateVersions(t, certId);

    const renewed = await awaitJobStatus(t, await runNewJob(t, certId, 'Renewal'), ['Completed', 'Failed']);
    expect(renewed).toMatchObject({ status: 'Completed', last_error: null });
    expect(acme.newOrders.at(-1)).toEqual({
      identifiers: [{ type: 'dns', value: 'jobs.ari.test' }],
      replaces: ariCertId(firstCertificatePem(first.pem_chain)),
    });
    expect(await certificateVersions(t, certId)).toHaveLength(2);
  });
});
