import { X509Certificate } from 'node:crypto';
import { ErrorCode } from '@certctl/domain';
import type { CaSigner } from '../ca/ca-signer';
import { createRootCa } from '../ca/create-ca';
import { parseCsr, type ParsedCsr } from '../csr/parse-csr';
import { validateCsrAgainstProfile, type CertificateProfileRules } from '../csr/profile';
import { exportPublicKeyPem, generateKeyPair } from '../keys/keys';
import { EC_P256, OpensslDir, RSA_2048 } from '../keys/testing';
import { issueLeaf } from './issue-leaf';

const error = (code: ErrorCode, message: RegExp) =>
  expect.objectContaining({ name: 'DomainError', code, message: expect.stringMatching(message) });
const validation = (message: RegExp) => error(ErrorCode.Validation, message);

const PUBLIC = { publicUrl: 'https://pki.example.com/', issuerId: 'iss-1' };
const profile: CertificateProfileRules = {
  allowed_key_algorithms: [
    { algorithm: 'ECDSA', min_size: 256 },
    { algorithm: 'RSA', min_size: 2048 },
  ],
  max_ttl_seconds: 30 * 86_400,
  allowed_ekus: ['serverAuth', 'clientAuth'],
  san_rules: { permitted_dns_patterns: ['*.example.com'], allow_ip: true },
  must_staple: true,
};

describe('issueLeaf', () => {
  const ssl = new OpensslDir();
  afterAll(() => ssl.remove());
  let ca: CaSigner;
  let ecCsr: ParsedCsr;
  const now = new Date('2030-01-15T12:00:00.250Z');
  const attime = String(Math.floor(now.getTime() / 1000) + 3600); // openssl verify at a time inside the leaf's validity

  beforeAll(async () => {
    ca = (await createRootCa({ subject: 'CN=Leaf Test CA', now: new Date('2029-12-01T00:00:00Z'), validityDays: 365 }))
      .signer;
    ssl.write('ca.pem', ca.certPem);
    ecCsr = await parseCsr(
      ssl.csr('ec', EC_P256, '/CN=www.example.com', ['subjectAltName=DNS:api.example.com,IP:10.0.0.7']),
    );
  });

  it('puts serial, SANs, SKI/AKI, key usage, EKUs, must-staple, CDP and AIA where openssl shows them', async () => {
    const decision = validateCsrAgainstProfile(ecCsr, profile);
    const leaf = await issueLeaf(ca, { csr: ecCsr, profile, ...decision, ...PUBLIC, now });
    ssl.write('leaf.pem', leaf.certPem);
    const text = ssl.ok(['x509', '-in', 'leaf.pem', '-noout', '-text']);
    expect(text).toMatch(/Subject: CN ?= ?www\.example\.com\n/);
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: \n\s+DNS:www\.example\.com, DNS:api\.example\.com, IP Address:10\.0\.0\.7\n/,
    );
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(
      /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    expect(text).toMatch(/TLS Feature: \n\s+status_request/);
    expect(text).toMatch(
      /X509v3 CRL Distribution Points: \n+\s+Full Name:\n\s+URI:https:\/\/pki\.example\.com\/\.well-known\/pki\/crl\/iss-1\n/,
    );
    expect(text).toMatch(/OCSP - URI:https:\/\/pki\.example\.com\/\.well-known\/pki\/ocsp\/iss-1\n/);
    expect(text).toMatch(/CA Issuers - URI:https:\/\/pki\.example\.com\/\.well-known\/pki\/ca\/iss-1\.crt\n/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    const caSki = Buffer.from(ca.subjectKeyIdentifier).toString('hex').toUpperCase().match(/../g)!.join(':');
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier: \\n\\s+(keyid:)?${caSki}`));
    expect(text).toMatch(/X509v3 Subject Key Identifier: \n\s+[0-9A-F:]{59}\n/);

    expect(leaf.serialHex).toMatch(/^[0-7][0-9a-f]{39}$/);
    expect(ssl.ok(['x509', '-in', 'leaf.pem', '-noout', '-serial']).trim()).toBe(
      `serial=${leaf.serialHex.toUpperCase()}`,
    );
    const fp = ssl.ok(['x509', '-in', 'leaf.pem', '-noout', '-fingerprint', '-sha256']).trim().split('=')[1];
    expect(fp.replace(/:/g, '').toLowerCase()).toBe(leaf.fingerprintSha256);
    expect(leaf.chainPem).toBe(''); // issued by a root: nothing to send after the leaf

    // Validity: backdated one minute (whole seconds), capped by the profile's 30 days.
    expect(leaf.notBefore.toISOString()).toBe('2030-01-15T11:59:00.000Z');
    expect(leaf.notAfter.toISOString()).toBe('2030-02-14T12:00:00.000Z');
    const node = new X509Certificate(leaf.certPem);
    expect(new Date(node.validFrom).getTime()).toBe(leaf.notBefore.getTime());
    expect(new Date(node.validTo).getTime()).toBe(leaf.notAfter.getTime());
    expect(node.checkHost('api.example.com')).toBe('api.example.com');
    expect(node.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(node.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(
      ssl
        .ok(['verify', '-x509_strict', '-purpose', 'sslserver', '-attime', attime, '-CAfile', 'ca.pem', 'leaf.pem'])
        .trim(),
    ).toBe('leaf.pem: OK');
  });

  it('gives RSA keys keyEncipherment and defaults the EKU to serverAuth without must-staple', async () => {
    const csr = await parseCsr(ssl.csr('rsa', RSA_2048, '/CN=rsa.example.com'));
    const leaf = await issueLeaf(ca, { csr, ...PUBLIC, now });
    const text = ssl.ok(['x509', '-in', ssl.write('rsa.pem', leaf.certPem), '-noout', '-text']);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
    expect(text).not.toMatch(/TLS Feature/);
    expect(text).toMatch(/DNS:rsa\.example\.com/); // the host-name CN is copied into the SANs
    expect(leaf.notAfter.getTime() - now.getTime()).toBeLessThanOrEqual(90 * 86_400_000);
  });

  it('never outlives the CA, whatever the TTL', async () => {
    const leaf = await issueLeaf(ca, { csr: ecCsr, ...PUBLIC, ttlSeconds: 5 * 365 * 86_400, now });
    expect(leaf.notAfter.getTime()).toBe(Math.floor(ca.notAfter.getTime() / 1000) * 1000);
    const capped = await issueLeaf(ca, { csr: ecCsr, profile, ...PUBLIC, ttlSeconds: 365 * 86_400, now });
    expect(capped.notAfter.getTime() - now.getTime()).toBeLessThan(30 * 86_400_000);
  });

  it('issues for a bare public key with an empty subject and a critical SAN', async () => {
    const keys = await generateKeyPair('ECDSA-P384');
    const leaf = await issueLeaf(ca, {
      publicKey: exportPublicKeyPem(keys.publicKey),
      sans: { uri: ['spiffe://example.com/ns/prod/sa/web'] },
      ekus: ['clientAuth'],
      ...PUBLIC,
      now,
    });
    const text = ssl.ok(['x509', '-in', ssl.write('uri.pem', leaf.certPem), '-noout', '-text']);
    expect(text).toMatch(/Subject: *\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/example\.com\/ns\/prod\/sa\/web/);
    expect(text).toMatch(/TLS Web Client Authentication\n/);
    expect(ssl.ok(['verify', '-x509_strict', '-attime', attime, '-CAfile', 'ca.pem', 'uri.pem']).trim()).toBe(
      'uri.pem: OK',
    );
    const dn = await issueLeaf(ca, {
      publicKey: exportPublicKeyPem(keys.publicKey),
      subject: 'CN=svc.example.com, O=Example, C=DE',
      ...PUBLIC,
      now,
    });
    expect(new X509Certificate(dn.certPem).subject).toBe('CN=svc.example.com\nO=Example\nC=DE');
  });

  it('refuses bad requests with named validation errors and an expired CA with Unavailable', async () => {
    await expect(issueLeaf(ca, { ...PUBLIC, now })).rejects.toEqual(
      validation(/^csr: a CSR or a public key is required$/),
    );
    await expect(issueLeaf(ca, { csr: ecCsr, profile, ekus: ['codeSigning'], ...PUBLIC, now })).rejects.toEqual(
      validation(/^profile\.allowed_ekus: codeSigning is not allowed$/),
    );
    await expect(issueLeaf(ca, { csr: ecCsr, sans: { dns: ['not valid'] }, ...PUBLIC, now })).rejects.toEqual(
      validation(/^sans\.dns: "not valid" is not a valid DNS name$/),
    );
    await expect(issueLeaf(ca, { csr: ecCsr, ttlSeconds: -5, ...PUBLIC, now })).rejects.toEqual(
      validation(/^ttl_seconds: /),
    );
    await expect(issueLeaf(ca, { csr: ecCsr, commonName: 'x'.repeat(65), ...PUBLIC, now })).rejects.toEqual(
      validation(/^subject\.cn: /),
    );
    await expect(issueLeaf(ca, { csr: { ...ecCsr, commonName: undefined }, sans: {}, ...PUBLIC, now })).rejects.toEqual(
      validation(/^sans: a certificate without a subject CN needs at least one SAN$/),
    );
    await expect(issueLeaf(ca, { csr: ecCsr, publicUrl: 'ftp://x', issuerId: 'i', now })).rejects.toEqual(
      validation(/^public_url: /),
    );
    await expect(issueLeaf(ca, { csr: ecCsr, ...PUBLIC, now: new Date('2031-01-01T00:00:00Z') })).rejects.toEqual(
      error(ErrorCode.Unavailable, /^issuer: CA "CN=Leaf Test CA" is not valid now/),
    );
  });

  it('holds the profile on the final names and key, whatever the caller passes', async () => {
    await expect(issueLeaf(ca, { csr: ecCsr, profile, sans: { dns: ['evil.com'] }, ...PUBLIC, now })).rejects.toEqual(
      validation(/^profile\.san_rules\.permitted_dns_patterns: DNS SAN "evil\.com" is not permitted/),
    );
    await expect(
      issueLeaf(ca, {
        csr: ecCsr,
        profile: { ...profile, allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 2048 }] },
        ...PUBLIC,
        now,
      }),
    ).rejects.toEqual(validation(/^profile\.allowed_key_algorithms: key algorithm ECDSA is not allowed/));
  });

  it('gives every certificate a distinct serial', async () => {
    const serials = await Promise.all(
      Array.from({ length: 50 }, () => issueLeaf(ca, { csr: ecCsr, ...PUBLIC, now }).then((l) => l.serialHex)),
    );
    expect(new Set(serials).size).toBe(50);
  });
});
