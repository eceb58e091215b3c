/**
 * CERTCTL_ROLE: what one server process does, so API replicas and queue workers can be
 * scaled apart (the Helm chart's worker Deployment).
 *
 * - `all` (default): everything below in one process.
 * - `api`: HTTP API and protocol endpoints (EST, SCEP, ACME, CRL/OCSP). Enqueues work, and
 *   still runs jobs a request waits for in-process (enrollment), but consumes no queue and
 *   runs no scheduler loop: an `api`-only deployment needs at least one `worker` or `all`.
 * - `worker`: queue consumers and scheduler loops; its listener answers the probes and the
 *   metrics scrape only (see worker-http-gate.ts).
 *
 * Every switch reads one of the two predicates below, so the meaning of a role lives here.
 */
export const PROCESS_ROLES = ['all', 'api', 'worker'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** Consumes BullMQ queues, schedules the periodic loops and listens for new notifications. */
export function runsBackgroundWork(role: ProcessRole): boolean {
  return role !== 'api';
}

/** Serves /api/v1, the Swagger UI and the protocol endpoints. */
export function servesApi(role: ProcessRole): boolean {
  return role !== 'worker';
}
