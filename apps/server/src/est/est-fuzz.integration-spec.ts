import { buildCsr, generateKeyPair, pemToDers } from '@certctl/pki';
import { asn1Mutator, derMutator, prng } from '../../../../test/fuzz/mutate';
import {
  createLocalCaIssuer,
  createProfile,
  listenOnLoopback,
  SEALING_ENV,
} from '../../../../test/integration/issued-certificates';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

/**
 * 10,000 random and mutated simpleenroll bodies against the real app (in-process, real
 * Postgres and Redis): every answer is a 4xx naming the problem, or 202 when a mutation
 * left a valid CSR (the label's profile requires approval, so a valid CSR waits instead
 * of issuing, and its resends find the same request). Never a 5xx, never a hang.
 */
describe('EST simpleenroll fuzz', () => {
  let t: TestApp;
  const tag = Date.now().toString(36);
  const issuerId = `iss-estfz-${tag}`;
  const profileId = `prof-estfz-${tag}`;
  const auth = `Basic ${Buffer.from('fuzzer:fuzz-password-123').toString('base64')}`;

  beforeAll(async () => {
    t = await createTestApp({
      ...SEALING_ENV,
      CERTCTL_EST_ENABLED: 'true',
      CERTCTL_EST_ISSUER_ID: issuerId,
      CERTCTL_EST_PROFILE_ID: profileId,
      CERTCTL_EST_USERNAME: 'fuzzer',
      CERTCTL_EST_PASSWORD: 'fuzz-password-123',
    });
    await listenOnLoopback(t);
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, profileId, 'fuzz.example', 86_400, { requires_approval: true });
  });
  afterAll(() => t?.close());

  it('answers 4xx (or 202 for a still-valid CSR) to every body, never 5xx', async () => {
    const seeds: Uint8Array[] = [];
    for (const [i, alg] of (['ECDSA-P256', 'ECDSA-P256', 'ECDSA-P384', 'Ed25519'] as const).entries()) {
      const pem = await buildCsr({
        keys: await generateKeyPair(alg),
        commonName: `d${i}.fuzz.example`,
        sans: { dns: [`d${i}.fuzz.example`, `alt${i}.fuzz.example`] },
      });
      seeds.push(pemToDers(pem, ['CERTIFICATE REQUEST'], 'csr')[0]);
    }
    const rand = prng(0x7030);
    const mutateDer = derMutator(rand, seeds, { text: true });
    const mutateAsn1 = asn1Mutator(rand, seeds);
    const int = (n: number) => Math.floor(rand() * n);

    const cases = Array.from({ length: 10_000 }, (_, i) => {
      const seed = seeds[int(seeds.length)];
      const m = i % 2 ? mutateDer(seed) : mutateAsn1(seed);
      let body: Buffer;
      if (typeof m === 'string') body = Buffer.from(m);
      else if (rand() < 0.5) body = Buffer.from(m);
      else
        body = Buffer.from(
          Buffer.from(m)
            .toString('base64')
            .replace(/(.{64})/g, rand() < 0.5 ? '$1\n' : '$1\r\n'),
        );
      const type = rand() < 0.03 ? 'application/octet-stream' : 'application/pkcs10';
      const cte = rand() < 0.05 ? ['binary', 'quoted-printable', 'BASE64 '][int(3)] : 'base64';
      return { i, body, type, cte };
    });

    const counts = new Map<number, number>();
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let c = cases[next++]; c; c = cases[next++]) {
        const res = await t.http
          .post('/.well-known/est/simpleenroll')
          .set('Authorization', auth)
          .set('Content-Type', c.type)
          .set('Content-Transfer-Encoding', c.cte)
          .send(c.body);
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        const ok = res.status === 202 || (res.status >= 400 && res.status < 500 && res.status !== 401);
        if (!ok && bad.length < 10) bad.push(`case ${c.i}: ${res.status} ${res.text.slice(0, 200)}`);
        if (res.status >= 400 && !(typeof res.body?.message === 'string' && res.body.message.length > 0)) {
          if (bad.length < 10) bad.push(`case ${c.i}: ${res.status} without a message`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    expect(bad).toEqual([]);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(10_000);
    // Both outcomes were exercised: refusals and valid CSRs that reached the approval gate.
    expect(counts.get(400) ?? 0).toBeGreaterThan(1_000);
    expect(counts.get(202) ?? 0).toBeGreaterThan(100);
    expect(counts.get(415) ?? 0).toBeGreaterThan(100);
  }, 420_000); // 10,000 requests through the whole EST path, while CI runs every suite at once
});
