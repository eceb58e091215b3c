import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { ensureCryptoProvider } from '@certctl/pki';
import type { AcmeValidationConfig } from './acme-config';
import { ACME_IDENTIFIER_OID, acmeIdentifierValue, sniFor, validateTlsAlpn01 } from './acme-tls-alpn';

/**
 * tls-alpn-01 against real TLS responders on loopback, each presenting a certificate made
 * with @peculiar/x509: the right one validates, and each way of getting it wrong (digest,
 * criticality, SAN, ALPN) fails with an error naming what was wrong.
 */
const KEY_AUTH = 'token-abc.thumbprint-xyz';
const NAME = 'alpn.acme.example';

interface Responder {
  cert?: { sans: x509.JsonGeneralName[]; ext?: { critical: boolean; value: Buffer } | null };
  alpn?: string[];
}

const servers: Server[] = [];
/** SNI names the responders saw. */
const seenSni: string[] = [];

async function certificate(r: NonNullable<Responder['cert']>): Promise<{ key: string; cert: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension(r.sans)];
  if (r.ext !== null) {
    const e = r.ext ?? { critical: true, value: acmeIdentifierValue(KEY_AUTH) };
    extensions.push(new x509.Extension(ACME_IDENTIFIER_OID, e.critical, e.value));
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=acme tls-alpn-01 responder',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys: keys as never,
    signingAlgorithm: alg,
    extensions,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), cert: cert.toString('pem') };
}

/** A TLS responder on a loopback port; resolves the validation config pointing at it. */
async function responder(r: Responder, host = '127.0.0.1'): Promise<AcmeValidationConfig> {
  const { key, cert } = await certificate(r.cert ?? { sans: [{ type: 'dns', value: NAME }] });
  const server = createServer(
    {
      key,
      cert,
      ALPNProtocols: r.alpn ?? ['acme-tls/1'],
      // Runs during the handshake, before the validator hangs up: record the SNI, keep the context.
      SNICallback: (sni, cb) => {
        seenSni.push(sni);
        cb(null, undefined);
      },
    },
    (s) => s.end(),
  );
  server.on('tlsClientError', () => undefined);
  servers.push(server);
  await new Promise<void>((res) => server.listen(0, host, res));
  return {
    http01Port: 1,
    tlsAlpn01Port: (server.address() as AddressInfo).port,
    resolve: { [NAME]: host },
    timeoutMs: 5_000,
    attempts: 1,
    concurrency: { 'http-01': 1, 'dns-01': 1, 'tls-alpn-01': 1 },
  };
}

beforeAll(() => ensureCryptoProvider());
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const dns = { type: 'dns', value: NAME };

it('validates the certificate RFC 8737 describes, sending the name as SNI', async () => {
  const cfg = await responder({});
  expect(await validateTlsAlpn01(cfg, dns, KEY_AUTH)).toEqual({ ok: true });
  expect(seenSni).toContain(NAME);
});

it('refuses a digest of another key authorization', async () => {
  const cfg = await responder({
    cert: {
      sans: [{ type: 'dns', value: NAME }],
      ext: { critical: true, value: acmeIdentifierValue('token-abc.another-thumbprint') },
    },
  });
  expect(await validateTlsAlpn01(cfg, dns, KEY_AUTH)).toEqual({
    ok: false,
    error: {
      type: 'urn:ietf:params:acme:error:incorrectResponse',
      detail: expect.stringContaining('does not hold SHA-256 of the key authorization'),
    },
  });
});

it('refuses an acmeIdentifier extension that is not critical', async () => {
  const cfg = await responder({
    cert: { sans: [{ type: 'dns', value: NAME }], ext: { critical: false, value: acmeIdentifierValue(KEY_AUTH) } },
  });
  const r = await validateTlsAlpn01(cfg, dns, KEY_AUTH);
  expect(r).toMatchObject({ ok: false, error: { type: 'urn:ietf:params:acme:error:incorrectResponse' } });
  expect(!r.ok && r.error.detail).toContain('not marked critical');
});

it('refuses a certificate without the acmeIdentifier extension', async () => {
  const cfg = await responder({ cert: { sans: [{ type: 'dns', value: NAME }], ext: null } });
  const r = await validateTlsAlpn01(cfg, dns, KEY_AUTH);
  expect(!r.ok && r.error.detail).toContain(`no id-pe-acmeIdentifier (${ACME_IDENTIFIER_OID})`);
});

it('refuses another SAN, or the right one with an extra name', async () => {
  const other = await responder({ cert: { sans: [{ type: 'dns', value: 'other.acme.example' }] } });
  const r1 = await validateTlsAlpn01(other, dns, KEY_AUTH);
  expect(r1).toMatchObject({ ok: false, error: { type: 'urn:ietf:params:acme:error:incorrectResponse' } });
  expect(!r1.ok && r1.error.detail).toContain(`must be exactly dns:${NAME}, it is dns:other.acme.example`);
  const extra = await responder({
    cert: {
      sans: [
        { type: 'dns', value: NAME },
        { type: 'dns', value: 'extra.acme.example' },
      ],
    },
  });
  const r2 = await validateTlsAlpn01(extra, dns, KEY_AUTH);
  expect(!r2.ok && r2.error.detail).toContain(`dns:${NAME}, dns:extra.acme.example`);
});

it('refuses a responder that does not negotiate acme-tls/1', async () => {
  const cfg = await responder({ alpn: ['http/1.1'] });
  const r = await validateTlsAlpn01(cfg, dns, KEY_AUTH);
  expect(r).toMatchObject({ ok: false, error: { type: 'urn:ietf:params:acme:error:unauthorized' } });
  expect(!r.ok && r.error.detail).toContain('did not negotiate ALPN acme-tls/1');
});

it('validates an IP identifier (RFC 8738): iPAddress SAN, reverse name as SNI', async () => {
  const cfg = await responder({ cert: { sans: [{ type: 'ip', value: '127.0.0.1' }] } });
  expect(await validateTlsAlpn01(cfg, { type: 'ip', value: '127.0.0.1' }, KEY_AUTH)).toEqual({ ok: true });
  expect(seenSni).toContain('1.0.0.127.in-addr.arpa');
});

it('reports a connection error when nothing listens', async () => {
  const cfg = await responder({});
  await new Promise((r) => servers.pop()?.close(r));
  const r = await validateTlsAlpn01(cfg, dns, KEY_AUTH);
  expect(r).toMatchObject({
    ok: false,
    error: { type: 'urn:ietf:params:acme:error:connection', detail: expect.stringContaining('ECONNREFUSED') },
  });
});

it('names IPv6 identifiers by their ip6.arpa nibbles', () => {
  expect(sniFor({ type: 'ip', value: '2001:db8::1' })).toBe(
    '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
  );
  expect(sniFor({ type: 'dns', value: NAME })).toBe(NAME);
});
