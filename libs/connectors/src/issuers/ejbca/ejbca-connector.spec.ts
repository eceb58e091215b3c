import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { DomainError, ErrorCode } from '@certctl/domain';
import { buildCsr, createSelfSignedTlsBundle, generateKeyPair, parseCsr, type ParsedCsr } from '@certctl/pki';
import { validateIssuerConnection } from '../registry';
import { TestCa } from '../remote-ca/testing/fake-ca-api';
import { EjbcaConnector } from './ejbca-connector';

/**
 * Contract tests against a local EJBCA REST API that requires a client certificate (mutual
 * TLS, as EJBCA does): it checks the documented pkcs10enroll / ca / revoke requests and
 * answers EJBCA's shapes (base64 DER certificates, `{error_code, error_message}` errors).
 */

const API = '/ejbca/ejbca-rest-api/v1';
const CA_DN = 'CN=EJBCA Test Issuing';

interface Seen {
  method: string;
  path: string;
  json: unknown;
  clientCn?: string;
}

let server: Server;
let url: string;
let dir: string;
let ca: TestCa;
let csr: ParsedCsr;
let seen: Seen[];
let files: { tlsCa: string; cert: string; key: string; otherCert: string; otherKey: string };

function der64(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

async function ejbca(s: Seen): Promise<[number, unknown]> {
  if (s.method === 'GET' && s.path === `${API}/ca`) {
    return [200, { certificate_authorities: [{ id: 1, name: 'IssuingCA', subject_dn: CA_DN, issuer_dn: 'CN=Root' }] }];
  }
  if (s.method === 'POST' && s.path === `${API}/certificate/pkcs10enroll`) {
    const b = s.json as Record<string, unknown>;
    if (b.certificate_authority_name !== 'IssuingCA')
      return [400, { error_code: 400, error_message: "CA with name X doesn't exist." }];
    if (b.certificate_profile_name !== 'TLSServer' || b.end_entity_profile_name !== 'WebEE')
      return [400, { error_code: 400, error_message: 'Profile not found' }];
    if (typeof b.password !== 'string' || b.password.length < 16 || b.username !== 'app.example.com')
      return [400, { error_code: 400, error_message: 'Bad end entity' }];
    const signed = await ca.sign(String(b.certificate_request), {
      commonName: 'app.example.com',
      sans: { dns: ['app.example.com'] },
    });
    return [
      201,
      {
        certificate: der64(signed.certPem),
        serial_number: signed.serialHex.toUpperCase(),
        response_format: 'DER',
        certificate_chain: b.include_chain === true ? [der64(ca.issuing.certPem), der64(ca.root.certPem)] : [],
      },
    ];
  }
  const revoke = new RegExp(`^${API}/certificate/([^/]+)/([0-9a-f]+)/revoke\\?reason=([A-Z_]+)$`).exec(s.path);
  if (s.method === 'PUT' && revoke) {
    if (decodeURIComponent(revoke[1]) !== CA_DN) return [404, { error_code: 404, error_message: 'CA not found' }];
    return [200, { issuer_dn: CA_DN, serial_number: revoke[2], revocation_reason: revoke[3], revoked: true }];
  }
  if (s.method === 'GET' && s.path === `${API}/ca/${encodeURIComponent(CA_DN)}/certificate/download`) {
    return [200, ca.issuing.certPem];
  }
  return [404, { error_code: 404, error_message: `no route ${s.method} ${s.path}` }];
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function connector(extra: Record<string, unknown> = {}): EjbcaConnector {
  return new EjbcaConnector({
    config: {
      base_url: url,
      client_cert_path: files.cert,
      client_key_path: files.key,
      ca_name: 'IssuingCA',
      certificate_profile: 'TLSServer',
      end_entity_profile: 'WebEE',
      trust_ca_path: files.tlsCa,
      ...extra,
    },
  });
}

async function rejection(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ejbca-'));
  const mk = (name: string) => {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.pem`),
    ]);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const client = mk('certctl-client');
  const other = mk('stranger');
  const tls = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  files = { tlsCa: join(dir, 'tls-ca.pem'), ...client, otherCert: other.cert, otherKey: other.key };
  writeFileSync(files.tlsCa, tls.caCertPem);
  ca = await TestCa.create('EJBCA Test');
  // Only the certctl client certificate is trusted (EJBCA's admin role).
  server = createServer(
    {
      key: tls.keyPem,
      cert: tls.certPem,
      ca: readFileSync(client.cert, 'utf8'),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const s: Seen = {
          method: req.method ?? '',
          path: req.url ?? '',
          json: text ? JSON.parse(text) : undefined,
          clientCn: String(peer.subject?.CN),
        };
        seen.push(s);
        void ejbca(s).then(([status, body]) => {
          const isText = typeof body === 'string';
          res.writeHead(status, { 'content-type': isText ? 'application/x-pem-file' : 'application/json' });
          res.end(isText ? body : JSON.stringify(body));
        });
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const keys = await generateKeyPair('ECDSA-P256');
  csr = await parseCsr(await buildCsr({ keys, commonName: 'app.example.com' }));
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen = [];
});

describe('EJBCA REST connector (mutual TLS)', () => {
  it('enrolls a PKCS#10 request over mutual TLS and returns the leaf with its chain (no root)', async () => {
    const result = await connector().issue({ csr, commonName: 'app.example.com', sans: { dns: ['app.example.com'] } });
    expect(seen).toHaveLength(1);
    expect(seen[0].clientCn).toBe('certctl-client');
    const body = seen[0].json as Record<string, unknown>;
    expect(body).toMatchObject({
      certificate_profile_name: 'TLSServer',
      end_entity_profile_name: 'WebEE',
      certificate_authority_name: 'IssuingCA',
      username: 'app.example.com',
      include_chain: true,
    });
    expect(String(body.certificate_request)).toContain('BEGIN CERTIFICATE REQUEST');
    expect(new X509Certificate(result.certPem).subject).toContain('CN=app.example.com');
    expect(result.chainPem).toBe(ca.issuing.certPem);
  });

  it('is refused at the TLS layer without the right client certificate (clear, retryable error)', async () => {
    const err = await rejection(
      connector({ client_cert_path: files.otherCert, client_key_path: files.otherKey }).issue({
        csr,
        commonName: 'app.example.com',
        sans: { dns: ['app.example.com'] },
      }),
    );
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(
      /^EJBCA: POST https:\/\/127\.0\.0\.1:\d+\/ejbca\/ejbca-rest-api\/v1\/certificate\/pkcs10enroll failed/,
    );
    expect(seen).toHaveLength(0);
  });

  it('quotes EJBCA errors ({error_code, error_message})', async () => {
    const err = await rejection(
      connector({ ca_name: 'Nope' }).issue({ csr, commonName: 'app.example.com', sans: { dns: ['app.example.com'] } }),
    );
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe(ErrorCode.Validation);
    expect(err.message).toBe(
      `EJBCA: POST ${API}/certificate/pkcs10enroll answered HTTP 400: CA with name X doesn't exist.`,
    );
  });

  it('revokes with the CA subject DN, the serial and the EJBCA reason name', async () => {
    await connector().revoke({ serialHex: '0A1B', reason: 'keyCompromise' });
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      `GET ${API}/ca`,
      `PUT ${API}/certificate/${encodeURIComponent(CA_DN)}/0a1b/revoke?reason=KEY_COMPROMISE`,
    ]);
  });

  it('serves the CA certificate and tests the connection through the registry', async () => {
    expect(await connector().getCaCertPem()).toBe(ca.issuing.certPem);
    const cfg = {
      base_url: url,
      client_cert_path: files.cert,
      client_key_path: files.key,
      ca_name: 'IssuingCA',
      certificate_profile: 'TLSServer',
      end_entity_profile: 'WebEE',
      trust_ca_path: files.tlsCa,
    };
    expect(await validateIssuerConnection('EJBCA', cfg)).toEqual({
      ok: true,
      message: `EJBCA reachable; CA IssuingCA (${CA_DN})`,
    });
    expect(await validateIssuerConnection('EJBCA', { ...cfg, client_key_path: join(dir, 'missing.key') })).toEqual({
      ok: false,
      message: `config.client_key_path ${join(dir, 'missing.key')} cannot be read (does not exist)`,
    });
  });
});
