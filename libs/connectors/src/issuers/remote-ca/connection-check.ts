import type { ConnectorCheck } from '../../connector';

/**
 * Runs a connector's connection test: the verdict the test returns, or a failed check with
 * the message of whatever it threw (the API's error, unreachable host, bad TLS, ...). The
 * test endpoint reports the outcome; it must not turn into an error response itself.
 */
export async function connectionCheck(test: () => Promise<ConnectorCheck>): Promise<ConnectorCheck> {
  try {
    return await test();
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}
