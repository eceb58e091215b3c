'use strict';
// Runs a built app of this package (dist/apps/<app>/apps/<app>/src/main.js). Right after
// `npm install` nothing is built yet: the first run builds that one app with the Nest CLI
// (a few seconds), its output on stderr so an MCP client's stdout stays protocol-only.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

module.exports = function launch(app) {
  const root = join(__dirname, '..');
  const entry = join(root, 'dist', 'apps', app, 'apps', app, 'src', 'main.js');
  if (!existsSync(entry)) {
    let nest;
    try {
      nest = require.resolve('@nestjs/cli/bin/nest.js', { paths: [root] });
    } catch {
      process.stderr.write(
        `certctl-${app}: ${entry} is missing and the Nest CLI is not installed: run npm install && npm run build\n`,
      );
      process.exit(1);
    }
    process.stderr.write(`certctl-${app}: first run, building ${app}...\n`);
    const built = spawnSync(process.execPath, [nest, 'build', app], { cwd: root, stdio: ['ignore', 2, 2] });
    if (built.status !== 0 || !existsSync(entry)) {
      process.stderr.write(`certctl-${app}: the build failed: run npm run build to see why\n`);
      process.exit(1);
    }
  }
  // Run it as the main module (the apps only start when they are require.main).
  process.argv[1] = entry;
  require('node:module').runMain();
};
