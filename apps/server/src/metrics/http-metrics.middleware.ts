import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import type { CertctlRequest } from '../http/request-context';
import { MetricsService } from './metrics.service';

/**
 * Observes request duration labelled by the route template (`/api/v1/audit/:id`), never
 * the raw path, so label cardinality stays bounded.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(req: CertctlRequest, res: Response, next: NextFunction): void {
    const started = req.startedAt ?? process.hrtime.bigint();
    res.once('finish', () => {
      const routePath = (req.route as { path?: unknown } | undefined)?.path;
      // Requests refused by middleware (413, 415) or matching no controller carry the
      // middleware's own catch-all pattern, not a route template.
      const route = typeof routePath === 'string' && !routePath.includes('*') ? req.baseUrl + routePath : 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
    });
    next();
  }
}
