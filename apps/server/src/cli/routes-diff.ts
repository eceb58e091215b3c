import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../config/config.schema';
import { routeKey, routeTable } from '../openapi/route-table';
import { createServerApp } from '../server-app';

/**
 * `npm run routes:diff [reference file]`: which METHOD PATH pairs of certctl's route list
 * this server does not serve yet (and, for information, what it serves beyond the list).
 */
async function main(): Promise<void> {
  const file = resolve(process.argv[2] ?? '../shared/reference/api-routes.txt');
  const reference = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(GET|POST|PUT|PATCH|DELETE|HEAD) \//.test(l));
  const app = await createServerApp(loadConfig({}), undefined, { preview: true, logger: false, swagger: false });
  const served = new Set(routeTable(app).map((r) => routeKey(r.method, r.path)));
  // A trailing wildcard (`ocsp/{}/*request`) also serves the one-segment form the reference
  // names (`ocsp/{issuer_id}/{serial}`).
  for (const key of [...served]) if (/\/\*\w+$/.test(key)) served.add(key.replace(/\/\*\w+$/, '/{}'));
  const refKeys = new Set(reference.map((l) => routeKey(l.split(' ')[0], l.split(' ')[1])));
  await app.close();

  const missing = reference.filter((l) => !served.has(routeKey(l.split(' ')[0], l.split(' ')[1])));
  const extra = [...served].filter((k) => !refKeys.has(k)).sort();
  process.stdout.write(`reference: ${reference.length} routes (${file})\n`);
  process.stdout.write(`served:    ${reference.length - missing.length} of them\n`);
  process.stdout.write(`missing:   ${missing.length}\n`);
  for (const l of missing) process.stdout.write(`  ${l}\n`);
  if (extra.length) {
    process.stdout.write(`beyond the reference: ${extra.length}\n`);
    for (const k of extra) process.stdout.write(`  ${k}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`routes:diff: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
