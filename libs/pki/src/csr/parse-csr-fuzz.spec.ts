import { DomainError, ErrorCode } from '@certctl/domain';
import { EC_P256, OpensslDir, RSA_2048 } from '../keys/testing';
import { pemToDers } from '../keys/pem';
import { parseCsr } from './parse-csr';

/** Deterministic PRNG (mulberry32) so a failure can be replayed from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
    const rand = rng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const mutate = (src: Uint8Array): Uint8Array | string => {
      const b = Uint8Array.from(src);
      switch (int(9)) {
        case 0: // a few bit flips anywhere
          for (let k = 1 + int(8); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
          return b;
        case 1: // truncation
          return b.slice(0, int(b.length));
        case 2: // random bytes of random length, sometimes starting like a SEQUENCE
          return Uint8Array.from({ length: int(600) }, (_, i) => (i === 0 && rand() < 0.5 ? 0x30 : int(256)));
        case 3: // a length or tag byte in the first 40 octets rewritten
          b[int(Math.min(40, b.length))] = int(256);
          return b;
        case 4: // a run of bytes overwritten
          for (let i = int(b.length), n = int(32); n > 0 && i < b.length; n--, i++) b[i] = int(256);
          return b;
        case 5: // splice two different requests
          return Uint8Array.from([...b.slice(0, int(b.length)), ...seeds[int(seeds.length)].slice(int(200))]);
        case 6: // insertion
          return Uint8Array.from([
            ...b.slice(0, int(b.length)),
            ...Array.from({ length: 1 + int(8) }, () => int(256)),
            ...b.slice(int(b.length)),
          ]);
        case 7: // as base64 / PEM text with a damaged character
          return Buffer.from(b)
            .toString('base64')
            .replace(/./, (c) => (rand() < 0.5 ? c : '*'));
        default: // untouched (the valid path must keep working under load)
          return b;
      }
    };

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
