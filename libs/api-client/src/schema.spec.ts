import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
const SCHEMA = 'libs/api-client/src/schema.d.ts';

/** Runs a tool from node_modules/.bin in the repo root; throws with its stderr on failure. */
function run(tool: string, args: string[], input?: string): string {
  const r = spawnSync(join(ROOT, 'node_modules/.bin', tool), args, {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

describe('libs/api-client/src/schema.d.ts', () => {
  it('matches docs/openapi.json (run `npm run sdk` after `npm run openapi`)', () => {
    // The same two steps as `npm run sdk`, to stdout instead of the file.
    const generated = run('openapi-typescript', ['docs/openapi.json']);
    const fresh = run('prettier', ['--stdin-filepath', SCHEMA], generated);
    expect(fresh.length).toBeGreaterThan(10_000);
    expect(fresh).toContain("'/api/v1/agents/{id}/heartbeat'");
    expect(fresh === readFileSync(join(ROOT, SCHEMA), 'utf8')).toBe(true);
  });
});
