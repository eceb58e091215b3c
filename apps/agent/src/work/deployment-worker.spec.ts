import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployContext, DeployResult, TargetConnector } from '@certctl/connectors';
import type { AgentCertificate, JobStatusReport, ServerApi, WorkItem } from '../api/server-api';
import { KeyStore } from '../keys/key-store';
import { AgentLogger } from '../logging/agent-logger';
import { handleDeploymentJob } from './deployment-worker';

/**
 * The deployment worker's target secrets: the work item names the secret fields only, the
 * agent's CERTCTL_AGENT_TARGET_SECRETS_FILE supplies their values before the configuration
 * is checked and handed to the connector. The server is a recording stand-in; the key store,
 * the key and certificate (openssl) and the config check are real.
 */

const root = mkdtempSync(join(tmpdir(), 'certctl-agent-deploy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CERT_ID = 'mc-deploy-secrets';
let certPem: string;
let keys: KeyStore;

beforeAll(async () => {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'leaf.key', '-out', 'leaf.pem', '-days', '1', '-subj', '/CN=web1.internal'], { cwd: root, encoding: 'utf8' }); // prettier-ignore
  if (r.status !== 0) throw new Error(r.stderr);
  certPem = readFileSync(join(root, 'leaf.pem'), 'utf8');
  keys = new KeyStore(join(root, 'keys'));
  await keys.writePending(CERT_ID, readFileSync(join(root, 'leaf.key'), 'utf8'));
  await keys.promotePending(CERT_ID);
});

function item(over: Partial<WorkItem> = {}): WorkItem {
  return {
    id: 'job-deploy-1',
    type: 'Deployment',
    status: 'Pending',
    certificate_id: CERT_ID,
    created_at: new Date().toISOString(),
    common_name: null,
    sans: null,
    key_algorithm: null,
    target_id: 't-ssh-web1',
    target_type: 'SSH',
    target_name: 'web1 over SSH',
    target_config: {
      host: 'web1.internal',
      username: 'deploy',
      cert_path: '/etc/ssl/web1.crt',
      key_path: '/etc/ssl/web1.key',
    },
    secret_fields: ['password'],
    version_id: 'cv-1',
    ...over,
  };
}

function fakeServer() {
  const reports: JobStatusReport[] = [];
  const api = {
    reportStatus: async (_job: string, body: JobStatusReport) => {
      reports.push(body);
      return { id: 'job-deploy-1', version_id: 'cv-1' };
    },
    certificate: async (): Promise<AgentCertificate> => ({
      certificate_id: CERT_ID,
      version_id: 'cv-1',
      serial_number: '01',
      fingerprint_sha256: '',
      certificate_pem: certPem,
      chain_pem: '',
      not_before: new Date().toISOString(),
      not_after: new Date().toISOString(),
    }),
    reportVerification: async () => ({}),
  };
  return { api: api as unknown as ServerApi, reports };
}

function fakeSsh() {
  const seen: DeployContext[] = [];
  const connector: TargetConnector = {
    type: 'SSH',
    deploy: async (_m, ctx): Promise<DeployResult> => {
      seen.push(ctx);
      return { changed: true, written: ['/etc/ssl/web1.crt'], validated: false, reloaded: false, message: 'ok' };
    },
    verifyEndpoint: () => undefined,
  };
  return { connector, seen };
}

function secretsFile(content: object): string {
  const p = join(root, `secrets-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(content));
  chmodSync(p, 0o600);
  return p;
}

const log = new AgentLogger('silent');

describe('handleDeploymentJob with target secrets', () => {
  it("merges the target's secrets from CERTCTL_AGENT_TARGET_SECRETS_FILE into the connector's config", async () => {
    const { api, reports } = fakeServer();
    const ssh = fakeSsh();
    const file = secretsFile({ 't-ssh-web1': { password: 'hunter22' } });
    const outcome = await handleDeploymentJob(item(), {
      api,
      keys,
      log,
      connectors: () => ssh.connector,
      targetSecretsFile: file,
    });
    expect(outcome).toBe('completed');
    expect(ssh.seen).toHaveLength(1);
    expect(ssh.seen[0].config).toMatchObject({ host: 'web1.internal', username: 'deploy', password: 'hunter22' });
    expect(reports.map((r) => r.status)).toEqual(['Running', 'Completed']);
    expect(JSON.stringify(reports)).not.toContain('hunter22');
  });

  it('fails the deployment naming target and field when the secret is missing (nothing deployed)', async () => {
    for (const file of [undefined, secretsFile({ 't-ssh-web1': {} }), secretsFile({ 't-other': { password: 'x' } })]) {
      const { api, reports } = fakeServer();
      const ssh = fakeSsh();
      const outcome = await handleDeploymentJob(item(), {
        api,
        keys,
        log,
        connectors: () => ssh.connector,
        targetSecretsFile: file,
      });
      expect(outcome).toBe('failed');
      expect(ssh.seen).toHaveLength(0);
      expect(reports.map((r) => r.status)).toEqual(['Running', 'Failed']);
      expect(reports[1].error).toContain('target "t-ssh-web1" (SSH)');
      expect(reports[1].error).toContain('"password"');
      expect(reports[1].error).toContain('CERTCTL_AGENT_TARGET_SECRETS_FILE');
    }
  });

  it('fails the deployment when the file became readable by others since the start', async () => {
    const { api, reports } = fakeServer();
    const ssh = fakeSsh();
    const file = secretsFile({ 't-ssh-web1': { password: 'hunter22' } });
    chmodSync(file, 0o644);
    expect(
      await handleDeploymentJob(item(), { api, keys, log, connectors: () => ssh.connector, targetSecretsFile: file }),
    ).toBe('failed');
    expect(ssh.seen).toHaveLength(0);
    expect(reports[1].error).toContain('chmod 600');
  });

  it('needs no file for a target without secret fields, and still checks the merged config', async () => {
    const { api, reports } = fakeServer();
    const ssh = fakeSsh();
    // SSH without password or private_key is invalid: the config check names the field.
    const outcome = await handleDeploymentJob(item({ secret_fields: [] }), {
      api,
      keys,
      log,
      connectors: () => ssh.connector,
    });
    expect(outcome).toBe('failed');
    expect(reports[1].error).toContain('target.config.private_key: is required unless password is given');
  });
});
