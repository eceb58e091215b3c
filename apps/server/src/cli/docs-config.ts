import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configReferenceDocument } from './config-reference';

/** `npm run docs:config`: writes docs/configuration-reference.md from the configuration loader. */
async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'docs/configuration-reference.md');
  writeFileSync(out, await configReferenceDocument());
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`docs:config: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
