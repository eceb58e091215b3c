import { ErrorCode } from '@certctl/domain';
import { parseCsr } from '../csr/parse-csr';
import { issueLeaf } from '../issue/issue-leaf';
import { EC_P256, OpensslDir } from '../keys/testing';
import { loadCaSigner } from './load-ca';
import { validatePath } from './validate-path';

const validation = (message: RegExp) =>
  expect.objectContaining({ name: 'DomainError', code: ErrorCode.Validation, message: expect.stringMatching(message) });

/** An "enterprise" root made by openssl (as ADCS would be) and sub-CAs it signs for certctl. */
describe('loadCaSigner (sub-CA mode)', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());
  const read = (f: string) => ssl.read(f).toString();

  beforeAll(() => {
    ssl.write(
      'ext.cnf',
      [
        '[sub]',
        'basicConstraints = critical, CA:TRUE, pathlen:0',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        '[nosign]',
        'basicConstraints = critical, CA:TRUE',
        'keyUsage = critical, cRLSign',
        '[leaf]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
      ].join('\n'),
    );
    ssl.ok([
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '3650',
      '-subj', '/DC=com/DC=example/CN=Example Enterprise Root', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]); // prettier-ignore
    const signSub = (name: string, ext: string) => {
      ssl.csr(name, EC_P256, `/CN=certctl ${name}`);
      ssl.ok([
        'x509', '-req', '-in', `${name}.csr`, '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', '0x' + Buffer.from(name).toString('hex'),
        '-days', '365', '-extfile', 'ext.cnf', '-extensions', ext, '-out', `${name}.pem`,
      ]); // prettier-ignore
    };
    signSub('sub', 'sub');
    signSub('nosign', 'nosign');
    signSub('notca', 'leaf');
    ssl.ok(['ec', '-in', 'sub.key', '-out', 'sub-sec1.key']);
    ssl.ok([
      'pkcs8',
      '-topk8',
      '-v2',
      'aes-256-cbc',
      '-in',
      'sub.key',
      '-passout',
      'pass:k3y pass',
      '-out',
      'sub-enc.key',
    ]);
  });

  it('loads an externally signed sub-CA (SEC1 key, chain in the same file) and issues leaves the enterprise root validates', async () => {
    expect(read('sub-sec1.key')).toMatch(/BEGIN EC PRIVATE KEY/);
    const ca = await loadCaSigner({ certPem: read('sub.pem') + read('root.pem'), keyPem: read('sub-sec1.key') });
    expect(ca.subject).toBe('CN=certctl sub');
    expect(ca.pathLenConstraint).toBe(0);
    expect(ca.chain.map((c) => c.subject)).toEqual(['DC=com, DC=example, CN=Example Enterprise Root']);
    expect(ca.privateKey.extractable).toBe(false);
    expect(ca.chainPem()).toBe(read('sub.pem').replace(/\r/g, ''));

    const csr = await parseCsr(ssl.csr('leaf', EC_P256, '/CN=app.corp.example.com'));
    const leaf = await issueLeaf(ca, { csr, publicUrl: 'https://certctl.corp.example.com', issuerId: 'adcs-sub' });
    ssl.write('leaf.pem', leaf.certPem);
    expect(ssl.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'sub.pem', 'leaf.pem']).trim()).toBe('leaf.pem: OK');
    await expect(validatePath(leaf.certPem, read('sub.pem'), read('root.pem'))).resolves.toMatchObject({ valid: true });
  });

  it('loads an encrypted PKCS#8 key with its passphrase and the chain from a separate PEM', async () => {
    const ca = await loadCaSigner({
      certPem: read('sub.pem'),
      chainPem: read('root.pem'),
      keyPem: read('sub-enc.key'),
      keyPassphrase: 'k3y pass',
    });
    expect(ca.chain).toHaveLength(1);
    await expect(loadCaSigner({ certPem: read('sub.pem'), keyPem: read('sub-enc.key') })).rejects.toEqual(
      validation(/^ca_key: the key is encrypted; a passphrase is required$/),
    );
    await expect(
      loadCaSigner({ certPem: read('sub.pem'), keyPem: read('sub-enc.key'), keyPassphrase: 'nope' }),
    ).rejects.toEqual(validation(/^ca_key: cannot decrypt the key \(wrong passphrase\)$/));
  });

  it('refuses a key of another certificate, a non-CA, a CA without keyCertSign, bad validity and a broken chain', async () => {
    await expect(loadCaSigner({ certPem: read('sub.pem'), keyPem: read('nosign.key') })).rejects.toEqual(
      validation(/^ca_key: does not match the public key of the CA certificate$/),
    );
    await expect(loadCaSigner({ certPem: read('notca.pem'), keyPem: read('notca.key') })).rejects.toEqual(
      validation(/^ca_cert: "CN=certctl notca" is not a CA certificate \(basicConstraints cA is not set\)$/),
    );
    await expect(loadCaSigner({ certPem: read('nosign.pem'), keyPem: read('nosign.key') })).rejects.toEqual(
      validation(/^ca_cert: "CN=certctl nosign" may not sign certificates \(keyUsage lacks keyCertSign\)$/),
    );
    await expect(
      loadCaSigner({ certPem: read('sub.pem'), keyPem: read('sub.key'), now: new Date(Date.now() + 400 * 86_400_000) }),
    ).rejects.toEqual(validation(/^ca_cert: expired on /));
    await expect(
      loadCaSigner({ certPem: read('sub.pem'), keyPem: read('sub.key'), now: new Date(Date.now() - 86_400_000) }),
    ).rejects.toEqual(validation(/^ca_cert: not valid before /));
    await expect(
      loadCaSigner({ certPem: read('sub.pem'), chainPem: read('nosign.pem'), keyPem: read('sub.key') }),
    ).rejects.toEqual(validation(/^ca_chain: "CN=certctl nosign" did not issue "CN=certctl sub"/));
    await expect(loadCaSigner({ certPem: 'garbage', keyPem: read('sub.key') })).rejects.toEqual(
      validation(/^ca_cert: no PEM block labelled CERTIFICATE$/),
    );
    await expect(loadCaSigner({ certPem: read('sub.pem'), keyPem: 'garbage' })).rejects.toEqual(
      validation(/^ca_key: not a readable PEM private key$/),
    );
  });
});
