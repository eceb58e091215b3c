import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { ScepError, buildCertRep, parsePkiMessage, scepAttributes, signScepMessage, type ScepRa } from './scep-message';

const openssl = (dir: string, args: string[]): Buffer => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const pemToDer = (pem: string): Buffer =>
  Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

describe('SCEP PKIMessage and CertRep', () => {
  let dir: string;
  let ra: ScepRa;
  let clientCertDer: Buffer;
  let clientKey: ReturnType<typeof createPrivateKey>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'scep-'));
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ra.key',
      '-out',
      'ra.pem',
      '-subj',
      '/CN=certctl RA',
      '-days',
      '2',
    ]);
    writeFileSync(
      join(dir, 'req.cnf'),
      '[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=dev1\nO=Example\n[attrs]\nchallengePassword=s3cret-PASS\n',
    );
    openssl(dir, [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'c.key',
      '-config',
      'req.cnf',
      '-outform',
      'DER',
      '-out',
      'csr.der',
    ]);
    // scepclient signs with a self-signed certificate of the CSR key.
    openssl(dir, ['req', '-x509', '-key', 'c.key', '-subj', '/CN=dev1', '-days', '1', '-out', 'c.pem']);
    ra = {
      certificate: pemToDer(readFileSync(join(dir, 'ra.pem'), 'utf8')),
      privateKey: createPrivateKey(readFileSync(join(dir, 'ra.key'))),
    };
    clientCertDer = pemToDer(readFileSync(join(dir, 'c.pem'), 'utf8'));
    clientKey = createPrivateKey(readFileSync(join(dir, 'c.key')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The EnvelopedData from openssl, then signed the way scepclient does (SHA-1, self-signed signer). */
  function pkcsReq(cipherArgs: string[], messageType = 19, content = 'csr.der', nonce = randomBytes(16)): Buffer {
    const envelope = openssl(dir, [
      'cms',
      '-encrypt',
      ...cipherArgs,
      '-binary',
      '-in',
      content,
      '-outform',
      'DER',
      'ra.pem',
    ]);
    return signScepMessage({
      signerCertDer: clientCertDer,
      signerKey: clientKey,
      digest: 'sha1',
      content: envelope,
      attributes: scepAttributes({ messageType, transactionId: 'tx-1234', senderNonce: nonce }),
    });
  }

  it.each([
    ['DES-CBC', ['-provider', 'legacy', '-provider', 'default', '-des']],
    ['DES-EDE3-CBC', ['-des3']],
    ['AES-128-CBC', ['-aes128']],
    ['AES-192-CBC', ['-aes192']],
    ['AES-256-CBC', ['-aes256']],
  ])('parses a PKCSReq encrypted with %s by openssl', async (cipher, args) => {
    const nonce = randomBytes(16);
    const msg = await parsePkiMessage(pkcsReq(args, 19, 'csr.der', nonce), ra);
    expect(msg.messageType).toBe('PKCSReq');
    expect(msg.contentCipher).toBe(cipher);
    expect(msg.transactionId).toBe('tx-1234');
    expect(msg.senderNonce.equals(nonce)).toBe(true);
    expect(msg.digestAlgorithm).toBe('sha1');
    expect(Buffer.from(msg.signerCertificate).equals(clientCertDer)).toBe(true);
    expect(msg.messageData.equals(readFileSync(join(dir, 'csr.der')))).toBe(true);
    expect(msg.csr?.challengePassword).toBe('s3cret-PASS');
    expect(msg.csr?.commonName).toBe('dev1');
  });

  it('reads RenewalReq and GetCertInitial (IssuerAndSubject)', async () => {
    expect((await parsePkiMessage(pkcsReq(['-aes128'], 17), ra)).messageType).toBe('RenewalReq');
    const name = (cn: string) =>
      new asn1js.Sequence({
        value: [
          new asn1js.Set({
            value: [
              new asn1js.Sequence({
                value: [new asn1js.ObjectIdentifier({ value: '2.5.4.3' }), new asn1js.Utf8String({ value: cn })],
              }),
            ],
          }),
        ],
      });
    writeFileSync(
      join(dir, 'ias.der'),
      Buffer.from(new asn1js.Sequence({ value: [name('CA'), name('dev1')] }).toBER()),
    );
    const poll = await parsePkiMessage(pkcsReq(['-aes128'], 20, 'ias.der'), ra);
    expect(poll.messageType).toBe('GetCertInitial');
    expect(Buffer.from(poll.subjectDer ?? []).equals(Buffer.from(name('dev1').toBER()))).toBe(true);
    writeFileSync(
      join(dir, 'isn.der'),
      Buffer.from(new asn1js.Sequence({ value: [name('CA'), new asn1js.Integer({ value: 0x1234 })] }).toBER()),
    );
    const get = await parsePkiMessage(pkcsReq(['-aes128'], 21, 'isn.der'), ra);
    expect(get.serialHex).toBe('1234');
  });

  async function failInfoOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(ScepError);
      return (e as ScepError).failInfo;
    }
    throw new Error('expected a ScepError');
  }

  it('rejects bad signatures, wrong RA, missing attributes and unknown algorithms with typed failInfo', async () => {
    const good = pkcsReq(['-aes128']);
    // Flip a byte of the signature (the last bytes of the message).
    const badSig = Buffer.from(good);
    badSig[badSig.length - 5] ^= 0xff;
    expect(await failInfoOf(parsePkiMessage(badSig, ra))).toBe('badMessageCheck');
    // Encrypted to another certificate.
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'o.key',
      '-out',
      'o.pem',
      '-subj',
      '/CN=other',
      '-days',
      '1',
    ]);
    const other: ScepRa = {
      certificate: pemToDer(readFileSync(join(dir, 'o.pem'), 'utf8')),
      privateKey: createPrivateKey(readFileSync(join(dir, 'o.key'))),
    };
    expect(await failInfoOf(parsePkiMessage(good, other))).toBe('badMessageCheck');
    // openssl cms -sign: a valid SignedData without SCEP attributes.
    writeFileSync(
      join(dir, 'env.der'),
      openssl(dir, ['cms', '-encrypt', '-aes128', '-binary', '-in', 'csr.der', '-outform', 'DER', 'ra.pem']),
    );
    const plain = openssl(dir, [
      'cms',
      '-sign',
      '-binary',
      '-nodetach',
      '-in',
      'env.der',
      '-signer',
      'c.pem',
      '-inkey',
      'c.key',
      '-outform',
      'DER',
      '-md',
      'sha256',
    ]);
    expect(await failInfoOf(parsePkiMessage(plain, ra))).toBe('badRequest');
    expect(await failInfoOf(parsePkiMessage(Buffer.from('not der'), ra))).toBe('badRequest');
    expect(await failInfoOf(parsePkiMessage(new Uint8Array(0), ra))).toBe('badRequest');
  });

  it.each(['AES-256-CBC', 'DES-EDE3-CBC'] as const)(
    'builds a success CertRep (%s) that openssl verifies and decrypts to the issued chain',
    (cipher) => {
      const nonce = randomBytes(16);
      const raPem = readFileSync(join(dir, 'ra.pem'));
      const rep = buildCertRep({
        ra,
        recipientCert: clientCertDer,
        transactionId: 'tx-1234',
        recipientNonce: nonce,
        status: 'success',
        issued: { certDer: clientCertDer, chainDers: [ra.certificate] },
        contentCipher: cipher,
      });
      writeFileSync(join(dir, 'rep.der'), rep);
      openssl(dir, [
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        'rep.der',
        '-CAfile',
        'ra.pem',
        '-purpose',
        'any',
        '-out',
        'inner.der',
      ]);
      openssl(dir, [
        'cms',
        '-decrypt',
        '-inform',
        'DER',
        '-in',
        'inner.der',
        '-recip',
        'c.pem',
        '-inkey',
        'c.key',
        '-out',
        'certs.p7b',
      ]);
      const printed = openssl(dir, ['pkcs7', '-inform', 'DER', '-in', 'certs.p7b', '-print_certs']).toString();
      const subjects = [...printed.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);
      expect(subjects).toEqual(['CN = dev1', 'CN = certctl RA']);
      expect(raPem.length).toBeGreaterThan(0);

      // Signed attributes as scepclient reads them.
      const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(new Uint8Array(rep)).content });
      const attrs = sd.signerInfos[0].signedAttrs?.attributes ?? [];
      const str = (oid: string) =>
        (attrs.find((a) => a.type === oid)?.values[0] as asn1js.PrintableString | undefined)?.valueBlock.value;
      const oct = (oid: string) =>
        Buffer.from((attrs.find((a) => a.type === oid)?.values[0] as asn1js.OctetString).getValue());
      expect(str('2.16.840.1.113733.1.9.2')).toBe('3');
      expect(str('2.16.840.1.113733.1.9.3')).toBe('0');
      expect(str('2.16.840.1.113733.1.9.7')).toBe('tx-1234');
      expect(oct('2.16.840.1.113733.1.9.6').equals(nonce)).toBe(true);
      expect(oct('2.16.840.1.113733.1.9.5')).toHaveLength(16);
      expect(attrs.some((a) => a.type === '2.16.840.1.113733.1.9.4')).toBe(false);
    },
  );

  it('builds failure and pending CertReps that openssl verifies', () => {
    for (const [status, code] of [
      ['failure', '2'],
      ['pending', '3'],
    ] as const) {
      const rep = buildCertRep({
        ra,
        recipientCert: clientCertDer,
        transactionId: 'tx-9',
        recipientNonce: randomBytes(16),
        status,
        failInfo: status === 'failure' ? 'badRequest' : undefined,
      });
      writeFileSync(join(dir, 'f.der'), rep);
      openssl(dir, [
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        'f.der',
        '-CAfile',
        'ra.pem',
        '-purpose',
        'any',
        '-out',
        'f.out',
      ]);
      const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(new Uint8Array(rep)).content });
      const attrs = sd.signerInfos[0].signedAttrs?.attributes ?? [];
      const str = (oid: string) =>
        (attrs.find((a) => a.type === oid)?.values[0] as asn1js.PrintableString | undefined)?.valueBlock.value;
      expect(str('2.16.840.1.113733.1.9.3')).toBe(code);
      expect(str('2.16.840.1.113733.1.9.4')).toBe(status === 'failure' ? '2' : undefined);
    }
    expect(() =>
      buildCertRep({
        ra,
        recipientCert: clientCertDer,
        transactionId: 't',
        recipientNonce: randomBytes(16),
        status: 'failure',
      }),
    ).toThrow(ScepError);
  });

  it('fuzz: 2,000 mutated PKIMessages raise ScepError only', async () => {
    const seeds = [pkcsReq(['-provider', 'legacy', '-provider', 'default', '-des']), pkcsReq(['-aes256'])];
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let parsedOk = 0;
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(seeds[i % 2]);
      const kind = rnd(4);
      let input: Buffer = m;
      if (kind === 0) for (let j = 0, n = 1 + rnd(8); j < n; j++) m[rnd(m.length)] = rnd(256);
      else if (kind === 1) input = m.subarray(0, rnd(m.length));
      else if (kind === 2) {
        const at = rnd(m.length);
        input = Buffer.concat([m.subarray(0, at), randomBytes(1 + rnd(16)), m.subarray(at)]);
      } else m[rnd(Math.min(m.length, 64))] ^= 1 << rnd(8); // header/length bits
      try {
        await parsePkiMessage(input, ra);
        parsedOk++;
      } catch (e) {
        if (!(e instanceof ScepError)) throw new Error(`iteration ${i}: ${String(e)}`, { cause: e });
      }
    }
    expect(parsedOk).toBeLessThan(2000);
  }, 120_000);
});
