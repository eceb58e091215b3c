// Leaf issuance throughput through libs/pki, against raw WebCrypto ECDSA P-256 signing in
// the same run. Run: npx jest -c jest.bench.config.js --runInBand bench/issue.bench.ts
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { cpus } from 'node:os';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  createRootCa,
  ensureCryptoProvider,
  issueLeaf,
  parseCsr,
  randomSerialHex,
  validateCsrAgainstProfile,
  type CaSigner,
  type CertificateProfileRules,
  type ParsedCsr,
} from '@certctl/pki';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = 16;
const CSR_COUNT = 200;
const PUBLIC = { publicUrl: 'https://pki.example.com', issuerId: 'bench-issuer' };
const PROFILE: CertificateProfileRules = {
  allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
  max_ttl_seconds: 90 * 86_400,
  allowed_ekus: ['serverAuth'],
  san_rules: { permitted_dns_patterns: ['*.example.com'], max_sans: 10 },
};

/** Runs `op` for SECONDS with `concurrency` operations in flight; returns operations per second. */
async function rate(concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await op(i); // warm-up (JIT, caches)
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await op(done++);
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(8);

describe('issue bench', () => {
  it('leaf issuances/s through issueLeaf vs raw WebCrypto ECDSA P-256 signs/s', async () => {
    ensureCryptoProvider();
    const ca: CaSigner = (await createRootCa({ subject: 'CN=Bench Issuing CA', keyAlgorithm: 'ECDSA-P256' })).signer;

    // Pre-generated ECDSA P-256 CSRs (as agents send them), parsed and verified once for the issueLeaf figure.
    const pems: string[] = [];
    for (let i = 0; i < CSR_COUNT; i++) {
      const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=host${i}.example.com`,
        keys: keys as never,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [
          new x509.SubjectAlternativeNameExtension([
            { type: 'dns', value: `host${i}.example.com` },
            { type: 'dns', value: `alt${i}.example.com` },
          ]),
        ],
      });
      pems.push(csr.toString('pem'));
    }
    const csrs: ParsedCsr[] = await Promise.all(pems.map((p) => parseCsr(p)));
    const decision = validateCsrAgainstProfile(csrs[0], PROFILE);
    const sample = await issueLeaf(ca, { csr: csrs[0], profile: PROFILE, ...PUBLIC });
    const tbsSize = sample.certDer.length - 72; // roughly the signed part: the same message size for raw signing

    const issueSeq = await rate(1, (i) =>
      issueLeaf(ca, { csr: csrs[i % CSR_COUNT], profile: PROFILE, ekus: decision.ekus, ...PUBLIC }),
    );
    const issueConc = await rate(CONCURRENCY, (i) =>
      issueLeaf(ca, { csr: csrs[i % CSR_COUNT], profile: PROFILE, ...PUBLIC }),
    );
    const pipeline = await rate(CONCURRENCY, async (i) => {
      const csr = await parseCsr(pems[i % CSR_COUNT]);
      const d = validateCsrAgainstProfile(csr, PROFILE);
      return issueLeaf(ca, { csr, profile: PROFILE, ...d, ...PUBLIC });
    });
    // Reference: the same certificate through @peculiar/x509's generator (what issueLeaf replaced).
    const caKey = ca.privateKey as never;
    const generator = await rate(CONCURRENCY, async (i) =>
      x509.X509CertificateGenerator.create({
        serialNumber: randomSerialHex(),
        subject: `CN=host${i % CSR_COUNT}.example.com`,
        issuer: ca.certificate.subjectName,
        notBefore: new Date(),
        notAfter: new Date(Date.now() + 86_400_000),
        publicKey: csrs[i % CSR_COUNT].spkiDer,
        signingKey: caKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `host${i % CSR_COUNT}.example.com` }]),
          await x509.SubjectKeyIdentifierExtension.create(csrs[i % CSR_COUNT].spkiDer),
          new x509.AuthorityKeyIdentifierExtension(Buffer.from(ca.subjectKeyIdentifier).toString('hex')),
          new x509.CRLDistributionPointsExtension(['https://pki.example.com/.well-known/pki/crl/bench-issuer']),
          new x509.AuthorityInfoAccessExtension({
            ocsp: ['https://pki.example.com/.well-known/pki/ocsp/bench-issuer'],
          }),
        ],
      }),
    );

    const rawKey = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']))
      .privateKey;
    const message = webcrypto.getRandomValues(new Uint8Array(tbsSize));
    const sign = () => webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, rawKey, message);
    const rawSeq = await rate(1, sign);
    const rawConc = await rate(CONCURRENCY, sign);

    const lines = [
      '',
      `issue bench: ${cpus().length} vCPU, Node ${process.version}, ${SECONDS} s per figure, ECDSA P-256 CA and CSRs, leaf ${sample.certDer.length} bytes`,
      `  issueLeaf (pre-parsed CSR), 1 in flight           ${fmt(issueSeq)} certs/s`,
      `  issueLeaf (pre-parsed CSR), ${CONCURRENCY} in flight          ${fmt(issueConc)} certs/s`,
      `  parseCsr + validate + issueLeaf, ${CONCURRENCY} in flight     ${fmt(pipeline)} certs/s`,
      `  @peculiar/x509 X509CertificateGenerator, ${CONCURRENCY} in flight ${fmt(generator)} certs/s (reference)`,
      `  raw WebCrypto ECDSA P-256 sign (${tbsSize} B), 1 in flight  ${fmt(rawSeq)} signs/s`,
      `  raw WebCrypto ECDSA P-256 sign (${tbsSize} B), ${CONCURRENCY} in flight ${fmt(rawConc)} signs/s`,
      `  ratio issueLeaf / raw sign: ${(issueSeq / rawSeq).toFixed(3)} (1 in flight), ${(issueConc / rawConc).toFixed(3)} (${CONCURRENCY} in flight)`,
      `  issueLeaf vs X509CertificateGenerator: ${(issueConc / generator).toFixed(1)}x`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    expect(issueConc).toBeGreaterThan(0);
  });
});
