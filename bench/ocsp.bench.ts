/**
 * OCSP responder benchmark over real HTTP: cached (pre-signed) responses per second and
 * p50/p99 latency with N concurrent keep-alive connections against certctl, and in the same
 * run the `openssl ocsp` responder on the same CA, serials and responder key under the same
 * load, and their ratio. certctl runs twice side by side: as configured by default (the
 * in-process cache, OcspHotCache, answers repeated requests) and with that cache off
 * (CERTCTL_OCSP_CACHE_MAX_ENTRIES=0: every answer parses the request and reads the
 * pre-signed response from Postgres), so one run shows both on the same machine state.
 *
 *   npm run bench:ocsp
 *
 * certctl runs in a plain Node process (TypeScript compiled on load by swc, as in
 * bench/ocsp-lib.bench.ts: jest's sandbox slows asn1js down), on a database of its own.
 * `openssl ocsp -port` listens on every interface, so it runs in a private network
 * namespace with only loopback (unshare -n), together with its load generator. Both are
 * driven by the same load generator (a plain Node script): the same nonce-less requests,
 * one CertID each, cycling over SERIALS serials.
 *
 * Environment: BENCH_SECONDS (default 5 per figure), BENCH_CONCURRENCY (default "16,64"),
 * CERTCTL_BENCH_PG_URL, CERTCTL_BENCH_REDIS_URL; BENCH_CPU_PROF=<dir> writes a V8 CPU profile
 * of each certctl server process there (open it in Chrome DevTools).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createRootCa, exportPrivateKeyPem } from '@certctl/pki';
import { caKeyContext, ocspResponderKeyContext } from '../apps/server/src/secrets/seal-contexts';
import { SecretBox } from '../apps/server/src/secrets/secret-box';
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

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '16,64').split(',').map(Number);
const SERIALS = 100;
const KEY = 'ocsp-bench-encryption-key-0123456789abcdef';
const SERVER_FLAG = 'CERTCTL_OCSP_BENCH_SERVER';

const store = benchStore('ocsp', KEY);
const suffix = store.suffix;
const serverEnv = { ...store.serverEnv, CERTCTL_SERVER_PORT: '8443' };

benchSuite(
  'OCSP responder throughput over HTTP: certctl (cached) vs openssl ocsp',
  { serverFlag: SERVER_FLAG, store },
  (t, servers) => {
    it('prints responses/s and p50/p99 for both responders and their ratio', async () => {
      // A Local CA issuer whose root is stored like the server stores it, and SERIALS
      // certificates it signed (status rows only: OCSP reads versions and revocations).
      const db = new Client({ connectionString: store.dbUrl });
      await db.connect();
      const box = new SecretBox(KEY);
      const ca = await createRootCa({
        subject: 'CN=certctl OCSP bench CA',
        keyAlgorithm: 'ECDSA-P256',
        validityDays: 30,
      });
      const caId = `ica-bench${suffix}`;
      const issuerId = `iss-bench-${suffix}`;
      const keyPem = ca.keyPem ?? exportPrivateKeyPem(ca.signer.privateKey);
      await db.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, $1, 'LocalCA', '{}')`, [issuerId]);
      await db.query(
        `INSERT INTO issuer_cas (id, issuer_id, name, source, subject, serial_number, fingerprint_sha256, cert_pem,
                               key_algorithm, sealed_key, not_before, not_after)
       VALUES ($1, $2, 'root', 'generated', $3, $4, 'bench', $5, 'ECDSA-P256', $6, $7, $8)`,
        [
          caId,
          issuerId,
          ca.signer.subject,
          ca.signer.certificate.serialNumber.toLowerCase(),
          ca.signer.certPem,
          await box.seal({ private_key_pem: keyPem }, caKeyContext(caId)),
          ca.signer.notBefore,
          ca.signer.notAfter,
        ],
      );
      await db.query(
        `INSERT INTO managed_certificates (id, name, common_name, status, issuer_id) VALUES ($1, $1, 'bench', 'Active', $2)`,
        [`mc-bench-${suffix}`, issuerId],
      );
      const serials = Array.from({ length: SERIALS }, () => {
        const b = randomBytes(20);
        b[0] = (b[0] & 0x7f) | 1;
        return b.toString('hex');
      });
      const expiry = new Date(Date.now() + 7 * 86_400_000);
      for (const [i, serial] of serials.entries()) {
        await db.query(
          `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain,
                                           not_before, not_after, issuer_id, ca_id)
         VALUES ($1, $2, $3, 'x', 'x', now(), $4, $5, $6)`,
          [`cv-bench-${i}-${suffix}`, `mc-bench-${suffix}`, serial, expiry, issuerId, caId],
        );
      }
      // A tenth of them revoked, the same way in both responders.
      const revoked = new Set(serials.filter((_, i) => i % 10 === 0));
      for (const serial of revoked) {
        await db.query(
          `INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, reason_code, revoked_by, revoked_at)
         VALUES ($1, $2, $3, $4, 'keyCompromise', 1, 'bench', now() - interval '1 hour')`,
          [`rev-${serial.slice(0, 12)}`, `mc-bench-${suffix}`, issuerId, serial],
        );
      }

      // certctl in plain Node processes: as configured by default, and with no in-process cache.
      t.write('hook.js', SWC_HOOK);
      t.write('loadgen.js', LOADGEN);
      // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED successful(0), ... }
      t.write(
        'options.json',
        JSON.stringify({ headers: { 'content-type': 'application/ocsp-request' }, okHex: '0a0100' }),
      );
      const start = (env: Record<string, string>): Promise<number> =>
        startServerChild(__filename, t.path('hook.js'), { ...serverEnv, ...env, [SERVER_FLAG]: '1' }, servers);
      const [port, dbOnlyPort] = await Promise.all([start({}), start({ CERTCTL_OCSP_CACHE_MAX_ENTRIES: '0' })]);
      const url = `http://127.0.0.1:${port}/.well-known/pki/ocsp/${issuerId}`;
      const dbOnlyUrl = `http://127.0.0.1:${dbOnlyPort}/.well-known/pki/ocsp/${issuerId}`;

      // The same nonce-less requests for both responders.
      t.write('ca.pem', ca.signer.certPem);
      const bodies: string[] = [];
      for (const [i, serial] of serials.entries()) {
        t.ok(['ocsp', '-issuer', 'ca.pem', '-serial', `0x${serial}`, '-no_nonce', '-reqout', `r${i}.der`]);
        bodies.push(t.read(`r${i}.der`).toString('base64'));
      }
      t.write('bodies.json', JSON.stringify(bodies));
      // Warm certctl's caches (one signature per serial) and create its delegated responder.
      for (const u of [url, dbOnlyUrl]) {
        for (const b of bodies) {
          const res = await fetch(u, {
            method: 'POST',
            headers: { 'content-type': 'application/ocsp-request' },
            body: Buffer.from(b, 'base64'),
          });
          expect(res.status).toBe(200);
        }
      }
      const check = t.run([
        'ocsp',
        '-issuer',
        'ca.pem',
        '-serial',
        `0x${serials[1]}`,
        '-url',
        url,
        '-CAfile',
        'ca.pem',
      ]);
      expect(check.stdout).toContain(': good');

      // openssl gets the same responder certificate and key, and an index of the same serials.
      const responder = (
        await db.query<{ id: string; cert_pem: string; sealed_key: Buffer }>(
          `SELECT id, cert_pem, sealed_key FROM ocsp_responders WHERE ca_id = $1`,
          [caId],
        )
      ).rows[0];
      t.write('rsigner.pem', responder.cert_pem);
      t.write(
        'rkey.pem',
        String((await box.open(responder.sealed_key, ocspResponderKeyContext(responder.id))).private_key_pem),
      );
      const yymmdd = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
      const revokedAt = yymmdd(new Date(Date.now() - 3_600_000));
      t.write(
        'index.txt',
        serials
          .map((s, i) =>
            revoked.has(s)
              ? `R\t${yymmdd(expiry)}\t${revokedAt},keyCompromise\t${s.toUpperCase()}\tunknown\t/CN=bench-${i}`
              : `V\t${yymmdd(expiry)}\t\t${s.toUpperCase()}\tunknown\t/CN=bench-${i}`,
          )
          .join('\n') + '\n',
      );
      await db.end();

      const rows: Record<string, string | number>[] = [];
      for (const n of CONCURRENCY) {
        const load = (target: string) =>
          runLoadgen(t.path('loadgen.js'), [
            target,
            String(n),
            String(SECONDS),
            t.path('bodies.json'),
            t.path('options.json'),
          ]);
        const ours = await load(url);
        const dbOnly = await load(dbOnlyUrl);
        const script = [
          'ip link set lo up',
          `openssl ocsp -index index.txt -port 18888 -rsigner rsigner.pem -rkey rkey.pem -CA ca.pem -ignore_err 2>/dev/null &`,
          'sleep 0.5',
          `${JSON.stringify(process.execPath)} loadgen.js http://127.0.0.1:18888/ ${n} ${SECONDS} bodies.json options.json`,
          'kill %1 2>/dev/null || true',
        ].join('\n');
        const r = spawnSync('unshare', ['-n', 'bash', '-c', script], {
          cwd: t.dir,
          encoding: 'utf8',
          timeout: (SECONDS + 30) * 1000,
        });
        if (r.status !== 0 && !r.stdout.includes('rps')) throw new Error(`openssl run failed: ${r.stderr}`);
        const theirs = lastJson<Figures>(r.stdout);
        for (const [name, f] of [
          ['certctl (cached)', ours],
          ['certctl (no in-process cache)', dbOnly],
          ['openssl ocsp', theirs],
        ] as const) {
          rows.push({
            responder: name,
            connections: n,
            'responses/s': Math.round(f.rps),
            'p50 ms': f.p50.toFixed(2),
            'p99 ms': f.p99.toFixed(2),
            errors: f.errors,
          });
        }
        rows.push({
          responder: 'ratio certctl/openssl',
          connections: n,
          'responses/s': (ours.rps / theirs.rps).toFixed(2),
          'p50 ms': (ours.p50 / theirs.p50).toFixed(2),
          'p99 ms': (ours.p99 / theirs.p99).toFixed(2),
          errors: '',
        });
        expect(ours.ok).toBeGreaterThan(0);
        expect(dbOnly.ok).toBeGreaterThan(0);
        expect(theirs.ok).toBeGreaterThan(0);
      }
      process.stdout.write(
        table(
          `OCSP over HTTP/1.1 keep-alive, ${SECONDS}s per figure, ${SERIALS} serials (10% revoked), no nonce, P-256 delegated responder:`,
          rows,
        ),
      );
    });
  },
);
