import { readFileSync } from 'node:fs';
import { asn1Mutator, prng, randomBytesFrom } from '../../../../test/fuzz/mutate';
import { makeCa, makeLeaf, openssl, tempDir } from '../crl/test-fixtures';
import { MalformedOcspRequest, ParsedOcspRequest, parseOcspRequest } from './ocsp-request';

describe('parseOcspRequest fuzzing', () => {
  const seeds: Buffer[] = [];

  beforeAll(async () => {
    const ca = await makeCa();
    const leaves = await Promise.all([makeLeaf(ca), makeLeaf(ca), makeLeaf(ca, { serialHex: '00ff' })]);
    const t = tempDir({ 'ca.pem': ca.certPem });
    try {
      leaves.forEach((l, i) => t.write(`l${i}.pem`, l.certPem));
      const variants = [
        ['-cert', t.path('l0.pem')],
        ['-sha256', '-no_nonce', '-cert', t.path('l1.pem')],
        ['-cert', t.path('l0.pem'), '-sha256', '-cert', t.path('l1.pem'), '-cert', t.path('l2.pem')],
      ];
      for (const args of variants) {
        const r = openssl(['ocsp', '-issuer', t.path('ca.pem'), ...args, '-reqout', t.path('r.der')]);
        expect(r.status).toBe(0);
        seeds.push(readFileSync(t.path('r.der')));
      }
    } finally {
      t.remove();
    }
    for (const s of seeds) expect(parseOcspRequest(s).certIds.length).toBeGreaterThan(0);
  });

  it('turns 10,000 random and mutated requests into a result or MalformedOcspRequest, nothing else', () => {
    const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
    const rand = prng(seed);
    const int = (n: number): number => Math.floor(rand() * n);
    const randomBytes = (n: number): Buffer => randomBytesFrom(rand, n);
    const mutate = asn1Mutator(rand, seeds);

    const count = { ok: 0, malformed: 0 };
    const unexpected: string[] = [];
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) {
      let input: Buffer;
      const kind = i % 10;
      if (kind < 7) input = mutate(seeds[i % seeds.length]);
      else if (kind === 7) input = randomBytes(int(300));
      else if (kind === 8) {
        // Random content in a well-formed outer SEQUENCE, so it reaches the schema parser.
        const body = randomBytes(int(120));
        input = Buffer.concat([Buffer.from([0x30, 0x81, body.length]), body]);
      } else input = seeds[i % seeds.length]; // untouched seeds must keep parsing
      try {
        const parsed: ParsedOcspRequest = parseOcspRequest(input);
        expect(parsed.certIds.length).toBeGreaterThan(0);
        for (const id of parsed.certIds) expect(id.serialHex).toMatch(/^([1-9a-f][0-9a-f]|0[1-9a-f])([0-9a-f]{2})*$/);
        count.ok++;
      } catch (e) {
        if (e instanceof MalformedOcspRequest) count.malformed++;
        else unexpected.push(`#${i} ${input.toString('hex')}: ${String(e)}`);
      }
    }
    const ms = performance.now() - started;
    console.log(
      `OCSP request fuzz (seed ${seed}): ${count.ok} parsed, ${count.malformed} MalformedOcspRequest, ${unexpected.length} other, ${ms.toFixed(0)} ms`,
    );
    expect(unexpected).toEqual([]);
    expect(count.ok + count.malformed).toBe(10_000);
    expect(count.ok).toBeGreaterThanOrEqual(1000); // the untouched seeds at least
    expect(count.malformed).toBeGreaterThan(5000);
  });

  it('survives hostile shapes: deep nesting, huge lengths, many CertIDs', () => {
    const deep: Buffer[] = [];
    let inner = Buffer.from([0x05, 0x00]);
    for (let i = 0; i < 12_000; i++) {
      const len = inner.length;
      inner = Buffer.concat([Buffer.from([0x30, 0x83, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff]), inner]);
      if (inner.length > 60_000) break;
    }
    deep.push(inner);
    deep.push(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30]));
    deep.push(Buffer.concat([Buffer.from([0x30, 0x80]), seeds[0], Buffer.from([0, 0])])); // BER indefinite
    for (const input of deep) expect(() => parseOcspRequest(input)).toThrow(MalformedOcspRequest);
  });
});
