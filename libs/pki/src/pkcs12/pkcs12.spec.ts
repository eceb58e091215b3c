import { ErrorCode } from '@certctl/domain';
import { createIntermediateCa, createRootCa } from '../ca/create-ca';
import { parseCsr } from '../csr/parse-csr';
import { issueLeaf, type IssuedCertificate } from '../issue/issue-leaf';
import { EC_P256, OpensslDir, RSA_2048 } from '../keys/testing';
import { toPkcs12 } from './pkcs12';

const validation = (message: RegExp) =>
  expect.objectContaining({ name: 'DomainError', code: ErrorCode.Validation, message: expect.stringMatching(message) });

describe('toPkcs12', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());
  let leaf: IssuedCertificate;
  let rootPem: string;
  let keyPem: string;

  beforeAll(async () => {
    const root = await createRootCa({ subject: 'CN=P12 Root' });
    const issuing = await createIntermediateCa(root.signer, { subject: 'CN=P12 Issuing' });
    rootPem = root.certPem;
    const csr = await parseCsr(ssl.csr('leaf', EC_P256, '/CN=p12.example.com'));
    keyPem = ssl.read('leaf.key').toString();
    leaf = await issueLeaf(issuing.signer, { csr, publicUrl: 'https://pki.example.com', issuerId: 'p12' });
  });

  it('writes AES-256-CBC + PBKDF2-HMAC-SHA256 bags and a SHA-256 MAC that OpenSSL 3 opens without -legacy', async () => {
    const p12 = await toPkcs12({
      keyPem,
      certPem: leaf.certPem,
      chainPems: [leaf.chainPem, rootPem],
      password: 'pässwörd 1',
      friendlyName: 'web',
    });
    ssl.write('out.p12', p12);
    const info = ssl.run(['pkcs12', '-info', '-noenc', '-in', 'out.p12', '-passin', 'pass:pässwörd 1']);
    expect(info.status).toBe(0);
    const all = info.stdout + info.stderr;
    expect(all).toContain('MAC: sha256, Iteration 10000');
    expect(all).toContain('PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256');
    expect(all).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256');
    expect(all).not.toMatch(/RC2|3DES|DES-EDE|pbeWithSHA1/i);
    expect(all.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(all.match(/BEGIN PRIVATE KEY/g)).toHaveLength(1);
    expect(all.match(/friendlyName: web/g)).toHaveLength(2); // on the key and its certificate
    expect(all.match(/localKeyID: [0-9A-F ]{59}/g)).toHaveLength(2);

    // The key and the leaf that come out are the ones that went in.
    ssl.ok(['pkcs12', '-in', 'out.p12', '-passin', 'pass:pässwörd 1', '-nocerts', '-noenc', '-out', 'k.pem']);
    expect(ssl.ok(['pkey', '-in', 'k.pem', '-pubout'])).toBe(ssl.ok(['pkey', '-in', 'leaf.key', '-pubout']));
    ssl.ok(['pkcs12', '-in', 'out.p12', '-passin', 'pass:pässwörd 1', '-clcerts', '-nokeys', '-out', 'c.pem']);
    const fp = ssl.ok(['x509', '-in', 'c.pem', '-noout', '-fingerprint', '-sha256']).trim().split('=')[1];
    expect(fp.replace(/:/g, '').toLowerCase()).toBe(leaf.fingerprintSha256);

    const wrong = ssl.run(['pkcs12', '-info', '-noenc', '-in', 'out.p12', '-passin', 'pass:wrong']);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/Mac verify error: invalid password/);
  });

  it('takes an RSA key, an encrypted key and a custom iteration count', async () => {
    const csr = await parseCsr(ssl.csr('rsa', RSA_2048, '/CN=rsa-p12.example.com'));
    ssl.ok(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'rsa.key', '-passout', 'pass:kp', '-out', 'rsa-enc.key']);
    const ca = await createRootCa({ subject: 'CN=P12 RSA Root' });
    const rsaLeaf = await issueLeaf(ca.signer, { csr, publicUrl: 'https://pki.example.com', issuerId: 'p12' });
    const p12 = await toPkcs12({
      keyPem: ssl.read('rsa-enc.key').toString(),
      keyPassphrase: 'kp',
      certPem: rsaLeaf.certPem,
      password: 'x',
      iterations: 2048,
    });
    ssl.write('rsa.p12', p12);
    const info = ssl.run(['pkcs12', '-info', '-noenc', '-in', 'rsa.p12', '-passin', 'pass:x']);
    expect(info.status).toBe(0);
    expect(info.stdout + info.stderr).toContain('MAC: sha256, Iteration 2048');
  });

  it('refuses a key that does not belong to the certificate and weak or bad parameters', async () => {
    ssl.ok(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key']);
    await expect(
      toPkcs12({ keyPem: ssl.read('other.key').toString(), certPem: leaf.certPem, password: 'x' }),
    ).rejects.toEqual(validation(/^key: does not match the certificate$/));
    await expect(toPkcs12({ keyPem, certPem: leaf.certPem, password: '' })).rejects.toEqual(
      validation(/^password: must be 1-1024 characters$/),
    );
    await expect(toPkcs12({ keyPem, certPem: leaf.certPem, password: 'x', iterations: 10 })).rejects.toEqual(
      validation(/^iterations: /),
    );
    await expect(toPkcs12({ keyPem, certPem: 'nope', password: 'x' })).rejects.toEqual(
      validation(/^cert: no PEM block/),
    );
  });
});
