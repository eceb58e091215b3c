import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function readVersion(): string {
  // src -> repo root (jest) or dist/apps/agent/apps/agent/src -> repo root (built)
  for (const up of ['../../..', '../../../../../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'certctl' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0-unknown';
}

export const AGENT_VERSION = readVersion();
