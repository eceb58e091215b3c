import { randomBytes } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import { ScriptCa } from '../../../../libs/connectors/src/issuers/openssl/testing/script-ca';
import {
  FakeCaApi,
  TestCa,
  type ApiRequest,
} from '../../../../libs/connectors/src/issuers/remote-ca/testing/fake-ca-api';
import { EC_P256, OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createProfile,
  ISSUING_ENV,
  runNewJob,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import { createIssuer } from '../../../../test/integration/issuer-orders';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { SYSTEM_ACTOR } from '../audit/audit.repository';
import { IssuanceService } from './issuance.service';

/**
 * Remote issuer connectors wired through the server: the issuer is created and tested via
 * the API, the issuance job waits for the agent's CSR, and the connector's CA signs it
 * (a local Vault PKI API; a real `openssl ca` behind the OpenSSL script issuer).
 */
const tag = randomBytes(3).toString('hex');
const VAULT_TOKEN = `hvs.integration-${tag}`;

let db: PrivateDatabase;
let t: TestApp;
let admin: string;
let vault: FakeCaApi;
let vaultCa: TestCa;
let scriptCa: ScriptCa;
const ossl = new OpensslDir();

/** Just enough of Vault's PKI API for issuance: POST /v1/pki/sign/web with the token. */
async function vaultApi(r: ApiRequest) {
  if (r.method === 'GET' && r.path === '/v1/pki/ca/pem') return { status: 200, body: vaultCa.issuing.certPem };
  if (r.headers['x-vault-token'] !== VAULT_TOKEN) return { status: 403, body: { errors: ['permission denied'] } };
  if (r.method === 'GET' && r.path === '/v1/auth/token/lookup-self') return { status: 200, body: { data: {} } };
  if (r.method === 'POST' && r.path === '/v1/pki/sign/web') {
    const b = r.json as { csr: string; common_name: string; alt_names?: string };
    const leaf = await vaultCa.sign(b.csr, { commonName: b.common_name, sans: { dns: b.alt_names?.split(',') ?? [] } });
    return { status: 200, body: { data: { certificate: leaf.certPem, ca_chain: [vaultCa.issuing.certPem] } } };
  }
  return { status: 404, body: { errors: [`no handler for route "${r.path}"`] } };
}

/** A certificate for an agent, its issuance job run until it waits for the CSR; returns the job id. */
async function awaitingCsr(certId: string, issuerId: string, prefix: string): Promise<string> {
  const commonName = `${prefix}.remote.example.com`;
  await createCertificate(t, admin, {
    id: certId,
    commonName,
    sans: [`www-${prefix}.remote.example.com`],
    issuerId,
    profileId: `prof-remote-${tag}`,
    agentId: `ag-remote-${tag}`,
  });
  const jobId = await runNewJob(t, certId, 'Issuance');
  await awaitJobStatus(t, jobId, 'AwaitingCSR');
  return jobId;
}

function submit(certId: string, name: string) {
  return t.app.get(IssuanceService).submitCsr(SYSTEM_ACTOR as never, {
    agentId: `ag-remote-${tag}`,
    certificateId: certId,
    csrPem: ossl.csr(name, EC_P256, '/CN=agent-key'),
  });
}

beforeAll(async () => {
  [vault, vaultCa] = await Promise.all([FakeCaApi.start(), TestCa.create('Integration Vault')]);
  vault.handler = vaultApi;
  scriptCa = new ScriptCa();
  db = await createPrivateDatabase(`remote_iss_${tag}`);
  t = await createTestApp({ ...db.env, ...SEALING_ENV });
  admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
  await createProfile(t, admin, `prof-remote-${tag}`, 'remote.example.com', 14 * 86_400);
  await t.ds.query(`INSERT INTO agents (id, name) VALUES ($1, $1)`, [`ag-remote-${tag}`]);
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
  await vault?.stop();
  scriptCa?.remove();
  ossl.remove();
});

describe('Vault PKI issuer through the server', () => {
  const issuerId = `iss-vault-${tag}`;
  const certId = `mc-vault-${tag}`;

  it('creates the issuer through the API (token sealed) and its connection test passes', async () => {
    const tlsCa = ossl.write('vault-tls-ca.pem', vault.tlsCaPem);
    await createIssuer(t, admin, {
      id: issuerId,
      type: 'VaultPKI',
      config: {
        address: vault.url,
        mount: 'pki',
        role: 'web',
        token: VAULT_TOKEN,
        ca_cert_path: tlsCa,
      },
    });
    const test = await t.http.post(`/api/v1/issuers/${issuerId}/test`).set('Authorization', admin);
    expect(test.body).toMatchObject({ ok: true, message: expect.stringContaining('token accepted') });
  });

  it("issues the agent's CSR through Vault with the certificate's names and the profile's max TTL", async () => {
    const jobId = await awaitingCsr(certId, issuerId, 'vault');
    const issued = await submit(certId, 'vault');
    if ('order_id' in issued) throw new Error('Vault answered a pending order');
    const sign = vault.to('/v1/pki/sign/web').at(-1);
    expect(sign?.json).toMatchObject({
      common_name: 'vault.remote.example.com',
      alt_names: 'vault.remote.example.com,www-vault.remote.example.com',
      ttl: `${14 * 86_400}s`,
      format: 'pem',
    });
    ossl.write('vault-leaf.pem', issued.certificate_pem);
    ossl.write('vault-chain.pem', issued.chain_pem);
    ossl.write('vault-root.pem', vaultCa.root.certPem);
    expect(
      ossl.ok(['verify', '-CAfile', 'vault-root.pem', '-untrusted', 'vault-chain.pem', 'vault-leaf.pem']),
    ).toContain(': OK');
    expect(ossl.ok(['x509', '-in', 'vault-leaf.pem', '-noout', '-pubkey'])).toBe(
      ossl.ok(['pkey', '-in', 'vault.key', '-pubout']),
    );
    const [v] = await certificateVersions(t, certId);
    expect(v).toMatchObject({ job_id: jobId, issuer_id: issuerId, ca_id: null, sealed_private_key: null });
    expect(v.serial_number).toBe(issued.serial_number);
    const status: { status: string }[] = await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [jobId]);
    expect(status[0].status).toBe('Completed');
  });

  it('fails the job with a retryable error naming Vault when Vault is down, leaving the certificate as it was', async () => {
    vault.handler = () => ({ status: 503, body: { errors: ['Vault is sealed'] } });
    try {
      const jobId = await runNewJob(t, certId, 'Renewal');
      await awaitJobStatus(t, jobId, 'AwaitingCSR');
      const err = await submit(certId, 'vault2').catch((e: unknown) => e);
      expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
      expect((err as Error).message).toContain('Vault PKI POST /v1/pki/sign/web: 503 Vault is sealed');
      const job: { status: string; last_error: string }[] = await t.ds.query(
        `SELECT status, last_error FROM jobs WHERE id = $1`,
        [jobId],
      );
      expect(job[0]).toMatchObject({ status: 'Failed', last_error: expect.stringContaining('Vault is sealed') });
      const cert: { status: string }[] = await t.ds.query(`SELECT status FROM managed_certificates WHERE id = $1`, [
        certId,
      ]);
      expect(cert[0].status).not.toBe('Failed');
      expect(await certificateVersions(t, certId)).toHaveLength(1);
    } finally {
      vault.handler = vaultApi;
    }
  });
});

describe('OpenSSL script issuer through the server (real openssl ca)', () => {
  const issuerId = `iss-ossl-${tag}`;
  const certId = `mc-ossl-${tag}`;

  it('issues with sign_script and verifies against the script CA', async () => {
    await createIssuer(t, admin, {
      id: issuerId,
      type: 'OpenSSL',
      config: {
        sign_script: scriptCa.signScript,
        revoke_script: scriptCa.revokeScript,
        ca_cert_path: scriptCa.caCertPath,
        timeout_seconds: 30,
      },
    });
    const test = await t.http.post(`/api/v1/issuers/${issuerId}/test`).set('Authorization', admin);
    expect(test.body).toMatchObject({ ok: true, message: 'scripts are executable (not configured: crl_script)' });

    await awaitingCsr(certId, issuerId, 'ossl');
    const issued = await submit(certId, 'ossl');
    if ('order_id' in issued) throw new Error('the script CA answered a pending order');
    const leaf = ossl.write('ossl-leaf.pem', issued.certificate_pem);
    expect(ossl.ok(['verify', '-CAfile', scriptCa.caCertPath, leaf])).toContain(': OK');
    const text = ossl.ok(['x509', '-in', leaf, '-noout', '-subject', '-ext', 'subjectAltName']);
    expect(text).toContain('CN = ossl.remote.example.com');
    expect(text).toContain('DNS:ossl.remote.example.com, DNS:www-ossl.remote.example.com');
    expect(scriptCa.index()).toContain(`\t${issued.serial_number.toUpperCase()}\tunknown\t/CN=ossl.remote.example.com`);
  });

  it('tells the script CA about a revocation made through the API', async () => {
    const [v] = await certificateVersions(t, certId);
    const res = await t.http
      .post(`/api/v1/certificates/${certId}/revoke`)
      .set('Authorization', admin)
      .send({ reason: 'keyCompromise' });
    expect(res.status).toBeLessThan(300);
    expect(scriptCa.index()).toMatch(
      new RegExp(`^R\\t\\d+Z\\t\\d+Z,keyCompromise\\t${v.serial_number.toUpperCase()}\\t`, 'm'),
    );
  });
});

describe('Vault PKI issuer, server keygen mode (the server signs a CSR with the key it generated)', () => {
  let sdb: PrivateDatabase;
  let s: TestApp;

  beforeAll(async () => {
    sdb = await createPrivateDatabase(`remote_iss_srv_${tag}`);
    s = await createTestApp({ ...sdb.env, ...ISSUING_ENV });
  });

  afterAll(async () => {
    await s?.close();
    await sdb?.drop();
  });

  it('sends Vault a CSR for the sealed server key; the key never leaves the server', async () => {
    const key = `Bearer ${(await s.mintKey(['admin'])).key}`;
    const issuerId = `iss-vault-srv-${tag}`;
    const certId = `mc-vault-srv-${tag}`;
    const res = await s.http
      .post('/api/v1/issuers')
      .set('Authorization', key)
      .send({
        id: issuerId,
        name: issuerId,
        type: 'VaultPKI',
        config: {
          address: vault.url,
          mount: 'pki',
          role: 'web',
          token: VAULT_TOKEN,
          ca_cert_path: ossl.write('vault-tls-ca-srv.pem', vault.tlsCaPem),
        },
      });
    expect(res.status).toBe(201);
    await createProfile(s, key, `prof-srv-${tag}`, 'remote.example.com', 7 * 86_400);
    await createCertificate(s, key, {
      id: certId,
      commonName: 'srv.remote.example.com',
      issuerId,
      profileId: `prof-srv-${tag}`,
    });
    const jobId = await runNewJob(s, certId, 'Issuance');
    expect((await awaitJobStatus(s, jobId, ['Completed', 'Failed'])).status).toBe('Completed');
    const sent = vault.to('/v1/pki/sign/web').at(-1);
    expect(sent?.json).toMatchObject({ common_name: 'srv.remote.example.com', ttl: `${7 * 86_400}s` });
    expect(JSON.stringify(sent?.json)).not.toContain('PRIVATE KEY');
    const [v] = await certificateVersions(s, certId);
    expect(v.sealed_private_key).not.toBeNull();
    ossl.write('srv-leaf.pem', v.pem_chain);
    ossl.write('srv-csr.pem', (sent?.json as { csr: string }).csr);
    expect(ossl.ok(['x509', '-in', 'srv-leaf.pem', '-noout', '-pubkey'])).toBe(
      ossl.ok(['req', '-in', 'srv-csr.pem', '-noout', '-pubkey']),
    );
  });

  it("refuses names the profile does not permit before asking Vault (the profile is the only gate on a remote CA's path)", async () => {
    const key = `Bearer ${(await s.mintKey(['admin'])).key}`;
    const certId = `mc-vault-srv-out-${tag}`;
    await createCertificate(s, key, {
      id: certId,
      commonName: 'ok.remote.example.com',
      issuerId: `iss-vault-srv-${tag}`,
      profileId: `prof-srv-${tag}`,
    });
    // The certificate's names leave the profile afterwards (an edit, or a profile tightened later).
    await s.ds.query(`UPDATE managed_certificates SET common_name = 'www.elsewhere.example.org' WHERE id = $1`, [
      certId,
    ]);
    const signsBefore = vault.to('/v1/pki/sign/web').length;
    const jobId = await runNewJob(s, certId, 'Issuance');
    const job = await awaitJobStatus(s, jobId, ['Completed', 'Failed']);
    expect(job.status).toBe('Failed');
    expect(job.last_error).toContain('www.elsewhere.example.org');
    expect(vault.to('/v1/pki/sign/web')).toHaveLength(signsBefore);
    expect(await certificateVersions(s, certId)).toEqual([]);
  });
});
