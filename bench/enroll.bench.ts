/**
 * Enrollment benchmark over real HTTP: SCEP PKCSReq enrollments per second against certctl
 * and, in the same run with the same client workload, against micromdm `scepserver` (Debian
 * `scep`), and their ratio; then EST simpleenroll per second against certctl (Debian has no
 * EST server to compare with).
 *
 *   npm run bench:enroll
 *
 * Workload: devices with RSA-2048 keys and CSRs made by openssl (challengePassword inside),
 * PKIMessages built the way scepclient builds them (SHA-1 signature by a self-signed
 * certificate of the device key, content encrypted to the server's RA certificate), each
 * with its own transactionID and sent once (a resend would be a replay). A response counts
 * when it is HTTP 200 with pkiStatus SUCCESS. certctl issues each request synchronously:
 * a managed certificate, an Issuance job, the signature and the version record per
 * enrollment, with the approval gate and audit on the path (no profile requiring approval).
 * scepserver signs and writes its depot files. Both run over plain HTTP on loopback;
 * scepserver listens on every interface, so it runs in a private network namespace with
 * only loopback (unshare -n), together with its load generator. EST runs over TLS 1.3 with
 * HTTP Basic authentication, CSRs of ECDSA P-256 keys.
 *
 * Environment: BENCH_ENROLLMENTS (SCEP enrollments per figure, default 300),
 * BENCH_SECONDS (EST seconds per figure, default 5), BENCH_CONCURRENCY (default "1,8"),
 * CERTCTL_BENCH_PG_URL, CERTCTL_BENCH_REDIS_URL, BENCH_CPU_PROF=<dir>.
 */
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill first.
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { KeyObject, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { buildCsr, createSelfSignedTlsBundle, generateKeyPair, pemToDers, type CryptoKeyPair } from '@certctl/pki';
import { pkiMessage } from '../e2e/support/scep-messages';
import {
  benchStore,
  benchSuite,
  lastJson,
  LOADGEN,
  runLoadgen,
  startServerChild,
  SWC_HOOK,
  table,
  type Figures,
} from './support/bench-kit';

const ENROLLMENTS = Number(process.env.BENCH_ENROLLMENTS ?? 300);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);
const WARMUP = 20;
const DEVICES = 8;
const EST_KEYS = 64;
const CHALLENGE = 'bench-challenge-password';
const SERVER_FLAG = 'CERTCTL_ENROLL_BENCH_SERVER';
/** signed attribute pkiStatus (2.16.840.1.113733.1.9.3) = PrintableString "0" (SUCCESS). */
const SCEP_SUCCESS_HEX = '060a6086480186f845010903' + '3103130130';

const store = benchStore('enroll', 'enroll-bench-encryption-key-0123456789abcdef');
const issuerId = `iss-bench-${store.suffix}`;

benchSuite(
  'Enrollment throughput: certctl SCEP vs micromdm scepserver, and certctl EST',
  { serverFlag: SERVER_FLAG, store },
  (t, servers) => {
    /**
     * PKCSReq bodies (base64), each its own transaction and subject (scepserver refuses a
     * subject its depot already holds), encrypted to `raCertDer`.
     */
    async function scepBodies(devices: Device[], raCertDer: Uint8Array, tag: string, n: number): Promise<string[]> {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const d = devices[i % devices.length];
        const csrPem = await buildCsr({
          keys: d.keys,
          commonName: `${tag}-${i}.enroll.example`,
          challengePassword: CHALLENGE,
        });
        const content = Buffer.from(pemToDers(csrPem, ['CERTIFICATE REQUEST'], 'csr')[0]);
        const { der } = pkiMessage({
          raCertDer,
          messageType: 19,
          transactionId: `bench-${tag}-${i}`,
          content,
          signer: { certDer: d.selfDer, key: d.key },
          cipher: 'AES-128-CBC',
        });
        out.push(der.toString('base64'));
      }
      return out;
    }

    it('prints enrollments/s and p50/p99 for certctl and scepserver (SCEP) and certctl (EST)', async () => {
      await store.insertLocalCaIssuer(issuerId);

      t.write('hook.js', SWC_HOOK);
      t.write('loadgen.js', LOADGEN);
      const tls = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      t.write('tls-ca.pem', tls.caCertPem);
      const [scepPort, estPort] = await Promise.all([
        startServerChild(
          __filename,
          t.path('hook.js'),
          {
            ...store.serverEnv,
            CERTCTL_SCEP_ENABLED: 'true',
            CERTCTL_SCEP_ISSUER_ID: issuerId,
            CERTCTL_SCEP_CHALLENGE_PASSWORD: CHALLENGE,
            [SERVER_FLAG]: '1',
          },
          servers,
        ),
        startServerChild(
          __filename,
          t.path('hook.js'),
          {
            ...store.serverEnv,
            CERTCTL_EST_ENABLED: 'true',
            CERTCTL_EST_ISSUER_ID: issuerId,
            CERTCTL_EST_USERNAME: 'bench',
            CERTCTL_EST_PASSWORD: CHALLENGE,
            BENCH_TLS: JSON.stringify({ key: tls.keyPem, cert: tls.certPem + tls.caCertPem }),
            [SERVER_FLAG]: '1',
          },
          servers,
        ),
      ]);

      // Our RA: the certificate GetCACert names for encryption (the RSA one that is not a CA).
      const caCert = await fetch(`http://127.0.0.1:${scepPort}/scep?operation=GetCACert`);
      expect(caCert.status).toBe(200);
      const raCertDer = raOf(Buffer.from(await caCert.arrayBuffer()));

      // scepserver's depot: its CA is its RA.
      spawnSync('scepserver', ['ca', '-init', '-depot', 'depot', '-keySize', '2048'], { cwd: t.dir });
      const theirCaDer = Buffer.from(pemToDers(t.read('depot/ca.pem').toString(), ['CERTIFICATE'], 'ca')[0]);

      const devices = await Promise.all(Array.from({ length: DEVICES }, (_, i) => device(i)));
      t.write(
        'scep-options.json',
        JSON.stringify({
          headers: { 'content-type': 'application/x-pki-message' },
          okHex: SCEP_SUCCESS_HEX,
          warmup: WARMUP,
        }),
      );

      const rows: Record<string, string | number>[] = [];
      const add = (protocol: string, server: string, n: number, f: Figures) =>
        rows.push({
          protocol,
          server,
          concurrency: n,
          'enrollments/s': f.rps.toFixed(1),
          'p50 ms': f.p50.toFixed(1),
          'p99 ms': f.p99.toFixed(1),
          ok: f.ok,
          errors: f.errors,
        });
      for (const n of CONCURRENCY) {
        const count = `count:${ENROLLMENTS}`;
        t.write(
          `ours-${n}.json`,
          JSON.stringify(await scepBodies(devices, raCertDer, `ours-${n}`, ENROLLMENTS + WARMUP)),
        );
        const ours = await runLoadgen(t.path('loadgen.js'), [
          `http://127.0.0.1:${scepPort}/scep?operation=PKIOperation`,
          String(n),
          count,
          t.path(`ours-${n}.json`),
          t.path('scep-options.json'),
        ]);
        t.write(
          `theirs-${n}.json`,
          JSON.stringify(await scepBodies(devices, theirCaDer, `theirs-${n}`, ENROLLMENTS + WARMUP)),
        );
        const script = [
          'ip link set lo up',
          `scepserver -depot depot -port 18080 -challenge ${CHALLENGE} >/dev/null 2>&1 &`,
          'sleep 0.5',
          `${JSON.stringify(process.execPath)} loadgen.js 'http://127.0.0.1:18080/scep?operation=PKIOperation' ${n} ${count} theirs-${n}.json scep-options.json`,
          'kill %1 2>/dev/null || true',
        ].join('\n');
        const r = spawnSync('unshare', ['-n', 'bash', '-c', script], {
          cwd: t.dir,
          encoding: 'utf8',
          timeout: 600_000,
        });
        if (!r.stdout.includes('rps')) throw new Error(`scepserver run failed: ${r.stderr}`);
        const theirs = lastJson<Figures>(r.stdout);
        add('SCEP', 'certctl', n, ours);
        add('SCEP', 'micromdm scepserver', n, theirs);
        rows.push({
          protocol: 'SCEP',
          server: 'ratio certctl/scepserver',
          concurrency: n,
          'enrollments/s': (ours.rps / theirs.rps).toFixed(2),
          'p50 ms': (ours.p50 / theirs.p50).toFixed(2),
          'p99 ms': (ours.p99 / theirs.p99).toFixed(2),
          ok: '',
          errors: '',
        });
        expect(ours.errors).toBe(0);
        expect(ours.ok).toBe(ENROLLMENTS);
        expect(theirs.ok).toBeGreaterThan(0);
      }

      // EST: CSRs are cycled; each sent again long after its previous enrollment finished is a
      // new enrollment (a key still pending would answer 202, as a client's retry does).
      const csrs: string[] = [];
      for (let i = 0; i < EST_KEYS; i++) {
        const pem = await buildCsr({
          keys: await generateKeyPair('ECDSA-P256'),
          commonName: `est-${i}.enroll.example`,
        });
        csrs.push(Buffer.from(pem).toString('base64'));
      }
      t.write('est.json', JSON.stringify(csrs));
      t.write(
        'est-options.json',
        JSON.stringify({
          ca: t.path('tls-ca.pem'),
          headers: {
            'content-type': 'application/pkcs10',
            authorization: `Basic ${Buffer.from(`bench:${CHALLENGE}`).toString('base64')}`,
          },
        }),
      );
      for (const n of CONCURRENCY) {
        const f = await runLoadgen(t.path('loadgen.js'), [
          `https://127.0.0.1:${estPort}/.well-known/est/simpleenroll`,
          String(n),
          String(SECONDS),
          t.path('est.json'),
          t.path('est-options.json'),
        ]);
        add('EST simpleenroll', 'certctl', n, f);
        expect(f.errors).toBe(0);
        expect(f.ok).toBeGreaterThan(0);
      }
      process.stdout.write(
        table(
          `Enrollment over HTTP/1.1 keep-alive on loopback (SCEP: ${ENROLLMENTS} PKCSReq per figure, RSA-2048 devices, AES-128 envelopes; EST: ${SECONDS}s per figure over TLS 1.3, P-256 CSRs):`,
          rows,
        ),
      );
    });
  },
);

/** The RA certificate of a GetCACert answer: the only certificate, or the RSA non-CA one of a PKCS#7. */
function raOf(body: Buffer): Buffer {
  try {
    return Buffer.from(new X509Certificate(body).raw);
  } catch {
    const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(new Uint8Array(body)).content });
    const certs = (sd.certificates ?? []).map((c) => new X509Certificate(Buffer.from(c.toSchema().toBER())));
    const ra = certs.find((c) => !c.ca && c.publicKey.asymmetricKeyType === 'rsa');
    if (!ra) throw new Error('GetCACert returned no RSA RA certificate');
    return Buffer.from(ra.raw);
  }
}

interface Device {
  keys: CryptoKeyPair;
  key: KeyObject;
  /** A self-signed certificate of the device key: what signs its PKCSReq, as scepclient does. */
  selfDer: Buffer;
}

async function device(i: number): Promise<Device> {
  const keys = await generateKeyPair('RSA-2048');
  const self = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (i + 1).toString(16).padStart(2, '0'),
    name: `CN=bench-device-${i}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as never,
    signingAlgorithm: keys.privateKey.algorithm,
  });
  return { keys, key: KeyObject.from(keys.privateKey), selfDer: Buffer.from(self.rawData) };
}
