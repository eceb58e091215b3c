import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCsr, effectiveSans, generateKeyPair, sansFromStrings } from '@certctl/pki';
import { ServerApi, type WorkItem } from '../../../../agent/src/api/server-api';
import { KeyStore } from '../../../../agent/src/keys/key-store';
import { AgentLogger } from '../../../../agent/src/logging/agent-logger';
import { handleCsrJob } from '../../../../agent/src/work/csr-worker';
import { freePort, Pebble } from '../../../../../libs/connectors/src/issuers/acme/testing/pebble';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createProfile,
  listenOnLoopback,
  registerAgent,
  runNewJob,
  SEALING_ENV,
} from '../../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../../test/integration/test-app';
import { createAcmeIssuer, verifyAgainstPebbleRoot } from '../../../../../test/integration/acme-issuer-fixture';

/**
 * The ACME issuer in the default (agent) keygen mode: the job waits AwaitingCSR, the agent's
 * own CSR worker (its key store, its SDK client over HTTP) makes the key and the CSR, and the
 * server finalizes the ACME order at a real Pebble with that CSR. The private key never
 * reaches the server, so the leaf must carry the agent's public key.
 */
describe('ACME issuer with an agent-generated key (agent keygen mode)', () => {
  const tag = randomBytes(3).toString('hex');
  const ids = {
    issuer: `iss-acme-ag-${tag}`,
    profile: `prof-acme-ag-${tag}`,
    agent: `ag-acme-${tag}`,
    cert: `mc-acme-ag-${tag}`,
    mismatch: `mc-acme-ag-bad-${tag}`,
  };
  const names = [`www.${tag}.acme.test`, `api.${tag}.acme.test`, `${tag}.acme.test`];
  const log = new AgentLogger('silent');
  let dir: string;
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let agentKey: string;
  let pebble: Pebble;
  let api: ServerApi;
  let keys: KeyStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'certctl-acme-agent-'));
    pebble = new Pebble({ alwaysValid: true });
    await pebble.start();
    db = await createPrivateDatabase(`acme_agent_${tag}`);
    t = await createTestApp({
      ...db.env,
      ...SEALING_ENV,
      // Always-valid Pebble still validates an authorization only once its challenge is
      // triggered, which the connector does only with a responder configured (never fetched).
      CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: `127.0.0.1:${await freePort()}`,
    });
    expect(t.config.issuance.keygenMode).toBe('agent');
    const port = await listenOnLoopback(t);
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createAcmeIssuer(t, admin, ids.issuer, pebble);
    // *.<tag>.acme.test and <tag>.acme.test: every name below (a pattern's * is one label).
    await createProfile(t, admin, ids.profile, `${tag}.acme.test`, 90 * 86_400);
    agentKey = await registerAgent(t, admin, ids.agent);
    api = new ServerApi({ serverUrl: `http://127.0.0.1:${port}` }, agentKey.replace(/^Bearer /, ''));
    await api.useIdentity(ids.agent, agentKey.replace(/^Bearer /, ''));
    keys = new KeyStore(join(dir, 'keys'));
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    await t?.close();
    await db?.drop();
    await pebble?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A new Issuance job of the certificate, run by the server's job runner up to AwaitingCSR. */
  async function awaitingCsrJob(certId: string): Promise<string> {
    const jobId = await runNewJob(t, certId, 'Issuance');
    await awaitJobStatus(t, jobId, 'AwaitingCSR');
    return jobId;
  }

  /** The agent's work item for the job, as the agent sees it. */
  function workItem(jobId: string): Promise<WorkItem> {
    return eventually(async () => (await api.work()).find((w) => w.id === jobId && w.status === 'AwaitingCSR'));
  }

  it("finalizes the order with the agent's CSR: Completed, all names, the agent's key, a chain to Pebble's root", async () => {
    await createCertificate(t, admin, {
      id: ids.cert,
      issuerId: ids.issuer,
      profileId: ids.profile,
      commonName: names[0],
      sans: names.slice(1),
      agentId: ids.agent,
    });
    const jobId = await awaitingCsrJob(ids.cert);
    const item = await workItem(jobId);
    expect(item).toMatchObject({ common_name: names[0], sans: names.slice(1), key_algorithm: 'ECDSA-P256' });

    await handleCsrJob(item, { api, keys, log });

    const job = await awaitJobStatus(t, jobId, ['Completed', 'Failed']);
    expect(job.last_error).toBeNull();
    expect(job.status).toBe('Completed');
    const [v] = await certificateVersions(t, ids.cert);
    expect(v.issuer_id).toBe(ids.issuer);
    expect(v.sealed_private_key).toBeNull(); // the key stayed with the agent
    expect(v.csr_pem).toContain('BEGIN CERTIFICATE REQUEST');

    expect(await verifyAgainstPebbleRoot(pebble, v.pem_chain)).toContain('leaf.pem: OK');
    const sanText = pebble.dir.ok(['x509', '-in', 'leaf.pem', '-noout', '-ext', 'subjectAltName']);
    for (const n of names) expect(sanText).toContain(`DNS:${n}`);
    expect(sanText.match(/DNS:/g)).toHaveLength(names.length);

    // The leaf's public key is the CSR's, and that is the key the agent keeps (promoted to current).
    pebble.dir.write('agent.csr', v.csr_pem ?? '');
    const leafKey = pebble.dir.ok(['x509', '-in', 'leaf.pem', '-noout', '-pubkey']);
    expect(pebble.dir.ok(['req', '-in', 'agent.csr', '-noout', '-pubkey'])).toBe(leafKey);
    pebble.dir.write('agent.key', readFileSync(keys.path(ids.cert), 'utf8'));
    expect(pebble.dir.ok(['pkey', '-in', 'agent.key', '-pubout'])).toBe(leafKey);
    expect((await pebble.certStatus(v.serial_number)).Status).toBe('Valid');
  });

  it('refuses a CSR whose names differ from the certificate: 400 and the job failed naming the mismatch', async () => {
    await createCertificate(t, admin, {
      id: ids.mismatch,
      issuerId: ids.issuer,
      profileId: ids.profile,
      commonName: `shop.${tag}.acme.test`,
      sans: [`cdn.${tag}.acme.test`],
      agentId: ids.agent,
    });
    const jobId = await awaitingCsrJob(ids.mismatch);
    // Built as the agent builds it, but for other names: cdn is missing, evil is extra.
    const commonName = `shop.${tag}.acme.test`;
    const csrPem = await buildCsr({
      keys: await generateKeyPair('ECDSA-P256'),
      commonName,
      sans: effectiveSans(commonName, sansFromStrings([`evil.${tag}.acme.test`])),
    });
    const res = await t.http
      .post(`/api/v1/agents/${ids.agent}/csr`)
      .set('Authorization', agentKey)
      .send({ certificate_id: ids.mismatch, csr_pem: csrPem, job_id: jobId });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(`missing cdn.${tag}.acme.test`);
    expect(res.body.message).toContain(`not in the certificate evil.${tag}.acme.test`);

    const job = await awaitJobStatus(t, jobId, ['Completed', 'Failed']);
    expect(job.status).toBe('Failed');
    expect(job.last_error).toContain(`missing cdn.${tag}.acme.test`);
    expect(job.last_error).toContain(`not in the certificate evil.${tag}.acme.test`);
    expect(await certificateVersions(t, ids.mismatch)).toHaveLength(0);
  });
});
