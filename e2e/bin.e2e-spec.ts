import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The root package's `bin` entries (what `npx certctl-cli` / `npx certctl-mcp` run) start the
 * built apps as their main module. (The build-on-first-run path is not exercised here: the
 * suite runs after `npm run build`, and removing dist/ would pull it from under other tests.)
 */
const root = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};
const run = promisify(execFile);

test('certctl-cli from the package bin prints its version', async () => {
  const { stdout } = await run(process.execPath, [join(root, pkg.bin['certctl-cli']), 'version', '--format', 'json'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '' },
  });
  expect(JSON.parse(stdout)).toEqual({ cli: pkg.version });
});

test('certctl-mcp from the package bin starts the app, which refuses to run without its settings', async () => {
  const failed = await run(process.execPath, [join(root, pkg.bin['certctl-mcp'])], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '' },
  }).then(
    () => undefined,
    (e: { code?: number; stdout?: string; stderr?: string }) => e,
  );
  expect(failed?.code).toBe(2);
  expect(failed?.stdout).toBe('');
  expect(failed?.stderr).toContain('CERTCTL_SERVER_URL is not set');
});
