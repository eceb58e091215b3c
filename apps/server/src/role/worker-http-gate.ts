import type { NextFunction, Response } from 'express';
import { errorBody } from '../http/error-body';
import type { CertctlRequest } from '../http/request-context';

/**
 * What a `worker` replica answers on its port: the probes, and the metrics scrape (workers
 * count the loop and delivery outcomes, so Prometheus needs them too; the route keeps its
 * metrics.read check). Nothing else: a worker is not behind the Service, and exposing the
 * API there would give it a second, unwatched entry point.
 */
export const WORKER_ROUTES: readonly string[] = ['/health', '/ready', '/api/v1/metrics/prometheus'];

/** Express middleware, mounted before every route (Swagger UI included) on worker replicas. */
export function workerHttpGate(req: CertctlRequest, res: Response, next: NextFunction): void {
  const path = (req.originalUrl ?? req.url).split('?')[0];
  if ((req.method === 'GET' || req.method === 'HEAD') && WORKER_ROUTES.includes(path)) return next();
  res
    .status(404)
    .json(
      errorBody(
        404,
        `this replica runs CERTCTL_ROLE=worker and serves only ${WORKER_ROUTES.join(', ')}; send API requests to an api or all replica`,
        req.id,
      ),
    );
}
