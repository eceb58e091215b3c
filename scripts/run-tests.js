#!/usr/bin/env node
// Runs the whole jest suite (unit, integration, e2e) and ends with one plain summary line,
// `N passed, N failed`, read from jest's JSON result (CI does not parse jest's own summary).
const { spawnSync } = require('node:child_process');
const { readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const out = join(root, '.jest-results.json');
rmSync(out, { force: true });
const jest = require.resolve('jest/bin/jest');
// One process runs every suite (two cores: jest would use a single worker anyway), and its heap
// grows with each suite's app instances: at Node's default limit (about 4 GB) the garbage
// collector thrashes and the last suites run several times slower. The machine has the memory.
const run = spawnSync(
  process.execPath,
  ['--max-old-space-size=12288', jest, '--ci', '--json', `--outputFile=${out}`, ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TZ: 'UTC' },
  },
);

let passed = 0;
let failed = 0;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  if (r.numPendingTests || r.numTodoTests) {
    console.error(`tests skipped or todo: ${r.numPendingTests + r.numTodoTests} (not allowed)`);
    failed += r.numPendingTests + r.numTodoTests;
  }
} catch (e) {
  console.error(`no jest result file: ${e.message}`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
