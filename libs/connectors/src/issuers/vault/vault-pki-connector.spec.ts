import { X509Certificate } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainError, ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { checkConfig } from '../../config/spec';
import { vaultPkiConfig } from '../issuer-configs';
import type { IssuanceRequest } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr, trustFileDir } from '../remote-ca/testing/connector-spec-kit';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../remote-ca/testing/fake-ca-api';
import { VaultPkiConnector } from './vault-pki-connector';

/** The parameters Vault documents for POST /v1/<mount>/sign/<role>. */
const SIGN_FIELDS = new Set([
  'csr',
  'common_name',
  'alt_names',
  'other_sans',
  'ip_sans',
  'uri_sans',
  'ttl',
  'format',
  'not_after',
  'exclude_cn_from_sans',
  'remove_roots_from_chain',
  'user_ids',
]);

const TOKEN = 'hvs.test-token';

let api: FakeCaApi;
let ca: TestCa;
let dir: string;
let caFile: string;
let csr: ParsedCsr;
let otherCsr: ParsedCsr;
/** AppRole tokens the fake Vault has issued and still accepts. */
let validTokens: Set<string>;
let logins: number;
let leaseSeconds: number;

function vaultError(status: number, ...errors: string[]): ApiAnswer {
  return { status, body: { errors } };
}

/** A Vault PKI mount `pki_int` with role `web`, token auth and AppRole, as Vault documents them. */
async function vault(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (r.method === 'POST' && r.path === '/v1/auth/approle/login') {
    const b = r.json as { role_id?: string; secret_id?: string };
    if (b.secret_id !== 'good-secret') return vaultError(400, 'invalid role or secret ID');
    const token = `hvs.approle-${++logins}-${b.role_id}`;
    validTokens.add(token);
    return { status: 200, body: { auth: { client_token: token, lease_duration: leaseSeconds, renewable: true } } };
  }
  if (r.method === 'GET' && r.path === '/v1/pki_int/ca/pem') {
    return { status: 200, body: ca.issuing.certPem, contentType: 'application/pem-certificate-chain' };
  }
  const token = r.headers['x-vault-token'];
  if (token !== TOKEN && !validTokens.has(String(token))) return vaultError(403, 'permission denied');
  if (r.method === 'GET' && r.path === '/v1/auth/token/lookup-self') {
    return { status: 200, body: { data: { id: token, policies: ['default', 'pki'] } } };
  }
  if (r.method === 'POST' && r.path === '/v1/pki_int/sign/web') {
    const b = r.json as Record<string, string>;
    const unknown = Object.keys(b).filter((k) => !SIGN_FIELDS.has(k));
    if (unknown.length) return vaultError(400, `unrecognized parameters: ${unknown.join(', ')}`);
    if (!b.common_name?.endsWith('.example.com')) {
      return vaultError(400, `common name ${b.common_name} not allowed by this role`);
    }
    const ttl = b.ttl ? Number(/^(\d+)s$/.exec(b.ttl)?.[1]) : undefined;
    const split = (s?: string) => (s ? s.split(',') : []);
    const names = split(b.alt_names);
    const leaf = await ca.sign(b.csr, {
      commonName: b.common_name,
      sans: {
        dns: names.filter((n) => !n.includes('@')),
        email: names.filter((n) => n.includes('@')),
        ip: split(b.ip_sans),
      },
      ttlSeconds: ttl,
    });
    const serial = (leaf.serialHex.match(/../g) ?? []).join(':');
    return {
      status: 200,
      body: {
        request_id: 'r1',
        lease_id: '',
        renewable: false,
        data: {
          certificate: leaf.certPem,
          issuing_ca: ca.issuing.certPem,
          ca_chain: [ca.issuing.certPem, ca.root.certPem],
          serial_number: serial,
          expiration: 0,
        },
        warnings: null,
      },
    };
  }
  if (r.method === 'POST' && r.path === '/v1/pki_int/revoke') {
    const serial = (r.json as { serial_number?: string }).serial_number ?? '';
    if (!/^([0-9a-f]{2}:)*[0-9a-f]{2}$/.test(serial)) return vaultError(400, `invalid serial number ${serial}`);
    return { status: 200, body: { data: { revocation_time: 1_700_000_000 } } };
  }
  return vaultError(404, `no handler for route "${r.path}"`);
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { address: api.url, mount: 'pki_int', role: 'web', ca_cert_path: caFile, token: TOKEN, ...extra };
}

function approle(roleId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { token: _token, ...rest } = config();
  return { ...rest, role_id: roleId, secret_id: 'good-secret', ...extra };
}

function request(o: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return {
    csr,
    commonName: 'api.example.com',
    sans: { dns: ['api.example.com', 'www.example.com'], ip: ['10.0.0.5'] },
    profile: { allowed_key_algorithms: [], max_ttl_seconds: 7 * 86_400, allowed_ekus: [], must_staple: false },
    ...o,
  };
}

beforeAll(async () => {
  [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('Vault Test')]);
  api.handler = vault;
  ({ dir, tlsCaFile: caFile } = trustFileDir('certctl-vault-', api.tlsCaPem));
  [csr, otherCsr] = await Promise.all([newCsr('ignored.example.com'), newCsr('other.example.com')]);
});

beforeEach(() => {
  api.received.length = 0;
  api.handler = vault;
  validTokens = new Set();
  logins = 0;
  leaseSeconds = 3600;
});

afterAll(async () => {
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Vault PKI connector (contract against a local Vault API)', () => {
  it('signs the CSR through /v1/<mount>/sign/<role> with the documented request and returns leaf and chain', async () => {
    const c = new VaultPkiConnector({ config: config({ namespace: 'team-a', ttl: '720h' }) });
    const res = await c.issue(request());

    const [sent] = api.to('/v1/pki_int/sign/web');
    expect(sent.method).toBe('POST');
    expect(sent.headers['x-vault-token']).toBe(TOKEN);
    expect(sent.headers['x-vault-namespace']).toBe('team-a');
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.json).toEqual({
      csr: expect.stringContaining('-----BEGIN CERTIFICATE REQUEST-----'),
      common_name: 'api.example.com',
      alt_names: 'api.example.com,www.example.com',
      ip_sans: '10.0.0.5',
      // 720h configured, capped at the profile's 7 days.
      ttl: `${7 * 86_400}s`,
      format: 'pem',
    });

    const leaf = new X509Certificate(res.certPem);
    expect(leaf.subject).toBe('CN=api.example.com');
    expect(leaf.subjectAltName).toContain('DNS:www.example.com');
    expect(leaf.subjectAltName).toContain('IP Address:10.0.0.5');
    expect(res.serialHex).toBe(leaf.serialNumber.toLowerCase());
    expect(res.notAfter.getTime() - res.notBefore.getTime()).toBeLessThanOrEqual(7 * 86_400_000 + 120_000);
    // The chain holds the issuing CA, not the self-signed root Vault also listed.
    const chain = new X509Certificate(res.chainPem);
    expect(chain.subject).toBe('CN=Vault Test Issuing');
    expect(res.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(leaf.checkIssued(chain)).toBe(true);
  });

  it('asks for the profile max TTL when nothing else is requested, and a requested TTL below it as is', async () => {
    const c = new VaultPkiConnector({ config: config() });
    await c.issue(request());
    await c.renew(request({ ttlSeconds: 3600 }));
    expect(api.to('/v1/pki_int/sign/web').map((r) => (r.json as { ttl: string }).ttl)).toEqual([
      `${7 * 86_400}s`,
      '3600s',
    ]);
  });

  it('serves the CA certificate from /v1/<mount>/ca/pem', async () => {
    const pem = await new VaultPkiConnector({ config: config() }).getCaCertPem();
    expect(new X509Certificate(pem).subject).toBe('CN=Vault Test Issuing');
  });

  it('revokes by colon-separated serial at /v1/<mount>/revoke', async () => {
    const c = new VaultPkiConnector({ config: config() });
    await c.revoke({ serialHex: 'a0b1c2', reason: 'keyCompromise' });
    await c.revoke({ serialHex: '1ff', reason: 'superseded' });
    expect(api.to('/v1/pki_int/revoke').map((r) => r.json)).toEqual([
      { serial_number: 'a0:b1:c2' },
      { serial_number: '01:ff' },
    ]);
  });

  it("surfaces Vault's {errors: [...]} as a permanent error for a 4xx and a retryable one for a 5xx", async () => {
    const c = new VaultPkiConnector({ config: config() });
    const refused = await c.issue(request({ commonName: 'evil.example.org' })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).code).toBe(ErrorCode.Validation);
    expect((refused as DomainError).message).toContain('common name evil.example.org not allowed by this role');
    expect((refused as DomainError).message).toContain('400');

    api.handler = () => vaultError(503, 'Vault is sealed');
    const sealed = await c.issue(request()).catch((e: unknown) => e);
    expect((sealed as DomainError).code).toBe(ErrorCode.Unavailable);
    expect((sealed as DomainError).message).toContain('Vault is sealed');
  });

  it('fails with a clear timeout error when Vault never answers', async () => {
    api.handler = () => undefined;
    const c = new VaultPkiConnector({ config: config({ timeout_seconds: 1 }) });
    const err = await c.issue(request()).catch((e: unknown) => e);
    expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
    expect((err as DomainError).message).toMatch(
      /no answer from https:\/\/127\.0\.0\.1:\d+ to POST \/v1\/pki_int\/sign\/web within 1 s/,
    );
  });

  it('refuses a TLS certificate that the configured CA bundle does not sign', async () => {
    const other = join(dir, 'other-ca.pem');
    writeFileSync(other, ca.root.certPem);
    const err = await new VaultPkiConnector({ config: config({ ca_cert_path: other }) })
      .issue(request())
      .catch((e: unknown) => e);
    expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
    expect(api.received).toHaveLength(0);
  });

  it('refuses a certificate for another public key than the CSR carries', async () => {
    api.handler = async (r) => {
      const answer = await vault(r);
      if (!r.path.includes('/sign/')) return answer;
      const leaf = await ca.sign(derToPem(otherCsr.der, 'CERTIFICATE REQUEST'), {
        commonName: 'api.example.com',
        sans: {},
      });
      return { status: 200, body: { data: { certificate: leaf.certPem, ca_chain: [ca.issuing.certPem] } } };
    };
    const err = await new VaultPkiConnector({ config: config() }).issue(request()).catch((e: unknown) => e);
    expect((err as Error).message).toContain('different public key');
  });

  it('needs a CSR (it never uses /issue, which would make Vault generate the key)', async () => {
    const err = await new VaultPkiConnector({ config: config() })
      .issue(request({ csr: undefined, publicKeySpki: csr.spkiDer }))
      .catch((e: unknown) => e);
    expect((err as DomainError).code).toBe(ErrorCode.Validation);
    expect((err as Error).message).toContain('no CSR');
    expect(api.received).toHaveLength(0);
  });
});

describe('Vault PKI connector, AppRole authentication', () => {
  it('logs in at /v1/auth/approle/login and reuses the token while its lease lasts', async () => {
    const c = new VaultPkiConnector({ config: approle('role-reuse') });
    await c.issue(request());
    await new VaultPkiConnector({ config: approle('role-reuse') }).issue(request());
    const loginReqs = api.to('/v1/auth/approle/login');
    expect(loginReqs).toHaveLength(1);
    expect(loginReqs[0].json).toEqual({ role_id: 'role-reuse', secret_id: 'good-secret' });
    expect(loginReqs[0].headers['x-vault-token']).toBeUndefined();
    const signs = api.to('/v1/pki_int/sign/web');
    expect(signs.map((r) => r.headers['x-vault-token'])).toEqual([
      'hvs.approle-1-role-reuse',
      'hvs.approle-1-role-reuse',
    ]);
  });

  it('logs in again when the lease is about to end', async () => {
    leaseSeconds = 5; // inside the renewal margin: every call needs a fresh token
    const c = new VaultPkiConnector({ config: approle('role-short') });
    await c.issue(request());
    await c.issue(request());
    expect(api.to('/v1/auth/approle/login')).toHaveLength(2);
    expect(api.to('/v1/pki_int/sign/web').map((r) => r.headers['x-vault-token'])).toEqual([
      'hvs.approle-1-role-short',
      'hvs.approle-2-role-short',
    ]);
  });

  it('logs in once more and retries when Vault refuses a cached token (revoked early)', async () => {
    const c = new VaultPkiConnector({ config: approle('role-revoked', { approle_mount: 'approle' }) });
    await c.issue(request());
    validTokens.clear();
    await c.issue(request());
    expect(api.to('/v1/auth/approle/login')).toHaveLength(2);
    const tokens = api.to('/v1/pki_int/sign/web').map((r) => r.headers['x-vault-token']);
    expect(tokens).toEqual(['hvs.approle-1-role-revoked', 'hvs.approle-1-role-revoked', 'hvs.approle-2-role-revoked']);
  });

  it('reports a refused login with Vault’s message', async () => {
    const err = await new VaultPkiConnector({ config: approle('role-bad', { secret_id: 'wrong' }) })
      .issue(request())
      .catch((e: unknown) => e);
    expect((err as DomainError).code).toBe(ErrorCode.Validation);
    expect((err as Error).message).toContain('AppRole login');
    expect((err as Error).message).toContain('invalid role or secret ID');
  });
});

describe('Vault PKI configuration and connection test', () => {
  it('passes the connection test with a good token and with AppRole, and names the problem otherwise', async () => {
    expect(await validateIssuerConnection('VaultPKI', config())).toMatchObject({ ok: true });
    expect(await validateIssuerConnection('VaultPKI', approle('role-check'))).toMatchObject({ ok: true });
    const bad = await validateIssuerConnection('VaultPKI', config({ token: 'hvs.wrong' }));
    expect(bad.ok).toBe(false);
    expect(bad.message).toContain('permission denied');
  });

  it('refuses mount, role and AppRole mount paths that would leave the PKI path', () => {
    for (const [field, value] of [
      ['mount', 'pki/../sys'],
      ['role', '..'],
      ['approle_mount', '../sys'],
    ] as const) {
      const cfg = field === 'approle_mount' ? approle('r', { [field]: value }) : config({ [field]: value });
      const checked = checkConfig(vaultPkiConfig, cfg);
      expect(checked.ok).toBe(false);
      if (!checked.ok) expect(checked.issues.join(' ')).toContain(`config.${field}`);
    }
  });
});
