import { randomBytes } from 'node:crypto';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import { issuerAndSerial, makeDevice, pkiMessage } from '../../../../e2e/support/scep-messages';
import { asn1Mutator, derMutator, prng } from '../../../../test/fuzz/mutate';
import {
  createLocalCaIssuer,
  createProfile,
  fetchBytes,
  ISSUING_ENV,
  listenOnLoopback,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

const ITERATIONS = Number(process.env.CERTCTL_FUZZ_ITERATIONS ?? 10_000);
const CONCURRENCY = 4;
const SEED = Number(process.env.CERTCTL_FUZZ_SEED ?? 0x5cef);
const CHALLENGE = 'scep-fuzz-challenge';

/** DER of the pkiStatus attribute type and the start of its SET { PrintableString (1 char) }. */
const PKI_STATUS_PREFIX = Buffer.from('060a6086480186f84501090331031301', 'hex');

/**
 * pkiStatus of a CertRep by locating its signed attribute in the bytes: a full parse per reply
 * would double the run time. The integration spec reads CertReps fully (openssl + pkijs).
 */
function pkiStatusOf(body: Buffer): string {
  if (body[0] !== 0x30) return 'not DER';
  const at = body.indexOf(PKI_STATUS_PREFIX);
  return at < 0 ? 'no pkiStatus' : String.fromCharCode(body[at + PKI_STATUS_PREFIX.length]);
}

describe('SCEP PKIOperation fuzz (in-process server, real Postgres and Redis)', () => {
  const tag = randomBytes(3).toString('hex');
  const ossl = new OpensslDir();
  let db: PrivateDatabase;
  let t: TestApp;
  let url: string;
  const seeds: Buffer[] = [];

  beforeAll(async () => {
    db = await createPrivateDatabase(`scep_fuzz_${tag}`);
    t = await createTestApp({
      ...db.env,
      ...ISSUING_ENV,
      CERTCTL_SCEP_ENABLED: 'true',
      CERTCTL_SCEP_CHALLENGE_PASSWORD: CHALLENGE,
      CERTCTL_SCEP_ISSUER_ID: `iss-fuzz-${tag}`,
      CERTCTL_SCEP_PROFILE_ID: `prof-fuzz-${tag}`,
    });
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, `iss-fuzz-${tag}`);
    await createProfile(t, admin, `prof-fuzz-${tag}`, null, 86_400, {
      allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 2048 }],
    });
    url = `http://127.0.0.1:${await listenOnLoopback(t)}/scep?operation=PKIOperation`;
    const ca = await fetchBytes(url.replace('PKIOperation', 'GetCACert'));
    expect(ca.status).toBe(200);
    const device = makeDevice(ossl, 'fuzz', 'fuzz.example.com', CHALLENGE);
    const signer = { certDer: device.selfDer, key: device.key };
    const common = { raCertDer: ca.body, signer };
    seeds.push(
      pkiMessage({ ...common, messageType: 19, transactionId: `fuzz-${tag}`, content: device.csrDer }).der,
      pkiMessage({ ...common, messageType: 19, transactionId: `fuzz3-${tag}`, content: device.csrDer, cipher: 'DES-EDE3-CBC' }).der, // prettier-ignore
      pkiMessage({ ...common, messageType: 21, transactionId: `fuzz-get-${tag}`, content: issuerAndSerial(Buffer.from('300d310b3009060355040313024341', 'hex'), '01') }).der, // prettier-ignore
    );
    // Each seed once for real, so an unmutated copy in the loop is a replay (FAILURE), never a new certificate.
    for (const s of seeds) {
      const r = await fetchBytes(url, {
        method: 'POST',
        body: s,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      expect(r.status).toBe(200);
    }
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await db?.drop();
    ossl.remove();
  });

  it(`${ITERATIONS} random and mutated PKIOperation bodies: HTTP 4xx or a FAILURE CertRep, never 5xx`, async () => {
    const rand = prng(SEED);
    const mutators = [derMutator(rand, seeds), asn1Mutator(rand, seeds)];
    // Drawn up front, in order, so case i is the same input on every run with this seed.
    const bodies = Array.from({ length: ITERATIONS }, (_, i) =>
      Buffer.from(mutators[i % 2](seeds[Math.floor(rand() * seeds.length)])),
    );
    const outcomes = new Map<string, number>();
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < ITERATIONS; i = next++) {
        const r = await fetchBytes(url, {
          method: 'POST',
          body: bodies[i],
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        let outcome: string;
        if (r.status === 200) outcome = `200 pkiStatus ${pkiStatusOf(r.body)}`;
        else outcome = String(r.status);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        const ok = (r.status >= 400 && r.status < 500) || outcome === '200 pkiStatus 2';
        if (!ok && bad.length < 5) bad.push(`case ${i} (seed ${SEED}): ${outcome} ${r.body.toString('utf8', 0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`SCEP fuzz outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}\n`);
    expect(bad).toEqual([]);
    expect(total).toBe(ITERATIONS);
    // Both kinds of answer occur: the corpus reaches the CertRep path, not only the HTTP 400 one.
    expect(outcomes.get('200 pkiStatus 2') ?? 0).toBeGreaterThan(0);
    expect(outcomes.get('400') ?? 0).toBeGreaterThan(0);
  }, 420_000); // 10,000 requests through the whole SCEP path, while CI runs every suite at once on 2 cores
});
