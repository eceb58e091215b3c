import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import { IdPrefix, newId } from '@certctl/domain';
import type { CertctlRequest } from '../http/request-context';
import { AuditService } from './audit.service';

/**
 * Records every /api/v1 call once the response is done (or the client went away): method,
 * path without the query string, actor, body hash prefix, status and latency.
 */
@Injectable()
export class ApiAuditMiddleware implements NestMiddleware {
  constructor(private readonly audit: AuditService) {}

  use(req: CertctlRequest, res: Response, next: NextFunction): void {
    const path = req.originalUrl.split('?')[0];
    if (path !== '/api/v1' && !path.startsWith('/api/v1/')) return next();
    const started = req.startedAt ?? process.hrtime.bigint();
    let done = false;
    const record = (): void => {
      if (done) return;
      done = true;
      const principal = req.principal;
      this.audit.recordApiCall({
        id: newId(IdPrefix.AuditEvent),
        actor: principal?.actorId ?? 'anonymous',
        actor_type: principal?.actorType ?? 'Anonymous',
        method: req.method,
        path: req.originalUrl.split('?')[0],
        status: res.writableFinished ? res.statusCode : 499,
        latency_ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        body_sha256: req.bodySha256 ?? null,
        request_id: req.id,
        source_ip: req.ip ?? null,
        occurred_at: new Date().toISOString(),
      });
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  }
}
