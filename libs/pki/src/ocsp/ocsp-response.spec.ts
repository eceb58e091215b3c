import 'reflect-metadata';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import * as asn1js from 'asn1js';
import { DomainError, ErrorCode } from '@certctl/domain';
import { FixtureCa, FixtureLeaf, makeCa, makeLeaf, openssl, tempDir } from '../crl/test-fixtures';
import { OcspCertId, parseOcspRequest } from './ocsp-request';
import { BuildOcspResponseInput, OcspSingleResponse, buildOcspResponse, ocspErrorResponse } from './ocsp-response';
import {
  OcspResponderCertificate,
  createOcspResponderCertificate,
  ocspResponderNeedsRotation,
} from './responder-certificate';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

async function expectInvalid(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(ErrorCode.Validation);
  expect((err as DomainError).message).toMatch(message);
}

/** Every GeneralizedTime in a DER structure, as its raw text. */
function generalizedTimes(der: ArrayBuffer | Uint8Array): string[] {
  const out: string[] = [];
  const walk = (block: asn1js.BaseBlock | undefined): void => {
    if (!block?.valueBlock) return;
    if (block instanceof asn1js.GeneralizedTime) {
      out.push(Buffer.from(block.valueBlock.valueHexView).toString('latin1'));
    }
    const value = (block.valueBlock as { value?: unknown }).value;
    if (Array.isArray(value)) value.forEach((b) => walk(b as asn1js.BaseBlock));
    // (asn1js decodes OCTET STRINGs that hold DER, such as responseBytes, into `value` too.)
  };
  walk(asn1js.fromBER(der).result);
  return out;
}

function basicOf(der: Buffer): BasicOCSPResponse {
  const resp = AsnConvert.parse(der, OCSPResponse);
  return AsnConvert.parse(resp.responseBytes!.response.buffer, BasicOCSPResponse);
}

describe('buildOcspResponse, checked by openssl ocsp', () => {
  let ca: FixtureCa;
  let responder: OcspResponderCertificate;
  let leaves: FixtureLeaf[];
  let t: ReturnType<typeof tempDir>;
  const now = new Date();

  beforeAll(async () => {
    ca = await makeCa({ name: 'CN=certctl OCSP test CA, O=certctl' });
    responder = await createOcspResponderCertificate(ca.identity, 7);
    leaves = await Promise.all([0, 1, 2].map((i) => makeLeaf(ca, { cn: `leaf${i}.test` })));
    t = tempDir({ 'ca.pem': ca.certPem });
    leaves.forEach((l, i) => t.write(`leaf${i}.pem`, l.certPem));
  });
  afterAll(() => t.remove());

  function request(args: string[]): { der: Buffer; path: string } {
    const r = openssl(['ocsp', '-issuer', t.path('ca.pem'), ...args, '-reqout', t.path('req.der')]);
    expect(r.status).toBe(0);
    return { der: readFileSync(t.path('req.der')), path: t.path('req.der') };
  }

  const single = (certId: OcspCertId, extra: Partial<OcspSingleResponse> = {}): OcspSingleResponse => ({
    certId,
    status: 'good',
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + HOUR),
    ...extra,
  });

  const input = (
    responses: OcspSingleResponse[],
    extra: Partial<BuildOcspResponseInput> = {},
  ): BuildOcspResponseInput => ({
    responder: responder.identity,
    issuerCert: ca.certPem,
    responses,
    producedAt: now,
    ...extra,
  });

  /** openssl's view of a response: the status line per -cert, and the -resp_text dump. */
  function check(der: Buffer, certs: number[], digest: string[] = []): { status: number; out: string } {
    const resp = t.write('resp.der', der);
    return openssl([
      'ocsp',
      '-respin',
      resp,
      '-issuer',
      t.path('ca.pem'),
      ...digest,
      ...certs.flatMap((i) => ['-cert', t.path(`leaf${i}.pem`)]),
      '-CAfile',
      t.path('ca.pem'),
      '-no_nonce',
      '-resp_text',
    ]);
  }

  it('answers good through the delegated responder, echoing the nonce (openssl nonce check passes)', async () => {
    const req = request(['-cert', t.path('leaf0.pem')]);
    const parsed = parseOcspRequest(req.der);
    expect(parsed.nonce).toBeDefined();
    const der = await buildOcspResponse(input([single(parsed.certIds[0])], { nonce: parsed.nonce }));

    const r = check(der, [0]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf0\.pem: good/);
    expect(r.out).toContain('Cert Status: good');
    const keyHash = /Responder Id: ([0-9A-F]+)/.exec(r.out)?.[1];
    expect(keyHash).toMatch(/^[0-9A-F]{40}$/); // byKey
    expect(r.out).toContain('Subject: CN=certctl OCSP test CA OCSP Responder, O=certctl');

    // The same request file: openssl compares its nonce with the response's.
    const withNonce = openssl(['ocsp', '-reqin', req.path, '-respin', t.path('resp.der'), '-CAfile', t.path('ca.pem')]);
    expect(withNonce.status).toBe(0);
    expect(withNonce.out).toContain('Response verify OK');
    expect(withNonce.out).not.toMatch(/nonce/i);

    // A different nonce is caught by that check (so the check above means something).
    const wrong = await buildOcspResponse(input([single(parsed.certIds[0])], { nonce: Buffer.alloc(16, 1) }));
    t.write('wrong.der', wrong);
    const mismatch = openssl(['ocsp', '-reqin', req.path, '-respin', t.path('wrong.der'), '-CAfile', t.path('ca.pem')]);
    expect(mismatch.status).not.toBe(0);
    expect(mismatch.out).toContain('Nonce Verify error');

    // good is [0] IMPLICIT NULL (80 00); times are GeneralizedTime without fractions.
    const basic = basicOf(der);
    expect(basic.tbsResponseData.responses[0].certStatus.good).toBeNull();
    expect(basic.certs).toHaveLength(1);
    expect(Buffer.from(AsnConvert.serialize(basic.certs![0])).equals(responder.certificateDer)).toBe(true);
    const times = generalizedTimes(der);
    expect(times.length).toBeGreaterThanOrEqual(3);
    for (const time of times) expect(time).toMatch(/^\d{14}Z$/);
  });

  it('answers revoked with the revocation time and reason for a SHA-256 CertID', async () => {
    const req = parseOcspRequest(request(['-sha256', '-no_nonce', '-cert', t.path('leaf1.pem')]).der);
    const revokedAt = new Date('2025-03-04T05:06:07.890Z');
    const der = await buildOcspResponse(
      input([single(req.certIds[0], { status: 'revoked', revokedAt, reason: 'keyCompromise' })]),
    );
    const r = check(der, [1], ['-sha256']);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf1\.pem: revoked/);
    expect(r.out).toMatch(/Reason: keyCompromise/);
    expect(r.out).toMatch(/Revocation Time: Mar {2}4 05:06:07 2025 GMT/);
    expect(r.out).toContain('Hash Algorithm: sha256');
    for (const time of generalizedTimes(der)) expect(time).toMatch(/^\d{14}Z$/);
  });

  it('omits the reason for unspecified, and answers unknown', async () => {
    const req = parseOcspRequest(
      request(['-no_nonce', '-cert', t.path('leaf1.pem'), '-cert', t.path('leaf2.pem')]).der,
    );
    const der = await buildOcspResponse(
      input([
        single(req.certIds[0], { status: 'revoked', revokedAt: now, reason: 'unspecified' }),
        single(req.certIds[1], { status: 'unknown' }),
      ]),
    );
    const r = check(der, [1, 2]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf1\.pem: revoked/);
    expect(r.out).not.toMatch(/Reason:/);
    expect(r.out).toMatch(/leaf2\.pem: unknown/);
    const basic = basicOf(der);
    expect(basic.tbsResponseData.responses[0].certStatus.revoked?.revocationReason).toBeUndefined();
    expect(basic.tbsResponseData.responses[1].certStatus.unknown).toBeNull();
  });

  it('answers a three-CertID request with one response per CertID, in order', async () => {
    const req = parseOcspRequest(
      request(['-cert', t.path('leaf0.pem'), '-cert', t.path('leaf1.pem'), '-cert', t.path('leaf2.pem')]).der,
    );
    const der = await buildOcspResponse(
      input(
        [
          single(req.certIds[0]),
          single(req.certIds[1], { status: 'revoked', revokedAt: now, reason: 'superseded' }),
          single(req.certIds[2], { status: 'unknown' }),
        ],
        { nonce: req.nonce },
      ),
    );
    const r = check(der, [0, 1, 2]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(
      /leaf0\.pem: good[\s\S]*leaf1\.pem: revoked[\s\S]*Reason: superseded[\s\S]*leaf2\.pem: unknown/,
    );
  });

  it('signs as the CA itself (no certs in the response) and with RSA and P-384 keys', async () => {
    const req = parseOcspRequest(request(['-no_nonce', '-cert', t.path('leaf0.pem')]).der);
    const byCa = await buildOcspResponse(input([single(req.certIds[0])], { responder: ca.identity }));
    const r = check(byCa, [0]);
    expect(r.out).toContain('Response verify OK');
    expect(r.out).toMatch(/leaf0\.pem: good/);
    expect(basicOf(byCa).certs).toBeUndefined();

    const rsaCa = await makeCa({ alg: 'RSA-2048', name: 'CN=RSA CA' });
    const rsaLeaf = await makeLeaf(rsaCa);
    const rsaResponder = await createOcspResponderCertificate(rsaCa.identity, 1, { keyAlgorithm: 'P-384' });
    const u = tempDir({ 'ca.pem': rsaCa.certPem, 'leaf.pem': rsaLeaf.certPem });
    try {
      openssl([
        'ocsp',
        '-issuer',
        u.path('ca.pem'),
        '-cert',
        u.path('leaf.pem'),
        '-no_nonce',
        '-reqout',
        u.path('req.der'),
      ]);
      const rsaReq = parseOcspRequest(readFileSync(u.path('req.der')));
      for (const identity of [rsaCa.identity, rsaResponder.identity]) {
        const der = await buildOcspResponse({
          responder: identity,
          issuerCert: rsaCa.certDer,
          responses: [single(rsaReq.certIds[0], { status: 'revoked', revokedAt: now, reason: 'caCompromise' })],
          producedAt: now,
        });
        u.write('resp.der', der);
        const out = openssl([
          'ocsp',
          '-respin',
          u.path('resp.der'),
          '-issuer',
          u.path('ca.pem'),
          '-cert',
          u.path('leaf.pem'),
          '-CAfile',
          u.path('ca.pem'),
          '-no_nonce',
        ]).out;
        expect(out).toContain('Response verify OK');
        expect(out).toMatch(/leaf\.pem: revoked/);
        expect(out).toMatch(/Reason: cACompromise/);
      }
    } finally {
      u.remove();
    }
  });

  it('echoes a CertID whose hash parameters were absent as it came', async () => {
    const req = parseOcspRequest(request(['-no_nonce', '-cert', t.path('leaf0.pem')]).der);
    const absent: OcspCertId = { ...req.certIds[0], hashParameters: 'absent' };
    const der = await buildOcspResponse(input([single(absent)]));
    expect(basicOf(der).tbsResponseData.responses[0].certID.hashAlgorithm.parameters).toBeUndefined();
    expect(
      basicOf(await buildOcspResponse(input([single(req.certIds[0])]))).tbsResponseData.responses[0].certID
        .hashAlgorithm.parameters,
    ).toBeNull();
    const r = check(der, [0]); // openssl matches CertIDs by algorithm OID, hashes and serial
    expect(r.out).toMatch(/leaf0\.pem: good/);
  });

  it('writes times in whole seconds whatever the input milliseconds', async () => {
    const req = parseOcspRequest(request(['-no_nonce', '-cert', t.path('leaf0.pem')]).der);
    const odd = new Date(Math.floor(now.getTime() / 1000) * 1000 + 999);
    const der = await buildOcspResponse(
      input([single(req.certIds[0], { thisUpdate: odd, nextUpdate: new Date(odd.getTime() + HOUR) })], {
        producedAt: odd,
      }),
    );
    const times = generalizedTimes(der);
    expect(times).toHaveLength(3);
    for (const time of times) expect(time).toMatch(/^\d{14}Z$/);
    expect(basicOf(der).tbsResponseData.producedAt.getTime()).toBe(odd.getTime() - 999);
  });

  describe('refuses what would be a wrong or unverifiable answer', () => {
    let certId: OcspCertId;
    beforeAll(() => {
      certId = parseOcspRequest(request(['-no_nonce', '-cert', t.path('leaf0.pem')]).der).certIds[0];
    });

    it('CertIDs of another issuer, and malformed CertIDs', async () => {
      const other = await makeCa({ name: 'CN=other' });
      await expectInvalid(
        buildOcspResponse(input([single(certId)], { issuerCert: other.certPem })),
        /responses\[0\]\.certId names another issuer|neither issuerCert nor a delegated/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId), single({ ...certId, issuerKeyHash: Buffer.alloc(20) })])),
        /responses\[1\]\.certId names another issuer than issuerCert/,
      );
      await expectInvalid(
        buildOcspResponse(input([single({ ...certId, issuerNameHash: Buffer.alloc(3) })])),
        /responses\[0\]\.certId: issuer hashes must be 20-octet SHA-1 values/,
      );
      await expectInvalid(
        buildOcspResponse(input([single({ ...certId, hashAlgorithm: 'MD5' as 'SHA-1' })])),
        /responses\[0\]\.certId\.hashAlgorithm must be SHA-1 or SHA-256/,
      );
      await expectInvalid(
        buildOcspResponse(input([single({ ...certId, serialHex: 'zz' })])),
        /responses\[0\]\.certId\.serialHex must be a hexadecimal serial/,
      );
      await expectInvalid(buildOcspResponse(input([])), /responses must list at least one/);
    });

    it('responders that may not answer for the issuer', async () => {
      const other = await makeCa({ name: 'CN=other CA' });
      const otherResponder = await createOcspResponderCertificate(other.identity, 1);
      await expectInvalid(
        buildOcspResponse(input([single(certId)], { responder: otherResponder.identity })),
        /responder\.certificate is neither issuerCert nor a delegated OCSP responder/,
      );
      // Issued by the CA, but without id-kp-OCSPSigning.
      const leafKeys = await makeCa({ parent: ca, name: 'CN=sub CA without OCSPSigning' });
      await expectInvalid(
        buildOcspResponse(input([single(certId)], { responder: leafKeys.identity })),
        /neither issuerCert nor a delegated OCSP responder \(id-kp-OCSPSigning\) issued by it/,
      );
      await expectInvalid(
        buildOcspResponse(
          input([single(certId)], {
            responder: { certificate: responder.certificatePem, privateKey: ca.keys.privateKey },
          }),
        ),
        /responder\.privateKey does not match responder\.certificate/,
      );
    });

    it('statuses, times and nonces', async () => {
      await expectInvalid(
        buildOcspResponse(input([single(certId, { status: 'revoked' })])),
        /responses\[0\]\.revokedAt must be a valid date/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId, { status: 'good', reason: 'keyCompromise' })])),
        /revokedAt and reason only apply to status 'revoked'/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId, { status: 'fine' as 'good' })])),
        /responses\[0\]\.status must be good, revoked or unknown/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId, { status: 'revoked', revokedAt: now, reason: 'removeFromCRL' })])),
        /only valid in a delta CRL/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId, { nextUpdate: now })])),
        /responses\[0\]\.nextUpdate must be later than thisUpdate/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId, { nextUpdate: new Date(now.getTime() + 30 * DAY) })])),
        /nextUpdate is after the responder certificate expires/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId)], { producedAt: new Date(now.getTime() + 8 * DAY) })),
        /responder\.certificate is not valid at producedAt/,
      );
      await expectInvalid(buildOcspResponse(input([single(certId)], { nonce: Buffer.alloc(0) })), /nonce must be 1 to/);
      await expectInvalid(
        buildOcspResponse(input([single(certId)], { nonce: Buffer.alloc(129) })),
        /nonce must be 1 to 128/,
      );
      await expectInvalid(
        buildOcspResponse(input([single(certId)], { producedAt: new Date('x') })),
        /producedAt must be a valid date/,
      );
    });
  });
});

describe('ocspErrorResponse', () => {
  it.each([
    ['malformedRequest', 1],
    ['internalError', 2],
    ['tryLater', 3],
    ['unauthorized', 6],
  ] as const)('%s is an unsigned OCSPResponse openssl reads', (status, code) => {
    const der = ocspErrorResponse(status);
    expect(der.toString('hex')).toBe(`30030a01${code.toString(16).padStart(2, '0')}`);
    const t = tempDir({ 'r.der': der });
    try {
      const r = openssl(['ocsp', '-respin', t.path('r.der'), '-resp_text', '-noverify']);
      expect(r.out.toLowerCase()).toContain(`responder error: ${status.toLowerCase()} (${code})`);
    } finally {
      t.remove();
    }
    der[0] = 0; // callers get a copy
    expect(ocspErrorResponse(status)[0]).toBe(0x30);
  });

  it('refuses other statuses', () => {
    expect(() => ocspErrorResponse('successful' as 'tryLater')).toThrow(DomainError);
    expect(() => ocspErrorResponse('toString' as 'tryLater')).toThrow(/status must be/);
  });
});

describe('createOcspResponderCertificate', () => {
  let ca: FixtureCa;
  beforeAll(async () => {
    ca = await makeCa({ name: 'CN=Responder Test CA' });
  });

  it('issues id-kp-OCSPSigning + ocsp-nocheck, digitalSignature, that openssl accepts as an OCSP helper', async () => {
    const r = await createOcspResponderCertificate(ca.identity, 10);
    const t = tempDir({ 'ca.pem': ca.certPem, 'resp.pem': r.certificatePem });
    try {
      const text = openssl(['x509', '-in', t.path('resp.pem'), '-noout', '-text']).stdout;
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+OCSP Signing\n/);
      expect(text).toMatch(/OCSP No Check: \n/);
      expect(text).toContain('X509v3 Subject Key Identifier');
      expect(text).toContain('X509v3 Authority Key Identifier');
      expect(text).toContain('Subject: CN = Responder Test CA OCSP Responder');
      const v = openssl(['verify', '-CAfile', t.path('ca.pem'), '-purpose', 'ocsphelper', t.path('resp.pem')]);
      expect(v.stdout).toContain('resp.pem: OK');
    } finally {
      t.remove();
    }
    const cert = new x509.X509Certificate(r.certificatePem);
    expect(cert.getExtension('1.3.6.1.5.5.7.48.1.5')!.critical).toBe(false);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.critical).toBe(false);
    expect(cert.serialNumber).toBe(r.serialHex);
    expect(r.notAfter.getTime() - r.notBefore.getTime()).toBeGreaterThanOrEqual(10 * DAY);
    expect(r.notBefore.getTime()).toBeLessThan(Date.now() - 4 * MIN);
    expect(r.identity.privateKey.extractable).toBe(false);
    expect(new X509Certificate(r.certificatePem).checkPrivateKey(createPrivateKey(r.privateKeyPem))).toBe(true);
    expect(r.certificateDer.equals(Buffer.from(cert.rawData))).toBe(true);
  });

  it('never outlives the CA, and refuses bad input', async () => {
    const shortCa = await makeCa({ notAfter: new Date(Date.now() + 2 * DAY) });
    const r = await createOcspResponderCertificate(shortCa.identity, 30);
    expect(r.notAfter.getTime()).toBe(shortCa.cert.notAfter.getTime());
    await expectInvalid(createOcspResponderCertificate(ca.identity, 0), /validityDays must be/);
    await expectInvalid(createOcspResponderCertificate(ca.identity, NaN), /validityDays must be/);
    await expectInvalid(
      createOcspResponderCertificate(ca.identity, 1, { keyAlgorithm: 'DSA' as 'P-256' }),
      /keyAlgorithm must be one of/,
    );
    const leaf = await makeLeaf(ca);
    await expectInvalid(
      createOcspResponderCertificate({ certificate: leaf.certPem, privateKey: ca.keys.privateKey }, 1),
      /ca\.privateKey does not match ca\.certificate/,
    );
    await expectInvalid(
      createOcspResponderCertificate({ certificate: leaf.certPem, privateKey: leaf.keys.privateKey }, 1),
      /ca\.certificate is not a CA certificate/,
    );
    const expired = await makeCa({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    await expectInvalid(createOcspResponderCertificate(expired.identity, 1), /has expired/);
  });

  it('says when to rotate', async () => {
    const r = await createOcspResponderCertificate(ca.identity, 30);
    const life = r.notAfter.getTime() - r.notBefore.getTime();
    expect(ocspResponderNeedsRotation(r.certificatePem)).toBe(false);
    expect(ocspResponderNeedsRotation(r.certificateDer, new Date(r.notBefore.getTime() + life * 0.6))).toBe(false);
    expect(ocspResponderNeedsRotation(r.certificateDer, new Date(r.notBefore.getTime() + life * 0.7))).toBe(true);
    expect(ocspResponderNeedsRotation(r.certificatePem, new Date(r.notAfter.getTime() + 1))).toBe(true);
    expect(ocspResponderNeedsRotation(r.certificatePem, new Date(r.notBefore.getTime() - 1))).toBe(true);
    expect(ocspResponderNeedsRotation(r.certificatePem, new Date(r.notBefore.getTime() + life * 0.5), 0.6)).toBe(true);
  });
});
