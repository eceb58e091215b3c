// OCSP through libs/pki: responses built and signed per second (P-256 delegated responder),
// requests parsed per second, and raw WebCrypto ECDSA P-256 signatures per second in the same
// run, for the ratio. Run: npx jest -c jest.bench.config.js --runInBand bench/ocsp-lib.bench.ts
//
// Jest's module sandbox slows asn1js and @peculiar/* down 2-4x (their ArrayBuffer checks miss
// across realms and fall back to slow paths), so the same measurement also runs in a plain
// Node process, as the server runs: this file loads itself there through an swc require hook.
import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { OcspSingleResponse, buildOcspResponse, createOcspResponderCertificate, parseOcspRequest } from '@certctl/pki';
import { makeCa, makeLeaf, openssl, tempDir } from '../libs/pki/src/crl/test-fixtures';
import { root, SWC_HOOK } from './support/bench-kit';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CHILD_FLAG = 'CERTCTL_OCSP_BENCH_CHILD';

type Figures = Record<string, number>;

/** Runs `op` for SECONDS with `concurrency` in flight; returns operations per second. */
async function rate(op: () => unknown, concurrency = 1): Promise<number> {
  for (let i = 0; i < 200; i++) await op(); // warm-up (JIT, caches)
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await op();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

async function measure(): Promise<Figures> {
  const ca = await makeCa({ name: 'CN=bench CA' });
  const responder = await createOcspResponderCertificate(ca.identity, 7, { keyAlgorithm: 'P-256' });
  const leaf = await makeLeaf(ca);
  const t = tempDir({ 'ca.pem': ca.certPem, 'leaf.pem': leaf.certPem });
  let withNonce: Buffer;
  let noNonce: Buffer;
  try {
    openssl(['ocsp', '-issuer', t.path('ca.pem'), '-cert', t.path('leaf.pem'), '-reqout', t.path('a.der')]);
    openssl([
      'ocsp',
      '-issuer',
      t.path('ca.pem'),
      '-cert',
      t.path('leaf.pem'),
      '-no_nonce',
      '-reqout',
      t.path('b.der'),
    ]);
    withNonce = readFileSync(t.path('a.der'));
    noNonce = readFileSync(t.path('b.der'));
  } finally {
    t.remove();
  }
  const req = parseOcspRequest(withNonce);
  const now = new Date();
  const good: OcspSingleResponse = {
    certId: req.certIds[0],
    status: 'good',
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 3_600_000),
  };
  const revoked: OcspSingleResponse = { ...good, status: 'revoked', revokedAt: now, reason: 'keyCompromise' };
  const build = (single: OcspSingleResponse, nonce?: Buffer): Promise<Buffer> =>
    buildOcspResponse({
      responder: responder.identity,
      issuerCert: ca.certPem,
      responses: [single],
      nonce,
      producedAt: now,
    });

  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const tbs = new Uint8Array(250).fill(7); // about the size of a one-CertID ResponseData
  const rawSign = (): Promise<ArrayBuffer> =>
    webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, tbs);

  return {
    parseNonce: await rate(() => parseOcspRequest(withNonce)),
    parseNoNonce: await rate(() => parseOcspRequest(noNonce)),
    buildGoodNonce: await rate(() => build(good, req.nonce)),
    buildGood: await rate(() => build(good)),
    buildRevoked: await rate(() => build(revoked)),
    buildGood16: await rate(() => build(good, req.nonce), 16),
    miss: await rate(() => {
      const r = parseOcspRequest(withNonce);
      return build({ ...good, certId: r.certIds[0] }, r.nonce);
    }),
    rawSign: await rate(rawSign),
    rawSign16: await rate(rawSign, 16),
  };
}

/** Same measurement in a plain Node process (TypeScript compiled on load by swc, as jest does). */
function measureInPlainNode(): Figures {
  const t = tempDir({
    'hook.js': SWC_HOOK,
  });
  try {
    const r = spawnSync(process.execPath, ['--no-warnings', '-r', t.path('hook.js'), __filename], {
      cwd: root,
      env: { ...process.env, [CHILD_FLAG]: '1' },
      encoding: 'utf8',
      timeout: 10 * 60_000,
    });
    if (r.status !== 0) throw new Error(`plain Node run failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Figures;
  } finally {
    t.remove();
  }
}

function report(where: string, f: Figures): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US').padStart(7);
  return [
    `OCSP via libs/pki, ${where} (${SECONDS}s per figure, P-256 delegated responder, 1 CertID):`,
    `  requests parsed/s                 ${n(f.parseNonce)} with nonce, ${n(f.parseNoNonce)} without`,
    `  responses built+signed/s          ${n(f.buildGoodNonce)} good+nonce, ${n(f.buildGood)} good, ${n(f.buildRevoked)} revoked`,
    `  built+signed/s, 16 in flight      ${n(f.buildGood16)}`,
    `  parse+build+sign/s (cache miss)   ${n(f.miss)}`,
    `  raw WebCrypto P-256 signs/s       ${n(f.rawSign)} sequential, ${n(f.rawSign16)} 16 in flight`,
    `  ratio responses/raw signs         ${(f.buildGoodNonce / f.rawSign).toFixed(2)} sequential, ${(f.buildGood16 / f.rawSign16).toFixed(2)} 16 in flight`,
  ].join('\n');
}

if (process.env[CHILD_FLAG] === '1') {
  measure().then(
    (f) => process.stdout.write(`${JSON.stringify(f)}\n`),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  describe('OCSP library throughput', () => {
    it('prints responses signed/s, requests parsed/s and raw WebCrypto P-256 signs/s', async () => {
      const plain = measureInPlainNode();
      const inJest = await measure();
      console.log(`${report('plain Node process (as the server runs)', plain)}\n\n${report('inside jest', inJest)}`);
      for (const v of [...Object.values(plain), ...Object.values(inJest)]) expect(v).toBeGreaterThan(0);
    });
  });
}
