import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  CompactEncrypt,
  decodeProtectedHeader,
  exportJWK,
  FlattenedEncrypt,
  generateKeyPair as joseKeyPair,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type KeyLike,
} from 'jose';
import { DomainError, ErrorCode } from '@certctl/domain';
import { buildCsr, generateKeyPair, parseCsr, type ParsedCsr } from '@certctl/pki';
import type { IssuanceRequest } from '../issuer-port';
import { validateIssuerConnection } from '../registry';
import { newCsr } from '../remote-ca/testing/connector-spec-kit';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../remote-ca/testing/fake-ca-api';
import { StepCaConnector } from './stepca-connector';

const PROVISIONER = 'certctl';
const PASSWORD = 'jwk-password';

let api: FakeCaApi;
let ca: TestCa;
let dir: string;
let rootFingerprint: string;
let publicKey: KeyLike;
let privateJwk: JWK;
let publicJwk: JWK;
let kid: string;
/** The provisioner key as step-ca keeps it (`encryptedKey`, compact JWE). */
let encryptedKey: string;
let csr: ParsedCsr;
let seenJti: Set<string>;

function stepError(status: number, message: string): ApiAnswer {
  return { status, body: { status, message } };
}

/** Verifies a one-time token as step-ca's JWK provisioner does; returns its claims or an error answer. */
async function verifyOtt(ott: unknown, audience: string): Promise<JWTPayload | ApiAnswer> {
  if (typeof ott !== 'string') return stepError(401, 'missing ott');
  const header = decodeProtectedHeader(ott);
  if (header.kid !== kid || header.typ !== 'JWT') return stepError(401, `unknown provisioner key ${header.kid}`);
  try {
    const { payload } = await jwtVerify(ott, publicKey, {
      issuer: PROVISIONER,
      audience: `${api.url}${audience}`,
      algorithms: ['ES256'],
      requiredClaims: ['jti', 'nbf', 'exp', 'iat', 'sub'],
    });
    if (seenJti.has(payload.jti as string)) return stepError(401, 'token already used');
    seenJti.add(payload.jti as string);
    if ((payload.exp as number) - (payload.nbf as number) > 600) return stepError(401, 'token validity too long');
    if (payload.sha !== rootFingerprint) return stepError(401, 'token sha claim does not match the root');
    return payload;
  } catch (e) {
    return stepError(401, `invalid token: ${(e as Error).message}`);
  }
}

/** step-ca's native API (v0.2x) with one JWK provisioner, as smallstep documents it. */
async function stepCa(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (r.method === 'GET' && r.path === `/root/${rootFingerprint}`)
    return { status: 200, body: { ca: ca.root.certPem } };
  if (r.method === 'GET' && r.path === '/roots') return { status: 200, body: { crts: [ca.root.certPem] } };
  if (r.method === 'GET' && r.path === '/health') return { status: 200, body: { status: 'ok' } };
  if (r.method === 'GET' && r.path.startsWith('/provisioners')) {
    return {
      status: 200,
      body: {
        provisioners: [
          { type: 'ACME', name: 'acme' },
          { type: 'JWK', name: PROVISIONER, key: publicJwk, encryptedKey },
        ],
        nextCursor: '',
      },
    };
  }
  if (r.method === 'POST' && r.path === '/1.0/sign') {
    const b = r.json as { csr?: string; ott?: string; notAfter?: string };
    const claims = await verifyOtt(b.ott, '/1.0/sign');
    if ('status' in claims) return claims as ApiAnswer;
    const sans = (claims.sans as string[]) ?? [];
    const requested = await parseCsr(b.csr ?? '');
    const extra = [...requested.sans.dns, ...requested.sans.ip].filter((n) => !sans.includes(n));
    if (extra.length) return stepError(403, `certificate request contains names not in the token: ${extra.join(', ')}`);
    const ttl = b.notAfter ? Number(/^(\d+)s$/.exec(b.notAfter)?.[1]) : undefined;
    const leaf = await ca.sign(b.csr ?? '', {
      commonName: claims.sub as string,
      sans: { dns: sans.filter((n) => !/^[\d.]+$/.test(n)), ip: sans.filter((n) => /^[\d.]+$/.test(n)) },
      ttlSeconds: ttl,
    });
    return {
      status: 201,
      body: {
        crt: leaf.certPem,
        ca: ca.issuing.certPem,
        certChain: [leaf.certPem, ca.issuing.certPem],
        tlsOptions: {},
      },
    };
  }
  if (r.method === 'POST' && r.path === '/1.0/revoke') {
    const b = r.json as { serial?: string; ott?: string; reasonCode?: number; passive?: boolean };
    const claims = await verifyOtt(b.ott, '/1.0/revoke');
    if ('status' in claims) return claims as ApiAnswer;
    if (claims.sub !== b.serial) return stepError(401, 'token subject does not match the serial');
    if (!/^\d+$/.test(b.serial ?? '')) return stepError(400, 'serial must be a decimal number');
    if (b.passive !== true) return stepError(400, 'active revocation is not implemented');
    return { status: 200, body: { status: 'ok' } };
  }
  return stepError(404, 'not found');
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ca_url: api.url,
    root_fingerprint: rootFingerprint,
    provisioner_name: PROVISIONER,
    provisioner_key: JSON.stringify(privateJwk),
    ...extra,
  };
}

function request(o: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return {
    csr,
    commonName: 'svc.example.com',
    sans: { dns: ['svc.example.com', 'svc2.example.com'], ip: ['10.1.2.3'] },
    profile: { allowed_key_algorithms: [], max_ttl_seconds: 86_400, allowed_ekus: [], must_staple: false },
    ...o,
  };
}

async function claimsOf(req: ApiRequest): Promise<JWTPayload> {
  const { payload } = await jwtVerify((req.json as { ott: string }).ott, publicKey, { currentDate: new Date() });
  return payload;
}

beforeAll(async () => {
  ca = await TestCa.create('Step Test');
  api = await FakeCaApi.start({ tlsCa: { certPem: ca.root.certPem, keyPem: ca.rootKeyPem } });
  api.handler = stepCa;
  rootFingerprint = createHash('sha256').update(new X509Certificate(ca.root.certPem).raw).digest('hex');
  const pair = await joseKeyPair('ES256', { extractable: true });
  publicKey = pair.publicKey;
  publicJwk = await exportJWK(pair.publicKey);
  kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  publicJwk = { ...publicJwk, kid, use: 'sig', alg: 'ES256' };
  privateJwk = { ...(await exportJWK(pair.privateKey)), kid, use: 'sig', alg: 'ES256' };
  const plaintext = new TextEncoder().encode(JSON.stringify(privateJwk));
  const secret = new TextEncoder().encode(PASSWORD);
  // How step encrypts provisioner keys: PBES2-HS256+A128KW, A256GCM, 100 000 iterations.
  const header = { alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', cty: 'jwk+json', p2c: 100_000 };
  encryptedKey = await new CompactEncrypt(plaintext).setProtectedHeader(header).encrypt(secret);
  dir = mkdtempSync(join(tmpdir(), 'certctl-stepca-'));
  writeFileSync(
    join(dir, 'provisioner.json'),
    JSON.stringify(await new FlattenedEncrypt(plaintext).setProtectedHeader(header).encrypt(secret)),
  );
  writeFileSync(join(dir, 'root.pem'), ca.root.certPem);
  csr = await newCsr('svc.example.com');
});

beforeEach(() => {
  api.received.length = 0;
  api.handler = stepCa;
  seenJti = new Set();
});

afterAll(async () => {
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('step-ca connector (contract against a local step-ca API)', () => {
  it('signs through POST /1.0/sign with a JWK one-time token and returns leaf and intermediate', async () => {
    const res = await new StepCaConnector({ config: config({ validity: '720h' }) }).issue(request());

    const [sign] = api.to('/1.0/sign');
    expect(Object.keys(sign.json as object).sort()).toEqual(['csr', 'notAfter', 'ott']);
    // 720h configured, capped at the profile's one day.
    expect((sign.json as { notAfter: string }).notAfter).toBe('86400s');
    expect(decodeProtectedHeader((sign.json as { ott: string }).ott)).toEqual({ alg: 'ES256', kid, typ: 'JWT' });
    const claims = await claimsOf(sign);
    expect(claims).toMatchObject({
      iss: PROVISIONER,
      sub: 'svc.example.com',
      aud: `${api.url}/1.0/sign`,
      sans: ['svc.example.com', 'svc2.example.com', '10.1.2.3'],
      sha: rootFingerprint,
    });
    expect(claims.jti).toMatch(/^[0-9a-f]{64}$/);
    expect((claims.exp as number) - (claims.nbf as number)).toBeLessThanOrEqual(300);

    const leaf = new X509Certificate(res.certPem);
    expect(leaf.subject).toBe('CN=svc.example.com');
    expect(leaf.subjectAltName).toContain('DNS:svc2.example.com');
    expect(leaf.subjectAltName).toContain('IP Address:10.1.2.3');
    expect(res.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(new X509Certificate(res.chainPem).subject).toBe('CN=Step Test Issuing');
    expect(res.notAfter.getTime() - res.notBefore.getTime()).toBeLessThanOrEqual(86_400_000 + 120_000);
    // The TLS connection was verified against the pinned root: it was fetched first.
    expect(api.received[0].path).toBe(`/root/${rootFingerprint}`);
  });

  it('uses a fresh token (new jti) for each request', async () => {
    const c = new StepCaConnector({ config: config() });
    await c.issue(request());
    await c.renew(request());
    const [a, b] = await Promise.all(api.to('/1.0/sign').map(claimsOf));
    expect(a.jti).not.toBe(b.jti);
  });

  it('decrypts an encrypted provisioner key from a file (JWE JSON) and from /provisioners (compact JWE)', async () => {
    const fromFile = {
      provisioner_key: undefined,
      provisioner_key_path: join(dir, 'provisioner.json'),
      provisioner_password: PASSWORD,
    };
    await new StepCaConnector({ config: config(fromFile) }).issue(request());
    expect(api.to('/provisioners')).toHaveLength(0);

    await new StepCaConnector({ config: config({ provisioner_key: undefined, provisioner_password: PASSWORD }) }).issue(
      request(),
    );
    expect(api.to('/provisioners')).toHaveLength(1);
    expect(api.to('/1.0/sign')).toHaveLength(2);
  });

  it('names a wrong provisioner password', async () => {
    const err = await new StepCaConnector({
      config: config({ provisioner_key: undefined, provisioner_password: 'nope' }),
    })
      .issue(request())
      .catch((e: unknown) => e);
    expect((err as DomainError).code).toBe(ErrorCode.Validation);
    expect((err as Error).message).toContain('cannot be decrypted (wrong provisioner_password?)');
    expect(api.to('/1.0/sign')).toHaveLength(0);
  });

  it('refuses a CA whose root does not match the pinned fingerprint, before sending anything else', async () => {
    const other = 'b'.repeat(64);
    api.handler = (r) => (r.path === `/root/${other}` ? { status: 200, body: { ca: ca.root.certPem } } : stepCa(r));
    const err = await new StepCaConnector({ config: config({ root_fingerprint: other }) })
      .issue(request())
      .catch((e: unknown) => e);
    expect((err as Error).message).toContain(`root fingerprint mismatch: pinned ${other}`);
    expect(api.received.map((r) => r.path)).toEqual([`/root/${other}`]);
  });

  it('trusts a configured root bundle instead of a fingerprint', async () => {
    const c = new StepCaConnector({
      config: config({ root_fingerprint: undefined, ca_cert_path: join(dir, 'root.pem') }),
    });
    // Without the pin the token carries no sha claim; this fake CA insists on it.
    const err = await c.issue(request()).catch((e: unknown) => e);
    expect((err as Error).message).toContain('401 token sha claim does not match the root');
    expect(api.to('/root/')).toHaveLength(0);
    expect(new X509Certificate(await c.getCaCertPem()).subject).toBe('CN=Step Test Root');
  });

  it('revokes passively through POST /1.0/revoke with the decimal serial as token subject', async () => {
    await new StepCaConnector({ config: config() }).revoke({ serialHex: '01ff', reason: 'keyCompromise' });
    const [rev] = api.to('/1.0/revoke');
    expect(rev.json).toMatchObject({ serial: '511', reasonCode: 1, reason: 'keyCompromise', passive: true });
    expect(await claimsOf(rev)).toMatchObject({ sub: '511', aud: `${api.url}/1.0/revoke`, iss: PROVISIONER });
  });

  it("surfaces step-ca's {status, message} errors: 4xx permanent, 5xx retryable", async () => {
    const c = new StepCaConnector({ config: config() });
    const refused = await c
      .issue(request({ sans: { dns: ['svc.example.com'] }, csr: await csrWithSans(['other.example.com']) }))
      .catch((e: unknown) => e);
    expect((refused as DomainError).code).toBe(ErrorCode.Validation);
    expect((refused as Error).message).toContain(
      '403 certificate request contains names not in the token: other.example.com',
    );

    api.handler = (r) =>
      r.path === '/1.0/sign'
        ? stepError(500, 'The certificate authority encountered an Internal Server Error.')
        : stepCa(r);
    const down = await c.issue(request()).catch((e: unknown) => e);
    expect((down as DomainError).code).toBe(ErrorCode.Unavailable);
    expect((down as Error).message).toContain('Internal Server Error');
  });

  it('fails with a clear timeout error when step-ca never answers', async () => {
    api.handler = (r) => (r.path === '/1.0/sign' ? undefined : stepCa(r));
    const err = await new StepCaConnector({ config: config({ timeout_seconds: 1 }) })
      .issue(request())
      .catch((e: unknown) => e);
    expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
    expect((err as Error).message).toMatch(
      /step-ca: no answer from https:\/\/127\.0\.0\.1:\d+ to POST \/1\.0\/sign within 1 s/,
    );
  });

  it('passes the connection test, and fails it naming the problem', async () => {
    expect(await validateIssuerConnection('StepCA', config())).toMatchObject({
      ok: true,
      message: expect.stringContaining(`key ${kid} (ES256) loaded`),
    });
    const bad = await validateIssuerConnection(
      'StepCA',
      config({ provisioner_name: 'missing', provisioner_key: undefined, provisioner_password: PASSWORD }),
    );
    expect(bad).toEqual({ ok: false, message: 'step-ca has no JWK provisioner named "missing"' });
  });
});

async function csrWithSans(dns: string[]): Promise<ParsedCsr> {
  return parseCsr(await buildCsr({ keys: await generateKeyPair('ECDSA-P256'), commonName: dns[0], sans: { dns } }));
}
