import { ErrorCode } from '@certctl/domain';
import { EC_P256, EC_P384, OpensslDir, RSA_2048 } from '../keys/testing';
import { pemToDers } from '../keys/pem';
import { parseCsr } from './parse-csr';

const validation = (message: RegExp) =>
  expect.objectContaining({ name: 'DomainError', code: ErrorCode.Validation, message: expect.stringMatching(message) });

describe('parseCsr with CSRs made by openssl req', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());
  const fullSans =
    'subjectAltName=DNS:www.example.com,DNS:API.Example.com,IP:10.0.0.1,IP:2001:db8::1,email:ops@Example.com,URI:spiffe://example.com/ns/web';

  it.each([
    ['EC P-256', EC_P256, { algorithm: 'ECDSA', size: 256, curve: 'P-256' }, 'ecdsa-with-SHA256'],
    ['EC P-384', EC_P384, { algorithm: 'ECDSA', size: 384, curve: 'P-384' }, 'ecdsa-with-SHA256'],
    ['RSA 2048', RSA_2048, { algorithm: 'RSA', size: 2048 }, 'sha256WithRSAEncryption'],
    ['Ed25519', ['-newkey', 'ed25519'], { algorithm: 'Ed25519', size: 256 }, 'Ed25519'],
  ])('%s: verifies and extracts CN, SANs and the key', async (label, newkey, key, sigAlg) => {
    const pem = ssl.csr(label.replace(/\W/g, ''), newkey, '/CN=www.example.com/O=Example', [fullSans]);
    const csr = await parseCsr(pem);
    expect(csr.commonName).toBe('www.example.com');
    expect(csr.subject).toBe('CN=www.example.com, O=Example');
    expect(csr.publicKey).toEqual(key);
    expect(csr.signatureAlgorithm).toBe(sigAlg);
    expect(csr.sans).toEqual({
      dns: ['www.example.com', 'api.example.com'],
      ip: ['10.0.0.1', '2001:db8::1'],
      email: ['ops@example.com'],
      uri: ['spiffe://example.com/ns/web'],
    });
    expect(csr.extensions.map((e) => e.oid)).toEqual(['2.5.29.17']);
    expect(csr.challengePassword).toBeUndefined();
    expect(csr.mustStapleRequested).toBe(false);
  });

  it('reads DER and bare base64 (EST) input as well as PEM', async () => {
    const pem = ssl.csr('forms', EC_P256, '/CN=forms.example.com');
    const der = pemToDers(pem, ['CERTIFICATE REQUEST'], 'csr')[0];
    const b64 = Buffer.from(der)
      .toString('base64')
      .replace(/(.{64})/g, '$1\r\n');
    for (const input of [pem, der, b64])
      await expect(parseCsr(input)).resolves.toMatchObject({ commonName: 'forms.example.com' });
  });

  it('extracts requested EKUs, must-staple and the challengePassword attribute (SCEP)', async () => {
    ssl.write(
      'scep.cnf',
      [
        '[req]',
        'distinguished_name = dn',
        'attributes = attrs',
        'prompt = no',
        '[dn]',
        'CN = device-17',
        '[attrs]',
        'challengePassword = s3cret-PASS',
      ].join('\n'),
    );
    const pem = ssl.csr(
      'scep',
      RSA_2048,
      '',
      ['extendedKeyUsage=clientAuth,1.3.6.1.4.1.99.1', 'tlsfeature=status_request'],
      ['-config', 'scep.cnf'],
    );
    const csr = await parseCsr(pem);
    expect(csr.challengePassword).toBe('s3cret-PASS');
    expect(csr.requestedEkus).toEqual(['clientAuth', '1.3.6.1.4.1.99.1']);
    expect(csr.mustStapleRequested).toBe(true);
    expect(csr.commonName).toBe('device-17');
  });

  it('verifies RSASSA-PSS signatures', async () => {
    const pem = ssl.csr(
      'pss',
      RSA_2048,
      '/CN=pss.example.com',
      [],
      ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
    );
    await expect(parseCsr(pem)).resolves.toMatchObject({ signatureAlgorithm: 'RSASSA-PSS-SHA256' });
  });

  it('refuses SHA-1 signatures unless allowed (old SCEP clients)', async () => {
    const pem = ssl.csr('sha1', EC_P256, '/CN=old.example.com', [], ['-sha1']);
    await expect(parseCsr(pem)).rejects.toEqual(
      validation(/^csr\.signature: ecdsa-with-SHA1 \(SHA-1\) is not accepted$/),
    );
    await expect(parseCsr(pem, { allowSha1: true })).resolves.toMatchObject({ signatureAlgorithm: 'ecdsa-with-SHA1' });
  });

  it('rejects a CSR whose signature or signed content was tampered with', async () => {
    const der = pemToDers(ssl.csr('tamper', EC_P256, '/CN=tamper.example.com'), ['CERTIFICATE REQUEST'], 'csr')[0];
    await expect(parseCsr(der)).resolves.toBeDefined();
    // Flip the last byte (inside the ECDSA signature's s value).
    const badSig = Uint8Array.from(der);
    badSig[badSig.length - 1] ^= 0x01;
    await expect(parseCsr(badSig)).rejects.toEqual(validation(/^csr\.signature: the signature does not verify/));
    // Change the CN ("tamper" -> "tamped"): the signed content no longer matches.
    const badTbs = Buffer.from(der);
    const at = badTbs.indexOf('tamper.example.com');
    badTbs[at + 5] = 'd'.charCodeAt(0);
    await expect(parseCsr(new Uint8Array(badTbs))).rejects.toEqual(
      validation(/^csr\.signature: the signature does not verify/),
    );
  });

  it('rejects malformed and unsupported input with named validation errors', async () => {
    await expect(parseCsr('')).rejects.toEqual(validation(/^csr: /));
    await expect(parseCsr('hello, world!')).rejects.toEqual(validation(/^csr: neither PEM nor base64/));
    await expect(parseCsr('aGVsbG8gd29ybGQ=')).rejects.toEqual(validation(/^csr: not a DER PKCS#10/));
    await expect(parseCsr(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).rejects.toEqual(
      validation(/^csr: not a DER PKCS#10 certification request$/),
    );
    await expect(parseCsr(new Uint8Array(70_000))).rejects.toEqual(validation(/^csr: larger than 65536 bytes$/));
    const two = ssl.csr('two-cn', EC_P256, '/CN=a.example.com/CN=b.example.com');
    await expect(parseCsr(two)).rejects.toEqual(validation(/^csr\.subject: more than one CN$/));
    ssl.ok(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', 'k1.key']);
    const k1 = ssl.ok(['req', '-new', '-key', 'k1.key', '-subj', '/CN=k1.example.com']);
    await expect(parseCsr(k1)).rejects.toEqual(validation(/^csr\.public_key: EC curve secp256k1 is not supported/));
    const badSan = ssl.csr('bad-san', EC_P256, '/CN=x.example.com', ['subjectAltName=DNS:bad_name.example.com']);
    await expect(parseCsr(badSan)).rejects.toEqual(
      validation(/^csr\.san\.dns: "bad_name\.example\.com" is not a valid DNS name$/),
    );
  });

  it('reports SAN forms it does not issue instead of dropping them silently', async () => {
    const pem = ssl.csr('upn', EC_P256, '/CN=user', [
      'subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example.com,DNS:u.example.com',
    ]);
    const csr = await parseCsr(pem);
    expect(csr.unsupportedSans).toEqual(['otherName 1.3.6.1.4.1.311.20.2.3']);
    expect(csr.sans.dns).toEqual(['u.example.com']);
  });
});
