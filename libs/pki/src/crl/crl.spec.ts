import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { buildCrl, BuildCrlInput, CrlEntry } from './crl';
import { CRL_REASON_CODES } from './reasons';
import { FixtureCa, makeCa, makeLeaf, openssl, tempDir } from './test-fixtures';

const HOUR = 3_600_000;

async function expectInvalid(p: Promise<unknown>, message: string | RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(ErrorCode.Validation);
  expect((err as DomainError).message).toMatch(message);
}

function crlPem(der: Buffer): string {
  return x509.PemConverter.encode(der, 'X509 CRL') + '\n';
}

describe('buildCrl', () => {
  let ca: FixtureCa;
  const now = new Date();
  const base = (): BuildCrlInput => ({
    issuer: ca.identity,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 24 * HOUR),
    crlNumber: 1n,
    entries: [],
  });

  beforeAll(async () => {
    ca = await makeCa({ name: [{ CN: ['certctl CRL test CA'] }, { O: ['Exämple, Inc.'] }, { C: ['DE'] }] });
  });

  it('lists every RFC 5280 reason (absent for unspecified) and invalidity dates; openssl verifies it', async () => {
    const reasons = Object.keys(CRL_REASON_CODES).filter((r) => r !== 'removeFromCRL') as CrlEntry['reason'][];
    const entries: CrlEntry[] = reasons.map((reason, i) => ({
      serialHex: `0a${(i + 1).toString(16).padStart(2, '0')}`,
      revokedAt: new Date(now.getTime() - (i + 1) * HOUR),
      reason,
    }));
    entries[1].invalidityDate = new Date('2024-05-06T07:08:09.999Z');
    const der = await buildCrl({ ...base(), crlNumber: 42n, entries });

    const t = tempDir({ 'ca.pem': ca.certPem, 'crl.der': der });
    try {
      const check = openssl(['crl', '-inform', 'DER', '-in', t.path('crl.der'), '-CAfile', t.path('ca.pem'), '-noout']);
      expect(check.out).toContain('verify OK');
      const text = openssl(['crl', '-inform', 'DER', '-in', t.path('crl.der'), '-noout', '-text']).stdout;
      expect(text).toContain('Version 2 (0x1)');
      expect(text).toMatch(/X509v3 CRL Number:\s+42/);
      expect(text).toContain('X509v3 Authority Key Identifier');
      const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId.toUpperCase();
      expect(text.replace(/:/g, '')).toContain(ski);
      const printed: Record<string, string> = {
        keyCompromise: 'Key Compromise',
        caCompromise: 'CA Compromise',
        affiliationChanged: 'Affiliation Changed',
        superseded: 'Superseded',
        cessationOfOperation: 'Cessation Of Operation',
        certificateHold: 'Certificate Hold',
        privilegeWithdrawn: 'Privilege Withdrawn',
        aACompromise: 'AA Compromise',
      };
      // Each revoked serial, followed by its own reason (or none for unspecified).
      const blocks = text.split('Serial Number: ').slice(1);
      expect(blocks).toHaveLength(entries.length);
      for (const [i, e] of entries.entries()) {
        const block = blocks[i];
        expect(block.startsWith(e.serialHex.toUpperCase())).toBe(true);
        if (e.reason === 'unspecified') expect(block).not.toContain('Reason Code');
        else expect(block).toMatch(new RegExp(`CRL Reason Code:\\s+${printed[e.reason]}`));
      }
      expect(blocks[1]).toMatch(/Invalidity Date:\s+May {2}6 07:08:09 2024 GMT/);
      expect(Object.keys(printed).length + 1).toBe(reasons.length);
    } finally {
      t.remove();
    }

    // Structure: issuer bytes are the CA's subject bytes; times are whole seconds; v2.
    const parsed = pkijs.CertificateRevocationList.fromBER(der);
    const caParsed = pkijs.Certificate.fromBER(ca.certDer);
    expect(Buffer.from(parsed.issuer.valueBeforeDecode).equals(Buffer.from(caParsed.subject.valueBeforeDecode))).toBe(
      true,
    );
    expect(parsed.version).toBe(1);
    expect(parsed.thisUpdate.value.getTime() % 1000).toBe(0);
    expect(parsed.revokedCertificates).toHaveLength(entries.length);
    const crl = new x509.X509Crl(der);
    expect(await crl.verify({ publicKey: ca.cert.publicKey })).toBe(true);
    expect(crl.entries[0].reason).toBeUndefined(); // unspecified -> extension absent
    expect(crl.entries[1].reason).toBe(CRL_REASON_CODES.keyCompromise);
  });

  it('makes openssl verify -crl_check fail with error 23 for a revoked leaf, and pass for another', async () => {
    const revokedLeaf = await makeLeaf(ca, { cn: 'revoked.test' });
    const goodLeaf = await makeLeaf(ca, { cn: 'good.test' });
    const der = await buildCrl({
      ...base(),
      entries: [{ serialHex: revokedLeaf.serialHex, revokedAt: new Date(now.getTime() - HOUR), reason: 'superseded' }],
    });
    const t = tempDir({
      'ca.pem': ca.certPem,
      'crl.pem': crlPem(der),
      'revoked.pem': revokedLeaf.certPem,
      'good.pem': goodLeaf.certPem,
    });
    try {
      const bad = openssl([
        'verify',
        '-crl_check',
        '-CAfile',
        t.path('ca.pem'),
        '-CRLfile',
        t.path('crl.pem'),
        t.path('revoked.pem'),
      ]);
      expect(bad.status).not.toBe(0);
      expect(bad.out).toMatch(/error 23 at 0 depth lookup: certificate revoked/);
      const good = openssl([
        'verify',
        '-crl_check',
        '-CAfile',
        t.path('ca.pem'),
        '-CRLfile',
        t.path('crl.pem'),
        t.path('good.pem'),
      ]);
      expect(good.status).toBe(0);
      expect(good.stdout).toContain('good.pem: OK');
    } finally {
      t.remove();
    }
  });

  it('omits revokedCertificates when empty, and encodes large CRL numbers and post-2049 times', async () => {
    const der = await buildCrl({
      ...base(),
      nextUpdate: new Date('2051-01-02T03:04:05Z'),
      crlNumber: (1n << 159n) - 1n,
    });
    const t = tempDir({ 'ca.pem': ca.certPem, 'crl.der': der });
    try {
      const check = openssl(['crl', '-inform', 'DER', '-in', t.path('crl.der'), '-CAfile', t.path('ca.pem'), '-noout']);
      expect(check.out).toContain('verify OK');
      const text = openssl(['crl', '-inform', 'DER', '-in', t.path('crl.der'), '-noout', '-text']).stdout;
      expect(text).toContain('No Revoked Certificates.');
      expect(text).toContain('Next Update: Jan  2 03:04:05 2051 GMT');
      expect(text.replace(/[\s:]/g, '')).toContain('7F' + 'FF'.repeat(19));
    } finally {
      t.remove();
    }
    const tbs = (asn1js.fromBER(der).result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
    const times = tbs.valueBlock.value.filter(
      (b) => b instanceof asn1js.UTCTime || b instanceof asn1js.GeneralizedTime,
    );
    expect(times.map((b) => b.constructor.name)).toEqual(['UTCTime', 'GeneralizedTime']);
    expect(tbs.valueBlock.value.some((b) => b instanceof asn1js.Sequence && b.valueBlock.value.length === 0)).toBe(
      false,
    );
  });

  it('normalises serials (case, leading zeros, high bit) the way openssl reads them', async () => {
    const der = await buildCrl({
      ...base(),
      entries: [
        { serialHex: '00FF01', revokedAt: now, reason: 'keyCompromise' },
        { serialHex: '7f', revokedAt: now, reason: 'keyCompromise' },
      ],
    });
    const raw = pkijs.CertificateRevocationList.fromBER(der).revokedCertificates!.map((r) =>
      Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex'),
    );
    expect(raw).toEqual(['00ff01', '7f']);
    const t = tempDir({ 'crl.der': der });
    try {
      const text = openssl(['crl', '-inform', 'DER', '-in', t.path('crl.der'), '-noout', '-text']).stdout;
      expect(text).toContain('Serial Number: FF01');
      expect(text).toContain('Serial Number: 7F');
    } finally {
      t.remove();
    }
  });

  it('signs with RSA, P-384 and Ed25519 CAs, and from an intermediate', async () => {
    const cas = await Promise.all([makeCa({ alg: 'RSA-2048' }), makeCa({ alg: 'P-384' }), makeCa({ alg: 'Ed25519' })]);
    cas.push(await makeCa({ parent: ca, name: 'CN=certctl test issuing CA' }));
    for (const issuer of cas) {
      const der = await buildCrl({
        ...base(),
        issuer: issuer.identity,
        entries: [{ serialHex: '01', revokedAt: now, reason: 'cessationOfOperation' }],
      });
      const t = tempDir({ 'ca.pem': issuer.certPem, 'crl.der': der });
      try {
        const check = openssl([
          'crl',
          '-inform',
          'DER',
          '-in',
          t.path('crl.der'),
          '-CAfile',
          t.path('ca.pem'),
          '-noout',
        ]);
        expect(`${issuer.alg}: ${check.out}`).toContain('verify OK');
      } finally {
        t.remove();
      }
    }
  });

  it('builds a 20,000-entry CRL that openssl reads, quickly enough for a background job', async () => {
    const entries: CrlEntry[] = Array.from({ length: 20_000 }, (_, i) => ({
      serialHex: (0x10000000 + i).toString(16) + 'ab'.repeat(16),
      revokedAt: new Date(now.getTime() - i * 1000),
      reason: i % 3 === 0 ? 'unspecified' : 'keyCompromise',
    }));
    // The event loop keeps turning while a big CRL is encoded (slices yield between them).
    let last = performance.now();
    let maxLag = 0;
    const ticker = setInterval(() => {
      const t = performance.now();
      maxLag = Math.max(maxLag, t - last);
      last = t;
    }, 5);
    const started = performance.now();
    const der = await buildCrl({ ...base(), entries });
    const ms = performance.now() - started;
    clearInterval(ticker);
    console.log(
      `CRL with 20000 entries: ${der.length} bytes in ${ms.toFixed(0)} ms, longest event-loop stall ${maxLag.toFixed(0)} ms`,
    );
    expect(ms).toBeLessThan(20_000);
    expect(maxLag).toBeLessThan(ms / 4);
    const t = tempDir({ 'ca.pem': ca.certPem, 'crl.der': der });
    try {
      const check = openssl(['crl', '-inform', 'DER', '-in', t.path('crl.der'), '-CAfile', t.path('ca.pem'), '-noout']);
      expect(check.out).toContain('verify OK');
    } finally {
      t.remove();
    }
  });

  describe('refuses bad input with a validation error naming the rule', () => {
    const entry = (e: Partial<CrlEntry>): CrlEntry => ({
      serialHex: '01',
      revokedAt: now,
      reason: 'keyCompromise',
      ...e,
    });

    it('times', async () => {
      await expectInvalid(buildCrl({ ...base(), nextUpdate: now }), /nextUpdate must be later than thisUpdate/);
      // Same second after truncation to whole seconds.
      const t0 = new Date(Math.floor(now.getTime() / 1000) * 1000);
      await expectInvalid(
        buildCrl({ ...base(), thisUpdate: t0, nextUpdate: new Date(t0.getTime() + 999) }),
        /nextUpdate must be later/,
      );
      await expectInvalid(buildCrl({ ...base(), thisUpdate: new Date(NaN) }), /thisUpdate must be a valid date/);
      await expectInvalid(
        buildCrl({ ...base(), entries: [entry({ revokedAt: new Date('x') })] }),
        /entries\[0\]\.revokedAt must be a valid date/,
      );
      await expectInvalid(
        buildCrl({ ...base(), entries: [entry({ invalidityDate: 'yesterday' as unknown as Date })] }),
        /entries\[0\]\.invalidityDate must be a valid date/,
      );
    });

    it('crlNumber', async () => {
      await expectInvalid(buildCrl({ ...base(), crlNumber: -1n }), /crlNumber must be a non-negative bigint/);
      await expectInvalid(buildCrl({ ...base(), crlNumber: 1n << 159n }), /at most 20 octets/);
      await expectInvalid(buildCrl({ ...base(), crlNumber: 5 as unknown as bigint }), /crlNumber/);
    });

    it('serials and reasons', async () => {
      await expectInvalid(
        buildCrl({ ...base(), entries: [entry({ serialHex: 'xyz' })] }),
        /entries\[0\]\.serialHex must be a hexadecimal serial/,
      );
      await expectInvalid(buildCrl({ ...base(), entries: [entry({ serialHex: '0000' })] }), /positive serial/);
      await expectInvalid(buildCrl({ ...base(), entries: [entry({ serialHex: 'ff'.repeat(20) })] }), /20 octets/);
      await expectInvalid(
        buildCrl({ ...base(), entries: [entry({}), entry({ serialHex: '0001' })] }),
        /entries\[1\]\.serialHex 0001 is listed twice/,
      );
      await expectInvalid(
        buildCrl({ ...base(), entries: [entry({ reason: 'stolen' as CrlEntry['reason'] })] }),
        /entries\[0\]\.reason must be one of/,
      );
      await expectInvalid(
        buildCrl({ ...base(), entries: [entry({ reason: 'removeFromCRL' })] }),
        /only valid in a delta CRL/,
      );
      // RFC spelling accepted.
      const der = await buildCrl({ ...base(), entries: [entry({ reason: 'cACompromise' as CrlEntry['reason'] })] });
      expect(new x509.X509Crl(der).entries[0].reason).toBe(2);
    });

    it('issuer', async () => {
      const other = await makeCa();
      await expectInvalid(
        buildCrl({ ...base(), issuer: { certificate: ca.certPem, privateKey: other.keys.privateKey } }),
        /issuer\.privateKey does not match issuer\.certificate/,
      );
      await expectInvalid(
        buildCrl({ ...base(), issuer: { certificate: 'not a cert', privateKey: ca.keys.privateKey } }),
        /issuer\.certificate is not a PEM certificate/,
      );
      await expectInvalid(
        buildCrl({
          ...base(),
          issuer: { certificate: new Uint8Array([0x30, 0x03, 1, 2, 3]), privateKey: ca.keys.privateKey },
        }),
        /issuer\.certificate is not a DER X\.509 certificate/,
      );
      await expectInvalid(
        buildCrl({ ...base(), issuer: { certificate: ca.certPem, privateKey: ca.keys.publicKey } }),
        /issuer\.privateKey must be a private CryptoKey/,
      );
      const noCrlSign = await makeCa({ keyUsage: x509.KeyUsageFlags.keyCertSign });
      await expectInvalid(buildCrl({ ...base(), issuer: noCrlSign.identity }), /keyUsage without cRLSign/);
      const rsaPss = await webcrypto.subtle.generateKey(
        { name: 'RSA-PSS', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        false,
        ['sign', 'verify'],
      );
      await expectInvalid(
        buildCrl({ ...base(), issuer: { certificate: ca.certPem, privateKey: rsaPss.privateKey } }),
        /RSA-PSS is not supported/,
      );
    });
  });
});
