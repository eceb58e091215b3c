import type { DiscoveryReport, ServerApi } from '../api/server-api';
import { errorText, type AgentLogger } from '../logging/agent-logger';
import type { DiscoveryScanner } from '../tokens';
import { isApiError } from '@certctl/api-client';

/** The server takes at most this many certificates per report. */
export const REPORT_CHUNK = 1000;

/**
 * One filesystem discovery pass: scan the configured directories and post what was found
 * (in chunks of REPORT_CHUNK; an empty scan is reported too, so the server sees the scan ran).
 */
export async function runDiscovery(
  dirs: readonly string[],
  deps: { api: ServerApi; scan: DiscoveryScanner; log: AgentLogger; signal?: AbortSignal },
): Promise<{ found: number; errors: number }> {
  const started = new Date();
  const result = await deps.scan(dirs, { signal: deps.signal });
  const finished = new Date();
  const scan: DiscoveryReport['scan'] = {
    source: 'filesystem',
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    directories: [...dirs],
    errors: result.errors.slice(0, 1000).map((e) => ({ path: e.path, message: e.message.slice(0, 2000) })),
  };
  // The API takes an absent CN, not null.
  const certs: DiscoveryReport['certificates'] = result.certificates.map(({ common_name, ...c }) => ({
    ...c,
    ...(common_name !== null ? { common_name } : {}),
  }));
  try {
    for (let i = 0; i === 0 || i < certs.length; i += REPORT_CHUNK) {
      await deps.api.reportDiscoveries({ scan, certificates: certs.slice(i, i + REPORT_CHUNK) });
    }
  } catch (e) {
    if (isApiError(e, 404)) {
      deps.log.warn('the server does not take discovery reports (404); skipping this pass', { error: errorText(e) });
      return { found: certs.length, errors: result.errors.length };
    }
    throw e;
  }
  deps.log.info('discovery reported', {
    directories: dirs,
    certificates: certs.length,
    errors: result.errors.length,
    files_scanned: result.filesScanned,
  });
  return { found: certs.length, errors: result.errors.length };
}
