import { generateKeyPair, exportPublicKeyPem } from '../keys';
import { OpensslDir } from '../keys/testing';
import { buildCsr, sansFromStrings } from './build-csr';
import { parseCsr } from './parse-csr';

const ossl = new OpensslDir();
afterAll(() => ossl.remove());

describe('buildCsr', () => {
  it('builds an ECDSA P-256 CSR that openssl verifies, with the CN, the SANs and the public key', async () => {
    const keys = await generateKeyPair('ECDSA-P256');
    const pem = await buildCsr({
      keys,
      commonName: 'api.example.com',
      sans: sansFromStrings(['api.example.com', 'www.example.com', '10.0.0.5', 'ops@example.com']),
    });
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    expect(pem).not.toContain('PRIVATE KEY');
    ossl.write('ec.csr', pem);
    const verify = ossl.run(['req', '-in', 'ec.csr', '-noout', '-verify']);
    expect({ status: verify.status, out: verify.stdout + verify.stderr }).toEqual({
      status: 0,
      out: expect.stringMatching(/verify OK/i),
    });
    const text = ossl.ok(['req', '-in', 'ec.csr', '-noout', '-text']);
    expect(text).toMatch(/Subject: CN\s?=\s?api\.example\.com/);
    expect(text).toContain('ecdsa-with-SHA256');
    expect(text).toContain('prime256v1');
    expect(text).toMatch(
      /DNS:api\.example\.com, DNS:www\.example\.com, IP Address:10\.0\.0\.5, email:ops@example\.com/,
    );
    // The CSR carries exactly the generated key's public half.
    const pub = ossl.ok(['req', '-in', 'ec.csr', '-noout', '-pubkey']);
    expect(pub.trim()).toBe(exportPublicKeyPem(keys.publicKey).trim());
  });

  it('builds RSA and Ed25519 CSRs that openssl verifies', async () => {
    for (const alg of ['RSA-2048', 'Ed25519'] as const) {
      const pem = await buildCsr({ keys: await generateKeyPair(alg), commonName: `${alg.toLowerCase()}.example.com` });
      ossl.write(`${alg}.csr`, pem);
      expect({ alg, status: ossl.run(['req', '-in', `${alg}.csr`, '-noout', '-verify']).status }).toEqual({
        alg,
        status: 0,
      });
    }
  });

  it('carries a challengePassword attribute that openssl and parseCsr read', async () => {
    const pem = await buildCsr({
      keys: await generateKeyPair('RSA-2048'),
      commonName: 'dev1',
      challengePassword: 's3cret-PASS',
    });
    ossl.write('challenge.csr', pem);
    expect(ossl.ok(['req', '-in', 'challenge.csr', '-noout', '-text'])).toMatch(/challengePassword\s*:\s*s3cret-PASS/);
    expect((await parseCsr(pem)).challengePassword).toBe('s3cret-PASS');
  });

  it('rejects a bad SAN, naming it', async () => {
    const keys = await generateKeyPair('ECDSA-P256');
    await expect(buildCsr({ keys, sans: { dns: ['not a name'] } })).rejects.toThrow(/sans\.dns: "not a name"/);
  });
});

describe('sansFromStrings', () => {
  it('sorts names into kinds, honouring explicit prefixes', () => {
    expect(
      sansFromStrings([
        'A.example.com',
        'IP:10.0.0.1',
        '::1',
        'dev@Example.com',
        'spiffe://td/ns/x',
        'DNS:b.example.com',
      ]),
    ).toEqual({
      dns: ['a.example.com', 'b.example.com'],
      ip: ['10.0.0.1', '::1'],
      email: ['dev@example.com'],
      uri: ['spiffe://td/ns/x'],
    });
  });
});
