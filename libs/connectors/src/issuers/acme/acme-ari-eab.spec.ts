import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@certctl/domain';
import { type ParsedCsr } from '@certctl/pki';
import type { IssuanceRequest } from '../issuer-port';
import { newCsr, rejection } from '../remote-ca/testing/connector-spec-kit';
import type { AcmeAccountKey } from './acme-client';
import { checkAcme } from './acme-check';
import { AcmeConnector, ariCertId } from './acme-connector';
import type { AcmeConnectorDeps } from './acme-deps';
import { FakeAcmeCa } from './testing/fake-acme-ca';

/**
 * The parts of the ACME issuer Pebble 2.4 cannot exercise, against a local ACME CA that
 * checks the JWS, nonces and EAB MAC: the order's `replaces` (RFC 9773 section 5), the
 * renewalInfo answer with its Retry-After, and ZeroSSL's EAB auto-fetch.
 */

const EMAIL = 'ops@zerossl.test';
const EAB_KID = 'kid-zerossl-1';
const EAB_HMAC = Buffer.from('a 32 byte hmac key for the tests!').toString('base64url');

let dir: string;
let csr: ParsedCsr;

function memoryDeps(): AcmeConnectorDeps {
  const accounts = new Map<string, AcmeAccountKey>();
  return {
    accounts: {
      async load(issuerId, d, newKeyPem) {
        const k = `${issuerId} ${d}`;
        if (!accounts.has(k)) accounts.set(k, { privateKeyPem: await newKeyPem() });
        return { ...accounts.get(k)! };
      },
      async saveAccountUrl(issuerId, d, url) {
        accounts.get(`${issuerId} ${d}`)!.accountUrl = url;
      },
    },
    http01: { listenAddress: undefined, publish: async () => {}, withdraw: async () => {} },
    certificates: { certificatePem: async () => undefined },
  };
}

function connector(ca: FakeAcmeCa, extra: Record<string, unknown> = {}, deps = memoryDeps()): AcmeConnector {
  const trust = join(dir, `tls-${ca.api.url.split(':').pop()}.pem`);
  writeFileSync(trust, ca.api.tlsCaPem);
  return new AcmeConnector(
    {
      issuerId: 'iss-acme',
      urlId: 'iss-acme',
      publicUrl: 'https://certctl.test',
      config: { directory_url: ca.directoryUrl, email: EMAIL, trust_ca_path: trust, ...extra },
    },
    deps,
  );
}

function request(extra: Partial<IssuanceRequest> = {}): IssuanceRequest {
  return { csr, commonName: 'www.ari.test', sans: { dns: ['www.ari.test'] }, ...extra };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acme-ari-'));
  csr = await newCsr('www.ari.test', { dns: ['www.ari.test'] });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ACME renewal orders name the certificate they replace (RFC 9773 section 5)', () => {
  let ca: FakeAcmeCa;
  beforeAll(async () => {
    ca = await FakeAcmeCa.start({ ari: true });
  });
  afterAll(() => ca.stop());

  it('sends replaces = the ARI id of the previous certificate when the CA has renewalInfo', async () => {
    const conn = connector(ca);
    const first = await conn.issue(request());
    expect(ca.newOrders.at(-1)).not.toHaveProperty('replaces');
    const second = await conn.renew(request({ replacesCertPem: first.certPem }));
    expect(ca.newOrders.at(-1)).toEqual({
      identifiers: [{ type: 'dns', value: 'www.ari.test' }],
      replaces: ariCertId(first.certPem),
    });
    expect(second.serialHex).not.toBe(first.serialHex);
  });

  it('orders again without replaces when the CA refuses it (alreadyReplaced)', async () => {
    const conn = connector(ca);
    const first = await conn.issue(request());
    ca.refuseReplaces = true;
    const before = ca.newOrders.length;
    const renewed = await conn.renew(request({ replacesCertPem: first.certPem }));
    ca.refuseReplaces = false;
    expect(ca.newOrders.slice(before).map((o) => 'replaces' in o)).toEqual([true, false]);
    expect(renewed.certPem).toContain('BEGIN CERTIFICATE');
  });

  it('does not send replaces when ARI is turned off for the issuer', async () => {
    const conn = connector(ca, { ari_enabled: false });
    const first = await conn.issue(request());
    await conn.renew(request({ replacesCertPem: first.certPem }));
    expect(ca.newOrders.at(-1)).not.toHaveProperty('replaces');
    expect(await conn.renewalInfo(first.certPem)).toBeUndefined();
  });

  it('answers the window with its Retry-After, and a CA outage as Unavailable', async () => {
    const conn = connector(ca);
    const cert = (await conn.issue(request())).certPem;
    const id = ariCertId(cert);
    ca.renewalInfo = (certId) =>
      certId === id
        ? {
            status: 200,
            headers: { 'retry-after': '3600' },
            body: {
              suggestedWindow: { start: '2030-01-01T00:00:00Z', end: '2030-01-03T00:00:00Z' },
              explanationURL: 'https://ca.test/why',
            },
          }
        : { status: 404, body: {} };
    expect(await conn.renewalInfo(cert)).toEqual({
      suggestedWindow: { start: '2030-01-01T00:00:00Z', end: '2030-01-03T00:00:00Z' },
      explanationURL: 'https://ca.test/why',
      retryAfterSeconds: 3600,
    });
    ca.renewalInfo = () => ({
      status: 200,
      body: { suggestedWindow: { start: '2030-01-03T00:00:00Z', end: '2030-01-01T00:00:00Z' } },
    });
    expect(await conn.renewalInfo(cert)).toBeUndefined();
    ca.renewalInfo = () => ({ status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal' } });
    const e = await rejection(conn.renewalInfo(cert));
    expect(e.code).toBe(ErrorCode.Unavailable);
    expect(e.message).toContain(`renewalInfo ${ca.api.url}/renewal-info/${id}: HTTP 503`);
  });
});

describe('ZeroSSL EAB auto-fetch', () => {
  let ca: FakeAcmeCa;
  beforeAll(async () => {
    ca = await FakeAcmeCa.start({ eabKeys: { [EAB_KID]: EAB_HMAC } });
  });
  afterAll(() => ca.stop());

  it('fetches EAB credentials for the email when none are configured, and registers with them', async () => {
    ca.zeroSslCredentials = { [EMAIL]: { kid: EAB_KID, hmac: EAB_HMAC } };
    const result = await connector(ca, { zerossl_eab_url: ca.eabUrl }).issue(request());
    expect(result.certPem).toContain('BEGIN CERTIFICATE');
    const [fetch] = ca.requests('/acme/eab-credentials-email');
    expect(fetch.method).toBe('POST');
    expect(fetch.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(fetch.text))).toEqual({ email: EMAIL });
  });

  it('says what is wrong when ZeroSSL issues nothing, and does not fetch when EAB is configured', async () => {
    ca.zeroSslCredentials = {};
    const e = await rejection(connector(ca, { zerossl_eab_url: ca.eabUrl }).issue(request()));
    expect(e.code).toBe(ErrorCode.Validation);
    expect(e.message).toBe(
      `ZeroSSL did not issue EAB credentials for ${EMAIL} (invalid_email): set eab_kid and eab_hmac_key`,
    );
    const before = ca.requests('/acme/eab-credentials-email').length;
    await connector(ca, { zerossl_eab_url: ca.eabUrl, eab_kid: EAB_KID, eab_hmac_key: EAB_HMAC }).issue(request());
    expect(ca.requests('/acme/eab-credentials-email')).toHaveLength(before);
  });

  it('the issuer test accepts a ZeroSSL issuer without EAB, and refuses others without it', async () => {
    const trust = join(dir, 'zerossl-check-ca.pem');
    writeFileSync(trust, ca.api.tlsCaPem);
    const cfg = { directory_url: ca.directoryUrl, email: EMAIL, trust_ca_path: trust };
    const ok = await checkAcme({ ...cfg, zerossl_eab_url: ca.eabUrl });
    expect(ok.ok).toBe(true);
    expect(ok.message).toContain('external account binding fetched from ZeroSSL for the email on registration');
    expect(await checkAcme(cfg)).toEqual({
      ok: false,
      message: `${ca.directoryUrl} requires External Account Binding: set eab_kid and eab_hmac_key`,
    });
  });

  it('without the ZeroSSL endpoint, a directory requiring EAB asks for eab_kid and eab_hmac_key', async () => {
    const e = await rejection(connector(ca).issue(request()));
    expect(e.message).toContain('requires External Account Binding: set eab_kid and eab_hmac_key');
    // The CA checks the MAC: a wrong key is refused, so the fetched one above was really used.
    const wrong = Buffer.from('another 32 byte key, not the one').toString('base64url');
    const bad = await rejection(connector(ca, { eab_kid: EAB_KID, eab_hmac_key: wrong }).issue(request()));
    expect(bad.message).toContain('EAB MAC or key mismatch');
  });
});
