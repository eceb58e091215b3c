import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The root package's version. The CLI and the MCP app ship in the root package (its `bin`
 * entries), so walk up from this file (src under jest, dist/apps/<app>/libs/api-client/src when
 * built) to the first package.json named certctl.
 */
function readVersion(): string {
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'certctl' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: keep walking up
    }
  }
  return '0.0.0-unknown';
}

export const CERTCTL_VERSION = readVersion();
