import { readFileSync } from 'node:fs';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { CertID, OCSPRequest, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { DomainError, ErrorCode } from '@certctl/domain';
import { FixtureCa, FixtureLeaf, makeCa, makeLeaf, openssl, tempDir } from '../crl/test-fixtures';
import { MalformedOcspRequest, OcspRequestLimits, certIdMatchesIssuer, parseOcspRequest } from './ocsp-request';

const SHA1 = '1.3.14.3.2.26';
const SHA256 = '2.16.840.1.101.3.4.2.1';

/** Builds requests openssl cannot make (odd encodings), with the same ASN.1 classes. */
function craft(
  opts: {
    hashOid?: string;
    params?: ArrayBuffer | null | undefined;
    nameHash?: Uint8Array;
    keyHash?: Uint8Array;
    serial?: number[];
    count?: number;
    extensions?: Extension[];
    singleExtensions?: Extension[];
    version?: number;
  } = {},
): Buffer {
  const hashAlgorithm = new AlgorithmIdentifier({ algorithm: opts.hashOid ?? SHA1 });
  hashAlgorithm.parameters = 'params' in opts ? opts.params : null;
  const one = (): Request =>
    new Request({
      reqCert: new CertID({
        hashAlgorithm,
        issuerNameHash: new OctetString(opts.nameHash ?? new Uint8Array(20).fill(1)),
        issuerKeyHash: new OctetString(opts.keyHash ?? new Uint8Array(20).fill(2)),
        serialNumber: new Uint8Array(opts.serial ?? [0x01, 0x02]).buffer,
      }),
      singleRequestExtensions: opts.singleExtensions,
    });
  const tbs = new TBSRequest({
    requestList: Array.from({ length: opts.count ?? 1 }, one),
    requestExtensions: opts.extensions,
  });
  if (opts.version !== undefined) tbs.version = opts.version;
  return Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
}

function nonceExt(value: Uint8Array, wrap = true): Extension {
  return new Extension({
    extnID: id_pkix_ocsp_nonce,
    critical: false,
    extnValue: new OctetString(wrap ? AsnConvert.serialize(new OctetString(value)) : value),
  });
}

function expectMalformed(der: Uint8Array, message: RegExp, limits?: OcspRequestLimits): void {
  let err: unknown;
  try {
    parseOcspRequest(der, limits);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MalformedOcspRequest);
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(ErrorCode.Validation);
  expect((err as Error).name).toBe('MalformedOcspRequest');
  expect((err as Error).message).toMatch(message);
}

describe('parseOcspRequest with requests made by openssl ocsp -reqout', () => {
  let ca: FixtureCa;
  let other: FixtureCa;
  let leaves: FixtureLeaf[];
  let t: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    ca = await makeCa();
    other = await makeCa({ name: 'CN=another CA' });
    leaves = [await makeLeaf(ca), await makeLeaf(ca, { serialHex: '00ab' }), await makeLeaf(ca)];
    t = tempDir({ 'ca.pem': ca.certPem });
    leaves.forEach((l, i) => t.write(`leaf${i}.pem`, l.certPem));
  });
  afterAll(() => t.remove());

  function reqout(args: string[]): Buffer {
    const r = openssl(['ocsp', '-issuer', t.path('ca.pem'), ...args, '-reqout', t.path('req.der')]);
    expect(r.status).toBe(0);
    lastText = openssl(['ocsp', '-reqin', t.path('req.der'), '-req_text']).stdout;
    return readFileSync(t.path('req.der'));
  }
  let lastText = '';

  it('reads a SHA-1 CertID and the default 16-octet nonce', () => {
    const der = reqout(['-cert', t.path('leaf0.pem')]);
    const req = parseOcspRequest(der);
    expect(req.certIds).toHaveLength(1);
    const id = req.certIds[0];
    expect(id.hashAlgorithm).toBe('SHA-1');
    expect(id.hashParameters).toBe('null');
    expect(id.issuerNameHash).toHaveLength(20);
    expect(id.issuerKeyHash).toHaveLength(20);
    expect(id.serialHex).toBe(leaves[0].serialHex);
    expect(req.nonce).toHaveLength(16);
    // openssl prints the extnValue (04 10 || nonce).
    const printed = /OCSP Nonce:\s*\n?\s*([0-9A-F]+)/.exec(lastText)?.[1];
    expect(printed).toBe('0410' + req.nonce!.toString('hex').toUpperCase());
    expect(req.raw.equals(der)).toBe(true);
    expect(certIdMatchesIssuer(id, ca.certPem)).toBe(true);
    expect(certIdMatchesIssuer(id, ca.certDer)).toBe(true);
    expect(certIdMatchesIssuer(id, other.certPem)).toBe(false);
  });

  it('reads SHA-256 CertIDs (-sha256), without a nonce (-no_nonce)', () => {
    const req = parseOcspRequest(reqout(['-sha256', '-no_nonce', '-cert', t.path('leaf0.pem')]));
    expect(req.nonce).toBeUndefined();
    expect(req.certIds[0].hashAlgorithm).toBe('SHA-256');
    expect(req.certIds[0].issuerNameHash).toHaveLength(32);
    expect(req.certIds[0].serialHex).toBe(leaves[0].serialHex);
    expect(certIdMatchesIssuer(req.certIds[0], ca.certPem)).toBe(true);
    expect(certIdMatchesIssuer(req.certIds[0], other.certPem)).toBe(false);
  });

  it('reads several CertIDs in one request, mixing hash algorithms, in order', () => {
    const req = parseOcspRequest(
      reqout([
        '-cert',
        t.path('leaf0.pem'),
        '-sha256',
        '-cert',
        t.path('leaf1.pem'),
        '-sha1',
        '-cert',
        t.path('leaf2.pem'),
      ]),
    );
    expect(req.certIds.map((c) => c.hashAlgorithm)).toEqual(['SHA-1', 'SHA-256', 'SHA-1']);
    // Leading zeros of the serial are not part of the canonical hex.
    expect(req.certIds.map((c) => c.serialHex)).toEqual([leaves[0].serialHex, 'ab', leaves[2].serialHex]);
    expect(req.certIds.every((c) => certIdMatchesIssuer(c, ca.certPem))).toBe(true);
  });
});

describe('parseOcspRequest with crafted requests', () => {
  it('accepts absent hash parameters (RFC 5754 style) and says so', () => {
    const req = parseOcspRequest(craft({ params: undefined }));
    expect(req.certIds[0].hashParameters).toBe('absent');
    expect(req.certIds[0].serialHex).toBe('0102');
  });

  it('accepts nonces of 1 and 32 octets, and longer ones only when allowed', () => {
    expect(parseOcspRequest(craft({ extensions: [nonceExt(new Uint8Array([7]))] })).nonce).toEqual(Buffer.from([7]));
    const n32 = new Uint8Array(32).fill(9);
    expect(parseOcspRequest(craft({ extensions: [nonceExt(n32)] })).nonce).toEqual(Buffer.from(n32));
    const n40 = craft({ extensions: [nonceExt(new Uint8Array(40).fill(3))] });
    expectMalformed(n40, /nonce must be 1 to 32 octets \(RFC 8954\)/);
    expect(parseOcspRequest(n40, { maxNonceBytes: 128 }).nonce).toHaveLength(40);
  });

  it('ignores unknown non-critical extensions', () => {
    const ext = new Extension({
      extnID: '1.2.3.4',
      critical: false,
      extnValue: new OctetString(new Uint8Array([5, 0])),
    });
    expect(parseOcspRequest(craft({ extensions: [ext], singleExtensions: [ext] })).certIds).toHaveLength(1);
  });

  it('refuses, as MalformedOcspRequest, everything it cannot answer', () => {
    const good = craft();
    expectMalformed(new Uint8Array(0), /not a single DER structure/);
    expectMalformed(good.subarray(0, good.length - 1), /not a single DER structure/);
    expectMalformed(Buffer.concat([good, Buffer.from([0])]), /not a single DER structure/);
    expectMalformed(Buffer.from('30030201ff', 'hex'), /does not decode as an OCSPRequest/);
    expectMalformed(Buffer.from('hello world'), /not a single DER structure/);
    expectMalformed('30' as unknown as Uint8Array, /must be DER bytes/);
    expectMalformed(
      craft({ hashOid: '2.16.840.1.101.3.4.2.2' }),
      /hashAlgorithm 2\.16\.840\.1\.101\.3\.4\.2\.2 is not SHA-1 or SHA-256/,
    );
    expectMalformed(craft({ params: new Uint8Array([2, 1, 0]).buffer }), /parameters must be NULL or absent/);
    expectMalformed(craft({ nameHash: new Uint8Array(19) }), /SHA-1 issuer hashes must be 20 octets/);
    expectMalformed(craft({ hashOid: SHA256 }), /SHA-256 issuer hashes must be 32 octets/);
    expectMalformed(craft({ serial: [0x80, 0x01] }), /serialNumber must be a positive INTEGER/);
    expectMalformed(craft({ serial: [0x00] }), /serialNumber must be a positive INTEGER/);
    expectMalformed(craft({ extensions: [nonceExt(new Uint8Array(0))] }), /nonce must be 1 to 32 octets/);
    expectMalformed(craft({ extensions: [nonceExt(new Uint8Array(16), false)] }), /nonce must be an OCTET STRING/);
    expectMalformed(
      craft({ extensions: [nonceExt(new Uint8Array([1])), nonceExt(new Uint8Array([2]))] }),
      /nonce extension appears twice/,
    );
    const critical = new Extension({
      extnID: '1.2.3.4',
      critical: true,
      extnValue: new OctetString(new Uint8Array([5, 0])),
    });
    expectMalformed(
      craft({ extensions: [critical] }),
      /requestExtensions: critical extension 1\.2\.3\.4 is not supported/,
    );
    expectMalformed(
      craft({ singleExtensions: [critical] }),
      /requestList\[0\]\.singleRequestExtensions: critical extension 1\.2\.3\.4/,
    );
    expectMalformed(craft({ version: 1 }), /version must be v1/);
    expectMalformed(craft({ count: 0 }), /lists no CertID/);
    expectMalformed(craft({ count: 3 }), /lists 3 CertIDs; at most 2/, { maxCertIds: 2 });
    expectMalformed(good, /larger than 10 bytes/, { maxBytes: 10 });
  });
});
