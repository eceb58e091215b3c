/**
 * Inventory list benchmark: 100,000 managed certificates in a database of its own, then
 * the real server (in-process, real HTTP on a loopback port) walked page by page.
 *
 *   npm run bench:inventory
 *
 * Environment: CERTCTL_BENCH_PG_URL (default CERTCTL_TEST_PG_URL or the local postgres),
 * CERTCTL_BENCH_REDIS_URL (default redis://127.0.0.1:6379); CERTCTL_BENCH_KEEP_DB=1 keeps the
 * loaded database for EXPLAIN ANALYZE afterwards (its URL is printed). Prints figures;
 * asserts only that the run completed.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Client } from 'pg';
import { IdPrefix, newId } from '@certctl/domain';
import { displayPrefix, generateApiKey, hashApiKey } from '../apps/server/src/auth/api-key';
import { AuthRepository } from '../apps/server/src/auth/auth.repository';
import { loadConfig } from '../apps/server/src/config/config.schema';
import { ensureDatabaseExists, runMigrationsLocked } from '../apps/server/src/database/database-bootstrap';
import { EXPIRY_SORT_LAST } from '../apps/server/src/certificates/certificates.repository';
import { createServerApp } from '../apps/server/src/server-app';
import { deleteRedisPrefix } from '../test/integration/global-teardown';

const CERTIFICATES = 100_000;
const PAGES = 600;
const PAGE_SIZE = 100;
const COUNT_RUNS = 100;
const WARMUP = 20;

const suffix = randomBytes(4).toString('hex');
const baseUrl =
  process.env.CERTCTL_BENCH_PG_URL ?? process.env.CERTCTL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.CERTCTL_BENCH_REDIS_URL ?? process.env.CERTCTL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const dbUrl = (() => {
  const u = new URL(baseUrl);
  u.pathname = `/certctl_bench_${suffix}`;
  return u.toString();
})();
const redisPrefix = `certctl_bench_${suffix}`;

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summarize(name: string, samples: number[]): Record<string, string | number> {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const ms = (v: number) => v.toFixed(2);
  return {
    measurement: name,
    runs: s.length,
    'p50 ms': ms(percentile(s, 50)),
    'p95 ms': ms(percentile(s, 95)),
    'p99 ms': ms(percentile(s, 99)),
    'max ms': ms(s[s.length - 1]),
    'mean ms': ms(mean),
  };
}

function printTable(rows: Record<string, string | number>[]): void {
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
  const out = [
    line(cols),
    `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map((r) => line(cols.map((c) => String(r[c])))),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * Reference rows, then 100k certificates with a realistic spread: statuses weighted like
 * a live fleet, expiries over two years (some past), creation over the last two years,
 * owners/teams/issuers/agents spread, one version for every issued certificate and
 * target mappings for half of them. One INSERT ... SELECT generate_series per table.
 */
async function load(c: Client): Promise<void> {
  await c.query(`INSERT INTO teams (id, name) SELECT 'team-b' || i, 'Team ' || i FROM generate_series(1, 20) i`);
  await c.query(
    `INSERT INTO owners (id, name, email, team_id)
     SELECT 'o-b' || i, 'Owner ' || i, 'owner' || i || '@example.com', 'team-b' || (1 + i % 20)
       FROM generate_series(1, 200) i`,
  );
  await c.query(
    `INSERT INTO issuers (id, name, type)
     SELECT 'iss-b' || i, 'Issuer ' || i, (ARRAY['LocalCA', 'ACME', 'VaultPKI', 'StepCA', 'DigiCert'])[i]
       FROM generate_series(1, 5) i`,
  );
  await c.query(
    `INSERT INTO agents (id, name, status) SELECT 'ag-b' || i, 'agent-' || i, 'Online' FROM generate_series(1, 100) i`,
  );
  await c.query(
    `INSERT INTO deployment_targets (id, name, type, agent_id)
     SELECT 't-b' || i, 'target-' || i, 'NGINX', 'ag-b' || (1 + i % 100) FROM generate_series(1, 500) i`,
  );
  await c.query(
    `INSERT INTO managed_certificates
       (id, name, common_name, sans, environment, owner_id, team_id, issuer_id, agent_id, status,
        expires_at, tags, archived_at, created_at, updated_at)
     SELECT 'mc-b' || lpad(i::text, 6, '0'),
            'cert ' || i,
            'svc' || i || '.example.com',
            ARRAY['svc' || i || '.example.com', 'www.svc' || i || '.example.com'],
            (ARRAY['production', 'staging', 'development', 'qa'])[1 + i % 4],
            'o-b' || (1 + i % 200),
            'team-b' || (1 + i % 20),
            'iss-b' || (1 + i % 5),
            'ag-b' || (1 + i % 100),
            s.status,
            CASE WHEN s.status = 'Pending' THEN NULL
                 WHEN s.status = 'Expired' THEN now() - (r.e * interval '90 days')
                 WHEN s.status = 'Expiring' THEN now() + (r.e * interval '30 days')
                 ELSE now() - interval '30 days' + (r.e * interval '730 days') END,
            jsonb_build_object('service', 'svc' || (i % 1000)),
            CASE WHEN s.status = 'Archived' THEN now() - (r.c * interval '365 days') END,
            now() - (r.c * interval '730 days'),
            now() - (r.c * interval '365 days')
       FROM generate_series(1, ${CERTIFICATES}) i
      CROSS JOIN LATERAL (SELECT random() AS p, random() AS e, random() AS c, i AS k) r
      CROSS JOIN LATERAL (
             SELECT CASE WHEN r.p < 0.70 THEN 'Active'
                         WHEN r.p < 0.78 THEN 'Expiring'
                         WHEN r.p < 0.82 THEN 'Expired'
                         WHEN r.p < 0.87 THEN 'Pending'
                         WHEN r.p < 0.90 THEN 'RenewalInProgress'
                         WHEN r.p < 0.92 THEN 'Failed'
                         WHEN r.p < 0.95 THEN 'Revoked'
                         ELSE 'Archived' END AS status) s`,
  );
  await c.query(
    `INSERT INTO certificate_versions
       (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after,
        key_algorithm, key_size, created_at)
     SELECT 'cv-' || c.id, c.id, md5(c.id), encode(sha256(c.id::bytea), 'hex'),
            '-----BEGIN CERTIFICATE-----' || chr(10) || md5(c.id) || chr(10) || '-----END CERTIFICATE-----',
            c.expires_at - interval '90 days', c.expires_at, 'ECDSA', 256, c.expires_at - interval '90 days'
       FROM managed_certificates c
      WHERE c.expires_at IS NOT NULL`,
  );
  await c.query(
    `INSERT INTO certificate_target_mappings (certificate_id, target_id)
     SELECT c.id, 't-b' || (1 + abs(hashtext(c.id)) % 500)
       FROM managed_certificates c
      WHERE hashtext(c.id) % 2 = 0`,
  );
  await c.query('VACUUM ANALYZE');
}

describe('inventory benchmark', () => {
  let admin: Client;
  let db: Client;
  let app: NestExpressApplication | undefined;

  beforeAll(async () => {
    const adminUrl = new URL(baseUrl);
    adminUrl.pathname = '/postgres';
    admin = new Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    await ensureDatabaseExists(dbUrl);
    await runMigrationsLocked(dbUrl);
    db = new Client({ connectionString: dbUrl });
    await db.connect();
  });

  afterAll(async () => {
    await app?.close();
    await db?.end();
    if (process.env.CERTCTL_BENCH_KEEP_DB === '1') process.stdout.write(`kept ${dbUrl}\n`);
    else await admin.query(`DROP DATABASE IF EXISTS "certctl_bench_${suffix}" WITH (FORCE)`);
    await admin.end();
    await deleteRedisPrefix(redisUrl, redisPrefix);
  });

  it('lists 100,000 managed certificates by cursor within budget', async () => {
    const t0 = performance.now();
    await load(db);
    const loadMs = performance.now() - t0;
    const counts = (await db.query(`SELECT count(*)::int AS n FROM managed_certificates`)).rows[0] as { n: number };
    process.stdout.write(
      `\nloaded ${counts.n} managed certificates (+ versions, mappings) in ${(loadMs / 1000).toFixed(1)} s\n`,
    );

    const config = loadConfig({
      CERTCTL_DATABASE_URL: dbUrl,
      CERTCTL_REDIS_URL: redisUrl,
      CERTCTL_REDIS_PREFIX: redisPrefix,
      CERTCTL_LOG_LEVEL: 'silent',
      CERTCTL_RATE_LIMIT_ENABLED: 'false',
    });
    app = await createServerApp(config, undefined, { logger: false, swagger: false });
    await app.listen(0, '127.0.0.1');
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const key = generateApiKey();
    const keyId = newId(IdPrefix.ApiKey);
    const auth = app.get(AuthRepository);
    await auth.transaction((m) =>
      auth.insertKeyWithRoles(
        m,
        {
          id: keyId,
          name: 'bench',
          actorId: keyId,
          actorType: 'ApiKey',
          keyHash: hashApiKey(key),
          keyPrefix: displayPrefix(key),
          createdBy: 'bench',
          expiresAt: null,
        },
        ['role-viewer'],
        'bench',
      ),
    );

    /** One full HTTP request (headers to parsed body), timed. */
    const timedGet = async (path: string): Promise<{ ms: number; body: Record<string, unknown> }> => {
      const start = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${key}` } });
      const body = (await res.json()) as Record<string, unknown>;
      const ms = performance.now() - start;
      if (res.status !== 200) throw new Error(`${path} -> ${res.status} ${JSON.stringify(body)}`);
      return { ms, body };
    };

    for (let i = 0; i < WARMUP; i++) await timedGet(`/api/v1/certificates?sort=expiresAt&page_size=${PAGE_SIZE}`);

    // 1. Walk forward by expiry, page after page.
    const pageMs: number[] = [];
    let cursor: string | null = null;
    let rows = 0;
    let lastExpiry = '';
    let lastId = '';
    let ordered = true;
    for (let i = 0; i < PAGES; i++) {
      const path = `/api/v1/certificates?sort=expiresAt&page_size=${PAGE_SIZE}${cursor ? `&cursor=${cursor}` : ''}`;
      const { ms, body } = await timedGet(path);
      pageMs.push(ms);
      const data = body.data as { id: string; expires_at: string | null }[];
      for (const c of data) {
        if (c.expires_at !== null && c.expires_at < lastExpiry) ordered = false;
        if (c.expires_at !== null) lastExpiry = c.expires_at;
        lastId = c.id;
      }
      rows += data.length;
      cursor = body.next_cursor as string | null;
      if (!cursor) break;
    }

    // 2. The dashboard's "active, expiring within 30 days" count.
    const soon = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const countMs: number[] = [];
    let total = 0;
    for (let i = 0; i < COUNT_RUNS; i++) {
      const { ms, body } = await timedGet(`/api/v1/certificates?status=Active&expires_before=${soon}&page_size=1`);
      countMs.push(ms);
      total = body.total as number;
    }

    // 3. Baseline: one certificate by id (auth, audit hook, serialization, no list work).
    const getMs: number[] = [];
    for (let i = 0; i < COUNT_RUNS; i++) {
      getMs.push((await timedGet(`/api/v1/certificates/mc-b${String(1 + i * 997).padStart(6, '0')}`)).ms);
    }

    // 4. A deep page in page mode, for contrast (OFFSET walks everything it skips).
    const offsetMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      offsetMs.push((await timedGet(`/api/v1/certificates?sort=expiresAt&per_page=${PAGE_SIZE}&page=500`)).ms);
    }

    process.stdout.write(
      `\ncursor walk: ${pageMs.length} pages of ${PAGE_SIZE} (${rows} rows) sorted by expiresAt, ordered=${ordered}\n` +
        `filtered count: status=Active&expires_before=+30d -> total ${total}\n\n`,
    );
    printTable([
      summarize(`GET /certificates?sort=expiresAt&page_size=${PAGE_SIZE}&cursor=… (walk)`, pageMs),
      summarize('GET /certificates?status=Active&expires_before=+30d (count)', countMs),
      summarize('GET /certificates/{id} (baseline)', getMs),
      summarize(`GET /certificates?sort=expiresAt&per_page=${PAGE_SIZE}&page=500 (offset)`, offsetMs),
    ]);
    const p99 = percentile(
      [...pageMs].sort((a, b) => a - b),
      99,
    );
    process.stdout.write(`\ncursor page p99 ${p99.toFixed(2)} ms (target < 30 ms): ${p99 < 30 ? 'met' : 'MISSED'}\n`);

    // The plans behind those figures, at the walk's deepest position.
    const plan = async (label: string, sql: string, params: unknown[]) => {
      const lines = (await db.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params)).rows.map(
        (r: Record<string, string>) => r['QUERY PLAN'],
      );
      const scans = lines.filter((l) => /Scan|Execution Time/.test(l)).map((l) => `    ${l.trim()}`);
      process.stdout.write(`\n${label}\n${scans.join('\n')}\n`);
    };
    await plan(
      'keyset page (sort=expiresAt, deepest cursor):',
      `SELECT c.id FROM managed_certificates c
        WHERE c.archived_at IS NULL AND (${EXPIRY_SORT_LAST}, c.id) > (CAST($1 AS timestamptz), $2)
        ORDER BY ${EXPIRY_SORT_LAST} ASC, c.id ASC LIMIT ${PAGE_SIZE + 1}`,
      [lastExpiry, lastId],
    );
    await plan(
      'list total (every page):',
      `SELECT count(1) FROM managed_certificates c WHERE c.archived_at IS NULL`,
      [],
    );
    await plan(
      'filtered total (status=Active&expires_before=+30d):',
      `SELECT count(1) FROM managed_certificates c
        WHERE c.status IN ('Active') AND c.archived_at IS NULL AND c.expires_at < CAST($1 AS timestamptz)`,
      [soon],
    );

    expect(pageMs.length).toBeGreaterThanOrEqual(500);
    expect(ordered).toBe(true);
    expect(countMs).toHaveLength(COUNT_RUNS);
  });
});
