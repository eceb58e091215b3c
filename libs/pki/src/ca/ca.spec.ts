// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ErrorCode } from '@certctl/domain';
import { randomSerialHex } from '../crypto-provider';
import { parseCsr } from '../csr/parse-csr';
import { issueLeaf } from '../issue/issue-leaf';
import { generateKeyPair, type CryptoKeyPair } from '../keys/keys';
import { derToPem } from '../keys/pem';
import { EC_P256, OpensslDir } from '../keys/testing';
import type { CaSigner } from './ca-signer';
import { createIntermediateCa, createRootCa } from './create-ca';
import { validatePath } from './validate-path';

const validation = (message: RegExp) =>
  expect.objectContaining({ name: 'DomainError', code: ErrorCode.Validation, message: expect.stringMatching(message) });

const PUBLIC = { publicUrl: 'https://pki.example.com', issuerId: 'iss-test' };

/** A certificate signed with a CA's key outside issueLeaf's checks (to test what validators refuse). */
async function forge(
  ca: CaSigner,
  opts: { cn?: string; dns?: string[]; isCa?: boolean; extra?: x509.Extension[]; notAfter?: Date },
): Promise<{ pem: string; signer?: { cert: x509.X509Certificate; keys: CryptoKeyPair } }> {
  const keys = await generateKeyPair('ECDSA-P256');
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(opts.isCa ?? false, undefined, true),
    new x509.KeyUsagesExtension(
      opts.isCa ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    new x509.AuthorityKeyIdentifierExtension(Buffer.from(ca.subjectKeyIdentifier).toString('hex')),
    ...(opts.extra ?? []),
  ];
  if (opts.dns)
    extensions.push(
      new x509.SubjectAlternativeNameExtension(opts.dns.map((value) => ({ type: 'dns' as const, value }))),
    );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: opts.cn ? `CN=${opts.cn}` : '',
    issuer: ca.certificate.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ca.signatureAlgorithm.webcrypto,
    extensions,
  });
  return { pem: derToPem(new Uint8Array(cert.rawData), 'CERTIFICATE'), signer: { cert, keys } };
}

describe('a three-level hierarchy: root -> intermediate -> issuing -> leaf', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());
  let root: CaSigner;
  let intermediate: CaSigner;
  let issuing: CaSigner;

  beforeAll(async () => {
    root = (
      await createRootCa({
        subject: 'CN=Example Root CA, O=Example',
        keyAlgorithm: 'ECDSA-P384',
        pathLenConstraint: 2,
        nameConstraints: { permittedDns: ['example.com', 'example.org'], excludedDns: ['secret.svc.example.com'] },
      })
    ).signer;
    intermediate = (
      await createIntermediateCa(root, {
        subject: 'CN=Example Intermediate CA, O=Example',
        keyAlgorithm: 'RSA-2048',
        nameConstraints: { permittedDns: ['svc.example.com'] },
        parentRevocation: { publicUrl: 'https://pki.example.com', parentIssuerId: 'root' },
      })
    ).signer;
    issuing = (await createIntermediateCa(intermediate, { subject: 'CN=Example Issuing CA, O=Example' })).signer;
    ssl.write('root.pem', root.certPem);
    ssl.write('chain.pem', issuing.chainPem());
  }, 60_000);

  it('sets decreasing path lengths, name constraints and the chain', () => {
    expect(root.pathLenConstraint).toBe(2);
    expect(intermediate.pathLenConstraint).toBe(1);
    expect(issuing.pathLenConstraint).toBe(0);
    expect(issuing.chain.map((c) => c.subject)).toEqual([intermediate.subject, root.subject]);
    expect(issuing.chainPem().match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(issuing.rootPem()).toBe(root.certPem);
    expect(issuing.notAfter.getTime()).toBeLessThanOrEqual(intermediate.notAfter.getTime());
    const text = ssl.ok(['x509', '-in', ssl.write('int.pem', intermediate.certPem), '-noout', '-text']);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:svc\.example\.com/);
    expect(text).toContain('URI:https://pki.example.com/.well-known/pki/crl/root');
    const rootText = ssl.ok(['x509', '-in', 'root.pem', '-noout', '-text']);
    expect(rootText).toMatch(/Excluded:\s+DNS:secret\.svc\.example\.com/);
    expect(rootText).toMatch(/ecdsa-with-SHA384/);
  });

  it('issues a leaf that openssl verify and validatePath accept', async () => {
    const csr = await parseCsr(ssl.csr('leaf', EC_P256, '/CN=web.svc.example.com'));
    const leaf = await issueLeaf(issuing, { csr, ...PUBLIC });
    ssl.write('leaf.pem', leaf.certPem);
    expect(
      ssl
        .ok([
          'verify',
          '-x509_strict',
          '-purpose',
          'sslserver',
          '-CAfile',
          'root.pem',
          '-untrusted',
          'chain.pem',
          'leaf.pem',
        ])
        .trim(),
    ).toBe('leaf.pem: OK');
    const r = await validatePath(leaf.certPem, issuing.chainPem(), root.certPem);
    expect(r).toEqual({ valid: true, path: expect.any(Array) });
    if (r.valid)
      expect(r.path.map((c) => c.subject)).toEqual([
        'CN=web.svc.example.com',
        issuing.subject,
        intermediate.subject,
        root.subject,
      ]);
    // The chain may also come as separate PEMs in any order.
    const [iss, int] = issuing.chainPem().split(/(?<=-----END CERTIFICATE-----\n)/);
    await expect(validatePath(leaf.certPem, [int, iss], root.certPem)).resolves.toMatchObject({ valid: true });
  });

  it('refuses to sign a CA below a pathLenConstraint 0 CA, or one that does not decrease', async () => {
    await expect(createIntermediateCa(issuing, { subject: 'CN=Too Deep' })).rejects.toEqual(
      validation(
        /^path_len_constraint: parent CA "CN=Example Issuing CA, O=Example" has pathLenConstraint 0 and cannot sign a CA$/,
      ),
    );
    await expect(createIntermediateCa(root, { subject: 'CN=Same', pathLenConstraint: 2 })).rejects.toEqual(
      validation(/^path_len_constraint: must be below the parent's 2$/),
    );
  });

  it('a CA forged below the pathLen 0 issuing CA fails openssl and validatePath', async () => {
    const rogue = await forge(issuing, { cn: 'Rogue CA', isCa: true });
    const rogueCert = rogue.signer!.cert;
    const leafCert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: 'CN=x.svc.example.com',
      issuer: rogueCert.subjectName,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey: rogue.signer!.keys.publicKey,
      signingKey: rogue.signer!.keys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'x.svc.example.com' }])],
    });
    const leafPem = derToPem(new Uint8Array(leafCert.rawData), 'CERTIFICATE');
    ssl.write('deep-leaf.pem', leafPem);
    ssl.write('deep-chain.pem', rogue.pem + issuing.chainPem());
    const out = ssl.run(['verify', '-CAfile', 'root.pem', '-untrusted', 'deep-chain.pem', 'deep-leaf.pem']);
    expect(out.status).not.toBe(0);
    expect(out.stdout + out.stderr).toMatch(/path length constraint exceeded/);
    await expect(validatePath(leafPem, rogue.pem + issuing.chainPem(), root.certPem)).resolves.toEqual({
      valid: false,
      reason: `"${issuing.subject}" has pathLenConstraint 0 but 1 CA certificates follow it`,
    });
  });

  it('issueLeaf refuses names outside the CAs name constraints (intersection of every level)', async () => {
    const csr = await parseCsr(ssl.csr('nc', EC_P256, '/CN=ok.svc.example.com'));
    await expect(issueLeaf(issuing, { csr, sans: { dns: ['www.example.org'] }, ...PUBLIC })).rejects.toEqual(
      validation(
        /^sans: dns name www\.example\.org is not permitted by the name constraints of CA "CN=Example Intermediate CA/,
      ),
    );
    await expect(issueLeaf(issuing, { csr, sans: { dns: ['evil.com'] }, ...PUBLIC })).rejects.toEqual(
      validation(/evil\.com is not permitted/),
    );
    await expect(issueLeaf(issuing, { csr, sans: { dns: ['db.secret.svc.example.com'] }, ...PUBLIC })).rejects.toEqual(
      validation(/db\.secret\.svc\.example\.com is excluded by the name constraints of CA "CN=Example Root CA/),
    );
  });

  it.each([
    [
      'a name only the root permits (nested subtrees intersect)',
      { dns: ['www.example.org'] },
      /permitted subtree violation/,
      /dns name www\.example\.org is not permitted/,
    ],
    [
      'a name outside every subtree',
      { dns: ['evil.com'] },
      /permitted subtree violation/,
      /dns name evil\.com is not permitted/,
    ],
    [
      'an excluded name',
      { dns: ['db.secret.svc.example.com'] },
      /excluded subtree violation/,
      /dns name db\.secret\.svc\.example\.com is excluded/,
    ],
    [
      'a host-name CN without SANs',
      { cn: 'www.evil.com' },
      /permitted subtree violation/,
      /dns name www\.evil\.com is not permitted/,
    ],
  ])('a forged leaf with %s fails openssl and validatePath', async (_label, names, opensslError, reason) => {
    const forged = await forge(issuing, names);
    ssl.write('forged.pem', forged.pem);
    const out = ssl.run(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'forged.pem']);
    expect(out.status).not.toBe(0);
    expect(out.stdout + out.stderr).toMatch(opensslError);
    const r = await validatePath(forged.pem, issuing.chainPem(), root.certPem);
    expect(r.valid).toBe(false);
    if (!r.valid) expect(r.reason).toMatch(reason);
  });

  it('validatePath refuses a wrong anchor, a missing link, a bad signature, expiry and unknown critical extensions', async () => {
    const csr = await parseCsr(ssl.csr('neg', EC_P256, '/CN=neg.svc.example.com'));
    const leaf = await issueLeaf(issuing, { csr, ...PUBLIC, ttlSeconds: 3600 });
    const other = await createRootCa({ subject: 'CN=Other Root' });
    await expect(validatePath(leaf.certPem, issuing.chainPem(), other.certPem)).resolves.toMatchObject({
      valid: false,
      reason: expect.stringMatching(
        /^no issuer of "CN=Example Intermediate CA, O=Example" among the chain and the trust anchor/,
      ),
    });
    await expect(validatePath(leaf.certPem, issuing.certPem, root.certPem)).resolves.toMatchObject({
      valid: false,
      reason: expect.stringMatching(/^no issuer of "CN=Example Issuing CA/),
    });
    const tampered = Uint8Array.from(leaf.certDer);
    tampered[tampered.length - 2] ^= 0x55;
    await expect(
      validatePath(derToPem(tampered, 'CERTIFICATE'), issuing.chainPem(), root.certPem),
    ).resolves.toMatchObject({
      valid: false,
      reason: expect.stringMatching(
        /^the signature of "CN=neg\.svc\.example\.com" does not verify with its issuer "CN=Example Issuing CA/,
      ),
    });
    await expect(
      validatePath(leaf.certPem, issuing.chainPem(), root.certPem, new Date(Date.now() + 7200_000)),
    ).resolves.toMatchObject({
      valid: false,
      reason: expect.stringMatching(/^"CN=neg\.svc\.example\.com" expired on /),
    });
    const odd = await forge(issuing, {
      dns: ['odd.svc.example.com'],
      extra: [new x509.Extension('1.2.3.4.5', true, new Uint8Array([5, 0]))],
    });
    await expect(validatePath(odd.pem, issuing.chainPem(), root.certPem)).resolves.toMatchObject({
      valid: false,
      reason: '"" has an unrecognized critical extension 1.2.3.4.5',
    });
    await expect(validatePath('nope', '', root.certPem)).rejects.toEqual(
      validation(/^leaf: no PEM block labelled CERTIFICATE$/),
    );
  });

  it('refuses child name constraints outside the parent and bad parameters, naming the field', async () => {
    await expect(
      createIntermediateCa(intermediate, { subject: 'CN=Wide', nameConstraints: { permittedDns: ['example.org'] } }),
    ).rejects.toEqual(
      validation(
        /^name_constraints\.permitted_dns\[0\]: "example\.org" lies outside the permitted subtrees of the CAs above$/,
      ),
    );
    await expect(
      createRootCa({ subject: 'CN=x', nameConstraints: { permittedDns: ['*.example.com'] } }),
    ).rejects.toEqual(validation(/^name_constraints\.permitted_dns\[0\]: "\*\.example\.com" is not a DNS name/));
    await expect(createRootCa({ subject: 'O=No CN' })).rejects.toEqual(
      validation(/^subject: a CA subject needs a CN$/),
    );
    await expect(createRootCa({ subject: 'CN=x', validityDays: 0 })).rejects.toEqual(validation(/^validity_days: /));
    await expect(createRootCa({ subject: 'CN=x', pathLenConstraint: -1 })).rejects.toEqual(
      validation(/^path_len_constraint: /),
    );
  });
});

describe('root CAs of every key algorithm', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());
  it.each(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'Ed25519'] as const)(
    '%s root signs a leaf openssl verifies',
    async (alg) => {
      const { signer, certPem, keyPem } = await createRootCa({
        subject: `CN=${alg} Root`,
        keyAlgorithm: alg,
        validityDays: 30,
      });
      expect(keyPem).toMatch(/BEGIN PRIVATE KEY/);
      const csr = await parseCsr(ssl.csr(alg, EC_P256, `/CN=${alg.toLowerCase()}.example.com`));
      const leaf = await issueLeaf(signer, { csr, ...PUBLIC });
      ssl.write(`${alg}-root.pem`, certPem);
      ssl.write(`${alg}-leaf.pem`, leaf.certPem);
      expect(ssl.ok(['verify', '-x509_strict', '-CAfile', `${alg}-root.pem`, `${alg}-leaf.pem`]).trim()).toBe(
        `${alg}-leaf.pem: OK`,
      );
      await expect(validatePath(leaf.certPem, [], certPem)).resolves.toMatchObject({ valid: true });
    },
    60_000,
  );
});
