import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import { asn1Mutator, prng } from '../../../../test/fuzz/mutate';
import {
  createLocalCaIssuer,
  createProfile,
  ISSUING_ENV,
  issueCertificate,
  listenOnLoopback,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

const REQUESTS = 10_000;
const CONCURRENCY = 16;

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

describe('OCSP fuzz over HTTP (10,000 random and mutated requests)', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let port: number;
  const tag = randomBytes(3).toString('hex');
  const issuerId = `iss-fuzz-${tag}`;
  const ossl = new OpensslDir();
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const seeds: Buffer[] = [];

  beforeAll(async () => {
    db = await createPrivateDatabase(`ocsp_fuzz_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV });
    port = await listenOnLoopback(t);
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    await createProfile(t, admin, `prof-fuzz-${tag}`, 'fuzz.example.com', 86_400);
    const leaf = await issueCertificate(t, admin, {
      id: `mc-fuzz-${tag}`,
      issuerId,
      profileId: `prof-fuzz-${tag}`,
      commonName: 'a.fuzz.example.com',
    });
    ossl.write('ca.pem', leaf.caPem);
    ossl.write('leaf.pem', leaf.leafPem);
    // Valid seeds: with and without nonce, SHA-1 and SHA-256 CertIDs, several CertIDs.
    const variants = [
      ['-cert', 'leaf.pem'],
      ['-no_nonce', '-cert', 'leaf.pem'],
      ['-sha256', '-cert', 'leaf.pem'],
      ['-cert', 'leaf.pem', '-serial', '0x0102', '-serial', '0x7f01'],
    ];
    for (const [i, args] of variants.entries()) {
      execFileSync('openssl', ['ocsp', '-issuer', 'ca.pem', ...args, '-reqout', `s${i}.der`], { cwd: ossl.dir });
      seeds.push(ossl.read(`s${i}.der`));
    }
  });
  afterAll(async () => {
    agent.destroy();
    await t.close();
    await db.drop();
    ossl.remove();
  });

  const send = (method: 'GET' | 'POST', path: string, body?: Buffer): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: body ? { 'content-type': 'application/ocsp-request', 'content-length': body.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              contentType: String(res.headers['content-type'] ?? ''),
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('never answers 5xx or crashes; every answer is an OCSP malformedRequest/unauthorized/successful response or a 4xx', async () => {
    const rnd = prng(Number(process.env.CERTCTL_FUZZ_SEED ?? 0x5eed));
    const mutate = asn1Mutator(rnd, seeds);
    const tally = new Map<string, number>();
    const failures: string[] = [];
    const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
    const base = `/.well-known/pki/ocsp/${issuerId}`;
    let next = 0;
    const started = Date.now();

    const one = async (i: number): Promise<void> => {
      const der = mutate(seeds[i % seeds.length]);
      const kind = rnd();
      let answer: Answer;
      let what: string;
      if (kind < 0.5) {
        what = `POST ${der.toString('hex')}`;
        answer = await send('POST', base, der);
      } else if (kind < 0.9) {
        const b64 = der.toString('base64');
        const encoded = rnd() < 0.7 ? encodeURIComponent(b64) : b64; // some clients do not encode
        what = `GET ${encoded}`;
        answer = await send('GET', `${base}/${encoded}`);
      } else {
        // Random path text: printable noise, percent escapes, hex-looking serials.
        const noise = Array.from({ length: 1 + Math.floor(rnd() * 60) }, () =>
          rnd() < 0.2
            ? `%${Math.floor(rnd() * 256)
                .toString(16)
                .padStart(2, '0')}`
            : String.fromCharCode(33 + Math.floor(rnd() * 94)),
        )
          .join('')
          .replace(/[?#]/g, 'x');
        what = `GET ${noise}`;
        answer = await send('GET', `${base}/${noise}`);
      }
      if (answer.status >= 500) {
        failures.push(`${answer.status} for ${what}: ${answer.body.toString().slice(0, 200)}`);
        return;
      }
      if (answer.status >= 400) {
        count(`http ${answer.status}`);
        return;
      }
      if (answer.status !== 200 || answer.contentType !== 'application/ocsp-response') {
        failures.push(`${answer.status} ${answer.contentType} for ${what}`);
        return;
      }
      let status: OCSPResponseStatus;
      try {
        status = AsnConvert.parse(answer.body, OCSPResponse).responseStatus;
      } catch {
        failures.push(`undecodable OCSP response for ${what}`);
        return;
      }
      if (
        ![OCSPResponseStatus.successful, OCSPResponseStatus.malformedRequest, OCSPResponseStatus.unauthorized].includes(
          status,
        )
      ) {
        failures.push(`OCSP status ${OCSPResponseStatus[status]} for ${what}`);
        return;
      }
      count(`ocsp ${OCSPResponseStatus[status]}`);
    };

    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) await one(next++);
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `OCSP fuzz: ${REQUESTS} requests in ${seconds.toFixed(1)} s: ${[...tally].map(([k, v]) => `${k} ${v}`).join(', ')}\n`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    // Both kinds of answer were exercised, and the server still serves.
    expect(tally.get('ocsp malformedRequest') ?? 0).toBeGreaterThan(1000);
    expect(tally.get('ocsp successful') ?? 0).toBeGreaterThan(10);
    const health = await send('GET', '/health');
    expect(health.status).toBe(200);
  }, 180_000);
});
