import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TargetConnector } from '@certctl/connectors';
import { exportPrivateKeyPem, generateKeyPair } from '@certctl/pki';
import {
  FakeCaApi,
  TestCa,
  type ApiAnswer,
  type ApiRequest,
} from '../../../../libs/connectors/src/issuers/remote-ca/testing/fake-ca-api';
import {
  awaitJobStatus,
  createCertificate,
  createProfile,
  listenOnLoopback,
  newJob,
  registerAgent,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import { createIssuer } from '../../../../test/integration/issuer-orders';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { JobRunner } from '../../../server/src/jobs/job-engine';
import { ServerApi, type WorkItem } from '../api/server-api';
import { KeyStore } from '../keys/key-store';
import { AgentLogger } from '../logging/agent-logger';
import { handleCsrJob } from './csr-worker';
import { handleDeploymentJob } from './deployment-worker';

/**
 * The agent against the real server (over HTTP, through the SDK) and an asynchronous CA (a
 * local DigiCert CertCentral on HTTPS): the CSR is answered AwaitingIssuer, so the key the
 * agent generated must stay pending and the one in use current; once the server's poll has
 * the certificate, its deployment job brings it and the pending key is promoted.
 */

const KEY = 'dc-agent-devkey-0123456789';
const tag = randomBytes(3).toString('hex');
const ids = {
  issuer: `iss-dc-agent-${tag}`,
  profile: `prof-dc-agent-${tag}`,
  agent: `ag-dc-${tag}`,
  target: `t-dc-${tag}`,
  cert: `mc-dc-${tag}`,
};

/** A minimal CertCentral: each order stays pending for two polls, then is issued. */
function certCentral(api: FakeCaApi, ca: TestCa): { orders: number } {
  const orders = new Map<number, { csrPem: string; cn: string; polls: number; pem?: string }>();
  let nextId = 9000;
  api.handler = async (r: ApiRequest): Promise<ApiAnswer> => {
    if (r.headers['x-dc-devkey'] !== KEY) return { status: 401, body: { errors: [{ code: 'access_denied' }] } };
    if (r.method === 'GET' && r.path === '/services/v2/organization/4242') return { status: 200, body: { id: 4242 } };
    if (r.method === 'POST' && r.path === '/services/v2/order/certificate/ssl_plus') {
      const b = r.json as { certificate: { csr: string; common_name: string } };
      const id = nextId++;
      orders.set(id, { csrPem: b.certificate.csr, cn: b.certificate.common_name, polls: 0 });
      return { status: 201, body: { id, requests: [{ id: id + 1, status: 'pending' }] } };
    }
    const info = /^\/services\/v2\/order\/certificate\/(\d+)$/.exec(r.path);
    const o = info && orders.get(Number(info[1]));
    if (r.method === 'GET' && o) {
      if (!o.pem && ++o.polls > 2) {
        o.pem = (await ca.sign(o.csrPem, { commonName: o.cn, sans: { dns: [o.cn] } })).certPem;
      }
      const id = Number(info[1]);
      return { status: 200, body: { id, status: o.pem ? 'issued' : 'pending', certificate: o.pem ? { id: id + 50_000 } : {} } }; // prettier-ignore
    }
    const dl = /^\/services\/v2\/certificate\/(\d+)\/download\/format\/pem_all$/.exec(r.path);
    const issued = dl && orders.get(Number(dl[1]) - 50_000)?.pem;
    if (r.method === 'GET' && issued) {
      return { status: 200, body: issued + ca.issuing.certPem + ca.root.certPem, contentType: 'text/plain' };
    }
    return { status: 404, body: { errors: [{ code: 'not_found', message: `${r.method} ${r.path}` }] } };
  };
  return {
    get orders() {
      return orders.size;
    },
  };
}

const spki = (pem: string): Buffer => createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });

let db: PrivateDatabase;
let t: TestApp;
let fake: FakeCaApi;
let cc: { orders: number };
let dir: string;
let api: ServerApi;
let keys: KeyStore;
const log = new AgentLogger('silent');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'certctl-agent-async-'));
  const ca = await TestCa.create('Agent Async Test');
  fake = await FakeCaApi.start();
  cc = certCentral(fake, ca);
  db = await createPrivateDatabase(`agent_async_${tag}`);
  t = await createTestApp({
    ...db.env,
    ...SEALING_ENV,
    CERTCTL_ISSUER_POLL_INTERVAL: '200ms',
    CERTCTL_ISSUER_POLL_MAX_INTERVAL: '400ms',
    CERTCTL_ISSUER_POLL_TIMEOUT: '30s',
  });
  expect(t.config.issuance.keygenMode).toBe('agent');
  const port = await listenOnLoopback(t);
  const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;

  writeFileSync(join(dir, 'dc-tls.pem'), fake.tlsCaPem);
  await createIssuer(t, admin, {
    id: ids.issuer,
    type: 'DigiCert',
    config: {
      api_key: KEY,
      organization_id: 4242,
      product_name_id: 'ssl_plus',
      base_url: fake.url,
      ca_cert_path: join(dir, 'dc-tls.pem'),
      timeout_seconds: 5,
    },
  });
  await createProfile(t, admin, ids.profile, 'dcagent.example.com', 30 * 86_400);
  const agentKey = (await registerAgent(t, admin, ids.agent)).replace(/^Bearer /, '');
  const target = await t.http
    .post('/api/v1/targets')
    .set('Authorization', admin)
    .send({
      id: ids.target,
      name: ids.target,
      type: 'NGINX',
      agent_id: ids.agent,
      config: { cert_path: '/etc/nginx/ssl/dc.crt', key_path: '/etc/nginx/ssl/dc.key', fullchain: true },
    });
  expect(target.status).toBe(201);
  await createCertificate(t, admin, {
    id: ids.cert,
    commonName: 'dcagent.example.com',
    issuerId: ids.issuer,
    profileId: ids.profile,
    agentId: ids.agent,
    targetIds: [ids.target],
  });

  api = new ServerApi({ serverUrl: `http://127.0.0.1:${port}` }, agentKey);
  await api.useIdentity(ids.agent, agentKey);
  keys = new KeyStore(join(dir, 'keys'));
}, 90_000);

afterAll(async () => {
  await api?.close();
  await t?.close();
  await db?.drop();
  await fake?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The agent's next work item of this certificate with the given status. */
function nextWork(status: string): Promise<WorkItem> {
  return eventually(async () => (await api.work()).find((w) => w.certificate_id === ids.cert && w.status === status));
}

/** An NGINX connector that records the key it is handed (the deployment is not under test). */
function recordingNginx(): { connector: TargetConnector; keyPems: string[] } {
  const keyPems: string[] = [];
  return {
    keyPems,
    connector: {
      type: 'NGINX',
      deploy: async (material) => {
        keyPems.push(material.keyPem);
        return { changed: true, written: [], validated: true, reloaded: true, message: 'recorded' };
      },
      verifyEndpoint: () => undefined,
    },
  };
}

describe('agent CSR answered AwaitingIssuer (asynchronous CA)', () => {
  it('keeps the key in use until the certificate of the new key arrives with its deployment', async () => {
    // The key of the version in use (as an earlier issuance would have left it).
    const inUse = exportPrivateKeyPem((await generateKeyPair('ECDSA-P256')).privateKey);
    await keys.writePending(ids.cert, inUse);
    await keys.promotePending(ids.cert);

    const jobId = await newJob(t, ids.cert, 'Renewal');
    expect(await t.app.get(JobRunner).run(jobId)).toBe('AwaitingCSR');

    await handleCsrJob(await nextWork('AwaitingCSR'), { api, keys, log });
    expect(cc.orders).toBe(1);
    const [job] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    expect(['AwaitingIssuer', 'Completed']).toContain(job.status);
    // No certificate yet: the key in use stays current, the new one pending.
    expect(readdirSync(keys.dir).sort()).toEqual([`${ids.cert}.key`, `${ids.cert}.key.pending`]);
    expect(readFileSync(keys.path(ids.cert), 'utf8')).toBe(inUse);
    const fresh = readFileSync(keys.path(ids.cert, 'pending'), 'utf8');

    // The server's poll gets the certificate from the CA and creates the deployment job.
    await awaitJobStatus(t, jobId, 'Completed');
    const deployment = await nextWork('Pending');
    expect(deployment.type).toBe('Deployment');
    const nginx = recordingNginx();
    expect(await handleDeploymentJob(deployment, { api, keys, log, connectors: () => nginx.connector })).toBe(
      'completed',
    );

    // Deployed with the new key, which is now current; the old one is gone once deployed.
    expect(nginx.keyPems).toEqual([fresh]);
    expect(readdirSync(keys.dir)).toEqual([`${ids.cert}.key`]);
    expect(readFileSync(keys.path(ids.cert), 'utf8')).toBe(fresh);
    const served = await api.certificate(ids.cert);
    expect(new X509Certificate(served.certificate_pem).publicKey.export({ type: 'spki', format: 'der' })).toEqual(
      spki(fresh),
    );
  });
});
