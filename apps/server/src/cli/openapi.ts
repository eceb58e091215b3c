import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../config/config.schema';
import { renderOpenApiDocument } from '../openapi/openapi-export';

/** `npm run openapi`: writes docs/openapi.json from the controllers (no database needed). */
async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'docs/openapi.json');
  writeFileSync(out, await renderOpenApiDocument(loadConfig({})));
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`openapi: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
