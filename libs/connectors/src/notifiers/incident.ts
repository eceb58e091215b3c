import { randomUUID } from 'node:crypto';
import type { ConnectorCheck } from '../connector';
import { TEST_MESSAGE, type NotifierConnector } from './notifier-port';

/**
 * The `test` action of an incident channel (PagerDuty, OpsGenie): a trigger followed by its
 * resolve under a fresh key, so the check leaves no open incident behind.
 */
export async function testByTriggerAndResolve(n: NotifierConnector): Promise<ConnectorCheck> {
  const dedupKey = `certctl-test-${randomUUID()}`;
  try {
    await n.send({ ...TEST_MESSAGE, dedupKey });
    const closed = await n.send({ ...TEST_MESSAGE, dedupKey, resolve: true });
    return { ok: true, message: `test incident opened and resolved (${closed.detail})` };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}
