import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TargetConnector } from '@certctl/connectors';
import type { AgentCertificate, IssuedCertificate, JobStatusReport, ServerApi, WorkItem } from '../api/server-api';
import { KeyStore } from '../keys/key-store';
import { AgentLogger } from '../logging/agent-logger';
import { handleCsrJob } from './csr-worker';
import { handleDeploymentJob } from './deployment-worker';

/**
 * Key rotation around the CSR answer. A synchronous CA answers with the certificate: the new
 * key becomes current at once. An asynchronous CA answers AwaitingIssuer: the current key must
 * stay current (deployments of the version in use still need it) and the new key pending until
 * the certificate carrying it arrives with its deployment job. The key store, keys, CSR and the
 * CA signing it (openssl) are real; the server is a recording stand-in answering as
 * POST /agents/{id}/csr and GET /agents/{id}/certificates/{cert} do.
 */

const root = mkdtempSync(join(tmpdir(), 'certctl-agent-csr-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

beforeAll(() => {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Test CA']); // prettier-ignore
});

/** A key and a certificate for it signed by the test CA. */
function keyAndCert(name: string): { key: string; cert: string } {
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]); // prettier-ignore
  return { key: readFileSync(join(root, `${name}.key`), 'utf8'), cert: signCsr(name, readFileSync(join(root, `${name}.csr`), 'utf8')) }; // prettier-ignore
}

/** What the CA does with the agent's CSR: a certificate for the CSR's public key. */
function signCsr(name: string, csrPem: string): string {
  writeFileSync(join(root, `${name}.in.csr`), csrPem);
  openssl(['x509', '-req', '-in', `${name}.in.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '1', '-out', `${name}.issued.pem`]); // prettier-ignore
  return readFileSync(join(root, `${name}.issued.pem`), 'utf8');
}

const log = new AgentLogger('silent');

function csrItem(certificateId: string): WorkItem {
  return {
    id: 'job-csr-1',
    type: 'Renewal',
    status: 'AwaitingCSR',
    certificate_id: certificateId,
    created_at: new Date().toISOString(),
    common_name: 'web1.internal',
    sans: ['web1.internal'],
    key_algorithm: 'ECDSA-P256',
  } as WorkItem;
}

function deployItem(certificateId: string, versionId: string): WorkItem {
  return {
    id: `job-deploy-${versionId}`,
    type: 'Deployment',
    status: 'Pending',
    certificate_id: certificateId,
    created_at: new Date().toISOString(),
    common_name: null,
    sans: null,
    key_algorithm: null,
    target_id: 't-file',
    target_type: 'SSH',
    target_name: 'web1',
    target_config: { host: 'web1.internal', username: 'deploy', password: 'x', cert_path: '/c', key_path: '/k' },
    secret_fields: [],
    version_id: versionId,
  };
}

/**
 * The server's side: answers the CSR (synchronously or AwaitingIssuer) and serves the
 * certificate of each version for deployments.
 */
function fakeServer(certificateId: string, mode: 'sync' | 'async') {
  const csrs: string[] = [];
  const versions = new Map<string, string>();
  const reports: JobStatusReport[] = [];
  const api = {
    submitCsr: async (certId: string, csrPem: string, jobId: string) => {
      csrs.push(csrPem);
      if (mode === 'async') return { status: 'AwaitingIssuer', job_id: jobId, certificate_id: certId, order_id: 'ord-42' }; // prettier-ignore
      const pem = signCsr(`sync-${csrs.length}`, csrPem);
      versions.set('cv-new', pem);
      return { status: 'Completed', job_id: jobId, certificate_id: certId, version_id: 'cv-new', serial_number: '02',
        fingerprint_sha256: '', certificate_pem: pem, chain_pem: '', not_before: '', not_after: '', deployment_job_ids: [] } as IssuedCertificate; // prettier-ignore
    },
    reportStatus: async (jobId: string, body: JobStatusReport) => {
      reports.push(body);
      return { id: jobId, version_id: jobId.replace('job-deploy-', '') };
    },
    certificate: async (_cert: string, versionId: string): Promise<AgentCertificate> => {
      const pem = versions.get(versionId);
      if (!pem) throw new Error(`no version ${versionId}`);
      return {
        certificate_id: certificateId,
        version_id: versionId,
        serial_number: '01',
        fingerprint_sha256: 'x',
        certificate_pem: pem,
        chain_pem: '',
        not_before: '',
        not_after: '',
      };
    },
    reportVerification: async () => ({}),
  };
  return { api: api as unknown as ServerApi, csrs, versions, reports };
}

/** A connector that records the key it was handed. */
function recordingConnector() {
  const keyPems: string[] = [];
  const connector: TargetConnector = {
    type: 'SSH',
    deploy: async (material) => {
      keyPems.push(material.keyPem);
      return { changed: true, written: ['/c', '/k'], validated: false, reloaded: false, message: 'ok' };
    },
    verifyEndpoint: () => undefined,
  };
  return { connector, keyPems };
}

async function storeWithCurrent(certificateId: string, key: string): Promise<KeyStore> {
  const keys = new KeyStore(join(root, certificateId));
  await keys.writePending(certificateId, key);
  await keys.promotePending(certificateId);
  return keys;
}

describe('handleCsrJob and the key lifecycle', () => {
  it('promotes the new key at once when the CA issues synchronously', async () => {
    const id = 'mc-sync';
    const v1 = keyAndCert('sync-v1');
    const keys = await storeWithCurrent(id, v1.key);
    const server = fakeServer(id, 'sync');

    await handleCsrJob(csrItem(id), { api: server.api, keys, log });

    expect(server.csrs).toHaveLength(1);
    expect(readdirSync(keys.dir).sort()).toEqual([`${id}.key`, `${id}.key.prev`]);
    expect(await keys.keyFor(id, server.versions.get('cv-new')!)).toMatchObject({ slot: 'current' });
    expect(await keys.keyFor(id, v1.cert)).toMatchObject({ slot: 'previous', pem: v1.key });
  });

  it('keeps the current key while an asynchronous CA has not issued, and promotes the pending key when its certificate is deployed', async () => {
    const id = 'mc-async';
    const v1 = keyAndCert('async-v1');
    const keys = await storeWithCurrent(id, v1.key);
    const server = fakeServer(id, 'async');
    server.versions.set('cv-1', v1.cert);

    await handleCsrJob(csrItem(id), { api: server.api, keys, log });

    // AwaitingIssuer: the certificate does not exist yet; v1's key stays current.
    expect(readdirSync(keys.dir).sort()).toEqual([`${id}.key`, `${id}.key.pending`]);
    expect(readFileSync(keys.path(id), 'utf8')).toBe(v1.key);
    const newKey = readFileSync(keys.path(id, 'pending'), 'utf8');

    // A deployment of the version in use meanwhile (a new target) still gets v1's key and
    // leaves the pending key alone.
    const first = recordingConnector();
    expect(await handleDeploymentJob(deployItem(id, 'cv-1'), { api: server.api, keys, log, connectors: () => first.connector })).toBe('completed'); // prettier-ignore
    expect(first.keyPems).toEqual([v1.key]);
    expect(readdirSync(keys.dir).sort()).toEqual([`${id}.key`, `${id}.key.pending`]);

    // The CA issues later (the server's poll); its deployment job brings the certificate.
    server.versions.set('cv-2', signCsr('async-v2', server.csrs[0]));
    const second = recordingConnector();
    expect(await handleDeploymentJob(deployItem(id, 'cv-2'), { api: server.api, keys, log, connectors: () => second.connector })).toBe('completed'); // prettier-ignore
    expect(second.keyPems).toEqual([newKey]);
    // Promoted; v1's key was kept as previous until the new certificate was deployed, then dropped.
    expect(readdirSync(keys.dir).sort()).toEqual([`${id}.key`]);
    expect(readFileSync(keys.path(id), 'utf8')).toBe(newKey);
    expect(server.reports.map((r) => r.status)).toEqual(['Running', 'Completed', 'Running', 'Completed']);
  });

  it('keeps the previous key when the new certificate is promoted but its deployment fails', async () => {
    const id = 'mc-async-fail';
    const v1 = keyAndCert('fail-v1');
    const keys = await storeWithCurrent(id, v1.key);
    const server = fakeServer(id, 'async');
    server.versions.set('cv-1', v1.cert);
    await handleCsrJob(csrItem(id), { api: server.api, keys, log });
    server.versions.set('cv-2', signCsr('fail-v2', server.csrs[0]));

    const failing: TargetConnector = {
      type: 'SSH',
      deploy: async () => {
        throw new Error('disk full');
      },
      verifyEndpoint: () => undefined,
    };
    expect(await handleDeploymentJob(deployItem(id, 'cv-2'), { api: server.api, keys, log, connectors: () => failing })).toBe('failed'); // prettier-ignore
    // The certificate exists, so its key is current; v1's key stays for a redeploy of cv-1.
    expect(readdirSync(keys.dir).sort()).toEqual([`${id}.key`, `${id}.key.prev`]);
    const again = recordingConnector();
    expect(await handleDeploymentJob(deployItem(id, 'cv-1'), { api: server.api, keys, log, connectors: () => again.connector })).toBe('completed'); // prettier-ignore
    expect(again.keyPems).toEqual([v1.key]);
  });
});
