/**
 * ACME server benchmark over real HTTPS: complete certificate flows per second
 * (newOrder -> finalize -> certificate download) with N ACME accounts working at once, in
 * `trust_authenticated` mode (authorizations are valid at once, so a flow is three signed
 * requests and one issuance).
 *
 *   npm run bench:acme
 *
 * Workload: each account (ES256 key, registered before the clock starts) runs flows one
 * after another, like a client renewing many certificates: newOrder for one DNS name,
 * finalize with a CSR of a fresh P-256 key (made before the clock starts), POST-as-GET of
 * the certificate chain. JWS are built with jose in this process, and each request reuses
 * the Replay-Nonce of the previous answer (as clients do), so no newNonce round trips. A
 * flow counts when the order is `valid` after finalize and the download is a PEM chain.
 * certctl runs as the built app in a child process (TLS 1.3, Postgres, Redis, no profile:
 * the issuer's rules alone, no approval); each issuance makes a managed certificate, an
 * Issuance job, the signature, the version record and the audit rows.
 *
 * Environment: BENCH_ACME_FLOWS (flows per figure, default 200), BENCH_CONCURRENCY
 * (accounts, default "1,8"), CERTCTL_BENCH_PG_URL, CERTCTL_BENCH_REDIS_URL, BENCH_CPU_PROF=<dir>.
 */
import 'reflect-metadata';
import { Agent, request } from 'node:https';
import { createSelfSignedTlsBundle, generateKeyPair } from '@certctl/pki';
import { acmeKey, signJws, type AcmeKey } from '../e2e/support/acme-jws';
import { csrDer } from '../e2e/support/acme-supertest';
import { benchStore, benchSuite, startServerChild, SWC_HOOK, table } from './support/bench-kit';

const FLOWS = Number(process.env.BENCH_ACME_FLOWS ?? 200);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);
const WARMUP = 10;
const SERVER_FLAG = 'CERTCTL_ACME_BENCH_SERVER';

const store = benchStore('acme', 'acme-bench-encryption-key-0123456789abcdef');
const issuerId = `iss-bench-${store.suffix}`;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTPS client of the server under test with its own keep-alive connection. */
class Connection {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    ca: string,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  }

  send(method: 'GET' | 'HEAD' | 'POST', path: string, body?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method,
          agent: this.agent,
          headers: body === undefined ? {} : { 'content-type': 'application/jose+json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One ACME account and its connection: signs each request with the last Replay-Nonce. */
class BenchAccount {
  kid = '';
  private nonce = '';

  constructor(
    private readonly conn: Connection,
    private readonly base: string,
    private readonly key: AcmeKey,
  ) {}

  async post(url: string, payload: unknown, jwk = false): Promise<Reply> {
    if (!this.nonce) {
      this.nonce = String((await this.conn.send('HEAD', '/acme/new-nonce')).headers['replay-nonce']);
    }
    const header: Record<string, unknown> = {
      url,
      nonce: this.nonce,
      ...(jwk ? { jwk: this.key.jwk } : { kid: this.kid }),
    };
    const jws = await signJws(this.key, header, payload);
    const r = await this.conn.send('POST', url.slice(this.base.length), JSON.stringify(jws));
    this.nonce = String(r.headers['replay-nonce'] ?? '');
    return r;
  }

  async register(): Promise<void> {
    const r = await this.post(`${this.base}/acme/new-account`, { termsOfServiceAgreed: true }, true);
    if (r.status !== 201) throw new Error(`newAccount answered ${r.status}: ${r.body}`);
    this.kid = String(r.headers.location);
  }

  /** One flow; resolves true when it ended with a downloaded chain. */
  async flow(name: string, csr: string): Promise<boolean> {
    const created = await this.post(`${this.base}/acme/new-order`, { identifiers: [{ type: 'dns', value: name }] });
    if (created.status !== 201) return false;
    const order = JSON.parse(created.body) as { finalize: string };
    const fin = await this.post(order.finalize, { csr });
    if (fin.status !== 200) return false;
    const done = JSON.parse(fin.body) as { status: string; certificate?: string };
    if (done.status !== 'valid' || !done.certificate) return false;
    const cert = await this.post(done.certificate, '');
    return cert.status === 200 && cert.body.startsWith('-----BEGIN CERTIFICATE-----');
  }
}

benchSuite(
  'ACME throughput: newOrder -> finalize -> download flows per second',
  { serverFlag: SERVER_FLAG, store },
  (t, servers) => {
    it('prints flows/s and flow p50/p99 for 1 and 8 concurrent accounts', async () => {
      await store.insertLocalCaIssuer(issuerId);

      t.write('hook.js', SWC_HOOK);
      const tls = await createSelfSignedTlsBundle({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const port = await startServerChild(
        __filename,
        t.path('hook.js'),
        {
          ...store.serverEnv,
          CERTCTL_ACME_SERVER_ENABLED: 'true',
          CERTCTL_ACME_SERVER_ISSUER_ID: issuerId,
          CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: 'trust_authenticated',
          // Limits off: the figure is the issuance path, not the rate limiter.
          CERTCTL_ACME_SERVER_RATE_LIMIT_ORDERS_PER_HOUR: '0',
          CERTCTL_ACME_SERVER_RATE_LIMIT_CONCURRENT_ORDERS: '0',
          BENCH_TLS: JSON.stringify({ key: tls.keyPem, cert: tls.certPem + tls.caCertPem }),
          [SERVER_FLAG]: '1',
        },
        servers,
      );
      const base = `https://127.0.0.1:${port}`;

      const rows: Record<string, string | number>[] = [];
      for (const n of CONCURRENCY) {
        const conns = Array.from({ length: n }, () => new Connection(port, tls.caCertPem));
        const accounts = await Promise.all(
          conns.map(async (c) => {
            const a = new BenchAccount(c, base, await acmeKey('ES256'));
            await a.register();
            return a;
          }),
        );
        // A fresh key and CSR per flow (a repeated key would be a re-enrollment of the same request).
        const total = FLOWS + WARMUP;
        const work: { name: string; csr: string }[] = [];
        for (let i = 0; i < total; i++) {
          const name = `f${n}-${i}.acme.bench`;
          work.push({ name, csr: await csrDer(await generateKeyPair('ECDSA-P256'), { dns: [name] }) });
        }
        let next = 0;
        const lat: number[] = [];
        let errors = 0;
        const run = async (a: BenchAccount, upTo: number, record: boolean) => {
          while (next < upTo) {
            const w = work[next++];
            const t0 = performance.now();
            const ok = await a.flow(w.name, w.csr).catch(() => false);
            if (!record) continue;
            if (ok) lat.push(performance.now() - t0);
            else errors++;
          }
        };
        await Promise.all(accounts.map((a) => run(a, WARMUP, false)));
        const t0 = performance.now();
        await Promise.all(accounts.map((a) => run(a, total, true)));
        const elapsed = (performance.now() - t0) / 1000;
        for (const c of conns) c.close();
        lat.sort((a, b) => a - b);
        const p = (q: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)] : NaN);
        rows.push({
          accounts: n,
          flows: lat.length,
          'flows/s': (lat.length / elapsed).toFixed(1),
          'requests/s': ((3 * lat.length) / elapsed).toFixed(1),
          'flow p50 ms': p(0.5).toFixed(1),
          'flow p99 ms': p(0.99).toFixed(1),
          errors,
        });
        expect(errors).toBe(0);
        expect(lat.length).toBe(FLOWS);
      }
      process.stdout.write(
        table(
          `ACME flows (newOrder -> finalize -> download, trust_authenticated, ES256 accounts, P-256 CSRs) over HTTPS keep-alive on loopback, ${FLOWS} flows per figure:`,
          rows,
        ),
      );
    });
  },
);
