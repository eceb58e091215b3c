import { DomainError, ErrorCode } from '@certctl/domain';
import { derMutator, prng } from '../../../../test/fuzz/mutate';
import { EC_P256, OpensslDir, RSA_2048 } from '../keys/testing';
import { pemToDers } from '../keys/pem';
import { parseCsr } from './parse-csr';

describe('parseCsr fuzz: 10,000 random and mutated inputs', () => {
  it('either parses or throws DomainError(Validation), never anything else', async () => {
    const ssl = new OpensslDir();
    const seeds = [
      ssl.csr('f1', EC_P256, '/CN=fuzz.example.com/O=Fuzz', [
        'subjectAltName=DNS:a.example.com,IP:10.1.2.3,email:a@example.com,URI:https://x.example.com/',
        'extendedKeyUsage=serverAuth',
        'tlsfeature=status_request',
      ]),
      ssl.csr('f2', RSA_2048, '/CN=rsa.example.com', ['subjectAltName=DNS:b.example.com']),
      ssl.csr('f3', ['-newkey', 'ed25519'], '/CN=ed.example.com', ['basicConstraints=critical,CA:TRUE']),
    ].map((pem) => pemToDers(pem, ['CERTIFICATE REQUEST'], 'csr')[0]);
    ssl.remove();

    const seed = 0x5eed_c5a;
    // DER mutations, and base64 text with a damaged character (parseCsr takes PEM or DER).
    const mutate = derMutator(prng(seed), seeds, { text: true });

    let parsed = 0;
    let rejected = 0;
    const unexpected: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const input = mutate(seeds[i % seeds.length]);
      try {
        await parseCsr(input);
        parsed++;
      } catch (e) {
        if (e instanceof DomainError && e.code === ErrorCode.Validation) rejected++;
        else unexpected.push(`#${i} (seed ${seed}): ${(e as Error)?.constructor?.name} ${(e as Error)?.message}`);
      }
    }
    expect(unexpected).toEqual([]);
    expect(parsed + rejected).toBe(10_000);
    expect(parsed).toBeGreaterThan(500); // the untouched ninth still parses
    expect(rejected).toBeGreaterThan(7_000);
  }, 120_000);
});
