import { randomBytes } from 'node:crypto';
import { derToPem, pemToDers } from '@certctl/pki';
import { EC_P256, OpensslDir, RSA_2048 } from '../../../../libs/pki/src/keys/testing';
import { derMutator, prng } from '../../../../test/fuzz/mutate';
import {
  awaitJobStatus,
  createCertificate,
  createLocalCaIssuer,
  createProfile,
  registerAgent,
  runNewJob,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

/**
 * 10,000 random and mutated CSRs through POST /api/v1/agents/{id}/csr while a job waits for
 * one: every answer is a 4xx naming the problem (or the one valid CSR's 201), never a 5xx,
 * and nothing is recorded for a refused CSR.
 */
describe('CSR fuzz at the HTTP layer', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');
  const ids = { issuer: `iss-fz-${tag}`, profile: `prof-fz-${tag}`, agent: `ag-fz-${tag}`, cert: `mc-fz-${tag}` };
  let agentKey: string;
  let seeds: Uint8Array[];

  beforeAll(async () => {
    db = await createPrivateDatabase(`csr_fuzz_${tag}`);
    t = await createTestApp({ ...db.env, ...SEALING_ENV });
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, ids.issuer);
    await createProfile(t, admin, ids.profile, 'fz.example.com', 86_400);
    agentKey = await registerAgent(t, admin, ids.agent);
    await createCertificate(t, admin, {
      id: ids.cert,
      commonName: 'fz.example.com',
      issuerId: ids.issuer,
      profileId: ids.profile,
      agentId: ids.agent,
    });
    const ssl = new OpensslDir();
    seeds = [
      ssl.csr('a', EC_P256, '/CN=fz.example.com', ['subjectAltName=DNS:a.fz.example.com,IP:10.1.2.3']),
      ssl.csr('b', RSA_2048, '/CN=fz.example.com', ['extendedKeyUsage=serverAuth']),
    ].map((pem) => pemToDers(pem, ['CERTIFICATE REQUEST'], 'csr')[0]);
    ssl.remove();
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  it('answers 10,000 mutated CSRs with 4xx (or 201 for an intact one), never 5xx', async () => {
    await awaitJobStatus(t, await runNewJob(t, ids.cert, 'Issuance'), 'AwaitingCSR');

    const seed = 0xc5_f022;
    const rand = prng(seed);
    const mutate = derMutator(rand, seeds);
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const der = mutate(seeds[i % seeds.length]);
      // Mostly PEM as agents send it; sometimes damaged text around it.
      const body = rand() < 0.9 ? derToPem(der, 'CERTIFICATE REQUEST') : Buffer.from(der).toString('latin1');
      const res = await t.http
        .post(`/api/v1/agents/${ids.agent}/csr`)
        .set('Authorization', agentKey)
        .send({ certificate_id: ids.cert, csr_pem: body });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const ok = res.status === 201 || (res.status >= 400 && res.status < 500 && typeof res.body?.message === 'string');
      if (!ok && bad.length < 10) bad.push(`#${i} (seed ${seed}): ${res.status} ${JSON.stringify(res.body)}`);
    }
    expect(bad).toEqual([]);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(5_000);
    // The job took at most one certificate, and whatever was refused left nothing behind.
    const versions: { n: string }[] = await t.ds.query(
      `SELECT count(*) AS n FROM certificate_versions WHERE certificate_id = $1`,
      [ids.cert],
    );
    expect(Number(versions[0].n)).toBe(statuses.get(201) ?? 0);
    expect(Number(versions[0].n)).toBeLessThanOrEqual(1);
  }, 300_000);
});
