#!/usr/bin/env node
// Runs the whole jest suite (unit, integration, e2e) and ends with one plain summary line,
// `N passed, N failed`, summed from jest's JSON results (CI does not parse jest's own summary).
//
// Three jest processes run side by side: the integration tier in two shards (split by cost,
// test/jest-sequencer.js), and unit + e2e. Each integration shard has its own globalSetup, so
// its own database and Redis prefix, exactly like a whole run: files that share a database
// never run at the same time. e2e servers make their own databases. Inside a process, files
// run one at a time in a worker that is replaced once it holds more than WORKER_MEMORY after
// a file: the in-process apps of hundreds of files leave enough behind to slow a single
// long-lived process severalfold (measured: a fuzzer 46 s alone, 150 s late in one process).
//
// `node scripts/run-tests.js <jest args>` runs one jest process with those arguments instead.
const { spawn } = require('node:child_process');
const { readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { createInterface } = require('node:readline');

const root = join(__dirname, '..');
const jest = require.resolve('jest/bin/jest');
const WORKER_MEMORY = '1500MB';

const passThrough = process.argv.slice(2);
const groups = passThrough.length
  ? [{ name: 'jest', args: passThrough }]
  : [
      { name: 'int-1', args: ['--selectProjects', 'integration', '--shard=1/2'] },
      { name: 'int-2', args: ['--selectProjects', 'integration', '--shard=2/2'] },
      { name: 'unit+e2e', args: ['--selectProjects', 'unit', 'e2e'] },
    ];

function run(group) {
  const out = join(root, `.jest-results.${group.name}.json`);
  rmSync(out, { force: true });
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      '--max-old-space-size=4096',
      jest,
      '--ci',
      '--json',
      `--outputFile=${out}`,
      '--maxWorkers=1',
      `--workerIdleMemoryLimit=${WORKER_MEMORY}`,
      ...group.args,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } },
  );
  // Lines of the three processes interleave: each carries its process's name.
  const prefix = groups.length > 1 ? `[${group.name}] ` : '';
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  }
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      let result;
      try {
        result = JSON.parse(readFileSync(out, 'utf8'));
      } catch (e) {
        console.error(`${prefix}no jest result file: ${e.message}`);
      }
      resolve({ group, code: code ?? signal, seconds, result });
    });
  });
}

(async () => {
  const runs = await Promise.all(groups.map(run));
  let passed = 0;
  let failed = 0;
  for (const { group, code, seconds, result } of runs) {
    const r = result ?? { numPassedTests: 0, numFailedTests: 0, numRuntimeErrorTestSuites: 0, testResults: [] };
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    const groupFailed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0) + skipped + (result ? 0 : 1);
    passed += r.numPassedTests;
    failed += groupFailed;
    console.log(`${group.name}: ${r.numPassedTests} passed, ${groupFailed} failed in ${seconds} s (exit ${code})`);
    if (skipped) console.error(`${group.name}: tests skipped or todo: ${skipped} (not allowed)`);
    for (const file of r.testResults.filter((f) => f.status !== 'passed')) {
      console.log(`  failed: ${file.name.replace(`${root}/`, '')}`);
    }
    // jest exited non-zero with every test passing: a failed globalSetup/teardown or a crash.
    if (code !== 0 && groupFailed === 0) failed += 1;
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
})();
