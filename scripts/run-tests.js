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
const run = spawnSync(process.execPath, [jest, '--ci', '--json', `--outputFile=${out}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TZ: 'UTC' },
});

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
